//! The engine of one account and region: an intake's targets (or a sweep's) → control pipeline →
//! outcome records → response.
//!
//! It owns everything that must hold for every run: the dry-run switch, bounded concurrency,
//! per-resource failure isolation, the audit log, answering AWS Config, telling Security Hub, and
//! failing the run when a resource was left unresolved. Per-resource policy (exemptions, the
//! exemption tag, dry run, contested resources, resources AWS Config says left its scope) is the
//! pipeline's ([`crate::pipeline`]); which account and region an event concerns, and whether the
//! function may act there, is the dispatcher's ([`crate::dispatch`]).

use futures::stream::{self, StreamExt};
use serde_json::Value;

use crate::aws::Operation;
use crate::config_rule;
use crate::contested::{self, ContestedTracker};
use crate::control::ControlSpec;
use crate::error::EngineError;
use crate::findings::{self, FindingRef, FindingsCloser};
use crate::governance::Governance;
use crate::intake::{Intake, Target, Work};
use crate::notify::{self, Notifier};
use crate::outcome::{Outcome, OutcomeRecord, Response, Trigger};
use crate::pipeline::{DynControl, Evaluation, Governed, Request, WriteBudget};
use crate::resource::{Resource, Scope};
use crate::settings::Settings;

/// One function's engine: its settings, region and controls, built once at init.
pub struct Engine {
    settings: Settings,
    region: String,
    controls: Vec<Box<dyn DynControl>>,
    /// The controls' specs, for intake (routing needs nothing else).
    specs: Vec<&'static ControlSpec>,
    config: Option<aws_sdk_config::Client>,
    notifier: Option<Notifier>,
    contested: Option<ContestedTracker>,
    findings: Option<FindingsCloser>,
    governance: Option<std::sync::Arc<Governance>>,
}

impl Engine {
    pub fn new(
        settings: Settings,
        region: impl Into<String>,
        controls: Vec<Box<dyn DynControl>>,
    ) -> Self {
        let specs = controls.iter().map(|c| c.spec()).collect();
        Self {
            settings,
            region: region.into(),
            controls,
            specs,
            config: None,
            notifier: None,
            contested: None,
            findings: None,
            governance: None,
        }
    }

    /// Act by the remediation policy (modes, exceptions, limits, approval); without it every
    /// control enforces, without limits.
    pub fn with_governance(mut self, governance: std::sync::Arc<Governance>) -> Self {
        self.governance = Some(governance);
        self
    }

    /// The remediation policy's reader, when the engine is governed.
    pub fn governance(&self) -> Option<&Governance> {
        self.governance.as_deref()
    }

    /// Tell this SNS topic about remediated, failed and contested resources.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// Track how often resources are fixed, to report contested ones.
    pub fn with_contested_tracker(mut self, tracker: ContestedTracker) -> Self {
        self.contested = Some(tracker);
        self
    }

    /// Tell Security Hub what happened to the findings that triggered an invocation.
    pub fn with_findings_closer(mut self, closer: FindingsCloser) -> Self {
        self.findings = Some(closer);
        self
    }

    /// Answer AWS Config custom-rule invocations with `PutEvaluations` through this client.
    pub fn with_config_client(mut self, client: aws_sdk_config::Client) -> Self {
        self.config = Some(client);
        self
    }

    pub fn controls(&self) -> impl Iterator<Item = &dyn DynControl> {
        self.controls.iter().map(|c| c.as_ref())
    }

    /// The specs of this engine's controls.
    pub fn specs(&self) -> &[&'static ControlSpec] {
        &self.specs
    }

    fn control(&self, id: &str) -> Option<&dyn DynControl> {
        self.controls().find(|c| c.spec().id == id)
    }

    /// Every AWS operation this engine may call: its controls' and, when it answers AWS Config,
    /// `PutEvaluations`. The template's IAM policy and the tests are checked against this list.
    pub fn operations(&self) -> Vec<Operation> {
        let mut ops: Vec<Operation> = self
            .controls()
            .flat_map(|c| c.spec().operations.iter().copied())
            .collect();
        if self.config.is_some() {
            ops.push(config_rule::PUT_EVALUATIONS);
        }
        if self.notifier.is_some() {
            ops.push(notify::PUBLISH);
        }
        if self.findings.is_some() {
            ops.push(findings::BATCH_UPDATE_FINDINGS);
            ops.push(findings::BATCH_UPDATE_FINDINGS_V2);
        }
        if self.settings.exempt_tag.is_some() {
            ops.extend(self.controls().filter_map(|c| c.spec().tag_operation));
        }
        if let Some(g) = &self.governance {
            ops.extend(g.operations());
            // Rules may name resource tags: the tags of a resource about to change are read.
            ops.extend(self.controls().filter_map(|c| c.spec().tag_operation));
        }
        if let Some(tracker) = &self.contested {
            ops.extend([contested::UPDATE, contested::PUT]);
            if !tracker.policy.keep_fixing {
                ops.push(contested::GET);
            }
        }
        ops.dedup();
        ops
    }

    /// The region this engine acts in.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The settings it was built with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Sweep every resource of every control in `account`, as a scheduled event would: what the
    /// `remediate` command runs. `source` names the caller in the records' trigger; `dry_run` can
    /// only make the sweep drier than the settings.
    pub async fn sweep(
        &self,
        account: &str,
        source: &'static str,
        dry_run: bool,
    ) -> Result<Response, EngineError> {
        let ids = self.specs.iter().map(|s| s.id).collect();
        let trigger = Trigger {
            source,
            ..Trigger::default()
        };
        let place = crate::resource::Place::new(account, &self.region);
        self.run(&Intake::sweep(trigger, ids, dry_run, place), account)
            .await
    }

    /// Run an intake's work — its targets (all in this engine's region, in `account`), or a sweep
    /// of `account` — and answer for it: records, audit, Security Hub, AWS Config.
    pub async fn run(&self, intake: &Intake, account: &str) -> Result<Response, EngineError> {
        let scope =
            Scope::new(account, &self.region).with_own_role(self.settings.own_role_arn.clone());
        self.run_at(intake, &scope).await
    }

    async fn run_at(&self, intake: &Intake, scope: &Scope) -> Result<Response, EngineError> {
        let dry_run = self.settings.dry_run || intake.dry_run;
        let trigger = intake.trigger.to_string();
        let ignored = matches!(intake.work, Work::Ignore(_));
        // The policy in force for this run (read before any resource, so every record of the
        // run has the same one; unreadable and never read: the run fails and is retried).
        let current = match (&self.governance, ignored) {
            (Some(g), false) => Some(g.current().await.map_err(|e| {
                EngineError::infrastructure(format!(
                    "the remediation policy could not be read: {e}"
                ))
            })?),
            _ => None,
        };
        let organizational_units = match (&self.governance, &current) {
            (Some(g), Some(c)) if c.policy.names_organizational_units() => g
                .organizational_units(&scope.account)
                .await
                .map_err(|e| e.to_string()),
            _ => Ok(Vec::new()),
        };
        let budget = WriteBudget::default();
        let governed = current.as_ref().map(|c| Governed {
            current: c,
            proposals: self.governance.as_ref().and_then(|g| g.proposals()),
            organizational_units: &organizational_units,
            own_account: !self.settings.in_member_account,
            approved_by: intake.approved_by.as_deref(),
            writes: &budget,
            now: crate::governance::now(),
        });
        let governed = governed.as_ref();
        let records = match &intake.work {
            Work::Ignore(reason) => {
                tracing::info!(trigger = %trigger, reason = %reason, "event ignored");
                Vec::new()
            }
            Work::Sweep(ids) => {
                let targets = self.sweep_targets(ids, scope, &trigger, dry_run).await;
                self.run_all(targets, governed, dry_run, scope, &trigger)
                    .await
            }
            Work::Targets(targets) => {
                let targets = targets.iter().cloned().map(Ok).collect();
                self.run_all(targets, governed, dry_run, scope, &trigger)
                    .await
            }
        };
        let mut records = records;
        self.escalate(&mut records, &intake.trigger).await;
        for record in &records {
            audit(record, &intake.trigger);
        }
        let mut response = Response { results: records };
        if let Some(closer) = &self.findings {
            let refs: Vec<FindingRef> = intake.findings.iter().map(|(_, f)| f.clone()).collect();
            let not_fixed = current
                .as_ref()
                .is_some_and(|c| c.policy.security_hub.update_findings_not_fixed);
            let updates = findings::plan(&refs, &response.results, not_fixed);
            if !updates.is_empty() {
                // The remediation is done and audited either way: a finding left open is logged
                // and counted on its records (the `finding_update_failed` metric has an alarm).
                let not_updated = closer.send(&updates).await;
                findings::count_not_updated(&refs, &not_updated, &mut response.results);
            }
        }
        if let (Some(invocation), Some(client)) = (&intake.config_rule, &self.config) {
            if let Err(e) = config_rule::report(client, invocation, &response.results).await {
                return Err(EngineError::Infrastructure {
                    message: format!("could not report to AWS Config: {e}"),
                    response,
                });
            }
        }
        self.verdict(intake, response)
    }

    /// Log contested resources (the pipeline counted the fixes) and notify, after the pipeline.
    async fn escalate(&self, records: &mut [OutcomeRecord], trigger: &Trigger) {
        for record in records.iter().filter(|r| r.contested) {
            tracing::warn!(
                target: "contested",
                control = record.control,
                resource = %record.resource,
                principal = trigger.principal.as_deref().unwrap_or(""),
                detail = %record.detail,
                "contested resource: something keeps undoing the fix"
            );
        }
        if let Some(notifier) = &self.notifier {
            for record in records
                .iter_mut()
                .filter(|r| Notifier::wants(r, r.contested))
            {
                if let Err(e) = notifier.send(record, trigger, record.contested).await {
                    // Never fatal (the fix is done and audited), but counted: the
                    // `notification_failed` metric has its own alarm.
                    record.notification_failed = true;
                    tracing::warn!(error = %e, resource = %record.resource, "notification not sent");
                }
            }
        }
    }

    /// Every resource of every control; a control whose listing fails yields one failed record.
    async fn sweep_targets(
        &self,
        ids: &[&'static str],
        scope: &Scope,
        trigger: &str,
        dry_run: bool,
    ) -> Vec<Result<Target, Box<OutcomeRecord>>> {
        let mut targets = Vec::new();
        for control in self.controls().filter(|c| ids.contains(&c.spec().id)) {
            let spec = control.spec();
            match control.list(scope).await {
                Ok(resources) => targets.extend(resources.into_iter().map(|resource| {
                    Ok(Target {
                        place: scope.place(),
                        control: spec.id,
                        resource,
                        action: spec.default_action(),
                        left_scope: false,
                    })
                })),
                Err(e) => targets.push(Err(Box::new(OutcomeRecord {
                    control: spec.id,
                    resource: format!(
                        "{} in {}/{}",
                        spec.resource_type, scope.account, scope.region
                    ),
                    account: scope.account.clone(),
                    region: scope.region.clone(),
                    outcome: Outcome::Failed,
                    actions: Vec::new(),
                    trigger: trigger.to_owned(),
                    dry_run,
                    detail: format!("listing failed: {e}"),
                    contested: false,
                    mode: None,
                    limited: false,
                    quiet: false,
                    notification_failed: false,
                    finding_update_failed: 0,
                    before: None,
                    after: None,
                    config_identity: (spec.resource_type, String::new()),
                }))),
            }
        }
        targets
    }

    /// Run targets with bounded concurrency; records come back in target order.
    async fn run_all(
        &self,
        targets: Vec<Result<Target, Box<OutcomeRecord>>>,
        governed: Option<&Governed<'_>>,
        dry_run: bool,
        scope: &Scope,
        trigger: &str,
    ) -> Vec<OutcomeRecord> {
        stream::iter(targets)
            .map(|target| async move {
                match target {
                    Ok(target) => {
                        self.run_one(&target, governed, trigger, dry_run, scope)
                            .await
                    }
                    Err(record) => *record,
                }
            })
            .buffered(self.settings.concurrency)
            .collect()
            .await
    }

    async fn run_one(
        &self,
        target: &Target,
        governed: Option<&Governed<'_>>,
        trigger: &str,
        dry_run: bool,
        scope: &Scope,
    ) -> OutcomeRecord {
        let Some(control) = self.control(target.control) else {
            // Intake names only this engine's specs; anything else is a bug, reported, not a panic.
            return record(
                target.control,
                &target.resource,
                scope,
                trigger,
                dry_run,
                Evaluation::new(Outcome::Failed, "no such control in this function"),
            );
        };
        let evaluation = control
            .evaluate(&Request {
                resource: &target.resource,
                action: target.action,
                dry_run,
                scope,
                exemptions: &self.settings.exemptions,
                contested: self.contested.as_ref(),
                exempt_tag: self.settings.exempt_tag.as_ref(),
                left_scope: target.left_scope,
                governed,
            })
            .await;
        record(
            control.spec().id,
            &target.resource,
            scope,
            trigger,
            dry_run,
            evaluation,
        )
    }

    /// The invocation fails when a resource failed, so Lambda retries it and DLQs and alarms see
    /// it. A deferred resource (cannot be acted on in its current state) is an error only when
    /// nothing else will bring it back: a control that listens to its service's state-change
    /// events is told again when the resource settles (a notebook leaves `Pending` minutes later,
    /// long after Lambda's two asynchronous retries at about 1 and 2 minutes), so its deferral is a
    /// recorded outcome, not an invocation error that would end in the dead-letter queue. A sweep's
    /// deferred resources wait for the next sweep. (AWS Config's SSM remediation reads the records
    /// and fails on `deferred` itself, so Config retries it.)
    fn verdict(&self, intake: &Intake, response: Response) -> Result<Response, EngineError> {
        let retry_deferred = !matches!(intake.work, Work::Sweep(_));
        let followed_up = |control: &str| {
            self.specs
                .iter()
                .any(|s| s.id == control && !s.state_change_events.is_empty())
        };
        let unresolved: Vec<&OutcomeRecord> = response
            .results
            .iter()
            .filter(|r| {
                r.outcome == Outcome::Failed
                    || (retry_deferred && r.outcome == Outcome::Deferred && !followed_up(r.control))
            })
            .collect();
        let message = unresolved.first().map(|first| {
            format!(
                "{} of {} resources unresolved ({}); first: {} {}: {}",
                unresolved.len(),
                response.results.len(),
                response.summary(),
                first.resource,
                first.outcome,
                first.detail
            )
        });
        match message {
            None => Ok(response),
            Some(message) => Err(EngineError::Unresolved { message, response }),
        }
    }
}

fn record(
    control: &'static str,
    resource: &Resource,
    scope: &Scope,
    trigger: &str,
    dry_run: bool,
    e: Evaluation,
) -> OutcomeRecord {
    let resource = e.resource.as_ref().unwrap_or(resource);
    OutcomeRecord {
        control,
        resource: resource.arn.clone(),
        account: scope.account.clone(),
        region: scope.region.clone(),
        outcome: e.outcome,
        actions: e.actions,
        trigger: trigger.to_owned(),
        dry_run,
        detail: e.detail,
        contested: e.contested,
        mode: e.mode,
        limited: e.limited,
        quiet: e.quiet,
        notification_failed: false,
        finding_update_failed: 0,
        before: e.before,
        after: e.after,
        config_identity: (resource.resource_type, resource.id.clone()),
    }
}

/// The audit trail: one JSON log line per resource.
fn audit(r: &OutcomeRecord, trigger: &Trigger) {
    let json = |v: &Option<Value>| v.as_ref().map(Value::to_string).unwrap_or_default();
    macro_rules! emit {
        ($level:expr) => {
            tracing::event!(
                target: "audit",
                $level,
                control = r.control,
                resource = %r.resource,
                account = %r.account,
                region = %r.region,
                outcome = %r.outcome,
                actions = %r.actions.join(","),
                trigger = %r.trigger,
                principal = trigger.principal.as_deref().unwrap_or(""),
                source_ip = trigger.source_ip.as_deref().unwrap_or(""),
                dry_run = r.dry_run,
                mode = r.mode.map(|m| m.to_string()).unwrap_or_default(),
                before = %json(&r.before),
                after = %json(&r.after),
                detail = %r.detail,
                "{} {}", r.outcome, r.resource
            )
        };
    }
    match r.outcome {
        Outcome::Failed => emit!(tracing::Level::ERROR),
        // A fix means someone or something broke the control: that is the security signal.
        Outcome::Remediated | Outcome::WouldRemediate | Outcome::Deferred | Outcome::Pending => {
            emit!(tracing::Level::WARN)
        }
        _ => emit!(tracing::Level::INFO),
    }
}
