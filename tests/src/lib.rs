//! Test harness shared by the integration tests: the local AWS emulator, the `events/` files, and
//! a recorder of every AWS operation the code sends.

pub mod emulator;
pub mod events;
pub mod iam;
pub mod logs;
pub mod recorder;
pub mod template;

use remediation::clients::AwsClients;
use remediation::Settings;

pub use emulator::Emulator;
pub use logs::CapturedLogs;
pub use recorder::Recorder;

/// The account and region the emulator serves.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// A name no other test uses (an emulator's state is shared by every test of a module).
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// An environment of `pairs` (for a function's own settings).
pub fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// Settings from `pairs`, with one attempt per call unless a test asks for more: tests that expect
/// errors must not wait through retries.
pub fn settings(pairs: &[(&str, &str)]) -> Settings {
    let given = env(pairs);
    let lookup = move |name: &str| {
        given(name).or_else(|| (name == "AWS_MAX_ATTEMPTS").then(|| "1".to_owned()))
    };
    match Settings::from_lookup(&lookup) {
        Ok(s) => s,
        Err(e) => panic!("test settings invalid: {e}"),
    }
}

/// Handle `event` in the emulator's account after forgetting earlier calls, then check that every
/// call the function made is one it declares (least privilege: the template grants nothing else).
pub async fn handle(
    engine: &remediation::Engine,
    calls: &Recorder,
    event: &serde_json::Value,
) -> Result<remediation::Response, remediation::EngineError> {
    calls.clear();
    let result = engine.handle(event, ACCOUNT).await;
    let undeclared = calls.undeclared(engine);
    assert!(
        undeclared.is_empty(),
        "calls not declared by the function: {undeclared:?}"
    );
    result
}

/// [`handle`], expecting success.
pub async fn handled(
    engine: &remediation::Engine,
    calls: &Recorder,
    event: &serde_json::Value,
) -> remediation::Response {
    match handle(engine, calls, event).await {
        Ok(response) => response,
        Err(e) => panic!("handler failed: {e}"),
    }
}

/// An identifier of each resource type in `account`, for the concrete ARN the control computes.
pub fn sample_id(resource_type: &str, account: &str) -> String {
    match resource_type {
        "AWS::S3::Bucket" => "corp-training-data".to_owned(),
        "AWS::::Account" => account.to_owned(),
        "AWS::KMS::Key" => "1234abcd-12ab-34cd-56ef-1234567890ab".to_owned(),
        "AWS::SageMaker::NotebookInstance" => "research-notebook".to_owned(),
        other => panic!("no sample identifier for {other}"),
    }
}

/// The ARN IAM authorizes a control's call on, for the resource ARN the control records: the same,
/// except for the region's GuardDuty detector setting (`…:detector`), whose calls name the detector
/// itself (`…:detector/<id>`; GuardDuty's resource type `detector`).
pub fn iam_resource(arn: &str) -> String {
    if arn.starts_with("arn:aws:guardduty:") && arn.ends_with(":detector") {
        format!("{arn}/12abc34d567e8fa901bc2d34e56789f0")
    } else {
        arn.to_owned()
    }
}

/// The ARN IAM authorizes one of a control's operations on, for the control's sample resource in
/// `account` and `region` (`*` for an operation without resource-level scope). An operation on
/// another service than the control's resource acts on that service's resource: the AI data key
/// an S3 control checks is authorized on the key (an alias names no key in IAM).
pub fn operation_resource(
    spec: &remediation::ControlSpec,
    op: &remediation::aws::Operation,
    account: &str,
    region: &str,
) -> String {
    if iam::on_any_resource(op) {
        return "*".to_owned();
    }
    let arn = if op.service == "kms" && spec.resource_type != "AWS::KMS::Key" {
        let key = sample_id("AWS::KMS::Key", account);
        format!("arn:aws:kms:{region}:{account}:key/{key}")
    } else {
        let scope = remediation::resource::Scope::new(account, region);
        iam_resource(
            &spec
                .resource(&sample_id(spec.resource_type, account), &scope)
                .expect("sample resource")
                .arn,
        )
    };
    // The operation's own declaration names the resource it is called on.
    let declared = iam::declared_arn(op, account, region).expect("an ARN pattern");
    assert!(
        iam::names(&declared, &arn),
        "{} {}: declared on {declared}, called on {arn}",
        spec.id,
        op.permission
    );
    arn
}

/// Clients acting in `account` and `region` as its administrator would: the organization's
/// `OrganizationAccountAccessRole` in a member account, `aws`'s own credentials in the emulator's
/// default account ([`ACCOUNT`]) — never the hub's role.
pub async fn admin(aws: &AwsClients, account: &str, region: &str) -> AwsClients {
    use aws_types::sdk_config::SharedCredentialsProvider;
    if account == ACCOUNT {
        return aws.acting_in(region, None);
    }
    let provider = aws_config::sts::AssumeRoleProvider::builder(format!(
        "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
    ))
    .session_name("test-admin")
    .region(aws_types::region::Region::new(REGION))
    .configure(aws.sdk_config())
    .build()
    .await;
    aws.acting_in(region, Some(SharedCredentialsProvider::new(provider)))
}
