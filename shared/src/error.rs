//! Error types of the library: bad input ([`IntakeError`]), bad settings ([`SettingsError`]), and
//! why an invocation failed ([`EngineError`]: invalid input, resources left unresolved, or the
//! infrastructure failing). A failed AWS call is [`crate::aws::AwsError`].

/// An inbound event that cannot be acted on. Every variant names the problem.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum IntakeError {
    #[error("unrecognised event: {0}")]
    UnrecognisedShape(String),
    #[error("malformed event: {0}")]
    Malformed(String),
    #[error("malformed event: missing field `{0}`")]
    MissingField(String),
    #[error("invalid resource id `{id}`: {reason}")]
    InvalidResourceId { id: String, reason: String },
    #[error("unsupported resource type `{0}` (this function handles {1})")]
    UnsupportedResourceType(String, String),
    #[error("unknown control `{control}` (this function has {valid})")]
    UnknownControl { control: String, valid: String },
    #[error("`{id}` could name resources of different types ({candidates}): add `resourceType` (or `control`)")]
    AmbiguousControl { id: String, candidates: String },
    #[error("unknown action `{action}` for {control} (valid: {valid})")]
    UnknownAction {
        action: String,
        control: String,
        valid: String,
    },
    #[error(
        "resource {arn} is in region {region}, but this function acts in {own_region}: refused"
    )]
    ForeignRegion {
        arn: String,
        region: String,
        own_region: String,
    },
    #[error("event is about account {event_account}, but this function runs in account {own_account}: refused")]
    ForeignAccount {
        event_account: String,
        own_account: String,
    },
    /// A request for a place outside a hub's scope.
    #[error("{subject}: {reason}: refused")]
    OutOfScope { subject: String, reason: String },
}

/// A setting that is missing or invalid: the function refuses to start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid setting {name}={value:?}: {reason}")]
pub struct SettingsError {
    pub name: String,
    pub value: String,
    pub reason: String,
}

impl SettingsError {
    pub fn new(name: &str, value: &str, reason: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            value: value.to_owned(),
            reason: reason.into(),
        }
    }
}
/// Why a whole invocation failed. Per-resource failures are outcome records, not this. Three kinds,
/// told apart by the Lambda error type ([`lambda_runtime::Diagnostic`]):
///
/// * [`EngineError::Intake`] (`InvalidEvent`): the input is invalid — a malformed event, or a
///   request this function refuses. Nothing was looked at; a retry fails the same way, so the
///   message says what to fix.
/// * [`EngineError::Unresolved`] (`RemediationUnresolved`): resources were looked at and at least
///   one is left unresolved (failed, or cannot be acted on yet). Lambda retries; alarms and DLQs
///   see it.
/// * [`EngineError::Infrastructure`] (`InfrastructureFailure`): a call the invocation depends on
///   failed outside any one resource — listing the accounts in scope, building an engine there,
///   queueing sweep jobs, reporting to AWS Config. Lambda retries.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Intake(#[from] IntakeError),
    /// At least one target failed (or, for an event, could not be acted on yet). The records are
    /// kept for the caller.
    #[error("{message}")]
    Unresolved {
        message: String,
        response: crate::outcome::Response,
    },
    /// The infrastructure failed; the records of what was done before are kept for the caller.
    #[error("{message}")]
    Infrastructure {
        message: String,
        response: crate::outcome::Response,
    },
}

impl EngineError {
    /// An infrastructure failure before any record.
    pub fn infrastructure(message: impl Into<String>) -> Self {
        EngineError::Infrastructure {
            message: message.into(),
            response: crate::outcome::Response::default(),
        }
    }

    /// The records of what was done, when there are any.
    pub fn response(&self) -> Option<&crate::outcome::Response> {
        match self {
            EngineError::Intake(_) => None,
            EngineError::Unresolved { response, .. }
            | EngineError::Infrastructure { response, .. } => Some(response),
        }
    }

    /// Whether a retry can succeed (invalid input fails the same way again).
    pub fn retryable(&self) -> bool {
        !matches!(self, EngineError::Intake(_))
    }

    /// The same error, its message prefixed with where it happened (`account/region: …`).
    pub fn at(self, place: &crate::resource::Place) -> Self {
        match self {
            EngineError::Unresolved { message, response } => EngineError::Unresolved {
                message: format!("{place}: {message}"),
                response,
            },
            EngineError::Infrastructure { message, response } => EngineError::Infrastructure {
                message: format!("{place}: {message}"),
                response,
            },
            e @ EngineError::Intake(_) => e,
        }
    }
}

impl From<EngineError> for lambda_runtime::Diagnostic {
    fn from(e: EngineError) -> Self {
        let error_type = match &e {
            EngineError::Intake(_) => "InvalidEvent",
            EngineError::Unresolved { .. } => "RemediationUnresolved",
            EngineError::Infrastructure { .. } => "InfrastructureFailure",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}
