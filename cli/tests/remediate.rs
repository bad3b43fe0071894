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

#[tokio::test]
async fn scan_then_fix_then_scan_clean() {
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
