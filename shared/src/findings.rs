//! The Security Hub closed loop: after an invocation triggered by findings, each finding's workflow
//! says what happened — `RESOLVED` with a note after a verified fix (or when the resource was found
//! compliant), `NOTIFIED` with the reason when the fix was only reported (dry run), failed or had
//! to wait. `BatchUpdateFindings`, up to 100 findings a request and at most 10 requests a second
//! (Security Hub's documented limits).
//!
//! Security Hub answers every `BatchUpdateFindings` with a new "Security Hub Findings - Imported"
//! event for the finding (Security Hub user guide, "BatchUpdateFindings for customers"): a resolved
//! finding comes back `RESOLVED` and intake leaves it alone; a finding already `NOTIFIED` is not
//! updated again, so a fix that keeps failing cannot loop through Security Hub.

use crate::aws::{AwsError, Operation};
use crate::outcome::{Outcome, OutcomeRecord};

pub const BATCH_UPDATE_FINDINGS: Operation = Operation {
    service: "securityhub",
    api: "BatchUpdateFindings",
    permission: "securityhub:BatchUpdateFindings",
};

/// Security Hub's limits for `BatchUpdateFindings`.
pub const MAX_PER_REQUEST: usize = 100;
pub const NOTE_MAX: usize = 512;
/// Who the notes say updated the finding.
pub const UPDATED_BY: &str = "ai-guard";

/// A finding an event carried, and the resources intake took from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingRef {
    pub id: String,
    pub product_arn: String,
    /// Its workflow status when the event was sent.
    pub workflow: Option<String>,
    /// The ARNs of the targets made from it.
    pub resources: Vec<String>,
}

/// One `BatchUpdateFindings` request's worth: a status and note for these findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub status: &'static str,
    pub note: String,
    /// (Id, ProductArn)
    pub findings: Vec<(String, String)>,
}

fn note(text: String) -> String {
    if text.len() <= NOTE_MAX {
        return text;
    }
    let mut cut = NOTE_MAX - 3;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &text[..cut])
}

/// What to tell Security Hub about each finding, from the invocation's records. Pure.
pub fn plan(findings: &[FindingRef], records: &[OutcomeRecord]) -> Vec<Update> {
    let mut updates: Vec<Update> = Vec::new();
    for finding in findings {
        let mine: Vec<&OutcomeRecord> = records
            .iter()
            .filter(|r| finding.resources.contains(&r.resource))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let unsettled: Vec<&&OutcomeRecord> = mine
            .iter()
            .filter(|r| {
                matches!(
                    r.outcome,
                    Outcome::Failed | Outcome::WouldRemediate | Outcome::Deferred
                )
            })
            .collect();
        let settled = mine
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Remediated | Outcome::Compliant));
        let describe = |rs: &[&OutcomeRecord]| {
            rs.iter()
                .map(|r| format!("{} {}: {}", r.resource, r.outcome, r.detail))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let (status, text) = if !unsettled.is_empty() {
            if finding.workflow.as_deref() == Some("NOTIFIED") {
                continue; // told already: updating again would only echo another event
            }
            let rs: Vec<&OutcomeRecord> = unsettled.iter().map(|r| **r).collect();
            (
                "NOTIFIED",
                format!("ai-guard did not fix it: {}", describe(&rs)),
            )
        } else if settled {
            (
                "RESOLVED",
                format!("ai-guard verified: {}", describe(&mine)),
            )
        } else {
            continue; // exempt, not applicable or gone: a human's or AWS's to close
        };
        let text = note(text);
        let id = (finding.id.clone(), finding.product_arn.clone());
        match updates
            .iter_mut()
            .find(|u| u.status == status && u.note == text && u.findings.len() < MAX_PER_REQUEST)
        {
            Some(u) => u.findings.push(id),
            None => updates.push(Update {
                status,
                note: text,
                findings: vec![id],
            }),
        }
    }
    updates
}

/// Sends the updates to Security Hub.
#[derive(Debug, Clone)]
pub struct FindingsCloser {
    #[cfg(feature = "securityhub")]
    client: aws_sdk_securityhub::Client,
}

#[cfg(feature = "securityhub")]
impl FindingsCloser {
    pub fn new(client: aws_sdk_securityhub::Client) -> Self {
        Self { client }
    }
}

impl FindingsCloser {
    /// Send each update (one request each, at most 10 a second). Findings Security Hub did not
    /// process are reported in the error.
    #[cfg(feature = "securityhub")]
    pub async fn send(&self, updates: &[Update]) -> Result<(), AwsError> {
        use aws_sdk_securityhub::types::{
            AwsSecurityFindingIdentifier, NoteUpdate, WorkflowStatus, WorkflowUpdate,
        };
        let mut unprocessed = Vec::new();
        for (i, update) in updates.iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            let mut request = self
                .client
                .batch_update_findings()
                .workflow(
                    WorkflowUpdate::builder()
                        .status(WorkflowStatus::from(update.status))
                        .build(),
                )
                .note(
                    NoteUpdate::builder()
                        .text(&update.note)
                        .updated_by(UPDATED_BY)
                        .build(),
                );
            for (id, product) in &update.findings {
                request = request.finding_identifiers(
                    AwsSecurityFindingIdentifier::builder()
                        .id(id)
                        .product_arn(product)
                        .build(),
                );
            }
            let out = request
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(BATCH_UPDATE_FINDINGS.permission, e))?;
            unprocessed.extend(out.unprocessed_findings().iter().map(|u| {
                format!(
                    "{} ({})",
                    u.finding_identifier()
                        .and_then(|f| f.id())
                        .unwrap_or_default(),
                    u.error_message().unwrap_or_default()
                )
            }));
        }
        if unprocessed.is_empty() {
            Ok(())
        } else {
            Err(AwsError::new(
                crate::aws::AwsErrorKind::Other,
                BATCH_UPDATE_FINDINGS.permission,
                format!("findings not updated: {}", unprocessed.join(", ")),
            ))
        }
    }

    #[cfg(not(feature = "securityhub"))]
    pub async fn send(&self, _: &[Update]) -> Result<(), AwsError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(resource: &str, outcome: Outcome) -> OutcomeRecord {
        OutcomeRecord {
            control: "c",
            resource: resource.into(),
            account: "111111111111".into(),
            region: "us-east-1".into(),
            outcome,
            actions: vec![],
            trigger: "security-hub:S3.8".into(),
            dry_run: false,
            detail: "why".into(),
            contested: false,
            notification_failed: false,
            before: None,
            after: None,
            config_identity: ("T", "id".into()),
        }
    }

    fn finding(id: &str, resource: &str, workflow: Option<&str>) -> FindingRef {
        FindingRef {
            id: id.into(),
            product_arn: "p".into(),
            workflow: workflow.map(str::to_owned),
            resources: vec![resource.into()],
        }
    }

    #[test]
    fn resolved_after_a_verified_fix_notified_otherwise_and_never_twice() {
        let records = [
            record("a", Outcome::Remediated),
            record("b", Outcome::Failed),
            record("c", Outcome::WouldRemediate),
            record("d", Outcome::Exempt),
        ];
        let findings = [
            finding("1", "a", Some("NEW")),
            finding("2", "b", Some("NEW")),
            finding("3", "c", Some("NOTIFIED")),
            finding("4", "d", Some("NEW")),
            finding("5", "zzz", Some("NEW")),
        ];
        let updates = plan(&findings, &records);
        assert_eq!(updates.len(), 2, "{updates:?}");
        assert_eq!(updates[0].status, "RESOLVED");
        assert_eq!(updates[0].findings, vec![("1".into(), "p".into())]);
        assert!(updates[0].note.contains("a remediated: why"));
        assert_eq!(updates[1].status, "NOTIFIED");
        assert!(updates[1].note.contains("b failed: why"));
    }

    #[test]
    fn notes_fit_and_identical_updates_share_a_request() {
        let long = "x".repeat(2000);
        let records = [record(&long, Outcome::Remediated)];
        let updates = plan(&[finding("1", &long, None)], &records);
        assert!(updates[0].note.len() <= NOTE_MAX);
        let records: Vec<OutcomeRecord> = (0..150).map(|_| record("r", Outcome::Failed)).collect();
        let findings: Vec<FindingRef> = (0..150)
            .map(|i| finding(&i.to_string(), "r", None))
            .collect();
        let updates = plan(&findings, &records);
        assert_eq!(
            updates.iter().map(|u| u.findings.len()).collect::<Vec<_>>(),
            vec![100, 50]
        );
    }
}
