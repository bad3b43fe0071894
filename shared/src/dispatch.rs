//! The dispatcher: the one invocation path of every function, with or without a hub.
//!
//! ```text
//! event ──intake (once)──▶ targets, each with its account and region ──group by (account, region)──┐
//!   ┌──────────────────────────────────────────────────────────────────────────────────────────────┘
//!   └─▶ in reach? ──yes──▶ the engine acting there ──▶ records ──merge──▶ answer (metrics, once)
//!            │ no: an event's part is ignored (no call), a request refused
//! scheduled sweep ──▶ every place in reach: in the invocation, or one SQS job per place and
//!                     control (a hub with a sweep queue), which come back as sweep jobs
//! ```
//!
//! Where a function can act is its [`Reach`]: the one account and region of an [`Engine`] alone,
//! or a hub's scope of accounts (AWS Organizations) and regions with the member role assumed in
//! each ([`crate::hub::Hub`]). Everything else — parsing, grouping, scope filtering, merging the
//! records, publishing metrics — is here, once.

use std::ops::Deref;
use std::sync::Arc;

use aws_lambda_events::sqs::SqsBatchResponse;
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

use crate::aws::{AwsError, IamResource, Operation};
use crate::control::ControlSpec;
use crate::engine::Engine;
use crate::error::{EngineError, IntakeError};
use crate::event::sweep::SweepJob;
use crate::intake::{self, Home, Inbound, Intake, Job, Outside};
use crate::outcome::{OutcomeRecord, Response, Trigger};
use crate::resource::{is_account_id, Arn, Place, Scope};

/// Queuing a sweep's jobs (the hub's fan-out to its sweep queue).
pub const SEND_SWEEPS: Operation = Operation {
    service: "sqs",
    api: "SendMessageBatch",
    permission: "sqs:SendMessage",
    resource: IamResource::Arn("arn:{partition}:sqs:{region}:{account}:*"),
    implies: &[],
};

/// At most this many accounts and regions are swept at once when a sweep runs in the invocation.
const IN_PROCESS_SWEEPS: usize = 4;

/// SQS `SendMessageBatch` takes at most 10 messages.
const SQS_BATCH: usize = 10;

/// Where a function can act, running in account `own`.
pub trait Reach: Send + Sync {
    /// The function's home: its account (`own`), region and role, and the role it acts with in
    /// other accounts.
    fn home(&self, own: &str) -> Home;
    /// Its controls' specs.
    fn specs(&self) -> &[&'static ControlSpec];
    /// `ACCOUNT_ID`: the account when the invoked function's ARN names none (a local runtime).
    fn account_id(&self) -> Option<&str>;
    /// Why `place` is out of reach (`None`: in reach); `Err` when the reach cannot be told.
    fn outside<'a>(
        &'a self,
        place: &'a Place,
        own: &'a str,
    ) -> BoxFuture<'a, Result<Option<Outside>, AwsError>>;
    /// Every place in reach.
    fn places<'a>(&'a self, own: &'a str) -> BoxFuture<'a, Result<Vec<Place>, AwsError>>;
    /// The engine acting at `place` (in reach).
    fn engine<'a>(
        &'a self,
        place: &'a Place,
        own: &'a str,
    ) -> BoxFuture<'a, Result<EngineRef<'a>, EngineError>>;
    /// The queue a scheduled sweep fans out through (`None`: it runs in the invocation).
    /// The remediation policy's reader and the proposals, when governed.
    fn governance(&self) -> Option<&crate::governance::Governance> {
        None
    }

    fn sweep_queue(&self) -> Option<(&aws_sdk_sqs::Client, &str)> {
        None
    }
}

/// An engine, owned by the reach or shared from its cache.
pub enum EngineRef<'a> {
    Borrowed(&'a Engine),
    Shared(Arc<Engine>),
}

impl Deref for EngineRef<'_> {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        match self {
            EngineRef::Borrowed(e) => e,
            EngineRef::Shared(e) => e,
        }
    }
}

/// What an invocation answers.
#[derive(Debug)]
pub enum Answer {
    /// The records of the resources looked at.
    Records(Response),
    /// A sweep fanned out: this many jobs queued.
    Queued { jobs: usize },
    /// Sweep jobs run: the messages to retry, and the records.
    Jobs {
        failures: SqsBatchResponse,
        records: Vec<OutcomeRecord>,
    },
}

impl Answer {
    pub fn records(&self) -> &[OutcomeRecord] {
        match self {
            Answer::Records(r) => &r.results,
            Answer::Queued { .. } => &[],
            Answer::Jobs { records, .. } => records,
        }
    }

    /// The function's response: the records; `{"queued": n}`; or SQS's `batchItemFailures`.
    pub fn to_json(&self) -> Value {
        match self {
            Answer::Records(r) => serde_json::to_value(r).unwrap_or(Value::Null),
            Answer::Queued { jobs } => json!({ "queued": jobs }),
            Answer::Jobs { failures, .. } => serde_json::to_value(failures).unwrap_or(Value::Null),
        }
    }
}

/// The account a function runs in: the one in its invoked ARN, or (a local runtime's ARN has
/// none) `fallback`, the `ACCOUNT_ID` setting.
pub fn invoked_account(arn: &str, fallback: Option<&str>) -> Result<String, IntakeError> {
    Arn::parse(arn)
        .map(|a| a.account)
        .filter(|a| is_account_id(a))
        .or(fallback)
        .map(str::to_owned)
        .ok_or_else(|| {
            IntakeError::Malformed(format!(
                "invoked function ARN `{arn}` has no account id (a local runtime needs ACCOUNT_ID)"
            ))
        })
}

/// The Lambda entry point of every function: the account is the one in the invoked function's
/// ARN. Metrics are a Lambda concern, published here once: CloudWatch Logs turns the lines into
/// metrics.
pub async fn handle_lambda(
    reach: &dyn Reach,
    event: LambdaEvent<Value>,
) -> Result<Value, EngineError> {
    let own = invoked_account(&event.context.invoked_function_arn, reach.account_id())?;
    let result = handle(reach, &event.payload, &own).await;
    match &result {
        Ok(answer) => crate::metrics::publish(answer.records()),
        Err(e) => {
            if let Some(response) = e.response() {
                crate::metrics::publish(&response.results)
            }
        }
    }
    result.map(|a| a.to_json())
}

/// `{"approve": "<proposal id>", "approvedBy"?: "<who>"}`: approve a proposed fix.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ApproveRequest {
    approve: String,
    #[serde(default)]
    approved_by: Option<String>,
    #[serde(default)]
    dry_run: Option<bool>,
}

/// An approval by proposal id, as the direct payload for the proposal's resource, control,
/// account and region that says who approved it (the pipeline then applies the fix if the
/// proposal still holds). Whoever may invoke the function may approve.
async fn approval_payload(reach: &dyn Reach, event: &Value) -> Result<Value, EngineError> {
    let request: ApproveRequest = crate::event::decode(event, "approval request")?;
    if !crate::governance::is_proposal_id(&request.approve) {
        return Err(IntakeError::Malformed(format!(
            "`{}` is not a proposal id (16 hexadecimal digits, as announced)",
            request.approve
        ))
        .into());
    }
    let Some(proposals) = reach.governance().and_then(|g| g.proposals()) else {
        return Err(IntakeError::Malformed(
            "this function keeps no proposals (APPROVALS_TABLE is not set)".to_owned(),
        )
        .into());
    };
    let proposal = proposals
        .get(&request.approve)
        .await
        .map_err(|e| EngineError::infrastructure(format!("proposal {}: {e}", request.approve)))?
        .ok_or_else(|| {
            IntakeError::Malformed(format!(
                "no proposal `{}` (unknown, or expired more than 30 days ago)",
                request.approve
            ))
        })?;
    let by = request
        .approved_by
        .map(|b| b.trim().to_owned())
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "an invocation of the function (lambda:InvokeFunction)".to_owned());
    if by.chars().count() > 200 {
        return Err(
            IntakeError::Malformed("approvedBy is longer than 200 characters".to_owned()).into(),
        );
    }
    let mut payload = serde_json::json!({
        "resourceId": proposal.resource,
        "resourceType": proposal.resource_type,
        "control": proposal.control,
        "action": proposal.action,
        "accountId": proposal.account,
        "region": proposal.region,
        "approvedBy": format!("{by} (proposal {})", proposal.id),
    });
    if let Some(dry_run) = request.dry_run {
        payload["dryRun"] = Value::Bool(dry_run);
    }
    Ok(payload)
}

/// Handle one event for a function running in account `own`.
pub async fn handle(reach: &dyn Reach, event: &Value, own: &str) -> Result<Answer, EngineError> {
    let approval;
    let event = if event.get("approve").is_some() {
        approval = approval_payload(reach, event)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "approval refused"))?;
        &approval
    } else {
        event
    };
    let home = reach.home(own);
    let inbound = intake::read(event, reach.specs(), &home).inspect_err(|e| {
        tracing::warn!(error = %e, "event refused");
    })?;
    match inbound {
        Inbound::Jobs(jobs) => Ok(run_jobs(reach, jobs, own).await),
        Inbound::Intake(intake) => match intake.scheduled.clone() {
            Some(id) => scheduled(reach, *intake, own, &id).await,
            None => dispatch(reach, *intake, own).await.map(Answer::Records),
        },
    }
}

/// Group an intake's targets by account and region, keep those in reach, and run each group with
/// the engine acting there.
pub async fn dispatch(
    reach: &dyn Reach,
    intake: Intake,
    own: &str,
) -> Result<Response, EngineError> {
    let home = reach.home(own).place();
    let mut runs = Vec::new();
    for (place, part) in intake.split() {
        match reach.outside(&place, own).await {
            Ok(None) => {}
            Ok(Some(why)) if part.request => {
                let refused = why.refusal(&part.subject());
                tracing::warn!(error = %refused, "request refused");
                return Err(refused.into());
            }
            Ok(Some(why)) => {
                tracing::info!(place = %place, reason = %why, "not in reach: ignored");
                continue;
            }
            Err(e) => {
                runs.push(Err(EngineError::infrastructure(format!(
                    "{place}: could not list the accounts in scope: {e}"
                ))));
                continue;
            }
        }
        let run = match reach.engine(&place, own).await {
            Ok(engine) => engine.run(&part, &place.account).await,
            Err(e) => Err(e),
        };
        runs.push(run.map_err(|e| if place == home { e } else { e.at(&place) }));
    }
    merge(runs)
}

/// A scheduled event: every place in reach swept, here or through the sweep queue. One relayed
/// from another account's bus is not this function's schedule: ignored.
async fn scheduled(
    reach: &dyn Reach,
    intake: Intake,
    own: &str,
    event_id: &str,
) -> Result<Answer, EngineError> {
    if intake.place.account != own {
        tracing::info!(account = %intake.place.account, "another account's scheduled event: ignored");
        return Ok(Answer::Records(Response::default()));
    }
    match reach.sweep_queue() {
        Some((sqs, url)) => fan_out(reach, sqs, url, own, event_id).await,
        None => sweep(reach, own, &intake).await.map(Answer::Records),
    }
}

/// Sweep every place in reach in this invocation (a few at a time), each as `intake` asks (a
/// sweep): what a scheduled event without a sweep queue and the `remediate` command run.
pub async fn sweep(reach: &dyn Reach, own: &str, intake: &Intake) -> Result<Response, EngineError> {
    let places = reach.places(own).await.map_err(|e| {
        EngineError::infrastructure(format!("could not list the accounts in scope: {e}"))
    })?;
    let home = reach.home(own).place();
    let runs: Vec<Result<Response, EngineError>> = stream::iter(places)
        .map(|place| {
            let home = &home;
            async move {
                let part = Intake {
                    place: place.clone(),
                    ..intake.clone()
                };
                let run = match reach.engine(&place, own).await {
                    Ok(engine) => engine.run(&part, &place.account).await,
                    Err(e) => Err(e),
                };
                run.map_err(|e| if place == *home { e } else { e.at(&place) })
            }
        })
        .buffered(IN_PROCESS_SWEEPS)
        .collect()
        .await;
    merge(runs)
}

/// Records of several runs, in order. The first error's message, if any: invalid input first,
/// then an infrastructure failure, then unresolved resources.
pub fn merge(runs: Vec<Result<Response, EngineError>>) -> Result<Response, EngineError> {
    let mut results = Vec::new();
    let mut unresolved: Option<String> = None;
    let mut infrastructure: Option<String> = None;
    for run in runs {
        match run {
            Ok(r) => results.extend(r.results),
            Err(EngineError::Unresolved { message, response }) => {
                results.extend(response.results);
                unresolved.get_or_insert(message);
            }
            Err(EngineError::Infrastructure { message, response }) => {
                results.extend(response.results);
                infrastructure.get_or_insert(message);
            }
            Err(e @ EngineError::Intake(_)) => return Err(e),
        }
    }
    let response = Response { results };
    match (infrastructure, unresolved) {
        (Some(message), _) => Err(EngineError::Infrastructure { message, response }),
        (None, Some(message)) => Err(EngineError::Unresolved { message, response }),
        (None, None) => Ok(response),
    }
}

/// Queue one sweep job per place in reach and control; the same function runs them from the
/// queue. The deduplication id makes a retried invocation queue nothing twice.
async fn fan_out(
    reach: &dyn Reach,
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    own: &str,
    event_id: &str,
) -> Result<Answer, EngineError> {
    let places = reach.places(own).await.map_err(|e| {
        EngineError::infrastructure(format!("could not list the accounts in scope: {e}"))
    })?;
    let jobs: Vec<SweepJob> = places
        .into_iter()
        .flat_map(|place| {
            reach.specs().iter().map(move |s| SweepJob {
                account_id: place.account.clone(),
                region: place.region.clone(),
                control: s.id.to_owned(),
            })
        })
        .collect();
    for batch in jobs.chunks(SQS_BATCH) {
        let mut entries = Vec::with_capacity(batch.len());
        for (i, job) in batch.iter().enumerate() {
            let body = serde_json::to_string(job).unwrap_or_default();
            let dedup: String = format!(
                "{}-{}-{}-{event_id}",
                job.account_id, job.region, job.control
            )
            .chars()
            .take(128)
            .collect();
            let entry = aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .message_group_id(&job.account_id)
                .message_deduplication_id(dedup)
                .build()
                .map_err(|e| EngineError::infrastructure(format!("sweep job not queued: {e}")))?;
            entries.push(entry);
        }
        let out = sqs
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                EngineError::infrastructure(format!(
                    "sweep jobs not queued: {}",
                    AwsError::from_sdk(SEND_SWEEPS.permission, e)
                ))
            })?;
        if let Some(failed) = out.failed().first() {
            return Err(EngineError::infrastructure(format!(
                "{} sweep job(s) not queued: {}",
                out.failed().len(),
                failed.message().unwrap_or(failed.code())
            )));
        }
    }
    tracing::info!(jobs = jobs.len(), "sweep fanned out");
    Ok(Answer::Queued { jobs: jobs.len() })
}

/// Run sweep jobs from the queue. Jobs of one account (one FIFO message group) run in order, and
/// after one fails the rest of its group is returned unprocessed, as Lambda requires for FIFO
/// queues; other accounts' jobs are not held up by it. A message that is not a job of this
/// function is returned too, so it ends in the queue's dead-letter queue, where it can be seen.
async fn run_jobs(reach: &dyn Reach, jobs: Vec<Job>, own: &str) -> Answer {
    let mut groups: std::collections::BTreeMap<String, Vec<Job>> = Default::default();
    for job in jobs {
        groups.entry(job.group.clone()).or_default().push(job);
    }
    let outcomes: Vec<(Vec<String>, Vec<OutcomeRecord>)> = stream::iter(groups.into_values())
        .map(|group| async move {
            let mut failed = Vec::new();
            let mut records = Vec::new();
            for job in group {
                if !failed.is_empty() {
                    failed.push(job.message_id);
                    continue;
                }
                match run_job(reach, &job, own).await {
                    Ok(r) => records.extend(r),
                    // Not a job of this function (a malformed body, an unknown control): no retry
                    // makes it one, so it is dropped with its reason instead of waiting three
                    // receives for the dead-letter queue; the group's later jobs still run.
                    Err(EngineError::Intake(e)) => {
                        tracing::error!(message_id = %job.message_id, error = %e, "sweep job refused: not a job of this function, dropped");
                    }
                    Err(e) => {
                        tracing::warn!(message_id = %job.message_id, error = %e, "sweep job failed: returned to the queue");
                        records.extend(e.response().map(|r| r.results.clone()).unwrap_or_default());
                        failed.push(job.message_id);
                    }
                }
            }
            (failed, records)
        })
        .buffer_unordered(IN_PROCESS_SWEEPS)
        .collect()
        .await;
    let mut failures = SqsBatchResponse::default();
    let mut records = Vec::new();
    for (failed, r) in outcomes {
        for id in failed {
            failures.add_failure(id);
        }
        records.extend(r);
    }
    Answer::Jobs { failures, records }
}

/// One sweep job; `Err` returns the message to the queue.
async fn run_job(
    reach: &dyn Reach,
    job: &Job,
    own: &str,
) -> Result<Vec<OutcomeRecord>, EngineError> {
    let (place, control) = job.work.clone()?;
    match reach.outside(&place, own).await {
        Ok(Some(why)) => {
            tracing::info!(place = %place, reason = %why, "sweep job not in reach: skipped");
            return Ok(Vec::new());
        }
        Ok(None) => {}
        Err(e) => {
            return Err(EngineError::infrastructure(format!(
                "could not list the accounts in scope: {e}"
            )))
        }
    }
    let trigger = Trigger {
        source: "sweep-queue",
        ..Trigger::default()
    };
    let intake = Intake::sweep(trigger, vec![control], false, place.clone());
    let engine = reach.engine(&place, own).await?;
    engine.run(&intake, &place.account).await.map(|r| r.results)
}

/// A function without a hub: its own account and its engine's region.
impl Reach for Engine {
    fn home(&self, own: &str) -> Home {
        Home::new(
            Scope::new(own, self.region()).with_own_role(self.settings().own_role_arn.clone()),
        )
    }

    fn specs(&self) -> &[&'static ControlSpec] {
        Engine::specs(self)
    }

    fn account_id(&self) -> Option<&str> {
        self.settings().account_id.as_deref()
    }

    fn outside<'a>(
        &'a self,
        place: &'a Place,
        own: &'a str,
    ) -> BoxFuture<'a, Result<Option<Outside>, AwsError>> {
        Box::pin(std::future::ready(Ok(self.home(own).outside(place))))
    }

    fn places<'a>(&'a self, own: &'a str) -> BoxFuture<'a, Result<Vec<Place>, AwsError>> {
        Box::pin(std::future::ready(Ok(vec![Place::new(own, self.region())])))
    }

    fn engine<'a>(
        &'a self,
        _place: &'a Place,
        _own: &'a str,
    ) -> BoxFuture<'a, Result<EngineRef<'a>, EngineError>> {
        Box::pin(std::future::ready(Ok(EngineRef::Borrowed(self))))
    }

    fn governance(&self) -> Option<&crate::governance::Governance> {
        Engine::governance(self)
    }
}

impl Engine {
    /// Handle one event for the function running in `account` (the dispatcher with this engine as
    /// its one account and region).
    pub async fn handle(&self, event: &Value, account: &str) -> Result<Response, EngineError> {
        match handle(self, event, account).await? {
            Answer::Records(response) => Ok(response),
            Answer::Queued { .. } => Ok(Response::default()),
            Answer::Jobs { failures, records } => {
                let response = Response { results: records };
                match failures.batch_item_failures.len() {
                    0 => Ok(response),
                    n => Err(EngineError::Unresolved {
                        message: format!("{n} sweep job(s) failed"),
                        response,
                    }),
                }
            }
        }
    }
}

#[cfg(all(test, feature = "s3"))]
mod tests;
