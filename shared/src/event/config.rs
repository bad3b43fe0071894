//! AWS Config: the "Config Rules Compliance Change" EventBridge event's `detail`, and a custom
//! rule's invocation (`invokingEvent` is a JSON document in a string, parsed again here).

use aws_lambda_events::config::ConfigEvent;
use serde::Deserialize;
use serde_json::Value;

use crate::error::IntakeError;
use crate::event::decode;

/// `detail` of "Config Rules Compliance Change".
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceChange {
    pub resource_id: String,
    pub resource_type: String,
    pub config_rule_name: String,
    #[serde(default)]
    pub aws_account_id: Option<String>,
    #[serde(default)]
    pub aws_region: Option<String>,
    #[serde(default)]
    pub new_evaluation_result: Option<EvaluationResult>,
}

/// `newEvaluationResult`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationResult {
    pub compliance_type: String,
}

impl ComplianceChange {
    pub const NON_COMPLIANT: &'static str = "NON_COMPLIANT";

    /// The new compliance type, if any.
    pub fn compliance(&self) -> Option<&str> {
        self.new_evaluation_result
            .as_ref()
            .map(|r| r.compliance_type.as_str())
    }
}

/// A custom rule's `invokingEvent`, once parsed.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvokingEvent {
    pub message_type: String,
    #[serde(default)]
    pub configuration_item: Option<ConfigurationItem>,
    #[serde(default)]
    pub configuration_item_summary: Option<ConfigurationItem>,
    #[serde(default)]
    pub notification_creation_time: Option<String>,
}

/// A configuration item (or its summary, for oversized items): what remediation reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationItem {
    pub resource_type: String,
    pub resource_id: String,
    /// The region the item is in (a hub acts there).
    #[serde(default)]
    pub aws_region: Option<String>,
    #[serde(default)]
    pub configuration_item_status: Option<String>,
    #[serde(default)]
    pub configuration_item_capture_time: Option<String>,
}

impl ConfigurationItem {
    /// Config reports the resource deleted or no longer recorded.
    pub fn deleted(&self) -> bool {
        matches!(
            self.configuration_item_status.as_deref(),
            Some("ResourceDeleted" | "ResourceDeletedNotRecorded" | "ResourceNotRecorded")
        )
    }
}

/// A custom rule invocation: the envelope and its parsed `invokingEvent`.
#[derive(Debug, Clone)]
pub struct RuleInvocation {
    pub envelope: ConfigEvent,
    pub invoking: InvokingEvent,
    pub result_token: String,
}

impl RuleInvocation {
    pub fn decode(event: &Value) -> Result<Self, IntakeError> {
        let envelope: ConfigEvent = decode(event, "AWS Config rule invocation")?;
        let result_token = envelope
            .result_token
            .clone()
            .ok_or_else(|| IntakeError::MissingField("resultToken".to_owned()))?;
        let raw = envelope
            .invoking_event
            .as_deref()
            .ok_or_else(|| IntakeError::MissingField("invokingEvent".to_owned()))?;
        let json: Value = serde_json::from_str(raw).map_err(|e| {
            IntakeError::Malformed(format!("`invokingEvent` is not a JSON document: {e}"))
        })?;
        let invoking = decode(&json, "`invokingEvent`")?;
        Ok(Self {
            envelope,
            invoking,
            result_token,
        })
    }

    /// The configuration item of a change notification (the summary of an oversized one).
    pub fn item(&self) -> Result<&ConfigurationItem, IntakeError> {
        let field = if self.invoking.message_type.starts_with("Oversized") {
            "invokingEvent.configurationItemSummary"
        } else {
            "invokingEvent.configurationItem"
        };
        self.invoking
            .configuration_item
            .as_ref()
            .or(self.invoking.configuration_item_summary.as_ref())
            .ok_or_else(|| IntakeError::MissingField(field.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: &str) -> Value {
        let path = format!("{}/../events/{file}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn compliance_change_and_rule_invocations() {
        let e = load("s3-public-access-block/config-compliance-change-bucket.json");
        let c: ComplianceChange = decode(&e["detail"], "change").unwrap();
        assert_eq!(c.compliance(), Some(ComplianceChange::NON_COMPLIANT));
        assert_eq!(c.resource_type, "AWS::S3::Bucket");
        let i = RuleInvocation::decode(&load(
            "s3-public-access-block/config-rule-oversized-notification.json",
        ))
        .unwrap();
        assert_eq!(i.item().unwrap().resource_type, "AWS::S3::Bucket");
        let mut bad = load("s3-public-access-block/config-rule-periodic.json");
        bad["invokingEvent"] = Value::String("{not json".into());
        assert!(RuleInvocation::decode(&bad)
            .unwrap_err()
            .to_string()
            .contains("not a JSON document"));
    }
}
