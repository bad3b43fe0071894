//! Training data and model artifacts in transit and at rest: two controls of the
//! `s3-data-protection` function.
//!
//! * **TLS-only bucket policy** (`s3-bucket-tls-only`): compliant when a statement of the bucket
//!   policy denies every `s3:*` request with `aws:SecureTransport = false` on the bucket and its
//!   objects (the owner's own equivalent statement counts). The fix inserts one statement with a
//!   stable `Sid` into the policy's text, so every other statement stays byte for byte; a bucket
//!   without a policy gets a policy with just that statement. A policy that cannot be parsed, or
//!   that the statement would push over S3's 20 KB limit, is never touched (`failed`, with why).
//! * **Customer-key default encryption** (`s3-bucket-kms-encryption`): buckets in `AI_DATA_BUCKETS`
//!   (name patterns or `tag:key=value`; empty = off — a new key can lock out readers without
//!   `kms:Decrypt`) must default to `aws:kms` with `AI_DATA_KMS_KEY` (any customer key when unset)
//!   and S3 Bucket Keys on. Objects written before keep their old encryption.

use aws_sdk_s3::types::{
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;
use serde_json::Value;
use wildmatch::WildMatch;

use crate::aws::{AwsError, Operation};
use crate::control::{Control, ControlSpec, Decision};
use crate::controls::s3_buckets::{
    bucket_cloudtrail_targets, bucket_tags, list_buckets, parse_bucket, BucketRegions, BUCKET_TYPE,
};
use crate::env::{optional, Lookup};
use crate::error::SettingsError;
use crate::resource::{Arn, Resource, Scope};

pub const GET_POLICY: Operation = Operation {
    service: "s3",
    api: "GetBucketPolicy",
    permission: "s3:GetBucketPolicy",
};
pub const PUT_POLICY: Operation = Operation {
    service: "s3",
    api: "PutBucketPolicy",
    permission: "s3:PutBucketPolicy",
};
pub const GET_ENCRYPTION: Operation = Operation {
    service: "s3",
    api: "GetBucketEncryption",
    permission: "s3:GetEncryptionConfiguration",
};
pub const PUT_ENCRYPTION: Operation = Operation {
    service: "s3",
    api: "PutBucketEncryption",
    permission: "s3:PutEncryptionConfiguration",
};
pub const LIST: Operation = Operation {
    service: "s3",
    api: "ListBuckets",
    permission: "s3:ListAllMyBuckets",
};
pub const GET_TAGS: Operation = Operation {
    service: "s3",
    api: "GetBucketTagging",
    permission: "s3:GetBucketTagging",
};

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
    config_rules: &["s3-bucket-ssl-requests-only"],
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
    config_rules: &["s3-default-encryption-kms"],
    custom_config_rule: None,
    security_hub_controls: &["S3.17"],
    actions: &["remediate"],
    operations: &[GET_ENCRYPTION, PUT_ENCRYPTION, LIST, GET_TAGS],
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
    /// `AI_DATA_KMS_KEY`: the key AI data must be encrypted with (unset: any customer key).
    pub kms_key: Option<String>,
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
        let kms_key = optional(env, "AI_DATA_KMS_KEY");
        if let Some(k) = &kms_key {
            if Arn::parse(k).is_none_or(|a| a.service != "kms") {
                return Err(SettingsError::new(
                    "AI_DATA_KMS_KEY",
                    k,
                    "expected a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)",
                ));
            }
        }
        Ok(Self {
            tls_only,
            ai_data,
            kms_key,
        })
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
    let everyone = match statement.get("Principal") {
        Some(Value::String(p)) => p == "*",
        Some(Value::Object(o)) => strings(o.get("AWS")).contains(&"*"),
        _ => false,
    };
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
                    let statements = match doc.get("Statement") {
                        Some(Value::Array(a)) => a.clone(),
                        Some(one) => vec![one.clone()],
                        None => Vec::new(),
                    };
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
                        match with_statement(text, &ours) {
                            Ok(fixed) if fixed.len() > POLICY_MAX_BYTES => {
                                state.unsafe_reason = Some(format!(
                                    "adding the TLS-only statement would make the policy {} bytes, over S3's {POLICY_MAX_BYTES}-byte limit",
                                    fixed.len()
                                ))
                            }
                            Ok(fixed) => state.fixed = Some(fixed),
                            Err(why) => state.unsafe_reason = Some(why),
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
            .map_err(|e| AwsError::from_sdk(PUT_POLICY.permission, e))?;
        Ok(())
    }

    fn verify(&self, plan: &String, after: &PolicyState) -> Result<(), String> {
        let parse = |t: &str| serde_json::from_str::<Value>(t).ok();
        match after.policy.as_deref().and_then(parse) {
            Some(read) if Some(&read) == parse(plan).as_ref() && after.tls_statement.is_some() => {
                Ok(())
            }
            Some(_) => Err("the policy read back is not the one written".to_owned()),
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
}

/// Customer-key default encryption of AI data buckets.
pub struct BucketKmsEncryption {
    s3: aws_sdk_s3::Client,
    ai_data: AiDataBuckets,
    key: Option<String>,
    regions: BucketRegions,
}

impl BucketKmsEncryption {
    pub fn new(s3: aws_sdk_s3::Client, settings: &DataProtectionSettings) -> Self {
        Self {
            s3,
            ai_data: settings.ai_data.clone(),
            key: settings.kms_key.clone(),
            regions: BucketRegions::default(),
        }
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
    type Plan = String;

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
        _: &str,
        scope: &Scope,
    ) -> Result<Option<EncryptionState>, AwsError> {
        // Not AI data: not applicable, without reading its encryption.
        if let Some(why) = self.scope_reason(&bucket.id, &scope.account).await? {
            return Ok(Some(EncryptionState {
                out_of_scope: Some(why),
                algorithm: None,
                key: None,
                bucket_key: false,
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
                Err(e) if self.regions.redirected(&bucket.id, &e) => continue,
                Err(e) => return Err(AwsError::from_sdk(GET_ENCRYPTION.permission, e)),
            }
        }
        let rule = found
            .as_ref()
            .and_then(|o| o.server_side_encryption_configuration())
            .and_then(|c| c.rules().first());
        let default = rule.and_then(|r| r.apply_server_side_encryption_by_default());
        Ok(Some(EncryptionState {
            out_of_scope: None,
            algorithm: default.map(|d| d.sse_algorithm().as_str().to_owned()),
            key: default
                .and_then(|d| d.kms_master_key_id())
                .map(str::to_owned),
            bucket_key: rule.and_then(|r| r.bucket_key_enabled()).unwrap_or(false),
        }))
    }

    fn decide(&self, state: &EncryptionState, _: &str) -> Decision<String> {
        if let Some(why) = &state.out_of_scope {
            return Decision::NotApplicable(why.clone());
        }
        let kms = matches!(state.algorithm.as_deref(), Some("aws:kms" | "aws:kms:dsse"));
        let key_ok = state.key.as_deref().is_some_and(|k| self.key_ok(k));
        if kms && key_ok && state.bucket_key {
            return Decision::Compliant(format!(
                "aws:kms with {} and S3 Bucket Keys",
                state.key.as_deref().unwrap_or_default()
            ));
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
            (Some(key), _) | (None, Some(key)) => Decision::Remediate {
                plan: key.to_owned(),
                actions: vec![PUT_ENCRYPTION.api],
                reason: format!(
                    "{what}: set aws:kms with {key} and S3 Bucket Keys (objects written before keep their old encryption)"
                ),
            },
            (None, None) => Decision::Unsafe(format!(
                "{what}; set AI_DATA_KMS_KEY so ai-guard knows which customer key to use"
            )),
        }
    }

    async fn apply(&self, bucket: &Resource, key: &String, scope: &Scope) -> Result<(), AwsError> {
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
                    .sse_algorithm(ServerSideEncryption::AwsKms)
                    .kms_master_key_id(key)
                    .build()
                    .map_err(invalid)?,
            )
            .bucket_key_enabled(true)
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

    fn verify(&self, key: &String, after: &EncryptionState) -> Result<(), String> {
        if after.algorithm.as_deref() == Some("aws:kms")
            && after.key.as_deref() == Some(key.as_str())
            && after.bucket_key
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
