//! The Security Hub closed loop: after an invocation triggered by findings, each finding says what
//! happened — resolved with a note after a verified fix (or when the resource was found
//! compliant), told the reason when the fix was only reported (dry run), failed or had to wait.
//! ASFF findings (Security Hub CSPM): `BatchUpdateFindings`, workflow `RESOLVED` / `NOTIFIED` and a
//! `Note`. OCSF findings (the new Security Hub): `BatchUpdateFindingsV2`, `StatusId` 4 (Resolved)
//! / 2 (In Progress) and a `Comment`. Both: up to 100 findings a request, at most 10 requests a
//! second (Security Hub's documented limits), one IAM action (`securityhub:BatchUpdateFindings`),
//! authorized on two resource types: the ASFF API on `hub` (`…:hub/default`), the OCSF API on
//! `hubv2` (`…:hubv2/<id>`).
//!
//! A finding that cannot be updated — its request refused (a missing grant), failed after the
//! retries, or answered in `UnprocessedFindings` — never stops the later requests and never fails
//! the invocation (the remediation is done and audited); it is logged (`WARN`) and counted on the
//! records, which the metrics publish as `finding_update_failed` for an alarm.
//!
//! Security Hub answers every update with a new findings event: a resolved finding comes back
//! resolved and intake leaves it alone; a finding already told (`NOTIFIED`, `In Progress`) is not
//! updated again, so a fix that keeps failing cannot loop through Security Hub.

use crate::aws::{AwsError, IamResource, Operation};
use crate::outcome::{Outcome, OutcomeRecord};

/// ASFF findings (Security Hub CSPM). IAM authorizes it on the `hub` resource type,
/// `arn:${Partition}:securityhub:${Region}:${Account}:hub/default`.
pub const BATCH_UPDATE_FINDINGS: Operation = Operation {
    service: "securityhub",
    api: "BatchUpdateFindings",
    permission: "securityhub:BatchUpdateFindings",
    resource: IamResource::Arn("arn:{partition}:securityhub:{region}:{account}:hub/default"),
    implies: &[],
};

/// OCSF findings (the new Security Hub). The same IAM action as [`BATCH_UPDATE_FINDINGS`], but
/// authorized on the `hubv2` resource type (Service Authorization Reference for Security Hub),
/// `arn:${Partition}:securityhub:${Region}:${Account}:hubv2/${HubV2Id}`: a grant on `hub/default`
/// alone denies every V2 update.
pub const BATCH_UPDATE_FINDINGS_V2: Operation = Operation {
    service: "securityhub",
    api: "BatchUpdateFindingsV2",
    permission: "securityhub:BatchUpdateFindings",
    resource: IamResource::Arn("arn:{partition}:securityhub:{region}:{account}:hubv2/*"),
    implies: &[],
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

/// What to tell Security Hub about each finding, from the invocation's records. Pure. A fix that
/// was only recorded — a dry run, `notify`, `approve`, a blast-radius limit, `off` — is told only
/// when `not_fixed` (the policy's `securityHub.updateFindingsNotFixed`); a failed or deferred one
/// always.
pub fn plan(findings: &[FindingRef], records: &[OutcomeRecord], not_fixed: bool) -> Vec<Update> {
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
            .filter(|r| match r.outcome {
                Outcome::Failed | Outcome::Deferred => true,
                Outcome::WouldRemediate | Outcome::Pending | Outcome::Off => not_fixed,
                _ => false,
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

/// A finding Security Hub was not told about: its request failed (denied, throttled after the
/// retries, invalid), or Security Hub answered it in `UnprocessedFindings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotUpdated {
    pub key: FindingKey,
    pub reason: String,
}

/// Security Hub's documented rate for both APIs: at most 10 requests a second.
pub const PACE: std::time::Duration = std::time::Duration::from_millis(100);

/// Send every update with `send_one` (one request each, `pace` apart). A request that fails does
/// not stop the later ones: its findings are reported not updated with the error, as are the
/// findings a response lists as unprocessed. What was not updated, in order.
pub async fn deliver<'a, F, Fut>(
    updates: &'a [Update],
    pace: std::time::Duration,
    mut send_one: F,
) -> Vec<NotUpdated>
where
    F: FnMut(&'a Update) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<NotUpdated>, AwsError>>,
{
    let mut failed = Vec::new();
    for (i, update) in updates.iter().enumerate() {
        if i > 0 && !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
        match send_one(update).await {
            Ok(unprocessed) => {
                for n in &unprocessed {
                    tracing::warn!(finding = ?n.key, reason = %n.reason, "Security Hub finding not updated");
                }
                failed.extend(unprocessed);
            }
            Err(e) => {
                tracing::warn!(
                    findings = update.findings.len(),
                    error = %e,
                    "Security Hub findings not updated: request failed"
                );
                failed.extend(update.findings.iter().map(|key| NotUpdated {
                    key: key.clone(),
                    reason: e.to_string(),
                }));
            }
        }
    }
    failed
}

/// Count each finding not updated on one record — its first resource's, or the first record's
/// when Security Hub named a finding the event did not carry — so the records' counts add up to
/// the findings not updated (the `finding_update_failed` metric). Pure.
pub fn count_not_updated(
    findings: &[FindingRef],
    not_updated: &[NotUpdated],
    records: &mut [OutcomeRecord],
) {
    for n in not_updated {
        let resources = findings
            .iter()
            .find(|f| f.key == n.key)
            .map(|f| f.resources.as_slice())
            .unwrap_or_default();
        let at = records
            .iter()
            .position(|r| resources.contains(&r.resource))
            .or((!records.is_empty()).then_some(0));
        if let Some(record) = at.and_then(|i| records.get_mut(i)) {
            record.finding_update_failed += 1;
        }
    }
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
    /// Send each update (one request each, at most 10 a second), every one of them even when an
    /// earlier one fails; the findings not updated, and why.
    #[cfg(feature = "securityhub")]
    pub async fn send(&self, updates: &[Update]) -> Vec<NotUpdated> {
        deliver(updates, PACE, |update| async move {
            if update.findings.first().is_some_and(FindingKey::is_ocsf) {
                self.send_ocsf(update).await
            } else {
                self.send_asff(update).await
            }
        })
        .await
    }

    #[cfg(feature = "securityhub")]
    async fn send_asff(&self, update: &Update) -> Result<Vec<NotUpdated>, AwsError> {
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
                let f = u.finding_identifier();
                NotUpdated {
                    key: FindingKey::Asff {
                        id: f.and_then(|f| f.id()).unwrap_or_default().to_owned(),
                        product_arn: f
                            .and_then(|f| f.product_arn())
                            .unwrap_or_default()
                            .to_owned(),
                    },
                    reason: unprocessed_reason(u.error_code(), u.error_message()),
                }
            })
            .collect())
    }

    #[cfg(feature = "securityhub")]
    async fn send_ocsf(&self, update: &Update) -> Result<Vec<NotUpdated>, AwsError> {
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
                let f = u.finding_identifier();
                let field = |get: fn(&OcsfFindingIdentifier) -> Option<&str>| {
                    f.and_then(get).unwrap_or_default().to_owned()
                };
                NotUpdated {
                    key: FindingKey::Ocsf {
                        account: field(OcsfFindingIdentifier::cloud_account_uid),
                        uid: field(OcsfFindingIdentifier::finding_info_uid),
                        product_uid: field(OcsfFindingIdentifier::metadata_product_uid),
                    },
                    reason: unprocessed_reason(
                        u.error_code().map(|c| c.as_str()),
                        u.error_message(),
                    ),
                }
            })
            .collect())
    }

    #[cfg(not(feature = "securityhub"))]
    pub async fn send(&self, _: &[Update]) -> Vec<NotUpdated> {
        Vec::new()
    }
}

/// Why Security Hub did not process a finding: `ErrorCode: ErrorMessage`, as it answered.
#[cfg(feature = "securityhub")]
fn unprocessed_reason(code: Option<&str>, message: Option<&str>) -> String {
    match (code, message) {
        (Some(c), Some(m)) => format!("unprocessed: {c}: {m}"),
        (Some(x), None) | (None, Some(x)) => format!("unprocessed: {x}"),
        (None, None) => "unprocessed".to_owned(),
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
            mode: None,
            limited: false,
            quiet: false,
            notification_failed: false,
            finding_update_failed: 0,
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
        let updates = plan(&findings, &records, true);
        assert_eq!(updates.len(), 2, "{updates:?}");
        assert_eq!(updates[0].verdict, Verdict::Resolved);
        assert_eq!(updates[0].findings, vec![asff("1")]);
        assert!(updates[0].note.contains("a remediated: why"));
        assert_eq!(updates[1].verdict, Verdict::Notified);
        assert!(updates[1].note.contains("b failed: why"));
    }

    /// Dry run, notify, approve, off and a limit write nothing to a finding unless the policy asks
    /// (`securityHub.updateFindingsNotFixed`); a failure always does.
    #[test]
    fn a_fix_only_recorded_is_told_only_when_the_policy_asks() {
        let records = [
            record("w", Outcome::WouldRemediate),
            record("p", Outcome::Pending),
            record("o", Outcome::Off),
            record("f", Outcome::Failed),
        ];
        let findings = [
            finding("1", "w", Some("NEW")),
            finding("2", "p", Some("NEW")),
            finding("3", "o", Some("NEW")),
            finding("4", "f", Some("NEW")),
        ];
        let quiet = plan(&findings, &records, false);
        assert_eq!(quiet.len(), 1, "{quiet:?}");
        assert_eq!(quiet[0].findings, vec![asff("4")]);
        let told = plan(&findings, &records, true);
        assert!(
            told.iter().all(|u| u.verdict == Verdict::Notified),
            "{told:?}"
        );
        let mut keys: Vec<FindingKey> = told.iter().flat_map(|u| u.findings.clone()).collect();
        keys.sort_by_key(|k| format!("{k:?}"));
        assert_eq!(keys, vec![asff("1"), asff("2"), asff("3"), asff("4")]);
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
        let updates = plan(&findings, &records, true);
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

    fn update(ids: &[&str]) -> Update {
        Update {
            verdict: Verdict::Resolved,
            note: "n".into(),
            findings: ids.iter().map(|i| asff(i)).collect(),
        }
    }

    #[tokio::test]
    async fn a_failed_request_does_not_stop_the_later_ones() {
        let updates = [update(&["1", "2"]), update(&["3"]), update(&["4", "5"])];
        let mut sent = Vec::new();
        let failed = deliver(&updates, std::time::Duration::ZERO, |u| {
            sent.push(u.findings.clone());
            let first = sent.len() == 1;
            async move {
                if first {
                    Err(AwsError::new(
                        crate::aws::AwsErrorKind::AccessDenied,
                        BATCH_UPDATE_FINDINGS_V2.permission,
                        "not authorized",
                    ))
                } else if u.findings.contains(&asff("5")) {
                    Ok(vec![NotUpdated {
                        key: asff("5"),
                        reason: "unprocessed: FindingNotFound".into(),
                    }])
                } else {
                    Ok(Vec::new())
                }
            }
        })
        .await;
        assert_eq!(sent.len(), 3, "every request is sent");
        let keys: Vec<&FindingKey> = failed.iter().map(|n| &n.key).collect();
        assert_eq!(keys, [&asff("1"), &asff("2"), &asff("5")]);
        assert!(failed[0].reason.contains("not authorized"), "{failed:?}");
        assert!(failed[2].reason.contains("FindingNotFound"));
    }

    #[test]
    fn each_finding_not_updated_is_counted_once() {
        let findings = [
            finding("1", "a", None),
            FindingRef {
                key: asff("2"),
                workflow: None,
                resources: vec!["b".into(), "c".into()],
            },
        ];
        let mut records = vec![
            record("a", Outcome::Remediated),
            record("b", Outcome::Remediated),
            record("c", Outcome::Remediated),
        ];
        let not_updated = |id: &str| NotUpdated {
            key: asff(id),
            reason: "r".into(),
        };
        // A finding of two resources counts once; one Security Hub names but the event did not
        // carry still counts (on the first record).
        count_not_updated(
            &findings,
            &[not_updated("2"), not_updated("1"), not_updated("zzz")],
            &mut records,
        );
        let counts: Vec<u32> = records.iter().map(|r| r.finding_update_failed).collect();
        assert_eq!(counts, [2, 1, 0]);
        let mut none: Vec<OutcomeRecord> = Vec::new();
        count_not_updated(&findings, &[not_updated("1")], &mut none);
    }

    #[test]
    fn notes_fit_and_identical_updates_share_a_request() {
        let long = "x".repeat(2000);
        let records = [record(&long, Outcome::Remediated)];
        let updates = plan(&[finding("1", &long, None)], &records, true);
        assert!(updates[0].note.len() <= NOTE_MAX);
        let records: Vec<OutcomeRecord> = (0..150).map(|_| record("r", Outcome::Failed)).collect();
        let findings: Vec<FindingRef> = (0..150)
            .map(|i| finding(&i.to_string(), "r", None))
            .collect();
        let updates = plan(&findings, &records, true);
        assert_eq!(
            updates.iter().map(|u| u.findings.len()).collect::<Vec<_>>(),
            vec![100, 50]
        );
    }
}
