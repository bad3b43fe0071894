//! Lambda function `bedrock-invocation-logging`: keeps Bedrock model-invocation logging on and
//! pointed at its known-good destinations. Glue only: its registry entry builds the
//! engine once at init and serves every event.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    remediation::functions::BEDROCK_INVOCATION_LOGGING
        .serve()
        .await
}
