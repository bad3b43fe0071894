//! The `remediate` command against the emulator: scan finds, fix refuses without a terminal or
//! `--yes`, fix --yes fixes and verifies, and the exit codes say whether findings remain.

use std::process::{Command, Output, Stdio};

use integration_tests::{settings, unique, Emulator};
use remediation::clients::AwsClients;

fn remediate(args: &[&str]) -> Output {
    let emulator = Emulator::get();
    Command::new(env!("CARGO_BIN_EXE_remediate"))
        .args(args)
        .args(["--control", "s3"])
        .env("AWS_ENDPOINT_URL", &emulator.endpoint)
        .env("AWS_MAX_ATTEMPTS", "2")
        .stdin(Stdio::null())
        .output()
        .expect("run remediate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The tests share one emulator account, whose account-level Block Public Access decides whether
/// a bucket is compliant: one at a time.
static ACCOUNT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn scan_then_fix_then_scan_clean() {
    let _account = ACCOUNT.lock().await;
    Emulator::get();
    let s3 = AwsClients::load(&settings(&[])).await.s3();
    let bucket = unique("cli");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create");

    let scan = remediate(&["scan"]);
    assert_eq!(
        scan.status.code(),
        Some(1),
        "findings remain: {}",
        text(&scan.stderr)
    );
    let table = text(&scan.stdout);
    assert!(table.starts_with("RESOURCE"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&format!("arn:aws:s3:::{bucket} "))
                && l.contains("non-compliant")),
        "{table}"
    );

    let refused = remediate(&["fix"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("pass --yes"),
        "{}",
        text(&refused.stderr)
    );

    let fixed = remediate(&["fix", "--yes", "--json"]);
    assert_eq!(fixed.status.code(), Some(0), "{}", text(&fixed.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&fixed.stdout).expect("json");
    let row = rows
        .as_array()
        .and_then(|r| {
            r.iter()
                .find(|r| r["resource"] == format!("arn:aws:s3:::{bucket}"))
        })
        .cloned()
        .expect("bucket row");
    assert_eq!(row["before"], "non-compliant");
    assert_eq!(row["outcome"], "remediated");
    assert_eq!(row["after"], "compliant");

    let clean = remediate(&["scan", "--json"]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean.stdout));
}

fn remediate_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let emulator = Emulator::get();
    Command::new(env!("CARGO_BIN_EXE_remediate"))
        .args(args)
        .args(["--control", "s3"])
        .env("AWS_ENDPOINT_URL", &emulator.endpoint)
        .env("AWS_MAX_ATTEMPTS", "2")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run remediate")
}

#[test]
fn policy_validate_names_the_place_and_needs_no_aws() {
    let dir = std::env::temp_dir().join(unique("policy"));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"version": 1, "exceptions": [{"accounts": ["111122223333"], "resources": ["arn:aws:s3:::x"], "reason": "r", "owner": "o", "expires": "soon"}]}"#,
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_remediate"))
        .args(["policy", "validate", bad.to_str().expect("path"), "--json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["valid"], false);
    assert_eq!(v["path"], "exceptions[0].expires");
}

/// Approve mode end to end through the command: a fix is proposed, not made; `remediate approve`
/// applies it; `policy show` and `exceptions` read the same parameter.
#[tokio::test]
async fn approve_mode_proposes_and_the_command_approves() {
    let _account = ACCOUNT.lock().await;
    Emulator::get();
    let aws = AwsClients::load(&settings(&[])).await;
    // Without the account-level setting, the bucket's own decides (another test may have set it).
    let _ = aws
        .s3control()
        .delete_public_access_block()
        .account_id("123456789012")
        .send()
        .await;
    let s3 = aws.s3();
    let bucket = unique("approve");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create");
    let parameter = format!("/{}/policy", unique("cli"));
    let doc = serde_json::json!({
        "version": 1,
        "defaultMode": "enforce",
        "rules": [
            {"mode": "approve", "controls": ["s3-bucket-public-access-block"]},
            {"mode": "off", "controls": ["s3-account-public-access-block"]}
        ],
        "exceptions": [{"accounts": ["123456789012"], "resources": ["arn:aws:s3:::nothing-*"],
            "reason": "demo", "owner": "team", "expires": "2020-01-01"}]
    });
    let ssm = aws_sdk_ssm::Client::new(aws.sdk_config());
    ssm.put_parameter()
        .name(&parameter)
        .value(doc.to_string())
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("parameter");
    let table = unique("approvals");
    let ddb = aws_sdk_dynamodb::Client::new(aws.sdk_config());
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    ddb.create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attr"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("table");
    let env = [
        ("POLICY_PARAMETER", parameter.as_str()),
        ("APPROVALS_TABLE", table.as_str()),
    ];

    let fix = remediate_with(&["fix", "--yes", "--json"], &env);
    let rows: serde_json::Value = serde_json::from_slice(&fix.stdout).expect("json rows");
    let arn = format!("arn:aws:s3:::{bucket}");
    let row = rows
        .as_array()
        .and_then(|r| r.iter().find(|r| r["resource"] == arn.as_str()))
        .unwrap_or_else(|| panic!("{rows}"));
    let detail = row["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("proposed as"), "{row}");
    let id = remediation::governance::proposal_id(
        "s3-bucket-public-access-block",
        "123456789012",
        "us-east-1",
        &arn,
    );
    assert!(detail.contains(&id), "{row}");
    assert!(
        s3.get_public_access_block()
            .bucket(&bucket)
            .send()
            .await
            .is_err(),
        "nothing written before approval"
    );

    let approve = remediate_with(&["approve", &id, "--approved-by", "alice"], &env);
    assert_eq!(
        approve.status.code(),
        Some(0),
        "{}{}",
        text(&approve.stdout),
        text(&approve.stderr)
    );
    assert!(text(&approve.stdout).contains("remediated"));
    let block = s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .expect("written after approval");
    assert_eq!(
        block
            .public_access_block_configuration()
            .and_then(|c| c.block_public_policy()),
        Some(true)
    );

    let show = remediate_with(&["policy", "show", "--json"], &env);
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(shown["policy"]["rules"][0]["mode"], "approve", "{shown}");
    assert!(shown["source"]
        .as_str()
        .unwrap_or_default()
        .contains(&parameter));
    let exceptions = remediate_with(&["exceptions", "--json"], &env);
    let listed: serde_json::Value = serde_json::from_slice(&exceptions.stdout).expect("json");
    assert_eq!(listed[0]["status"], "expired", "{listed}");
    assert_eq!(listed[0]["owner"], "team");
}
