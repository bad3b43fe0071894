//! What each deployed function is made of: one constructor per Lambda binary, used by the binary
//! itself and by the tests, so both run exactly the same composition.

use crate::clients::AwsClients;
use crate::contested::ContestedTracker;
use crate::control::DynControl;
use crate::controls::bedrock_invocation_logging::{InvocationLoggingControl, KnownGood};
use crate::controls::kms_key_rotation::{KeyRotationControl, RotationPeriod};
use crate::controls::s3_public_access::{AccountPublicAccessBlock, BucketPublicAccessBlock};
use crate::controls::sagemaker_notebook::{GuardSettings, NotebookGuard};
use crate::engine::Engine;
use crate::error::SettingsError;
use crate::notify::Notifier;
use crate::settings::{Lookup, Settings};

/// The engine every function shares: its controls, AWS Config answers, and the optional
/// notifications and contested-resource tracking from `settings`.
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
    let mut engine =
        Engine::new(settings, aws.region()?, controls).with_config_client(aws.config());
    if let Some(n) = notifier {
        engine = engine.with_notifier(n);
    }
    if let Some(t) = tracker {
        engine = engine.with_contested_tracker(t);
    }
    Ok(engine)
}

/// `s3-public-access-block`: Block Public Access on the account and on every bucket.
pub fn s3_public_access_block(
    settings: Settings,
    aws: &AwsClients,
) -> Result<Engine, SettingsError> {
    engine(
        settings,
        aws,
        vec![
            // The account control comes first: it claims a bare 12-digit id in a direct payload.
            Box::new(AccountPublicAccessBlock::new(aws.s3control())),
            Box::new(BucketPublicAccessBlock::new(aws.s3())),
        ],
    )
}

/// `bedrock-invocation-logging`: model-invocation logging on, at the known-good destinations
/// (read from `env`; at least one destination is required).
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
/// `KEY_ROTATION_PERIOD_DAYS` (from `env`), and rotation on demand.
pub fn kms_key_rotation(
    settings: Settings,
    env: &dyn Lookup,
    aws: &AwsClients,
) -> Result<Engine, SettingsError> {
    let period = RotationPeriod::from_lookup(env)?;
    engine(
        settings,
        aws,
        vec![Box::new(KeyRotationControl::new(aws.kms(), period))],
    )
}

/// `sagemaker-notebook-guard`: notebooks with root access or direct internet access are stopped,
/// and root access is disabled once stopped (`DISABLE_ROOT_ACCESS`, from `env`).
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
