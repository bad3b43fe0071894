//! Notifications: one SNS message per remediated, failed or contested resource, when a topic is
//! configured (`NOTIFY_TOPIC_ARN`). A notification that cannot be sent is logged, never fatal: the
//! remediation already happened (or failed) and is in the audit log either way.

use serde_json::json;

use crate::aws::{AwsError, IamResource, Implied, Operation};
use crate::outcome::{Outcome, OutcomeRecord, Trigger};

pub const PUBLISH: Operation = Operation {
    service: "sns",
    api: "Publish",
    permission: "sns:Publish",
    resource: IamResource::Arn("arn:{partition}:sns:{region}:{account}:*"),
    implies: &[
        Implied {
            permission: "kms:GenerateDataKey",
            resource: "arn:{partition}:kms:{region}:{account}:key/*",
            condition: ("kms:ViaService", "sns.{region}.amazonaws.com"),
            why: "Publishing to a topic encrypted with a customer key (SNS developer guide, SSE)",
        },
        Implied {
            permission: "kms:Decrypt",
            resource: "arn:{partition}:kms:{region}:{account}:key/*",
            condition: ("kms:ViaService", "sns.{region}.amazonaws.com"),
            why: "Publishing to a topic encrypted with a customer key (SNS developer guide, SSE)",
        },
    ],
};

/// Sends to one topic.
/// SNS's limit: a `Subject` must be ASCII, without line breaks or control characters, and
/// fewer than 100 characters (SNS API reference, Publish); one that is not makes `Publish` fail.
pub const SUBJECT_MAX: usize = 99;

/// The message's subject: outcome, control and the resource's own part of its ARN (the full ARN is
/// in the message), within SNS's limits.
pub fn subject(what: &str, control: &str, resource: &str) -> String {
    // `arn:aws:kms:us-east-1:123456789012:key/…` → `key/…`; `arn:aws:s3:::bucket` → `bucket`.
    let short = resource.rsplit(':').next().unwrap_or(resource);
    let full = format!("ai-guard {what}: {control} {short}");
    let clean: String = full
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { ' ' })
        .collect();
    if clean.len() <= SUBJECT_MAX {
        clean
    } else {
        format!("{}...", &clean[..SUBJECT_MAX - 3])
    }
}

#[derive(Debug, Clone)]
pub struct Notifier {
    sns: aws_sdk_sns::Client,
    topic_arn: String,
}

impl Notifier {
    pub fn new(sns: aws_sdk_sns::Client, topic_arn: String) -> Self {
        Self { sns, topic_arn }
    }

    /// Whether a record is worth a message: a fix, a failure, a contested resource; and what the
    /// remediation policy holds back for a human — a fix only notified by its mode or a limit, a
    /// new proposal waiting for approval (not again while it waits).
    pub fn wants(record: &OutcomeRecord, contested: bool) -> bool {
        contested
            || match record.outcome {
                Outcome::Remediated | Outcome::Failed => true,
                Outcome::Pending => !record.quiet,
                Outcome::WouldRemediate => record.mode == Some(crate::policy::Mode::Notify),
                _ => false,
            }
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
        let subject = subject(&what, record.control, &record.resource);
        let message = json!({
            "control": record.control,
            "resource": record.resource,
            "outcome": record.outcome,
            "contested": contested,
            "trigger": record.trigger,
            "principal": trigger.principal,
            "sourceIp": trigger.source_ip,
            "dryRun": record.dry_run,
            "mode": record.mode,
            "account": record.account,
            "region": record.region,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_stay_within_snss_limits() {
        for (control, resource) in [
            (
                "kms-key-rotation",
                "arn:aws:kms:ap-southeast-2:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab",
            ),
            (
                "sagemaker-notebook-guard",
                "arn:aws:sagemaker:ap-southeast-2:123456789012:notebook-instance/a-notebook-name-of-sixty-three-characters-which-aws-allows-0001",
            ),
            ("s3-bucket-public-access-block", &format!("arn:aws:s3:::{}", "b".repeat(63))),
            ("c", "arn:aws:s3:::weird\nname\u{e9}\u{7}"),
        ] {
            for what in ["CONTESTED", "remediated", "failed"] {
                let s = subject(what, control, resource);
                assert!(s.len() < 100, "{} chars: {s}", s.len());
                assert!(s.chars().all(|c| c.is_ascii() && !c.is_ascii_control()), "{s:?}");
                assert!(s.starts_with(&format!("ai-guard {what}: {control}")), "{s}");
            }
        }
        assert_eq!(
            subject(
                "remediated",
                "kms-key-rotation",
                "arn:aws:kms:us-east-1:1:key/k"
            ),
            "ai-guard remediated: kms-key-rotation key/k"
        );
    }
}
