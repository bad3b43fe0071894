//! "AWS API Call via CloudTrail": the CloudTrail record in an EventBridge event's `detail`.

use serde::Deserialize;
use serde_json::Value;

use crate::error::IntakeError;
use crate::resource::{role_of, Arn, Scope};

/// The CloudTrail record in an "AWS API Call via CloudTrail" event: only what remediation reads,
/// every field but the event's name and source optional (records from AWS services, for example,
/// have no session context; `aws_lambda_events`' `AWSAPICall` requires it).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CloudTrailRecord {
    pub event_source: String,
    pub event_name: String,
    #[serde(default)]
    pub aws_region: Option<String>,
    #[serde(default)]
    pub recipient_account_id: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub user_identity: Option<UserIdentity>,
    #[serde(default, rename = "sourceIPAddress")]
    pub source_ip_address: Option<String>,
    #[serde(default)]
    pub request_parameters: Option<Value>,
    #[serde(default)]
    pub response_elements: Option<Value>,
}

/// CloudTrail `userIdentity`: who made the call.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    #[serde(default, rename = "type")]
    pub identity_type: Option<String>,
    #[serde(default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub session_context: Option<SessionContext>,
}

/// CloudTrail `userIdentity.sessionContext`: for assumed roles, the role.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    #[serde(default)]
    pub session_issuer: Option<SessionIssuer>,
}

/// CloudTrail `userIdentity.sessionContext.sessionIssuer`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer {
    #[serde(default)]
    pub arn: Option<String>,
}

impl UserIdentity {
    /// (account, role name) of the role the caller assumed, if it is a role session.
    pub fn role(&self) -> Option<(String, String)> {
        let issuer = self
            .session_context
            .as_ref()
            .and_then(|c| c.session_issuer.as_ref())
            .and_then(|i| i.arn.as_deref());
        if let Some(role) = issuer.and_then(role_of) {
            return Some(role);
        }
        // arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION
        let arn = Arn::parse(self.arn.as_deref()?)?;
        let name = arn
            .resource
            .strip_prefix("assumed-role/")?
            .split('/')
            .next()?;
        Some((arn.account.to_owned(), name.to_owned()))
    }
}

impl CloudTrailRecord {
    /// The account the call was made in (for account-level settings).
    pub fn recipient_account(&self, scope: &Scope) -> String {
        self.recipient_account_id
            .clone()
            .unwrap_or_else(|| scope.account.clone())
    }

    /// A string at `path` below `requestParameters`, e.g. `["bucketName"]`.
    pub fn request_str(&self, path: &[&str]) -> Result<&str, IntakeError> {
        lookup_str(
            self.request_parameters.as_ref(),
            "detail.requestParameters",
            path,
        )
    }

    /// A string at `path` below `responseElements`, e.g. `["keyMetadata", "arn"]`.
    pub fn response_str(&self, path: &[&str]) -> Result<&str, IntakeError> {
        lookup_str(
            self.response_elements.as_ref(),
            "detail.responseElements",
            path,
        )
    }
}

pub fn lookup_str<'a>(
    root: Option<&'a Value>,
    prefix: &str,
    path: &[&str],
) -> Result<&'a str, IntakeError> {
    let name = || format!("{prefix}.{}", path.join("."));
    let mut v = root.ok_or_else(|| IntakeError::MissingField(prefix.to_owned()))?;
    for key in path {
        v = v
            .get(key)
            .ok_or_else(|| IntakeError::MissingField(name()))?;
    }
    v.as_str()
        .ok_or_else(|| IntakeError::Malformed(format!("`{}` is not a string", name())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(file: &str) -> CloudTrailRecord {
        let path = format!("{}/../events/{file}", env!("CARGO_MANIFEST_DIR"));
        let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        crate::event::decode(&event["detail"], "record").unwrap()
    }

    #[test]
    fn reads_what_remediation_needs() {
        let r = record("s3-public-access-block/cloudtrail-delete-bucket-public-access-block.json");
        assert_eq!(r.event_source, "s3.amazonaws.com");
        assert_eq!(
            r.request_str(&["bucketName"]).unwrap(),
            "ai-training-data-example"
        );
        assert_eq!(
            r.user_identity.as_ref().and_then(UserIdentity::role),
            Some(("123456789012".into(), "DataScientist".into()))
        );
        let k = record("kms-key-rotation/cloudtrail-create-key.json");
        assert!(k.response_str(&["keyMetadata", "arn"]).is_ok());
        assert_eq!(
            k.request_str(&["missing"]).unwrap_err(),
            IntakeError::MissingField("detail.requestParameters.missing".into())
        );
    }
}
