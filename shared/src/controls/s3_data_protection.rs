//! Training data and model artifacts in transit and at rest: two controls of the
//! `s3-data-protection` function.
//!
//! * **TLS-only bucket policy** (`s3-bucket-tls-only`): compliant when a statement of the bucket
//!   policy denies every `s3:*` request with `aws:SecureTransport = false` on the bucket and its
//!   objects (the owner's own equivalent statement counts). The fix inserts one statement with a
//!   stable `Sid` into the policy's text, so every other statement stays byte for byte; a bucket
//!   without a policy gets a policy with just that statement. A policy that cannot be parsed, or
//!   that the statement would push over S3's 20 KB limit, is never touched (`failed`, with why).
//!   Nor is a policy S3 refuses to take back whatever the settings: one naming a deleted IAM
//!   principal (S3 shows it by its unique id, `AROA…`/`AIDA…`, and answers `MalformedPolicy:
//!   Invalid principal in policy`). A policy granting public access ("The meaning of 'public'", S3
//!   user guide) is written (S3 takes it while Block Public Access's `BlockPublicPolicy` is off);
//!   refused with `403 AccessDenied`, the record says why, not "missing permission". The owner's
//!   grant is never removed. The policy read back is compared with the one written by meaning, since S3
//!   stores a policy in its own form ([`policy_meaning`]).
//! * **Customer-key default encryption** (`s3-bucket-kms-encryption`): buckets in `AI_DATA_BUCKETS`
//!   (name patterns or `tag:key=value`; empty = off — a new key can lock out readers without
//!   `kms:Decrypt`) must default to `aws:kms` with `AI_DATA_KMS_KEY` (any customer key when unset)
//!   and S3 Bucket Keys on — or to dual-layer `aws:kms:dsse` with that key, which S3 Bucket Keys do
//!   not apply to: a DSSE-KMS bucket is never downgraded to one layer (with another key, only the
//!   key is changed). Objects written before keep their old encryption.
//!
//!   S3 does not validate the key `PutBucketEncryption` is given (S3 API reference): a key of
//!   another region or account, a disabled or an asymmetric key is accepted and every later upload
//!   fails. So before writing `AI_DATA_KMS_KEY` the control checks that the key is usable for the
//!   bucket — in the bucket's region; of the bucket's account or one `AI_DATA_KMS_KEY_ACCOUNTS`
//!   allows; `Enabled`, `ENCRYPT_DECRYPT`, `SYMMETRIC_DEFAULT` (one `kms:DescribeKey`, which takes
//!   a key ARN or an alias ARN; S3 supports symmetric encryption keys only) — and otherwise leaves
//!   the bucket alone (`failed`, with the reason). The check is made only for a bucket about to be
//!   written (a compliant one costs nothing), in a dry run too, so a dry run reports what a real
//!   run would do. One `DescribeKey` verdict is reused for [`KEY_CHECK_TTL`] (a sweep's buckets
//!   share it); a failed call is not remembered.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType};
use aws_sdk_s3::types::{
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;
use serde_json::Value;
use wildmatch::WildMatch;

use crate::aws::{AwsError, IamResource, Operation};
use crate::control::{Control, ControlSpec, Decision, ManagedRule};
use crate::controls::s3_buckets::{
    bucket_cloudtrail_targets, bucket_tags, list_buckets, names_block_public_access, parse_bucket,
    BucketRegions, BUCKET_TYPE,
};
use crate::env::{optional, Lookup};
use crate::error::SettingsError;
use crate::resource::{is_account_id, Arn, Resource, Scope};

pub const GET_POLICY: Operation = Operation {
    service: "s3",
    api: "GetBucketPolicy",
    permission: "s3:GetBucketPolicy",
    resource: IamResource::Arn("arn:{partition}:s3:::*"),
    implies: &[],
};
pub const PUT_POLICY: Operation = Operation {
    service: "s3",
    api: "PutBucketPolicy",
    permission: "s3:PutBucketPolicy",
    resource: IamResource::Arn("arn:{partition}:s3:::*"),
    implies: &[],
};
pub const GET_ENCRYPTION: Operation = Operation {
    service: "s3",
    api: "GetBucketEncryption",
    permission: "s3:GetEncryptionConfiguration",
    resource: IamResource::Arn("arn:{partition}:s3:::*"),
    implies: &[],
};
pub const PUT_ENCRYPTION: Operation = Operation {
    service: "s3",
    api: "PutBucketEncryption",
    permission: "s3:PutEncryptionConfiguration",
    resource: IamResource::Arn("arn:{partition}:s3:::*"),
    implies: &[],
};
pub const LIST: Operation = Operation {
    service: "s3",
    api: "ListBuckets",
    permission: "s3:ListAllMyBuckets",
    resource: IamResource::None,
    implies: &[],
};
pub const GET_TAGS: Operation = Operation {
    service: "s3",
    api: "GetBucketTagging",
    permission: "s3:GetBucketTagging",
    resource: IamResource::Arn("arn:{partition}:s3:::*"),
    implies: &[],
};
/// Whether `AI_DATA_KMS_KEY` is usable, before a bucket is set to it.
pub const DESCRIBE_KEY: Operation = Operation {
    service: "kms",
    api: "DescribeKey",
    permission: "kms:DescribeKey",
    resource: IamResource::Arn("arn:{partition}:kms:{region}:{account}:key/*"),
    implies: &[],
};

/// How long one `DescribeKey` verdict on `AI_DATA_KMS_KEY` is reused.
pub const KEY_CHECK_TTL: Duration = Duration::from_secs(60);

/// The `Sid` of the statement the TLS-only fix adds.
pub const TLS_SID: &str = "AiGuardTlsOnly";
/// S3's limit on a bucket policy's size (S3 user guide, "Bucket policies").
pub const POLICY_MAX_BYTES: usize = 20 * 1024;

pub static TLS_SPEC: ControlSpec = ControlSpec {
    id: "s3-bucket-tls-only",
    resource_type: BUCKET_TYPE,
    asff_type: "AwsS3Bucket",
    event_source: "s3.amazonaws.com",
    cloudtrail_events: &["CreateBucket", "PutBucketPolicy", "DeleteBucketPolicy"],
    state_change_events: &[],
    config_rules: &[ManagedRule::on_change(
        "s3-bucket-ssl-requests-only",
        "S3_BUCKET_SSL_REQUESTS_ONLY",
    )],
    custom_config_rule: None,
    security_hub_controls: &["S3.5"],
    actions: &["remediate"],
    operations: &[GET_POLICY, PUT_POLICY, LIST],
    tag_operation: Some(GET_TAGS),
    resource: parse_bucket,
    cloudtrail_targets: bucket_cloudtrail_targets,
};

pub static KMS_SPEC: ControlSpec = ControlSpec {
    id: "s3-bucket-kms-encryption",
    resource_type: BUCKET_TYPE,
    asff_type: "AwsS3Bucket",
    event_source: "s3.amazonaws.com",
    cloudtrail_events: &[
        "CreateBucket",
        "PutBucketEncryption",
        "DeleteBucketEncryption",
    ],
    state_change_events: &[],
    // Only with AI data buckets named (the managed rule judges every bucket, the control only
    // those), and told the key when it is a key ARN (the rule's kmsKeyArns takes no alias).
    config_rules: &[ManagedRule {
        condition: Some("AiDataRules"),
        parameters: Some(
            "!If [AiDataKeyArnForConfig, {kmsKeyArns: !Ref AiDataKmsKey}, !Ref AWS::NoValue]",
        ),
        ..ManagedRule::on_change("s3-default-encryption-kms", "S3_DEFAULT_ENCRYPTION_KMS")
    }],
    custom_config_rule: None,
    security_hub_controls: &["S3.17"],
    actions: &["remediate"],
    operations: &[GET_ENCRYPTION, PUT_ENCRYPTION, LIST, GET_TAGS, DESCRIBE_KEY],
    tag_operation: Some(GET_TAGS),
    resource: parse_bucket,
    cloudtrail_targets: bucket_cloudtrail_targets,
};

/// Bucket name patterns (`*`, `?`).
#[derive(Debug, Clone, Default)]
pub struct NamePatterns(Vec<String>);

impl NamePatterns {
    fn matches(&self, name: &str) -> bool {
        self.0.iter().any(|p| WildMatch::new(p).matches(name))
    }
}

/// Which buckets hold AI data: name patterns and `tag:key=value` entries.
#[derive(Debug, Clone, Default)]
pub struct AiDataBuckets {
    pub names: NamePatterns,
    pub tags: Vec<(String, String)>,
}

impl AiDataBuckets {
    fn is_off(&self) -> bool {
        self.names.0.is_empty() && self.tags.is_empty()
    }
}

/// The settings of both controls.
#[derive(Debug, Clone, Default)]
pub struct DataProtectionSettings {
    /// `TLS_ONLY_BUCKETS`: only these buckets (unset: all).
    pub tls_only: Option<NamePatterns>,
    /// `AI_DATA_BUCKETS`.
    pub ai_data: AiDataBuckets,
    /// `AI_DATA_KMS_KEY`: the key AI data must be encrypted with, a key ARN or an alias ARN
    /// (unset: any customer key).
    pub kms_key: Option<String>,
    /// `AI_DATA_KMS_KEY_ACCOUNTS`: accounts besides the bucket's own that may own that key.
    pub kms_key_accounts: Vec<String>,
}

fn patterns(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

impl DataProtectionSettings {
    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, SettingsError> {
        let tls_only = optional(env, "TLS_ONLY_BUCKETS").map(|v| NamePatterns(patterns(&v)));
        let mut ai_data = AiDataBuckets::default();
        if let Some(v) = optional(env, "AI_DATA_BUCKETS") {
            for entry in patterns(&v) {
                match entry.strip_prefix("tag:") {
                    Some(tag) => {
                        let (k, val) = tag.split_once('=').ok_or_else(|| {
                            SettingsError::new(
                                "AI_DATA_BUCKETS",
                                &v,
                                format!("`{entry}`: a tag entry is tag:KEY=VALUE"),
                            )
                        })?;
                        ai_data.tags.push((k.to_owned(), val.to_owned()));
                    }
                    None => ai_data.names.0.push(entry),
                }
            }
        }
        let kms_key = optional(env, "AI_DATA_KMS_KEY")
            .map(|k| parse_kms_key(&k))
            .transpose()?;
        let mut kms_key_accounts = Vec::new();
        if let Some(v) = optional(env, "AI_DATA_KMS_KEY_ACCOUNTS") {
            let invalid =
                |reason: String| SettingsError::new("AI_DATA_KMS_KEY_ACCOUNTS", &v, reason);
            kms_key_accounts = patterns(&v);
            if let Some(bad) = kms_key_accounts.iter().find(|a| !is_account_id(a)) {
                return Err(invalid(format!("`{bad}` is not a 12-digit account id")));
            }
            if kms_key.is_none() {
                return Err(invalid(
                    "needs AI_DATA_KMS_KEY (it lists the accounts allowed to own that key)"
                        .to_owned(),
                ));
            }
        }
        Ok(Self {
            tls_only,
            ai_data,
            kms_key,
            kms_key_accounts,
        })
    }
}

/// `AI_DATA_KMS_KEY`: the ARN of a key or of an alias, naming its region and account (a hub has
/// replaced `{account}` and `{region}` by then).
fn parse_kms_key(value: &str) -> Result<String, SettingsError> {
    const EXPECTED: &str = "expected a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) or alias ARN (arn:aws:kms:REGION:ACCOUNT:alias/NAME)";
    let invalid = |reason: &str| SettingsError::new("AI_DATA_KMS_KEY", value, reason);
    if value.contains('{') || value.contains('}') {
        return Err(invalid(
            "`{account}` and `{region}` are replaced only when the function runs as a hub (MEMBER_ROLE_NAME or REGIONS set); otherwise name the key itself",
        ));
    }
    let arn = Arn::parse(value)
        .filter(|a| a.service == "kms")
        .ok_or_else(|| invalid(EXPECTED))?;
    let region_like = !arn.region.is_empty()
        && arn
            .region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_like {
        return Err(invalid(&format!("{EXPECTED}: the ARN names no region")));
    }
    if !is_account_id(arn.account) {
        return Err(invalid(&format!(
            "{EXPECTED}: the ARN's account is not a 12-digit account id"
        )));
    }
    match arn.resource.split_once('/') {
        Some(("key", id)) if !id.is_empty() && !id.contains('/') => Ok(value.to_owned()),
        Some(("alias", name)) if name.starts_with("aws/") => Err(invalid(
            "an AWS managed key's alias: AI data buckets need a customer managed key",
        )),
        Some(("alias", name)) if !name.is_empty() => Ok(value.to_owned()),
        _ => Err(invalid(EXPECTED)),
    }
}

// --- TLS-only --------------------------------------------------------------------------------

/// A bucket's policy, as read.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyState {
    /// `TLS_ONLY_BUCKETS` excludes it.
    pub out_of_scope: bool,
    pub policy: Option<String>,
    /// Why the policy cannot be changed safely, if so.
    pub unsafe_reason: Option<String>,
    /// The statement that already denies requests without TLS (its Sid, or its position).
    pub tls_statement: Option<String>,
    /// The policy the fix would write.
    #[serde(skip)]
    pub fixed: Option<String>,
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether `statement` denies every `s3:*` request without TLS on `bucket` and its objects.
pub fn denies_plain_http(statement: &Value, bucket_arn: &str) -> bool {
    let effect = statement.get("Effect").and_then(Value::as_str) == Some("Deny");
    let everyone = names_everyone(statement.get("Principal"));
    let every_action = strings(statement.get("Action"))
        .iter()
        .any(|a| *a == "*" || a.eq_ignore_ascii_case("s3:*"));
    let resources = strings(statement.get("Resource"));
    let covers = |arn: &str| resources.iter().any(|r| WildMatch::new(r).matches(arn));
    let both = covers(bucket_arn) && covers(&format!("{bucket_arn}/any-object"));
    let condition = statement
        .get("Condition")
        .and_then(|c| c.get("Bool"))
        .and_then(|b| b.get("aws:SecureTransport"));
    let insecure = match condition {
        Some(Value::String(s)) => s.eq_ignore_ascii_case("false"),
        Some(Value::Bool(false)) => true,
        Some(Value::Array(a)) => a.iter().any(|v| {
            v == &Value::Bool(false) || v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("false"))
        }),
        _ => false,
    };
    effect && everyone && every_action && both && insecure
}

/// Whether a `Principal` is everyone: `"*"` or `{"AWS": "*"}`.
fn names_everyone(principal: Option<&Value>) -> bool {
    match principal {
        Some(Value::String(p)) => p == "*",
        Some(Value::Object(o)) => strings(o.get("AWS")).contains(&"*"),
        _ => false,
    }
}

/// A statement's name in a record: its `Sid`, or its position.
fn statement_name(statement: &Value, index: usize) -> String {
    match statement.get("Sid").and_then(Value::as_str) {
        Some(sid) if !sid.is_empty() => format!("statement {sid}"),
        _ => format!("statement {}", index + 1),
    }
}

/// Condition keys that, with a fixed value, keep a grant to everyone from being public (S3 user
/// guide, Blocking public access, "The meaning of 'public'"; a subset of S3's own evaluation).
const FIXING_KEYS: &[&str] = &[
    "aws:sourceip",
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceowner",
    "aws:sourceaccount",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "aws:userid",
    "aws:principalorgid",
    "aws:principalaccount",
    "aws:principalarn",
];

/// Whether a condition block limits a grant to something fixed: a key of [`FIXING_KEYS`] under a
/// positive operator, with values free of wildcards (and an IP range narrower than everything).
fn fixed_by(conditions: Option<&Value>) -> bool {
    let Some(Value::Object(operators)) = conditions else {
        return false;
    };
    operators.iter().any(|(operator, block)| {
        let positive = !operator.contains("Not")
            && !operator.contains("Null")
            && !operator.ends_with("IfExists");
        let Value::Object(keys) = block else {
            return false;
        };
        positive
            && keys.iter().any(|(key, value)| {
                let values: Vec<String> = match value {
                    Value::Array(items) => items.iter().map(scalar_text).collect(),
                    other => vec![scalar_text(other)],
                };
                FIXING_KEYS.contains(&key.to_ascii_lowercase().as_str())
                    && !values.is_empty()
                    && values.iter().all(|v| {
                        !v.contains(['*', '?']) && v != "0.0.0.0/0" && v != "::/0" && !v.is_empty()
                    })
            })
    })
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The statement of `statements` that grants public access as S3 defines it (an `Allow` to
/// everyone, or with `NotPrincipal`, not fixed by a condition), if any.
pub fn public_grant(statements: &[Value]) -> Option<String> {
    statements.iter().enumerate().find_map(|(i, s)| {
        let allow = s.get("Effect").and_then(Value::as_str) == Some("Allow");
        let everyone = s.get("NotPrincipal").is_some() || names_everyone(s.get("Principal"));
        (allow && everyone && !fixed_by(s.get("Condition"))).then(|| statement_name(s, i))
    })
}

/// The statement of `statements` that allows everyone under some condition (which S3 may or may
/// not count as limiting it), if any: what can make S3 refuse a policy as public.
fn grant_to_everyone(statements: &[Value]) -> Option<String> {
    statements.iter().enumerate().find_map(|(i, s)| {
        let allow = s.get("Effect").and_then(Value::as_str) == Some("Allow");
        let everyone = s.get("NotPrincipal").is_some() || names_everyone(s.get("Principal"));
        (allow && everyone).then(|| statement_name(s, i))
    })
}

/// Whether a principal is an IAM unique id (`AIDA…` a user, `AROA…` a role): how S3 shows a
/// principal that was deleted after the policy named it.
fn is_unique_id(principal: &str) -> bool {
    (principal.starts_with("AROA") || principal.starts_with("AIDA"))
        && principal.len() >= 16
        && principal
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The first deleted principal (an IAM unique id) that `statements` name, if any.
pub fn deleted_principal(statements: &[Value]) -> Option<String> {
    statements.iter().find_map(|s| {
        ["Principal", "NotPrincipal"].iter().find_map(|field| {
            let aws = s.get(*field).and_then(|p| p.get("AWS"));
            strings(aws)
                .into_iter()
                .find(|p| is_unique_id(p))
                .map(str::to_owned)
        })
    })
}

/// The statements of a policy document (one statement or a list).
fn statements_of(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(one) => vec![one.clone()],
        None => Vec::new(),
    }
}

/// Why S3 would refuse to take a policy with these statements back as it is (plus the TLS-only
/// statement), whatever the account's settings: it names a deleted principal. (A public grant is
/// refused only while Block Public Access's `BlockPublicPolicy` is on, which this function does
/// not read: the write is tried, and a refusal explained — see [`refused_policy`].)
pub fn refused_as_is(statements: &[Value]) -> Option<String> {
    deleted_principal(statements).map(|id| format!(
        "the bucket policy names a deleted IAM principal {id} (S3 shows a deleted role or user by its unique id) and S3 refuses any policy that names one (MalformedPolicy: Invalid principal in policy): remove it from the policy, or replace it with a valid ARN, and the TLS-only statement can be added"
    ))
}

/// What a policy means, as comparable JSON: S3 stores a policy in its own form (an account id
/// principal as the account's root ARN — IAM user guide, "AWS JSON policy elements: Principal";
/// single-item lists as their item; its own key order and whitespace), so a policy read back is
/// compared with the one written by this, not by its bytes. Lists are sets (their order and
/// repeats mean nothing), booleans and numbers are the strings the policy grammar reads them as,
/// and an account is its id whether written as the id or as its root ARN.
pub fn policy_meaning(text: &str) -> Option<Value> {
    fn canonical(value: &Value, under_aws: bool) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), canonical(v, k == "AWS")))
                    .collect(),
            ),
            Value::Array(items) => {
                let mut items: Vec<Value> = items.iter().map(|v| canonical(v, under_aws)).collect();
                items.sort_by_key(Value::to_string);
                items.dedup();
                if items.len() == 1 {
                    items.pop().unwrap_or(Value::Null)
                } else {
                    Value::Array(items)
                }
            }
            Value::String(s) if under_aws => Value::String(root_account(s).unwrap_or(s).to_owned()),
            Value::Bool(_) | Value::Number(_) => Value::String(value.to_string()),
            other => other.clone(),
        }
    }
    fn root_account(principal: &str) -> Option<&str> {
        let arn = Arn::parse(principal)?;
        (arn.service == "iam" && arn.resource == "root" && is_account_id(arn.account))
            .then_some(arn.account)
    }
    serde_json::from_str::<Value>(text)
        .ok()
        .map(|doc| canonical(&doc, false))
}

/// A refused `PutBucketPolicy` explained, when the refusal is about the policy rather than the
/// role: a deleted principal S3 no longer accepts, or a public grant — or a grant to everyone S3
/// may count as public — that Block Public Access's `BlockPublicPolicy` refuses to write again.
/// S3 says so in its `AccessDenied` for requests of the bucket owner's account or organization
/// ("User: … is not authorized to perform: s3:PutBucketPolicy on resource: … because public
/// policies are blocked by the BlockPublicPolicy block public access setting.": the S3 user
/// guide's enhanced access-denied messages, "Troubleshoot access denied (403 Forbidden) errors",
/// name the reason after "because"), and answers a bare `Access Denied` otherwise; IAM's own
/// denials name a policy type ("because no identity-based policy allows …", "with an explicit
/// deny in …") and keep naming the missing permission. The write is tried rather than skipped:
/// with `BlockPublicPolicy` off, S3 takes it and the public bucket gets TLS-only.
fn refused_policy(plan: &str, err: AwsError) -> AwsError {
    let explained = |message: String| AwsError {
        kind: crate::aws::AwsErrorKind::Other,
        message,
        ..err.clone()
    };
    if err.code.as_deref() == Some("MalformedPolicy") && err.message.contains("Invalid principal") {
        return explained(format!(
            "{}: the policy names a principal that no longer exists (S3 shows a deleted IAM role or user by its unique id, AROA… or AIDA…): remove it from the policy, then the TLS-only statement can be added",
            err.message
        ));
    }
    let blocked = names_block_public_access(&err.message);
    let iam = err.message.contains("not authorized to perform") && !blocked;
    if err.kind == crate::aws::AwsErrorKind::AccessDenied && !iam {
        let statements = serde_json::from_str::<Value>(plan)
            .map(|doc| statements_of(&doc))
            .unwrap_or_default();
        if let Some(which) = public_grant(&statements) {
            return explained(format!(
                "{} — the bucket policy grants public access ({which} allows everyone, with no condition that limits it): with Block Public Access's BlockPublicPolicy on (bucket or account; s3-public-access-block turns it on) S3 refuses any write of a policy that grants public access, so the TLS-only statement needs that grant removed or narrowed by its owner first; ai-guard never removes it (S3 names the action an IAM denial is about: not authorized to perform s3:PutBucketPolicy)",
                err.message
            ));
        }
        if let Some(which) = grant_to_everyone(&statements) {
            return explained(format!(
                "{} — the bucket policy's {which} allows everyone: if S3 counts it as public access, Block Public Access's BlockPublicPolicy (bucket or account) refuses any write of this policy, and the TLS-only statement needs that grant removed or narrowed by its owner first (S3 names the action an IAM denial is about: not authorized to perform s3:PutBucketPolicy)",
                err.message
            ));
        }
        if blocked {
            return explained(format!(
                "{} — S3 counts the bucket policy as granting public access, and Block Public Access's BlockPublicPolicy (bucket or account) refuses any write of such a policy: the TLS-only statement needs that grant removed or narrowed by its owner first; ai-guard never removes it",
                err.message
            ));
        }
    }
    err
}

/// The statement the fix adds.
pub fn tls_statement(bucket_arn: &str) -> Value {
    serde_json::json!({
        "Sid": TLS_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, format!("{bucket_arn}/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}
    })
}

/// Byte offsets of the value of the top-level key `key` in a JSON object's text.
fn top_level_value(text: &str, key: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    let mut key_at_depth1: Option<String> = None;
    let mut expecting_key = false;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if depth == 1 && expecting_key {
                    key_at_depth1 = Some(text[start..i].to_owned());
                    expecting_key = false;
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth == 1 {
                    expecting_key = true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => expecting_key = true,
            b':' if depth == 1 && key_at_depth1.as_deref() == Some(key) => {
                // The value runs to the next `,` or `}` at depth 1.
                let start = i + 1;
                let mut j = start;
                let mut d = 0usize;
                while j < bytes.len() {
                    match bytes[j] {
                        b'"' => {
                            j += 1;
                            while j < bytes.len() && bytes[j] != b'"' {
                                if bytes[j] == b'\\' {
                                    j += 1;
                                }
                                j += 1;
                            }
                        }
                        b'{' | b'[' => d += 1,
                        b'}' | b']' if d == 0 => return Some((start, j)),
                        b'}' | b']' => d -= 1,
                        b',' if d == 0 => return Some((start, j)),
                        _ => {}
                    }
                    j += 1;
                }
                return None;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// `policy` with `statement` added, every other byte kept; `Err` when it cannot be done safely.
pub fn with_statement(policy: &str, statement: &Value) -> Result<String, String> {
    let parsed: Value = serde_json::from_str(policy)
        .map_err(|e| format!("the bucket policy cannot be parsed ({e})"))?;
    let existing = parsed
        .get("Statement")
        .ok_or("the bucket policy has no Statement")?;
    let (start, end) =
        top_level_value(policy, "Statement").ok_or("the policy's Statement cannot be located")?;
    let value = &policy[start..end];
    let ours = statement.to_string();
    let replaced = match existing {
        Value::Array(items) => {
            let close = value.rfind(']').ok_or("malformed Statement list")?;
            let sep = if items.is_empty() { "" } else { "," };
            format!("{}{sep}{ours}{}", &value[..close], &value[close..])
        }
        Value::Object(_) => format!("[{},{ours}]", value.trim()),
        _ => return Err("the policy's Statement is neither a list nor a statement".to_owned()),
    };
    let fixed = format!("{}{replaced}{}", &policy[..start], &policy[end..]);
    // The result must be the same document plus the one statement.
    let check: Value = serde_json::from_str(&fixed).map_err(|e| format!("merge failed ({e})"))?;
    let mut want = parsed.clone();
    match want.get_mut("Statement") {
        Some(Value::Array(items)) => items.push(statement.clone()),
        Some(one) => *one = Value::Array(vec![one.clone(), statement.clone()]),
        None => {}
    }
    if check != want {
        return Err("merge did not keep the policy intact".to_owned());
    }
    Ok(fixed)
}

/// TLS-only bucket policies.
pub struct BucketTlsOnly {
    s3: aws_sdk_s3::Client,
    scope: Option<NamePatterns>,
    regions: BucketRegions,
}

impl BucketTlsOnly {
    pub fn new(s3: aws_sdk_s3::Client, settings: &DataProtectionSettings) -> Self {
        Self {
            s3,
            scope: settings.tls_only.clone(),
            regions: BucketRegions::default(),
        }
    }

    async fn get(&self, bucket: &str, owner: &str) -> Result<Option<Option<String>>, AwsError> {
        for _ in 0..2 {
            let request = self
                .s3
                .get_bucket_policy()
                .bucket(bucket)
                .expected_bucket_owner(owner)
                .customize();
            match self.regions.route(bucket, request).send().await {
                Ok(out) => return Ok(Some(out.policy().map(str::to_owned))),
                Err(e) if e.code() == Some("NoSuchBucketPolicy") => return Ok(Some(None)),
                Err(e) if e.code() == Some("NoSuchBucket") => return Ok(None),
                Err(e) if self.regions.redirected(bucket, &e) => continue,
                Err(e) => return Err(AwsError::from_sdk(GET_POLICY.permission, e)),
            }
        }
        Ok(None)
    }
}

impl Control for BucketTlsOnly {
    type State = PolicyState;
    type Plan = String;

    fn spec(&self) -> &'static ControlSpec {
        &TLS_SPEC
    }

    async fn list(&self, scope: &Scope) -> Result<Vec<Resource>, AwsError> {
        let all = list_buckets(&self.s3, scope, LIST.permission).await?;
        Ok(match &self.scope {
            Some(p) => all.into_iter().filter(|b| p.matches(&b.id)).collect(),
            None => all,
        })
    }

    async fn inspect(
        &self,
        bucket: &Resource,
        _: &str,
        scope: &Scope,
    ) -> Result<Option<PolicyState>, AwsError> {
        // Outside TLS_ONLY_BUCKETS: not applicable, without a call.
        if self.scope.as_ref().is_some_and(|p| !p.matches(&bucket.id)) {
            return Ok(Some(PolicyState {
                out_of_scope: true,
                policy: None,
                unsafe_reason: None,
                tls_statement: None,
                fixed: None,
            }));
        }
        let Some(policy) = self.get(&bucket.id, &scope.account).await? else {
            return Ok(None);
        };
        let mut state = PolicyState {
            out_of_scope: false,
            policy: policy.clone(),
            unsafe_reason: None,
            tls_statement: None,
            fixed: None,
        };
        let ours = tls_statement(&bucket.arn);
        match &policy {
            None => {
                state.fixed = Some(
                    serde_json::json!({"Version": "2012-10-17", "Statement": [ours]}).to_string(),
                )
            }
            Some(text) => match serde_json::from_str::<Value>(text) {
                Err(e) => {
                    state.unsafe_reason = Some(format!("the bucket policy cannot be parsed ({e})"))
                }
                Ok(doc) => {
                    let statements = statements_of(&doc);
                    state.tls_statement = statements
                        .iter()
                        .enumerate()
                        .find(|(_, s)| denies_plain_http(s, &bucket.arn))
                        .map(|(i, s)| {
                            s.get("Sid")
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                                .unwrap_or_else(|| format!("statement {}", i + 1))
                        });
                    if state.tls_statement.is_none() {
                        // A policy S3 refuses to take back whatever the settings: never a doomed
                        // write.
                        match refused_as_is(&statements) {
                            Some(why) => state.unsafe_reason = Some(why),
                            None => match with_statement(text, &ours) {
                                Ok(fixed) if fixed.len() > POLICY_MAX_BYTES => {
                                    state.unsafe_reason = Some(format!(
                                        "adding the TLS-only statement would make the policy {} bytes, over S3's {POLICY_MAX_BYTES}-byte limit",
                                        fixed.len()
                                    ))
                                }
                                Ok(fixed) => state.fixed = Some(fixed),
                                Err(why) => state.unsafe_reason = Some(why),
                            },
                        }
                    }
                }
            },
        }
        Ok(Some(state))
    }

    async fn tags(
        &self,
        bucket: &Resource,
        _: &PolicyState,
    ) -> Result<Option<Vec<(String, String)>>, AwsError> {
        // The bucket's owner was checked by the policy read that came first.
        bucket_tags(
            &self.s3,
            &self.regions,
            &bucket.id,
            None,
            GET_TAGS.permission,
        )
        .await
        .map(Some)
    }

    fn decide(&self, state: &PolicyState, _: &str) -> Decision<String> {
        if state.out_of_scope {
            return Decision::NotApplicable("outside TLS_ONLY_BUCKETS".to_owned());
        }
        if let Some(sid) = &state.tls_statement {
            return Decision::Compliant(format!("{sid} denies requests without TLS"));
        }
        if let Some(why) = &state.unsafe_reason {
            return Decision::Unsafe(why.clone());
        }
        match &state.fixed {
            Some(fixed) => Decision::Remediate {
                plan: fixed.clone(),
                actions: vec![PUT_POLICY.api],
                reason: if state.policy.is_some() {
                    format!("no statement denies requests without TLS: added {TLS_SID}, every other statement kept")
                } else {
                    format!("no bucket policy: set one with just {TLS_SID}")
                },
            },
            None => Decision::Unsafe("no policy to write".to_owned()),
        }
    }

    async fn apply(&self, bucket: &Resource, plan: &String, scope: &Scope) -> Result<(), AwsError> {
        let request = self
            .s3
            .put_bucket_policy()
            .bucket(&bucket.id)
            .expected_bucket_owner(&scope.account)
            .policy(plan)
            .customize();
        self.regions
            .route(&bucket.id, request)
            .send()
            .await
            .map_err(|e| refused_policy(plan, AwsError::from_sdk(PUT_POLICY.permission, e)))?;
        Ok(())
    }

    /// The policy read back must mean the one written (S3 rewrites a policy into its own form).
    fn verify(&self, plan: &String, after: &PolicyState) -> Result<(), String> {
        match after.policy.as_deref().map(policy_meaning) {
            Some(Some(read))
                if Some(&read) == policy_meaning(plan).as_ref()
                    && after.tls_statement.is_some() =>
            {
                Ok(())
            }
            Some(_) => Err("the policy read back does not mean the one written".to_owned()),
            None => Err("no policy read back".to_owned()),
        }
    }
}

// --- customer-key encryption ----------------------------------------------------------------

/// A bucket's default encryption, as read.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionState {
    /// Why it is not AI data (`None`: it is).
    pub out_of_scope: Option<String>,
    pub algorithm: Option<String>,
    pub key: Option<String>,
    pub bucket_key: bool,
    /// Why `AI_DATA_KMS_KEY` cannot be used for this bucket (checked only when it is about to be
    /// written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_problem: Option<String>,
}

/// SSE-KMS, single-layer encryption with a KMS key.
const SSE_KMS: &str = "aws:kms";
/// DSSE-KMS, dual-layer encryption with a KMS key (S3 Bucket Keys do not apply to it).
const DSSE_KMS: &str = "aws:kms:dsse";

/// What the customer-key fix writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionPlan {
    /// `aws:kms`; `aws:kms:dsse` for a bucket already dual-layer, which is never downgraded.
    pub algorithm: &'static str,
    pub key: String,
    /// S3 Bucket Keys: SSE-KMS only (S3 API reference, PutBucketEncryption; S3 Bucket Keys are
    /// not supported for DSSE-KMS).
    pub bucket_key: bool,
}

/// Customer-key default encryption of AI data buckets.
pub struct BucketKmsEncryption {
    s3: aws_sdk_s3::Client,
    kms: aws_sdk_kms::Client,
    ai_data: AiDataBuckets,
    key: Option<String>,
    key_accounts: Vec<String>,
    regions: BucketRegions,
    /// The buckets that answered from another region than the client's, and that region (what
    /// `regions` learns from the same redirects).
    bucket_regions: Mutex<HashMap<String, String>>,
    /// The last `DescribeKey` verdict on `key` (`None`: usable) and when it was made. Held while the
    /// call is made, so buckets checked at once share one call.
    key_check: tokio::sync::Mutex<Option<(Instant, Option<String>)>>,
}

/// The region a `301 PermanentRedirect` names (`x-amz-bucket-region`).
fn redirect_region<E>(err: &SdkError<E, HttpResponse>) -> Option<String> {
    err.raw_response()
        .filter(|r| r.status().as_u16() == 301)
        .and_then(|r| r.headers().get("x-amz-bucket-region"))
        .map(str::to_owned)
}

/// Why a key `DescribeKey` describes cannot encrypt S3 objects, if so.
fn unusable(key: &str, metadata: Option<&aws_sdk_kms::types::KeyMetadata>) -> Option<String> {
    let Some(m) = metadata else {
        return Some(format!(
            "DescribeKey returned no metadata for AI_DATA_KMS_KEY {key}"
        ));
    };
    let name = |v: Option<&str>| v.unwrap_or("unknown").to_owned();
    if m.key_state() != Some(&KeyState::Enabled) {
        return Some(format!(
            "AI_DATA_KMS_KEY {key} is {}, not Enabled: S3 would accept it and every upload would fail",
            name(m.key_state().map(KeyState::as_str))
        ));
    }
    if m.key_usage() != Some(&KeyUsageType::EncryptDecrypt)
        || m.key_spec() != Some(&KeySpec::SymmetricDefault)
    {
        return Some(format!(
            "AI_DATA_KMS_KEY {key} is a {} key for {}: S3 default encryption needs a symmetric encryption key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)",
            name(m.key_spec().map(KeySpec::as_str)),
            name(m.key_usage().map(KeyUsageType::as_str))
        ));
    }
    None
}

impl BucketKmsEncryption {
    /// `kms` checks `AI_DATA_KMS_KEY` before a bucket is set to it.
    pub fn new(
        s3: aws_sdk_s3::Client,
        kms: aws_sdk_kms::Client,
        settings: &DataProtectionSettings,
    ) -> Self {
        Self {
            s3,
            kms,
            ai_data: settings.ai_data.clone(),
            key: settings.kms_key.clone(),
            key_accounts: settings.kms_key_accounts.clone(),
            regions: BucketRegions::default(),
            bucket_regions: Mutex::new(HashMap::new()),
            key_check: tokio::sync::Mutex::new(None),
        }
    }

    /// The bucket's region: the one it answered from, else the client's.
    fn bucket_region(&self, bucket: &str, scope: &Scope) -> String {
        self.bucket_regions
            .lock()
            .ok()
            .and_then(|r| r.get(bucket).cloned())
            .unwrap_or_else(|| scope.region.clone())
    }

    /// Why `key` cannot be the default key of a bucket of `account` in `region`, if so: its ARN's
    /// region and account first (no call), then one `DescribeKey` (or its recent verdict).
    async fn key_problem(&self, key: &str, region: &str, account: &str) -> Option<String> {
        let Some(arn) = Arn::parse(key) else {
            return Some(format!("AI_DATA_KMS_KEY {key} is not an ARN"));
        };
        if arn.region != region {
            return Some(format!(
                "AI_DATA_KMS_KEY {key} is in {}, the bucket in {region}: S3 would accept it and every upload would fail",
                arn.region
            ));
        }
        if arn.account != account && !self.key_accounts.iter().any(|a| a == arn.account) {
            return Some(format!(
                "AI_DATA_KMS_KEY {key} belongs to account {}, the bucket to {account}: a key of another account must be listed in AI_DATA_KMS_KEY_ACCOUNTS (and its key policy must let the bucket's writers use it)",
                arn.account
            ));
        }
        let mut last = self.key_check.lock().await;
        if let Some((at, verdict)) = last.as_ref() {
            if at.elapsed() < KEY_CHECK_TTL {
                return verdict.clone();
            }
        }
        // Asked in the key's region (the bucket's, checked above), whatever the client's.
        let verdict = match self
            .kms
            .describe_key()
            .key_id(key)
            .customize()
            .config_override(
                aws_sdk_kms::config::Builder::default()
                    .region(aws_types::region::Region::new(arn.region.to_owned())),
            )
            .send()
            .await
        {
            Ok(out) => unusable(key, out.key_metadata()),
            Err(e) if e.code() == Some("NotFoundException") => Some(format!(
                "AI_DATA_KMS_KEY {key} does not exist (DescribeKey: NotFoundException): S3 would accept it and every upload would fail"
            )),
            // Not remembered: the next bucket asks again.
            Err(e) => {
                return Some(format!(
                    "cannot check that AI_DATA_KMS_KEY {key} is usable: {}",
                    AwsError::from_sdk(DESCRIBE_KEY.permission, e)
                ))
            }
        };
        *last = Some((Instant::now(), verdict.clone()));
        verdict
    }

    /// The bucket's encryption; for `action`, also whether the configured key can be written
    /// (`None`: a verification read, which never checks the key).
    async fn read(
        &self,
        bucket: &Resource,
        action: Option<&str>,
        scope: &Scope,
    ) -> Result<Option<EncryptionState>, AwsError> {
        // Not AI data: not applicable, without reading its encryption.
        if let Some(why) = self.scope_reason(&bucket.id, &scope.account).await? {
            return Ok(Some(EncryptionState {
                out_of_scope: Some(why),
                algorithm: None,
                key: None,
                bucket_key: false,
                key_problem: None,
            }));
        }
        let mut found = None;
        for _ in 0..2 {
            let request = self
                .s3
                .get_bucket_encryption()
                .bucket(&bucket.id)
                .expected_bucket_owner(&scope.account)
                .customize();
            match self.regions.route(&bucket.id, request).send().await {
                Ok(out) => {
                    found = Some(out);
                    break;
                }
                Err(e) if e.code() == Some("NoSuchBucket") => return Ok(None),
                Err(e) if e.code() == Some("ServerSideEncryptionConfigurationNotFoundError") => {
                    break
                }
                Err(e) if self.regions.redirected(&bucket.id, &e) => {
                    if let (Some(region), Ok(mut regions)) =
                        (redirect_region(&e), self.bucket_regions.lock())
                    {
                        regions.insert(bucket.id.clone(), region);
                    }
                    continue;
                }
                Err(e) => return Err(AwsError::from_sdk(GET_ENCRYPTION.permission, e)),
            }
        }
        let rule = found
            .as_ref()
            .and_then(|o| o.server_side_encryption_configuration())
            .and_then(|c| c.rules().first());
        let default = rule.and_then(|r| r.apply_server_side_encryption_by_default());
        let mut state = EncryptionState {
            out_of_scope: None,
            algorithm: default.map(|d| d.sse_algorithm().as_str().to_owned()),
            key: default
                .and_then(|d| d.kms_master_key_id())
                .map(str::to_owned),
            bucket_key: rule.and_then(|r| r.bucket_key_enabled()).unwrap_or(false),
            key_problem: None,
        };
        // About to be set to the configured key: check the key first (a compliant bucket, or one
        // only needing S3 Bucket Keys on its own key, costs no call).
        if let (Some(action), Some(key)) = (action, self.key.as_deref()) {
            if matches!(self.decide(&state, action), Decision::Remediate { .. }) {
                let region = self.bucket_region(&bucket.id, scope);
                state.key_problem = self.key_problem(key, &region, &scope.account).await;
            }
        }
        Ok(Some(state))
    }

    /// Whether `key` (as the bucket names it) is the wanted one, or any customer key.
    fn key_ok(&self, key: &str) -> bool {
        match &self.key {
            // The bucket may name the key by ARN or by id.
            Some(want) => key == want || key.rsplit('/').next() == want.rsplit('/').next(),
            None => !key.contains("alias/aws/"),
        }
    }

    async fn scope_reason(&self, bucket: &str, owner: &str) -> Result<Option<String>, AwsError> {
        if self.ai_data.is_off() {
            return Ok(Some(
                "AI_DATA_BUCKETS is empty: customer-key encryption is off".to_owned(),
            ));
        }
        if self.ai_data.names.matches(bucket) {
            return Ok(None);
        }
        if !self.ai_data.tags.is_empty() {
            let tags = bucket_tags(
                &self.s3,
                &self.regions,
                bucket,
                Some(owner),
                GET_TAGS.permission,
            )
            .await?;
            if self
                .ai_data
                .tags
                .iter()
                .any(|(k, v)| tags.iter().any(|(tk, tv)| tk == k && tv == v))
            {
                return Ok(None);
            }
        }
        Ok(Some("not in AI_DATA_BUCKETS".to_owned()))
    }
}

impl Control for BucketKmsEncryption {
    type State = EncryptionState;
    type Plan = EncryptionPlan;

    fn spec(&self) -> &'static ControlSpec {
        &KMS_SPEC
    }

    async fn list(&self, scope: &Scope) -> Result<Vec<Resource>, AwsError> {
        if self.ai_data.is_off() {
            return Ok(Vec::new());
        }
        let all = list_buckets(&self.s3, scope, LIST.permission).await?;
        Ok(if self.ai_data.tags.is_empty() {
            all.into_iter()
                .filter(|b| self.ai_data.names.matches(&b.id))
                .collect()
        } else {
            all
        })
    }

    async fn inspect(
        &self,
        bucket: &Resource,
        action: &str,
        scope: &Scope,
    ) -> Result<Option<EncryptionState>, AwsError> {
        self.read(bucket, Some(action), scope).await
    }

    async fn reinspect(
        &self,
        bucket: &Resource,
        _: &EncryptionState,
        _: &str,
        scope: &Scope,
    ) -> Result<Option<EncryptionState>, AwsError> {
        self.read(bucket, None, scope).await
    }

    fn decide(&self, state: &EncryptionState, _: &str) -> Decision<EncryptionPlan> {
        if let Some(why) = &state.out_of_scope {
            return Decision::NotApplicable(why.clone());
        }
        let dsse = state.algorithm.as_deref() == Some(DSSE_KMS);
        let kms = dsse || state.algorithm.as_deref() == Some(SSE_KMS);
        let key_ok = state.key.as_deref().is_some_and(|k| self.key_ok(k));
        let key_name = state.key.as_deref().unwrap_or_default();
        // DSSE-KMS: two layers with the key; S3 Bucket Keys do not apply to it.
        if dsse && key_ok {
            return Decision::Compliant(format!(
                "aws:kms:dsse (dual-layer) with {key_name} (S3 Bucket Keys do not apply to DSSE-KMS)"
            ));
        }
        if kms && key_ok && state.bucket_key {
            return Decision::Compliant(format!("aws:kms with {key_name} and S3 Bucket Keys"));
        }
        let what = if !kms {
            format!(
                "default encryption is {}",
                state.algorithm.as_deref().unwrap_or("not configured")
            )
        } else if !key_ok {
            format!(
                "default key is {}, not {}",
                state.key.as_deref().unwrap_or("the AWS-managed key"),
                self.key.as_deref().unwrap_or("a customer key")
            )
        } else {
            "S3 Bucket Keys are off".to_owned()
        };
        match (
            self.key.as_deref(),
            state.key.as_deref().filter(|k| kms && self.key_ok(k)),
        ) {
            (Some(key), _) | (None, Some(key)) => match &state.key_problem {
                Some(problem) => Decision::Unsafe(format!("{what}; {problem}")),
                // Dual-layer stays dual-layer: only its key is changed.
                None if dsse => Decision::Remediate {
                    plan: EncryptionPlan {
                        algorithm: DSSE_KMS,
                        key: key.to_owned(),
                        bucket_key: false,
                    },
                    actions: vec![PUT_ENCRYPTION.api],
                    reason: format!(
                        "{what}: set aws:kms:dsse with {key}, keeping the second layer (S3 Bucket Keys do not apply to DSSE-KMS; objects written before keep their old encryption)"
                    ),
                },
                None => Decision::Remediate {
                    plan: EncryptionPlan {
                        algorithm: SSE_KMS,
                        key: key.to_owned(),
                        bucket_key: true,
                    },
                    actions: vec![PUT_ENCRYPTION.api],
                    reason: format!(
                        "{what}: set aws:kms with {key} and S3 Bucket Keys (objects written before keep their old encryption)"
                    ),
                },
            },
            (None, None) => Decision::Unsafe(format!(
                "{what}; set AI_DATA_KMS_KEY so ai-guard knows which customer key to use"
            )),
        }
    }

    async fn apply(
        &self,
        bucket: &Resource,
        plan: &EncryptionPlan,
        scope: &Scope,
    ) -> Result<(), AwsError> {
        let invalid = |e: aws_sdk_s3::error::BuildError| {
            AwsError::new(
                crate::aws::AwsErrorKind::Other,
                PUT_ENCRYPTION.permission,
                e.to_string(),
            )
        };
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::from(plan.algorithm))
                    .kms_master_key_id(&plan.key)
                    .build()
                    .map_err(invalid)?,
            )
            // Sent only for SSE-KMS: S3 Bucket Keys are not supported with DSSE-KMS.
            .set_bucket_key_enabled(plan.bucket_key.then_some(true))
            .build();
        let config = ServerSideEncryptionConfiguration::builder()
            .rules(rule)
            .build()
            .map_err(invalid)?;
        let request = self
            .s3
            .put_bucket_encryption()
            .bucket(&bucket.id)
            .expected_bucket_owner(&scope.account)
            .server_side_encryption_configuration(config)
            .customize();
        self.regions
            .route(&bucket.id, request)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(PUT_ENCRYPTION.permission, e))?;
        Ok(())
    }

    fn verify(&self, plan: &EncryptionPlan, after: &EncryptionState) -> Result<(), String> {
        if after.algorithm.as_deref() == Some(plan.algorithm)
            && after.key.as_deref() == Some(plan.key.as_str())
            && (after.bucket_key || !plan.bucket_key)
        {
            Ok(())
        } else {
            Err(format!("read back {after:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUCKET: &str = "arn:aws:s3:::training";

    #[test]
    fn the_fix_keeps_every_other_statement_byte_for_byte() {
        let owner = r#"{ "Version":"2012-10-17",
  "Statement": [ {"Sid":"Readers","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/r"},
     "Action":"s3:GetObject","Resource":"arn:aws:s3:::training/*"} ] }"#;
        let fixed = with_statement(owner, &tls_statement(BUCKET)).unwrap();
        let kept = r#"{"Sid":"Readers","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/r"},
     "Action":"s3:GetObject","Resource":"arn:aws:s3:::training/*"}"#;
        assert!(fixed.contains(kept), "{fixed}");
        assert!(fixed.starts_with(r#"{ "Version":"2012-10-17","#));
        let doc: Value = serde_json::from_str(&fixed).unwrap();
        assert_eq!(doc["Statement"].as_array().unwrap().len(), 2);
        assert!(denies_plain_http(&doc["Statement"][1], BUCKET));
        // A single statement object becomes a list of two.
        let single = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::training/*"}}"#;
        let fixed = with_statement(single, &tls_statement(BUCKET)).unwrap();
        let doc: Value = serde_json::from_str(&fixed).unwrap();
        assert_eq!(doc["Statement"].as_array().unwrap().len(), 2);
        // Strings with brackets and escaped quotes do not confuse the merge.
        let tricky = r#"{"Statement":[{"Sid":"a]\"}","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::training/*"}],"Version":"2012-10-17"}"#;
        let fixed = with_statement(tricky, &tls_statement(BUCKET)).unwrap();
        assert!(fixed.ends_with(r#","Version":"2012-10-17"}"#), "{fixed}");
    }

    #[test]
    fn unparsable_policies_are_refused() {
        assert!(with_statement("{not json", &tls_statement(BUCKET)).is_err());
        assert!(with_statement(r#"{"Version":"2012-10-17"}"#, &tls_statement(BUCKET)).is_err());
    }

    fn data_settings(pairs: &[(&str, &str)]) -> Result<DataProtectionSettings, SettingsError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        DataProtectionSettings::from_lookup(&env)
    }

    const KEY_ARN: &str =
        "arn:aws:kms:eu-west-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn the_key_is_a_key_arn_or_an_alias_arn() {
        for key in [
            KEY_ARN,
            "arn:aws:kms:eu-west-1:210987654321:key/mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws:kms:eu-west-1:210987654321:alias/ai-data",
            "arn:aws:kms:eu-west-1:210987654321:alias/team/ai-data",
            "arn:aws-cn:kms:cn-north-1:210987654321:alias/ai-data",
        ] {
            let s = data_settings(&[("AI_DATA_KMS_KEY", key)]).unwrap();
            assert_eq!(s.kms_key.as_deref(), Some(key));
        }
        // Trimmed, as every setting.
        let s = data_settings(&[("AI_DATA_KMS_KEY", &format!(" {KEY_ARN} "))]).unwrap();
        assert_eq!(s.kms_key.as_deref(), Some(KEY_ARN));
        for (key, why) in [
            (
                "1234abcd-12ab-34cd-56ef-1234567890ab",
                "expected a KMS key ARN",
            ),
            ("alias/ai-data", "expected a KMS key ARN"),
            ("arn:aws:s3:::bucket", "expected a KMS key ARN"),
            (
                "arn:aws:kms:eu-west-1:210987654321:key/",
                "expected a KMS key ARN",
            ),
            (
                "arn:aws:kms:eu-west-1:210987654321:alias/",
                "expected a KMS key ARN",
            ),
            (
                "arn:aws:kms:eu-west-1:210987654321:grant/x",
                "expected a KMS key ARN",
            ),
            ("arn:aws:kms::210987654321:key/x", "names no region"),
            (
                "arn:aws:kms:EU-WEST-1:210987654321:key/x",
                "names no region",
            ),
            ("arn:aws:kms:eu-west-1:2109:key/x", "12-digit account id"),
            (
                "arn:aws:kms:eu-west-1:210987654321:alias/aws/s3",
                "AWS managed key",
            ),
        ] {
            let e = data_settings(&[("AI_DATA_KMS_KEY", key)]).unwrap_err();
            assert_eq!(e.name, "AI_DATA_KMS_KEY");
            assert!(e.reason.contains(why), "{key}: {e}");
        }
    }

    #[test]
    fn placeholders_are_accepted_once_a_hub_replaced_them() {
        let template = "arn:aws:kms:{region}:{account}:alias/ai-data";
        let env = |name: &str| (name == "AI_DATA_KMS_KEY").then(|| template.to_owned());
        let placed = crate::env::Placed {
            env: &env,
            account: "210987654321",
            region: "eu-west-1",
        };
        let s = DataProtectionSettings::from_lookup(&placed).unwrap();
        assert_eq!(
            s.kms_key.as_deref(),
            Some("arn:aws:kms:eu-west-1:210987654321:alias/ai-data")
        );
        // Not replaced (no hub): refused at start, saying why.
        let e = data_settings(&[("AI_DATA_KMS_KEY", template)]).unwrap_err();
        assert!(
            e.reason.contains("only when the function runs as a hub"),
            "{e}"
        );
    }

    #[test]
    fn other_accounts_allowed_to_own_the_key_are_listed() {
        let s = data_settings(&[
            ("AI_DATA_KMS_KEY", KEY_ARN),
            ("AI_DATA_KMS_KEY_ACCOUNTS", " 210987654321, 111122223333 ,"),
        ])
        .unwrap();
        assert_eq!(s.kms_key_accounts, vec!["210987654321", "111122223333"]);
        assert!(data_settings(&[("AI_DATA_KMS_KEY", KEY_ARN)])
            .unwrap()
            .kms_key_accounts
            .is_empty());
        let e = data_settings(&[
            ("AI_DATA_KMS_KEY", KEY_ARN),
            ("AI_DATA_KMS_KEY_ACCOUNTS", "210987654321,12345"),
        ])
        .unwrap_err();
        assert_eq!(e.name, "AI_DATA_KMS_KEY_ACCOUNTS");
        assert!(
            e.reason.contains("`12345` is not a 12-digit account id"),
            "{e}"
        );
        let e = data_settings(&[("AI_DATA_KMS_KEY_ACCOUNTS", "210987654321")]).unwrap_err();
        assert!(e.reason.contains("needs AI_DATA_KMS_KEY"), "{e}");
    }

    #[test]
    fn only_an_enabled_symmetric_encryption_key_is_usable() {
        use aws_sdk_kms::types::KeyMetadata;
        let key = |state: KeyState, spec: KeySpec, usage: KeyUsageType| {
            KeyMetadata::builder()
                .key_id("k")
                .key_state(state)
                .key_spec(spec)
                .key_usage(usage)
                .build()
                .unwrap()
        };
        let ok = key(
            KeyState::Enabled,
            KeySpec::SymmetricDefault,
            KeyUsageType::EncryptDecrypt,
        );
        assert_eq!(unusable(KEY_ARN, Some(&ok)), None);
        let disabled = key(
            KeyState::Disabled,
            KeySpec::SymmetricDefault,
            KeyUsageType::EncryptDecrypt,
        );
        let why = unusable(KEY_ARN, Some(&disabled)).unwrap();
        assert!(why.contains("is Disabled, not Enabled"), "{why}");
        let pending = key(
            KeyState::PendingDeletion,
            KeySpec::SymmetricDefault,
            KeyUsageType::EncryptDecrypt,
        );
        assert!(unusable(KEY_ARN, Some(&pending))
            .unwrap()
            .contains("PendingDeletion"));
        let rsa = key(
            KeyState::Enabled,
            KeySpec::Rsa2048,
            KeyUsageType::EncryptDecrypt,
        );
        let why = unusable(KEY_ARN, Some(&rsa)).unwrap();
        assert!(why.contains("RSA_2048 key for ENCRYPT_DECRYPT"), "{why}");
        let hmac = key(
            KeyState::Enabled,
            KeySpec::Hmac256,
            KeyUsageType::GenerateVerifyMac,
        );
        assert!(unusable(KEY_ARN, Some(&hmac))
            .unwrap()
            .contains("needs a symmetric encryption key"));
        assert!(unusable(KEY_ARN, None).is_some());
    }

    fn offline_s3() -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .build(),
        )
    }

    fn kms_control(key: Option<&str>) -> BucketKmsEncryption {
        let kms = aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::Config::builder()
                .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
                .build(),
        );
        let settings = DataProtectionSettings {
            ai_data: AiDataBuckets {
                names: NamePatterns(vec!["*".to_owned()]),
                tags: Vec::new(),
            },
            kms_key: key.map(str::to_owned),
            ..DataProtectionSettings::default()
        };
        BucketKmsEncryption::new(offline_s3(), kms, &settings)
    }

    fn encryption(algorithm: &str, key: &str, bucket_key: bool) -> EncryptionState {
        EncryptionState {
            out_of_scope: None,
            algorithm: Some(algorithm.to_owned()),
            key: Some(key.to_owned()),
            bucket_key,
            key_problem: None,
        }
    }

    #[test]
    fn dsse_kms_is_never_downgraded_to_single_layer() {
        // S3 Bucket Keys apply to SSE-KMS only (S3 API reference, PutBucketEncryption; SSM
        // runbook reference, AWS-EnableS3BucketKeys: "Amazon S3 Bucket Keys aren't supported for
        // dual-layer server-side encryption with AWS KMS keys (DSSE-KMS)").
        let other = "arn:aws:kms:eu-west-1:210987654321:key/other";
        for key in [Some(KEY_ARN), None] {
            let c = kms_control(key);
            let dsse = encryption("aws:kms:dsse", KEY_ARN, false);
            match c.decide(&dsse, "remediate") {
                Decision::Compliant(why) => assert!(why.contains("aws:kms:dsse"), "{why}"),
                other => panic!("{key:?}: {other:?}"),
            }
        }
        // A DSSE-KMS bucket with another key: the key is fixed, the second layer kept, no
        // Bucket Keys.
        let c = kms_control(Some(KEY_ARN));
        match c.decide(&encryption("aws:kms:dsse", other, false), "remediate") {
            Decision::Remediate { plan, reason, .. } => {
                let written = format!("{plan:?}");
                assert!(written.contains("aws:kms:dsse"), "{written}");
                assert!(written.contains(KEY_ARN), "{written}");
                assert!(!written.contains("bucket_key: true"), "{written}");
                assert!(reason.contains("aws:kms:dsse"), "{reason}");
                assert!(c
                    .verify(&plan, &encryption("aws:kms:dsse", KEY_ARN, false))
                    .is_ok());
                assert!(c
                    .verify(&plan, &encryption("aws:kms", KEY_ARN, true))
                    .is_err());
            }
            other => panic!("{other:?}"),
        }
        // SSE-KMS is as before: the key and S3 Bucket Keys.
        assert!(matches!(
            c.decide(&encryption("aws:kms", KEY_ARN, true), "remediate"),
            Decision::Compliant(_)
        ));
        match c.decide(&encryption("aws:kms", KEY_ARN, false), "remediate") {
            Decision::Remediate { plan, .. } => {
                assert!(c
                    .verify(&plan, &encryption("aws:kms", KEY_ARN, true))
                    .is_ok());
                assert!(c
                    .verify(&plan, &encryption("aws:kms", KEY_ARN, false))
                    .is_err());
            }
            other => panic!("{other:?}"),
        }
        match c.decide(&encryption("AES256", "", false), "remediate") {
            Decision::Remediate { plan, .. } => {
                assert!(c
                    .verify(&plan, &encryption("aws:kms", KEY_ARN, true))
                    .is_ok());
                assert!(c
                    .verify(&plan, &encryption("aws:kms:dsse", KEY_ARN, false))
                    .is_err());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_policy_read_back_is_compared_by_meaning() {
        // S3 stores a policy in its own form: an account id principal as the root ARN (IAM user
        // guide, "AWS JSON policy elements: Principal"), single-item lists as their item, its own
        // whitespace and key order.
        let c = BucketTlsOnly::new(offline_s3(), &DataProtectionSettings::default());
        let ours = tls_statement(BUCKET);
        let written = format!(
            r#"{{"Version": "2012-10-17", "Id": "P", "Statement": [{{"Sid": "Partner", "Effect": "Allow", "Principal": {{"AWS": ["210987654321"]}}, "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::training/*"]}}, {ours}]}}"#
        );
        let stored = format!(
            r#"{{"Id":"P","Version":"2012-10-17","Statement":[{{"Sid":"Partner","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::210987654321:root"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::training/*"}},{ours}]}}"#
        );
        let after = PolicyState {
            out_of_scope: false,
            policy: Some(stored.clone()),
            unsafe_reason: None,
            tls_statement: Some(TLS_SID.to_owned()),
            fixed: None,
        };
        assert_eq!(c.verify(&written, &after), Ok(()));
        // Anything that changes the meaning is still told apart.
        for changed in [
            stored.replace("s3:GetObject", "s3:PutObject"),
            stored.replace("210987654321", "111122223333"),
            stored.replace(r#""Id":"P","#, ""),
        ] {
            let after = PolicyState {
                policy: Some(changed.clone()),
                ..after.clone()
            };
            assert!(c.verify(&written, &after).is_err(), "{changed}");
        }
    }

    fn statements(policy: &str) -> Vec<Value> {
        statements_of(&serde_json::from_str(policy).unwrap())
    }

    #[test]
    fn public_grants_and_deleted_principals_are_seen_before_any_write() {
        // "The meaning of 'public'" (S3 user guide): a grant to everyone is public unless a
        // condition fixes it (a subset of S3's evaluation).
        let public = statements(
            r#"{"Statement":[{"Sid":"Tls","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"},{"Sid":"Web","Effect":"Allow","Principal":{"AWS":["*"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::training/*"}]}"#,
        );
        assert_eq!(public_grant(&public).as_deref(), Some("statement Web"));
        // Refused only while BlockPublicPolicy is on: tried, and a refusal explained.
        assert_eq!(refused_as_is(&public), None);
        for condition in [
            r#"{"StringEquals":{"aws:SourceAccount":"210987654321"}}"#,
            r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}"#,
            r#"{"StringEquals":{"aws:PrincipalOrgID":"o-abc123"}}"#,
        ] {
            let fixed = statements(&format!(
                r#"{{"Statement":{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{condition}}}}}"#
            ));
            assert_eq!(public_grant(&fixed), None, "{condition}");
        }
        for condition in [
            r#"{"StringLike":{"aws:SourceArn":"arn:aws:sns:*"}}"#,
            r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#,
            r#"{"StringNotEquals":{"aws:SourceAccount":"210987654321"}}"#,
            r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
        ] {
            let open = statements(&format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{condition}}}]}}"#
            ));
            assert_eq!(
                public_grant(&open).as_deref(),
                Some("statement 1"),
                "{condition}"
            );
        }
        let named = statements(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root","Service":"logging.s3.amazonaws.com"},"Action":"s3:PutObject","Resource":"*"}]}"#,
        );
        assert_eq!(refused_as_is(&named), None);
        // A deleted role or user shows as its unique id (AWS re:Post, "Why is there an unknown
        // principal format in my IAM resource-based policy?").
        let deleted = statements(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::210987654321:root","AROAKSCDLFT9R5DQP782U"]},"Action":"s3:GetObject","Resource":"*"}]}"#,
        );
        assert_eq!(
            deleted_principal(&deleted).as_deref(),
            Some("AROAKSCDLFT9R5DQP782U")
        );
        let why = refused_as_is(&deleted).unwrap();
        assert!(
            why.contains("names a deleted IAM principal AROAKSCDLFT9R5DQP782U")
                && why.contains("remove it"),
            "{why}"
        );
        assert_eq!(deleted_principal(&named), None);
        assert!(!is_unique_id("AROA"));
        assert!(!is_unique_id(
            "arn:aws:iam::210987654321:role/AROAKSCDLFT9R5DQP782U"
        ));
    }

    #[test]
    fn a_refused_policy_write_says_why_when_the_policy_is_the_reason() {
        let denied = |message: &str| {
            AwsError::from_code(
                PUT_POLICY.permission,
                Some("AccessDenied".to_owned()),
                message.to_owned(),
            )
        };
        // A grant to everyone under a condition S3 may count as public: S3's bare AccessDenied.
        let conditional = r#"{"Statement":[{"Sid":"Partners","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpc":"vpc-1"}}}]}"#;
        let why = refused_policy(conditional, denied("Access Denied")).to_string();
        assert!(
            why.contains("statement Partners allows everyone") && why.contains("BlockPublicPolicy"),
            "{why}"
        );
        assert!(!why.contains("missing permission"), "{why}");
        // A public grant (no condition fixing it): said outright.
        let public = r#"{"Statement":[{"Sid":"Web","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}"#;
        let why = refused_policy(public, denied("Access Denied")).to_string();
        assert!(
            why.contains("grants public access (statement Web")
                && why.contains("BlockPublicPolicy")
                && !why.contains("missing permission"),
            "{why}"
        );
        // S3's enhanced AccessDenied for a request of the owner's account or organization (S3 user
        // guide, "Troubleshoot access denied (403 Forbidden) errors": "User … is not authorized to
        // perform … because CONTEXT"): the reason is Block Public Access, not IAM.
        let bpa = denied("User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized to perform: s3:PutBucketPolicy on resource: \"arn:aws:s3:::training\" because public policies are blocked by the BlockPublicPolicy block public access setting.");
        for plan in [public, conditional] {
            let why = refused_policy(plan, bpa.clone()).to_string();
            assert!(
                why.contains("BlockPublicPolicy") && !why.contains("missing permission"),
                "{why}"
            );
        }
        // Even for a grant S3 counts as public where this module's subset of "public" does not.
        let why = refused_policy(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":"s3:GetObject","Resource":"*"}]}"#,
            bpa,
        )
        .to_string();
        assert!(
            why.contains("S3 counts the bucket policy as granting public access")
                && !why.contains("missing permission"),
            "{why}"
        );
        // IAM's own denial, or a policy without such a grant: the missing permission.
        let iam = denied("User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized to perform: s3:PutBucketPolicy on resource: \"arn:aws:s3:::training\" because no identity-based policy allows the s3:PutBucketPolicy action");
        assert!(refused_policy(conditional, iam)
            .to_string()
            .contains("missing permission s3:PutBucketPolicy"));
        let private = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":"s3:GetObject","Resource":"*"}]}"#;
        assert!(refused_policy(private, denied("Access Denied"))
            .to_string()
            .contains("missing permission s3:PutBucketPolicy"));
        // A deleted principal S3 no longer takes.
        let malformed = AwsError::from_code(
            PUT_POLICY.permission,
            Some("MalformedPolicy".to_owned()),
            "Invalid principal in policy".to_owned(),
        );
        let why = refused_policy(private, malformed).to_string();
        assert!(
            why.contains("names a principal that no longer exists") && why.contains("remove it"),
            "{why}"
        );
    }

    #[test]
    fn equivalent_owner_statements_count() {
        let owner: Value = serde_json::from_str(
            r#"{"Effect":"Deny","Principal":{"AWS":"*"},"Action":["s3:*"],"Resource":["arn:aws:s3:::training","arn:aws:s3:::training/*"],"Condition":{"Bool":{"aws:SecureTransport":false}}}"#,
        )
        .unwrap();
        assert!(denies_plain_http(&owner, BUCKET));
        let objects_only: Value = serde_json::from_str(
            r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::training/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#,
        )
        .unwrap();
        assert!(!denies_plain_http(&objects_only, BUCKET));
    }
}
