//! Escalation: notifications (SNS) for remediated, failed and contested resources, and contested
//! resources counted in a DynamoDB table — reported when something keeps undoing a fix, and left
//! for a human when `KEEP_FIXING_CONTESTED=false`.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use integration_tests::{emulator, events, settings, unique, Recorder, ACCOUNT};
use remediation::{functions, EngineError, Outcome};
use serde_json::Value;

async fn topic_and_table() -> (String, String) {
    let plain = emulator!().clients(&settings(&[])).await;
    let topic = plain
        .sns()
        .create_topic()
        .name(unique("ai-guard-notifications"))
        .send()
        .await
        .expect("topic")
        .topic_arn()
        .expect("arn")
        .to_owned();
    let table = unique("ai-guard-contested");
    plain
        .dynamodb()
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("resource")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attr"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("resource")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("table");
    (topic, table)
}

fn messages(topic: &str) -> Vec<Value> {
    match emulator!().harness_get(&format!("/_harness/sns/messages?topic={topic}")) {
        Value::Array(m) => m,
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn a_fix_undone_again_and_again_is_contested_and_notified() {
    let (topic, table) = topic_and_table().await;
    let s = settings(&[
        ("NOTIFY_TOPIC_ARN", &topic),
        ("CONTESTED_TABLE", &table),
        ("CONTESTED_THRESHOLD", "2"),
    ]);
    let calls = Recorder::new();
    let engine = functions::s3_public_access_block(s.clone(), &emulator!().aws(&s, &calls).await)
        .expect("engine");
    let s3 = emulator!().clients(&settings(&[])).await.s3();
    let bucket = unique("contested");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create");
    let event = events::load(
        "s3-public-access-block/cloudtrail-delete-bucket-public-access-block.json",
        &[("ai-training-data-example", &bucket)],
    );
    let mut contested = Vec::new();
    for _ in 0..4 {
        // Someone undoes the fix each time.
        s3.delete_public_access_block()
            .bucket(&bucket)
            .send()
            .await
            .expect("undo");
        let response = engine.handle(&event, ACCOUNT).await.expect("fixed");
        let r = &response.results[0];
        assert_eq!(r.outcome, Outcome::Remediated);
        contested.push(r.contested);
        assert_eq!(
            serde_json::to_value(r)
                .expect("json")
                .get("contested")
                .is_some(),
            r.contested,
            "`contested` appears in the response only when true"
        );
    }
    assert_eq!(
        contested,
        vec![false, false, true, true],
        "contested after more than 2 fixes"
    );
    assert!(
        calls.undeclared(&engine).is_empty(),
        "{:?}",
        calls.undeclared(&engine)
    );

    let sent = messages(&topic);
    assert_eq!(sent.len(), 4, "one message per remediation: {sent:?}");
    let last: Value =
        serde_json::from_str(sent[3]["message"].as_str().expect("message")).expect("json");
    assert_eq!(last["contested"], true);
    assert_eq!(last["resource"], format!("arn:aws:s3:::{bucket}"));
    assert_eq!(
        last["principal"],
        "arn:aws:sts::123456789012:assumed-role/DataScientist/alice"
    );
    assert!(sent[3]["subject"]
        .as_str()
        .expect("subject")
        .starts_with("ai-guard CONTESTED"));
    assert!(sent[0]["subject"]
        .as_str()
        .expect("subject")
        .starts_with("ai-guard remediated"));
}

#[tokio::test]
async fn keep_fixing_false_leaves_a_contested_resource_for_a_human() {
    let (topic, table) = topic_and_table().await;
    let s = settings(&[
        ("NOTIFY_TOPIC_ARN", &topic),
        ("CONTESTED_TABLE", &table),
        ("CONTESTED_THRESHOLD", "1"),
        ("KEEP_FIXING_CONTESTED", "false"),
    ]);
    let calls = Recorder::new();
    let engine = functions::s3_public_access_block(s.clone(), &emulator!().aws(&s, &calls).await)
        .expect("engine");
    let s3 = emulator!().clients(&settings(&[])).await.s3();
    let bucket = unique("left-alone");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create");
    let event = serde_json::json!({"resourceId": bucket});
    for _ in 0..2 {
        s3.delete_public_access_block()
            .bucket(&bucket)
            .send()
            .await
            .expect("undo");
        let response = engine.handle(&event, ACCOUNT).await.expect("fixed");
        assert_eq!(response.results[0].outcome, Outcome::Remediated);
    }
    s3.delete_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .expect("undo");
    let Err(EngineError::Unresolved { response, .. }) = engine.handle(&event, ACCOUNT).await else {
        panic!("a contested resource left alone fails the invocation, so alarms see it")
    };
    let r = &response.results[0];
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(r.contested);
    assert!(
        r.detail.starts_with("contested: fixed 2 times"),
        "{}",
        r.detail
    );
    assert!(
        s3.get_public_access_block()
            .bucket(&bucket)
            .send()
            .await
            .is_err(),
        "not fixed a third time"
    );
    assert!(
        calls.undeclared(&engine).is_empty(),
        "{:?}",
        calls.undeclared(&engine)
    );
    let sent = messages(&topic);
    assert_eq!(sent.len(), 3);
    assert!(sent[2]["subject"]
        .as_str()
        .expect("subject")
        .starts_with("ai-guard CONTESTED"));
}

#[tokio::test]
async fn bad_escalation_settings_refuse_to_start() {
    for (k, v) in [
        ("NOTIFY_TOPIC_ARN", "my-topic"),
        ("CONTESTED_THRESHOLD", "0"),
        ("KEEP_FIXING_CONTESTED", "no"),
    ] {
        let pairs = [("CONTESTED_TABLE", "t"), (k, v)];
        let given = integration_tests::env(&pairs);
        let err = remediation::Settings::from_lookup(&given).expect_err("refused");
        assert_eq!(err.name, k);
    }
}

#[tokio::test]
async fn notifications_fit_snss_subject_limit_and_unsent_ones_are_counted() {
    let (topic, _) = topic_and_table().await;
    let s = settings(&[("NOTIFY_TOPIC_ARN", &topic)]);
    let calls = Recorder::new();
    let engine = functions::s3_public_access_block(s.clone(), &emulator!().aws(&s, &calls).await)
        .expect("engine");
    let s3 = emulator!().clients(&settings(&[])).await.s3();
    // The longest bucket name S3 allows: the subject would exceed SNS's limit (fewer than 100
    // characters, which the emulator enforces as AWS does) if it carried the whole ARN.
    let mut bucket = unique("long");
    bucket.push_str(&"x".repeat(63 - bucket.len()));
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create");
    let event = events::load(
        "s3-public-access-block/direct-bucket.json",
        &[("ai-training-data-example", &bucket)],
    );
    let response = engine.handle(&event, ACCOUNT).await.expect("fixed");
    assert_eq!(response.results[0].outcome, Outcome::Remediated);
    assert!(!response.results[0].notification_failed);
    let sent = messages(&topic);
    assert_eq!(sent.len(), 1, "{sent:?}");
    // A topic that refuses (deleted here) is not fatal, but the record says so and the
    // `notification_failed` metric counts it.
    let gone = format!("{topic}-deleted");
    let s = settings(&[("NOTIFY_TOPIC_ARN", &gone)]);
    let engine = functions::s3_public_access_block(s.clone(), &emulator!().aws(&s, &calls).await)
        .expect("engine");
    s3.delete_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .expect("undo");
    let response = engine.handle(&event, ACCOUNT).await.expect("fixed anyway");
    assert_eq!(response.results[0].outcome, Outcome::Remediated);
    assert!(response.results[0].notification_failed);
    let docs = remediation::metrics::emf(&response.results, 0);
    assert_eq!(docs[0]["notification_failed"], 1);
}
