//! CloudTrail logging: the region's guarded trails are logging, the region's management events are
//! recorded (read and write), and — when configured — the known-good Bedrock data-event selectors
//! are kept, with every selector the owner added preserved. CloudTrail is also this product's own
//! trigger: stopped, every EventBridge-driven control goes blind.
//!
//! The resource is the region's trail setup (`arn:<partition>:cloudtrail:<region>:<account>:trail/*`,
//! as AWS Config's `cloudtrail-enabled` and Security Hub's `CloudTrail.1` see it: the account).
//! Guarded trails: `GUARDED_TRAILS` (names or ARNs), else every trail whose home region is this one
//! except organization trails (a member account cannot change them). A guarded trail is judged and
//! fixed in its home region only: CloudTrail accepts `StartLogging` and `PutEventSelectors` there
//! only (`InvalidHomeRegionException` elsewhere), so another region names it and leaves it alone.
//! A guarded trail that was deleted is `failed` with what to do: ai-guard never recreates a trail
//! (it cannot know the bucket, key and permissions it needs).
//!
//! Management events: each trail named in `GUARDED_TRAILS` records them, read and write. Without
//! `GUARDED_TRAILS` one trail recording them is enough (a second copy is billed): data-events-only
//! trails are left alone (still started, and given the configured Bedrock data events); when none
//! records them all, nor a trail not guarded here that CloudTrail reports with its default
//! selectors (an organization trail, a multi-Region trail homed elsewhere), the one that records
//! some (narrowed to read or write) records both again, else one that records no events at all;
//! when every trail records data events only, the outcome is failed, asking for one to be named,
//! rather than choosing one to bill. Restoring them never widens data events: a basic selector's
//! `ReadWriteType` applies to its data resources too.
//!
//! A fix starts logging first — the part that matters most — and then writes the selectors: a
//! selector write CloudTrail refuses (its quota of 500 values, say) fails the outcome, with logging
//! on.
//!
//! Bedrock data events need advanced event selectors (basic selectors only know S3, Lambda and
//! DynamoDB data resources — the guide's `AWS::Bedrock::*` basic selector is refused by AWS): a
//! trail with basic selectors is converted to the equivalent advanced ones first (CloudTrail user
//! guide, "Converting basic event selectors to advanced event selectors").

use aws_sdk_cloudtrail::types::{
    AdvancedEventSelector, AdvancedFieldSelector, DataResource, EventSelector, ReadWriteType,
};
use serde::Serialize;

use crate::aws::{AwsError, AwsErrorKind, IamResource, Operation};
use crate::control::{Control, ControlSpec, Decision, ManagedRule};
use crate::env::{optional, Lookup};
use crate::error::{IntakeError, SettingsError};
use crate::event::cloudtrail::CloudTrailRecord;
use crate::resource::{account_setting, Arn, Resource, Scope};

pub const DESCRIBE: Operation = Operation {
    service: "cloudtrail",
    api: "DescribeTrails",
    permission: "cloudtrail:DescribeTrails",
    resource: IamResource::None,
    implies: &[],
};
pub const STATUS: Operation = Operation {
    service: "cloudtrail",
    api: "GetTrailStatus",
    permission: "cloudtrail:GetTrailStatus",
    resource: IamResource::Arn("arn:{partition}:cloudtrail:{region}:{account}:trail/*"),
    implies: &[],
};
pub const SELECTORS: Operation = Operation {
    service: "cloudtrail",
    api: "GetEventSelectors",
    permission: "cloudtrail:GetEventSelectors",
    resource: IamResource::Arn("arn:{partition}:cloudtrail:{region}:{account}:trail/*"),
    implies: &[],
};
pub const START: Operation = Operation {
    service: "cloudtrail",
    api: "StartLogging",
    permission: "cloudtrail:StartLogging",
    resource: IamResource::Arn("arn:{partition}:cloudtrail:{region}:{account}:trail/*"),
    implies: &[],
};
pub const PUT_SELECTORS: Operation = Operation {
    service: "cloudtrail",
    api: "PutEventSelectors",
    permission: "cloudtrail:PutEventSelectors",
    resource: IamResource::Arn("arn:{partition}:cloudtrail:{region}:{account}:trail/*"),
    implies: &[],
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
    config_rules: &[ManagedRule::periodic(
        "cloudtrail-enabled",
        "CLOUD_TRAIL_ENABLED",
    )],
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

/// CloudTrail's limit of basic event selectors per trail (user guide, "Quotas in AWS CloudTrail").
const MAX_BASIC_SELECTORS: usize = 5;

/// The Amazon Bedrock `resources.type` values CloudTrail documents for data events (CloudTrail
/// user guide, "Understanding CloudTrail events", table "Data events supported by AWS CloudTrail").
/// What each records is in the Bedrock user guide ("Monitor Amazon Bedrock API calls using
/// CloudTrail", "Amazon Bedrock data events in CloudTrail"): `InvokeModel`, `Converse` and their
/// streaming forms are management events, not data events of `AWS::Bedrock::Model`.
pub const BEDROCK_DATA_EVENT_TYPES: &[&str] = &[
    "AWS::Bedrock::AdvancedOptimizePromptJob",
    "AWS::Bedrock::AgentAlias",
    "AWS::Bedrock::AsyncInvoke",
    "AWS::Bedrock::AutomatedReasoningPolicy",
    "AWS::Bedrock::AutomatedReasoningPolicyVersion",
    "AWS::Bedrock::Blueprint",
    "AWS::Bedrock::DataAutomationInvocation",
    "AWS::Bedrock::DataAutomationProfile",
    "AWS::Bedrock::DataAutomationProject",
    "AWS::Bedrock::FlowAlias",
    "AWS::Bedrock::FlowExecution",
    "AWS::Bedrock::Guardrail",
    "AWS::Bedrock::InlineAgent",
    "AWS::Bedrock::KnowledgeBase",
    "AWS::Bedrock::Model",
    "AWS::Bedrock::PromptVersion",
    "AWS::Bedrock::Session",
    "AWS::Bedrock::Tool",
];

/// The control's settings: `GUARDED_TRAILS`, `CLOUDTRAIL_BEDROCK_DATA_EVENTS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrailSettings {
    /// Trail names or ARNs; empty: every trail homed in the region, organization trails excluded.
    pub guarded: Vec<String>,
    /// Bedrock resource types whose data events must be recorded (`AWS::Bedrock::AgentAlias`, ...).
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
            .find(|t| !BEDROCK_DATA_EVENT_TYPES.contains(&t.as_str()))
        {
            return Err(SettingsError::new(
                "CLOUDTRAIL_BEDROCK_DATA_EVENTS",
                bad,
                format!(
                    "expected Bedrock data-event resource types CloudTrail documents, \
                     comma-separated: {}",
                    BEDROCK_DATA_EVENT_TYPES.join(", ")
                ),
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

impl Basic {
    /// Records management events, read and write.
    fn all_management(&self) -> bool {
        self.include_management_events && self.read_write_type == "All"
    }
}

/// A trail's selectors: basic or advanced (a trail has one kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Selectors {
    Basic(Vec<Basic>),
    Advanced(Vec<Advanced>),
}

impl Selectors {
    /// Some selector records management events, read and write.
    fn all_management(&self) -> bool {
        match self {
            Selectors::Basic(b) => b.iter().any(Basic::all_management),
            Selectors::Advanced(a) => a.iter().any(Advanced::all_management),
        }
    }

    /// Some selector records management events, perhaps narrowed to read-only or write-only.
    fn some_management(&self) -> bool {
        match self {
            Selectors::Basic(b) => b.iter().any(|s| s.include_management_events),
            Selectors::Advanced(a) => a.iter().any(|s| s.category_is("Management")),
        }
    }

    /// Some selector records data (or network activity) events: the trail is kept for them.
    fn records_data(&self) -> bool {
        match self {
            Selectors::Basic(b) => b.iter().any(|s| !s.data_resources.is_empty()),
            Selectors::Advanced(a) => a.iter().any(|s| !s.category_is("Management")),
        }
    }
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

/// A trail of another region, named here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrailElsewhere {
    pub name: String,
    pub arn: String,
    pub home_region: String,
}

/// The region's guarded trails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TrailsState {
    /// Guarded trails homed in this region.
    pub trails: Vec<TrailState>,
    /// Guarded trails (`GUARDED_TRAILS`) not found: deleted, or a single-Region trail of another
    /// region named by name.
    pub missing: Vec<String>,
    /// Guarded trails homed in another region (a multi-Region trail's shadow here, or named by an
    /// ARN of another region): judged and fixed there.
    pub elsewhere: Vec<TrailElsewhere>,
    /// Without `GUARDED_TRAILS`: trails not guarded here (organization trails, multi-Region trails
    /// homed elsewhere) that CloudTrail reports with their default selectors — all management
    /// events, read and write — so they record this region's.
    pub default_elsewhere: Vec<String>,
}

/// What a fix writes to one trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailFix {
    pub name: String,
    pub arn: String,
    pub start_logging: bool,
    /// The trail's new selectors (the owner's kept), when they change.
    pub selectors: Option<Selectors>,
}

/// Which guarded trails must record management events, read and write.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ManagementDuty {
    /// Every one: the trails named in `GUARDED_TRAILS` (or there are none).
    Every,
    /// The trail at this index: no trail records them all, and it records some.
    One(usize),
    /// None: the trail(s) named record them already.
    RecordedBy(String),
    /// None can be chosen without billing a copy nobody chose: the reason.
    Unassigned(String),
}

impl ManagementDuty {
    fn requires(&self, index: usize) -> bool {
        match self {
            ManagementDuty::Every => true,
            ManagementDuty::One(i) => *i == index,
            ManagementDuty::RecordedBy(_) | ManagementDuty::Unassigned(_) => false,
        }
    }
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

    fn guards(&self, name: &str, arn: &str) -> bool {
        self.settings.guarded.iter().any(|g| g == name || g == arn)
    }

    /// Which trails must record management events (see the module's documentation).
    fn management_duty(&self, state: &TrailsState) -> ManagementDuty {
        if !self.settings.guarded.is_empty() || state.trails.is_empty() {
            return ManagementDuty::Every;
        }
        if let Some(t) = state.trails.iter().find(|t| t.selectors.all_management()) {
            return ManagementDuty::RecordedBy(t.name.clone());
        }
        if !state.default_elsewhere.is_empty() {
            return ManagementDuty::RecordedBy(state.default_elsewhere.join(", "));
        }
        // The one recording some (narrowed to read or write), else one recording no events at all.
        let narrowed = state
            .trails
            .iter()
            .position(|t| t.selectors.some_management());
        let recording_nothing = || {
            state
                .trails
                .iter()
                .position(|t| !t.selectors.records_data())
        };
        if let Some(i) = narrowed.or_else(recording_nothing) {
            return ManagementDuty::One(i);
        }
        let names: Vec<&str> = state.trails.iter().map(|t| t.name.as_str()).collect();
        ManagementDuty::Unassigned(format!(
            "no trail records this region's management events: trail(s) {} record data events \
             only, and ai-guard does not choose one of them to record management events too (a \
             copy beyond the region's first is billed) — name the trail that should record them \
             in GUARDED_TRAILS",
            names.join(", ")
        ))
    }

    /// What is wrong with a trail (empty: nothing).
    fn problems(&self, t: &TrailState, management: bool) -> Vec<String> {
        let mut problems = Vec::new();
        if !t.logging {
            problems.push("not logging".to_owned());
        }
        if management && !t.selectors.all_management() {
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

    /// The trail's selectors with what is missing added and nothing of the owner's removed or
    /// widened (`None`: no change).
    fn fixed_selectors(&self, t: &TrailState, management: bool) -> Option<Selectors> {
        let bedrock = self.missing_bedrock(t);
        let management = management && !t.selectors.all_management();
        if !management && bedrock.is_empty() {
            return None;
        }
        Some(match &t.selectors {
            Selectors::Basic(basic) if bedrock.is_empty() => basic_with_management(basic),
            Selectors::Basic(basic) => with_advanced(to_advanced(basic), &bedrock, management),
            Selectors::Advanced(advanced) => with_advanced(advanced.clone(), &bedrock, management),
        })
    }

    /// What the trails of `state` need, and what cannot be fixed here.
    fn judge(&self, state: &TrailsState) -> (Vec<TrailFix>, Vec<String>, Vec<String>) {
        let duty = self.management_duty(state);
        let mut fixes = Vec::new();
        let mut reasons = Vec::new();
        for (i, t) in state.trails.iter().enumerate() {
            let problems = self.problems(t, duty.requires(i));
            if problems.is_empty() {
                continue;
            }
            reasons.push(format!("{}: {}", t.name, problems.join("; ")));
            fixes.push(TrailFix {
                name: t.name.clone(),
                arn: t.arn.clone(),
                start_logging: !t.logging,
                selectors: self.fixed_selectors(t, duty.requires(i)),
            });
        }
        let mut unfixable = Vec::new();
        if !state.missing.is_empty() {
            unfixable.push(deleted(&state.missing));
        }
        if let ManagementDuty::Unassigned(why) = duty {
            unfixable.push(why);
        }
        (fixes, reasons, unfixable)
    }

    /// What a region without a fix to make says.
    fn settled(&self, state: &TrailsState) -> Decision<Vec<TrailFix>> {
        let elsewhere = elsewhere_note(&state.elsewhere);
        if state.trails.is_empty() {
            return Decision::NotApplicable(elsewhere.unwrap_or_else(|| {
                "no trail homed in this region (a multi-Region trail is guarded in its home region)"
                    .to_owned()
            }));
        }
        let mut what = vec![format!("{} trail(s) logging", state.trails.len())];
        match self.management_duty(state) {
            ManagementDuty::RecordedBy(by) => what.push(format!(
                "management events (read and write) recorded by {by}"
            )),
            _ => what.push("each with management events (read and write)".to_owned()),
        }
        if !self.settings.bedrock_data_events.is_empty() {
            what.push(format!(
                "Bedrock data events ({}) recorded",
                self.settings.bedrock_data_events.join(", ")
            ));
        }
        what.extend(elsewhere);
        Decision::Compliant(what.join("; "))
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

    async fn start_logging(&self, arn: &str) -> Result<(), AwsError> {
        self.cloudtrail
            .start_logging()
            .name(arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk(START.permission, e))
    }

    async fn put_selectors(&self, arn: &str, selectors: &Selectors) -> Result<(), AwsError> {
        let request = self.cloudtrail.put_event_selectors().trail_name(arn);
        let request = match selectors {
            Selectors::Basic(basic) => {
                request.set_event_selectors(Some(basic.iter().map(event_selector).collect()))
            }
            Selectors::Advanced(advanced) => request.set_advanced_event_selectors(Some(
                advanced
                    .iter()
                    .map(advanced_selector)
                    .collect::<Result<Vec<_>, _>>()?,
            )),
        };
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk(PUT_SELECTORS.permission, e))
    }
}

/// "Guarded trail(s) … deleted", with what to do.
fn deleted(missing: &[String]) -> String {
    let by_name = missing.iter().any(|m| Arn::parse(m).is_none());
    format!(
        "guarded trail(s) {} deleted: ai-guard does not recreate trails (their bucket, key and \
         permissions are yours to choose) — recreate them{}",
        missing.join(", "),
        if by_name {
            " (a single-Region trail of another region is seen there only: name it by its ARN)"
        } else {
            ""
        }
    )
}

/// "X guarded in its home region R", for the guarded trails of other regions.
fn elsewhere_note(elsewhere: &[TrailElsewhere]) -> Option<String> {
    (!elsewhere.is_empty()).then(|| {
        elsewhere
            .iter()
            .map(|t| {
                format!(
                    "{} guarded in its home region {} (CloudTrail changes a trail there only)",
                    t.name, t.home_region
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// Basic selectors recording management events, read and write, without widening the data events
/// any selector records (a basic selector's `ReadWriteType` applies to its data resources too:
/// GetEventSelectors, CloudTrail API reference).
fn basic_with_management(basic: &[Basic]) -> Selectors {
    let mut fixed = basic.to_vec();
    // A narrowed management selector recording no data events records both now.
    if let Some(s) = fixed
        .iter_mut()
        .find(|s| s.include_management_events && s.data_resources.is_empty())
    {
        s.read_write_type = "All".to_owned();
        return Selectors::Basic(fixed);
    }
    if fixed.len() < MAX_BASIC_SELECTORS {
        // A selector of their own, excluding what the owner's management selector excludes.
        let excluded = basic
            .iter()
            .find(|s| s.include_management_events)
            .map(|s| s.exclude_management_event_sources.clone())
            .unwrap_or_default();
        fixed.push(Basic {
            read_write_type: "All".to_owned(),
            include_management_events: true,
            data_resources: Vec::new(),
            exclude_management_event_sources: excluded,
        });
        return Selectors::Basic(fixed);
    }
    // Five basic selectors is CloudTrail's limit: as advanced ones, where management and data
    // events have selectors of their own.
    with_advanced(to_advanced(basic), &[], true)
}

/// `advanced` with management events recorded read and write (when `management`) and a selector
/// for each of `bedrock`'s types.
fn with_advanced(mut advanced: Vec<Advanced>, bedrock: &[String], management: bool) -> Selectors {
    if management && !advanced.iter().any(Advanced::all_management) {
        // A management selector narrowed to read-only or write-only records both again (a
        // management selector records no data events); otherwise one is added.
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
            fields.extend(resources_arn(ty, values));
            out.push(Advanced {
                name: Some(format!("{ty} data events (selector {})", i + 1)),
                fields,
            });
        }
    }
    out
}

/// The `resources.ARN` condition equivalent to a basic selector's data resource values (`None`:
/// every resource of the type). A bare service prefix (`arn:aws:s3`, `arn:aws:lambda`) means every
/// resource, whatever else is listed; Lambda function ARNs are exact ("Lambda function ARNs are
/// exact … not logged for …:function:helloworld2", CloudTrail API reference, DataResource) and
/// stay exact (`Equals`: a prefix would widen them to every function whose name starts alike);
/// the others are prefixes (S3 `bucket/prefix`).
fn resources_arn(ty: &str, values: &[String]) -> Option<FieldCondition> {
    if values.is_empty() || values.iter().any(|v| v.matches(':').count() <= 2) {
        return None;
    }
    let mut condition = FieldCondition {
        field: "resources.ARN".to_owned(),
        ..FieldCondition::default()
    };
    if ty == "AWS::Lambda::Function" {
        condition.equals = values.to_vec();
    } else {
        condition.starts_with = values.to_vec();
    }
    Some(condition)
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

fn advanced_selector(s: &Advanced) -> Result<AdvancedEventSelector, AwsError> {
    let fields = s
        .fields
        .iter()
        .map(field_selector)
        .collect::<Result<Vec<_>, _>>()?;
    AdvancedEventSelector::builder()
        .set_name(s.name.clone())
        .set_field_selectors(Some(fields))
        .build()
        .map_err(|e| sdk(e, PUT_SELECTORS.permission))
}

fn event_selector(s: &Basic) -> EventSelector {
    EventSelector::builder()
        .read_write_type(ReadWriteType::from(s.read_write_type.as_str()))
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
            Some(s.exclude_management_event_sources.clone()).filter(|v| !v.is_empty()),
        )
        .build()
}

/// The first of `errors` (its permission and code), saying what each trail's failed write left
/// behind.
fn write_failures(errors: Vec<(String, &'static str, AwsError)>) -> Result<(), AwsError> {
    let mut errors = errors.into_iter();
    let Some((trail, left, mut error)) = errors.next() else {
        return Ok(());
    };
    error.message = std::iter::once(format!("{trail}: {left}: {}", error.message))
        .chain(errors.map(|(trail, left, e)| format!("{trail}: {left}: {e}")))
        .collect::<Vec<_>>()
        .join("; ");
    Err(error)
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
        // Every trail of the region and the shadows of other regions' multi-Region trails: a
        // trail list of names would match only trails homed here (DescribeTrails, CloudTrail API
        // reference), and a multi-Region trail named by name would look deleted everywhere else.
        let described = self
            .cloudtrail
            .describe_trails()
            .include_shadow_trails(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(DESCRIBE.permission, e))?;
        let mut here: Vec<(String, String)> = Vec::new();
        let mut state = TrailsState::default();
        for trail in described.trail_list() {
            let (Some(name), Some(arn)) = (trail.name(), trail.trail_arn()) else {
                continue;
            };
            let home = trail
                .home_region()
                .or_else(|| Arn::parse(arn).map(|a| a.region))
                .unwrap_or_default();
            let homed_here = home == scope.region;
            if !self.settings.guarded.is_empty() {
                if !self.guards(name, arn) {
                    continue;
                }
                if homed_here {
                    here.push((name.to_owned(), arn.to_owned()));
                } else {
                    state.elsewhere.push(TrailElsewhere {
                        name: name.to_owned(),
                        arn: arn.to_owned(),
                        home_region: home.to_owned(),
                    });
                }
            } else if homed_here && trail.is_organization_trail() != Some(true) {
                here.push((name.to_owned(), arn.to_owned()));
            } else if trail.has_custom_event_selectors() == Some(false) {
                state.default_elsewhere.push(if homed_here {
                    format!("{name} (organization trail)")
                } else {
                    format!("{name} (home region {home})")
                });
            }
        }
        for g in &self.settings.guarded {
            let seen = here.iter().any(|(n, a)| n == g || a == g)
                || state.elsewhere.iter().any(|t| &t.name == g || &t.arn == g);
            if seen {
                continue;
            }
            // An ARN names its home region: a single-Region trail of another region is not seen here.
            match Arn::parse(g).filter(|a| a.region != scope.region) {
                Some(a) => state.elsewhere.push(TrailElsewhere {
                    name: a.resource.trim_start_matches("trail/").to_owned(),
                    arn: g.clone(),
                    home_region: a.region.to_owned(),
                }),
                None => state.missing.push(g.clone()),
            }
        }
        for (name, arn) in here {
            state.trails.push(self.trail_state(&name, &arn).await?);
        }
        Ok(Some(state))
    }

    fn decide(&self, state: &TrailsState, _: &str) -> Decision<Vec<TrailFix>> {
        let (fixes, mut reasons, unfixable) = self.judge(state);
        if fixes.is_empty() {
            return if unfixable.is_empty() {
                self.settled(state)
            } else {
                Decision::Unsafe(unfixable.join("; "))
            };
        }
        let mut actions = Vec::new();
        if fixes.iter().any(|f| f.start_logging) {
            actions.push(START.api);
        }
        if fixes.iter().any(|f| f.selectors.is_some()) {
            actions.push(PUT_SELECTORS.api);
        }
        // What cannot be fixed is said, and the verification fails on it.
        reasons.extend(unfixable);
        Decision::Remediate {
            plan: fixes,
            actions,
            reason: reasons.join("; "),
        }
    }

    /// Logging first — the part that matters most — on every trail, then the selectors: a selector
    /// write CloudTrail refuses (its quota of 500 values, an unknown resource type) must not keep a
    /// trail stopped. Every write is tried; the first failure is returned, naming them all.
    async fn apply(&self, _: &Resource, plan: &Vec<TrailFix>, _: &Scope) -> Result<(), AwsError> {
        let mut errors = Vec::new();
        for fix in plan.iter().filter(|f| f.start_logging) {
            if let Err(e) = self.start_logging(&fix.arn).await {
                errors.push((fix.name.clone(), "not logging", e));
            }
        }
        for fix in plan {
            let Some(selectors) = &fix.selectors else {
                continue;
            };
            if let Err(e) = self.put_selectors(&fix.arn, selectors).await {
                let left = if !fix.start_logging {
                    "logging is on; event selectors not written"
                } else if errors.iter().any(|(t, _, _)| t == &fix.name) {
                    "event selectors not written either"
                } else {
                    "logging started; event selectors not written"
                };
                errors.push((fix.name.clone(), left, e));
            }
        }
        write_failures(errors)
    }

    fn verify(&self, _: &Vec<TrailFix>, after: &TrailsState) -> Result<(), String> {
        let (fixes, reasons, unfixable) = self.judge(after);
        if fixes.is_empty() && unfixable.is_empty() {
            Ok(())
        } else {
            Err(reasons
                .into_iter()
                .chain(unfixable)
                .collect::<Vec<_>>()
                .join("; "))
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
            ..TrailsState::default()
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
        // A basic selector's ReadWriteType applies to its data resources too (GetEventSelectors,
        // CloudTrail API reference): widening it would log every S3 read.
        let g = guard(&[]);
        let s3 = ("AWS::S3::Object", "arn:aws:s3:::training-data/");
        let owners = basic("WriteOnly", true, &[s3]);
        let t = trail(true, Selectors::Basic(vec![owners.clone()]));
        let fixed = match g.decide(&state(vec![t]), "remediate") {
            Decision::Remediate { plan, .. } => plan[0].selectors.clone(),
            other => panic!("{other:?}"),
        };
        let Some(Selectors::Basic(b)) = fixed else {
            panic!("{fixed:?}")
        };
        assert_eq!(b, [owners, basic("All", true, &[])]);
        let after = trail(true, Selectors::Basic(b));
        assert!(matches!(
            g.decide(&state(vec![after]), "remediate"),
            Decision::Compliant(_)
        ));
    }

    #[test]
    fn a_narrowed_selector_without_data_resources_records_both_in_place() {
        let g = guard(&[]);
        let t = trail(true, Selectors::Basic(vec![basic("ReadOnly", true, &[])]));
        match g.decide(&state(vec![t]), "remediate") {
            Decision::Remediate { plan, .. } => assert_eq!(
                plan[0].selectors,
                Some(Selectors::Basic(vec![basic("All", true, &[])]))
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn five_basic_selectors_become_advanced_without_widening_data_events() {
        let g = guard(&[]);
        let s3 = ("AWS::S3::Object", "arn:aws:s3:::training-data/");
        let lambda = ("AWS::Lambda::Function", "arn:aws:lambda");
        let mut selectors = vec![basic("WriteOnly", true, &[s3])];
        selectors.extend((0..4).map(|_| basic("All", false, &[lambda])));
        let t = trail(true, Selectors::Basic(selectors));
        let fixed = match g.decide(&state(vec![t]), "remediate") {
            Decision::Remediate { plan, .. } => plan[0].selectors.clone(),
            other => panic!("{other:?}"),
        };
        let Some(Selectors::Advanced(a)) = fixed else {
            panic!("{fixed:?}")
        };
        assert!(a.iter().any(Advanced::all_management));
        let s3_data = a
            .iter()
            .find(|s| {
                s.field("resources.type")
                    .is_some_and(|f| f.equals == [s3.0])
            })
            .expect("the owner's S3 data events");
        assert_eq!(
            s3_data.field("readOnly").map(|f| f.equals.clone()),
            Some(vec!["false".to_owned()]),
            "S3 writes only, as the owner chose"
        );
    }

    #[test]
    fn converted_basic_data_resources_are_neither_widened_nor_narrowed() {
        // "Lambda function ARNs are exact … not logged for …:function:helloworld2" (CloudTrail API
        // reference, DataResource): as an advanced selector they stay exact, not a prefix.
        let function = "arn:aws:lambda:us-west-2:111111111111:function:helloworld";
        let lambda = basic("All", false, &[("AWS::Lambda::Function", function)]);
        let arn = |a: &[Advanced]| {
            a.iter()
                .find_map(|s| s.field("resources.ARN").cloned())
                .expect("a resources.ARN condition")
        };
        let converted = to_advanced(&[lambda]);
        assert_eq!(arn(&converted).equals, [function]);
        assert!(arn(&converted).starts_with.is_empty());
        // S3 values are prefixes.
        let s3 = basic(
            "All",
            false,
            &[("AWS::S3::Object", "arn:aws:s3:::training/")],
        );
        assert_eq!(
            arn(&to_advanced(&[s3])).starts_with,
            ["arn:aws:s3:::training/"]
        );
        // A bare service prefix means every resource, whatever else the selector lists.
        let mut every = basic("All", false, &[("AWS::S3::Object", "arn:aws:s3")]);
        every.data_resources[0]
            .1
            .push("arn:aws:s3:::training/".to_owned());
        let converted = to_advanced(&[every]);
        assert!(
            converted[0].field("resources.ARN").is_none(),
            "{converted:?}"
        );
    }

    fn named(name: &str, logging: bool, selectors: Selectors) -> TrailState {
        TrailState {
            name: name.into(),
            arn: format!("arn:aws:cloudtrail:us-east-1:123456789012:trail/{name}"),
            logging,
            selectors,
        }
    }

    fn data_only() -> Selectors {
        let s3 = ("AWS::S3::Object", "arn:aws:s3:::training-data/");
        Selectors::Basic(vec![basic("All", false, &[s3])])
    }

    #[test]
    fn a_data_events_trail_is_left_alone_beside_one_recording_management_events() {
        let g = guard(&[]);
        let main = named(
            "main",
            true,
            Selectors::Basic(vec![basic("All", true, &[])]),
        );
        let data = named("s3-data", true, data_only());
        match g.decide(&state(vec![main, data]), "remediate") {
            Decision::Compliant(why) => assert!(why.contains("main"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn without_a_trail_recording_them_all_the_narrowed_one_records_management_events() {
        let g = guard(&[]);
        let data = named("s3-data", true, data_only());
        let main = named(
            "main",
            true,
            Selectors::Basic(vec![basic("WriteOnly", true, &[])]),
        );
        match g.decide(&state(vec![data, main]), "remediate") {
            Decision::Remediate { plan, .. } => {
                assert_eq!(plan.len(), 1, "{plan:?}");
                assert!(plan[0].arn.ends_with("trail/main"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn data_events_trails_alone_are_failed_never_given_billed_management_events() {
        let g = guard(&[]);
        match g.decide(
            &state(vec![named("s3-data", true, data_only())]),
            "remediate",
        ) {
            Decision::Unsafe(why) => assert!(why.contains("GUARDED_TRAILS"), "{why}"),
            other => panic!("{other:?}"),
        }
        // Stopped, it is started all the same, and still failed once started.
        let stopped = state(vec![named("s3-data", false, data_only())]);
        let plan = match g.decide(&stopped, "remediate") {
            Decision::Remediate { plan, actions, .. } => {
                assert_eq!(actions, ["StartLogging"]);
                plan
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(plan[0].selectors, None);
        let started = state(vec![named("s3-data", true, data_only())]);
        let why = g
            .verify(&plan, &started)
            .expect_err("still no management events");
        assert!(why.contains("GUARDED_TRAILS"), "{why}");
    }

    #[test]
    fn a_trail_recording_no_events_at_all_records_management_events() {
        let g = guard(&[]);
        let nothing = named(
            "audit",
            true,
            Selectors::Basic(vec![basic("All", false, &[])]),
        );
        match g.decide(&state(vec![nothing]), "remediate") {
            Decision::Remediate { plan, .. } => assert_eq!(
                plan[0].selectors,
                Some(Selectors::Basic(vec![
                    basic("All", false, &[]),
                    basic("All", true, &[])
                ]))
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_trail_not_guarded_here_with_default_selectors_records_the_regions_management_events() {
        let g = guard(&[]);
        let covered = TrailsState {
            trails: vec![named("s3-data", true, data_only())],
            default_elsewhere: vec!["org (organization trail)".into()],
            ..TrailsState::default()
        };
        match g.decide(&covered, "remediate") {
            Decision::Compliant(why) => assert!(why.contains("org (organization trail)"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_guarded_trail_of_another_region_is_left_to_its_home_region() {
        let g = guard(&[]);
        let elsewhere = TrailElsewhere {
            name: "audit".into(),
            arn: "arn:aws:cloudtrail:eu-west-1:123456789012:trail/audit".into(),
            home_region: "eu-west-1".into(),
        };
        let only_there = TrailsState {
            elsewhere: vec![elsewhere.clone()],
            ..TrailsState::default()
        };
        match g.decide(&only_there, "remediate") {
            Decision::NotApplicable(why) => {
                assert!(
                    why.contains("audit guarded in its home region eu-west-1"),
                    "{why}"
                )
            }
            other => panic!("{other:?}"),
        }
        let with_one_here = TrailsState {
            trails: vec![trail(true, Selectors::Basic(vec![basic("All", true, &[])]))],
            elsewhere: vec![elsewhere],
            ..TrailsState::default()
        };
        match g.decide(&with_one_here, "remediate") {
            Decision::Compliant(why) => assert!(why.contains("home region eu-west-1"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_trail_named_in_guarded_trails_records_management_events_even_if_data_only() {
        let mut g = guard(&[]);
        g.settings.guarded = vec!["s3-data".into()];
        match g.decide(
            &state(vec![named("s3-data", true, data_only())]),
            "remediate",
        ) {
            Decision::Remediate { plan, .. } => match &plan[0].selectors {
                Some(Selectors::Basic(b)) => assert!(b
                    .iter()
                    .any(|s| s.include_management_events && s.read_write_type == "All")),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bedrock_data_event_types_are_those_cloudtrail_documents() {
        let env = |v: &'static str| {
            move |n: &str| (n == "CLOUDTRAIL_BEDROCK_DATA_EVENTS").then(|| v.to_owned())
        };
        for bad in [
            "AWS::Bedrock::Modle",
            "AWS::Bedrock::Prompt",
            "AWS::Bedrock::*",
            "AWS::Bedrock::Model,AWS::Bedrock::agentalias",
        ] {
            let err = TrailSettings::from_lookup(&env(bad)).expect_err(bad);
            assert!(
                err.to_string().contains("AWS::Bedrock::AgentAlias"),
                "{err}"
            );
        }
        let all = TrailSettings::from_lookup(&env(
            "AWS::Bedrock::Model, AWS::Bedrock::AgentAlias,AWS::Bedrock::KnowledgeBase,\
             AWS::Bedrock::FlowAlias,AWS::Bedrock::Guardrail,AWS::Bedrock::InlineAgent,\
             AWS::Bedrock::PromptVersion,AWS::Bedrock::AsyncInvoke",
        ))
        .expect("documented types");
        assert_eq!(all.bedrock_data_events.len(), 8);
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
            missing: vec!["audit".into()],
            ..TrailsState::default()
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
