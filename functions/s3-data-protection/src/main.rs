//! Lambda function `s3-data-protection`: keeps AI data buckets' policies TLS-only and their default
//! encryption on a customer key. Glue only: settings and clients
//! once at init (its registry entry says how to build its engine), then the shared engine for every
//! event.
use lambda_runtime::{service_fn, Error, LambdaEvent};
use remediation::clients::AwsClients;
use remediation::env::ProcessEnv;
use remediation::functions::S3_DATA_PROTECTION as FUNCTION;
use remediation::{telemetry, Settings};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let settings = Settings::from_env()?;
    let aws = AwsClients::load(&settings).await;
    let engine = (FUNCTION.build)(settings, &ProcessEnv, &aws)?;
    let engine = &engine;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        engine.handle_lambda(event).await
    }))
    .await
}
