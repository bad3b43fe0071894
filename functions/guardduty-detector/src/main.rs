//! Lambda function `guardduty-detector`: keeps an enabled GuardDuty detector, with the features
//! its settings name, in the region. Glue only: its registry entry builds the engine once at init
//! and serves every event.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    remediation::functions::GUARDDUTY_DETECTOR.serve().await
}
