//! Lambda function `kms-key-rotation`: keeps automatic rotation of customer KMS keys on,
//! with a bounded period, and rotates a key on demand. Glue only: its registry entry builds the
//! engine once at init and serves every event.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    remediation::functions::KMS_KEY_ROTATION.serve().await
}
