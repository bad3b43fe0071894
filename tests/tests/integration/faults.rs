//! Faults, floods and contested permissions, on an emulator of its own that answers a set fraction
//! of calls with each service's real throttling error (and some 5xx): every remediation converges
//! within one invocation on the SDK's retries, a sweep of 50+ buckets too; 100 concurrent duplicate
//! events end in one consistent state; AccessDenied fails with the missing permission named.
//! Tests here take turns: the fault switch is global to the emulator.

use futures::future::join_all;
use integration_tests::{emulator, env, events, settings, unique, Recorder, ACCOUNT};
use remediation::{functions, EngineError, Outcome};
use serde_json::json;

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn faults(throttle: f64, server_error: f64) {
    emulator!().harness_get(&format!(
        "/_harness/faults?throttle={throttle}&server_error={server_error}&seed=20261126"
    ));
}

/// The functions' default retry policy (standard mode, 8 attempts), not the tests' single attempt.
fn production() -> remediation::Settings {
    let s = settings(&[("AWS_MAX_ATTEMPTS", "8")]);
    assert_eq!(
        s.retry.max_attempts(),
        remediation::Settings::DEFAULT_MAX_ATTEMPTS
    );
    s
}

#[tokio::test]
async fn every_control_converges_under_20_percent_throttling() {
    let _turn = TURN.lock().await;
    let plain = emulator!().clients(&settings(&[])).await;
    let s3 = plain.s3();
    let prefix = unique("flaky");
    let buckets: Vec<String> = (0..55).map(|i| format!("{prefix}-{i:02}")).collect();
    for b in &buckets {
        s3.create_bucket().bucket(b).send().await.expect("create");
    }
    let kms = plain.kms();
    let key = kms
        .create_key()
        .send()
        .await
        .expect("key")
        .key_metadata()
        .expect("meta")
        .key_id()
        .to_owned();
    let sm = plain.sagemaker();
    let notebook = unique("flaky-nb");
    sm.create_notebook_instance()
        .notebook_instance_name(&notebook)
        .instance_type(aws_sdk_sagemaker::types::InstanceType::MlT3Medium)
        .role_arn("arn:aws:iam::123456789012:role/x")
        .send()
        .await
        .expect("notebook");

    let s = production();
    let calls = Recorder::new();
    let aws = emulator!().aws(&s, &calls).await;
    let s3_engine = functions::s3_public_access_block(s.clone(), &aws).expect("engine");
    emulator!().bedrock_destinations(&["logs"], &[], &[]);
    let bedrock_env = env(&[("BEDROCK_LOG_BUCKET", "logs")]);
    let bedrock_engine =
        functions::bedrock_invocation_logging(s.clone(), &bedrock_env, &aws).expect("engine");
    let kms_engine = functions::kms_key_rotation(s.clone(), &env(&[]), &aws).expect("engine");
    let sm_engine = functions::sagemaker_notebook_guard(s, &env(&[]), &aws).expect("engine");

    faults(0.2, 0.05);
    let sweep = s3_engine
        .handle(
            &events::load("s3-public-access-block/scheduled-sweep.json", &[]),
            ACCOUNT,
        )
        .await;
    let bedrock = bedrock_engine
        .handle(&json!({"resourceId": ACCOUNT}), ACCOUNT)
        .await;
    let kms_fix = kms_engine
        .handle(
            &json!({"resourceId": key, "control": "kms-key-rotation"}),
            ACCOUNT,
        )
        .await;
    let sm_fix = sm_engine
        .handle(&json!({"resourceId": notebook}), ACCOUNT)
        .await;
    faults(0.0, 0.0);

    let sweep = sweep.unwrap_or_else(|e| panic!("sweep under faults: {e}"));
    assert!(sweep.results.len() > 55, "{}", sweep.summary());
    assert!(
        sweep
            .results
            .iter()
            .all(|r| r.outcome == Outcome::Remediated || r.outcome == Outcome::Compliant),
        "{}",
        sweep.summary()
    );
    for (name, result) in [
        ("bedrock", bedrock),
        ("kms", kms_fix),
        ("sagemaker", sm_fix),
    ] {
        let response = result.unwrap_or_else(|e| panic!("{name} under faults: {e}"));
        assert_eq!(response.results[0].outcome, Outcome::Remediated, "{name}");
    }
    for b in &buckets {
        let out = s3
            .get_public_access_block()
            .bucket(b)
            .send()
            .await
            .expect("get");
        let c = out.public_access_block_configuration().expect("configured");
        assert_eq!(c.restrict_public_buckets(), Some(true), "{b}");
    }
    let status = kms
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .expect("status");
    assert!(status.key_rotation_enabled());
}

#[tokio::test]
async fn a_hundred_concurrent_duplicate_events_end_in_one_state_without_failures() {
    let _turn = TURN.lock().await;
    let plain = emulator!().clients(&settings(&[])).await;
    let s3 = plain.s3();
    let bucket = unique("flood");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create");
    let s = production();
    let engine =
        functions::s3_public_access_block(s.clone(), &emulator!().aws(&s, &Recorder::new()).await)
            .expect("engine");
    let event = events::load(
        "s3-public-access-block/cloudtrail-delete-bucket-public-access-block.json",
        &[("ai-training-data-example", &bucket)],
    );
    let results = join_all((0..100).map(|_| engine.handle(&event, ACCOUNT))).await;
    let mut remediated = 0;
    for result in results {
        let response = result.unwrap_or_else(|e| panic!("a duplicate failed: {e}"));
        match response.results[0].outcome {
            Outcome::Remediated => remediated += 1,
            Outcome::Compliant => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(remediated >= 1);
    let out = s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .expect("get");
    let c = out.public_access_block_configuration().expect("configured");
    assert_eq!(
        [
            c.block_public_acls(),
            c.ignore_public_acls(),
            c.block_public_policy(),
            c.restrict_public_buckets()
        ],
        [Some(true); 4]
    );
}

#[tokio::test]
async fn access_denied_fails_and_names_the_missing_permission() {
    let _turn = TURN.lock().await;
    let plain = emulator!().clients(&settings(&[])).await;
    let bucket = unique("denied");
    plain
        .s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create");
    let key = plain
        .kms()
        .create_key()
        .send()
        .await
        .expect("key")
        .key_metadata()
        .expect("m")
        .key_id()
        .to_owned();
    let s = settings(&[]);
    let aws = emulator!().aws(&s, &Recorder::new()).await;
    let s3_engine = functions::s3_public_access_block(s.clone(), &aws).expect("engine");
    let kms_engine = functions::kms_key_rotation(s, &env(&[]), &aws).expect("engine");

    emulator!().harness_get("/_harness/deny?method=PUT&query=publicAccessBlock");
    emulator!().harness_get("/_harness/deny?target=EnableKeyRotation");
    let s3_result = s3_engine
        .handle(&json!({"resourceId": bucket}), ACCOUNT)
        .await;
    let kms_result = kms_engine
        .handle(
            &json!({"resourceId": key, "control": "kms-key-rotation"}),
            ACCOUNT,
        )
        .await;
    emulator!().harness_get("/_harness/deny");

    for (result, permission) in [
        (
            s3_result,
            "missing permission s3:PutBucketPublicAccessBlock",
        ),
        (kms_result, "missing permission kms:EnableKeyRotation"),
    ] {
        let Err(EngineError::Unresolved { message, response }) = result else {
            panic!("expected a failure")
        };
        assert_eq!(response.results[0].outcome, Outcome::Failed);
        assert!(
            response.results[0].detail.contains(permission),
            "{}",
            response.results[0].detail
        );
        assert!(message.contains(permission), "{message}");
    }
}
