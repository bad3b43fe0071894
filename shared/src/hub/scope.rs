//! Where a hub acts: its settings (`MEMBER_ROLE_NAME`, `REGIONS`, `ORGANIZATIONAL_UNITS`,
//! `EXCLUDED_ACCOUNTS`, `SWEEP_QUEUE_URL`) and the organization's accounts in scope, listed with
//! AWS Organizations and cached for the life of the process (refreshed every
//! [`AccountScope::REFRESH`], or sooner when an event names an account not yet seen). The
//! organization's management account is never in scope unless it is the hub's own: service-managed
//! StackSets never deploy the member role there (CloudFormation `DeploymentTargets`), so every call
//! through it would be denied.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::aws::{AwsError, IamResource, Operation};
use crate::env::{optional, Lookup};
use crate::error::SettingsError;
use crate::resource::{is_account_id, is_parent_id, is_region, partition_of};

pub const LIST_ACCOUNTS: Operation = Operation {
    service: "organizations",
    api: "ListAccounts",
    permission: "organizations:ListAccounts",
    resource: IamResource::None,
    implies: &[],
};
pub const LIST_ACCOUNTS_FOR_PARENT: Operation = Operation {
    service: "organizations",
    api: "ListAccountsForParent",
    permission: "organizations:ListAccountsForParent",
    resource: IamResource::Unknowable(
        "the OU and root ARNs name the management account, which the hub's stack does not know",
    ),
    implies: &[],
};
pub const LIST_CHILD_UNITS: Operation = Operation {
    service: "organizations",
    api: "ListOrganizationalUnitsForParent",
    permission: "organizations:ListOrganizationalUnitsForParent",
    resource: IamResource::Unknowable(
        "the OU and root ARNs name the management account, which the hub's stack does not know",
    ),
    implies: &[],
};
/// The organization's management account (`Organization.MasterAccountId`), asked once per
/// process. IAM has no resource type for it: granted on `*`.
pub const DESCRIBE_ORGANIZATION: Operation = Operation {
    service: "organizations",
    api: "DescribeOrganization",
    permission: "organizations:DescribeOrganization",
    resource: IamResource::None,
    implies: &[],
};
pub const ASSUME_ROLE: Operation = Operation {
    service: "sts",
    api: "AssumeRole",
    permission: "sts:AssumeRole",
    resource: IamResource::Arn("arn:{partition}:iam::*:role/*"),
    implies: &[],
};

/// A hub's settings. Absent (`None` from [`HubSettings::from_lookup`]) when neither
/// `MEMBER_ROLE_NAME` nor `REGIONS` is set: the function then acts in its own account and region,
/// exactly as a single-account deployment does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSettings {
    /// `MEMBER_ROLE_NAME`: the role assumed in member accounts, optionally with its path, given as
    /// `name`, `path/name`, `/name` or `/path/name` and kept as `name` or `path/name` (what follows
    /// `:role/` in its ARN). Unset: the hub's own account only (in every region of `regions`).
    pub member_role: Option<String>,
    /// `REGIONS`: the regions acted in (default: the function's own).
    pub regions: Vec<String>,
    /// `ORGANIZATIONAL_UNITS`: OU (or root) ids; the accounts under them, at any depth, are in
    /// scope. Empty: every account of the organization.
    pub organizational_units: Vec<String>,
    /// `EXCLUDED_ACCOUNTS`: never acted in, never assumed into.
    pub excluded_accounts: Vec<String>,
    /// `SWEEP_QUEUE_URL`: the FIFO queue a scheduled sweep fans out through (one message per
    /// account, region and control). Unset: the sweep runs in the invocation.
    pub sweep_queue_url: Option<String>,
}

fn list(env: &dyn Lookup, name: &str) -> Vec<String> {
    optional(env, name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// IAM's limits (IAM API reference, `CreateRole`): a role name is 1-64 characters, a path (with its
/// leading and trailing `/`) at most 512.
const ROLE_NAME_MAX: usize = 64;
const ROLE_PATH_MAX: usize = 512;

/// An IAM role name with an optional path, normalized to `name` or `path/.../name` (what follows
/// `:role/` in its ARN); `None` when it is not one. Accepted: `name`, `path/name`, and IAM's own
/// form `/name`, `/path/name` (the member template's `${MemberRolePath}${MemberRoleName}`). Every
/// segment uses the role-name characters `[\w+=,.@-]` (a narrower set than IAM allows in paths:
/// no `*` or `?`, which would be wildcards in the policies naming the role), none is empty.
fn role_name(value: &str) -> Option<String> {
    let relative = value.strip_prefix('/').unwrap_or(value);
    let allowed = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
    };
    let (path_ok, name) = match relative.rsplit_once('/') {
        // The path as IAM writes it, `/segment/.../`, is the segments and two slashes.
        Some((path, name)) => (
            path.split('/').all(allowed) && path.len() + 2 <= ROLE_PATH_MAX,
            name,
        ),
        None => (true, relative),
    };
    (path_ok && allowed(name) && name.len() <= ROLE_NAME_MAX).then(|| relative.to_owned())
}

impl HubSettings {
    pub fn from_lookup(env: &dyn Lookup) -> Result<Option<Self>, SettingsError> {
        let member_role = match optional(env, "MEMBER_ROLE_NAME") {
            None => None,
            Some(r) => Some(role_name(&r).ok_or_else(|| {
                SettingsError::new(
                    "MEMBER_ROLE_NAME",
                    &r,
                    "expected an IAM role name (at most 64 characters), optionally with its path \
                     (`path/name` or IAM's `/path/name`, the path at most 512 characters)",
                )
            })?),
        };
        let regions = list(env, "REGIONS");
        if let Some(r) = regions.iter().find(|r| !is_region(r)) {
            return Err(SettingsError::new(
                "REGIONS",
                r,
                "expected region names such as `us-east-1`, separated by commas",
            ));
        }
        let organizational_units = list(env, "ORGANIZATIONAL_UNITS");
        if let Some(ou) = organizational_units.iter().find(|o| !is_parent_id(o)) {
            return Err(SettingsError::new(
                "ORGANIZATIONAL_UNITS",
                ou,
                "expected organizational unit ids (`ou-…`) or a root id (`r-…`)",
            ));
        }
        let excluded_accounts = list(env, "EXCLUDED_ACCOUNTS");
        if let Some(a) = excluded_accounts.iter().find(|a| !is_account_id(a)) {
            return Err(SettingsError::new(
                "EXCLUDED_ACCOUNTS",
                a,
                "expected 12-digit account ids",
            ));
        }
        let sweep_queue_url = optional(env, "SWEEP_QUEUE_URL");
        if let Some(u) = sweep_queue_url
            .as_deref()
            .filter(|u| !(u.starts_with("https://") || u.starts_with("http://")))
        {
            return Err(SettingsError::new(
                "SWEEP_QUEUE_URL",
                u,
                "expected an SQS queue URL",
            ));
        }
        if member_role.is_none() {
            for (name, set) in [
                ("ORGANIZATIONAL_UNITS", !organizational_units.is_empty()),
                ("EXCLUDED_ACCOUNTS", !excluded_accounts.is_empty()),
            ] {
                if set {
                    return Err(SettingsError::new(
                        name,
                        &optional(env, name).unwrap_or_default(),
                        "needs MEMBER_ROLE_NAME (without it the function acts in its own account only)",
                    ));
                }
            }
            if regions.is_empty() {
                return Ok(None);
            }
        }
        Ok(Some(Self {
            member_role,
            regions,
            organizational_units,
            excluded_accounts,
            sweep_queue_url,
        }))
    }

    /// The member role's ARN in `account`.
    pub fn member_role_arn(&self, account: &str, region: &str) -> Option<String> {
        self.member_role
            .as_ref()
            .map(|name| format!("arn:{}:iam::{account}:role/{name}", partition_of(region)))
    }
}

/// The accounts in scope: the organization's ACTIVE accounts (under the OUs, when set) minus the
/// excluded ones and — unless the hub runs in it — the management account. (Without a member
/// role the hub acts in its own account only and never asks.)
pub struct AccountScope {
    organizations: Option<aws_sdk_organizations::Client>,
    organizational_units: Vec<String>,
    excluded: Vec<String>,
    cache: tokio::sync::Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    /// The last listing (excluded accounts already removed; the management account not) and when.
    listing: Option<(Instant, Arc<BTreeSet<String>>)>,
    /// The management account: an organization's never changes, so it is asked once.
    management: Option<String>,
}

/// Whether a listed `account` is acted in by a hub running in `own`: every one but the
/// management account, which only a hub running in it acts in (with its own role).
fn acted_in(account: &str, management: Option<&str>, own: &str) -> bool {
    management != Some(account) || account == own
}

impl AccountScope {
    /// How long a listing is used before it is listed again.
    pub const REFRESH: Duration = Duration::from_secs(15 * 60);
    /// An account not in the listing is looked for again at most this often.
    pub const RELIST_FOR_UNKNOWN: Duration = Duration::from_secs(60);

    pub fn new(settings: &HubSettings, organizations: aws_sdk_organizations::Client) -> Self {
        Self {
            organizations: settings.member_role.is_some().then_some(organizations),
            organizational_units: settings.organizational_units.clone(),
            excluded: settings.excluded_accounts.clone(),
            cache: tokio::sync::Mutex::new(Cache::default()),
        }
    }

    /// The operations listing the scope calls.
    pub fn operations(&self) -> Vec<Operation> {
        match (&self.organizations, self.organizational_units.is_empty()) {
            (None, _) => Vec::new(),
            (Some(_), true) => vec![DESCRIBE_ORGANIZATION, LIST_ACCOUNTS],
            (Some(_), false) => vec![
                DESCRIBE_ORGANIZATION,
                LIST_ACCOUNTS_FOR_PARENT,
                LIST_CHILD_UNITS,
            ],
        }
    }

    /// Every account in scope for a hub running in `own` (listed at most once per
    /// [`Self::REFRESH`]).
    pub async fn accounts(&self, own: &str) -> Result<Vec<String>, AwsError> {
        let (accounts, management) = self.listing(Self::REFRESH).await?;
        Ok(accounts
            .iter()
            .filter(|a| acted_in(a, management.as_deref(), own))
            .cloned()
            .collect())
    }

    /// Whether `account` is in scope for a hub running in `own`. An account the listing does not
    /// have is looked for once more when the listing is older than [`Self::RELIST_FOR_UNKNOWN`]
    /// (a new account is covered within a minute, and unknown accounts cannot make the hub list
    /// on every event).
    pub async fn contains(&self, account: &str, own: &str) -> Result<bool, AwsError> {
        if self.excluded.iter().any(|a| a == account) {
            return Ok(false);
        }
        let (accounts, management) = self.listing(Self::REFRESH).await?;
        if accounts.contains(account) {
            return Ok(acted_in(account, management.as_deref(), own));
        }
        let (accounts, management) = self.listing(Self::RELIST_FOR_UNKNOWN).await?;
        Ok(accounts.contains(account) && acted_in(account, management.as_deref(), own))
    }

    /// The organization's management account, when it has been learnt.
    pub async fn management(&self) -> Option<String> {
        self.cache.lock().await.management.clone()
    }

    async fn listing(
        &self,
        max_age: Duration,
    ) -> Result<(Arc<BTreeSet<String>>, Option<String>), AwsError> {
        let mut cache = self.cache.lock().await;
        if let Some((at, accounts)) = cache.listing.as_ref() {
            if at.elapsed() < max_age {
                return Ok((accounts.clone(), cache.management.clone()));
            }
        }
        let Some(client) = &self.organizations else {
            return Ok((Arc::new(BTreeSet::new()), None));
        };
        if cache.management.is_none() {
            cache.management = Some(management_account(client).await?);
        }
        let mut accounts = if self.organizational_units.is_empty() {
            all_accounts(client).await?
        } else {
            accounts_under(client, &self.organizational_units).await?
        };
        accounts.retain(|a| !self.excluded.contains(a));
        tracing::info!(
            accounts = accounts.len(),
            management = cache.management.as_deref().unwrap_or_default(),
            "accounts in scope listed"
        );
        let accounts = Arc::new(accounts);
        cache.listing = Some((Instant::now(), accounts.clone()));
        Ok((accounts, cache.management.clone()))
    }
}

/// `DescribeOrganization`'s `Organization.MasterAccountId`.
async fn management_account(client: &aws_sdk_organizations::Client) -> Result<String, AwsError> {
    let out = client
        .describe_organization()
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(DESCRIBE_ORGANIZATION.permission, e))?;
    out.organization()
        .and_then(|o| o.master_account_id())
        .map(str::to_owned)
        .ok_or_else(|| {
            AwsError::new(
                crate::aws::AwsErrorKind::Other,
                DESCRIBE_ORGANIZATION.permission,
                "DescribeOrganization returned no management account (MasterAccountId)",
            )
        })
}

fn active(account: &aws_sdk_organizations::types::Account) -> bool {
    use aws_sdk_organizations::types::{AccountState, AccountStatus};
    match (account.state(), account.status()) {
        (Some(state), _) => *state == AccountState::Active,
        (None, Some(status)) => *status == AccountStatus::Active,
        (None, None) => false,
    }
}

async fn all_accounts(
    client: &aws_sdk_organizations::Client,
) -> Result<BTreeSet<String>, AwsError> {
    let mut pages = client.list_accounts().into_paginator().send();
    let mut accounts = BTreeSet::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk(LIST_ACCOUNTS.permission, e))?;
        accounts.extend(
            page.accounts()
                .iter()
                .filter(|a| active(a))
                .filter_map(|a| a.id().map(str::to_owned)),
        );
    }
    Ok(accounts)
}

/// The ACTIVE accounts under `parents`, at any depth.
async fn accounts_under(
    client: &aws_sdk_organizations::Client,
    parents: &[String],
) -> Result<BTreeSet<String>, AwsError> {
    let mut accounts = BTreeSet::new();
    let mut queue: Vec<String> = parents.to_vec();
    let mut seen = BTreeSet::new();
    while let Some(parent) = queue.pop() {
        if !seen.insert(parent.clone()) {
            continue;
        }
        let mut pages = client
            .list_accounts_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| AwsError::from_sdk(LIST_ACCOUNTS_FOR_PARENT.permission, e))?;
            accounts.extend(
                page.accounts()
                    .iter()
                    .filter(|a| active(a))
                    .filter_map(|a| a.id().map(str::to_owned)),
            );
        }
        let mut units = client
            .list_organizational_units_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send();
        while let Some(page) = units.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(LIST_CHILD_UNITS.permission, e))?;
            queue.extend(
                page.organizational_units()
                    .iter()
                    .filter_map(|u| u.id().map(str::to_owned)),
            );
        }
    }
    Ok(accounts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Option<HubSettings>, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HubSettings::from_lookup(&move |k: &str| map.get(k).cloned())
    }

    #[test]
    fn the_management_account_only_for_a_hub_running_in_it() {
        let management = Some("111111111111");
        assert!(!acted_in("111111111111", management, "222222222222"));
        assert!(acted_in("333333333333", management, "222222222222"));
        assert!(acted_in("222222222222", management, "222222222222"));
        assert!(acted_in("111111111111", management, "111111111111"));
        assert!(acted_in("111111111111", None, "222222222222"));
    }

    #[test]
    fn unset_is_a_single_account_deployment() {
        assert_eq!(settings(&[]).unwrap(), None);
        assert_eq!(settings(&[("MEMBER_ROLE_NAME", "")]).unwrap(), None);
    }

    #[test]
    fn a_hub_with_its_scope() {
        let hub = settings(&[
            ("MEMBER_ROLE_NAME", "security/ai-guard-member"),
            ("REGIONS", "us-east-1, eu-west-1"),
            ("ORGANIZATIONAL_UNITS", "ou-ab12-cdefgh34,r-ab12"),
            ("EXCLUDED_ACCOUNTS", "111111111111"),
            (
                "SWEEP_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/1/q.fifo",
            ),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(hub.regions, ["us-east-1", "eu-west-1"]);
        assert_eq!(hub.organizational_units.len(), 2);
        assert_eq!(
            hub.member_role_arn("222222222222", "cn-north-1").as_deref(),
            Some("arn:aws-cn:iam::222222222222:role/security/ai-guard-member")
        );
        // Regions alone: the own account in several regions.
        let regional = settings(&[("REGIONS", "eu-west-1")]).unwrap().unwrap();
        assert_eq!(regional.member_role, None);
        assert_eq!(regional.member_role_arn("222222222222", "eu-west-1"), None);
    }

    #[test]
    fn role_paths_in_iams_own_form_are_accepted_and_normalized() {
        for (given, kept) in [
            ("ai-guard-member", "ai-guard-member"),
            ("/ai-guard-member", "ai-guard-member"),
            ("security/ai-guard-member", "security/ai-guard-member"),
            ("/security/ai-guard-member", "security/ai-guard-member"),
            ("/a/b/c", "a/b/c"),
        ] {
            let hub = settings(&[("MEMBER_ROLE_NAME", given)]).unwrap().unwrap();
            assert_eq!(hub.member_role.as_deref(), Some(kept), "{given}");
            assert_eq!(
                hub.member_role_arn("222222222222", "us-east-1"),
                Some(format!("arn:aws:iam::222222222222:role/{kept}")),
                "{given}"
            );
        }
        // IAM's limits, exactly: a 64-character name; a path of 512 with its two slashes.
        let name = "n".repeat(64);
        let path = "p".repeat(510);
        for given in [
            name.clone(),
            format!("/{path}/{name}"),
            format!("{path}/{name}"),
        ] {
            assert!(settings(&[("MEMBER_ROLE_NAME", &given)]).is_ok(), "{given}");
        }
    }

    #[test]
    fn invalid_values_refuse_to_start() {
        let long_name = format!("/security/{}", "n".repeat(65));
        let long_path = format!("/{}/member", "p".repeat(511));
        for (pairs, name) in [
            (
                vec![("MEMBER_ROLE_NAME", "arn:aws:iam::1:role/x")],
                "MEMBER_ROLE_NAME",
            ),
            (vec![("MEMBER_ROLE_NAME", "//x")], "MEMBER_ROLE_NAME"),
            (vec![("MEMBER_ROLE_NAME", "/x/")], "MEMBER_ROLE_NAME"),
            (vec![("MEMBER_ROLE_NAME", "/")], "MEMBER_ROLE_NAME"),
            (vec![("MEMBER_ROLE_NAME", "a//b")], "MEMBER_ROLE_NAME"),
            (vec![("MEMBER_ROLE_NAME", "/a/*/b")], "MEMBER_ROLE_NAME"),
            (vec![("MEMBER_ROLE_NAME", "a b")], "MEMBER_ROLE_NAME"),
            (
                vec![("MEMBER_ROLE_NAME", long_name.as_str())],
                "MEMBER_ROLE_NAME",
            ),
            (
                vec![("MEMBER_ROLE_NAME", long_path.as_str())],
                "MEMBER_ROLE_NAME",
            ),
            (vec![("REGIONS", "us-east-1,Europe")], "REGIONS"),
            (vec![("REGIONS", "useast1")], "REGIONS"),
            (
                vec![("MEMBER_ROLE_NAME", "r"), ("ORGANIZATIONAL_UNITS", "ou-1")],
                "ORGANIZATIONAL_UNITS",
            ),
            (
                vec![("MEMBER_ROLE_NAME", "r"), ("EXCLUDED_ACCOUNTS", "12345")],
                "EXCLUDED_ACCOUNTS",
            ),
            (
                vec![("ORGANIZATIONAL_UNITS", "r-ab12")],
                "ORGANIZATIONAL_UNITS",
            ),
            (
                vec![("EXCLUDED_ACCOUNTS", "111111111111")],
                "EXCLUDED_ACCOUNTS",
            ),
            (
                vec![("REGIONS", "us-east-1"), ("SWEEP_QUEUE_URL", "q.fifo")],
                "SWEEP_QUEUE_URL",
            ),
        ] {
            let err = settings(&pairs).unwrap_err();
            assert_eq!(err.name, name, "{err}");
        }
    }
}
