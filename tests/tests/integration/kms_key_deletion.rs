//! The KMS key deletion guard (in `kms-key-rotation`) against the emulator: a protected key
//! scheduled for deletion is cancelled and enabled again (KMS leaves a cancelled key `Disabled`),
//! a protected key disabled is enabled again, unprotected keys are left alone, by every trigger.

use integration_tests::{emulator, env, events, settings, unique, Recorder};
use remediation::{functions, Engine, Outcome, Response};
use serde_json::{json, Value};

const SAMPLE_KEY: &str = "0b5c7e9a-1f2d-4c3b-8a6e-5d4f3c2b1a09";
const GUARD: &str = "kms-key-deletion-guard";

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
    /// A key with an `alias/ai-…` alias.
    async fn ai_key(&self) -> String {
        self.ai_key_of(false).await
    }

    /// A key with an `alias/ai-…` alias, multi-Region (a primary) or not.
    async fn ai_key_of(&self, multi_region: bool) -> String {
        let key = self
            .kms
            .create_key()
            .description("fine-tuning data")
            .multi_region(multi_region)
            .send()
            .await
            .expect("key")
            .key_metadata()
            .expect("metadata")
            .key_id()
            .to_owned();
        self.kms
            .create_alias()
            .alias_name(format!("alias/{}", unique("ai-training")))
            .target_key_id(&key)
            .send()
            .await
            .expect("alias");
        key
    }

    async fn schedule_deletion(&self, key: &str) {
        self.kms
            .schedule_key_deletion()
            .key_id(key)
            .pending_window_in_days(7)
            .send()
            .await
            .expect("schedule");
    }

    async fn state(&self, key: &str) -> String {
        self.kms
            .describe_key()
            .key_id(key)
            .send()
            .await
            .expect("describe")
            .key_metadata()
            .and_then(|m| m.key_state())
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default()
    }

    /// Schedules `key`'s deletion (leaving it in `pending`), has the guard handle CloudTrail's
    /// record of it, and checks the key was cancelled, enabled and verified.
    async fn deletion_cancelled(&self, key: &str, pending: &str) -> remediation::OutcomeRecord {
        self.schedule_deletion(key).await;
        assert_eq!(self.state(key).await, pending);
        let response = self
            .ok(&event("cloudtrail-schedule-key-deletion.json", key))
            .await;
        let r = response.results[0].clone();
        assert_eq!(
            (r.control, r.outcome),
            (GUARD, Outcome::Remediated),
            "{r:?}"
        );
        assert_eq!(r.actions, vec!["CancelKeyDeletion", "EnableKey"]);
        assert_eq!(self.state(key).await, "Enabled");
        r
    }

    async fn ok(&self, event: &Value) -> Response {
        integration_tests::handled(&self.engine, &self.calls, event).await
    }
}

fn event(name: &str, key: &str) -> Value {
    events::load(&format!("kms-key-rotation/{name}"), &[(SAMPLE_KEY, key)])
}

fn guard_records(r: &Response) -> Vec<&remediation::OutcomeRecord> {
    r.results.iter().filter(|r| r.control == GUARD).collect()
}

#[tokio::test]
async fn a_protected_key_scheduled_for_deletion_is_cancelled_enabled_and_verified() {
    let f = fixture(&[("PROTECTED_KEYS", "alias/ai-*")]).await;
    let key = f.ai_key().await;
    let r = f.deletion_cancelled(&key, "PendingDeletion").await;
    assert!(r.detail.contains("alias/ai-*"), "{}", r.detail);
    assert_eq!(r.trigger, "cloudtrail:ScheduleKeyDeletion");
    assert_eq!(
        f.calls.calls(),
        [
            "kms:DescribeKey",
            "kms:ListAliases",
            "kms:CancelKeyDeletion",
            "kms:EnableKey",
            "kms:DescribeKey"
        ]
    );
    // Enabled again: one read, compliant.
    let again = f
        .ok(&event("cloudtrail-schedule-key-deletion.json", &key))
        .await;
    assert_eq!(again.results[0].outcome, Outcome::Compliant);
    assert_eq!(f.calls.calls(), ["kms:DescribeKey"]);
}

#[tokio::test]
async fn unprotected_keys_are_left_alone_and_logged() {
    let f = fixture(&[("PROTECTED_KEYS", "alias/ai-*")]).await;
    let key = f
        .kms
        .create_key()
        .send()
        .await
        .expect("key")
        .key_metadata()
        .expect("metadata")
        .key_id()
        .to_owned();
    f.schedule_deletion(&key).await;
    let response = f
        .ok(&event("cloudtrail-schedule-key-deletion.json", &key))
        .await;
    let r = &response.results[0];
    assert_eq!(r.outcome, Outcome::NotApplicable, "{r:?}");
    assert!(r.detail.contains("not protected"), "{}", r.detail);
    assert_eq!(f.state(&key).await, "PendingDeletion");
    assert_eq!(f.calls.calls(), ["kms:DescribeKey", "kms:ListAliases"]);
    // With nothing protected, a sweep of the guard costs no call at all.
    let none = fixture(&[]).await;
    let sweep = none
        .ok(&events::load("kms-key-rotation/scheduled-sweep.json", &[]))
        .await;
    assert!(guard_records(&sweep).is_empty());
    assert!(!none
        .calls
        .calls()
        .contains(&"kms:CancelKeyDeletion".to_owned()));
}

#[tokio::test]
async fn a_protected_key_disabled_is_enabled_and_a_dry_run_writes_nothing() {
    let f = fixture(&[]).await;
    let key = f.ai_key().await;
    let arn = format!("arn:aws:kms:us-east-1:123456789012:key/{key}");
    let guarded = fixture(&[("PROTECTED_KEYS", &arn)]).await;
    f.kms
        .disable_key()
        .key_id(&key)
        .send()
        .await
        .expect("disable");
    let dry = fixture(&[("PROTECTED_KEYS", &arn), ("DRY_RUN", "true")]).await;
    let response = dry.ok(&event("cloudtrail-disable-key.json", &key)).await;
    assert_eq!(response.results[0].outcome, Outcome::WouldRemediate);
    assert_eq!(f.state(&key).await, "Disabled");
    let response = guarded
        .ok(&event("cloudtrail-disable-key.json", &key))
        .await;
    let r = &response.results[0];
    assert_eq!(
        (r.outcome, r.actions.clone()),
        (Outcome::Remediated, vec!["EnableKey"])
    );
    assert_eq!(f.state(&key).await, "Enabled");
    // Protected by its ARN: its aliases are never read.
    assert!(!guarded
        .calls
        .calls()
        .contains(&"kms:ListAliases".to_owned()));
}

#[tokio::test]
async fn every_trigger_reaches_the_guard() {
    let f = fixture(&[("PROTECTED_KEYS", "alias/ai-*")]).await;
    for (file, trigger) in [
        (
            "config-compliance-change-deletion.json",
            "config-rule:kms-cmk-not-scheduled-for-deletion",
        ),
        ("securityhub-kms-3.json", "security-hub:KMS.3"),
        ("securityhub-v2-kms-3.json", "security-hub:KMS.3"),
        ("direct-deletion-guard.json", "direct:remediate"),
    ] {
        let key = f.ai_key().await;
        f.schedule_deletion(&key).await;
        let response = f.ok(&event(file, &key)).await;
        let r = guard_records(&response);
        assert_eq!(r.len(), 1, "{file}: {response:?}");
        assert_eq!(
            (r[0].outcome, r[0].trigger.as_str()),
            (Outcome::Remediated, trigger),
            "{file}"
        );
        assert_eq!(f.state(&key).await, "Enabled", "{file}");
    }
    // The sweep finds a protected key pending deletion among all keys.
    let key = f.ai_key().await;
    f.schedule_deletion(&key).await;
    let sweep = f
        .ok(&events::load("kms-key-rotation/scheduled-sweep.json", &[]))
        .await;
    let fixed: Vec<_> = guard_records(&sweep)
        .into_iter()
        .filter(|r| r.resource.ends_with(&key))
        .collect();
    assert_eq!(fixed.len(), 1);
    assert_eq!(fixed[0].outcome, Outcome::Remediated);
    assert_eq!(f.state(&key).await, "Enabled");
    // A direct payload naming the key without its control runs both controls of the key (as
    // version 1's `{"resourceId": "<key>"}` did): one record each.
    let key = f.ai_key().await;
    f.schedule_deletion(&key).await;
    let bare = f.ok(&json!({ "resourceId": key })).await;
    let mut controls: Vec<_> = bare.results.iter().map(|r| r.control).collect();
    controls.sort_unstable();
    assert_eq!(controls, [GUARD, "kms-key-rotation"], "{bare:?}");
    assert_eq!(guard_records(&bare)[0].outcome, Outcome::Remediated);
    assert_eq!(f.state(&key).await, "Enabled");
}

#[tokio::test]
async fn a_protected_multi_region_primary_pending_replica_deletion_is_cancelled_and_enabled() {
    // KMS keeps a multi-Region primary key that still has replicas in `PendingReplicaDeletion`
    // (unusable, indefinitely) instead of `PendingDeletion`; CancelKeyDeletion is allowed there.
    let f = fixture(&[("PROTECTED_KEYS", "alias/ai-*")]).await;
    let key = f.ai_key_of(true).await;
    f.kms
        .replicate_key()
        .key_id(&key)
        .replica_region("us-west-2")
        .send()
        .await
        .expect("replica");
    let r = f.deletion_cancelled(&key, "PendingReplicaDeletion").await;
    assert!(r.detail.contains("replica"), "{}", r.detail);
}
