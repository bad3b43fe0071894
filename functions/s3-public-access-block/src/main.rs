//! Lambda function `s3-public-access-block`: keeps S3 Block Public Access on, for every bucket of
//! the region and for the account. Glue only: settings and clients once at init, then the shared
//! engine for every event.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use remediation::controls::s3_public_access::{AccountPublicAccessBlock, BucketPublicAccessBlock};
use remediation::{clients, telemetry, Engine, Settings};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let settings = Settings::from_env()?;
    let sdk = clients::load(&settings).await;
    let region = clients::region(&sdk)?;
    let engine = Engine::new(
        settings,
        region,
        vec![
            // The account control comes first: it claims a bare 12-digit id in a direct payload.
            Box::new(AccountPublicAccessBlock::new(clients::s3control(&sdk))),
            Box::new(BucketPublicAccessBlock::new(clients::s3(&sdk))),
        ],
    )
    .with_config_client(clients::config(&sdk));
    let engine = &engine;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        engine.handle_lambda(event).await
    }))
    .await
}
