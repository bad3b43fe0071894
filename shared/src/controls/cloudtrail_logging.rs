//! CloudTrail logging: the region's guarded trails are logging, record management events (read and
//! write), and — when configured — keep the known-good Bedrock data-event selectors, with every
//! selector the owner added preserved. CloudTrail is also this product's own trigger: stopped, every
//! EventBridge-driven control goes blind.
//!
//! The resource is the region's trail setup (`arn:<partition>:cloudtrail:<region>:<account>:trail/*`,
//! as AWS Config's `cloudtrail-enabled` and Security Hub's `CloudTrail.1` see it: the account).
//! Guarded trails: `GUARDED_TRAILS` (names or ARNs), else every trail whose home region is this one
//! except organization trails (a member account cannot change them). A guarded trail that was
//! deleted is `failed` with what to do: ai-guard never recreates a trail (it cannot know the bucket,
//! key and permissions it needs).
//!
//! Bedrock data events need advanced event selectors (basic selectors only know S3, Lambda and
//! DynamoDB data resources — the guide's `AWS::Bedrock::*` basic selector is refused by AWS): a
//! trail with basic selectors is converted to the equivalent advanced ones first (CloudTrail user
//! guide, "Converting basic event selectors to advanced event selectors").

use aws_sdk_cloudtrail::types::{
    AdvancedEventSelector, AdvancedFieldSelector, DataResource, EventSelector, ReadWriteType,
};
use serde::Serialize;

use crate::aws::{AwsError, AwsErrorKind, Operation};
use crate::control::{Control, ControlSpec, Decision};
use crate::env::{optional, Lookup};
use crate::error::{IntakeError, SettingsError};
use crate::event::cloudtrail::CloudTrailRecord;
use crate::resource::{account_setting, Arn, Resource, Scope};

pub const DESCRIBE: Operation = Operation {
    service: "cloudtrail",
    api: "DescribeTrails",
    permission: "cloudtrail:DescribeTrails",
};
pub const STATUS: Operation = Operation {
    service: "cloudtrail",
    api: "GetTrailStatus",
    permission: "cloudtrail:GetTrailStatus",
};
pub const SELECTORS: Operation = Operation {
    service: "cloudtrail",
    api: "GetEventSelectors",
    permission: "cloudtrail:GetEventSelectors",
};
pub const START: Operation = Operation {
    service: "cloudtrail",
    api: "StartLogging",
    permission: "cloudtrail:StartLogging",
};
pub const PUT_SELECTORS: Operation = Operation {
    service: "cloudtrail",
    api: "PutEventSelectors",
    permission: "cloudtrail:PutEventSelectors",
};

pub static SPEC: ControlSpec = ControlSpec {
    id: "cloudtrail-logging",
    resource_type: "AWS::::Account",
    asff_type: "AwsAccount",
    event_source: "cloudtrail.amazonaws.com",
    cloudtrail_events: &[
        "StopLogging",
        "DeleteTrail",
        "UpdateTrail",
        "PutEventSelectors",
    ],
    state_change_events: &[],
    config_rules: &["cloudtrail-enabled"],
    custom_config_rule: None,
    security_hub_controls: &["CloudTrail.1"],
    actions: &["remediate"],
    operations: &[DESCRIBE, STATUS, SELECTORS, START, PUT_SELECTORS],
    tag_operation: None,
    resource: parse_trails,
    cloudtrail_targets: trails_cloudtrail_targets,
};

/// The name of the selectors ai-guard adds (the owner's keep theirs).
pub const MANAGEMENT_SELECTOR: &str = "ai-guard: management events (read and write)";

/// The control's settings: `GUARDED_TRAILS`, `CLOUDTRAIL_BEDROCK_DATA_EVENTS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrailSettings {
    /// Trail names or ARNs; empty: every trail homed in the region, organization trails excluded.
    pub guarded: Vec<String>,
    /// Bedrock resource types whose data events must be recorded (`AWS::Bedrock::Model`, ...).
    pub bedrock_data_events: Vec<String>,
}

impl TrailSettings {
    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, SettingsError> {
        let list = |name: &str| -> Vec<String> {
            optional(env, name)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let guarded = list("GUARDED_TRAILS");
        if let Some(bad) = guarded.iter().find(|t| !valid_trail(t)) {
            return Err(SettingsError::new(
                "GUARDED_TRAILS",
                bad,
                "expected trail names (3-128 of letters, digits, `.`, `_`, `-`) or trail ARNs",
            ));
        }
        let bedrock_data_events = list("CLOUDTRAIL_BEDROCK_DATA_EVENTS");
        if let Some(bad) = bedrock_data_events
            .iter()
            .find(|t| !t.starts_with("AWS::Bedrock::") || t.len() <= "AWS::Bedrock::".len())
        {
            return Err(SettingsError::new(
                "CLOUDTRAIL_BEDROCK_DATA_EVENTS",
                bad,
                "expected Bedrock resource types such as AWS::Bedrock::Model, comma-separated",
            ));
        }
        Ok(Self {
            guarded,
            bedrock_data_events,
        })
    }
}

fn valid_trail(t: &str) -> bool {
    if let Some(arn) = Arn::parse(t) {
        return arn.service == "cloudtrail" && arn.resource.starts_with("trail/");
    }
    (3..=128).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// One field condition of an advanced selector, as CloudTrail returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FieldCondition {
    pub field: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub equals: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub starts_with: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ends_with: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_equals: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_starts_with: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_ends_with: Vec<String>,
}

impl FieldCondition {
    fn equals(field: &str, value: &str) -> Self {
        Self {
            field: field.to_owned(),
            equals: vec![value.to_owned()],
            ..Self::default()
        }
    }
}

/// An advanced event selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Advanced {
    pub name: Option<String>,
    pub fields: Vec<FieldCondition>,
}

impl Advanced {
    fn field(&self, name: &str) -> Option<&FieldCondition> {
        self.fields.iter().find(|f| f.field == name)
    }

    fn category_is(&self, category: &str) -> bool {
        self.field("eventCategory")
            .is_some_and(|f| f.equals == [category])
    }

    /// Records management events, read and write.
    fn all_management(&self) -> bool {
        self.category_is("Management") && self.field("readOnly").is_none()
    }

    /// Records every data event of `resource_type`, read and write.
    fn all_data_of(&self, resource_type: &str) -> bool {
        self.category_is("Data")
            && self
                .field("resources.type")
                .is_some_and(|f| f.equals == [resource_type])
            && self
                .fields
                .iter()
                .all(|f| matches!(f.field.as_str(), "eventCategory" | "resources.type"))
    }
}

/// A basic event selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Basic {
    pub read_write_type: String,
    pub include_management_events: bool,
    /// (type, values)
    pub data_resources: Vec<(String, Vec<String>)>,
    pub exclude_management_event_sources: Vec<String>,
}

/// A trail's selectors: basic or advanced (a trail has one kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Selectors {
    Basic(Vec<Basic>),
    Advanced(Vec<Advanced>),
}

/// One guarded trail as inspected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrailState {
    pub name: String,
    pub arn: String,
    pub logging: bool,
    pub selectors: Selectors,
}

/// The region's guarded trails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TrailsState {
    pub trails: Vec<TrailState>,
    /// Guarded trails (`GUARDED_TRAILS`) CloudTrail no longer has.
    pub missing: Vec<String>,
}

/// What a fix writes to one trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailFix {
    pub arn: String,
    pub start_logging: bool,
    /// The trail's new selectors (the owner's kept), when they change.
    pub selectors: Option<Selectors>,
}

/// The control.
pub struct TrailGuard {
    cloudtrail: aws_sdk_cloudtrail::Client,
    settings: TrailSettings,
}

fn sdk(e: impl std::fmt::Display, permission: &'static str) -> AwsError {
    AwsError::new(AwsErrorKind::Other, permission, e.to_string())
}

impl TrailGuard {
    pub fn new(cloudtrail: aws_sdk_cloudtrail::Client, settings: TrailSettings) -> Self {
        Self {
            cloudtrail,
            settings,
        }
    }

    /// What is wrong with a trail (empty: nothing).
    fn problems(&self, t: &TrailState) -> Vec<String> {
        let mut problems = Vec::new();
        if !t.logging {
            problems.push("not logging".to_owned());
        }
        let management = match &t.selectors {
            Selectors::Basic(b) => b
                .iter()
                .any(|s| s.include_management_events && s.read_write_type == "All"),
            Selectors::Advanced(a) => a.iter().any(Advanced::all_management),
        };
        if !management {
            problems.push("management events (read and write) not recorded".to_owned());
        }
        let missing = self.missing_bedrock(t);
        if !missing.is_empty() {
            problems.push(format!(
                "Bedrock data events not recorded: {}",
                missing.join(", ")
            ));
        }
        problems
    }

    fn missing_bedrock(&self, t: &TrailState) -> Vec<String> {
        self.settings
            .bedrock_data_events
            .iter()
            .filter(|ty| match &t.selectors {
                Selectors::Basic(_) => true,
                Selectors::Advanced(a) => !a.iter().any(|s| s.all_data_of(ty)),
            })
            .cloned()
            .collect()
    }

    /// The trail's selectors with what is missing added and nothing of the owner's removed.
    fn fixed_selectors(&self, t: &TrailState) -> Option<Selectors> {
        let missing_bedrock = self.missing_bedrock(t);
        match &t.selectors {
            Selectors::Basic(basic) if missing_bedrock.is_empty() => {
                if basic
                    .iter()
                    .any(|s| s.include_management_events && s.read_write_type == "All")
                {
                    return None;
                }
                let mut fixed = basic.clone();
                let narrowed = fixed.iter().position(|s| s.include_management_events);
                match narrowed {
                    // Read-only or write-only management events: both, now.
                    Some(i) => fixed[i].read_write_type = "All".to_owned(),
                    None if fixed.len() < 5 => fixed.push(Basic {
                        read_write_type: "All".to_owned(),
                        include_management_events: true,
                        data_resources: Vec::new(),
                        exclude_management_event_sources: Vec::new(),
                    }),
                    // Five basic selectors is CloudTrail's limit: as advanced ones.
                    None => return Some(self.with_advanced(to_advanced(basic), &[])),
                }
                Some(Selectors::Basic(fixed))
            }
            Selectors::Basic(basic) => {
                Some(self.with_advanced(to_advanced(basic), &missing_bedrock))
            }
            Selectors::Advanced(advanced) => {
                let management = advanced.iter().any(Advanced::all_management);
                if management && missing_bedrock.is_empty() {
                    return None;
                }
                Some(self.with_advanced(advanced.clone(), &missing_bedrock))
            }
        }
    }

    fn with_advanced(&self, mut advanced: Vec<Advanced>, bedrock: &[String]) -> Selectors {
        if !advanced.iter().any(Advanced::all_management) {
            // A management selector narrowed to read-only or write-only records both again;
            // otherwise one is added.
            match advanced
                .iter_mut()
                .find(|s| s.category_is("Management") && s.field("readOnly").is_some())
            {
                Some(s) => s.fields.retain(|f| f.field != "readOnly"),
                None => advanced.push(Advanced {
                    name: Some(MANAGEMENT_SELECTOR.to_owned()),
                    fields: vec![FieldCondition::equals("eventCategory", "Management")],
                }),
            }
        }
        for ty in bedrock {
            if !advanced.iter().any(|s| s.all_data_of(ty)) {
                advanced.push(Advanced {
                    name: Some(format!("ai-guard: Bedrock data events ({ty})")),
                    fields: vec![
                        FieldCondition::equals("eventCategory", "Data"),
                        FieldCondition::equals("resources.type", ty),
                    ],
                });
            }
        }
        Selectors::Advanced(advanced)
    }

    async fn trail_state(&self, name: &str, arn: &str) -> Result<TrailState, AwsError> {
        let status = self
            .cloudtrail
            .get_trail_status()
            .name(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(STATUS.permission, e))?;
        let selectors = self
            .cloudtrail
            .get_event_selectors()
            .trail_name(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SELECTORS.permission, e))?;
        let selectors = if selectors.advanced_event_selectors().is_empty() {
            Selectors::Basic(
                selectors
                    .event_selectors()
                    .iter()
                    .map(|s| Basic {
                        read_write_type: s
                            .read_write_type()
                            .map(|r| r.as_str().to_owned())
                            .unwrap_or_else(|| "All".to_owned()),
                        include_management_events: s.include_management_events().unwrap_or(true),
                        data_resources: s
                            .data_resources()
                            .iter()
                            .map(|d| {
                                (
                                    d.r#type().unwrap_or_default().to_owned(),
                                    d.values().to_vec(),
                                )
                            })
                            .collect(),
                        exclude_management_event_sources: s
                            .exclude_management_event_sources()
                            .to_vec(),
                    })
                    .collect(),
            )
        } else {
            Selectors::Advanced(
                selectors
                    .advanced_event_selectors()
                    .iter()
                    .map(|s| Advanced {
                        name: s.name().map(str::to_owned),
                        fields: s
                            .field_selectors()
                            .iter()
                            .map(|f| FieldCondition {
                                field: f.field().to_owned(),
                                equals: f.equals().to_vec(),
                                starts_with: f.starts_with().to_vec(),
                                ends_with: f.ends_with().to_vec(),
                                not_equals: f.not_equals().to_vec(),
                                not_starts_with: f.not_starts_with().to_vec(),
                                not_ends_with: f.not_ends_with().to_vec(),
                            })
                            .collect(),
                    })
                    .collect(),
            )
        };
        Ok(TrailState {
            name: name.to_owned(),
            arn: arn.to_owned(),
            logging: status.is_logging().unwrap_or(false),
            selectors,
        })
    }
}

/// Basic selectors as the equivalent advanced ones (CloudTrail user guide).
fn to_advanced(basic: &[Basic]) -> Vec<Advanced> {
    let read_only = |rw: &str| match rw {
        "ReadOnly" => Some(FieldCondition::equals("readOnly", "true")),
        "WriteOnly" => Some(FieldCondition::equals("readOnly", "false")),
        _ => None,
    };
    let mut out = Vec::new();
    for (i, s) in basic.iter().enumerate() {
        if s.include_management_events {
            let mut fields = vec![FieldCondition::equals("eventCategory", "Management")];
            fields.extend(read_only(&s.read_write_type));
            if !s.exclude_management_event_sources.is_empty() {
                fields.push(FieldCondition {
                    field: "eventSource".to_owned(),
                    not_equals: s.exclude_management_event_sources.clone(),
                    ..FieldCondition::default()
                });
            }
            out.push(Advanced {
                name: Some(format!("Management events (selector {})", i + 1)),
                fields,
            });
        }
        for (ty, values) in &s.data_resources {
            let mut fields = vec![
                FieldCondition::equals("eventCategory", "Data"),
                FieldCondition::equals("resources.type", ty),
            ];
            fields.extend(read_only(&s.read_write_type));
            // A bare service prefix (`arn:aws:s3`, `arn:aws:lambda`) means every resource.
            let prefixes: Vec<String> = values
                .iter()
                .filter(|v| v.matches(':').count() > 2)
                .cloned()
                .collect();
            if !prefixes.is_empty() {
                fields.push(FieldCondition {
                    field: "resources.ARN".to_owned(),
                    starts_with: prefixes,
                    ..FieldCondition::default()
                });
            }
            out.push(Advanced {
                name: Some(format!("{ty} data events (selector {})", i + 1)),
                fields,
            });
        }
    }
    out
}

/// The region's trail setup: `arn:<partition>:cloudtrail:<region>:<account>:trail/*`.
fn trails_resource(scope: &Scope, region: &str, account: &str) -> Resource {
    Resource {
        arn: format!(
            "arn:{}:cloudtrail:{region}:{account}:trail/*",
            scope.partition
        ),
        id: account.to_owned(),
        resource_type: SPEC.resource_type,
    }
}

/// An account id, Security Hub's `AWS::::Account:<id>`, or the setting's ARN.
fn parse_trails(id: &str, scope: &Scope) -> Result<Resource, IntakeError> {
    match account_setting(id, scope, "cloudtrail", "trail/*") {
        Some((region, account)) => Ok(trails_resource(scope, region, account)),
        None => Err(IntakeError::InvalidResourceId {
            id: id.to_owned(),
            reason: "not an account id, AWS::::Account:ID, or arn:aws:cloudtrail:REGION:ID:trail/*"
                .to_owned(),
        }),
    }
}

/// A trail call concerns the region's trail setup.
fn trails_cloudtrail_targets(
    record: &CloudTrailRecord,
    scope: &Scope,
) -> Result<Vec<String>, IntakeError> {
    Ok(vec![record.recipient_account(scope)])
}

fn field_selector(f: &FieldCondition) -> Result<AdvancedFieldSelector, AwsError> {
    AdvancedFieldSelector::builder()
        .field(&f.field)
        .set_equals(Some(f.equals.clone()).filter(|v| !v.is_empty()))
        .set_starts_with(Some(f.starts_with.clone()).filter(|v| !v.is_empty()))
        .set_ends_with(Some(f.ends_with.clone()).filter(|v| !v.is_empty()))
        .set_not_equals(Some(f.not_equals.clone()).filter(|v| !v.is_empty()))
        .set_not_starts_with(Some(f.not_starts_with.clone()).filter(|v| !v.is_empty()))
        .set_not_ends_with(Some(f.not_ends_with.clone()).filter(|v| !v.is_empty()))
        .build()
        .map_err(|e| sdk(e, PUT_SELECTORS.permission))
}

impl Control for TrailGuard {
    type State = TrailsState;
    type Plan = Vec<TrailFix>;

    fn spec(&self) -> &'static ControlSpec {
        &SPEC
    }

    async fn list(&self, scope: &Scope) -> Result<Vec<Resource>, AwsError> {
        Ok(vec![trails_resource(scope, &scope.region, &scope.account)])
    }

    async fn inspect(
        &self,
        _: &Resource,
        _: &str,
        scope: &Scope,
    ) -> Result<Option<TrailsState>, AwsError> {
        let mut request = self
            .cloudtrail
            .describe_trails()
            .include_shadow_trails(false);
        for t in &self.settings.guarded {
            request = request.trail_name_list(t);
        }
        let described = request
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(DESCRIBE.permission, e))?;
        let mut found: Vec<(String, String)> = Vec::new();
        for trail in described.trail_list() {
            let (Some(name), Some(arn)) = (trail.name(), trail.trail_arn()) else {
                continue;
            };
            let guarded = if self.settings.guarded.is_empty() {
                trail.home_region() == Some(scope.region.as_str())
                    && trail.is_organization_trail() != Some(true)
            } else {
                self.settings.guarded.iter().any(|g| g == name || g == arn)
            };
            if guarded {
                found.push((name.to_owned(), arn.to_owned()));
            }
        }
        let missing = self
            .settings
            .guarded
            .iter()
            .filter(|g| !found.iter().any(|(n, a)| n == *g || a == *g))
            .cloned()
            .collect();
        let mut trails = Vec::new();
        for (name, arn) in found {
            trails.push(self.trail_state(&name, &arn).await?);
        }
        Ok(Some(TrailsState { trails, missing }))
    }

    fn decide(&self, state: &TrailsState, _: &str) -> Decision<Vec<TrailFix>> {
        let deleted = (!state.missing.is_empty()).then(|| {
            format!(
                "guarded trail(s) {} deleted: ai-guard does not recreate trails (their bucket, key \
                 and permissions are yours to choose) — recreate them",
                state.missing.join(", ")
            )
        });
        let mut fixes = Vec::new();
        let mut reasons = Vec::new();
        for t in &state.trails {
            let problems = self.problems(t);
            if problems.is_empty() {
                continue;
            }
            reasons.push(format!("{}: {}", t.name, problems.join("; ")));
            fixes.push(TrailFix {
                arn: t.arn.clone(),
                start_logging: !t.logging,
                selectors: self.fixed_selectors(t),
            });
        }
        if fixes.is_empty() {
            return match (deleted, state.trails.is_empty()) {
                (Some(d), _) => Decision::Unsafe(d),
                (None, true) => Decision::NotApplicable(
                    "no trail homed in this region (a multi-Region trail is guarded in its home region)"
                        .to_owned(),
                ),
                (None, false) => Decision::Compliant(format!(
                    "{} trail(s) logging with management events{}",
                    state.trails.len(),
                    if self.settings.bedrock_data_events.is_empty() {
                        String::new()
                    } else {
                        " and Bedrock data events".to_owned()
                    }
                )),
            };
        }
        let mut actions = Vec::new();
        if fixes.iter().any(|f| f.start_logging) {
            actions.push(START.api);
        }
        if fixes.iter().any(|f| f.selectors.is_some()) {
            actions.push(PUT_SELECTORS.api);
        }
        if let Some(d) = deleted {
            reasons.push(d);
        }
        Decision::Remediate {
            plan: fixes,
            actions,
            reason: reasons.join("; "),
        }
    }

    async fn apply(&self, _: &Resource, plan: &Vec<TrailFix>, _: &Scope) -> Result<(), AwsError> {
        for fix in plan {
            if let Some(selectors) = &fix.selectors {
                let request = self.cloudtrail.put_event_selectors().trail_name(&fix.arn);
                let request = match selectors {
                    Selectors::Basic(basic) => request.set_event_selectors(Some(
                        basic
                            .iter()
                            .map(|s| {
                                EventSelector::builder()
                                    .read_write_type(ReadWriteType::from(
                                        s.read_write_type.as_str(),
                                    ))
                                    .include_management_events(s.include_management_events)
                                    .set_data_resources(Some(
                                        s.data_resources
                                            .iter()
                                            .map(|(ty, values)| {
                                                DataResource::builder()
                                                    .r#type(ty)
                                                    .set_values(Some(values.clone()))
                                                    .build()
                                            })
                                            .collect(),
                                    ))
                                    .set_exclude_management_event_sources(
                                        Some(s.exclude_management_event_sources.clone())
                                            .filter(|v| !v.is_empty()),
                                    )
                                    .build()
                            })
                            .collect(),
                    )),
                    Selectors::Advanced(advanced) => {
                        let mut built = Vec::new();
                        for s in advanced {
                            let fields = s
                                .fields
                                .iter()
                                .map(field_selector)
                                .collect::<Result<Vec<_>, _>>()?;
                            built.push(
                                AdvancedEventSelector::builder()
                                    .set_name(s.name.clone())
                                    .set_field_selectors(Some(fields))
                                    .build()
                                    .map_err(|e| sdk(e, PUT_SELECTORS.permission))?,
                            );
                        }
                        request.set_advanced_event_selectors(Some(built))
                    }
                };
                request
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(PUT_SELECTORS.permission, e))?;
            }
            if fix.start_logging {
                self.cloudtrail
                    .start_logging()
                    .name(&fix.arn)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(START.permission, e))?;
            }
        }
        Ok(())
    }

    fn verify(&self, _: &Vec<TrailFix>, after: &TrailsState) -> Result<(), String> {
        let mut wrong: Vec<String> = after
            .trails
            .iter()
            .filter_map(|t| {
                let p = self.problems(t);
                (!p.is_empty()).then(|| format!("{}: {}", t.name, p.join("; ")))
            })
            .collect();
        if !after.missing.is_empty() {
            wrong.push(format!(
                "guarded trail(s) {} deleted: ai-guard does not recreate trails — recreate them",
                after.missing.join(", ")
            ));
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(bedrock: &[&str]) -> TrailGuard {
        TrailGuard {
            cloudtrail: aws_sdk_cloudtrail::Client::from_conf(
                aws_sdk_cloudtrail::Config::builder()
                    .behavior_version(aws_sdk_cloudtrail::config::BehaviorVersion::latest())
                    .build(),
            ),
            settings: TrailSettings {
                guarded: Vec::new(),
                bedrock_data_events: bedrock.iter().map(|s| s.to_string()).collect(),
            },
        }
    }

    fn basic(rw: &str, management: bool, data: &[(&str, &str)]) -> Basic {
        Basic {
            read_write_type: rw.into(),
            include_management_events: management,
            data_resources: data
                .iter()
                .map(|(t, v)| (t.to_string(), vec![v.to_string()]))
                .collect(),
            exclude_management_event_sources: Vec::new(),
        }
    }

    fn trail(logging: bool, selectors: Selectors) -> TrailState {
        TrailState {
            name: "audit".into(),
            arn: "arn:aws:cloudtrail:us-east-1:123456789012:trail/audit".into(),
            logging,
            selectors,
        }
    }

    fn state(trails: Vec<TrailState>) -> TrailsState {
        TrailsState {
            trails,
            missing: Vec::new(),
        }
    }

    #[test]
    fn settings() {
        let env = |k: &'static str, v: &'static str| move |n: &str| (n == k).then(|| v.to_owned());
        assert!(TrailSettings::from_lookup(&env(
            "GUARDED_TRAILS",
            "audit, arn:aws:cloudtrail:us-east-1:123456789012:trail/x"
        ))
        .is_ok());
        assert!(TrailSettings::from_lookup(&env("GUARDED_TRAILS", "a b")).is_err());
        assert!(TrailSettings::from_lookup(&env(
            "CLOUDTRAIL_BEDROCK_DATA_EVENTS",
            "AWS::S3::Object"
        ))
        .is_err());
        let s = TrailSettings::from_lookup(&env(
            "CLOUDTRAIL_BEDROCK_DATA_EVENTS",
            "AWS::Bedrock::Model",
        ))
        .unwrap();
        assert_eq!(s.bedrock_data_events, ["AWS::Bedrock::Model"]);
    }

    #[test]
    fn a_stopped_trail_is_started_and_its_selectors_kept() {
        let g = guard(&[]);
        let t = trail(false, Selectors::Basic(vec![basic("All", true, &[])]));
        match g.decide(&state(vec![t]), "remediate") {
            Decision::Remediate { plan, actions, .. } => {
                assert_eq!(actions, ["StartLogging"]);
                assert!(plan[0].start_logging && plan[0].selectors.is_none());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn write_only_management_events_record_both_again_keeping_data_selectors() {
        let g = guard(&[]);
        let s3 = ("AWS::S3::Object", "arn:aws:s3:::training-data/");
        let t = trail(
            true,
            Selectors::Basic(vec![basic("WriteOnly", true, &[s3])]),
        );
        match g.decide(&state(vec![t]), "remediate") {
            Decision::Remediate { plan, .. } => match &plan[0].selectors {
                Some(Selectors::Basic(b)) => {
                    assert_eq!(b[0].read_write_type, "All");
                    assert_eq!(b[0].data_resources.len(), 1);
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bedrock_data_events_convert_basic_selectors_to_advanced_ones() {
        let g = guard(&["AWS::Bedrock::Model"]);
        let s3 = ("AWS::S3::Object", "arn:aws:s3:::training-data/");
        let t = trail(true, Selectors::Basic(vec![basic("All", true, &[s3])]));
        let fixed = match g.decide(&state(vec![t]), "remediate") {
            Decision::Remediate { plan, .. } => plan[0].selectors.clone(),
            other => panic!("{other:?}"),
        };
        let Some(Selectors::Advanced(a)) = fixed else {
            panic!("{fixed:?}")
        };
        // The owner's management and S3 selectors, converted, then Bedrock's.
        assert!(a.iter().any(Advanced::all_management));
        assert!(a.iter().any(|s| s
            .field("resources.ARN")
            .is_some_and(|f| f.starts_with == ["arn:aws:s3:::training-data/"])));
        assert!(a.iter().any(|s| s.all_data_of("AWS::Bedrock::Model")));
        // Compliant once it has them.
        let after = trail(true, Selectors::Advanced(a));
        assert!(matches!(
            g.decide(&state(vec![after]), "remediate"),
            Decision::Compliant(_)
        ));
    }

    #[test]
    fn a_deleted_guarded_trail_is_failed_never_recreated() {
        let g = guard(&[]);
        let deleted = TrailsState {
            trails: Vec::new(),
            missing: vec!["audit".into()],
        };
        match g.decide(&deleted, "remediate") {
            Decision::Unsafe(why) => assert!(why.contains("audit") && why.contains("recreate")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            g.decide(&state(Vec::new()), "remediate"),
            Decision::NotApplicable(_)
        ));
    }
}
