//! Bedrock model-invocation logging: keep it on, pointed at the known-good destinations.
//!
//! One setting per account and region. Compliant iff every configured destination is there exactly
//! (same bucket and prefix; same log group and role; the large-data location when configured) and
//! every delivery flag the settings want on is on. Anything else — deleted, never set, redirected to
//! another bucket, a flag off — is restored with one `PutModelInvocationLoggingConfiguration` and
//! verified by reading it back.

use aws_sdk_bedrock::types::{CloudWatchConfig, LoggingConfig, S3Config};
use serde::Serialize;

use crate::aws::{AwsError, AwsErrorKind, IamResource, Implied, Operation};
use crate::control::{Control, ControlSpec, Decision};
use crate::env::{optional, parse_bool, Lookup};
use crate::error::{IntakeError, SettingsError};
use crate::event::cloudtrail::CloudTrailRecord;
use crate::resource::{account_setting, Arn, Resource, Scope};

pub const GET: Operation = Operation {
    service: "bedrock",
    api: "GetModelInvocationLoggingConfiguration",
    permission: "bedrock:GetModelInvocationLoggingConfiguration",
    resource: IamResource::None,
    implies: &[],
};
pub const PUT: Operation = Operation {
    service: "bedrock",
    api: "PutModelInvocationLoggingConfiguration",
    permission: "bedrock:PutModelInvocationLoggingConfiguration",
    resource: IamResource::None,
    implies: &[Implied {
        permission: "iam:PassRole",
        resource: "arn:{partition}:iam::{account}:role/*",
        condition: ("iam:PassedToService", "bedrock.amazonaws.com"),
        why: "The CloudWatch Logs destination's delivery role is passed to Bedrock (Bedrock user guide, model invocation logging)",
    }],
};

pub static SPEC: ControlSpec = ControlSpec {
    id: "bedrock-invocation-logging",
    resource_type: "AWS::::Account",
    asff_type: "AwsAccount",
    event_source: "bedrock.amazonaws.com",
    cloudtrail_events: &[
        "DeleteModelInvocationLoggingConfiguration",
        "PutModelInvocationLoggingConfiguration",
    ],
    state_change_events: &[],
    config_rules: &[],
    custom_config_rule: Some("bedrock-invocation-logging"),
    security_hub_controls: &[],
    actions: &["remediate"],
    operations: &[GET, PUT],
    tag_operation: None,
    resource: parse_logging,
    cloudtrail_targets: logging_cloudtrail_targets,
};

/// An S3 location: bucket and optional key prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Location {
    pub bucket: String,
    pub key_prefix: Option<String>,
}

impl S3Location {
    fn new(bucket: &str, key_prefix: Option<&str>) -> Self {
        Self {
            bucket: bucket.to_owned(),
            key_prefix: key_prefix.filter(|p| !p.is_empty()).map(str::to_owned),
        }
    }

    fn to_sdk(&self) -> Result<S3Config, AwsError> {
        S3Config::builder()
            .bucket_name(&self.bucket)
            .set_key_prefix(self.key_prefix.clone())
            .build()
            .map_err(|e| AwsError::new(AwsErrorKind::Other, PUT.permission, e.to_string()))
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "s3://{}/{}",
            self.bucket,
            self.key_prefix.as_deref().unwrap_or("")
        )
    }
}

/// A CloudWatch Logs destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchDestination {
    pub log_group: String,
    pub role_arn: String,
    pub large_data: Option<S3Location>,
}

/// Model-invocation logging as read, or as it should be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct InvocationLogging {
    pub configured: bool,
    pub s3: Option<S3Location>,
    pub cloud_watch: Option<CloudWatchDestination>,
    pub text: bool,
    pub image: bool,
    pub embedding: bool,
    pub video: bool,
    /// Not managed by this control; kept as found when restoring.
    pub audio: Option<bool>,
}

/// The known-good configuration, from the function's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownGood(pub InvocationLogging);

impl KnownGood {
    /// `BEDROCK_LOG_BUCKET` (+ `BEDROCK_LOG_KEY_PREFIX`), `BEDROCK_LOG_GROUP` + `BEDROCK_LOG_ROLE_ARN`
    /// (+ `BEDROCK_LOG_LARGE_DATA_BUCKET`, `BEDROCK_LOG_LARGE_DATA_KEY_PREFIX`), and the delivery
    /// flags `BEDROCK_LOG_TEXT`, `BEDROCK_LOG_IMAGE`, `BEDROCK_LOG_EMBEDDING`, `BEDROCK_LOG_VIDEO`
    /// (default `true`). At least one destination is required.
    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, SettingsError> {
        // A hub replaces the placeholders (`env::Placed`) before this reads them; left here, they
        // would name a bucket, log group or role that cannot exist.
        for name in DESTINATION_SETTINGS {
            if let Some(v) = optional(env, name).filter(|v| has_placeholder(v)) {
                return Err(SettingsError::new(
                    name,
                    &v,
                    "`{account}` and `{region}` are replaced only by an organization hub \
                     (MEMBER_ROLE_NAME or REGIONS): give this account's and region's own name",
                ));
            }
        }
        let bucket = optional(env, "BEDROCK_LOG_BUCKET");
        let prefix = optional(env, "BEDROCK_LOG_KEY_PREFIX");
        let group = optional(env, "BEDROCK_LOG_GROUP");
        let role = optional(env, "BEDROCK_LOG_ROLE_ARN");
        let large_bucket = optional(env, "BEDROCK_LOG_LARGE_DATA_BUCKET");
        let large_prefix = optional(env, "BEDROCK_LOG_LARGE_DATA_KEY_PREFIX");

        if bucket.is_none() && group.is_none() && role.is_none() {
            return Err(SettingsError::new(
                "BEDROCK_LOG_BUCKET",
                "",
                "no logging destination: set BEDROCK_LOG_BUCKET (S3), or BEDROCK_LOG_GROUP and \
                 BEDROCK_LOG_ROLE_ARN (CloudWatch Logs), or both",
            ));
        }
        if let (Some(p), None) = (&prefix, &bucket) {
            return Err(SettingsError::new(
                "BEDROCK_LOG_KEY_PREFIX",
                p,
                "needs BEDROCK_LOG_BUCKET",
            ));
        }
        let cloud_watch = match (group, role) {
            (None, None) => {
                if let Some(b) = &large_bucket {
                    return Err(SettingsError::new(
                        "BEDROCK_LOG_LARGE_DATA_BUCKET",
                        b,
                        "needs the CloudWatch Logs destination (BEDROCK_LOG_GROUP, BEDROCK_LOG_ROLE_ARN)",
                    ));
                }
                None
            }
            (Some(_), None) => {
                return Err(SettingsError::new(
                    "BEDROCK_LOG_ROLE_ARN",
                    "",
                    "required with BEDROCK_LOG_GROUP",
                ))
            }
            (None, Some(r)) => {
                return Err(SettingsError::new(
                    "BEDROCK_LOG_GROUP",
                    "",
                    format!("required with BEDROCK_LOG_ROLE_ARN={r}"),
                ))
            }
            (Some(log_group), Some(role_arn)) => {
                let is_role = Arn::parse(&role_arn)
                    .is_some_and(|a| a.service == "iam" && a.resource.starts_with("role/"));
                if !is_role {
                    return Err(SettingsError::new(
                        "BEDROCK_LOG_ROLE_ARN",
                        &role_arn,
                        "not an IAM role ARN",
                    ));
                }
                if let (Some(p), None) = (&large_prefix, &large_bucket) {
                    return Err(SettingsError::new(
                        "BEDROCK_LOG_LARGE_DATA_KEY_PREFIX",
                        p,
                        "needs BEDROCK_LOG_LARGE_DATA_BUCKET",
                    ));
                }
                Some(CloudWatchDestination {
                    log_group,
                    role_arn,
                    large_data: large_bucket
                        .as_deref()
                        .map(|b| S3Location::new(b, large_prefix.as_deref())),
                })
            }
        };
        Ok(Self(InvocationLogging {
            configured: true,
            s3: bucket
                .as_deref()
                .map(|b| S3Location::new(b, prefix.as_deref())),
            cloud_watch,
            text: parse_bool(env, "BEDROCK_LOG_TEXT", true)?,
            image: parse_bool(env, "BEDROCK_LOG_IMAGE", true)?,
            embedding: parse_bool(env, "BEDROCK_LOG_EMBEDDING", true)?,
            video: parse_bool(env, "BEDROCK_LOG_VIDEO", true)?,
            audio: None,
        }))
    }

    /// What differs between `current` and the known-good configuration (empty: compliant).
    pub fn differences(&self, current: &InvocationLogging) -> Vec<String> {
        let want = &self.0;
        if !current.configured {
            return vec![
                "model invocation logging is off (deleted or never configured)".to_owned(),
            ];
        }
        let mut diffs = Vec::new();
        if let Some(s3) = &want.s3 {
            match &current.s3 {
                None => diffs.push(format!("S3 destination missing (expected {s3})")),
                Some(c) if c != s3 => diffs.push(format!("S3 destination is {c}, expected {s3}")),
                Some(_) => {}
            }
        }
        if let Some(cw) = &want.cloud_watch {
            match &current.cloud_watch {
                None => diffs.push(format!(
                    "CloudWatch Logs destination missing (expected {})",
                    cw.log_group
                )),
                Some(c) => {
                    if c.log_group != cw.log_group {
                        diffs.push(format!(
                            "log group is {}, expected {}",
                            c.log_group, cw.log_group
                        ));
                    }
                    if c.role_arn != cw.role_arn {
                        diffs.push(format!(
                            "logging role is {}, expected {}",
                            c.role_arn, cw.role_arn
                        ));
                    }
                    if let Some(large) = &cw.large_data {
                        match &c.large_data {
                            Some(l) if l == large => {}
                            Some(l) => {
                                diffs.push(format!("large-data location is {l}, expected {large}"))
                            }
                            None => diffs
                                .push(format!("large-data location missing (expected {large})")),
                        }
                    }
                }
            }
        }
        for (name, wanted, is) in [
            ("textDataDeliveryEnabled", want.text, current.text),
            ("imageDataDeliveryEnabled", want.image, current.image),
            (
                "embeddingDataDeliveryEnabled",
                want.embedding,
                current.embedding,
            ),
            ("videoDataDeliveryEnabled", want.video, current.video),
        ] {
            if wanted && !is {
                diffs.push(format!("{name} is off"));
            }
        }
        diffs
    }
}

/// The settings that name a destination (each may name it per account and region in a hub).
const DESTINATION_SETTINGS: [&str; 6] = [
    "BEDROCK_LOG_BUCKET",
    "BEDROCK_LOG_KEY_PREFIX",
    "BEDROCK_LOG_GROUP",
    "BEDROCK_LOG_ROLE_ARN",
    "BEDROCK_LOG_LARGE_DATA_BUCKET",
    "BEDROCK_LOG_LARGE_DATA_KEY_PREFIX",
];

fn has_placeholder(value: &str) -> bool {
    value.contains("{account}") || value.contains("{region}")
}

/// Destinations a hub can never configure, refused at start. Bedrock accepts only destinations in
/// the account and region it logs (Bedrock user guide, "Monitor model invocation using CloudWatch
/// Logs and Amazon S3"), and the member role may pass only its own account's delivery role. A hub
/// with member accounts (`member_accounts`: `MEMBER_ROLE_NAME`) therefore needs each account's own
/// bucket — S3 bucket names are global, so the name must contain `{account}` — and a delivery role
/// ARN whose account is `{account}`; a hub acting in more than one region (`regions`) needs each
/// region's own bucket: `{region}` in the name. Checked on the settings as given (`env`), before
/// [`crate::env::Placed`] replaces the placeholders. (Log group names are per account and region
/// already: the same name works everywhere.)
pub fn check_hub_settings(
    env: &dyn Lookup,
    member_accounts: bool,
    regions: usize,
) -> Result<(), SettingsError> {
    for name in ["BEDROCK_LOG_BUCKET", "BEDROCK_LOG_LARGE_DATA_BUCKET"] {
        let Some(bucket) = optional(env, name) else {
            continue;
        };
        if member_accounts && !bucket.contains("{account}") {
            return Err(SettingsError::new(
                name,
                &bucket,
                "an organization hub (MEMBER_ROLE_NAME) configures Bedrock logging in every \
                 member account, and Bedrock accepts only a bucket of that account and region; \
                 S3 bucket names are global, so name each account's own bucket with `{account}` \
                 (and `{region}`), e.g. `ai-guard-bedrock-logs-{account}-{region}`",
            ));
        }
        if regions > 1 && !bucket.contains("{region}") {
            return Err(SettingsError::new(
                name,
                &bucket,
                "the hub acts in several REGIONS, and Bedrock accepts only a bucket in the region \
                 it logs; S3 bucket names are global, so name each region's own bucket with \
                 `{region}`, e.g. `ai-guard-bedrock-logs-{account}-{region}`",
            ));
        }
    }
    if member_accounts {
        if let Some(role) = optional(env, "BEDROCK_LOG_ROLE_ARN") {
            if Arn::parse(&role).map(|a| a.account) != Some("{account}") {
                return Err(SettingsError::new(
                    "BEDROCK_LOG_ROLE_ARN",
                    &role,
                    "an organization hub (MEMBER_ROLE_NAME) configures Bedrock logging in every \
                     member account, where Bedrock needs a delivery role of that account (the only \
                     one the member role may pass): put `{account}` in the ARN's account field, \
                     e.g. `arn:aws:iam::{account}:role/ai-guard-bedrock-logging-{region}`",
                ));
            }
        }
    }
    Ok(())
}

/// The control.
pub struct InvocationLoggingControl {
    bedrock: aws_sdk_bedrock::Client,
    known_good: KnownGood,
}

impl InvocationLoggingControl {
    pub fn new(bedrock: aws_sdk_bedrock::Client, known_good: KnownGood) -> Self {
        Self {
            bedrock,
            known_good,
        }
    }

    /// The identifier records use: `arn:<partition>:bedrock:<region>:<account>:model-invocation-logging`.
    pub fn arn(scope: &Scope, region: &str, account: &str) -> String {
        format!(
            "arn:{}:bedrock:{region}:{account}:model-invocation-logging",
            scope.partition
        )
    }

    fn account_resource(scope: &Scope, region: &str, account: &str) -> Resource {
        Resource {
            arn: Self::arn(scope, region, account),
            id: account.to_owned(),
            resource_type: SPEC.resource_type,
        }
    }
}

fn from_sdk(config: Option<&LoggingConfig>) -> InvocationLogging {
    let Some(c) = config else {
        return InvocationLogging::default();
    };
    let s3 = c
        .s3_config()
        .map(|s| S3Location::new(s.bucket_name(), s.key_prefix()));
    let cloud_watch = c.cloud_watch_config().map(|w| CloudWatchDestination {
        log_group: w.log_group_name().to_owned(),
        role_arn: w.role_arn().to_owned(),
        large_data: w
            .large_data_delivery_s3_config()
            .map(|s| S3Location::new(s.bucket_name(), s.key_prefix())),
    });
    InvocationLogging {
        // An empty configuration (no destination) logs nothing: AWS treats it as off.
        configured: s3.is_some() || cloud_watch.is_some(),
        s3,
        cloud_watch,
        text: c.text_data_delivery_enabled().unwrap_or(false),
        image: c.image_data_delivery_enabled().unwrap_or(false),
        embedding: c.embedding_data_delivery_enabled().unwrap_or(false),
        video: c.video_data_delivery_enabled().unwrap_or(false),
        audio: c.audio_data_delivery_enabled(),
    }
}

/// The resource an identifier names (a name, id or ARN from any trigger).
fn parse_logging(id: &str, scope: &Scope) -> Result<Resource, IntakeError> {
    // An ARN keeps its region, so the engine refuses one of another region.
    match account_setting(id, scope, "bedrock", "model-invocation-logging") {
        Some((region, account)) => Ok(InvocationLoggingControl::account_resource(scope, region, account)),
        None => Err(IntakeError::InvalidResourceId {
            id: id.to_owned(),
            reason: "not an account id, AWS::::Account:ID, or arn:aws:bedrock:REGION:ID:model-invocation-logging"
                .to_owned(),
        }),
    }
}

/// Resource identifiers a CloudTrail record of the spec names.
fn logging_cloudtrail_targets(
    record: &CloudTrailRecord,
    scope: &Scope,
) -> Result<Vec<String>, IntakeError> {
    Ok(vec![record.recipient_account(scope)])
}

impl Control for InvocationLoggingControl {
    type State = InvocationLogging;
    type Plan = InvocationLogging;

    fn spec(&self) -> &'static ControlSpec {
        &SPEC
    }

    /// `123456789012`, `AWS::::Account:123456789012`, or the ARN records use.
    async fn list(&self, scope: &Scope) -> Result<Vec<Resource>, AwsError> {
        Ok(vec![Self::account_resource(
            scope,
            &scope.region,
            &scope.account,
        )])
    }

    async fn inspect(
        &self,
        _: &Resource,
        _action: &str,
        _: &Scope,
    ) -> Result<Option<InvocationLogging>, AwsError> {
        let out = self
            .bedrock
            .get_model_invocation_logging_configuration()
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(GET.permission, e))?;
        Ok(Some(from_sdk(out.logging_config())))
    }

    fn decide(&self, state: &InvocationLogging, _action: &str) -> Decision<InvocationLogging> {
        let diffs = self.known_good.differences(state);
        if diffs.is_empty() {
            return Decision::Compliant(
                "invocation logging matches the known-good configuration".to_owned(),
            );
        }
        Decision::Remediate {
            plan: InvocationLogging {
                audio: state.audio,
                ..self.known_good.0.clone()
            },
            actions: vec![PUT.api],
            reason: diffs.join("; "),
        }
    }

    async fn apply(
        &self,
        _: &Resource,
        plan: &InvocationLogging,
        _: &Scope,
    ) -> Result<(), AwsError> {
        let cloud_watch = match &plan.cloud_watch {
            None => None,
            Some(cw) => Some(
                CloudWatchConfig::builder()
                    .log_group_name(&cw.log_group)
                    .role_arn(&cw.role_arn)
                    .set_large_data_delivery_s3_config(
                        cw.large_data.as_ref().map(S3Location::to_sdk).transpose()?,
                    )
                    .build()
                    .map_err(|e| {
                        AwsError::new(AwsErrorKind::Other, PUT.permission, e.to_string())
                    })?,
            ),
        };
        let config = LoggingConfig::builder()
            .set_s3_config(plan.s3.as_ref().map(S3Location::to_sdk).transpose()?)
            .set_cloud_watch_config(cloud_watch)
            .text_data_delivery_enabled(plan.text)
            .image_data_delivery_enabled(plan.image)
            .embedding_data_delivery_enabled(plan.embedding)
            .video_data_delivery_enabled(plan.video)
            .set_audio_data_delivery_enabled(plan.audio)
            .build();
        self.bedrock
            .put_model_invocation_logging_configuration()
            .logging_config(config)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(PUT.permission, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    const ROLE: &str = "arn:aws:iam::123456789012:role/bedrock-logging";

    fn full() -> KnownGood {
        KnownGood::from_lookup(&env(&[
            ("BEDROCK_LOG_BUCKET", "logs"),
            ("BEDROCK_LOG_KEY_PREFIX", "bedrock/"),
            ("BEDROCK_LOG_GROUP", "/bedrock/invocations"),
            ("BEDROCK_LOG_ROLE_ARN", ROLE),
        ]))
        .unwrap()
    }

    #[test]
    fn settings_need_a_destination_and_complete_pairs() {
        let err = KnownGood::from_lookup(&env(&[])).unwrap_err();
        assert!(
            err.to_string()
                .contains("BEDROCK_LOG_GROUP and BEDROCK_LOG_ROLE_ARN"),
            "{err}"
        );
        for (pairs, name) in [
            (vec![("BEDROCK_LOG_GROUP", "g")], "BEDROCK_LOG_ROLE_ARN"),
            (vec![("BEDROCK_LOG_ROLE_ARN", ROLE)], "BEDROCK_LOG_GROUP"),
            (
                vec![("BEDROCK_LOG_GROUP", "g"), ("BEDROCK_LOG_ROLE_ARN", "role")],
                "BEDROCK_LOG_ROLE_ARN",
            ),
            (
                vec![
                    ("BEDROCK_LOG_GROUP", "g"),
                    ("BEDROCK_LOG_ROLE_ARN", ROLE),
                    ("BEDROCK_LOG_KEY_PREFIX", "p"),
                ],
                "BEDROCK_LOG_KEY_PREFIX",
            ),
            (
                vec![("BEDROCK_LOG_BUCKET", "b"), ("BEDROCK_LOG_TEXT", "on")],
                "BEDROCK_LOG_TEXT",
            ),
            (
                vec![
                    ("BEDROCK_LOG_BUCKET", "b"),
                    ("BEDROCK_LOG_LARGE_DATA_BUCKET", "l"),
                ],
                "BEDROCK_LOG_LARGE_DATA_BUCKET",
            ),
        ] {
            assert_eq!(
                KnownGood::from_lookup(&env(&pairs)).unwrap_err().name,
                name,
                "{pairs:?}"
            );
        }
        let s3_only = KnownGood::from_lookup(&env(&[
            ("BEDROCK_LOG_BUCKET", "b"),
            ("BEDROCK_LOG_VIDEO", "false"),
        ]))
        .unwrap();
        assert!(s3_only.0.cloud_watch.is_none() && !s3_only.0.video && s3_only.0.text);
    }

    #[test]
    fn placeholders_outside_a_hub_refuse_to_start() {
        for name in DESTINATION_SETTINGS {
            let mut pairs = vec![
                ("BEDROCK_LOG_BUCKET", "logs"),
                ("BEDROCK_LOG_GROUP", "/bedrock/invocations"),
                ("BEDROCK_LOG_ROLE_ARN", ROLE),
                ("BEDROCK_LOG_LARGE_DATA_BUCKET", "large"),
            ];
            pairs.retain(|(k, _)| *k != name);
            pairs.push((name, "x-{account}-{region}"));
            let err = KnownGood::from_lookup(&env(&pairs)).unwrap_err();
            assert_eq!(err.name, name);
            assert!(err.reason.contains("only by an organization hub"), "{err}");
        }
    }

    /// The settings as a hub's template gives them: each account's and region's own destinations.
    const PER_ACCOUNT: &[(&str, &str)] = &[
        (
            "BEDROCK_LOG_BUCKET",
            "ai-guard-bedrock-logs-{account}-{region}",
        ),
        ("BEDROCK_LOG_KEY_PREFIX", "bedrock/"),
        ("BEDROCK_LOG_GROUP", "/ai-guard/bedrock/model-invocations"),
        (
            "BEDROCK_LOG_ROLE_ARN",
            "arn:aws:iam::{account}:role/ai-guard-bedrock-logging-{region}",
        ),
        (
            "BEDROCK_LOG_LARGE_DATA_BUCKET",
            "ai-guard-bedrock-large-{account}-{region}",
        ),
    ];

    fn with(name: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
        let mut pairs = PER_ACCOUNT.to_vec();
        pairs.retain(|(k, _)| *k != name);
        pairs.push((name, value));
        pairs
    }

    #[test]
    fn a_hub_with_members_needs_each_accounts_and_regions_own_destinations() {
        check_hub_settings(&env(PER_ACCOUNT), true, 2).unwrap();
        check_hub_settings(&env(PER_ACCOUNT), false, 1).unwrap();
        // One region: the account is enough; without members nothing varies per account.
        check_hub_settings(&env(&with("BEDROCK_LOG_BUCKET", "logs-{account}")), true, 1).unwrap();
        check_hub_settings(
            &env(&[
                ("BEDROCK_LOG_BUCKET", "logs-{region}"),
                ("BEDROCK_LOG_ROLE_ARN", ROLE),
            ]),
            false,
            2,
        )
        .unwrap();
        for (pairs, members, regions, name, why) in [
            // The hub's own bucket and role, pushed into every member: Bedrock refuses both.
            (
                with("BEDROCK_LOG_BUCKET", "ai-guard-bedrock-logs"),
                true,
                1,
                "BEDROCK_LOG_BUCKET",
                "`{account}`",
            ),
            (
                with("BEDROCK_LOG_BUCKET", "logs-{region}"),
                true,
                2,
                "BEDROCK_LOG_BUCKET",
                "`{account}`",
            ),
            (
                with("BEDROCK_LOG_BUCKET", "logs-{account}"),
                true,
                2,
                "BEDROCK_LOG_BUCKET",
                "`{region}`",
            ),
            (
                with("BEDROCK_LOG_BUCKET", "logs"),
                false,
                2,
                "BEDROCK_LOG_BUCKET",
                "`{region}`",
            ),
            (
                with("BEDROCK_LOG_LARGE_DATA_BUCKET", "large-{region}"),
                true,
                2,
                "BEDROCK_LOG_LARGE_DATA_BUCKET",
                "`{account}`",
            ),
            (
                with("BEDROCK_LOG_LARGE_DATA_BUCKET", "large-{account}"),
                true,
                3,
                "BEDROCK_LOG_LARGE_DATA_BUCKET",
                "`{region}`",
            ),
            (
                with("BEDROCK_LOG_ROLE_ARN", ROLE),
                true,
                1,
                "BEDROCK_LOG_ROLE_ARN",
                "account field",
            ),
            // `{account}` elsewhere than the account field still names the hub's account.
            (
                with(
                    "BEDROCK_LOG_ROLE_ARN",
                    "arn:aws:iam::123456789012:role/logging-{account}",
                ),
                true,
                1,
                "BEDROCK_LOG_ROLE_ARN",
                "account field",
            ),
        ] {
            let err = check_hub_settings(&env(&pairs), members, regions).unwrap_err();
            assert_eq!(err.name, name, "{pairs:?}");
            assert!(err.reason.contains(why), "{err}");
        }
        // Placed in an account and region, the same settings are valid known-good destinations.
        let env = env(PER_ACCOUNT);
        let placed = crate::env::Placed {
            env: &env,
            account: "210987654321",
            region: "eu-west-1",
        };
        let good = KnownGood::from_lookup(&placed).unwrap();
        assert_eq!(
            good.0.s3,
            Some(S3Location::new(
                "ai-guard-bedrock-logs-210987654321-eu-west-1",
                Some("bedrock/")
            ))
        );
        assert_eq!(
            good.0.cloud_watch.map(|c| c.role_arn).as_deref(),
            Some("arn:aws:iam::210987654321:role/ai-guard-bedrock-logging-eu-west-1")
        );
    }

    #[test]
    fn differences_name_what_changed() {
        let good = full();
        assert!(good.differences(&good.0).is_empty());
        assert_eq!(
            good.differences(&InvocationLogging::default()),
            vec!["model invocation logging is off (deleted or never configured)"]
        );
        let redirected = InvocationLogging {
            s3: Some(S3Location::new("attacker-bucket", None)),
            text: false,
            ..good.0.clone()
        };
        assert_eq!(
            good.differences(&redirected),
            vec![
                "S3 destination is s3://attacker-bucket/, expected s3://logs/bedrock/",
                "textDataDeliveryEnabled is off"
            ]
        );
        // A flag the settings leave off is not required, and an extra destination is not a fault.
        let no_video = KnownGood(InvocationLogging {
            video: false,
            ..good.0.clone()
        });
        let extra = InvocationLogging {
            video: false,
            ..good.0.clone()
        };
        assert!(no_video.differences(&extra).is_empty());
    }
}
