//! What happened to each resource: the outcome records returned, logged and reported.

use std::fmt;

use serde::Serialize;

/// The result for one resource. The set is closed: every record has exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Already in the desired state; nothing written.
    Compliant,
    /// Changed, and the change was read back and verified.
    Remediated,
    /// Dry run: would have changed it.
    WouldRemediate,
    /// Matched an exemption; not inspected, not touched.
    Exempt,
    /// The control does not apply to this resource (with the reason).
    NotApplicable,
    /// The resource no longer exists.
    Gone,
    /// Cannot act in the resource's current state; to be retried.
    Deferred,
    /// An AWS call failed, or verification found a different state than written.
    Failed,
    /// A fix proposed, waiting for a human's approval (`approve` mode).
    Pending,
    /// The remediation policy turns the control off here; nothing written.
    Off,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Compliant => "compliant",
            Outcome::Remediated => "remediated",
            Outcome::WouldRemediate => "would_remediate",
            Outcome::Exempt => "exempt",
            Outcome::NotApplicable => "not_applicable",
            Outcome::Gone => "gone",
            Outcome::Deferred => "deferred",
            Outcome::Failed => "failed",
            Outcome::Pending => "pending",
            Outcome::Off => "off",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What caused an invocation: the source and its name, and who made the change when known.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trigger {
    /// `cloudtrail`, `config-rule`, `config-custom-rule`, `direct`, `security-hub`, `schedule`.
    pub source: &'static str,
    /// The event name, rule name, control id or message type.
    pub name: String,
    /// The principal ARN that made the change (CloudTrail `userIdentity.arn`).
    pub principal: Option<String>,
    /// The source IP of that call.
    pub source_ip: Option<String>,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            f.write_str(self.source)
        } else {
            write!(f, "{}:{}", self.source, self.name)
        }
    }
}

/// One resource's record: the response entry and the audit-log line.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeRecord {
    pub control: &'static str,
    pub resource: String,
    /// The account the resource is in (a bucket's ARN does not say).
    pub account: String,
    /// The region the function acted in for it.
    pub region: String,
    pub outcome: Outcome,
    /// The API operations written (or, in a dry run, that would be).
    pub actions: Vec<&'static str>,
    pub trigger: String,
    pub dry_run: bool,
    pub detail: String,
    /// Fixed more often than the contested threshold allows in its window (shown only when true).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub contested: bool,
    /// The mode the remediation policy chose, when a fix was due (absent: not governed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<crate::policy::Mode>,
    /// Held back by a blast-radius limit (shown only when true; counted as `limit_reached`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub limited: bool,
    /// Nothing new to announce (a proposal already announced, still waiting).
    #[serde(skip)]
    pub quiet: bool,
    /// Its notification could not be sent (counted in the metrics, so an alarm sees it).
    #[serde(skip)]
    pub notification_failed: bool,
    /// Security Hub findings about it that could not be updated (counted in the metrics as
    /// `finding_update_failed`, so an alarm sees it).
    #[serde(skip)]
    pub finding_update_failed: u32,
    /// State before any change (audit log only).
    #[serde(skip)]
    pub before: Option<serde_json::Value>,
    /// State read back after the change (audit log only).
    #[serde(skip)]
    pub after: Option<serde_json::Value>,
    /// The resource's Config identity (type, id), for Config evaluations.
    #[serde(skip)]
    pub config_identity: (&'static str, String),
}

/// The function's response.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Response {
    pub results: Vec<OutcomeRecord>,
}

impl Response {
    /// Count of records per outcome, in a stable order, e.g. `remediated=2, failed=1`.
    pub fn summary(&self) -> String {
        const ORDER: [Outcome; 8] = [
            Outcome::Failed,
            Outcome::Deferred,
            Outcome::Remediated,
            Outcome::WouldRemediate,
            Outcome::Compliant,
            Outcome::Exempt,
            Outcome::NotApplicable,
            Outcome::Gone,
        ];
        let parts: Vec<String> = ORDER
            .iter()
            .filter_map(|o| {
                let n = self.results.iter().filter(|r| r.outcome == *o).count();
                (n > 0).then(|| format!("{o}={n}"))
            })
            .collect();
        if parts.is_empty() {
            "no resources".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(outcome: Outcome) -> OutcomeRecord {
        OutcomeRecord {
            control: "c",
            resource: "arn:aws:s3:::b".into(),
            account: "111111111111".into(),
            region: "us-east-1".into(),
            outcome,
            actions: vec!["PutPublicAccessBlock"],
            trigger: "direct".into(),
            dry_run: false,
            detail: String::new(),
            contested: false,
            mode: None,
            limited: false,
            quiet: false,
            notification_failed: false,
            finding_update_failed: 0,
            before: None,
            after: None,
            config_identity: ("AWS::S3::Bucket", "b".into()),
        }
    }

    #[test]
    fn serialises_as_documented() {
        let v = serde_json::to_value(Response {
            results: vec![record(Outcome::WouldRemediate)],
        })
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"results":[{"control":"c","resource":"arn:aws:s3:::b",
                "account":"111111111111","region":"us-east-1","outcome":"would_remediate",
                "actions":["PutPublicAccessBlock"],"trigger":"direct","dryRun":false,"detail":""}]})
        );
    }

    #[test]
    fn summary_counts_outcomes() {
        let r = Response {
            results: vec![
                record(Outcome::Remediated),
                record(Outcome::Failed),
                record(Outcome::Remediated),
            ],
        };
        assert_eq!(r.summary(), "failed=1, remediated=2");
        assert_eq!(Response::default().summary(), "no resources");
    }
}
