//! Security Hub findings → the resources of active, failed findings of the function's Security
//! Hub controls, this account's and region's only. Both shapes: ASFF ("Security Hub Findings -
//! Imported", Security Hub CSPM) and OCSF ("Findings Imported V2", the new Security Hub), read
//! into one view so they route alike.

use serde_json::Value;

use super::{Intake, Router, Target, Work};
use crate::error::IntakeError;
use crate::event::decode;
use crate::event::securityhub::{Findings, OcsfFindings};
use crate::findings::{FindingKey, FindingRef};
use crate::outcome::Trigger;
use crate::resource::Place;

/// What routing reads of a finding, whichever its format.
struct Seen {
    account: Option<String>,
    region: Option<String>,
    open_failure: bool,
    control: Option<String>,
    /// (type, id, region)
    resources: Vec<(String, String, Option<String>)>,
    key: Option<FindingKey>,
    status: Option<String>,
}

impl Router<'_> {
    pub(super) fn security_hub(&self, detail: &Value) -> Result<Intake, IntakeError> {
        let findings: Findings = decode(detail, "Security Hub findings in `detail`")?;
        let seen = findings
            .findings
            .into_iter()
            .map(|f| Seen {
                open_failure: f.is_open_failure(),
                control: f.control_id(),
                key: f
                    .id
                    .clone()
                    .zip(f.product_arn.clone())
                    .map(|(id, product_arn)| FindingKey::Asff { id, product_arn }),
                status: f.workflow.as_ref().and_then(|w| w.status.clone()),
                resources: f
                    .resources
                    .into_iter()
                    .map(|r| (r.resource_type, r.id, r.region))
                    .collect(),
                account: f.aws_account_id,
                region: f.region,
            })
            .collect();
        self.findings(seen)
    }

    pub(super) fn security_hub_v2(&self, detail: &Value) -> Result<Intake, IntakeError> {
        let findings: OcsfFindings = decode(detail, "Security Hub OCSF findings in `detail`")?;
        let seen = findings
            .findings
            .into_iter()
            .map(|f| Seen {
                account: f.account().map(str::to_owned),
                region: f.region().map(str::to_owned),
                open_failure: f.is_open_failure(),
                control: f.control_id().map(str::to_owned),
                key: f
                    .identifier()
                    .map(|(account, uid, product_uid)| FindingKey::Ocsf {
                        account,
                        uid,
                        product_uid,
                    }),
                status: f.status(),
                resources: f
                    .resources
                    .into_iter()
                    .filter_map(|r| Some((r.resource_type?, r.uid?, r.region)))
                    .collect(),
            })
            .collect();
        self.findings(seen)
    }

    fn findings(&self, findings: Vec<Seen>) -> Result<Intake, IntakeError> {
        let mut targets: Vec<Target> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut relayed = 0;
        let mut refs: Vec<(Place, FindingRef)> = Vec::new();
        for finding in findings {
            // Where the finding is: its account and region (an administrator's or aggregation
            // region's feed carries many), else its first resource's region, else the envelope's.
            let region = finding
                .region
                .clone()
                .or_else(|| finding.resources.first().and_then(|r| r.2.clone()));
            let place = self.place(finding.account.as_ref(), region.as_ref());
            let at = self.at(&place);
            // A suppressed or resolved finding is a human's decision: respect it.
            if !finding.open_failure {
                continue;
            }
            let Some(control_id) = finding.control else {
                continue;
            };
            let mut from_this: Vec<String> = Vec::new();
            for spec in self.specs {
                if !spec.security_hub_controls.contains(&control_id.as_str()) {
                    continue;
                }
                // ASFF names types `AwsS3Bucket`; OCSF findings name them as CloudFormation does.
                for (_, id, region) in finding
                    .resources
                    .iter()
                    .filter(|(t, _, _)| t == spec.asff_type || t == spec.resource_type)
                {
                    // A bucket's ARN names no region: the finding's resource does.
                    if at.elsewhere(None, region.as_deref()).is_some() {
                        relayed += 1;
                        continue;
                    }
                    let Some(target) = at.event_target(spec, id)? else {
                        relayed += 1;
                        continue;
                    };
                    from_this.push(target.resource.arn.clone());
                    if !targets.contains(&target) {
                        targets.push(target);
                    }
                }
                if !names.contains(&control_id) {
                    names.push(control_id.clone());
                }
            }
            if let (Some(key), false) = (finding.key, from_this.is_empty()) {
                refs.push((
                    place,
                    FindingRef {
                        key,
                        workflow: finding.status,
                        resources: from_this,
                    },
                ));
            }
        }
        let trigger = Trigger {
            source: "security-hub",
            name: names.join(","),
            ..Trigger::default()
        };
        let work = if targets.is_empty() && relayed > 0 {
            Work::Ignore(format!(
                "{relayed} finding(s) or resource(s) of other accounts or regions (relayed by an \
                 administrator account or aggregation region): not acted on here"
            ))
        } else if targets.is_empty() {
            Work::Ignore("no active failed finding for a control of this function".to_owned())
        } else {
            Work::Targets(targets)
        };
        Ok(Intake {
            findings: refs,
            ..self.intake(trigger, work)
        })
    }
}
