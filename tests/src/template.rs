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

/// One deployment to resolve: a template's parameters in a stack of an account and region.
#[derive(Debug, Clone)]
pub struct Job {
    pub params: std::collections::BTreeMap<String, String>,
    pub stack: String,
    pub account: String,
    pub region: String,
}

impl Job {
    pub fn new(params: &[(&str, &str)]) -> Self {
        Self {
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            stack: "ai-guard".into(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
        }
    }
}

/// `file` resolved for every job, in one process (`cfn.py --batch`): many parameter sets cost
/// one start of the SAM translator.
pub fn resolve_many(file: &str, jobs: &[Job]) -> Vec<Value> {
    let jobs: Vec<Value> = jobs
        .iter()
        .map(|j| {
            serde_json::json!({"params": j.params, "stack": j.stack, "account": j.account,
                "region": j.region})
        })
        .collect();
    let file = root().join(file);
    let file = file.to_str().expect("utf-8 path");
    serde_json::from_value(tool("cfn.py", &[file, "--batch"], &serde_json::json!(jobs)))
        .expect("resolved templates")
}

/// Runs `tests/tools/<script>` with the project's Python, `input` as JSON on its standard input,
/// and returns its standard output as JSON.
pub fn tool(script: &str, args: &[&str], input: &Value) -> Value {
    use std::io::Write;
    let python = root().join(".venv/bin/python");
    let mut child = Command::new(&python)
        .arg(root().join("tests/tools").join(script))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/test creates it)", python.display()));
    let input = serde_json::to_vec(input).expect("json input");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write input");
    let out = child.wait_with_output().expect(script);
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json output")
}

/// The identity policies of a role in a resolved template (its inline `Policies`).
pub fn role_policies(role: &Value) -> Vec<&Value> {
    assert!(
        role["Properties"].get("ManagedPolicyArns").is_none(),
        "managed policies cannot be evaluated here"
    );
    role["Properties"]["Policies"]
        .as_array()
        .map(|ps| ps.iter().map(|p| &p["PolicyDocument"]).collect())
        .unwrap_or_default()
}

/// The function of a resolved template built from `binary` (its `BuildProperties.Binary`).
pub fn function_by_binary<'a>(t: &'a Value, binary: &str) -> &'a Value {
    t["resources"]
        .as_object()
        .expect("resources")
        .values()
        .find(|r| {
            r["Type"] == "AWS::Lambda::Function"
                && r["Metadata"]["BuildProperties"]["Binary"] == binary
        })
        .unwrap_or_else(|| panic!("no function {binary}"))
}
