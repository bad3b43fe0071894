//! Notifications: one SNS message per remediated, failed or contested resource, when a topic is
//! configured (`NOTIFY_TOPIC_ARN`). A notification that cannot be sent is logged, never fatal: the
//! remediation already happened (or failed) and is in the audit log either way.

use serde_json::json;

use crate::control::Operation;
use crate::error::AwsError;
use crate::outcome::{Outcome, OutcomeRecord, Trigger};

pub const PUBLISH: Operation = Operation {
    service: "sns",
    api: "Publish",
    permission: "sns:Publish",
};

/// Sends to one topic.
#[derive(Debug, Clone)]
pub struct Notifier {
    sns: aws_sdk_sns::Client,
    topic_arn: String,
}

impl Notifier {
    pub fn new(sns: aws_sdk_sns::Client, topic_arn: String) -> Self {
        Self { sns, topic_arn }
    }

    /// Whether a record is worth a message.
    pub fn wants(record: &OutcomeRecord, contested: bool) -> bool {
        contested || matches!(record.outcome, Outcome::Remediated | Outcome::Failed)
    }

    /// Publish one message about `record`.
    pub async fn send(
        &self,
        record: &OutcomeRecord,
        trigger: &Trigger,
        contested: bool,
    ) -> Result<(), AwsError> {
        let what = if contested {
            "CONTESTED".to_owned()
        } else {
            record.outcome.to_string()
        };
        let subject: String = format!("ai-guard {what}: {} {}", record.control, record.resource)
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        let message = json!({
            "control": record.control,
            "resource": record.resource,
            "outcome": record.outcome,
            "contested": contested,
            "trigger": record.trigger,
            "principal": trigger.principal,
            "sourceIp": trigger.source_ip,
            "dryRun": record.dry_run,
            "detail": record.detail,
            "actions": record.actions,
        });
        self.sns
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(message.to_string())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(PUBLISH.permission, e))?;
        Ok(())
    }
}
