//! Intake: every supported inbound event shape → what to look at, from the controls' static
//! [`ControlSpec`]s alone (no SDK client, no list order). One module per shape:
//! [`cloudtrail`] ("AWS API Call via CloudTrail"), [`config`] ("Config Rules Compliance Change" and
//! custom-rule invocations), [`securityhub`] ("Security Hub Findings - Imported" and "Findings
//! Imported V2"), [`direct`] (a
//! direct or SSM Automation payload); "Scheduled Event" and services' state-change events here.
//!
//! Intake makes no AWS call. A well-formed event that concerns something else yields
//! [`Work::Ignore`]; anything malformed is an [`IntakeError`] that names the problem. An event
//! about another account or region — a Security Hub administrator's or aggregation region's feed
//! relays its members' and linked regions' findings, a forwarding bus relays other accounts'
//! events — is ignored, not an error (the function acts in its own account and region only); a
//! direct payload naming another account's or region's resource is refused.

mod cloudtrail;
mod config;
mod direct;
mod securityhub;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::Value;

use crate::control::ControlSpec;
use crate::error::IntakeError;
use crate::event::cloudtrail::lookup_str;
use crate::event::decode;
use crate::findings::FindingRef;
use crate::outcome::Trigger;
use crate::resource::{Arn, Resource, Scope};

/// What an event asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Intake {
    pub trigger: Trigger,
    pub work: Work,
    /// The event itself asked for a dry run (a direct payload with `"dryRun": true`). It can only
    /// make an invocation drier: `"dryRun": false` never overrides `DRY_RUN=true`.
    pub dry_run: bool,
    /// Present when AWS Config invoked the function as a custom rule: answer with evaluations.
    pub config_rule: Option<ConfigRuleInvocation>,
    /// The Security Hub findings the targets came from: told the result afterwards.
    pub findings: Vec<FindingRef>,
}

/// The work an event asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// Well-formed, but about something this function does not handle (the reason says what).
    Ignore(String),
    /// Every resource of these controls (by spec id).
    Sweep(Vec<&'static str>),
    /// These resources.
    Targets(Vec<Target>),
}

/// One resource for one control.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The control's spec id.
    pub control: &'static str,
    pub resource: Resource,
    pub action: &'static str,
    /// AWS Config says the resource was deleted or left the rule's scope: no AWS call, not applicable.
    pub left_scope: bool,
}

/// An AWS Config custom-rule invocation to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigRuleInvocation {
    pub result_token: String,
    pub rule_name: String,
    /// RFC 3339 time for `OrderingTimestamp`: the item's capture or the notification's creation.
    pub ordering_time: Option<String>,
}

/// Parse an inbound event for a function with these controls.
pub fn parse(
    event: &Value,
    specs: &[&'static ControlSpec],
    scope: &Scope,
) -> Result<Intake, IntakeError> {
    let Some(obj) = event.as_object() else {
        return Err(IntakeError::UnrecognisedShape(format!(
            "expected a JSON object, got {}",
            json_kind(event)
        )));
    };
    let router = Router { specs, scope };
    if obj.contains_key("detail-type") {
        router.eventbridge(event)
    } else if obj.contains_key("invokingEvent") || obj.contains_key("resultToken") {
        router.config_rule_invocation(event)
    } else if obj.contains_key("resourceId") {
        router.direct(event)
    } else {
        Err(IntakeError::UnrecognisedShape(
            "expected an EventBridge event (`detail-type`), an AWS Config rule invocation \
             (`invokingEvent`) or a direct payload (`resourceId`)"
                .to_owned(),
        ))
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Routes one event to the controls' specs, in one account and region.
struct Router<'a> {
    specs: &'a [&'static ControlSpec],
    scope: &'a Scope,
}

impl Router<'_> {
    fn intake(&self, trigger: Trigger, work: Work) -> Intake {
        Intake {
            trigger,
            work,
            dry_run: false,
            config_rule: None,
            findings: Vec::new(),
        }
    }

    fn all(&self) -> Vec<&'static str> {
        self.specs.iter().map(|s| s.id).collect()
    }

    /// Why an event about `account` / `region` is not this function's to act on (`None`: it is).
    fn elsewhere(&self, account: Option<&str>, region: Option<&str>) -> Option<String> {
        match (account, region) {
            (Some(a), _) if !a.is_empty() && a != self.scope.account => Some(format!(
                "about account {a}, relayed to this function in account {}: not acted on here",
                self.scope.account
            )),
            (_, Some(r)) if !r.is_empty() && r != self.scope.region => Some(format!(
                "about region {r}, relayed to this function in region {}: not acted on here",
                self.scope.region
            )),
            _ => None,
        }
    }

    /// Resolve an identifier for `spec`, refusing resources of another account or region.
    fn target(
        &self,
        spec: &'static ControlSpec,
        id: &str,
        action: &'static str,
    ) -> Result<Target, IntakeError> {
        let resource = spec.resource(id, self.scope)?;
        if let Some(arn) = Arn::parse(&resource.arn) {
            if !arn.account.is_empty() && arn.account != self.scope.account {
                return Err(IntakeError::ForeignAccount {
                    event_account: arn.account.to_owned(),
                    own_account: self.scope.account.clone(),
                });
            }
            if !arn.region.is_empty() && arn.region != self.scope.region {
                return Err(IntakeError::ForeignRegion {
                    arn: resource.arn.clone(),
                    region: arn.region.to_owned(),
                    own_region: self.scope.region.clone(),
                });
            }
        }
        Ok(Target {
            control: spec.id,
            resource,
            action,
            left_scope: false,
        })
    }

    /// A target of an event: `None` (logged) when the resource is another account's or region's.
    fn event_target(
        &self,
        spec: &'static ControlSpec,
        id: &str,
    ) -> Result<Option<Target>, IntakeError> {
        match self.target(spec, id, spec.default_action()) {
            Ok(t) => Ok(Some(t)),
            Err(e @ (IntakeError::ForeignAccount { .. } | IntakeError::ForeignRegion { .. })) => {
                tracing::info!(reason = %e, "relayed event: resource not acted on here");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn handled_types(&self) -> String {
        let mut types: Vec<&str> = self.specs.iter().map(|s| s.resource_type).collect();
        types.dedup();
        types.join(", ")
    }

    fn eventbridge(&self, event: &Value) -> Result<Intake, IntakeError> {
        let envelope: EventBridgeEvent<Value> = decode(event, "EventBridge event")?;
        if let Some(reason) = self.elsewhere(envelope.account.as_deref(), None) {
            return Ok(self.intake(
                Trigger {
                    source: "eventbridge",
                    name: envelope.detail_type.clone(),
                    ..Trigger::default()
                },
                Work::Ignore(reason),
            ));
        }
        match envelope.detail_type.as_str() {
            "AWS API Call via CloudTrail" => self.cloudtrail(&envelope.detail),
            "Config Rules Compliance Change" => self.compliance_change(&envelope.detail),
            "Security Hub Findings - Imported" => self.security_hub(&envelope.detail),
            "Findings Imported V2" => self.security_hub_v2(&envelope.detail),
            "Scheduled Event" => {
                let name = envelope
                    .resources
                    .as_ref()
                    .and_then(|r| r.first())
                    .and_then(|arn| arn.rsplit('/').next())
                    .unwrap_or_default()
                    .to_owned();
                Ok(self.intake(
                    Trigger {
                        source: "schedule",
                        name,
                        ..Trigger::default()
                    },
                    Work::Sweep(self.all()),
                ))
            }
            other => self.state_change(other, &envelope.detail),
        }
    }

    /// A service's own state-change event, for a control that listens to it.
    fn state_change(&self, detail_type: &str, detail: &Value) -> Result<Intake, IntakeError> {
        let found = self.specs.iter().find_map(|spec| {
            spec.state_change_events
                .iter()
                .find(|e| e.detail_type == detail_type)
                .map(|e| (*spec, e.resource_id_field))
        });
        let Some((spec, field)) = found else {
            return Err(IntakeError::UnrecognisedShape(format!(
                "unsupported EventBridge detail-type `{detail_type}`"
            )));
        };
        let id = lookup_str(Some(detail), "detail", &[field])?;
        let work = match self.event_target(spec, id)? {
            Some(target) => Work::Targets(vec![target]),
            None => Work::Ignore(format!("{id} is not in this account and region")),
        };
        Ok(self.intake(
            Trigger {
                source: "state-change",
                name: detail_type.to_owned(),
                ..Trigger::default()
            },
            work,
        ))
    }
}

// Routing tests with the S3 function's specs.
#[cfg(all(test, feature = "s3"))]
mod tests;
