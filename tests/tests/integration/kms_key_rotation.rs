//! `kms-key-rotation` against the emulator (extended to store and return `RotationPeriodInDays`
//! and to refuse rotation of keys AWS does not rotate): every trigger, the period logic, keys that
//! are not eligible, aliases, rotation on demand, dry run, exemptions, sweeps and bad input.

use aws_sdk_kms::types::{KeySpec, KeyUsageType, OriginType};
use integration_tests::{emulator, env, events, settings, Recorder, ACCOUNT};
use remediation::{functions, Engine, EngineError, Outcome, Response};
use serde_json::{json, Value};

const SAMPLE_KEY: &str = "0b5c7e9a-1f2d-4c3b-8a6e-5d4f3c2b1a09";
const DESCRIBE: &str = "kms:DescribeKey";
const STATUS: &str = "kms:GetKeyRotationStatus";
const ENABLE: &str = "kms:EnableKeyRotation";
const ROTATE: &str = "kms:RotateKeyOnDemand";
const ROTATIONS: &str = "kms:ListKeyRotations";

/// Sweeps touch every key: they run alone; other tests share.
static SWEEP: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

struct Fixture {
    engine: Engine,
    calls: Recorder,
    kms: aws_sdk_kms::Client,
}

async fn fixture(pairs: &[(&str, &str)]) -> Fixture {
    let calls = Recorder::new();
    let s = settings(pairs);
    let engine =
        functions::kms_key_rotation(s.clone(), &env(pairs), &emulator!().aws(&s, &calls).await)
            .expect("engine");
    Fixture {
        engine,
        calls,
        kms: emulator!().clients(&settings(&[])).await.kms(),
    }
}

impl Fixture {
    async fn key(&self) -> String {
        let out = self
            .kms
            .create_key()
            .description("test key")
            .send()
            .await
            .expect("create key");
        out.key_metadata().expect("metadata").key_id().to_owned()
    }

    async fn key_with(&self, spec: KeySpec, usage: KeyUsageType, origin: OriginType) -> String {
        let out = self
            .kms
            .create_key()
            .key_spec(spec)
            .key_usage(usage)
            .origin(origin)
            .send()
            .await
            .expect("create key");
        out.key_metadata().expect("metadata").key_id().to_owned()
    }

    async fn enable(&self, key: &str, days: i32) {
        self.kms
            .enable_key_rotation()
            .key_id(key)
            .rotation_period_in_days(days)
            .send()
            .await
            .expect("enable");
    }

    /// (enabled, period) as KMS reports it.
    async fn rotation(&self, key: &str) -> (bool, Option<i32>) {
        let s = self
            .kms
            .get_key_rotation_status()
            .key_id(key)
            .send()
            .await
            .expect("status");
        (s.key_rotation_enabled(), s.rotation_period_in_days())
    }

    async fn handle(&self, event: &Value) -> Result<Response, EngineError> {
        integration_tests::handle(&self.engine, &self.calls, event).await
    }

    async fn ok(&self, event: &Value) -> Response {
        integration_tests::handled(&self.engine, &self.calls, event).await
    }
}

fn arn(key: &str) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}")
}

fn key_event(name: &str, key: &str) -> Value {
    events::load(&format!("kms-key-rotation/{name}"), &[(SAMPLE_KEY, key)])
}

fn only(r: &Response) -> &remediation::OutcomeRecord {
    assert_eq!(r.results.len(), 1, "{r:?}");
    &r.results[0]
}

const FIX: [&str; 4] = [DESCRIBE, STATUS, ENABLE, STATUS];

#[tokio::test]
async fn cloudtrail_events_enable_rotation_with_the_set_period() {
    let _shared = SWEEP.read().await;
    let f = fixture(&[]).await;
    for (file, arrange) in [
        ("cloudtrail-create-key.json", None),
        ("cloudtrail-disable-key-rotation.json", None),
        ("cloudtrail-enable-key-rotation.json", Some(2560)),
    ] {
        let key = f.key().await;
        if let Some(days) = arrange {
            f.enable(&key, days).await;
        }
        let response = f.ok(&key_event(file, &key)).await;
        let r = only(&response);
        assert_eq!(r.outcome, Outcome::Remediated, "{file}: {r:?}");
        assert_eq!(r.resource, arn(&key));
        assert_eq!(r.actions, vec!["EnableKeyRotation"]);
        let expected = if arrange.is_some() {
            "fixed: rotation period 2560 days exceeds 365"
        } else {
            "fixed: automatic rotation disabled"
        };
        assert_eq!(r.detail, expected);
        assert_eq!(f.calls.calls(), FIX, "{file}");
        assert_eq!(f.rotation(&key).await, (true, Some(365)), "{file}");
    }
}

#[tokio::test]
async fn period_within_the_setting_is_compliant_after_two_reads() {
    let _shared = SWEEP.read().await;
    let f = fixture(&[]).await;
    let key = f.key().await;
    f.enable(&key, 180).await;
    let response = f.ok(&key_event("direct-key.json", &key)).await;
    let r = only(&response);
    assert_eq!(r.outcome, Outcome::Compliant);
    assert_eq!(r.detail, "automatic rotation every 180 days (limit 365)");
    assert_eq!(f.calls.calls(), vec![DESCRIBE, STATUS]);

    let strict = fixture(&[("KEY_ROTATION_PERIOD_DAYS", "90")]).await;
    let response = strict.ok(&key_event("direct-key.json", &key)).await;
    assert_eq!(only(&response).outcome, Outcome::Remediated);
    assert_eq!(strict.rotation(&key).await, (true, Some(90)));
}

#[tokio::test]
async fn keys_aws_does_not_rotate_are_not_applicable_after_one_read() {
    let _shared = SWEEP.read().await;
    let f = fixture(&[]).await;
    let asymmetric = f
        .key_with(
            KeySpec::Rsa2048,
            KeyUsageType::SignVerify,
            OriginType::AwsKms,
        )
        .await;
    let hmac = f
        .key_with(
            KeySpec::Hmac256,
            KeyUsageType::GenerateVerifyMac,
            OriginType::AwsKms,
        )
        .await;
    let imported = f
        .key_with(
            KeySpec::SymmetricDefault,
            KeyUsageType::EncryptDecrypt,
            OriginType::External,
        )
        .await;
    let disabled = f.key().await;
    f.kms
        .disable_key()
        .key_id(&disabled)
        .send()
        .await
        .expect("disable");
    let deleting = f.key().await;
    f.kms
        .schedule_key_deletion()
        .key_id(&deleting)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("schedule deletion");
    // A multi-Region replica in this region, of a primary elsewhere.
    let west = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(emulator!().clients(&settings(&[])).await.sdk_config())
            .region(aws_sdk_kms::config::Region::new("us-west-2"))
            .build(),
    );
    let primary = west
        .create_key()
        .multi_region(true)
        .send()
        .await
        .expect("primary");
    let primary_id = primary
        .key_metadata()
        .expect("metadata")
        .key_id()
        .to_owned();
    west.replicate_key()
        .key_id(&primary_id)
        .replica_region("us-east-1")
        .send()
        .await
        .expect("replicate");

    for (key, reason) in [
        (asymmetric, "RSA_2048 key"),
        (hmac, "HMAC_256 key"),
        (imported, "origin EXTERNAL"),
        (disabled, "key state Disabled"),
        (deleting, "key state PendingDeletion"),
        (primary_id, "multi-Region replica"),
    ] {
        for event in [
            json!({"resourceId": key, "control": "kms-key-rotation"}),
            json!({"resourceId": key, "action": "rotate-now"}),
        ] {
            let response = f.ok(&event).await;
            let r = only(&response);
            assert_eq!(r.outcome, Outcome::NotApplicable, "{reason}: {r:?}");
            assert!(r.detail.contains(reason), "{}", r.detail);
            assert_eq!(f.calls.calls(), vec![DESCRIBE], "{reason}");
        }
    }
}

#[tokio::test]
async fn aliases_resolve_to_the_key_and_exemptions_follow_the_key() {
    let _shared = SWEEP.read().await;
    let f = fixture(&[]).await;
    let key = f.key().await;
    let alias = format!("alias/{}", integration_tests::unique("fine-tuning"));
    f.kms
        .create_alias()
        .alias_name(&alias)
        .target_key_id(&key)
        .send()
        .await
        .expect("alias");
    let response = f
        .ok(&json!({"resourceId": alias, "control": "kms-key-rotation"}))
        .await;
    let r = only(&response);
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert_eq!(r.resource, arn(&key), "records name the key, not the alias");
    assert_eq!(f.calls.calls(), FIX);

    let exempt_key = f.key().await;
    let exempt_alias = format!("alias/{}", integration_tests::unique("exempt"));
    f.kms
        .create_alias()
        .alias_name(&exempt_alias)
        .target_key_id(&exempt_key)
        .send()
        .await
        .expect("alias");
    let guarded = fixture(&[("EXEMPT_RESOURCES", &arn(&exempt_key))]).await;
    let response = guarded
        .ok(&json!({"resourceId": exempt_alias, "control": "kms-key-rotation"}))
        .await;
    let r = only(&response);
    assert_eq!(
        r.outcome,
        Outcome::Exempt,
        "an alias must not bypass an exemption"
    );
    assert_eq!(r.resource, arn(&exempt_key));
    // Reads resolve the alias; nothing is written.
    assert_eq!(guarded.calls.calls(), vec![DESCRIBE, STATUS]);
    assert_eq!(guarded.rotation(&exempt_key).await, (false, None));
}

#[tokio::test]
async fn rotate_now_rotates_verifies_and_respects_dry_run_exemption_and_limit() {
    let _shared = SWEEP.read().await;
    let f = fixture(&[]).await;
    let key = f.key().await;
    let response = f.ok(&key_event("direct-rotate-now.json", &key)).await;
    let r = only(&response);
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert_eq!(r.actions, vec!["RotateKeyOnDemand"]);
    assert_eq!(r.trigger, "direct:rotate-now");
    assert_eq!(
        f.calls.calls(),
        vec![DESCRIBE, STATUS, ROTATIONS, ROTATE, STATUS, ROTATIONS]
    );
    let rotations = f
        .kms
        .list_key_rotations()
        .key_id(&key)
        .send()
        .await
        .expect("list");
    assert_eq!(rotations.rotations().len(), 1);

    let dry = fixture(&[("DRY_RUN", "true")]).await;
    let response = dry.ok(&key_event("direct-rotate-now.json", &key)).await;
    assert_eq!(only(&response).outcome, Outcome::WouldRemediate);
    assert_eq!(dry.calls.calls(), vec![DESCRIBE, STATUS, ROTATIONS]);

    let exempt = fixture(&[("EXEMPT_RESOURCES", "arn:aws:kms:*:123456789012:key/*")]).await;
    let response = exempt.ok(&key_event("direct-rotate-now.json", &key)).await;
    assert_eq!(only(&response).outcome, Outcome::Exempt);
    assert!(exempt.calls.calls().is_empty());

    // AWS allows a limited number of on-demand rotations per key: past it, a clear failure.
    for _ in 1..10 {
        f.ok(&key_event("direct-rotate-now.json", &key)).await;
    }
    let err = f
        .handle(&key_event("direct-rotate-now.json", &key))
        .await
        .expect_err("limit");
    let message = err.to_string();
    assert!(
        message.contains("failed=1") && message.contains("LimitExceededException"),
        "{message}"
    );
}

#[tokio::test]
async fn unknown_key_is_gone() {
    let _shared = SWEEP.read().await;
    let f = fixture(&[]).await;
    let response = f
        .ok(&key_event(
            "direct-key.json",
            "11111111-2222-3333-4444-555555555555",
        ))
        .await;
    assert_eq!(only(&response).outcome, Outcome::Gone);
    assert_eq!(f.calls.calls(), vec![DESCRIBE]);
    let response = f
        .ok(&json!({"resourceId": "alias/no-such-alias", "control": "kms-key-rotation"}))
        .await;
    assert_eq!(only(&response).outcome, Outcome::Gone);
}

#[tokio::test]
async fn config_security_hub_and_ssm_triggers_remediate() {
    let _shared = SWEEP.read().await;
    let f = fixture(&[]).await;
    for (file, trigger) in [
        (
            "config-compliance-change.json",
            "config-rule:cmk-backing-key-rotation-enabled",
        ),
        ("securityhub-kms-4.json", "security-hub:KMS.4"),
        ("ssm-automation-key.json", "direct:remediate"),
        ("direct-alias.json", "direct:remediate"),
    ] {
        let key = f.key().await;
        let mut event = key_event(file, &key);
        if file == "direct-alias.json" {
            let alias = format!("alias/{}", integration_tests::unique("fine-tuning-data"));
            f.kms
                .create_alias()
                .alias_name(&alias)
                .target_key_id(&key)
                .send()
                .await
                .expect("alias");
            event["resourceId"] = json!(alias);
        }
        let response = f.ok(&event).await;
        let r = only(&response);
        assert_eq!(
            (r.outcome, r.trigger.as_str()),
            (Outcome::Remediated, trigger),
            "{file}"
        );
        // A finding is also told the result (Security Hub's closed loop).
        let mut expected = FIX.to_vec();
        if file.starts_with("securityhub") {
            expected.push("securityhub:BatchUpdateFindings");
        }
        assert_eq!(f.calls.calls(), expected, "{file}");
        assert_eq!(f.rotation(&key).await, (true, Some(365)));
    }
}

#[tokio::test]
async fn sweep_covers_every_key_with_bounded_concurrency() {
    let _alone = SWEEP.write().await;
    let f = fixture(&[("SWEEP_CONCURRENCY", "3")]).await;
    let mut fresh = Vec::new();
    for i in 0..12 {
        let key = f.key().await;
        if i % 2 == 0 {
            f.enable(&key, 365).await;
        }
        fresh.push(key);
    }
    let response = f
        .ok(&events::load("kms-key-rotation/scheduled-sweep.json", &[]))
        .await;
    for key in &fresh {
        let r = response
            .results
            .iter()
            .find(|r| r.resource == arn(key))
            .unwrap_or_else(|| panic!("{key} swept"));
        assert!(
            matches!(r.outcome, Outcome::Remediated | Outcome::Compliant),
            "{r:?}"
        );
        assert_eq!(f.rotation(key).await, (true, Some(365)));
    }
    let listed = f
        .calls
        .calls()
        .iter()
        .filter(|c| *c == "kms:ListKeys")
        .count();
    assert_eq!(listed, 1);
    let described = f.calls.calls().iter().filter(|c| *c == DESCRIBE).count();
    let fixed = response
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Remediated)
        .count();
    assert_eq!(described, response.results.len(), "one describe per key");
    let statuses = f.calls.calls().iter().filter(|c| *c == STATUS).count();
    let eligible = response
        .results
        .iter()
        .filter(|r| r.outcome != Outcome::NotApplicable)
        .count();
    assert_eq!(
        statuses,
        eligible + fixed,
        "one status read per eligible key, one more per fix"
    );
    // Nothing left to do: a second sweep writes nothing.
    let again = f
        .ok(&events::load("kms-key-rotation/scheduled-sweep.json", &[]))
        .await;
    assert!(
        again
            .results
            .iter()
            .all(|r| r.outcome != Outcome::Remediated),
        "{}",
        again.summary()
    );
    assert!(!f.calls.calls().contains(&ENABLE.to_owned()));
}

#[tokio::test]
async fn bad_input_and_bad_settings_are_refused() {
    let f = fixture(&[]).await;
    for (event, expected) in [
        (
            json!({"resourceId": "alias/aws/s3"}),
            "invalid resource id `alias/aws/s3`",
        ),
        (
            json!({"resourceId": "key with spaces"}),
            "invalid resource id",
        ),
        (
            json!({"resourceId": "arn:aws:kms:eu-west-1:123456789012:key/0b5c7e9a-1f2d-4c3b-8a6e-5d4f3c2b1a09", "control": "kms-key-rotation"}),
            "region eu-west-1",
        ),
        (
            json!({"resourceId": "arn:aws:kms:us-east-1:444455556666:key/0b5c7e9a-1f2d-4c3b-8a6e-5d4f3c2b1a09", "control": "kms-key-rotation"}),
            "account 444455556666",
        ),
        (
            json!({"resourceId": SAMPLE_KEY, "control": "kms-key-rotation", "action": "delete"}),
            "unknown action `delete`",
        ),
    ] {
        let err = f.handle(&event).await.expect_err("refused");
        assert!(err.to_string().contains(expected), "{err}");
        assert!(f.calls.calls().is_empty());
    }
    let mut no_key = key_event("cloudtrail-disable-key-rotation.json", SAMPLE_KEY);
    no_key["detail"]["requestParameters"] = json!({});
    let err = f.handle(&no_key).await.expect_err("refused");
    assert!(
        err.to_string().contains("detail.requestParameters.keyId"),
        "{err}"
    );

    let s = settings(&[]);
    let err = functions::kms_key_rotation(
        s,
        &env(&[("KEY_ROTATION_PERIOD_DAYS", "30")]),
        &emulator!().aws(&settings(&[]), &Recorder::new()).await,
    )
    .err()
    .expect("refused");
    assert_eq!(err.name, "KEY_ROTATION_PERIOD_DAYS");
    assert!(err.to_string().contains("from 90 to 2560"), "{err}");
}

#[tokio::test]
async fn the_opt_in_exemption_tag_works_for_keys() {
    let _shared = SWEEP.read().await;
    let f = fixture(&[("EXEMPT_TAG", "ai-guard:exempt")]).await;
    let key = f.key().await;
    f.kms
        .tag_resource()
        .key_id(&key)
        .tags(
            aws_sdk_kms::types::Tag::builder()
                .tag_key("ai-guard:exempt")
                .tag_value("legacy HSM migration")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("tag");
    let response = f.ok(&key_event("direct-key.json", &key)).await;
    assert_eq!(only(&response).outcome, Outcome::Exempt);
    assert_eq!(
        f.calls.calls(),
        vec![DESCRIBE, STATUS, "kms:ListResourceTags"]
    );
    assert_eq!(f.rotation(&key).await, (false, None));
}

#[tokio::test]
async fn a_stale_read_after_the_write_is_read_again_not_failed() {
    let _shared = SWEEP.read().await;
    let f = fixture(&[]).await;
    let key = f.key().await;
    // KMS is eventually consistent: the first status read after EnableKeyRotation answers the
    // old state (the emulator's stale-read hook, as AWS may).
    integration_tests::emulator!().harness_get(&format!("/_harness/kms/stale-reads?key={key}"));
    let response = f.ok(&key_event("direct-key.json", &key)).await;
    let r = only(&response);
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert_eq!(
        f.calls.calls(),
        vec![DESCRIBE, STATUS, ENABLE, STATUS, STATUS]
    );
    assert_eq!(f.rotation(&key).await, (true, Some(365)));
}
