//! Error types of the library: bad input, bad settings, failed invocations (a failed AWS call is
//! [`crate::aws::AwsError`]).

/// An inbound event that cannot be acted on. Every variant names the problem.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
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
/// Why a whole invocation failed. Per-resource failures are outcome records, not this.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Intake(#[from] IntakeError),
    /// At least one target failed (or, for an event, could not be acted on yet): Lambda should
    /// retry, and alarms and DLQs should see it. The records are kept for the caller.
    #[error("{message}")]
    Unresolved {
        message: String,
        response: crate::outcome::Response,
    },
}

impl From<EngineError> for lambda_runtime::Diagnostic {
    fn from(e: EngineError) -> Self {
        let error_type = match &e {
            EngineError::Intake(_) => "InvalidEvent",
            EngineError::Unresolved { .. } => "RemediationUnresolved",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}
