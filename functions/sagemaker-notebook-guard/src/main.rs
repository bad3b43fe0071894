//! Lambda function `sagemaker-notebook-guard`: stops SageMaker notebooks that have root access or
//! direct internet access, and disables root access once they are stopped. Glue only: its registry entry builds the
//! engine once at init and serves every event.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    remediation::functions::SAGEMAKER_NOTEBOOK_GUARD
        .serve()
        .await
}
