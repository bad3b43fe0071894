//! AWS calls as remediation sees them: the operations a control may call (with the IAM action
//! each needs, for least privilege) and what a failed call means.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// An AWS operation a control may call: the SDK service and API name, the IAM action it needs,
/// the resources IAM evaluates that action on, and what else AWS requires of the caller. These
/// declarations are the one source of the functions' and member roles' permissions and of the
/// least-privilege tests, which check them against AWS's Service Authorization Reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The SDK's service name, e.g. `s3control`.
    pub service: &'static str,
    pub api: &'static str,
    pub permission: &'static str,
    /// Where IAM evaluates `permission` for this call.
    pub resource: IamResource,
    /// Permissions the call needs besides its own action.
    pub implies: &'static [Implied],
}

/// The resources IAM evaluates an action on (Service Authorization Reference, the action's
/// "Resource types").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IamResource {
    /// The action takes no resource type: IAM evaluates `*`, the only grant that allows it (a
    /// grant on an ARN never matches, and the call is denied).
    None,
    /// The resources the call acts on, as an ARN pattern: `{partition}`, `{region}` and
    /// `{account}` stand for where it acts (the account may be a member's), `*` for any name.
    Arn(&'static str),
    /// The action takes resource types, but their ARNs name what a deployment cannot know (the
    /// text says what): granted on `*`, for reads only.
    Unknowable(&'static str),
}

/// A permission AWS requires of a caller of an operation besides the operation's own action
/// (`iam:PassRole` to a service, a service-linked role the call creates), on `resource` (an ARN
/// pattern as in [`IamResource::Arn`]) under the condition `key` = `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Implied {
    pub permission: &'static str,
    pub resource: &'static str,
    pub condition: (&'static str, &'static str),
    /// AWS's documented reason.
    pub why: &'static str,
}

impl Operation {
    /// `service:Api`, e.g. `s3control:PutPublicAccessBlock`: how the operation is named on the wire.
    pub fn call(&self) -> String {
        format!("{}:{}", self.service, self.api)
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

    /// The service refused the call because of the resource's state, which may have changed since
    /// it was read (KMS `KMSInvalidStateException`, `ConflictException`, `ResourceInUse`,
    /// `IncorrectState`…): worth reading the resource again.
    pub fn is_state_conflict(&self) -> bool {
        self.kind == AwsErrorKind::Other
            && self.code.as_deref().is_some_and(|c| {
                [
                    "InvalidState",
                    "IncorrectState",
                    "Conflict",
                    "ResourceInUse",
                ]
                .iter()
                .any(|k| c.contains(k))
            })
    }

    /// With the service's error code (tests and in-memory controls).
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_conflicts_are_told_from_other_refusals() {
        let e = |code: &str| {
            AwsError::from_code("kms:EnableKeyRotation", Some(code.into()), "m".into())
        };
        assert!(e("KMSInvalidStateException").is_state_conflict());
        assert!(e("ConflictException").is_state_conflict());
        assert!(!e("ValidationException").is_state_conflict());
        assert!(!e("AccessDenied").is_state_conflict());
        assert!(!e("ThrottlingException").is_state_conflict());
    }

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
