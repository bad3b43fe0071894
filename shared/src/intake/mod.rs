//! Intake: every supported inbound event shape, parsed once → what to look at, each target with
//! the account and region it is in, from the controls' static [`ControlSpec`]s alone (no SDK
//! client, no list order). One module per shape: [`cloudtrail`] ("AWS API Call via CloudTrail"),
//! [`config`] ("Config Rules Compliance Change" and custom-rule invocations), [`securityhub`]
//! ("Security Hub Findings - Imported" and "Findings Imported V2"), [`direct`] (a direct or SSM
//! Automation payload), [`sqs`] (a hub's sweep jobs); "Scheduled Event" and services'
//! state-change events here.
//!
//! Where each part of an event is comes from the event's own fields: an EventBridge event's
//! envelope `account` and `region`; each Security Hub finding's `AwsAccountId` and `Region`
//! (ASFF) or `cloud.account.uid` and `cloud.region` (OCSF); a Config custom-rule invocation's
//! `accountId` and its configuration item's `awsRegion`; a direct payload's `accountId` and
//! `region`, else its resource ARN's. What names none is the function's own ([`Home`]). Intake
//! decides nothing about where the function may act: the dispatcher ([`crate::dispatch`]) groups
//! the targets by account and region and acts only where it can reach. [`parse`] is that view for
//! a function without a hub.
//!
//! Intake makes no AWS call. A well-formed event that concerns something else yields
//! [`Work::Ignore`]; anything malformed is an [`IntakeError`] that names the problem.

mod cloudtrail;
mod config;
mod direct;
mod securityhub;
mod sqs;

use std::collections::BTreeMap;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::Value;

use crate::control::ControlSpec;
use crate::error::IntakeError;
use crate::event::cloudtrail::lookup_str;
use crate::event::decode;
use crate::findings::FindingRef;
use crate::outcome::Trigger;
use crate::resource::{partition_of, Arn, Place, Resource, Scope};

pub use sqs::Job;

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
    /// The Security Hub findings the targets came from, each with its account and region: told
    /// the result afterwards.
    pub findings: Vec<(Place, FindingRef)>,
    /// Where the event is (its envelope's, invocation's or payload's account and region): where
    /// its sweep or its ignoring applies. Each target carries its own.
    pub place: Place,
    /// A request (a direct or SSM payload): refused when its place is out of reach, where an
    /// event's part is ignored.
    pub request: bool,
    /// A scheduled event, with its id: a sweep of every place in reach (any other sweep is of
    /// `place` only). Fanned-out sweep jobs are deduplicated by the id.
    pub scheduled: Option<String>,
    /// A human approved the fixes this request asks for (who, and how): a control in `approve`
    /// mode applies a pending proposal that still holds.
    pub approved_by: Option<String>,
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

/// One resource for one control, where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The account and region the resource is in.
    pub place: Place,
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

/// What an inbound event is.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// An event or a request, its targets each with its account and region.
    Intake(Box<Intake>),
    /// Sweep jobs from a hub's fan-out queue.
    Jobs(Vec<Job>),
}

/// Where the function is: its own account, region and role, for what an event leaves unsaid, and
/// the role it acts with in other accounts (a hub's member role), whose own calls are not acted on
/// there either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub scope: Scope,
    /// The member role's name (with its path) in other accounts.
    pub member_role: Option<String>,
}

/// Why a place is not acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outside {
    /// Another account than the function's own (a function without a hub).
    Account { account: String, own: String },
    /// Another region than the function's own (a function without a hub).
    Region { region: String, own: String },
    /// Outside a hub's scope: why.
    Scope(String),
}

impl std::fmt::Display for Outside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outside::Account { account, own } => write!(
                f,
                "about account {account}, relayed to this function in account {own}: not acted on here"
            ),
            Outside::Region { region, own } => write!(
                f,
                "about region {region}, relayed to this function in region {own}: not acted on here"
            ),
            Outside::Scope(reason) => f.write_str(reason),
        }
    }
}

impl Outside {
    /// The refusal of a request for that place (`subject`: the resource it named).
    pub fn refusal(self, subject: &str) -> IntakeError {
        match self {
            Outside::Account { account, own } => IntakeError::ForeignAccount {
                event_account: account,
                own_account: own,
            },
            Outside::Region { region, own } => IntakeError::ForeignRegion {
                arn: subject.to_owned(),
                region,
                own_region: own,
            },
            Outside::Scope(reason) => IntakeError::OutOfScope {
                subject: subject.to_owned(),
                reason,
            },
        }
    }
}

impl Home {
    /// A function's home: `scope` (with its own role), no member role.
    pub fn new(scope: Scope) -> Self {
        Self {
            scope,
            member_role: None,
        }
    }

    pub fn with_member_role(mut self, member_role: Option<String>) -> Self {
        self.member_role = member_role;
        self
    }

    /// The function's own account and region.
    pub fn place(&self) -> Place {
        self.scope.place()
    }

    /// Why `place` is not the function's own account and region (`None`: it is). A function
    /// without a hub acts there only.
    pub fn outside(&self, place: &Place) -> Option<Outside> {
        if place.account != self.scope.account {
            Some(Outside::Account {
                account: place.account.clone(),
                own: self.scope.account.clone(),
            })
        } else if place.region != self.scope.region {
            Some(Outside::Region {
                region: place.region.clone(),
                own: self.scope.region.clone(),
            })
        } else {
            None
        }
    }

    /// The scope at `place`: its account and region, and the role the function acts with there.
    pub fn scope_at(&self, place: &Place) -> Scope {
        let role = if place.account == self.scope.account {
            self.scope.own_role.clone()
        } else {
            self.member_role.as_ref().map(|name| {
                format!(
                    "arn:{}:iam::{}:role/{name}",
                    partition_of(&place.region),
                    place.account
                )
            })
        };
        Scope::new(&place.account, &place.region).with_own_role(role)
    }
}

impl Intake {
    /// A sweep of the controls `ids` at `place` (what a scheduled event, the `remediate` command
    /// or a sweep job asks for).
    pub fn sweep(trigger: Trigger, ids: Vec<&'static str>, dry_run: bool, place: Place) -> Self {
        Self {
            trigger,
            work: Work::Sweep(ids),
            dry_run,
            config_rule: None,
            findings: Vec::new(),
            place,
            request: false,
            scheduled: None,
            approved_by: None,
        }
    }

    /// What a request names, for its refusal: its first target's resource, else its place.
    pub fn subject(&self) -> String {
        match &self.work {
            Work::Targets(t) if !t.is_empty() => t[0].resource.arn.clone(),
            _ => self.place.to_string(),
        }
    }

    /// The intake split by account and region: each part with only its place's targets and
    /// findings, in (account, region) order. A sweep or an ignored event is one part, at its place.
    pub fn split(self) -> Vec<(Place, Intake)> {
        let Work::Targets(targets) = &self.work else {
            return vec![(self.place.clone(), self)];
        };
        type Group = (Vec<Target>, Vec<(Place, FindingRef)>);
        let mut groups: BTreeMap<Place, Group> = BTreeMap::new();
        for t in targets {
            groups.entry(t.place.clone()).or_default().0.push(t.clone());
        }
        for (place, f) in &self.findings {
            if let Some(group) = groups.get_mut(place) {
                group.1.push((place.clone(), f.clone()));
            }
        }
        groups
            .into_iter()
            .map(|(place, (targets, findings))| {
                let part = Intake {
                    work: Work::Targets(targets),
                    findings,
                    place: place.clone(),
                    ..self.clone()
                };
                (place, part)
            })
            .collect()
    }

    /// The part of the intake at `home`'s place, as a function without a hub acts on it: another
    /// account's or region's part is ignored (an event: relayed) or refused (a request).
    pub fn at(self, home: &Home) -> Result<Intake, IntakeError> {
        let here = home.place();
        let foreign_envelope = home.outside(&self.place);
        let template = self.clone();
        let mut kept = None;
        let mut relayed: Vec<Outside> = Vec::new();
        for (place, part) in self.split() {
            match home.outside(&place) {
                None => kept = Some(part),
                Some(why) if part.request => return Err(why.refusal(&part.subject())),
                Some(why) => relayed.push(why),
            }
        }
        if let Some(kept) = kept {
            return Ok(kept);
        }
        let reason = match foreign_envelope {
            Some(why) => why.to_string(),
            None => format!(
                "{} target(s) of other accounts or regions (relayed by an administrator account \
                 or aggregation region): not acted on here ({})",
                relayed.len(),
                relayed
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        Ok(Intake {
            work: Work::Ignore(reason),
            findings: Vec::new(),
            config_rule: None,
            place: here,
            ..template
        })
    }
}

/// Read an inbound event for a function with these controls at `home`: once, into its targets,
/// each with its account and region (or a hub's sweep jobs).
pub fn read(
    event: &Value,
    specs: &[&'static ControlSpec],
    home: &Home,
) -> Result<Inbound, IntakeError> {
    let Some(obj) = event.as_object() else {
        return Err(IntakeError::UnrecognisedShape(format!(
            "expected a JSON object, got {}",
            json_kind(event)
        )));
    };
    if obj.contains_key("Records") {
        return sqs::jobs(event, specs).map(Inbound::Jobs);
    }
    let router = Router {
        specs,
        home,
        scope: home.scope.clone(),
    };
    let intake = if obj.contains_key("detail-type") {
        router.eventbridge(event)
    } else if obj.contains_key("invokingEvent") || obj.contains_key("resultToken") {
        router.config_rule_invocation(event)
    } else if obj.contains_key("resourceId") {
        router.direct(event)
    } else {
        Err(IntakeError::UnrecognisedShape(
            "expected an EventBridge event (`detail-type`), an AWS Config rule invocation \
             (`invokingEvent`), a direct payload (`resourceId`) or SQS sweep jobs (`Records`)"
                .to_owned(),
        ))
    }?;
    Ok(Inbound::Intake(Box::new(intake)))
}

/// Parse an inbound event for a function with these controls acting at `scope` only (no hub):
/// what [`read`] finds there; another account's or region's event is ignored, a request for one
/// refused. Sweep jobs are a hub's: refused.
pub fn parse(
    event: &Value,
    specs: &[&'static ControlSpec],
    scope: &Scope,
) -> Result<Intake, IntakeError> {
    let home = Home::new(scope.clone());
    match read(event, specs, &home)? {
        Inbound::Intake(intake) => intake.at(&home),
        Inbound::Jobs(_) => Err(IntakeError::UnrecognisedShape(
            "SQS sweep jobs: only a hub's sweep queue sends them".to_owned(),
        )),
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

/// A field's value, when present and not empty.
fn given(value: Option<&String>) -> Option<String> {
    value.filter(|s| !s.is_empty()).cloned()
}

/// Routes one event to the controls' specs; `scope`: the account and region of the part being
/// read (the home's until the event says otherwise).
struct Router<'a> {
    specs: &'a [&'static ControlSpec],
    home: &'a Home,
    scope: Scope,
}

impl<'a> Router<'a> {
    /// The router for the part of the event at `place`.
    fn at(&self, place: &Place) -> Router<'a> {
        Router {
            specs: self.specs,
            home: self.home,
            scope: self.home.scope_at(place),
        }
    }

    /// The place an event names (`account`, `region`), the rest from this router's.
    fn place(&self, account: Option<&String>, region: Option<&String>) -> Place {
        Place::new(
            given(account).unwrap_or_else(|| self.scope.account.clone()),
            given(region).unwrap_or_else(|| self.scope.region.clone()),
        )
    }

    fn intake(&self, trigger: Trigger, work: Work) -> Intake {
        Intake {
            trigger,
            work,
            dry_run: false,
            config_rule: None,
            findings: Vec::new(),
            place: self.scope.place(),
            request: false,
            scheduled: None,
            approved_by: None,
        }
    }

    fn all(&self) -> Vec<&'static str> {
        self.specs.iter().map(|s| s.id).collect()
    }

    /// Why an event's detail about `account` / `region` is not about this router's place
    /// (`None`: it is).
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
        let resource = spec.resource(id, &self.scope)?;
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
            place: self.scope.place(),
            control: spec.id,
            resource,
            action,
            left_scope: false,
        })
    }

    /// A target of an event: `None` (logged) when the resource is another account's or region's
    /// than the event says.
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
        let at = self.at(&self.place(envelope.account.as_ref(), envelope.region.as_ref()));
        match envelope.detail_type.as_str() {
            "AWS API Call via CloudTrail" => at.cloudtrail(&envelope.detail),
            "Config Rules Compliance Change" => at.compliance_change(&envelope.detail),
            "Security Hub Findings - Imported" => at.security_hub(&envelope.detail),
            // A human chose our custom action on findings: approval of their proposed fixes.
            "Security Hub Findings - Custom Action" => {
                self.own_custom_action(&envelope)?;
                let action = envelope
                    .detail
                    .get("actionName")
                    .and_then(Value::as_str)
                    .unwrap_or("custom action")
                    .to_owned();
                at.security_hub(&envelope.detail).map(|intake| Intake {
                    approved_by: Some(format!("Security Hub custom action `{action}`")),
                    trigger: Trigger {
                        source: "security-hub-action",
                        name: action,
                        ..intake.trigger.clone()
                    },
                    ..intake
                })
            }
            "Findings Imported V2" => at.security_hub_v2(&envelope.detail),
            "Scheduled Event" => {
                let name = envelope
                    .resources
                    .as_ref()
                    .and_then(|r| r.first())
                    .and_then(|arn| arn.rsplit('/').next())
                    .unwrap_or_default()
                    .to_owned();
                Ok(Intake {
                    scheduled: Some(envelope.id.clone().unwrap_or_default()),
                    ..at.intake(
                        Trigger {
                            source: "schedule",
                            name,
                            ..Trigger::default()
                        },
                        Work::Sweep(at.all()),
                    )
                })
            }
            other => at.state_change(other, &envelope.detail),
        }
    }

    /// A custom action approves only when it is this function's own account's: the event's
    /// `account` and its action target ARN (`resources`, `arn:…:securityhub:<region>:<account>:
    /// action/custom/<id>`, Security Hub user guide, "EventBridge event formats for Security Hub")
    /// name the account the action was chosen in. Another account's custom action event — a
    /// member's own action, forwarded to a bus the function listens on — would otherwise let that
    /// account's principals approve the fixes proposed for their own resources.
    fn own_custom_action(&self, envelope: &EventBridgeEvent<Value>) -> Result<(), IntakeError> {
        let own = &self.home.scope.account;
        let refused = |whose: &str| IntakeError::OutOfScope {
            subject: format!("Security Hub custom action {whose}"),
            reason: format!(
                "only a custom action of this function's own account {own} approves fixes"
            ),
        };
        match envelope.account.as_deref() {
            Some(a) if a == own => {}
            Some(a) => return Err(refused(&format!("of account {a}"))),
            None => return Err(refused("of no account (the event has no `account`)")),
        }
        let actions = envelope.resources.as_deref().unwrap_or_default();
        let foreign = actions.iter().find(|arn| {
            Arn::parse(arn).is_none_or(|a| {
                a.service != "securityhub"
                    || a.account != own.as_str()
                    || !a.resource.starts_with("action/custom/")
            })
        });
        match (actions.is_empty(), foreign) {
            (true, _) => Err(refused("naming no action target (`resources` is empty)")),
            (false, Some(arn)) => Err(refused(&format!("`{arn}`"))),
            (false, None) => Ok(()),
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
