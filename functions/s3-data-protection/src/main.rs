//! Lambda function `s3-data-protection`: keeps AI data buckets' policies TLS-only and their default
//! encryption on a customer key. Glue only: its registry entry builds the
//! engine once at init and serves every event.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    remediation::functions::S3_DATA_PROTECTION.serve().await
}
