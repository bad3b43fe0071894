//! Lambda function `cloudtrail-logging`: keeps the region's CloudTrail trails logging, with
//! management events and the configured Bedrock data events. Glue only: its registry entry builds
//! the engine once at init and serves every event.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    remediation::functions::CLOUDTRAIL_LOGGING.serve().await
}
