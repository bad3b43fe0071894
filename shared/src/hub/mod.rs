//! The hub: one deployment of a function acting in every account and region of its scope.
//!
//! ```text
//! event ──route──▶ (account, region) parts ──in scope?──▶ engine of that account and region ──▶ records
//!                      │ no: ignored, no call                 (clients with the member role's
//!                      ▼                                        credentials, cached per account)
//! scheduled sweep ──▶ one SQS message per (account, region, control) ──▶ the same function, per job
//! ```
//!
//! Each (account, region) gets its own [`Engine`], built once by the function's registry entry
//! from clients acting there: the hub's own role in its own account, the member role
//! (`MEMBER_ROLE_NAME`, assumed with STS, credentials cached until shortly before they expire)
//! elsewhere. Everything the hub keeps for itself — notifications, contested counts, Security Hub
//! updates — stays in the hub's account and region. Nothing here is a scheduler: accounts come
//! from AWS Organizations, fan-out is an SQS FIFO queue (one message group per account, so one
//! account's jobs run one at a time and a throttled account retries alone), retries and the
//! dead-letter queue are Lambda's.

mod route;
mod scope;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_config::sts::AssumeRoleProvider;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsMessage};
use aws_types::region::Region;
use aws_types::sdk_config::SharedCredentialsProvider;
use futures::stream::{self, StreamExt};
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

use crate::aws::{AwsError, Operation};
use crate::clients::AwsClients;
use crate::control::ControlSpec;
use crate::engine::{invoked_account, Engine};
use crate::error::{EngineError, IntakeError, SettingsError};
use crate::outcome::{OutcomeRecord, Response};
use crate::settings::Settings;

pub use route::{route, Part, Routed, SweepJob};
pub use scope::{AccountScope, HubSettings, ASSUME_ROLE, DESCRIBE_ORGANIZATION, SEND_SWEEPS};

/// Builds a function's engine from its settings and the clients of one account and region (the
/// account and region, for settings that name them with `{account}` and `{region}`).
pub type Build =
    Arc<dyn Fn(Settings, &AwsClients, &str, &str) -> Result<Engine, SettingsError> + Send + Sync>;

/// The account the settings are checked with at init, before any event names the hub's own.
const ANY_ACCOUNT: &str = "000000000000";

/// Where an engine acts: (account — `None` for the hub's own —, region).
type Place = (Option<String>, String);

/// At most this many accounts and regions are swept at once when a sweep runs in the invocation.
const IN_PROCESS_SWEEPS: usize = 4;

/// SQS `SendMessageBatch` takes at most 10 messages.
const SQS_BATCH: usize = 10;

/// The engines of one function across its scope.
pub struct Hub {
    settings: Settings,
    hub: HubSettings,
    own_region: String,
    specs: Vec<&'static ControlSpec>,
    aws: AwsClients,
    build: Build,
    scope: AccountScope,
    /// The member role's session name: the function's name, which the member account's CloudTrail
    /// shows as `assumed-role/<role>/<function>` beside every call the hub makes there.
    session_name: String,
    credentials: tokio::sync::Mutex<HashMap<String, SharedCredentialsProvider>>,
    /// (account — `None` for the hub's own —, region) → engine.
    engines: tokio::sync::Mutex<HashMap<Place, Arc<Engine>>>,
    sqs: Option<aws_sdk_sqs::Client>,
}

/// What a hub invocation answers.
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

impl Hub {
    /// A hub for a function with these controls. Its engine in its own account and region is
    /// built here, so an invalid setting stops the function at init as it does without a hub.
    pub fn new(
        function: &str,
        settings: Settings,
        hub: HubSettings,
        aws: AwsClients,
        build: Build,
    ) -> Result<Self, SettingsError> {
        let own_region = aws.region()?;
        // Checked now, so an invalid setting stops the function at init; built for real per
        // account and region on first use.
        let probe = build(
            settings.clone(),
            &aws.acting_in(&own_region, None),
            settings.account_id.as_deref().unwrap_or(ANY_ACCOUNT),
            &own_region,
        )?;
        let specs = probe.specs().to_vec();
        let scope = AccountScope::new(&hub, aws.organizations());
        let sqs = hub.sweep_queue_url.as_ref().map(|_| aws.sqs());
        let engines = HashMap::new();
        Ok(Self {
            settings,
            hub,
            own_region,
            specs,
            aws,
            build,
            scope,
            session_name: function.chars().take(64).collect(),
            credentials: Default::default(),
            engines: tokio::sync::Mutex::new(engines),
            sqs,
        })
    }

    /// The regions acted in.
    pub fn regions(&self) -> Vec<String> {
        if self.hub.regions.is_empty() {
            vec![self.own_region.clone()]
        } else {
            self.hub.regions.clone()
        }
    }

    /// Every AWS operation the hub may call itself (its engines' are theirs).
    pub fn operations(&self) -> Vec<Operation> {
        let mut ops = self.scope.operations();
        if self.hub.member_role.is_some() {
            ops.push(ASSUME_ROLE);
        }
        if self.sqs.is_some() {
            ops.push(SEND_SWEEPS);
        }
        ops
    }

    /// The Lambda entry point (the hub's account is the one in the invoked function's ARN).
    pub async fn handle_lambda(&self, event: LambdaEvent<Value>) -> Result<Value, EngineError> {
        let own = invoked_account(
            &event.context.invoked_function_arn,
            self.settings.account_id.as_deref(),
        )?;
        let result = self.handle(&event.payload, &own).await;
        match &result {
            Ok(answer) => crate::metrics::publish(answer.records()),
            Err(EngineError::Unresolved { response, .. }) => {
                crate::metrics::publish(&response.results)
            }
            Err(EngineError::Intake(_)) => {}
        }
        result.map(|a| a.to_json())
    }

    /// Handle one event for the hub running in account `own`.
    pub async fn handle(&self, event: &Value, own: &str) -> Result<Answer, EngineError> {
        match route(event)? {
            Routed::Parts(parts) => self.parts(parts, own).await,
            Routed::Sweep => {
                let id = event
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                match &self.sqs {
                    Some(sqs) => self.fan_out(sqs, own, &id).await,
                    None => self.sweep(own, false).await.map(Answer::Records),
                }
            }
            Routed::Jobs(sqs) => Ok(self.jobs(sqs.records, own).await),
        }
    }

    /// Why (`account`, `region`) is outside the hub's scope (`None`: it is inside).
    async fn outside(
        &self,
        account: &str,
        region: &str,
        own: &str,
    ) -> Result<Option<String>, AwsError> {
        if !self.regions().iter().any(|r| r == region) {
            return Ok(Some(format!("region {region} is not in REGIONS")));
        }
        if self.hub.member_role.is_none() {
            return Ok(
                (account != own).then(|| format!("account {account} is not in the hub's scope"))
            );
        }
        if self.scope.contains(account, own).await? {
            return Ok(None);
        }
        Ok(Some(
            if self.scope.management().await.as_deref() == Some(account) {
                format!(
                    "account {account} is the organization's management account, where no member \
                     role is deployed (service-managed StackSets never deploy there)"
                )
            } else {
                format!("account {account} is not in the hub's scope")
            },
        ))
    }

    async fn parts(&self, parts: Vec<Part>, own: &str) -> Result<Answer, EngineError> {
        let mut results = Vec::new();
        let mut unresolved = None;
        for part in parts {
            let account = part.account.unwrap_or_else(|| own.to_owned());
            let region = part.region.unwrap_or_else(|| self.own_region.clone());
            match self.outside(&account, &region, own).await {
                Ok(Some(reason)) => {
                    tracing::info!(account = %account, region = %region, reason = %reason, "event outside the hub's scope: ignored");
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    unresolved.get_or_insert(format!("could not list the accounts in scope: {e}"));
                    continue;
                }
            }
            let engine = self.engine(&account, &region, own).await?;
            match engine.handle(&part.event, &account).await {
                Ok(r) => results.extend(r.results),
                Err(EngineError::Unresolved { message, response }) => {
                    results.extend(response.results);
                    unresolved.get_or_insert(format!("{account}/{region}: {message}"));
                }
                Err(e @ EngineError::Intake(_)) => return Err(e),
            }
        }
        let response = Response { results };
        match unresolved {
            None => Ok(Answer::Records(response)),
            Some(message) => Err(EngineError::Unresolved { message, response }),
        }
    }

    /// Every account and region in scope.
    async fn places(&self, own: &str) -> Result<Vec<(String, String)>, AwsError> {
        let accounts: Vec<String> = if self.hub.member_role.is_none() {
            vec![own.to_owned()]
        } else {
            self.scope.accounts(own).await?
        };
        let regions = self.regions();
        Ok(accounts
            .iter()
            .flat_map(|a| regions.iter().map(move |r| (a.clone(), r.clone())))
            .collect())
    }

    /// Sweep every account and region in scope in this invocation (a few at a time): what the
    /// `remediate` command and a hub without a sweep queue run.
    pub async fn sweep(&self, own: &str, dry_run: bool) -> Result<Response, EngineError> {
        let places = self
            .places(own)
            .await
            .map_err(|e| EngineError::Unresolved {
                message: format!("could not list the accounts in scope: {e}"),
                response: Response::default(),
            })?;
        let ids: Vec<&'static str> = self.specs.iter().map(|s| s.id).collect();
        let runs: Vec<Result<Response, EngineError>> = stream::iter(places)
            .map(|(account, region)| {
                let ids = ids.clone();
                async move {
                    let engine = self.engine(&account, &region, own).await?;
                    engine
                        .sweep_controls(&account, "schedule", ids, dry_run)
                        .await
                }
            })
            .buffered(IN_PROCESS_SWEEPS)
            .collect()
            .await;
        merge(runs)
    }

    /// Queue one sweep job per account, region and control; the same function runs them from
    /// the queue. The deduplication id makes a retried invocation queue nothing twice.
    async fn fan_out(
        &self,
        sqs: &aws_sdk_sqs::Client,
        own: &str,
        event_id: &str,
    ) -> Result<Answer, EngineError> {
        let unresolved = |message: String| EngineError::Unresolved {
            message,
            response: Response::default(),
        };
        let places = self
            .places(own)
            .await
            .map_err(|e| unresolved(format!("could not list the accounts in scope: {e}")))?;
        let jobs: Vec<SweepJob> = places
            .into_iter()
            .flat_map(|(account_id, region)| {
                self.specs.iter().map(move |s| SweepJob {
                    account_id: account_id.clone(),
                    region: region.clone(),
                    control: s.id.to_owned(),
                })
            })
            .collect();
        let url = self.hub.sweep_queue_url.clone().unwrap_or_default();
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
                    .map_err(|e| unresolved(format!("sweep job not queued: {e}")))?;
                entries.push(entry);
            }
            let out = sqs
                .send_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    unresolved(format!(
                        "sweep jobs not queued: {}",
                        AwsError::from_sdk(SEND_SWEEPS.permission, e)
                    ))
                })?;
            if let Some(failed) = out.failed().first() {
                return Err(unresolved(format!(
                    "{} sweep job(s) not queued: {}",
                    out.failed().len(),
                    failed.message().unwrap_or(failed.code())
                )));
            }
        }
        tracing::info!(jobs = jobs.len(), "sweep fanned out");
        Ok(Answer::Queued { jobs: jobs.len() })
    }

    /// Run sweep jobs from the queue. Jobs of one account (one FIFO message group) run in order,
    /// and after one fails the rest of its group is returned unprocessed, as Lambda requires for
    /// FIFO queues; other accounts' jobs are not held up by it.
    async fn jobs(&self, messages: Vec<SqsMessage>, own: &str) -> Answer {
        let mut groups: BTreeMap<String, Vec<SqsMessage>> = BTreeMap::new();
        for m in messages {
            let group = m
                .attributes
                .get("MessageGroupId")
                .cloned()
                .unwrap_or_default();
            groups.entry(group).or_default().push(m);
        }
        let outcomes: Vec<(Vec<String>, Vec<OutcomeRecord>)> = stream::iter(groups.into_values())
            .map(|group| async move {
                let mut failed = Vec::new();
                let mut records = Vec::new();
                for m in group {
                    let id = m.message_id.clone().unwrap_or_default();
                    if !failed.is_empty() {
                        failed.push(id);
                        continue;
                    }
                    match self.job(m.body.as_deref().unwrap_or_default(), own).await {
                        Ok(r) => records.extend(r),
                        Err((message, r)) => {
                            tracing::warn!(message_id = %id, error = %message, "sweep job failed: returned to the queue");
                            records.extend(r);
                            failed.push(id);
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
    async fn job(
        &self,
        body: &str,
        own: &str,
    ) -> Result<Vec<OutcomeRecord>, (String, Vec<OutcomeRecord>)> {
        let job: SweepJob = serde_json::from_str(body)
            .map_err(|e| (format!("not a sweep job: {e}"), Vec::new()))?;
        let Some(control) = self
            .specs
            .iter()
            .map(|s| s.id)
            .find(|id| *id == job.control)
        else {
            return Err((
                format!("no control `{}` in this function", job.control),
                Vec::new(),
            ));
        };
        match self.outside(&job.account_id, &job.region, own).await {
            Ok(Some(reason)) => {
                tracing::info!(reason = %reason, "sweep job outside the hub's scope: skipped");
                return Ok(Vec::new());
            }
            Ok(None) => {}
            Err(e) => {
                return Err((
                    format!("could not list the accounts in scope: {e}"),
                    Vec::new(),
                ))
            }
        }
        let engine = self
            .engine(&job.account_id, &job.region, own)
            .await
            .map_err(|e| (e.to_string(), Vec::new()))?;
        match engine
            .sweep_controls(&job.account_id, "sweep-queue", vec![control], false)
            .await
        {
            Ok(r) => Ok(r.results),
            Err(EngineError::Unresolved { message, response }) => Err((message, response.results)),
            Err(e) => Err((e.to_string(), Vec::new())),
        }
    }

    /// The engine acting in `account` and `region`, built on first use.
    async fn engine(
        &self,
        account: &str,
        region: &str,
        own: &str,
    ) -> Result<Arc<Engine>, EngineError> {
        let key = (
            (account != own).then(|| account.to_owned()),
            region.to_owned(),
        );
        let mut engines = self.engines.lock().await;
        if let Some(engine) = engines.get(&key) {
            return Ok(engine.clone());
        }
        let mut settings = self.settings.clone();
        let aws = match &key.0 {
            None => self.aws.acting_in(region, None),
            Some(account) => {
                let role = self.hub.member_role_arn(account, region).ok_or_else(|| {
                    IntakeError::Malformed(format!("account {account} needs MEMBER_ROLE_NAME"))
                })?;
                let credentials = self.credentials(account, &role).await;
                // The member role's own calls are what the loop breaker skips there.
                settings.own_role_arn = Some(role);
                self.aws.acting_in(region, Some(credentials))
            }
        };
        let engine =
            (self.build)(settings, &aws, account, region).map_err(|e| EngineError::Unresolved {
                message: format!("engine for {account}/{region} not built: {e}"),
                response: Response::default(),
            })?;
        let engine = Arc::new(engine);
        engines.insert(key, engine.clone());
        Ok(engine)
    }

    /// The member role's credentials in `account`: one provider per account, shared by every
    /// region's clients, so the SDK's identity cache keeps one session per account and renews
    /// it shortly before it expires.
    async fn credentials(&self, account: &str, role: &str) -> SharedCredentialsProvider {
        let mut all = self.credentials.lock().await;
        if let Some(c) = all.get(account) {
            return c.clone();
        }
        let provider = AssumeRoleProvider::builder(role)
            .session_name(&self.session_name)
            .region(Region::new(self.own_region.clone()))
            .configure(self.aws.sdk_config())
            .build()
            .await;
        let shared = SharedCredentialsProvider::new(provider);
        all.insert(account.to_owned(), shared.clone());
        shared
    }
}

/// Records of several runs; the first unresolved message, if any.
fn merge(runs: Vec<Result<Response, EngineError>>) -> Result<Response, EngineError> {
    let mut results = Vec::new();
    let mut unresolved = None;
    for run in runs {
        match run {
            Ok(r) => results.extend(r.results),
            Err(EngineError::Unresolved { message, response }) => {
                results.extend(response.results);
                unresolved.get_or_insert(message);
            }
            Err(e) => {
                unresolved.get_or_insert(e.to_string());
            }
        }
    }
    let response = Response { results };
    match unresolved {
        None => Ok(response),
        Some(message) => Err(EngineError::Unresolved { message, response }),
    }
}
