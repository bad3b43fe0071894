//! Intake: every supported inbound event shape → what to look at.
//!
//! Shapes: EventBridge "AWS API Call via CloudTrail", "Config Rules Compliance Change",
//! "Security Hub Findings - Imported" and "Scheduled Event"; an AWS Config custom-rule invocation;
//! and a direct / SSM Automation payload `{"resourceId", "resourceType"?, "action"?, "dryRun"?}`.
//!
//! Intake makes no AWS call. A well-formed event that concerns something else yields
//! [`Work::Ignore`]; anything else malformed is an [`IntakeError`] that names the problem. An event
//! about another account or region — a Security Hub administrator's or aggregation region's feed
//! relays its members' and linked regions' findings, a forwarding bus relays other accounts'
//! events — is ignored, not an error (the function acts in its own account and region only); a
//! direct payload naming another account's or region's resource is refused.

use aws_lambda_events::config::ConfigEvent;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::control::DynControl;
use crate::error::IntakeError;
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
}

/// The work an event asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// Well-formed, but about something this function does not handle (the reason says what).
    Ignore(String),
    /// Every resource of every control of the function.
    Sweep,
    /// These resources.
    Targets(Vec<Target>),
}

/// One resource for one control.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Index of the control in the engine's list.
    pub control: usize,
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

/// The CloudTrail record in an "AWS API Call via CloudTrail" event: only what remediation reads,
/// every field but the event's name and source optional (records from AWS services, for example,
/// have no session context; `aws_lambda_events`' `AWSAPICall` requires it).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CloudTrailRecord {
    pub event_source: String,
    pub event_name: String,
    #[serde(default)]
    pub aws_region: Option<String>,
    #[serde(default)]
    pub recipient_account_id: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub user_identity: Option<UserIdentity>,
    #[serde(default, rename = "sourceIPAddress")]
    pub source_ip_address: Option<String>,
    #[serde(default)]
    pub request_parameters: Option<Value>,
    #[serde(default)]
    pub response_elements: Option<Value>,
}

/// CloudTrail `userIdentity`: who made the call.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    #[serde(default, rename = "type")]
    pub identity_type: Option<String>,
    #[serde(default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub session_context: Option<SessionContext>,
}

/// CloudTrail `userIdentity.sessionContext`: for assumed roles, the role.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    #[serde(default)]
    pub session_issuer: Option<SessionIssuer>,
}

/// CloudTrail `userIdentity.sessionContext.sessionIssuer`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer {
    #[serde(default)]
    pub arn: Option<String>,
}

impl UserIdentity {
    /// (account, role name) of the role the caller assumed, if it is a role session.
    pub fn role(&self) -> Option<(String, String)> {
        let issuer = self
            .session_context
            .as_ref()
            .and_then(|c| c.session_issuer.as_ref())
            .and_then(|i| i.arn.as_deref());
        if let Some(role) = issuer.and_then(role_of) {
            return Some(role);
        }
        // arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION
        let arn = Arn::parse(self.arn.as_deref()?)?;
        let name = arn
            .resource
            .strip_prefix("assumed-role/")?
            .split('/')
            .next()?;
        Some((arn.account.to_owned(), name.to_owned()))
    }
}

/// (account, role name) of an IAM role ARN (the path is not part of the identity).
pub fn role_of(arn: &str) -> Option<(String, String)> {
    let arn = Arn::parse(arn)?;
    let name = arn.resource.strip_prefix("role/")?.rsplit('/').next()?;
    (arn.service == "iam").then(|| (arn.account.to_owned(), name.to_owned()))
}

impl CloudTrailRecord {
    /// The account the call was made in (for account-level settings).
    pub fn recipient_account(&self, scope: &Scope) -> String {
        self.recipient_account_id
            .clone()
            .unwrap_or_else(|| scope.account.clone())
    }

    /// A string at `path` below `requestParameters`, e.g. `["bucketName"]`.
    pub fn request_str(&self, path: &[&str]) -> Result<&str, IntakeError> {
        lookup_str(
            self.request_parameters.as_ref(),
            "detail.requestParameters",
            path,
        )
    }

    /// A string at `path` below `responseElements`, e.g. `["keyMetadata", "arn"]`.
    pub fn response_str(&self, path: &[&str]) -> Result<&str, IntakeError> {
        lookup_str(
            self.response_elements.as_ref(),
            "detail.responseElements",
            path,
        )
    }
}

fn lookup_str<'a>(
    root: Option<&'a Value>,
    prefix: &str,
    path: &[&str],
) -> Result<&'a str, IntakeError> {
    let name = || format!("{prefix}.{}", path.join("."));
    let mut v = root.ok_or_else(|| IntakeError::MissingField(prefix.to_owned()))?;
    for key in path {
        v = v
            .get(key)
            .ok_or_else(|| IntakeError::MissingField(name()))?;
    }
    v.as_str()
        .ok_or_else(|| IntakeError::Malformed(format!("`{}` is not a string", name())))
}

/// Parse an inbound event for the given controls.
pub fn parse(
    event: &Value,
    controls: &[Box<dyn DynControl>],
    scope: &Scope,
) -> Result<Intake, IntakeError> {
    let Some(obj) = event.as_object() else {
        return Err(IntakeError::UnrecognisedShape(format!(
            "expected a JSON object, got {}",
            json_kind(event)
        )));
    };
    let router = Router { controls, scope };
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

/// Deserialize with the path of the offending field in the error.
fn decode<T: DeserializeOwned>(v: &Value, what: &str) -> Result<T, IntakeError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!(" at `{path}`")
        };
        IntakeError::Malformed(format!("{what}{at}: {}", e.into_inner()))
    })
}

struct Router<'a> {
    controls: &'a [Box<dyn DynControl>],
    scope: &'a Scope,
}

const NON_COMPLIANT: &str = "NON_COMPLIANT";

impl Router<'_> {
    fn intake(&self, trigger: Trigger, work: Work) -> Intake {
        Intake {
            trigger,
            work,
            dry_run: false,
            config_rule: None,
        }
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

    /// A target of an event: `None` (logged) when the resource is another account's or region's.
    fn event_target(&self, index: usize, id: &str) -> Result<Option<Target>, IntakeError> {
        match self.default_target(index, id) {
            Ok(t) => Ok(Some(t)),
            Err(e @ (IntakeError::ForeignAccount { .. } | IntakeError::ForeignRegion { .. })) => {
                tracing::info!(reason = %e, "relayed event: resource not acted on here");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn guard_account(&self, account: Option<&str>) -> Result<(), IntakeError> {
        match account {
            Some(a) if !a.is_empty() && a != self.scope.account => {
                Err(IntakeError::ForeignAccount {
                    event_account: a.to_owned(),
                    own_account: self.scope.account.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Resolve an identifier for control `index`, refusing resources of another account or region.
    fn target(&self, index: usize, id: &str, action: &'static str) -> Result<Target, IntakeError> {
        let resource = self.controls[index].resource(id, self.scope)?;
        if let Some(arn) = Arn::parse(&resource.arn) {
            self.guard_account(Some(arn.account))?;
            if !arn.region.is_empty() && arn.region != self.scope.region {
                return Err(IntakeError::ForeignRegion {
                    arn: resource.arn.clone(),
                    region: arn.region.to_owned(),
                    own_region: self.scope.region.clone(),
                });
            }
        }
        Ok(Target {
            control: index,
            resource,
            action,
            left_scope: false,
        })
    }

    fn default_target(&self, index: usize, id: &str) -> Result<Target, IntakeError> {
        self.target(index, id, self.controls[index].spec().default_action())
    }

    fn by_resource_type(&self, resource_type: &str) -> Option<usize> {
        self.controls
            .iter()
            .position(|c| c.spec().resource_type == resource_type)
    }

    fn handled_types(&self) -> String {
        self.controls
            .iter()
            .map(|c| c.spec().resource_type)
            .collect::<Vec<_>>()
            .join(", ")
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
                    Work::Sweep,
                ))
            }
            other => self.state_change(other, &envelope.detail),
        }
    }

    fn cloudtrail(&self, detail: &Value) -> Result<Intake, IntakeError> {
        let record: CloudTrailRecord = decode(detail, "CloudTrail record in `detail`")?;
        let trigger = Trigger {
            source: "cloudtrail",
            name: record.event_name.clone(),
            principal: record.user_identity.as_ref().and_then(|u| u.arn.clone()),
            source_ip: record.source_ip_address.clone(),
        };
        if let Some(reason) = self.elsewhere(
            record.recipient_account_id.as_deref(),
            record.aws_region.as_deref(),
        ) {
            return Ok(self.intake(trigger, Work::Ignore(reason)));
        }
        if let Some(code) = &record.error_code {
            return Ok(self.intake(
                trigger,
                Work::Ignore(format!("the call failed ({code}): nothing changed")),
            ));
        }
        // The loop breaker: our own fix, recorded by CloudTrail, comes back as an event.
        let caller = record.user_identity.as_ref().and_then(UserIdentity::role);
        if caller.is_some() && caller == self.scope.own_role.as_deref().and_then(role_of) {
            return Ok(self.intake(
                trigger,
                Work::Ignore("caused by this function's own role: nothing to do".to_owned()),
            ));
        }
        let mut targets = Vec::new();
        for (index, control) in self.controls.iter().enumerate() {
            let spec = control.spec();
            if spec.event_source == record.event_source
                && spec.cloudtrail_events.contains(&record.event_name.as_str())
            {
                for id in control.cloudtrail_targets(&record, self.scope)? {
                    targets.extend(self.event_target(index, &id)?);
                }
            }
        }
        let work = if targets.is_empty() {
            Work::Ignore(format!(
                "{} {} is not an event this function acts on",
                record.event_source, record.event_name
            ))
        } else {
            Work::Targets(targets)
        };
        Ok(self.intake(trigger, work))
    }

    /// A service's own state-change event, for a control that listens to it.
    fn state_change(&self, detail_type: &str, detail: &Value) -> Result<Intake, IntakeError> {
        let found = self.controls.iter().enumerate().find_map(|(index, c)| {
            c.spec()
                .state_change_events
                .iter()
                .find(|e| e.detail_type == detail_type)
                .map(|e| (index, e.resource_id_field))
        });
        let Some((index, field)) = found else {
            return Err(IntakeError::UnrecognisedShape(format!(
                "unsupported EventBridge detail-type `{detail_type}`"
            )));
        };
        let id = lookup_str(Some(detail), "detail", &[field])?;
        let work = match self.event_target(index, id)? {
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

    fn compliance_change(&self, detail: &Value) -> Result<Intake, IntakeError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Change {
            resource_id: String,
            resource_type: String,
            config_rule_name: String,
            #[serde(default)]
            aws_account_id: Option<String>,
            #[serde(default)]
            aws_region: Option<String>,
            #[serde(default)]
            new_evaluation_result: Option<EvaluationResult>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct EvaluationResult {
            compliance_type: String,
        }
        let change: Change = decode(detail, "Config compliance change in `detail`")?;
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
        let compliance = change
            .new_evaluation_result
            .as_ref()
            .map(|r| r.compliance_type.as_str());
        if compliance != Some(NON_COMPLIANT) {
            return Ok(self.intake(
                trigger,
                Work::Ignore(format!(
                    "compliance is {}, not NON_COMPLIANT",
                    compliance.unwrap_or("absent")
                )),
            ));
        }
        let control = self.controls.iter().position(|c| {
            c.spec().resource_type == change.resource_type
                && c.spec().owns_config_rule(&change.config_rule_name)
        });
        let work = match control {
            Some(index) => match self.event_target(index, &change.resource_id)? {
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

    fn security_hub(&self, detail: &Value) -> Result<Intake, IntakeError> {
        #[derive(Deserialize)]
        struct Findings {
            findings: Vec<Finding>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Finding {
            #[serde(default)]
            aws_account_id: Option<String>,
            #[serde(default)]
            region: Option<String>,
            #[serde(default)]
            compliance: Option<Compliance>,
            #[serde(default)]
            record_state: Option<String>,
            #[serde(default)]
            workflow: Option<Workflow>,
            #[serde(default)]
            product_fields: Option<serde_json::Map<String, Value>>,
            #[serde(default)]
            resources: Vec<AsffResource>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Compliance {
            #[serde(default)]
            status: Option<String>,
            #[serde(default)]
            security_control_id: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Workflow {
            #[serde(default)]
            status: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct AsffResource {
            #[serde(rename = "Type")]
            resource_type: String,
            id: String,
            #[serde(default)]
            region: Option<String>,
        }

        let findings: Findings = decode(detail, "Security Hub findings in `detail`")?;
        let mut targets: Vec<Target> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut relayed = 0;
        for finding in &findings.findings {
            if let Some(reason) =
                self.elsewhere(finding.aws_account_id.as_deref(), finding.region.as_deref())
            {
                tracing::info!(reason = %reason, "relayed finding: not acted on here");
                relayed += 1;
                continue;
            }
            let compliance = finding.compliance.as_ref();
            let failed = compliance.and_then(|c| c.status.as_deref()) == Some("FAILED");
            let active = finding.record_state.as_deref() == Some("ACTIVE");
            // A suppressed or resolved finding is a human's decision: respect it.
            let open = !matches!(
                finding.workflow.as_ref().and_then(|w| w.status.as_deref()),
                Some("SUPPRESSED") | Some("RESOLVED")
            );
            if !(failed && active && open) {
                continue;
            }
            let control_id = compliance
                .and_then(|c| c.security_control_id.clone())
                .or_else(|| {
                    finding
                        .product_fields
                        .as_ref()
                        .and_then(|p| p.get("ControlId"))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                });
            let Some(control_id) = control_id else {
                continue;
            };
            for (index, control) in self.controls.iter().enumerate() {
                let spec = control.spec();
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
                    let Some(target) = self.event_target(index, &res.id)? else {
                        relayed += 1;
                        continue;
                    };
                    if !targets.contains(&target) {
                        targets.push(target);
                    }
                }
                if !names.contains(&control_id) {
                    names.push(control_id.clone());
                }
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
        Ok(self.intake(trigger, work))
    }

    fn config_rule_invocation(&self, event: &Value) -> Result<Intake, IntakeError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct InvokingEvent {
            message_type: String,
            #[serde(default)]
            configuration_item: Option<ConfigurationItem>,
            #[serde(default)]
            configuration_item_summary: Option<ConfigurationItem>,
            #[serde(default)]
            notification_creation_time: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct ConfigurationItem {
            resource_type: String,
            resource_id: String,
            #[serde(default)]
            configuration_item_status: Option<String>,
            #[serde(default)]
            configuration_item_capture_time: Option<String>,
        }

        let invocation: ConfigEvent = decode(event, "AWS Config rule invocation")?;
        if let Some(reason) = self.elsewhere(invocation.account_id.as_deref(), None) {
            return Ok(self.intake(
                Trigger {
                    source: "config-custom-rule",
                    name: invocation.config_rule_name.clone().unwrap_or_default(),
                    ..Trigger::default()
                },
                Work::Ignore(reason),
            ));
        }
        let result_token = invocation
            .result_token
            .clone()
            .ok_or_else(|| IntakeError::MissingField("resultToken".to_owned()))?;
        let raw = invocation
            .invoking_event
            .as_deref()
            .ok_or_else(|| IntakeError::MissingField("invokingEvent".to_owned()))?;
        let invoking_json: Value = serde_json::from_str(raw).map_err(|e| {
            IntakeError::Malformed(format!("`invokingEvent` is not a JSON document: {e}"))
        })?;
        let invoking: InvokingEvent = decode(&invoking_json, "`invokingEvent`")?;
        let rule_name = invocation.config_rule_name.clone().unwrap_or_default();
        let trigger = Trigger {
            source: "config-custom-rule",
            name: format!("{rule_name}/{}", invoking.message_type),
            ..Trigger::default()
        };
        let (work, ordering_time) = match invoking.message_type.as_str() {
            "ScheduledNotification" => (Work::Sweep, invoking.notification_creation_time.clone()),
            "ConfigurationItemChangeNotification"
            | "OversizedConfigurationItemChangeNotification" => {
                let field = if invoking.message_type.starts_with("Oversized") {
                    "invokingEvent.configurationItemSummary"
                } else {
                    "invokingEvent.configurationItem"
                };
                let item = invoking
                    .configuration_item
                    .as_ref()
                    .or(invoking.configuration_item_summary.as_ref())
                    .ok_or_else(|| IntakeError::MissingField(field.to_owned()))?;
                let work = match self.by_resource_type(&item.resource_type) {
                    Some(index) => {
                        let Some(mut target) = self.event_target(index, &item.resource_id)? else {
                            return Ok(self.intake(
                                trigger,
                                Work::Ignore(format!(
                                    "{} is not in this account and region",
                                    item.resource_id
                                )),
                            ));
                        };
                        target.left_scope = invocation.event_left_scope
                            || matches!(
                                item.configuration_item_status.as_deref(),
                                Some(
                                    "ResourceDeleted"
                                        | "ResourceDeletedNotRecorded"
                                        | "ResourceNotRecorded"
                                )
                            );
                        Work::Targets(vec![target])
                    }
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
                result_token,
                rule_name,
                ordering_time,
            }),
            ..self.intake(trigger, work)
        })
    }

    fn direct(&self, event: &Value) -> Result<Intake, IntakeError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Direct {
            resource_id: String,
            #[serde(default)]
            resource_type: Option<String>,
            #[serde(default)]
            action: Option<String>,
            #[serde(default)]
            dry_run: Option<bool>,
        }
        let direct: Direct = decode(event, "direct payload")?;
        let index = match &direct.resource_type {
            Some(t) => self.by_resource_type(t).ok_or_else(|| {
                IntakeError::UnsupportedResourceType(t.clone(), self.handled_types())
            })?,
            // Without a type, the first control that recognises the identifier takes it.
            None => {
                let mut reasons = Vec::new();
                let mut found = None;
                for (index, control) in self.controls.iter().enumerate() {
                    match control.resource(&direct.resource_id, self.scope) {
                        Ok(_) => {
                            found = Some(index);
                            break;
                        }
                        Err(e) => reasons.push(format!("{}: {e}", control.spec().resource_type)),
                    }
                }
                found.ok_or_else(|| IntakeError::InvalidResourceId {
                    id: direct.resource_id.clone(),
                    reason: format!("not a resource of this function ({})", reasons.join("; ")),
                })?
            }
        };
        let spec = self.controls[index].spec();
        let action = match &direct.action {
            None => spec.default_action(),
            Some(name) => spec
                .action(name)
                .ok_or_else(|| IntakeError::UnknownAction {
                    action: name.clone(),
                    control: spec.id.to_owned(),
                    valid: spec.actions.join(", "),
                })?,
        };
        let target = self.target(index, &direct.resource_id, action)?;
        Ok(Intake {
            dry_run: direct.dry_run.unwrap_or(false),
            ..self.intake(
                Trigger {
                    source: "direct",
                    name: action.to_owned(),
                    ..Trigger::default()
                },
                Work::Targets(vec![target]),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::s3_public_access::{AccountPublicAccessBlock, BucketPublicAccessBlock};
    use aws_config::BehaviorVersion;
    use serde_json::json;

    fn controls() -> Vec<Box<dyn DynControl>> {
        let s3 = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .build();
        let s3control = aws_sdk_s3control::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .build();
        vec![
            Box::new(AccountPublicAccessBlock::new(
                aws_sdk_s3control::Client::from_conf(s3control),
            )),
            Box::new(BucketPublicAccessBlock::new(aws_sdk_s3::Client::from_conf(
                s3,
            ))),
        ]
    }

    fn scope() -> Scope {
        Scope::new("123456789012", "us-east-1")
    }

    fn event(name: &str) -> Value {
        let path = format!(
            "{}/../events/s3-public-access-block/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn parse_file(name: &str) -> Intake {
        parse(&event(name), &controls(), &scope()).unwrap()
    }

    fn targets(intake: &Intake) -> Vec<(usize, String, &'static str, bool)> {
        match &intake.work {
            Work::Targets(t) => t
                .iter()
                .map(|t| (t.control, t.resource.arn.clone(), t.action, t.left_scope))
                .collect(),
            other => panic!("expected targets, got {other:?}"),
        }
    }

    const BUCKET_ARN: &str = "arn:aws:s3:::ai-training-data-example";
    const ACCOUNT_ARN: &str = "arn:aws:s3::123456789012:account";

    #[test]
    fn cloudtrail_events_name_the_bucket_and_the_principal() {
        let i = parse_file("cloudtrail-delete-bucket-public-access-block.json");
        assert_eq!(
            targets(&i),
            vec![(1, BUCKET_ARN.to_owned(), "remediate", false)]
        );
        assert_eq!(
            i.trigger.to_string(),
            "cloudtrail:DeleteBucketPublicAccessBlock"
        );
        assert_eq!(
            i.trigger.principal.as_deref(),
            Some("arn:aws:sts::123456789012:assumed-role/DataScientist/alice")
        );
        assert_eq!(i.trigger.source_ip.as_deref(), Some("203.0.113.7"));
        assert!(i.config_rule.is_none() && !i.dry_run);
        let a = parse_file("cloudtrail-delete-account-public-access-block.json");
        assert_eq!(
            targets(&a),
            vec![(0, ACCOUNT_ARN.to_owned(), "remediate", false)]
        );
    }

    #[test]
    fn failed_and_unrelated_calls_are_ignored() {
        for name in [
            "cloudtrail-failed-call.json",
            "cloudtrail-other-event.json",
            "securityhub-s3-8-passed.json",
        ] {
            assert!(matches!(parse_file(name).work, Work::Ignore(_)), "{name}");
        }
    }

    #[test]
    fn config_shapes() {
        let change = parse_file("config-compliance-change-account.json");
        assert_eq!(
            targets(&change),
            vec![(0, ACCOUNT_ARN.to_owned(), "remediate", false)]
        );
        for name in [
            "config-rule-change-notification.json",
            "config-rule-oversized-notification.json",
        ] {
            let i = parse_file(name);
            assert_eq!(
                targets(&i),
                vec![(1, BUCKET_ARN.to_owned(), "remediate", false)],
                "{name}"
            );
            let c = i.config_rule.unwrap();
            assert_eq!(c.ordering_time.as_deref(), Some("2026-11-26T10:02:11.000Z"));
            assert_eq!(c.rule_name, "ai-guard-s3-public-access");
        }
        let periodic = parse_file("config-rule-periodic.json");
        assert_eq!(periodic.work, Work::Sweep);
        assert_eq!(
            periodic.config_rule.unwrap().ordering_time.as_deref(),
            Some("2026-11-26T10:00:00.000Z")
        );
        let mut left = event("config-rule-change-notification.json");
        left["eventLeftScope"] = json!(true);
        let i = parse(&left, &controls(), &scope()).unwrap();
        assert!(targets(&i)[0].3);
    }

    #[test]
    fn security_hub_findings_are_deduplicated_and_routed_by_type() {
        let mut e = event("securityhub-s3-8-failed.json");
        let finding = e["detail"]["findings"][0].clone();
        let mut s3_2 = finding.clone();
        s3_2["Compliance"]["SecurityControlId"] = json!("S3.2");
        e["detail"]["findings"] = json!([finding, s3_2]);
        let i = parse(&e, &controls(), &scope()).unwrap();
        assert_eq!(
            targets(&i),
            vec![(1, BUCKET_ARN.to_owned(), "remediate", false)]
        );
        assert_eq!(i.trigger.to_string(), "security-hub:S3.8,S3.2");
        let account = parse_file("securityhub-s3-1-account.json");
        assert_eq!(
            targets(&account),
            vec![(0, ACCOUNT_ARN.to_owned(), "remediate", false)]
        );
    }

    #[test]
    fn direct_payloads_route_by_type_or_identifier() {
        let p = |v: Value| parse(&v, &controls(), &scope());
        assert_eq!(
            targets(&p(json!({"resourceId": "123456789012"})).unwrap())[0].0,
            0
        );
        assert_eq!(
            targets(&p(json!({"resourceId": "data-bucket"})).unwrap())[0].0,
            1
        );
        // A bucket whose name is 12 digits needs its type (or its ARN).
        let digits =
            p(json!({"resourceId": "123456789012", "resourceType": "AWS::S3::Bucket"})).unwrap();
        assert_eq!(targets(&digits)[0].1, "arn:aws:s3:::123456789012");
        assert!(
            p(json!({"resourceId": "x", "dryRun": true})).is_err(),
            "too short a name"
        );
        assert!(
            p(json!({"resourceId": "abc", "dryRun": true}))
                .unwrap()
                .dry_run
        );
        let sh_account = p(json!({"resourceId": "AWS::::Account:123456789012"})).unwrap();
        assert_eq!(targets(&sh_account)[0].1, ACCOUNT_ARN);
        assert_eq!(
            p(json!({"resourceId": "arn:aws:s3::210987654321:account"})).unwrap_err(),
            IntakeError::ForeignAccount {
                event_account: "210987654321".into(),
                own_account: "123456789012".into()
            }
        );
    }

    #[test]
    fn relayed_events_of_other_accounts_and_regions_are_ignored_not_errors() {
        let ignored = |e: &Value| match parse(e, &controls(), &scope()) {
            Ok(Intake {
                work: Work::Ignore(reason),
                ..
            }) => reason,
            other => panic!("expected Ignore, got {other:?}"),
        };
        // A Security Hub administrator account's feed: a member's finding.
        let mut member = event("securityhub-s3-8-failed.json");
        member["detail"]["findings"][0]["AwsAccountId"] = json!("210987654321");
        assert!(ignored(&member).contains("other accounts or regions"));
        // An aggregation region's feed: a linked region's finding (the bucket ARN has no region).
        let mut linked = event("securityhub-s3-8-failed.json");
        linked["detail"]["findings"][0]["Region"] = json!("eu-west-1");
        assert!(ignored(&linked).contains("other accounts or regions"));
        let mut linked_resource = event("securityhub-s3-8-failed.json");
        linked_resource["detail"]["findings"][0]["Resources"][0]["Region"] = json!("eu-west-1");
        ignored(&linked_resource);
        // A mixed batch keeps this account's finding.
        let mut mixed = event("securityhub-s3-8-failed.json");
        let own = mixed["detail"]["findings"][0].clone();
        mixed["detail"]["findings"] = json!([member["detail"]["findings"][0].clone(), own]);
        assert_eq!(
            targets(&parse(&mixed, &controls(), &scope()).unwrap()),
            vec![(1, BUCKET_ARN.to_owned(), "remediate", false)]
        );
        // A forwarding bus: another account's CloudTrail event; another region's call.
        let mut forwarded = event("cloudtrail-delete-bucket-public-access-block.json");
        forwarded["account"] = json!("210987654321");
        assert!(ignored(&forwarded).contains("account 210987654321"));
        let mut other_region = event("cloudtrail-delete-account-public-access-block.json");
        other_region["detail"]["awsRegion"] = json!("eu-west-1");
        assert!(ignored(&other_region).contains("region eu-west-1"));
        let mut change = event("config-compliance-change-bucket.json");
        change["detail"]["awsRegion"] = json!("eu-west-1");
        ignored(&change);
        // A direct payload is a request, not a relay: naming another account is an error.
        assert!(parse(
            &json!({"resourceId": "arn:aws:s3::210987654321:account"}),
            &controls(),
            &scope()
        )
        .is_err());
    }

    #[test]
    fn scheduled_event_is_a_sweep() {
        let i = parse_file("scheduled-sweep.json");
        assert_eq!(i.work, Work::Sweep);
        assert_eq!(
            i.trigger.to_string(),
            "schedule:ai-guard-s3-public-access-block-sweep"
        );
    }
}
