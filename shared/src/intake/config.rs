//! AWS Config → resources: a "Config Rules Compliance Change" event (routed by rule name and
//! resource type), or a custom rule's invocation (routed by its rule name as well).

use serde_json::Value;

use super::{ConfigRuleInvocation, Intake, Router, Work};
use crate::error::IntakeError;
use crate::event::config::{ComplianceChange, RuleInvocation};
use crate::event::decode;
use crate::outcome::Trigger;

impl Router<'_> {
    pub(super) fn compliance_change(&self, detail: &Value) -> Result<Intake, IntakeError> {
        let change: ComplianceChange = decode(detail, "Config compliance change in `detail`")?;
        let trigger = Trigger {
            source: "config-rule",
            name: change.config_rule_name.clone(),
            ..Trigger::default()
        };
        if let Some(reason) = self.elsewhere(
            change.aws_account_id.as_deref(),
            change.aws_region.as_deref(),
        ) {
            return Ok(self.intake(trigger, Work::Ignore(reason)));
        }
        let compliance = change.compliance();
        if compliance != Some(ComplianceChange::NON_COMPLIANT) {
            return Ok(self.intake(
                trigger,
                Work::Ignore(format!(
                    "compliance is {}, not NON_COMPLIANT",
                    compliance.unwrap_or("absent")
                )),
            ));
        }
        let spec = self.specs.iter().find(|s| {
            s.resource_type == change.resource_type && s.owns_config_rule(&change.config_rule_name)
        });
        let work = match spec {
            Some(spec) => match self.event_target(spec, &change.resource_id)? {
                Some(target) => Work::Targets(vec![target]),
                None => Work::Ignore(format!(
                    "{} is not in this account and region",
                    change.resource_id
                )),
            },
            None => Work::Ignore(format!(
                "rule {} on {} is not one this function remediates",
                change.config_rule_name, change.resource_type
            )),
        };
        Ok(self.intake(trigger, work))
    }

    pub(super) fn config_rule_invocation(&self, event: &Value) -> Result<Intake, IntakeError> {
        let invocation = RuleInvocation::decode(event)?;
        // The invocation's account, and its configuration item's region (a periodic rule's has
        // none: the function's own).
        let region = invocation.item().ok().and_then(|i| i.aws_region.clone());
        let place = self.place(invocation.envelope.account_id.as_ref(), region.as_ref());
        self.at(&place).invocation(&invocation)
    }

    fn invocation(&self, invocation: &RuleInvocation) -> Result<Intake, IntakeError> {
        let rule_name = invocation
            .envelope
            .config_rule_name
            .clone()
            .unwrap_or_default();
        let message_type = invocation.invoking.message_type.as_str();
        let trigger = Trigger {
            source: "config-custom-rule",
            name: format!("{rule_name}/{message_type}"),
            ..Trigger::default()
        };
        // The rule's own controls (by rule name); a rule no spec names is answered by every
        // control of the function.
        let owners: Vec<_> = self
            .specs
            .iter()
            .copied()
            .filter(|s| s.owns_custom_rule(&rule_name))
            .collect();
        let owners = if owners.is_empty() {
            self.specs.to_vec()
        } else {
            owners
        };
        let (work, ordering_time) = match message_type {
            "ScheduledNotification" => (
                Work::Sweep(owners.iter().map(|s| s.id).collect()),
                invocation.invoking.notification_creation_time.clone(),
            ),
            "ConfigurationItemChangeNotification"
            | "OversizedConfigurationItemChangeNotification" => {
                let item = invocation.item()?;
                let work = match owners
                    .iter()
                    .find(|s| s.resource_type == item.resource_type)
                {
                    Some(spec) => match self.event_target(spec, &item.resource_id)? {
                        Some(mut target) => {
                            target.left_scope =
                                invocation.envelope.event_left_scope || item.deleted();
                            Work::Targets(vec![target])
                        }
                        None => Work::Ignore(format!(
                            "{} is not in this account and region",
                            item.resource_id
                        )),
                    },
                    None => Work::Ignore(format!(
                        "resource type {} is not handled here ({})",
                        item.resource_type,
                        self.handled_types()
                    )),
                };
                (work, item.configuration_item_capture_time.clone())
            }
            other => {
                return Err(IntakeError::UnrecognisedShape(format!(
                    "unsupported AWS Config messageType `{other}`"
                )))
            }
        };
        Ok(Intake {
            config_rule: Some(ConfigRuleInvocation {
                result_token: invocation.result_token.clone(),
                rule_name,
                ordering_time,
            }),
            ..self.intake(trigger, work)
        })
    }
}
