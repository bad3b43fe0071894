//! Governed remediation: the remediation policy document read from its store (SSM Parameter
//! Store), cached, and the last good one kept when a new version is invalid; and the proposals that
//! wait for a human's approval (a DynamoDB table).
//!
//! Why Parameter Store: changing the document needs no stack or function update; every version
//! is kept (the last valid one is found again after a cold start); who may change it is an IAM
//! question on one parameter ARN; and it is one `GetParameter` per cache lifetime. AWS AppConfig
//! would add a JSON Schema validator at deployment time and gradual rollout, but needs its Lambda
//! extension (a binary layer) or a session API per function, and the document is checked here by
//! the same code that acts on it, so an invalid version is refused by the reader either way.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_ssm::types::ParameterType;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::aws::{AwsError, AwsErrorKind, IamResource, Operation};
use crate::env::{optional, parse_number, Lookup};
use crate::error::SettingsError;
use crate::policy::{Mode, Policy, PolicyError};

pub const GET_PARAMETER: Operation = Operation {
    service: "ssm",
    api: "GetParameter",
    permission: "ssm:GetParameter",
    resource: IamResource::Arn("arn:{partition}:ssm:{region}:{account}:parameter/*"),
    implies: &[],
};
pub const GET_PARAMETER_HISTORY: Operation = Operation {
    service: "ssm",
    api: "GetParameterHistory",
    permission: "ssm:GetParameterHistory",
    resource: IamResource::Arn("arn:{partition}:ssm:{region}:{account}:parameter/*"),
    implies: &[],
};
pub const GET_PROPOSAL: Operation = Operation {
    service: "dynamodb",
    api: "GetItem",
    permission: "dynamodb:GetItem",
    resource: IamResource::Arn("arn:{partition}:dynamodb:{region}:{account}:table/*"),
    implies: &[],
};
pub const PUT_PROPOSAL: Operation = Operation {
    service: "dynamodb",
    api: "PutItem",
    permission: "dynamodb:PutItem",
    resource: IamResource::Arn("arn:{partition}:dynamodb:{region}:{account}:table/*"),
    implies: &[],
};

pub const LIST_PARENTS: Operation = Operation {
    service: "organizations",
    api: "ListParents",
    permission: "organizations:ListParents",
    resource: IamResource::Unknowable(
        "the account and OU ARNs name the management account, which the stack does not know",
    ),
    implies: &[],
};

/// An account's organizational units are read again after this long.
const OU_REFRESH: Duration = Duration::from_secs(15 * 60);

/// The metric counting refused policy documents (the template alarms on it).
pub const POLICY_INVALID: &str = "policy_invalid";

/// Where the policy and the proposals live: `POLICY_PARAMETER`, `POLICY_CACHE_SECONDS`,
/// `APPROVALS_TABLE`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GovernanceSettings {
    /// The SSM parameter holding the document (name or ARN); none: every control enforces.
    pub parameter: Option<String>,
    /// How long a read document is used before it is read again.
    pub cache: Duration,
    /// The DynamoDB table of proposals (partition key `id` (S), TTL attribute `expires_at`).
    pub approvals_table: Option<String>,
}

impl GovernanceSettings {
    pub const DEFAULT_CACHE_SECONDS: u32 = 60;

    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, SettingsError> {
        let parameter = optional(env, "POLICY_PARAMETER");
        if let Some(p) = &parameter {
            // `name:3` or `name:label` would pin `GetParameter` to one version while the history
            // fallback reads the parameter's newest: one document, always the newest valid one.
            let name = p
                .strip_prefix("arn:")
                .and_then(|rest| rest.split_once(":parameter/").map(|(_, n)| n))
                .unwrap_or(p);
            if name.contains(':') || (p.starts_with("arn:") && !p.contains(":parameter/")) {
                return Err(SettingsError::new(
                    "POLICY_PARAMETER",
                    p,
                    "expected a parameter name or ARN without a version or label (`:…`)",
                ));
            }
        }
        Ok(Self {
            parameter,
            cache: Duration::from_secs(u64::from(parse_number(
                env,
                "POLICY_CACHE_SECONDS",
                0..=3600,
                Self::DEFAULT_CACHE_SECONDS,
            )?)),
            approvals_table: optional(env, "APPROVALS_TABLE"),
        })
    }
}

/// The document in force, and where it came from.
#[derive(Debug, Clone)]
pub struct Current {
    pub policy: Policy,
    /// e.g. `parameter /ai-guard/policy version 3`.
    pub source: String,
    /// The newest version was refused (it stays refused until a valid version replaces it).
    pub refused: Option<String>,
}

struct Cached {
    current: Arc<Current>,
    version: i64,
    /// The text of that version: a parameter deleted and created again starts again at version 1
    /// (Systems Manager user guide, "Working with parameter versions"), so the version alone does
    /// not tell a new document from the one read before.
    text: String,
    read: Instant,
}

/// The policy store and the proposals, shared by every engine of a function (a hub's too).
pub struct Governance {
    settings: GovernanceSettings,
    controls: Vec<&'static str>,
    ssm: Option<aws_sdk_ssm::Client>,
    organizations: Option<aws_sdk_organizations::Client>,
    proposals: Option<Proposals>,
    cache: tokio::sync::Mutex<Option<Cached>>,
    /// child (an account or an organizational unit) → its parent, when read. Kept per child, not
    /// per account: the accounts of one OU share the walk above it, so a hub of 1,000 accounts
    /// asks `ListParents` about each account and each OU once, not about every OU once per account.
    parents: tokio::sync::Mutex<HashMap<String, (String, Instant)>>,
}

impl std::fmt::Debug for Governance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Governance")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Governance {
    /// `controls`: every control id a document may name.
    pub fn new(
        settings: GovernanceSettings,
        controls: Vec<&'static str>,
        ssm: aws_sdk_ssm::Client,
        dynamodb: aws_sdk_dynamodb::Client,
        organizations: aws_sdk_organizations::Client,
    ) -> Self {
        let proposals = settings
            .approvals_table
            .clone()
            .map(|table| Proposals::DynamoDb {
                client: dynamodb,
                table,
            });
        Self {
            ssm: settings.parameter.is_some().then_some(ssm),
            organizations: settings.parameter.is_some().then_some(organizations),
            settings,
            controls,
            proposals,
            cache: tokio::sync::Mutex::new(None),
            parents: Default::default(),
        }
    }

    /// A fixed document and proposals in memory (the engine's unit tests).
    pub fn fixed(policy: Policy) -> Self {
        let current = Arc::new(Current {
            policy,
            source: "fixed".to_owned(),
            refused: None,
        });
        Self {
            settings: GovernanceSettings {
                cache: Duration::MAX,
                ..GovernanceSettings::default()
            },
            controls: Vec::new(),
            ssm: None,
            organizations: None,
            parents: Default::default(),
            proposals: Some(Proposals::Memory(Default::default())),
            cache: tokio::sync::Mutex::new(Some(Cached {
                current,
                version: 0,
                text: String::new(),
                read: Instant::now(),
            })),
        }
    }

    /// The operations it may call.
    pub fn operations(&self) -> Vec<Operation> {
        let mut ops = Vec::new();
        if self.ssm.is_some() {
            ops.extend([GET_PARAMETER, GET_PARAMETER_HISTORY, LIST_PARENTS]);
        }
        if matches!(self.proposals, Some(Proposals::DynamoDb { .. })) {
            ops.extend([GET_PROPOSAL, PUT_PROPOSAL]);
        }
        ops
    }

    pub fn proposals(&self) -> Option<&Proposals> {
        self.proposals.as_ref()
    }

    /// The document in force: the cached one while fresh, else the parameter read again. An
    /// invalid new version is refused (logged with the place that is wrong, and counted as
    /// `policy_invalid`, which has an alarm) and the last good one stays in force — after a cold
    /// start, the newest valid version in the parameter's history. With no valid version at all,
    /// every control only notifies. `Err`: the parameter could not be read and no document was
    /// ever read.
    pub async fn current(&self) -> Result<Arc<Current>, AwsError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref() {
            if c.read.elapsed() < self.settings.cache {
                return Ok(c.current.clone());
            }
        }
        let (Some(ssm), Some(name)) = (&self.ssm, &self.settings.parameter) else {
            let current = Arc::new(Current {
                policy: Policy::unlimited(),
                source: "no POLICY_PARAMETER: every control enforces, without limits".to_owned(),
                refused: None,
            });
            *cache = Some(Cached {
                current: current.clone(),
                version: 0,
                text: String::new(),
                read: Instant::now(),
            });
            return Ok(current);
        };
        let read = ssm.get_parameter().name(name).send().await;
        let (text, version, secure) = match read {
            Ok(out) => {
                let p = out.parameter();
                (
                    p.and_then(|p| p.value()).unwrap_or_default().to_owned(),
                    p.map(|p| p.version()).unwrap_or_default(),
                    p.and_then(|p| p.r#type()) == Some(&ParameterType::SecureString),
                )
            }
            Err(e) => {
                let err = AwsError::from_sdk("ssm:GetParameter", e);
                return match cache.as_mut() {
                    Some(c) => {
                        tracing::warn!(target: "policy", parameter = %name, error = %err,
                            "policy not read again; the one read before stays in force");
                        c.read = Instant::now();
                        Ok(c.current.clone())
                    }
                    None => Err(err),
                };
            }
        };
        if let Some(c) = cache.as_mut() {
            if c.version == version && c.text == text {
                c.read = Instant::now();
                return Ok(c.current.clone());
            }
        }
        let source = format!("parameter {name} version {version}");
        let current = match self.parse(&text, secure) {
            Ok(policy) => Arc::new(Current {
                policy,
                source,
                refused: None,
            }),
            Err(e) => {
                let refused = format!("{source} refused: {e}");
                tracing::error!(target: "policy", parameter = %name, version, error = %e,
                    "remediation policy refused; the last good one stays in force");
                crate::metrics::publish_count(POLICY_INVALID, 1);
                // The cache holds the last good document (or the notify-only stand-in).
                let last_good = match cache.as_ref() {
                    Some(c) => Some((c.current.policy.clone(), c.current.source.clone())),
                    None => self.last_good(ssm, name, version).await,
                };
                let (policy, source) = last_good.unwrap_or_else(|| {
                    (
                        Policy {
                            default_mode: Mode::Notify,
                            ..Policy::enforce_everything()
                        },
                        "no valid version: every control only notifies".to_owned(),
                    )
                });
                Arc::new(Current {
                    policy,
                    source,
                    refused: Some(refused),
                })
            }
        };
        *cache = Some(Cached {
            current: current.clone(),
            version,
            text,
            read: Instant::now(),
        });
        Ok(current)
    }

    /// A version's text as a document. A `SecureString` parameter is refused without reading it:
    /// `GetParameter` without `WithDecryption` returns its ciphertext (SSM API reference,
    /// GetParameter), and the document is no secret — decrypting it would only add `kms:Decrypt`
    /// on a key to every function's role.
    fn parse(&self, text: &str, secure: bool) -> Result<Policy, PolicyError> {
        if secure {
            return Err(PolicyError {
                path: String::new(),
                reason:
                    "the parameter is a SecureString, whose value is read encrypted: store the \
                         remediation policy as a String parameter (it is not secret)"
                        .to_owned(),
            });
        }
        Policy::parse(text, &self.controls)
    }

    /// The newest version before `newest` that is valid, from the parameter's history.
    async fn last_good(
        &self,
        ssm: &aws_sdk_ssm::Client,
        name: &str,
        newest: i64,
    ) -> Option<(Policy, String)> {
        let mut versions = Vec::new();
        let mut pages = ssm
            .get_parameter_history()
            .name(name)
            .max_results(50)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => versions.extend(page.parameters().iter().map(|p| {
                    (
                        p.version(),
                        p.value().unwrap_or_default().to_owned(),
                        p.r#type() == Some(&ParameterType::SecureString),
                    )
                })),
                Err(e) => {
                    let err = AwsError::from_sdk("ssm:GetParameterHistory", e);
                    tracing::warn!(target: "policy", parameter = %name, error = %err,
                        "the parameter's history could not be read");
                    return None;
                }
            }
        }
        // GetParameterHistory answers the (at most 100) kept versions in an order its reference
        // does not promise: the newest valid one before `newest` is wanted.
        versions.sort_by_key(|(v, _, _)| std::cmp::Reverse(*v));
        versions
            .into_iter()
            .filter(|(v, _, _)| *v < newest)
            .find_map(|(v, text, secure)| {
                self.parse(&text, secure).ok().map(|p| {
                    (
                        p,
                        format!("parameter {name} version {v} (the last valid one)"),
                    )
                })
            })
    }

    /// The organizational units `account` is in, the nearest first, then the root: read with
    /// `ListParents` (from the management account or a delegated administrator), each child's
    /// parent kept for 15 minutes. Only asked for when the document names organizational units.
    pub async fn organizational_units(&self, account: &str) -> Result<Vec<String>, AwsError> {
        let Some(org) = &self.organizations else {
            return Ok(Vec::new());
        };
        let mut parents = self.parents.lock().await;
        let mut path = Vec::new();
        let mut child = account.to_owned();
        // An organization is at most five OUs deep under its root.
        for _ in 0..6 {
            let known = parents
                .get(&child)
                .filter(|(_, read)| read.elapsed() < OU_REFRESH)
                .map(|(parent, _)| parent.clone());
            let parent = match known {
                Some(parent) => parent,
                None => {
                    let out = org
                        .list_parents()
                        .child_id(&child)
                        .send()
                        .await
                        .map_err(|e| AwsError::from_sdk("organizations:ListParents", e))?;
                    let Some(parent) = out.parents().first().and_then(|p| p.id()) else {
                        break;
                    };
                    parents.insert(child.clone(), (parent.to_owned(), Instant::now()));
                    parent.to_owned()
                }
            };
            path.push(parent.clone());
            if parent.starts_with("r-") {
                break;
            }
            child = parent;
        }
        Ok(path)
    }

    /// Check a document as the functions would (the `remediate policy validate` command).
    pub fn validate(&self, text: &str) -> Result<Policy, PolicyError> {
        Policy::parse(text, &self.controls)
    }
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// An RFC 3339 time for seconds since the epoch.
pub fn rfc3339(secs: i64) -> String {
    use aws_smithy_types::date_time::{DateTime, Format};
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

/// What a proposal is waiting for, or what became of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for a human.
    Pending,
    /// Approved, and the fix applied (or attempted: the record says how it went).
    Approved,
    /// Not approved in time.
    Expired,
    /// The resource changed before approval; a new proposal replaced it.
    Superseded,
}

impl Status {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "expired" => Self::Expired,
            "superseded" => Self::Superseded,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Expired => "expired",
            Self::Superseded => "superseded",
        }
    }
}

/// A fix proposed for one resource, waiting for approval.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Proposal {
    /// [`proposal_id`] of its control, account, region and resource.
    pub id: String,
    pub control: String,
    pub account: String,
    pub region: String,
    pub resource: String,
    /// The resource's CloudFormation type (to name it again on approval).
    pub resource_type: String,
    /// The control's action that was decided.
    pub action: String,
    /// The API operations the fix will write.
    pub actions: Vec<String>,
    /// Why it needs fixing.
    pub reason: String,
    /// The state that was read (JSON): the fix is applied on approval only if it is still this.
    pub before: String,
    pub status: Status,
    pub created_at: i64,
    pub expires_at: i64,
    /// Who approved it, how.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

/// The id of the proposal for one control on one resource: one proposal per resource and control
/// at a time, so a Security Hub finding names it too. 16 hex digits of SHA-256.
pub fn proposal_id(control: &str, account: &str, region: &str, resource: &str) -> String {
    let digest = Sha256::digest(format!("{control}\n{account}\n{region}\n{resource}").as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `id` could be a proposal id.
pub fn is_proposal_id(id: &str) -> bool {
    id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Where proposals are kept.
#[derive(Debug)]
pub enum Proposals {
    DynamoDb {
        client: aws_sdk_dynamodb::Client,
        table: String,
    },
    Memory(std::sync::Mutex<HashMap<String, Proposal>>),
}

/// Kept this long after expiry (DynamoDB's TTL removes them then), for `remediate approve` to say
/// what became of one.
const KEPT_AFTER_EXPIRY_SECS: i64 = 30 * 24 * 3600;

impl Proposals {
    pub async fn get(&self, id: &str) -> Result<Option<Proposal>, AwsError> {
        match self {
            Proposals::Memory(m) => Ok(m.lock().ok().and_then(|m| m.get(id).cloned())),
            Proposals::DynamoDb { client, table } => {
                let out = client
                    .get_item()
                    .table_name(table)
                    .key("id", AttributeValue::S(id.to_owned()))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("dynamodb:GetItem", e))?;
                out.item().map(from_item).transpose()
            }
        }
    }

    /// Record `p` (status approved) only while the stored proposal is still pending: `Ok(false)`
    /// when another approval decided it first (two approvals at once apply the fix once).
    pub async fn approve(&self, p: &Proposal) -> Result<bool, AwsError> {
        match self {
            Proposals::Memory(m) => {
                let Ok(mut m) = m.lock() else {
                    return Ok(false);
                };
                if m.get(&p.id)
                    .is_some_and(|old| old.status != Status::Pending)
                {
                    return Ok(false);
                }
                m.insert(p.id.clone(), p.clone());
                Ok(true)
            }
            Proposals::DynamoDb { client, table } => {
                let put = client
                    .put_item()
                    .table_name(table)
                    .set_item(Some(to_item(p)))
                    .condition_expression("#status = :pending")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(
                        ":pending",
                        AttributeValue::S(Status::Pending.as_str().to_owned()),
                    )
                    .send()
                    .await;
                match put {
                    Ok(_) => Ok(true),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                    {
                        Ok(false)
                    }
                    Err(e) => Err(AwsError::from_sdk("dynamodb:PutItem", e)),
                }
            }
        }
    }

    pub async fn put(&self, p: &Proposal) -> Result<(), AwsError> {
        match self {
            Proposals::Memory(m) => {
                if let Ok(mut m) = m.lock() {
                    m.insert(p.id.clone(), p.clone());
                }
                Ok(())
            }
            Proposals::DynamoDb { client, table } => {
                client
                    .put_item()
                    .table_name(table)
                    .set_item(Some(to_item(p)))
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("dynamodb:PutItem", e))?;
                Ok(())
            }
        }
    }
}

fn to_item(p: &Proposal) -> HashMap<String, AttributeValue> {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let n = |v: i64| AttributeValue::N(v.to_string());
    let mut item = HashMap::from([
        ("id".to_owned(), s(&p.id)),
        ("control".to_owned(), s(&p.control)),
        ("account".to_owned(), s(&p.account)),
        ("region".to_owned(), s(&p.region)),
        ("resource".to_owned(), s(&p.resource)),
        ("resource_type".to_owned(), s(&p.resource_type)),
        ("action".to_owned(), s(&p.action)),
        (
            "actions".to_owned(),
            AttributeValue::L(p.actions.iter().map(|a| s(a)).collect()),
        ),
        ("reason".to_owned(), s(&p.reason)),
        ("before".to_owned(), s(&p.before)),
        ("status".to_owned(), s(p.status.as_str())),
        ("created_at".to_owned(), n(p.created_at)),
        ("proposal_expires_at".to_owned(), n(p.expires_at)),
        (
            "expires_at".to_owned(),
            n(p.expires_at + KEPT_AFTER_EXPIRY_SECS),
        ),
    ]);
    if let Some(by) = &p.approved_by {
        item.insert("approved_by".to_owned(), s(by));
    }
    item
}

fn from_item(item: &HashMap<String, AttributeValue>) -> Result<Proposal, AwsError> {
    let bad = |field: &str| {
        AwsError::new(
            AwsErrorKind::Other,
            "dynamodb:GetItem",
            format!("the proposal item has no valid `{field}`"),
        )
    };
    let s = |field: &str| {
        item.get(field)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| bad(field))
    };
    let n = |field: &str| {
        item.get(field)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| bad(field))
    };
    Ok(Proposal {
        id: s("id")?,
        control: s("control")?,
        account: s("account")?,
        region: s("region")?,
        resource: s("resource")?,
        resource_type: s("resource_type")?,
        action: s("action")?,
        actions: item
            .get("actions")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|a| a.as_s().ok().cloned()).collect())
            .unwrap_or_default(),
        reason: s("reason")?,
        before: s("before")?,
        status: Status::parse(&s("status")?).ok_or_else(|| bad("status"))?,
        created_at: n("created_at")?,
        expires_at: n("proposal_expires_at")?,
        approved_by: s("approved_by").ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposal_ids_are_stable_and_distinct() {
        let a = proposal_id("c", "111111111111", "eu-west-1", "arn:aws:s3:::b");
        assert!(is_proposal_id(&a), "{a}");
        assert_eq!(
            a,
            proposal_id("c", "111111111111", "eu-west-1", "arn:aws:s3:::b")
        );
        assert_ne!(
            a,
            proposal_id("c", "222222222222", "eu-west-1", "arn:aws:s3:::b")
        );
        assert!(!is_proposal_id("not-an-id"));
    }

    #[test]
    fn a_proposal_survives_its_item() {
        let p = Proposal {
            id: proposal_id("c", "111111111111", "eu-west-1", "arn:aws:s3:::b"),
            control: "c".into(),
            account: "111111111111".into(),
            region: "eu-west-1".into(),
            resource: "arn:aws:s3:::b".into(),
            resource_type: "AWS::S3::Bucket".into(),
            action: "fix".into(),
            actions: vec!["s3:PutBucketPolicy".into()],
            reason: "r".into(),
            before: "{}".into(),
            status: Status::Pending,
            created_at: 1,
            expires_at: 2,
            approved_by: Some("me".into()),
        };
        assert_eq!(from_item(&to_item(&p)).unwrap(), p);
        let mut item = to_item(&p);
        item.remove("before");
        assert!(from_item(&item).unwrap_err().to_string().contains("before"));
    }

    #[test]
    fn a_parameter_pinned_to_a_version_or_label_is_refused() {
        let env = |v: &'static str| move |k: &str| (k == "POLICY_PARAMETER").then(|| v.to_owned());
        for ok in [
            "/ai-guard/remediation-policy",
            "arn:aws:ssm:eu-west-1:111122223333:parameter/ai-guard/remediation-policy",
        ] {
            let s = GovernanceSettings::from_lookup(&env(ok)).unwrap();
            assert_eq!(s.parameter.as_deref(), Some(ok));
        }
        for pinned in [
            "/ai-guard/remediation-policy:3",
            "/ai-guard/remediation-policy:prod",
            "arn:aws:ssm:eu-west-1:111122223333:parameter/ai-guard/policy:2",
            "arn:aws:s3:::not-a-parameter",
        ] {
            let err = GovernanceSettings::from_lookup(&env(pinned)).unwrap_err();
            assert!(err.to_string().contains("POLICY_PARAMETER"), "{err}");
        }
    }

    #[tokio::test]
    async fn only_a_pending_proposal_is_approved_and_only_once() {
        let store = Proposals::Memory(Default::default());
        let p = Proposal {
            id: proposal_id("c", "111111111111", "eu-west-1", "arn:aws:s3:::b"),
            control: "c".into(),
            account: "111111111111".into(),
            region: "eu-west-1".into(),
            resource: "arn:aws:s3:::b".into(),
            resource_type: "AWS::S3::Bucket".into(),
            action: "fix".into(),
            actions: vec![],
            reason: "r".into(),
            before: "{}".into(),
            status: Status::Pending,
            created_at: 1,
            expires_at: 2,
            approved_by: None,
        };
        store.put(&p).await.unwrap();
        let approved = Proposal {
            status: Status::Approved,
            approved_by: Some("alice".into()),
            ..p.clone()
        };
        assert!(store.approve(&approved).await.unwrap());
        // A second approval arriving at the same time finds it decided.
        assert!(!store.approve(&approved).await.unwrap());
    }
}
