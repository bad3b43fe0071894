//! The Security Hub closed loop: after an invocation triggered by findings, each finding says what
//! happened — resolved with a note after a verified fix (or when the resource was found
//! compliant), told the reason when the fix was only reported (dry run), failed or had to wait.
//! ASFF findings (Security Hub CSPM): `BatchUpdateFindings`, workflow `RESOLVED` / `NOTIFIED` and a
//! `Note`. OCSF findings (the new Security Hub): `BatchUpdateFindingsV2`, `StatusId` 4 (Resolved)
//! / 2 (In Progress) and a `Comment`. Both: up to 100 findings a request, at most 10 requests a
//! second (Security Hub's documented limits), one IAM action (`securityhub:BatchUpdateFindings`).
//!
//! Security Hub answers every update with a new findings event: a resolved finding comes back
//! resolved and intake leaves it alone; a finding already told (`NOTIFIED`, `In Progress`) is not
//! updated again, so a fix that keeps failing cannot loop through Security Hub.

use crate::aws::{AwsError, Operation};
use crate::outcome::{Outcome, OutcomeRecord};

pub const BATCH_UPDATE_FINDINGS: Operation = Operation {
    service: "securityhub",
    api: "BatchUpdateFindings",
    permission: "securityhub:BatchUpdateFindings",
};

pub const BATCH_UPDATE_FINDINGS_V2: Operation = Operation {
    service: "securityhub",
    api: "BatchUpdateFindingsV2",
    permission: "securityhub:BatchUpdateFindings",
};

/// Security Hub's limits for `BatchUpdateFindings` and `BatchUpdateFindingsV2`.
pub const MAX_PER_REQUEST: usize = 100;
pub const NOTE_MAX: usize = 512;
/// Who the notes say updated the finding.
pub const UPDATED_BY: &str = "ai-guard";

/// How Security Hub names a finding in an update.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FindingKey {
    /// ASFF: `Id` and `ProductArn`.
    Asff { id: String, product_arn: String },
    /// OCSF: `cloud.account.uid`, `finding_info.uid`, `metadata.product.uid`.
    Ocsf {
        account: String,
        uid: String,
        product_uid: String,
    },
}

impl FindingKey {
    fn is_ocsf(&self) -> bool {
        matches!(self, FindingKey::Ocsf { .. })
    }
}

/// A finding an event carried, and the resources intake took from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingRef {
    pub key: FindingKey,
    /// Its status when the event was sent: ASFF `Workflow.Status`, OCSF `status`.
    pub workflow: Option<String>,
    /// The ARNs of the targets made from it.
    pub resources: Vec<String>,
}

/// What an update says of its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Fixed and verified, or found compliant.
    Resolved,
    /// Not fixed: told why.
    Notified,
}

impl Verdict {
    /// ASFF `Workflow.Status`.
    pub fn workflow(self) -> &'static str {
        match self {
            Verdict::Resolved => "RESOLVED",
            Verdict::Notified => "NOTIFIED",
        }
    }

    /// OCSF `status_id`: 4 Resolved, 2 In Progress.
    pub fn status_id(self) -> i32 {
        match self {
            Verdict::Resolved => 4,
            Verdict::Notified => 2,
        }
    }
}

/// One update request's worth: a verdict and note for findings of one format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub verdict: Verdict,
    pub note: String,
    pub findings: Vec<FindingKey>,
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
        let (verdict, text) = if !unsettled.is_empty() {
            if matches!(
                finding.workflow.as_deref(),
                Some("NOTIFIED" | "In Progress")
            ) {
                continue; // told already: updating again would only echo another event
            }
            let rs: Vec<&OutcomeRecord> = unsettled.iter().map(|r| **r).collect();
            (
                Verdict::Notified,
                format!("ai-guard did not fix it: {}", describe(&rs)),
            )
        } else if settled {
            (
                Verdict::Resolved,
                format!("ai-guard verified: {}", describe(&mine)),
            )
        } else {
            continue; // exempt, not applicable or gone: a human's or AWS's to close
        };
        let text = note(text);
        let key = finding.key.clone();
        match updates.iter_mut().find(|u| {
            u.verdict == verdict
                && u.note == text
                && u.findings.len() < MAX_PER_REQUEST
                && u.findings.first().map(FindingKey::is_ocsf) == Some(key.is_ocsf())
        }) {
            Some(u) => u.findings.push(key),
            None => updates.push(Update {
                verdict,
                note: text,
                findings: vec![key],
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
        let mut unprocessed = Vec::new();
        for (i, update) in updates.iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            if update.findings.first().is_some_and(FindingKey::is_ocsf) {
                unprocessed.extend(self.send_ocsf(update).await?);
            } else {
                unprocessed.extend(self.send_asff(update).await?);
            }
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

    #[cfg(feature = "securityhub")]
    async fn send_asff(&self, update: &Update) -> Result<Vec<String>, AwsError> {
        use aws_sdk_securityhub::types::{
            AwsSecurityFindingIdentifier, NoteUpdate, WorkflowStatus, WorkflowUpdate,
        };
        let mut request = self
            .client
            .batch_update_findings()
            .workflow(
                WorkflowUpdate::builder()
                    .status(WorkflowStatus::from(update.verdict.workflow()))
                    .build(),
            )
            .note(
                NoteUpdate::builder()
                    .text(&update.note)
                    .updated_by(UPDATED_BY)
                    .build(),
            );
        for key in &update.findings {
            if let FindingKey::Asff { id, product_arn } = key {
                request = request.finding_identifiers(
                    AwsSecurityFindingIdentifier::builder()
                        .id(id)
                        .product_arn(product_arn)
                        .build(),
                );
            }
        }
        let out = request
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(BATCH_UPDATE_FINDINGS.permission, e))?;
        Ok(out
            .unprocessed_findings()
            .iter()
            .map(|u| {
                format!(
                    "{} ({})",
                    u.finding_identifier()
                        .and_then(|f| f.id())
                        .unwrap_or_default(),
                    u.error_message().unwrap_or_default()
                )
            })
            .collect())
    }

    #[cfg(feature = "securityhub")]
    async fn send_ocsf(&self, update: &Update) -> Result<Vec<String>, AwsError> {
        use aws_sdk_securityhub::types::OcsfFindingIdentifier;
        let mut request = self
            .client
            .batch_update_findings_v2()
            .status_id(update.verdict.status_id())
            .comment(&update.note);
        for key in &update.findings {
            if let FindingKey::Ocsf {
                account,
                uid,
                product_uid,
            } = key
            {
                request = request.finding_identifiers(
                    OcsfFindingIdentifier::builder()
                        .cloud_account_uid(account)
                        .finding_info_uid(uid)
                        .metadata_product_uid(product_uid)
                        .build(),
                );
            }
        }
        let out = request
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(BATCH_UPDATE_FINDINGS_V2.permission, e))?;
        Ok(out
            .unprocessed_findings()
            .iter()
            .map(|u| {
                format!(
                    "{} ({})",
                    u.finding_identifier()
                        .and_then(|f| f.finding_info_uid())
                        .unwrap_or_default(),
                    u.error_message().unwrap_or_default()
                )
            })
            .collect())
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

    fn asff(id: &str) -> FindingKey {
        FindingKey::Asff {
            id: id.into(),
            product_arn: "p".into(),
        }
    }

    fn finding(id: &str, resource: &str, workflow: Option<&str>) -> FindingRef {
        FindingRef {
            key: asff(id),
            workflow: workflow.map(str::to_owned),
            resources: vec![resource.into()],
        }
    }

    fn ocsf(uid: &str, resource: &str, status: &str) -> FindingRef {
        FindingRef {
            key: FindingKey::Ocsf {
                account: "111111111111".into(),
                uid: uid.into(),
                product_uid: "p2".into(),
            },
            workflow: Some(status.into()),
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
        assert_eq!(updates[0].verdict, Verdict::Resolved);
        assert_eq!(updates[0].findings, vec![asff("1")]);
        assert!(updates[0].note.contains("a remediated: why"));
        assert_eq!(updates[1].verdict, Verdict::Notified);
        assert!(updates[1].note.contains("b failed: why"));
    }

    #[test]
    fn ocsf_findings_are_told_apart_and_never_twice() {
        let records = [
            record("a", Outcome::Remediated),
            record("b", Outcome::WouldRemediate),
            record("c", Outcome::Failed),
        ];
        let findings = [
            finding("1", "a", Some("NEW")),
            ocsf("2", "a", "New"),
            ocsf("3", "b", "New"),
            ocsf("4", "c", "In Progress"),
        ];
        let updates = plan(&findings, &records);
        // One request per format and verdict: ASFF resolved, OCSF resolved, OCSF notified.
        assert_eq!(updates.len(), 3, "{updates:?}");
        assert_eq!(updates[0].findings, vec![asff("1")]);
        assert!(updates[1].findings[0].is_ocsf());
        assert_eq!(
            (updates[1].verdict, updates[1].verdict.status_id()),
            (Verdict::Resolved, 4)
        );
        assert_eq!(
            (updates[2].verdict, updates[2].verdict.status_id()),
            (Verdict::Notified, 2)
        );
        assert!(updates[2].note.contains("b would_remediate"));
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
