//! `bedrock-invocation-logging` against the emulator: deleted, redirected, flags off, compliant
//! replay, the AWS Config periodic rule (evaluations as the emulator received them), dry run,
//! missing settings, malformed and foreign-account events. Bedrock logging is one setting per
//! account and region, so the tests of this module take turns.

use aws_sdk_bedrock::types::{LoggingConfig, S3Config};
use integration_tests::{emulator, env, events, settings, unique, CapturedLogs, Recorder, ACCOUNT};
use remediation::{functions, Engine, EngineError, Outcome, Response};
use serde_json::{json, Value};

const GET: &str = "bedrock:GetModelInvocationLoggingConfiguration";
const PUT: &str = "bedrock:PutModelInvocationLoggingConfiguration";
const RESOURCE: &str = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-logging";
const KNOWN_GOOD: &[(&str, &str)] = &[
    ("BEDROCK_LOG_BUCKET", "ai-guard-bedrock-logs"),
    ("BEDROCK_LOG_KEY_PREFIX", "bedrock/"),
    ("BEDROCK_LOG_GROUP", "/ai-guard/bedrock/invocations"),
    (
        "BEDROCK_LOG_ROLE_ARN",
        "arn:aws:iam::123456789012:role/ai-guard-bedrock-logging",
    ),
];

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Fixture {
    engine: Engine,
    calls: Recorder,
    bedrock: aws_sdk_bedrock::Client,
}

async fn fixture(extra: &[(&str, &str)]) -> Fixture {
    emulator!().bedrock_destinations(
        &["ai-guard-bedrock-logs", "exfil-logs-7731"],
        &["/ai-guard/bedrock/invocations"],
        &[
            "arn:aws:iam::123456789012:role/ai-guard-bedrock-logging",
            "arn:aws:iam::123456789012:role/other",
        ],
    );
    let calls = Recorder::new();
    let s = settings(extra);
    // `extra` first: it overrides the known-good settings.
    let mut pairs = extra.to_vec();
    pairs.extend_from_slice(KNOWN_GOOD);
    let engine = functions::bedrock_invocation_logging(
        s.clone(),
        &env(&pairs),
        &emulator!().aws(&s, &calls).await,
    )
    .expect("engine");
    Fixture {
        engine,
        calls,
        bedrock: emulator!().clients(&settings(&[])).await.bedrock(),
    }
}

impl Fixture {
    async fn handle(&self, event: &Value) -> Result<Response, EngineError> {
        integration_tests::handle(&self.engine, &self.calls, event).await
    }

    async fn ok(&self, event: &Value) -> Response {
        integration_tests::handled(&self.engine, &self.calls, event).await
    }

    async fn delete(&self) {
        self.bedrock
            .delete_model_invocation_logging_configuration()
            .send()
            .await
            .expect("delete");
    }

    async fn put(&self, config: LoggingConfig) {
        self.bedrock
            .put_model_invocation_logging_configuration()
            .logging_config(config)
            .send()
            .await
            .expect("put");
    }

    /// Logging exactly as the known-good settings want it, but with `change` applied.
    fn known_good() -> aws_sdk_bedrock::types::builders::LoggingConfigBuilder {
        LoggingConfig::builder()
            .s3_config(
                S3Config::builder()
                    .bucket_name("ai-guard-bedrock-logs")
                    .key_prefix("bedrock/")
                    .build()
                    .expect("s3"),
            )
            .cloud_watch_config(
                aws_sdk_bedrock::types::CloudWatchConfig::builder()
                    .log_group_name("/ai-guard/bedrock/invocations")
                    .role_arn("arn:aws:iam::123456789012:role/ai-guard-bedrock-logging")
                    .build()
                    .expect("cw"),
            )
            .text_data_delivery_enabled(true)
            .image_data_delivery_enabled(true)
            .embedding_data_delivery_enabled(true)
            .video_data_delivery_enabled(true)
    }

    async fn current(&self) -> Option<LoggingConfig> {
        let out = self
            .bedrock
            .get_model_invocation_logging_configuration()
            .send()
            .await
            .expect("get");
        out.logging_config().cloned()
    }
}

fn event(name: &str) -> Value {
    events::load(&format!("bedrock-invocation-logging/{name}"), &[])
}

fn only(r: &Response) -> &remediation::OutcomeRecord {
    assert_eq!(r.results.len(), 1, "{r:?}");
    &r.results[0]
}

#[tokio::test]
async fn deleted_logging_is_restored_and_the_actor_is_logged_at_warn() {
    let _turn = TURN.lock().await;
    let f = fixture(&[]).await;
    f.delete().await;
    assert!(
        f.current().await.is_none(),
        "the emulator answers as AWS does after a delete"
    );
    let logs = CapturedLogs::start();
    let response = f
        .ok(&event(
            "cloudtrail-delete-model-invocation-logging-configuration.json",
        ))
        .await;
    let r = only(&response);
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert_eq!(r.resource, RESOURCE);
    assert_eq!(r.control, "bedrock-invocation-logging");
    assert_eq!(r.actions, vec!["PutModelInvocationLoggingConfiguration"]);
    assert_eq!(
        r.detail,
        "fixed: model invocation logging is off (deleted or never configured)"
    );
    assert_eq!(f.calls.calls(), vec![GET, PUT, GET]);
    assert_eq!(f.current().await, Some(Fixture::known_good().build()));

    let audit: Vec<Value> = logs
        .lines()
        .into_iter()
        .filter(|l| l["target"] == json!("audit"))
        .collect();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["level"], json!("WARN"));
    assert_eq!(
        audit[0]["principal"],
        json!("arn:aws:sts::123456789012:assumed-role/ml-platform-dev/mallory")
    );
    assert_eq!(audit[0]["source_ip"], json!("198.51.100.23"));
    assert_eq!(audit[0]["outcome"], json!("remediated"));
    let after: Value =
        serde_json::from_str(audit[0]["after"].as_str().unwrap_or("null")).expect("after json");
    assert_eq!(after["s3"]["bucket"], json!("ai-guard-bedrock-logs"));
}

#[tokio::test]
async fn redirected_or_weakened_logging_is_restored() {
    let _turn = TURN.lock().await;
    let f = fixture(&[]).await;
    // The attacker's redirection, as in the sample CloudTrail event.
    f.put(
        LoggingConfig::builder()
            .s3_config(
                S3Config::builder()
                    .bucket_name("exfil-logs-7731")
                    .build()
                    .expect("s3"),
            )
            .text_data_delivery_enabled(false)
            .build(),
    )
    .await;
    let response = f
        .ok(&event(
            "cloudtrail-put-model-invocation-logging-configuration.json",
        ))
        .await;
    let r = only(&response);
    assert_eq!(r.outcome, Outcome::Remediated);
    assert!(
        r.detail.contains(
            "S3 destination is s3://exfil-logs-7731/, expected s3://ai-guard-bedrock-logs/bedrock/"
        ),
        "{}",
        r.detail
    );
    assert!(
        r.detail.contains("CloudWatch Logs destination missing"),
        "{}",
        r.detail
    );
    assert!(
        r.detail.contains("textDataDeliveryEnabled is off"),
        "{}",
        r.detail
    );
    assert_eq!(f.current().await, Some(Fixture::known_good().build()));

    // Destinations right, one flag off; and a swapped role.
    for (broken, expected) in [
        (
            Fixture::known_good()
                .image_data_delivery_enabled(false)
                .build(),
            "imageDataDeliveryEnabled is off",
        ),
        (
            Fixture::known_good()
                .cloud_watch_config(
                    aws_sdk_bedrock::types::CloudWatchConfig::builder()
                        .log_group_name("/ai-guard/bedrock/invocations")
                        .role_arn("arn:aws:iam::123456789012:role/other")
                        .build()
                        .expect("cw"),
                )
                .build(),
            "logging role is arn:aws:iam::123456789012:role/other",
        ),
    ] {
        f.put(broken).await;
        let response = f.ok(&event("direct.json")).await;
        let r = only(&response);
        assert_eq!(r.outcome, Outcome::Remediated);
        assert!(r.detail.contains(expected), "{}", r.detail);
        assert_eq!(f.calls.calls(), vec![GET, PUT, GET]);
        assert_eq!(f.current().await, Some(Fixture::known_good().build()));
    }
}

#[tokio::test]
async fn our_own_put_coming_back_is_compliant_with_no_write() {
    let _turn = TURN.lock().await;
    let f = fixture(&[]).await;
    f.put(Fixture::known_good().build()).await;
    let response = f
        .ok(&event(
            "cloudtrail-own-put-model-invocation-logging-configuration.json",
        ))
        .await;
    assert_eq!(only(&response).outcome, Outcome::Compliant);
    assert_eq!(f.calls.calls(), vec![GET]);
}

#[tokio::test]
async fn config_periodic_rule_remediates_then_reports() {
    let _turn = TURN.lock().await;
    let f = fixture(&[]).await;
    f.delete().await;
    let token = unique("bedrock-periodic");
    let mut periodic = event("config-rule-periodic.json");
    periodic["resultToken"] = json!(token);
    let response = f.ok(&periodic).await;
    assert_eq!(only(&response).outcome, Outcome::Remediated);
    assert_eq!(
        f.calls.calls(),
        vec![GET, PUT, GET, "configservice:PutEvaluations"]
    );
    let evaluations = emulator!().config_evaluations(&token);
    assert_eq!(evaluations.len(), 1);
    assert_eq!(
        evaluations[0]["ComplianceResourceType"],
        json!("AWS::::Account")
    );
    assert_eq!(evaluations[0]["ComplianceResourceId"], json!(ACCOUNT));
    assert_eq!(evaluations[0]["ComplianceType"], json!("COMPLIANT"));

    // In a dry run, the evaluation says NON_COMPLIANT and what differs.
    let dry = fixture(&[("DRY_RUN", "true")]).await;
    dry.put(
        Fixture::known_good()
            .video_data_delivery_enabled(false)
            .build(),
    )
    .await;
    let token = unique("bedrock-periodic-dry");
    periodic["resultToken"] = json!(token);
    let response = dry.ok(&periodic).await;
    assert_eq!(only(&response).outcome, Outcome::WouldRemediate);
    assert_eq!(dry.calls.calls(), vec![GET, "configservice:PutEvaluations"]);
    let evaluations = emulator!().config_evaluations(&token);
    assert_eq!(evaluations[0]["ComplianceType"], json!("NON_COMPLIANT"));
    assert_eq!(
        evaluations[0]["Annotation"],
        json!("would_remediate: dry run: would fix: videoDataDeliveryEnabled is off")
    );
    assert_eq!(
        dry.current().await,
        Some(
            Fixture::known_good()
                .video_data_delivery_enabled(false)
                .build()
        ),
        "dry run wrote nothing"
    );
}

#[tokio::test]
async fn every_other_trigger_shape_restores_logging() {
    let _turn = TURN.lock().await;
    let f = fixture(&[]).await;
    for (name, trigger) in [
        (
            "config-compliance-change.json",
            "config-rule:ai-guard-bedrock-invocation-logging",
        ),
        ("direct.json", "direct:remediate"),
        (
            "scheduled-sweep.json",
            "schedule:ai-guard-bedrock-invocation-logging-sweep",
        ),
    ] {
        f.delete().await;
        let response = f.ok(&event(name)).await;
        let r = only(&response);
        assert_eq!(
            (r.outcome, r.trigger.as_str()),
            (Outcome::Remediated, trigger),
            "{name}"
        );
        assert_eq!(f.calls.calls(), vec![GET, PUT, GET], "{name}");
    }
    let response = f.ok(&event("direct-dry-run.json")).await;
    assert_eq!(only(&response).outcome, Outcome::Compliant);
}

#[tokio::test]
async fn dry_run_payload_writes_nothing() {
    let _turn = TURN.lock().await;
    let f = fixture(&[]).await;
    f.delete().await;
    let response = f.ok(&event("direct-dry-run.json")).await;
    let r = only(&response);
    assert_eq!(r.outcome, Outcome::WouldRemediate);
    assert_eq!(f.calls.calls(), vec![GET]);
    assert!(f.current().await.is_none());
}

#[tokio::test]
async fn exempt_account_setting_is_left_alone() {
    let _turn = TURN.lock().await;
    let f = fixture(&[(
        "EXEMPT_RESOURCES",
        "arn:aws:bedrock:*:123456789012:model-invocation-logging",
    )])
    .await;
    f.delete().await;
    let response = f.ok(&event("direct.json")).await;
    assert_eq!(only(&response).outcome, Outcome::Exempt);
    assert!(f.calls.calls().is_empty());
}

#[tokio::test]
async fn missing_or_invalid_settings_refuse_to_start() {
    let s = settings(&[]);
    let aws = emulator!().aws(&s, &Recorder::new()).await;
    let err = functions::bedrock_invocation_logging(s.clone(), &env(&[]), &aws)
        .err()
        .expect("no destination");
    let message = err.to_string();
    assert!(
        message.contains("BEDROCK_LOG_BUCKET")
            && message.contains("BEDROCK_LOG_GROUP")
            && message.contains("BEDROCK_LOG_ROLE_ARN"),
        "{message}"
    );
    let err = functions::bedrock_invocation_logging(
        s.clone(),
        &env(&[("BEDROCK_LOG_GROUP", "/logs")]),
        &aws,
    )
    .err()
    .expect("group without role");
    assert_eq!(err.name, "BEDROCK_LOG_ROLE_ARN");
    // `{account}` and `{region}` are a hub's to replace: without one they would name nothing.
    let err = functions::bedrock_invocation_logging(
        s,
        &env(&[(
            "BEDROCK_LOG_BUCKET",
            "ai-guard-bedrock-logs-{account}-{region}",
        )]),
        &aws,
    )
    .err()
    .expect("placeholder outside a hub");
    assert_eq!(err.name, "BEDROCK_LOG_BUCKET");
    assert!(err.reason.contains("organization hub"), "{err}");
}

#[tokio::test]
async fn malformed_events_are_refused_and_relayed_ones_ignored_without_calls() {
    let _turn = TURN.lock().await;
    let f = fixture(&[]).await;
    let mut foreign = event("cloudtrail-delete-model-invocation-logging-configuration.json");
    foreign["account"] = json!("111122223333");
    let mut foreign_config = event("config-rule-periodic.json");
    foreign_config["accountId"] = json!("111122223333");
    let mut no_name = event("cloudtrail-delete-model-invocation-logging-configuration.json");
    no_name["detail"]
        .as_object_mut()
        .map(|d| d.remove("eventName"));
    // Relayed from another account (a forwarding bus, another account's Config): ignored, no call.
    for e in [foreign, foreign_config] {
        let response = f.handle(&e).await.expect("ignored, not an error");
        assert!(response.results.is_empty());
        assert!(f.calls.calls().is_empty());
    }
    for (e, expected) in [
        (no_name, "missing field `eventName`"),
        (
            json!({"resourceId": "arn:aws:bedrock:us-east-1:111122223333:model-invocation-logging"}),
            "111122223333",
        ),
        (
            json!({"resourceId": "arn:aws:bedrock:eu-west-1:123456789012:model-invocation-logging"}),
            "region eu-west-1",
        ),
        (
            json!({"resourceId": "my-bucket"}),
            "invalid resource id `my-bucket`",
        ),
    ] {
        let err = f.handle(&e).await.expect_err("refused");
        assert!(err.to_string().contains(expected), "{err}");
        assert!(f.calls.calls().is_empty());
    }
}

#[tokio::test]
async fn destinations_bedrock_cannot_validate_fail_with_bedrocks_reason() {
    let _turn = TURN.lock().await;
    // A log group that does not exist (deleted, or a typo in the settings): Bedrock refuses the
    // configuration when it is put, as AWS does; the fix fails and says why.
    let f = fixture(&[("BEDROCK_LOG_GROUP", "/ai-guard/bedrock/missing")]).await;
    f.delete().await;
    let err = f
        .handle(&event("direct.json"))
        .await
        .expect_err("cannot be restored");
    let EngineError::Unresolved { response, .. } = err else {
        panic!("expected unresolved")
    };
    let r = only(&response);
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(
        r.detail
            .contains("Failed to validate permissions for log group"),
        "{}",
        r.detail
    );
    assert_eq!(f.calls.calls(), vec![GET, PUT]);
}
