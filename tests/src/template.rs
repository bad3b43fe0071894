//! The template as CloudFormation resolves it, for the tests: `tests/tools/cfn.py` (the SAM
//! transform with AWS's translator, Rules, conditions and AWS's documented `Ref`/`GetAtt` formats).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `template.yaml` resolved for `params`: `{"refused": ...}` or `{"resources", "outputs"}`.
pub fn resolve(params: &[(&str, &str)]) -> Value {
    resolve_in("template.yaml", params, "123456789012", "us-east-1")
}

/// `file` (a template of the repository) resolved for `params` in a stack of `account` and
/// `region` (the member template is deployed in every member account and region).
pub fn resolve_in(file: &str, params: &[(&str, &str)], account: &str, region: &str) -> Value {
    let python = root().join(".venv/bin/python");
    let out = Command::new(&python)
        .arg(root().join("tests/tools/cfn.py"))
        .arg(root().join(file))
        .args(["--account", account, "--region", region])
        .args(params.iter().map(|(k, v)| format!("{k}={v}")))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/test creates it)", python.display()));
    assert!(
        out.status.success(),
        "cfn.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("resolved template")
}
