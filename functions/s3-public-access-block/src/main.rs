//! Lambda function `s3-public-access-block`: keeps S3 Block Public Access on, for every bucket of
//! the region and for the account. Glue only: its registry entry builds the
//! engine once at init and serves every event.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    remediation::functions::S3_PUBLIC_ACCESS_BLOCK.serve().await
}
