//! Error types of the library: bad input, bad settings, failed AWS calls, failed invocations.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

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

/// What kind of failure an AWS call had, as far as remediation cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// The resource does not exist (any more).
    NotFound,
    /// The caller lacks the permission.
    AccessDenied,
    /// Throttled after all retries.
    Throttled,
    /// Anything else: service error, network, timeout.
    Other,
}

/// A failed AWS call, with the IAM permission it needed (so AccessDenied names it).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.describe())]
pub struct AwsError {
    pub kind: AwsErrorKind,
    /// The IAM action of the call, e.g. `s3:PutBucketPublicAccessBlock`.
    pub permission: &'static str,
    pub code: Option<String>,
    pub message: String,
}

const NOT_FOUND_CODES: &[&str] = &[
    "NoSuchBucket",
    "NotFoundException",
    "NotFound",
    "ResourceNotFoundException",
    "NoSuchEntity",
];
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
];
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "SlowDown",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
];

impl AwsError {
    /// Classify an SDK error from the call that needed `permission`.
    pub fn from_sdk<E, R>(permission: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        let code = err.code().map(str::to_owned);
        let message = match err.message() {
            Some(m) => m.to_owned(),
            None => aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
        };
        Self::from_code(permission, code, message)
    }

    /// Classify by error code.
    pub fn from_code(permission: &'static str, code: Option<String>, message: String) -> Self {
        let kind = match code.as_deref() {
            Some(c) if NOT_FOUND_CODES.contains(&c) => AwsErrorKind::NotFound,
            Some(c) if ACCESS_DENIED_CODES.contains(&c) => AwsErrorKind::AccessDenied,
            Some(c) if THROTTLING_CODES.contains(&c) => AwsErrorKind::Throttled,
            _ => AwsErrorKind::Other,
        };
        Self {
            kind,
            permission,
            code,
            message,
        }
    }

    /// An error of a given kind, for conditions a control detects itself.
    pub fn new(kind: AwsErrorKind, permission: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            permission,
            code: None,
            message: message.into(),
        }
    }

    fn describe(&self) -> String {
        let code = self.code.as_deref().unwrap_or("error");
        match self.kind {
            AwsErrorKind::AccessDenied => format!(
                "{code}: missing permission {} ({})",
                self.permission, self.message
            ),
            _ => format!("{} failed: {code}: {}", self.permission, self.message),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_denied_names_the_permission() {
        let e = AwsError::from_code(
            "s3:PutBucketPublicAccessBlock",
            Some("AccessDenied".into()),
            "Access Denied".into(),
        );
        assert_eq!(e.kind, AwsErrorKind::AccessDenied);
        assert!(e
            .to_string()
            .contains("missing permission s3:PutBucketPublicAccessBlock"));
    }

    #[test]
    fn codes_are_classified() {
        let k = |c: &str| AwsError::from_code("x:Y", Some(c.into()), String::new()).kind;
        assert_eq!(k("NoSuchBucket"), AwsErrorKind::NotFound);
        assert_eq!(k("SlowDown"), AwsErrorKind::Throttled);
        assert_eq!(k("InternalError"), AwsErrorKind::Other);
    }
}
