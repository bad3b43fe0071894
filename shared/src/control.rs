//! The contract every control implements. It knows nothing of what drives it.
//!
//! A control's static facts ([`ControlSpec`]: which events concern it, how its resources are
//! named) are data, so events are routed without any live control; the [`Control`] itself lists
//! its resources and does the four steps: **inspect** (one read), **decide** (pure), **apply** (the
//! write) and **verify** (judged on a second read). The driver ([`crate::pipeline`]) owns the order
//! of those steps, dry run, exemptions and outcome records, so no control can skip verification or
//! write in a dry run.

use std::fmt::Debug;
use std::future::Future;

use serde::Serialize;

use crate::aws::{AwsError, Operation};
use crate::error::IntakeError;
use crate::event::cloudtrail::CloudTrailRecord;
use crate::resource::{Resource, Scope};

/// An EventBridge event a service emits when a resource changes state (for example "SageMaker
/// Notebook Instance State Change"), and the `detail` field naming the resource.
#[derive(Debug)]
pub struct StateChangeEvent {
    pub detail_type: &'static str,
    pub resource_id_field: &'static str,
    /// The `detail` field that carries the new state, and the states worth a look (the rule
    /// delivers no other); `None`: every change.
    pub states: Option<(&'static str, &'static [&'static str])>,
}

/// An AWS Config managed rule for a control's resources (AWS Config developer guide, "List of AWS
/// Config Managed Rules"), evaluating the control's resource type.
#[derive(Debug, Clone, Copy)]
pub struct ManagedRule {
    /// The rule's name without a deployment's prefix, e.g. `s3-bucket-ssl-requests-only`: the
    /// stack names its rule `<stack>-<name>`, and a deployed rule whose name contains it concerns
    /// the control (Security Hub's copies included).
    pub name: &'static str,
    /// The managed rule's source identifier, e.g. `S3_BUCKET_SSL_REQUESTS_ONLY`.
    pub identifier: &'static str,
    /// Evaluated periodically (at the template's `ConfigRuleFrequency`) rather than on each
    /// configuration change of a resource in its scope.
    pub periodic: bool,
    /// A template condition the rule needs besides its function's `<Stem>Rules`.
    pub condition: Option<&'static str>,
    /// Its `InputParameters`, as a CloudFormation value.
    pub parameters: Option<&'static str>,
}

impl ManagedRule {
    /// A rule evaluated on every configuration change of a resource of its type.
    pub const fn on_change(name: &'static str, identifier: &'static str) -> Self {
        Self {
            name,
            identifier,
            periodic: false,
            condition: None,
            parameters: None,
        }
    }

    /// A rule evaluated periodically.
    pub const fn periodic(name: &'static str, identifier: &'static str) -> Self {
        Self {
            periodic: true,
            ..Self::on_change(name, identifier)
        }
    }
}

/// Static facts about a control: what it is, which events are about it, and how its resources are
/// named. Routing an event needs these alone.
#[derive(Debug)]
pub struct ControlSpec {
    /// Stable id used in records, logs and metrics, e.g. `s3-bucket-public-access-block`.
    pub id: &'static str,
    /// CloudFormation / AWS Config resource type, e.g. `AWS::S3::Bucket`.
    pub resource_type: &'static str,
    /// Security Hub (ASFF) resource type, e.g. `AwsS3Bucket`.
    pub asff_type: &'static str,
    /// CloudTrail `eventSource` of the service, e.g. `s3.amazonaws.com`.
    pub event_source: &'static str,
    /// CloudTrail `eventName`s that may have changed the resource.
    pub cloudtrail_events: &'static [&'static str],
    /// Service state-change events that concern the control's resources.
    pub state_change_events: &'static [StateChangeEvent],
    /// AWS Config managed rules whose compliance changes concern the control (a deployed rule's
    /// name contains one's name, e.g. Security Hub's `securityhub-…` copies); the stack creates
    /// each, remediated through SSM Automation by the control's function.
    pub config_rules: &'static [ManagedRule],
    /// The AWS Config custom rule that invokes the function for this control (a deployed rule's name
    /// contains it), if any.
    pub custom_config_rule: Option<&'static str>,
    /// Security Hub control ids, e.g. `S3.8`.
    pub security_hub_controls: &'static [&'static str],
    /// Actions a direct invocation may ask for; the first is the default.
    pub actions: &'static [&'static str],
    /// Every AWS operation the control calls (for least-privilege checks).
    pub operations: &'static [Operation],
    /// The operation that reads a resource's tags, called only when `EXEMPT_TAG` is set.
    pub tag_operation: Option<Operation>,
    /// The resource an identifier names: a name, id or ARN from any trigger (no I/O).
    pub resource: fn(&str, &Scope) -> Result<Resource, IntakeError>,
    /// Resource identifiers named by a CloudTrail record for one of `cloudtrail_events` (no I/O).
    pub cloudtrail_targets: fn(&CloudTrailRecord, &Scope) -> Result<Vec<String>, IntakeError>,
}

impl ControlSpec {
    /// The default action.
    pub fn default_action(&self) -> &'static str {
        self.actions.first().copied().unwrap_or("remediate")
    }

    /// The action named `name`, if the control has it.
    pub fn action(&self, name: &str) -> Option<&'static str> {
        self.actions.iter().copied().find(|a| *a == name)
    }

    /// Whether a deployed Config rule name refers to one of this control's rules (managed, or its
    /// custom rule).
    pub fn owns_config_rule(&self, rule_name: &str) -> bool {
        let name = rule_name.to_ascii_lowercase();
        self.config_rules
            .iter()
            .any(|r| name.contains(&r.name.to_ascii_lowercase()))
            || self.owns_custom_rule(rule_name)
    }

    /// Whether a deployed Config rule name is this control's custom rule.
    pub fn owns_custom_rule(&self, rule_name: &str) -> bool {
        self.custom_config_rule.is_some_and(|r| {
            rule_name
                .to_ascii_lowercase()
                .contains(&r.to_ascii_lowercase())
        })
    }

    /// The resource `id` names, for this control.
    pub fn resource(&self, id: &str, scope: &Scope) -> Result<Resource, IntakeError> {
        (self.resource)(id, scope)
    }
}

/// What to do about an inspected resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<P> {
    /// Desired state; the text says what was checked.
    Compliant(String),
    /// The control does not apply (the text says why).
    NotApplicable(String),
    /// Cannot act now (the text says why); to be retried.
    Deferred(String),
    /// Non-compliant, but changing it is not safe (a policy that cannot be parsed, a limit the
    /// change would break): `failed`, nothing written, the text says why.
    Unsafe(String),
    /// Change it: `plan` is what `apply` will write, `actions` the operations it calls.
    Remediate {
        plan: P,
        actions: Vec<&'static str>,
        reason: String,
    },
}

impl<P> Decision<P> {
    /// One line saying what the decision is, for verification failures.
    pub fn describe(&self) -> String {
        match self {
            Decision::Compliant(d) => format!("compliant: {d}"),
            Decision::NotApplicable(d) => format!("not applicable: {d}"),
            Decision::Deferred(d) => format!("deferred: {d}"),
            Decision::Unsafe(d) => format!("unsafe to change: {d}"),
            Decision::Remediate { reason, .. } => format!("still non-compliant: {reason}"),
        }
    }
}

/// A control. Implement this to add one; the engine needs no change.
pub trait Control: Send + Sync + 'static {
    /// What `inspect` reads: serialised into the audit log as `before` / `after`.
    type State: Serialize + Debug + Send + Sync;
    /// What `apply` writes.
    type Plan: Debug + Send + Sync;

    fn spec(&self) -> &'static ControlSpec;

    /// Every resource of this control in the scope (a sweep).
    fn list(&self, scope: &Scope) -> impl Future<Output = Result<Vec<Resource>, AwsError>> + Send;

    /// Read the current state for `action`; `Ok(None)` when the resource does not exist.
    fn inspect(
        &self,
        resource: &Resource,
        action: &str,
        scope: &Scope,
    ) -> impl Future<Output = Result<Option<Self::State>, AwsError>> + Send;

    /// Read the state back after `apply`, for verification. By default a full `inspect`; a control
    /// whose write can change only part of the state may read just that part.
    fn reinspect(
        &self,
        resource: &Resource,
        before: &Self::State,
        action: &str,
        scope: &Scope,
    ) -> impl Future<Output = Result<Option<Self::State>, AwsError>> + Send {
        let _ = before;
        self.inspect(resource, action, scope)
    }

    /// The resource's tags (`None`: this resource type has none), read only when `EXEMPT_TAG` is
    /// set and the resource is about to be changed.
    fn tags(
        &self,
        resource: &Resource,
        state: &Self::State,
    ) -> impl Future<Output = Result<Option<Vec<(String, String)>>, AwsError>> + Send {
        let _ = (resource, state);
        std::future::ready(Ok(None))
    }

    /// The resource's canonical identity when the state reveals it (a key named by an alias is
    /// the key itself): records use it, and exemptions are checked against it too.
    fn canonical(&self, resource: &Resource, state: &Self::State) -> Option<Resource> {
        let _ = (resource, state);
        None
    }

    /// Decide from the state alone (no I/O).
    fn decide(&self, state: &Self::State, action: &str) -> Decision<Self::Plan>;

    /// Write the plan.
    fn apply(
        &self,
        resource: &Resource,
        plan: &Self::Plan,
        scope: &Scope,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Judge the state read back after `apply`. By default: the default action now finds it compliant.
    fn verify(&self, plan: &Self::Plan, after: &Self::State) -> Result<(), String> {
        let _ = plan;
        match self.decide(after, self.spec().default_action()) {
            Decision::Compliant(_) => Ok(()),
            other => Err(other.describe()),
        }
    }
}
