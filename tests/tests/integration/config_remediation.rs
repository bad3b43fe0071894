//! AWS Config sees a remediation's real result: the SSM Automation document of the resolved
//! template fails when the function returned an error or left a resource `failed` or `deferred`,
//! and succeeds otherwise. The document's own check step is run (with Python, as
//! `aws:executeScript` runs it) on each function's real answer against the emulator, as Lambda
//! returns it to `aws:invokeLambdaFunction`: the response, or `{"errorType","errorMessage"}`.

use std::io::Write;
use std::process::{Command, Stdio};

use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use integration_tests::template::resolve;
use integration_tests::{emulator, env, settings, unique, Recorder, ACCOUNT};
use remediation::{functions, Engine};
use serde_json::{json, Value};

/// The remediation document of the template with default parameters (resolved once).
fn document() -> Value {
    static DOCUMENT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(resolve_document).clone()
}

fn resolve_document() -> Value {
    let t = resolve(&[]);
    let (_, doc) = t["resources"]
        .as_object()
        .expect("resources")
        .iter()
        .find(|(_, r)| r["Type"] == "AWS::SSM::Document")
        .expect("remediation document");
    doc["Properties"]["Content"].clone()
}

#[test]
fn the_document_checks_the_functions_answer_before_it_ends() {
    let content = document();
    let steps = content["mainSteps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2, "{steps:?}");
    let (invoke, check) = (&steps[0], &steps[1]);
    assert_eq!(invoke["action"], "aws:invokeLambdaFunction");
    assert_eq!(invoke["inputs"]["InvocationType"], "RequestResponse");
    assert_ne!(
        invoke["isEnd"], true,
        "the invoke step must not end the automation"
    );
    assert_eq!(invoke["nextStep"], check["name"]);
    assert_eq!(check["action"], "aws:executeScript");
    assert_eq!(check["isEnd"], true);
    assert_eq!(
        check["inputs"]["InputPayload"]["Payload"],
        format!(
            "{{{{ {}.Payload }}}}",
            invoke["name"].as_str().expect("name")
        )
    );
}

/// The automation's verdict on a function answer: `Ok(output)` or `Err(failure reason)`.
fn automation_verdict(answer: &str) -> Result<String, String> {
    let content = document();
    let check = &content["mainSteps"][1]["inputs"];
    let program = format!(
        "{}\nimport json, sys\nprint(json.dumps({}({{'Payload': sys.stdin.read()}}, None)))\n",
        check["Script"].as_str().expect("script"),
        check["Handler"].as_str().expect("handler")
    );
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let mut child = Command::new(python)
        .arg("-c")
        .arg(program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(answer.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("run");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// What Lambda hands `aws:invokeLambdaFunction` as `Payload` for the SSM payload of `resource_id`.
async fn answer(engine: &Engine, resource_id: &str, resource_type: &str) -> String {
    answer_for(engine, resource_id, resource_type, "").await
}

/// The same, for a remediation that names its control (the template's does for the functions
/// with several controls of one type).
async fn answer_for(
    engine: &Engine,
    resource_id: &str,
    resource_type: &str,
    control: &str,
) -> String {
    let content = document();
    let payload = content["mainSteps"][0]["inputs"]["InputPayload"].to_string();
    let payload: Value = serde_json::from_str(
        &payload
            .replace("{{ ResourceId }}", resource_id)
            .replace("{{ ResourceType }}", resource_type)
            .replace("{{ Control }}", control),
    )
    .expect("payload");
    match engine.handle(&payload, ACCOUNT).await {
        Ok(response) => serde_json::to_string(&response).expect("json"),
        Err(e) => serde_json::to_string(&lambda_runtime::Diagnostic::from(e)).expect("json"),
    }
}

#[tokio::test]
async fn config_sees_success_only_when_the_resource_is_settled() {
    let plain = emulator!().clients(&settings(&[])).await;
    let s3 = plain.s3();
    let bucket = |name: String| {
        let s3 = s3.clone();
        async move {
            s3.create_bucket()
                .bucket(&name)
                .send()
                .await
                .expect("bucket");
            name
        }
    };
    let exempt = bucket(unique("ssm-exempt")).await;
    let s = settings(&[("EXEMPT_RESOURCES", &format!("arn:aws:s3:::{exempt}"))]);
    let s3_engine =
        functions::s3_public_access_block(s.clone(), &emulator!().aws(&s, &Recorder::new()).await)
            .expect("engine");
    let bt = "AWS::S3::Bucket";

    // remediated, then compliant
    let open_bucket = bucket(unique("ssm-open")).await;
    let ok = automation_verdict(&answer(&s3_engine, &open_bucket, bt).await).expect("remediated");
    assert!(ok.contains("remediated"), "{ok}");
    let ok = automation_verdict(&answer(&s3_engine, &open_bucket, bt).await).expect("compliant");
    assert!(ok.contains("compliant"), "{ok}");
    // exempt
    let ok = automation_verdict(&answer(&s3_engine, &exempt, bt).await).expect("exempt");
    assert!(ok.contains("exempt"), "{ok}");
    // would_remediate (DRY_RUN)
    let dry = settings(&[("DRY_RUN", "true")]);
    let dry_engine = functions::s3_public_access_block(
        dry.clone(),
        &emulator!().aws(&dry, &Recorder::new()).await,
    )
    .expect("engine");
    let ok = automation_verdict(&answer(&dry_engine, &bucket(unique("ssm-dry")).await, bt).await)
        .expect("would_remediate");
    assert!(ok.contains("would_remediate"), "{ok}");
    // failed: a write that does not stick; the failure reason is the function's message
    let broken = bucket(unique("ssm-broken")).await;
    emulator!().harness_get(&format!(
        "/_harness/s3/discard-public-access-block-writes?bucket={broken}"
    ));
    let reason = automation_verdict(&answer(&s3_engine, &broken, bt).await).expect_err("failed");
    assert!(
        reason.contains("RemediationUnresolved") && reason.contains("verification failed"),
        "{reason}"
    );
    // an invalid request
    let reason = automation_verdict(&answer(&s3_engine, "x", bt).await).expect_err("invalid");
    assert!(reason.contains("InvalidEvent"), "{reason}");

    // not_applicable: a key AWS does not rotate
    let kms = plain.kms();
    let key = kms
        .create_key()
        .key_spec(KeySpec::Rsa2048)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .expect("key")
        .key_metadata()
        .map(|m| m.key_id().to_owned())
        .expect("id");
    let ks = settings(&[]);
    let kms_engine = functions::kms_key_rotation(
        ks.clone(),
        &env(&[]),
        &emulator!().aws(&ks, &Recorder::new()).await,
    )
    .expect("engine");
    let ok = automation_verdict(
        &answer_for(&kms_engine, &key, "AWS::KMS::Key", "kms-key-rotation").await,
    )
    .expect("not_applicable");
    assert!(ok.contains("not_applicable"), "{ok}");

    // deferred: a notebook still Pending is not a success for Config (it retries)
    let sm = plain.sagemaker();
    let notebook = unique("ssm-notebook");
    sm.create_notebook_instance()
        .notebook_instance_name(&notebook)
        .instance_type(aws_sdk_sagemaker::types::InstanceType::MlT3Medium)
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/notebook"))
        .send()
        .await
        .expect("notebook");
    emulator!().harness_get(&format!(
        "/_harness/sagemaker/notebook-status?name={notebook}&status=Pending"
    ));
    let sms = settings(&[]);
    let sm_engine = functions::sagemaker_notebook_guard(
        sms.clone(),
        &env(&[]),
        &emulator!().aws(&sms, &Recorder::new()).await,
    )
    .expect("engine");
    let answer_text = answer(&sm_engine, &notebook, "AWS::SageMaker::NotebookInstance").await;
    let parsed: Value = serde_json::from_str(&answer_text).expect("json");
    assert_eq!(
        parsed["results"][0]["outcome"],
        json!("deferred"),
        "the function itself succeeds: {answer_text}"
    );
    let reason = automation_verdict(&answer_text).expect_err("deferred");
    assert!(reason.contains("deferred"), "{reason}");
}
