//! The hub: one deployment of a function acting in every account and region of its scope — the
//! dispatcher's ([`crate::dispatch`]) [`Reach`] across an organization.
//!
//! ```text
//! event ──dispatcher──▶ (account, region) groups ──in scope?──▶ engine of that account and region
//!                            │ no: ignored, no call            (clients with the member role's
//!                            ▼                                   credentials, cached per account)
//! scheduled sweep ──▶ one SQS message per (account, region, control) ──▶ the same function, per job
//! ```
//!
//! Each (account, region) gets its own [`Engine`], built once by the function's registry entry
//! from clients acting there: the hub's own role in its own account, the member role
//! (`MEMBER_ROLE_NAME`, assumed with STS, credentials cached until shortly before they expire)
//! elsewhere. Nothing here is a scheduler: accounts come from AWS Organizations, fan-out is an SQS
//! FIFO queue (one message group per account, so one account's jobs run one at a time and a
//! throttled account retries alone), retries and the dead-letter queue are Lambda's.

mod scope;

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::sts::AssumeRoleProvider;
use aws_types::region::Region;
use aws_types::sdk_config::SharedCredentialsProvider;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::aws::{AwsError, Operation};
use crate::clients::AwsClients;
use crate::control::ControlSpec;
use crate::dispatch::{self, EngineRef, Reach};
use crate::engine::Engine;
use crate::error::{EngineError, SettingsError};
use crate::intake::{Home, Intake, Outside};
use crate::outcome::{Response, Trigger};
use crate::resource::{Place, Scope};
use crate::settings::Settings;

pub use crate::dispatch::Answer;
pub use crate::dispatch::SEND_SWEEPS;
pub use crate::event::sweep::SweepJob;
pub use scope::{AccountScope, HubSettings, ASSUME_ROLE, DESCRIBE_ORGANIZATION};

/// Builds a function's engine from its settings and the clients of one account and region (the
/// account and region, for settings that name them with `{account}` and `{region}`).
pub type Build =
    Arc<dyn Fn(Settings, &AwsClients, &str, &str) -> Result<Engine, SettingsError> + Send + Sync>;

/// The account the settings are checked with at init, before any event names the hub's own.
const ANY_ACCOUNT: &str = "000000000000";

/// Where an engine acts: (account — `None` for the hub's own —, region).
type EngineKey = (Option<String>, String);

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
    engines: tokio::sync::Mutex<HashMap<EngineKey, Arc<Engine>>>,
    sqs: Option<aws_sdk_sqs::Client>,
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

    /// Handle one event for the hub running in account `own`.
    pub async fn handle(&self, event: &Value, own: &str) -> Result<Answer, EngineError> {
        dispatch::handle(self, event, own).await
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

    /// Every account and region in scope.
    async fn places(&self, own: &str) -> Result<Vec<Place>, AwsError> {
        let accounts: Vec<String> = if self.hub.member_role.is_none() {
            vec![own.to_owned()]
        } else {
            self.scope.accounts(own).await?
        };
        let regions = self.regions();
        Ok(accounts
            .iter()
            .flat_map(|a| regions.iter().map(move |r| Place::new(a, r)))
            .collect())
    }

    /// Sweep every account and region in scope in this invocation (a few at a time): what the
    /// `remediate` command runs.
    pub async fn sweep(&self, own: &str, dry_run: bool) -> Result<Response, EngineError> {
        let trigger = Trigger {
            source: "schedule",
            ..Trigger::default()
        };
        let ids = self.specs.iter().map(|s| s.id).collect();
        let intake = Intake::sweep(trigger, ids, dry_run, self.home(own).place());
        dispatch::sweep(self, own, &intake).await
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
                    EngineError::infrastructure(format!("account {account} needs MEMBER_ROLE_NAME"))
                })?;
                let credentials = self.credentials(account, &role).await;
                // The member role's own calls are what the loop breaker skips there.
                settings.own_role_arn = Some(role);
                settings.in_member_account = true;
                self.aws.acting_in(region, Some(credentials))
            }
        };
        let engine = (self.build)(settings, &aws, account, region).map_err(|e| {
            EngineError::infrastructure(format!("engine for {account}/{region} not built: {e}"))
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

/// A hub reaches every account and region of its scope, through the member role elsewhere.
impl Reach for Hub {
    fn home(&self, own: &str) -> Home {
        Home::new(
            Scope::new(own, &self.own_region).with_own_role(self.settings.own_role_arn.clone()),
        )
        .with_member_role(self.hub.member_role.clone())
    }

    fn specs(&self) -> &[&'static ControlSpec] {
        &self.specs
    }

    fn account_id(&self) -> Option<&str> {
        self.settings.account_id.as_deref()
    }

    fn outside<'a>(
        &'a self,
        place: &'a Place,
        own: &'a str,
    ) -> BoxFuture<'a, Result<Option<Outside>, AwsError>> {
        Box::pin(async move {
            Ok(self
                .outside(&place.account, &place.region, own)
                .await?
                .map(Outside::Scope))
        })
    }

    fn places<'a>(&'a self, own: &'a str) -> BoxFuture<'a, Result<Vec<Place>, AwsError>> {
        Box::pin(self.places(own))
    }

    fn engine<'a>(
        &'a self,
        place: &'a Place,
        own: &'a str,
    ) -> BoxFuture<'a, Result<EngineRef<'a>, EngineError>> {
        Box::pin(async move {
            self.engine(&place.account, &place.region, own)
                .await
                .map(EngineRef::Shared)
        })
    }

    fn governance(&self) -> Option<&crate::governance::Governance> {
        self.settings.governor.get().map(|g| g.as_ref())
    }

    fn sweep_queue(&self) -> Option<(&aws_sdk_sqs::Client, &str)> {
        let url = self.hub.sweep_queue_url.as_deref()?;
        self.sqs.as_ref().map(|sqs| (sqs, url))
    }
}
