//! The registry: every Lambda function of the product — its name, its controls' specs and how to
//! build its engine — in one list, [`FUNCTIONS`]. The binaries, the `remediate` command, the
//! benchmark, the demo and every test that lists functions or controls iterate it (in the spirit
//! of ripgrep's one list of flags that feeds its help, man page and completions).

use crate::clients::AwsClients;
use crate::contested::ContestedTracker;
use crate::control::ControlSpec;
#[cfg(feature = "bedrock")]
use crate::controls::bedrock_invocation_logging::{self, InvocationLoggingControl, KnownGood};
#[cfg(feature = "cloudtrail")]
use crate::controls::cloudtrail_logging::{self, TrailGuard, TrailSettings};
#[cfg(feature = "guardduty")]
use crate::controls::guardduty_detector::{self, DetectorGuard, DetectorSettings};
#[cfg(feature = "kms")]
use crate::controls::kms_key_deletion::{self, KeyDeletionGuard, ProtectedKeys};
#[cfg(feature = "kms")]
use crate::controls::kms_key_rotation::{self, KeyRotationControl, RotationPeriod};
#[cfg(feature = "s3-data")]
use crate::controls::s3_data_protection::{
    self, BucketKmsEncryption, BucketTlsOnly, DataProtectionSettings,
};
#[cfg(feature = "s3")]
use crate::controls::s3_public_access::{self, AccountPublicAccessBlock, BucketPublicAccessBlock};
#[cfg(feature = "sagemaker")]
use crate::controls::sagemaker_notebook::{self, GuardSettings, NotebookGuard};
use crate::dispatch::Reach;
use crate::engine::Engine;
use crate::env::{Lookup, Placed};
use crate::error::SettingsError;
use crate::hub::{Build, Hub, HubSettings};
use crate::notify::Notifier;
use crate::pipeline::DynControl;
use crate::settings::Settings;
use std::sync::Arc;

/// One Lambda function of the product.
#[derive(Debug)]
pub struct Function {
    /// The binary's (and the deployed function's) name, e.g. `kms-key-rotation`.
    pub name: &'static str,
    /// Its short name for `remediate --control`, e.g. `kms`.
    pub short: &'static str,
    /// Its name in the templates' conditions and member roles, e.g. `Kms` (`KmsOn`,
    /// `MemberRoleKms`).
    pub stem: &'static str,
    /// Its resources' logical-id prefix in `template.yaml`, e.g. `KmsKeyRotation`
    /// (`KmsKeyRotationFunction`, `KmsKeyRotationRole`).
    pub logical: &'static str,
    /// What it guards, in a few words.
    pub summary: &'static str,
    /// Its controls.
    pub specs: &'static [&'static ControlSpec],
    /// Its engine, from the common settings, the function's own environment and the SDK clients.
    pub build: fn(Settings, &dyn Lookup, &AwsClients) -> Result<Engine, SettingsError>,
    /// How the stack template deploys it (`crate::deploy` writes its resources from this).
    pub deploy: Deployment,
    /// Its own settings (`env`, before placement) a hub refuses: one resource named where each
    /// account or region needs its own could never work there, so the function does not start.
    pub hub_check: fn(&dyn Lookup, &HubSettings) -> Result<(), SettingsError>,
}

/// A function whose settings hold in every account and region.
#[cfg_attr(
    not(any(
        feature = "s3",
        feature = "sagemaker",
        feature = "kms",
        feature = "s3-data",
        feature = "guardduty",
        feature = "cloudtrail"
    )),
    allow(dead_code)
)]
fn any_place(_: &dyn Lookup, _: &HubSettings) -> Result<(), SettingsError> {
    Ok(())
}

/// What the stack template says of a function beyond its controls' specs.
#[derive(Debug)]
pub struct Deployment {
    /// The Lambda function's description.
    pub description: &'static str,
    /// What its scheduled sweep does.
    pub sweep: &'static str,
    /// Its own settings: each environment variable and its CloudFormation value (the common ones,
    /// `DRY_RUN` and the others every function reads, are the template's `Globals`).
    pub environment: &'static [(&'static str, &'static str)],
}

impl Function {
    /// This function's member role in an organization: `<prefix>-<short>` (the templates'
    /// `MemberRoleName` as the prefix, with its path), one role per function so that a defect in
    /// one acts with its own permissions only.
    pub fn member_role(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.short)
    }

    /// The Lambda entry point of this function's binary: logging, settings and clients once at
    /// init (an invalid setting stops it there), then the dispatcher for every event. Only where
    /// it can act differs: its own account and region (its engine), or — with `MEMBER_ROLE_NAME`
    /// or `REGIONS` — a hub's scope with assumed roles.
    pub async fn serve(&'static self) -> Result<(), lambda_runtime::Error> {
        crate::telemetry::init();
        let settings = Settings::from_env()?;
        let aws = AwsClients::load(&settings).await;
        let reach: Box<dyn Reach> = match HubSettings::from_lookup(&crate::env::ProcessEnv)? {
            Some(hub) => {
                Box::new(self.hub(self.name, settings, hub, aws, crate::env::ProcessEnv)?)
            }
            None => Box::new((self.build)(settings, &crate::env::ProcessEnv, &aws)?),
        };
        let reach = &*reach;
        // The dispatcher's future, boxed behind a trait object: nested in the runtime's, its type
        // is too deep for the compiler's layout query otherwise.
        Box::pin(lambda_runtime::run(lambda_runtime::service_fn(
            move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
                let answer: futures::future::BoxFuture<'_, _> =
                    Box::pin(crate::dispatch::handle_lambda(reach, event));
                answer
            },
        )))
        .await
    }

    /// This function's engine builder for a hub, reading the function's own settings from `env`
    /// with `{account}` and `{region}` replaced by the account and region the engine acts in.
    pub fn builder(&'static self, env: impl Lookup + Send + Sync + 'static) -> Build {
        Arc::new(move |settings, aws, account, region| {
            let placed = Placed {
                env: &env,
                account,
                region,
            };
            (self.build)(settings, &placed, aws)
        })
    }

    /// This function's hub (`session`: the member role's session name), after
    /// [`Function::check_hub`]: what the Lambda entry point and the `remediate` command build.
    pub fn hub(
        &'static self,
        session: &str,
        settings: Settings,
        hub: HubSettings,
        aws: AwsClients,
        env: impl Lookup + Send + Sync + 'static,
    ) -> Result<Hub, SettingsError> {
        self.check_hub(&env, &hub)?;
        Hub::new(session, settings, hub, aws, self.builder(env))
    }

    /// Refuses the function's own settings (`env`, before placement) that name one resource
    /// where a hub needs each account's or region's own: they could never work in a member
    /// account or another region, so the function does not start with them.
    pub fn check_hub(&self, env: &dyn Lookup, hub: &HubSettings) -> Result<(), SettingsError> {
        (self.hub_check)(env, hub)
    }

    /// Whether this function hosts the control `id`.
    pub fn has_control(&self, id: &str) -> bool {
        self.specs.iter().any(|s| s.id == id)
    }
}

#[cfg(feature = "s3")]
pub static S3_PUBLIC_ACCESS_BLOCK: Function = Function {
    name: "s3-public-access-block",
    short: "s3",
    stem: "S3",
    logical: "S3PublicAccessBlock",
    summary: "S3 Block Public Access on every bucket and on the account",
    specs: &[
        &s3_public_access::BUCKET_SPEC,
        &s3_public_access::ACCOUNT_SPEC,
    ],
    build: |settings, _, aws| s3_public_access_block(settings, aws),
    deploy: Deployment {
        description: "Keeps S3 Block Public Access on, for every bucket and for the account.",
        sweep: "Sweep every bucket and the account setting.",
        environment: &[],
    },
    hub_check: any_place,
};

#[cfg(feature = "bedrock")]
pub static BEDROCK_INVOCATION_LOGGING: Function = Function {
    name: "bedrock-invocation-logging",
    short: "bedrock",
    stem: "Bedrock",
    logical: "BedrockInvocationLogging",
    summary: "Bedrock model-invocation logging and its destinations",
    specs: &[&bedrock_invocation_logging::SPEC],
    build: bedrock_invocation_logging,
    deploy: Deployment {
        description: "Keeps Bedrock model-invocation logging on, at its known-good destinations.",
        sweep: "Check the Bedrock logging configuration.",
        // Bedrock accepts only destinations of its own account and region: acting in several (a
        // hub, or REGIONS), the created destinations are named per account and region - the same
        // names the member template creates - and {account}/{region} are filled in there.
        environment: &[
            ("BEDROCK_LOG_BUCKET", "!If [CreateBedrockLogs, !If [PerPlace, \"ai-guard-bedrock-logs-{account}-{region}\", !Ref BedrockLogBucketCreated], !Ref BedrockLogBucket]"),
            ("BEDROCK_LOG_KEY_PREFIX", "!If [BedrockS3, !Ref BedrockLogKeyPrefix, \"\"]"),
            ("BEDROCK_LOG_GROUP", "!If [CreateBedrockLogs, !Ref BedrockLogGroupCreated, !Ref BedrockLogGroup]"),
            ("BEDROCK_LOG_ROLE_ARN", "!If [BedrockCloudWatch, !If [CreateBedrockLogs, !If [PerPlace, !Sub \"arn:${AWS::Partition}:iam::{account}:role/ai-guard-bedrock-logging-{region}\", !GetAtt BedrockLogDeliveryRole.Arn], !Ref BedrockLogRoleArn], \"\"]"),
            ("BEDROCK_LOG_LARGE_DATA_BUCKET", "!Ref BedrockLogLargeDataBucket"),
            ("BEDROCK_LOG_LARGE_DATA_KEY_PREFIX", "!Ref BedrockLogLargeDataKeyPrefix"),
            ("BEDROCK_LOG_TEXT", "!Select [0, !Split [\",\", !Ref BedrockLogTextImageEmbeddingVideo]]"),
            ("BEDROCK_LOG_IMAGE", "!Select [1, !Split [\",\", !Ref BedrockLogTextImageEmbeddingVideo]]"),
            ("BEDROCK_LOG_EMBEDDING", "!Select [2, !Split [\",\", !Ref BedrockLogTextImageEmbeddingVideo]]"),
            ("BEDROCK_LOG_VIDEO", "!Select [3, !Split [\",\", !Ref BedrockLogTextImageEmbeddingVideo]]"),
        ],
    },
    hub_check: |env, hub| {
        let regions: std::collections::BTreeSet<&String> = hub.regions.iter().collect();
        bedrock_invocation_logging::check_hub_settings(
            env,
            hub.member_role.is_some(),
            regions.len().max(1),
        )
    },
};

#[cfg(feature = "sagemaker")]
pub static SAGEMAKER_NOTEBOOK_GUARD: Function = Function {
    name: "sagemaker-notebook-guard",
    short: "sagemaker",
    stem: "SageMaker",
    logical: "SageMakerNotebookGuard",
    summary: "notebooks with root access or direct internet access",
    specs: &[&sagemaker_notebook::SPEC],
    build: sagemaker_notebook_guard,
    deploy: Deployment {
        description: "Stops SageMaker notebooks with root or direct internet access; disables root access once stopped.",
        sweep: "Sweep every SageMaker notebook instance of the region.",
        environment: &[
            ("DISABLE_ROOT_ACCESS", "!Ref DisableNotebookRootAccess"),
        ],
    },
    hub_check: any_place,
};

#[cfg(feature = "kms")]
pub static KMS_KEY_ROTATION: Function = Function {
    name: "kms-key-rotation",
    short: "kms",
    stem: "Kms",
    logical: "KmsKeyRotation",
    summary: "KMS key rotation period, rotation on demand; protected keys not deleted or disabled",
    specs: &[&kms_key_rotation::SPEC, &kms_key_deletion::SPEC],
    build: kms_key_rotation,
    deploy: Deployment {
        description: "Keeps automatic rotation of customer KMS keys on with a bounded period; rotates keys on demand.",
        sweep: "Sweep every KMS key of the region.",
        environment: &[
            ("KEY_ROTATION_PERIOD_DAYS", "!Ref KeyRotationPeriodDays"),
            ("PROTECTED_KEYS", "!Ref ProtectedKeys"),
        ],
    },
    hub_check: any_place,
};

#[cfg(feature = "s3-data")]
pub static S3_DATA_PROTECTION: Function = Function {
    name: "s3-data-protection",
    short: "s3-data",
    stem: "S3Data",
    logical: "S3DataProtection",
    summary: "TLS-only bucket policies, customer-key encryption of AI data buckets",
    specs: &[&s3_data_protection::TLS_SPEC, &s3_data_protection::KMS_SPEC],
    build: s3_data_protection,
    deploy: Deployment {
        description:
            "Keeps bucket policies TLS-only and AI data buckets encrypted with a customer KMS key.",
        sweep: "Sweep every bucket's policy and the AI data buckets' encryption.",
        environment: &[
            ("TLS_ONLY_BUCKETS", "!Ref TlsOnlyBuckets"),
            ("AI_DATA_BUCKETS", "!Ref AiDataBuckets"),
            ("AI_DATA_KMS_KEY", "!Ref AiDataKmsKey"),
            ("AI_DATA_KMS_KEY_ACCOUNTS", "!Ref AiDataKmsKeyAccounts"),
        ],
    },
    hub_check: any_place,
};

#[cfg(feature = "guardduty")]
pub static GUARDDUTY_DETECTOR: Function = Function {
    name: "guardduty-detector",
    short: "guardduty",
    stem: "GuardDuty",
    logical: "GuardDutyDetector",
    summary: "an enabled GuardDuty detector with its features in every region",
    specs: &[&guardduty_detector::SPEC],
    build: guardduty_detector,
    deploy: Deployment {
        description: "Keeps an enabled GuardDuty detector, with its features, in the region.",
        sweep: "Check the region's GuardDuty detector.",
        environment: &[("GUARDDUTY_FEATURES", "!Ref GuardDutyFeatures")],
    },
    hub_check: any_place,
};

#[cfg(feature = "cloudtrail")]
pub static CLOUDTRAIL_LOGGING: Function = Function {
    name: "cloudtrail-logging",
    short: "cloudtrail",
    stem: "CloudTrail",
    logical: "CloudTrailLogging",
    summary: "CloudTrail trails logging management events (and Bedrock data events)",
    specs: &[&cloudtrail_logging::SPEC],
    build: cloudtrail_logging,
    deploy: Deployment {
        description:
            "Keeps the region's CloudTrail trails logging management (and Bedrock data) events.",
        sweep: "Check the region's guarded CloudTrail trails.",
        environment: &[
            ("GUARDED_TRAILS", "!Ref GuardedTrails"),
            (
                "CLOUDTRAIL_BEDROCK_DATA_EVENTS",
                "!Ref CloudTrailBedrockDataEvents",
            ),
        ],
    },
    hub_check: any_place,
};

/// Every function of the product (those whose feature this build enables: a function binary has
/// only itself; the `remediate` command and the tests have all).
pub static FUNCTIONS: &[&Function] = &[
    #[cfg(feature = "s3")]
    &S3_PUBLIC_ACCESS_BLOCK,
    #[cfg(feature = "bedrock")]
    &BEDROCK_INVOCATION_LOGGING,
    #[cfg(feature = "sagemaker")]
    &SAGEMAKER_NOTEBOOK_GUARD,
    #[cfg(feature = "kms")]
    &KMS_KEY_ROTATION,
    #[cfg(feature = "s3-data")]
    &S3_DATA_PROTECTION,
    #[cfg(feature = "guardduty")]
    &GUARDDUTY_DETECTOR,
    #[cfg(feature = "cloudtrail")]
    &CLOUDTRAIL_LOGGING,
];

/// Every control id of the product, whatever this build's features (a remediation policy may name
/// any of them; a function hosts some). Kept equal to the registry's by a test.
pub const CONTROL_IDS: &[&str] = &[
    "s3-bucket-public-access-block",
    "s3-account-public-access-block",
    "bedrock-invocation-logging",
    "sagemaker-notebook-guard",
    "kms-key-rotation",
    "kms-key-deletion-guard",
    "s3-bucket-tls-only",
    "s3-bucket-kms-encryption",
    "guardduty-detector",
    "cloudtrail-logging",
];

/// The function named `name` (binary name or short name).
pub fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS
        .iter()
        .copied()
        .find(|f| f.name == name || f.short == name)
}

/// The engine every function shares: its controls, AWS Config answers, and the optional
/// notifications and contested-resource tracking from `settings`.
#[cfg_attr(
    not(any(
        feature = "s3",
        feature = "bedrock",
        feature = "sagemaker",
        feature = "kms",
        feature = "s3-data",
        feature = "guardduty",
        feature = "cloudtrail"
    )),
    allow(dead_code)
)]
fn engine(
    settings: Settings,
    aws: &AwsClients,
    controls: Vec<Box<dyn DynControl>>,
) -> Result<Engine, SettingsError> {
    let notifier = settings
        .notify_topic_arn
        .clone()
        .map(|topic| Notifier::new(aws.sns(), topic));
    let tracker = settings
        .contested
        .clone()
        .map(|policy| ContestedTracker::new(aws.dynamodb(), policy));
    let governance = settings
        .governor
        .get_or_init(|| {
            std::sync::Arc::new(crate::governance::Governance::new(
                settings.governance.clone(),
                CONTROL_IDS.to_vec(),
                aws.ssm(),
                aws.dynamodb(),
                aws.organizations(),
            ))
        })
        .clone();
    let mut engine = Engine::new(settings, aws.region()?, controls)
        .with_config_client(aws.config())
        .with_governance(governance);
    if let Some(n) = notifier {
        engine = engine.with_notifier(n);
    }
    if let Some(t) = tracker {
        engine = engine.with_contested_tracker(t);
    }
    #[cfg(feature = "securityhub")]
    if engine
        .specs()
        .iter()
        .any(|s| !s.security_hub_controls.is_empty())
    {
        engine =
            engine.with_findings_closer(crate::findings::FindingsCloser::new(aws.securityhub()));
    }
    Ok(engine)
}

/// `s3-public-access-block`: Block Public Access on the account and on every bucket.
#[cfg(feature = "s3")]
pub fn s3_public_access_block(
    settings: Settings,
    aws: &AwsClients,
) -> Result<Engine, SettingsError> {
    engine(
        settings,
        aws,
        vec![
            Box::new(AccountPublicAccessBlock::new(aws.s3control())),
            Box::new(BucketPublicAccessBlock::new(aws.s3())),
        ],
    )
}

/// `bedrock-invocation-logging`: model-invocation logging on, at the known-good destinations
/// (read from `env`; at least one destination is required).
#[cfg(feature = "bedrock")]
pub fn bedrock_invocation_logging(
    settings: Settings,
    env: &dyn Lookup,
    aws: &AwsClients,
) -> Result<Engine, SettingsError> {
    let known_good = KnownGood::from_lookup(env)?;
    engine(
        settings,
        aws,
        vec![Box::new(InvocationLoggingControl::new(
            aws.bedrock(),
            known_good,
        ))],
    )
}

/// `kms-key-rotation`: automatic rotation of customer keys, with a period no longer than
/// `KEY_ROTATION_PERIOD_DAYS` (from `env`), and rotation on demand; and the deletion guard of the
/// keys `PROTECTED_KEYS` names.
#[cfg(feature = "kms")]
pub fn kms_key_rotation(
    settings: Settings,
    env: &dyn Lookup,
    aws: &AwsClients,
) -> Result<Engine, SettingsError> {
    let period = RotationPeriod::from_lookup(env)?;
    let protected = ProtectedKeys::from_lookup(env)?;
    engine(
        settings,
        aws,
        vec![
            Box::new(KeyRotationControl::new(aws.kms(), period)),
            Box::new(KeyDeletionGuard::new(aws.kms(), protected)),
        ],
    )
}

/// `sagemaker-notebook-guard`: notebooks with root access or direct internet access are stopped,
/// and root access is disabled once stopped (`DISABLE_ROOT_ACCESS`, from `env`).
#[cfg(feature = "sagemaker")]
pub fn sagemaker_notebook_guard(
    settings: Settings,
    env: &dyn Lookup,
    aws: &AwsClients,
) -> Result<Engine, SettingsError> {
    let guard = GuardSettings::from_lookup(env)?;
    engine(
        settings,
        aws,
        vec![Box::new(NotebookGuard::new(aws.sagemaker(), guard))],
    )
}

/// `s3-data-protection`: TLS-only bucket policies (`TLS_ONLY_BUCKETS`) and customer-key default
/// encryption of AI data buckets (`AI_DATA_BUCKETS`, `AI_DATA_KMS_KEY`, checked with KMS before
/// it is written; `AI_DATA_KMS_KEY_ACCOUNTS`), from `env`.
#[cfg(feature = "s3-data")]
pub fn s3_data_protection(
    settings: Settings,
    env: &dyn Lookup,
    aws: &AwsClients,
) -> Result<Engine, SettingsError> {
    let own = DataProtectionSettings::from_lookup(env)?;
    engine(
        settings,
        aws,
        vec![
            Box::new(BucketTlsOnly::new(aws.s3(), &own)),
            Box::new(BucketKmsEncryption::new(aws.s3(), aws.kms(), &own)),
        ],
    )
}

/// `guardduty-detector`: an enabled detector with the features `GUARDDUTY_FEATURES` names (from
/// `env`).
#[cfg(feature = "guardduty")]
pub fn guardduty_detector(
    settings: Settings,
    env: &dyn Lookup,
    aws: &AwsClients,
) -> Result<Engine, SettingsError> {
    let own = DetectorSettings::from_lookup(env)?;
    engine(
        settings,
        aws,
        vec![Box::new(DetectorGuard::new(aws.guardduty(), own))],
    )
}

/// `cloudtrail-logging`: the region's guarded trails (`GUARDED_TRAILS`) logging, with management
/// events and the configured Bedrock data events (`CLOUDTRAIL_BEDROCK_DATA_EVENTS`), from `env`.
#[cfg(feature = "cloudtrail")]
pub fn cloudtrail_logging(
    settings: Settings,
    env: &dyn Lookup,
    aws: &AwsClients,
) -> Result<Engine, SettingsError> {
    let own = TrailSettings::from_lookup(env)?;
    engine(
        settings,
        aws,
        vec![Box::new(TrailGuard::new(aws.cloudtrail(), own))],
    )
}

#[cfg(all(test, feature = "bedrock"))]
mod tests {
    use super::*;

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn a_hub_refuses_bedrock_destinations_no_member_account_can_use() {
        let members = HubSettings::from_lookup(&lookup(&[
            ("MEMBER_ROLE_NAME", "ai-guard-member"),
            ("REGIONS", "us-east-1,eu-west-1"),
        ]))
        .unwrap()
        .unwrap();
        let hubs_own = lookup(&[
            (
                "BEDROCK_LOG_BUCKET",
                "ai-guard-bedrock-logs-123456789012-us-east-1",
            ),
            ("BEDROCK_LOG_GROUP", "/ai-guard/bedrock/model-invocations"),
            (
                "BEDROCK_LOG_ROLE_ARN",
                "arn:aws:iam::123456789012:role/ai-guard-bedrock-logging-us-east-1",
            ),
        ]);
        let err = BEDROCK_INVOCATION_LOGGING
            .check_hub(&hubs_own, &members)
            .unwrap_err();
        assert_eq!(err.name, "BEDROCK_LOG_BUCKET");
        let per_account = lookup(&[
            (
                "BEDROCK_LOG_BUCKET",
                "ai-guard-bedrock-logs-{account}-{region}",
            ),
            ("BEDROCK_LOG_GROUP", "/ai-guard/bedrock/model-invocations"),
            (
                "BEDROCK_LOG_ROLE_ARN",
                "arn:aws:iam::{account}:role/ai-guard-bedrock-logging-{region}",
            ),
        ]);
        BEDROCK_INVOCATION_LOGGING
            .check_hub(&per_account, &members)
            .unwrap();
        // The same region twice is one region; other functions have nothing to check.
        let one_region = HubSettings::from_lookup(&lookup(&[
            ("MEMBER_ROLE_NAME", "ai-guard-member"),
            ("REGIONS", "us-east-1,us-east-1"),
        ]))
        .unwrap()
        .unwrap();
        let per_account_only = lookup(&[("BEDROCK_LOG_BUCKET", "ai-guard-bedrock-logs-{account}")]);
        BEDROCK_INVOCATION_LOGGING
            .check_hub(&per_account_only, &one_region)
            .unwrap();
        for function in FUNCTIONS.iter().filter(|f| f.short != "bedrock") {
            function.check_hub(&hubs_own, &members).unwrap();
        }
    }
}
