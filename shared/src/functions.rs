//! What each deployed function is made of: one constructor per Lambda binary, used by the binary
//! itself and by the tests, so both run exactly the same composition.

use crate::clients::AwsClients;
use crate::controls::bedrock_invocation_logging::{InvocationLoggingControl, KnownGood};
use crate::controls::kms_key_rotation::{KeyRotationControl, RotationPeriod};
use crate::controls::s3_public_access::{AccountPublicAccessBlock, BucketPublicAccessBlock};
use crate::controls::sagemaker_notebook::{GuardSettings, NotebookGuard};
use crate::engine::Engine;
use crate::error::SettingsError;
use crate::settings::{Lookup, Settings};

/// `s3-public-access-block`: Block Public Access on the account and on every bucket.
pub fn s3_public_access_block(
    settings: Settings,
    aws: &AwsClients,
) -> Result<Engine, SettingsError> {
    Ok(Engine::new(
        settings,
        aws.region()?,
        vec![
            // The account control comes first: it claims a bare 12-digit id in a direct payload.
            Box::new(AccountPublicAccessBlock::new(aws.s3control())),
            Box::new(BucketPublicAccessBlock::new(aws.s3())),
        ],
    )
    .with_config_client(aws.config()))
}

/// `bedrock-invocation-logging`: model-invocation logging on, at the known-good destinations
/// (read from `env`; at least one destination is required).
pub fn bedrock_invocation_logging(
    settings: Settings,
    env: &dyn Lookup,
    aws: &AwsClients,
) -> Result<Engine, SettingsError> {
    let known_good = KnownGood::from_lookup(env)?;
    Ok(Engine::new(
        settings,
        aws.region()?,
        vec![Box::new(InvocationLoggingControl::new(
            aws.bedrock(),
            known_good,
        ))],
    )
    .with_config_client(aws.config()))
}

/// `kms-key-rotation`: automatic rotation of customer keys, with a period no longer than
/// `KEY_ROTATION_PERIOD_DAYS` (from `env`), and rotation on demand.
pub fn kms_key_rotation(
    settings: Settings,
    env: &dyn Lookup,
    aws: &AwsClients,
) -> Result<Engine, SettingsError> {
    let period = RotationPeriod::from_lookup(env)?;
    Ok(Engine::new(
        settings,
        aws.region()?,
        vec![Box::new(KeyRotationControl::new(aws.kms(), period))],
    )
    .with_config_client(aws.config()))
}

/// `sagemaker-notebook-guard`: notebooks with root access or direct internet access are stopped,
/// and root access is disabled once stopped (`DISABLE_ROOT_ACCESS`, from `env`).
pub fn sagemaker_notebook_guard(
    settings: Settings,
    env: &dyn Lookup,
    aws: &AwsClients,
) -> Result<Engine, SettingsError> {
    let guard = GuardSettings::from_lookup(env)?;
    Ok(Engine::new(
        settings,
        aws.region()?,
        vec![Box::new(NotebookGuard::new(aws.sagemaker(), guard))],
    )
    .with_config_client(aws.config()))
}
