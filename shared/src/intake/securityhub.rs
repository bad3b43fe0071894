//! "Security Hub Findings - Imported" (ASFF) → the resources of active, failed findings of the
//! function's Security Hub controls, this account's and region's only.

use serde_json::Value;

use super::{Intake, Router, Target, Work};
use crate::error::IntakeError;
use crate::event::decode;
use crate::event::securityhub::Findings;
use crate::findings::FindingRef;
use crate::outcome::Trigger;

impl Router<'_> {
    pub(super) fn security_hub(&self, detail: &Value) -> Result<Intake, IntakeError> {
        let findings: Findings = decode(detail, "Security Hub findings in `detail`")?;
        let mut targets: Vec<Target> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut relayed = 0;
        let mut refs: Vec<FindingRef> = Vec::new();
        for finding in &findings.findings {
            if let Some(reason) =
                self.elsewhere(finding.aws_account_id.as_deref(), finding.region.as_deref())
            {
                tracing::info!(reason = %reason, "relayed finding: not acted on here");
                relayed += 1;
                continue;
            }
            // A suppressed or resolved finding is a human's decision: respect it.
            if !finding.is_open_failure() {
                continue;
            }
            let Some(control_id) = finding.control_id() else {
                continue;
            };
            let mut from_this: Vec<String> = Vec::new();
            for spec in self.specs {
                if !spec.security_hub_controls.contains(&control_id.as_str()) {
                    continue;
                }
                for res in finding
                    .resources
                    .iter()
                    .filter(|r| r.resource_type == spec.asff_type)
                {
                    // A bucket's ARN names no region: the finding's resource does.
                    if self.elsewhere(None, res.region.as_deref()).is_some() {
                        relayed += 1;
                        continue;
                    }
                    let Some(target) = self.event_target(spec, &res.id)? else {
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
            if let (Some(id), Some(product_arn), false) =
                (&finding.id, &finding.product_arn, from_this.is_empty())
            {
                refs.push(FindingRef {
                    id: id.clone(),
                    product_arn: product_arn.clone(),
                    workflow: finding.workflow.as_ref().and_then(|w| w.status.clone()),
                    resources: from_this,
                });
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
            Work::Ignore("no active FAILED finding for a control of this function".to_owned())
        } else {
            Work::Targets(targets)
        };
        Ok(Intake {
            findings: refs,
            ..self.intake(trigger, work)
        })
    }
}
