//! `s3-data-protection` against the emulator: TLS-only bucket policies (merged, never rewritten;
//! unparsable and oversized policies left alone) and customer-key default encryption of AI data
//! buckets, through every trigger shape, with dry run, scope settings and deleted buckets; the
//! configured key is checked before any bucket is set to it (its region, its account, its state
//! and kind), since S3 would accept any key and every later upload would fail.

use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use integration_tests::{emulator, env, events, settings, unique, Recorder, ACCOUNT, REGION};
use remediation::clients::AwsClients;
use remediation::{functions, Engine, Outcome, Response};
use serde_json::{json, Value};

const GET_POLICY: &str = "s3:GetBucketPolicy";
const PUT_POLICY: &str = "s3:PutBucketPolicy";
const GET_ENC: &str = "s3:GetBucketEncryption";
const PUT_ENC: &str = "s3:PutBucketEncryption";
const DESCRIBE_KEY: &str = "kms:DescribeKey";
/// Another account of the emulator (moto's `AssumeRole` acts in the role's account).
const OTHER_ACCOUNT: &str = "210987654321";

/// Clients acting in `account` and `region` as its administrator would.
async fn admin(account: &str, region: &str) -> AwsClients {
    let aws = emulator!().clients(&settings(&[])).await;
    integration_tests::admin(&aws, account, region).await
}

/// A new customer key in `account` and `region` (a symmetric encryption key unless `spec` says
/// otherwise): its ARN.
async fn new_key(account: &str, region: &str, spec: Option<KeySpec>) -> String {
    let kms = admin(account, region).await.kms();
    let mut create = kms.create_key().description("AI training data");
    if let Some(spec) = spec {
        create = create
            .key_spec(spec)
            .key_usage(KeyUsageType::EncryptDecrypt);
    }
    let key = create.send().await.expect("create key");
    key.key_metadata()
        .and_then(|m| m.arn())
        .expect("key ARN")
        .to_owned()
}

/// An alias for `key` in its account and region: the alias ARN.
async fn new_alias(account: &str, region: &str, key: &str) -> String {
    let name = format!("alias/{}", unique("ai-data"));
    admin(account, region)
        .await
        .kms()
        .create_alias()
        .alias_name(&name)
        .target_key_id(key.rsplit('/').next().expect("key id"))
        .send()
        .await
        .expect("create alias");
    format!("arn:aws:kms:{region}:{account}:{name}")
}

struct Fixture {
    engine: Engine,
    calls: Recorder,
    s3: aws_sdk_s3::Client,
}

async fn fixture(common: &[(&str, &str)], own: &[(&str, &str)]) -> Fixture {
    let calls = Recorder::new();
    let s = settings(common);
    let engine =
        functions::s3_data_protection(s.clone(), &env(own), &emulator!().aws(&s, &calls).await)
            .unwrap();
    Fixture {
        engine,
        calls,
        s3: emulator!().clients(&settings(&[])).await.s3(),
    }
}

impl Fixture {
    async fn bucket(&self, prefix: &str) -> String {
        let name = unique(prefix);
        self.s3.create_bucket().bucket(&name).send().await.unwrap();
        name
    }

    async fn policy(&self, bucket: &str) -> Option<String> {
        self.s3
            .get_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .ok()
            .and_then(|o| o.policy().map(str::to_owned))
    }

    async fn set_policy(&self, bucket: &str, policy: &str) {
        self.s3
            .put_bucket_policy()
            .bucket(bucket)
            .policy(policy)
            .send()
            .await
            .unwrap();
    }

    async fn run(&self, event: &Value) -> Response {
        match integration_tests::handle(&self.engine, &self.calls, event).await {
            Ok(r) => r,
            Err(remediation::EngineError::Unresolved { response, .. }) => response,
            Err(e) => panic!("{e}"),
        }
    }

    /// The bucket's default encryption: (algorithm, key).
    async fn encryption(&self, bucket: &str) -> (Option<String>, Option<String>) {
        let out = self
            .s3
            .get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
            .ok();
        let default = out
            .as_ref()
            .and_then(|o| o.server_side_encryption_configuration())
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default());
        (
            default.map(|d| d.sse_algorithm().as_str().to_owned()),
            default
                .and_then(|d| d.kms_master_key_id())
                .map(str::to_owned),
        )
    }

    async fn direct(&self, bucket: &str, control: &str) -> (Outcome, String) {
        let r = self
            .run(&json!({"resourceId": bucket, "control": control}))
            .await;
        assert_eq!(r.results.len(), 1, "{r:?}");
        (r.results[0].outcome, r.results[0].detail.clone())
    }
}

const TLS: &str = "s3-bucket-tls-only";
const KMS: &str = "s3-bucket-kms-encryption";

#[tokio::test]
async fn a_bucket_without_a_policy_gets_just_the_tls_statement() {
    let f = fixture(&[], &[]).await;
    let b = f.bucket("tls-none").await;
    let (outcome, detail) = f.direct(&b, TLS).await;
    assert_eq!(outcome, Outcome::Remediated, "{detail}");
    assert_eq!(f.calls.calls(), vec![GET_POLICY, PUT_POLICY, GET_POLICY]);
    let policy: Value = serde_json::from_str(&f.policy(&b).await.unwrap()).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0]["Sid"], "AiGuardTlsOnly");
    // Idempotent: the next run reads once and finds it compliant.
    assert_eq!(f.direct(&b, TLS).await.0, Outcome::Compliant);
    assert_eq!(f.calls.calls(), vec![GET_POLICY]);
}

#[tokio::test]
async fn the_owners_statements_are_kept_and_an_equivalent_one_counts() {
    let f = fixture(&[], &[]).await;
    let b = f.bucket("tls-owner").await;
    let readers = format!(
        r#"{{"Sid":"Readers","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*"}}"#
    );
    let owner = format!(r#"{{"Version":"2012-10-17","Statement":[{readers}]}}"#);
    f.set_policy(&b, &owner).await;
    let before = f.policy(&b).await.unwrap();
    assert_eq!(f.direct(&b, TLS).await.0, Outcome::Remediated);
    let after = f.policy(&b).await.unwrap();
    let stored_readers = &before[before.find("{\"Sid\"").unwrap()..before.rfind(']').unwrap()];
    assert!(
        after.contains(stored_readers),
        "owner statement kept byte for byte: {after}"
    );
    let doc: Value = serde_json::from_str(&after).unwrap();
    assert_eq!(doc["Statement"].as_array().unwrap().len(), 2);
    // The owner's own equivalent statement is compliant as it is.
    let own = f.bucket("tls-own").await;
    let deny = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"OwnTls","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::{own}","arn:aws:s3:::{own}/*"],"Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}]}}"#
    );
    f.set_policy(&own, &deny).await;
    let (outcome, detail) = f.direct(&own, TLS).await;
    assert_eq!(
        (outcome, detail.as_str()),
        (Outcome::Compliant, "OwnTls denies requests without TLS")
    );
}

#[tokio::test]
async fn oversized_results_deleted_buckets_dry_run_and_scope() {
    let f = fixture(&[], &[("TLS_ONLY_BUCKETS", "tls-*")]).await;
    // A policy the statement would push over S3's 20 KB limit is left alone.
    let big = f.bucket("tls-big").await;
    // Statements up to the limit: valid as it is, over it with one more statement (the TLS
    // statement is longer than any of these, whatever the bucket's name).
    let statement = |i: usize| {
        format!(
            r#"{{"Sid":"S{i:04}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::{big}/prefix-{i:04}/*"}}"#
        )
    };
    let mut filler: Vec<String> = Vec::new();
    let wrap = |f: &[String]| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
            f.join(",")
        )
    };
    while wrap(&filler).len() + 1 + statement(filler.len()).len() <= 20 * 1024 {
        filler.push(statement(filler.len()));
    }
    let policy = wrap(&filler);
    assert!(policy.len() <= 20 * 1024, "{}", policy.len());
    f.set_policy(&big, &policy).await;
    let (outcome, detail) = f.direct(&big, TLS).await;
    assert_eq!(outcome, Outcome::Failed);
    assert!(detail.contains("over S3's 20480-byte limit"), "{detail}");
    assert_eq!(f.calls.calls(), vec![GET_POLICY], "nothing written");
    // A policy that cannot be parsed is left alone too (S3 stores what it was given).
    let broken = f.bucket("tls-broken").await;
    f.set_policy(
        &broken,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",}"#,
    )
    .await;
    let (outcome, detail) = f.direct(&broken, TLS).await;
    assert_eq!(outcome, Outcome::Failed);
    assert!(detail.contains("cannot be parsed"), "{detail}");
    assert_eq!(f.calls.calls(), vec![GET_POLICY], "nothing written");
    // A bucket that no longer exists is gone.
    assert_eq!(f.direct("tls-never-created-0", TLS).await.0, Outcome::Gone);
    // Outside TLS_ONLY_BUCKETS: not applicable, not touched.
    let other = f.bucket("other").await;
    assert_eq!(f.direct(&other, TLS).await.0, Outcome::NotApplicable);
    assert_eq!(f.policy(&other).await, None);
    // Dry run writes nothing.
    let dry = fixture(&[("DRY_RUN", "true")], &[]).await;
    let b = dry.bucket("tls-dry").await;
    assert_eq!(dry.direct(&b, TLS).await.0, Outcome::WouldRemediate);
    assert_eq!(dry.policy(&b).await, None);
}

#[tokio::test]
async fn customer_key_encryption_is_off_until_ai_data_buckets_are_named() {
    let f = fixture(&[], &[]).await;
    let b = f.bucket("ai-off").await;
    let (outcome, detail) = f.direct(&b, KMS).await;
    assert_eq!(outcome, Outcome::NotApplicable);
    assert!(detail.contains("AI_DATA_BUCKETS is empty"), "{detail}");
}

#[tokio::test]
async fn ai_data_buckets_get_the_customer_key_with_bucket_keys() {
    let key = new_key(ACCOUNT, REGION, None).await;
    let f = fixture(
        &[],
        &[
            ("AI_DATA_BUCKETS", "ai-train-*,tag:data-class=ai"),
            ("AI_DATA_KMS_KEY", &key),
        ],
    )
    .await;
    let b = f.bucket("ai-train").await;
    let (outcome, detail) = f.direct(&b, KMS).await;
    assert_eq!(outcome, Outcome::Remediated, "{detail}");
    assert!(
        detail.contains("objects written before keep their old encryption"),
        "{detail}"
    );
    // The key is checked before it is written.
    assert_eq!(
        f.calls.calls(),
        vec![GET_ENC, DESCRIBE_KEY, PUT_ENC, GET_ENC]
    );
    assert_eq!(
        f.encryption(&b).await,
        (Some("aws:kms".to_owned()), Some(key.clone()))
    );
    // Compliant: one read, no key check.
    assert_eq!(f.direct(&b, KMS).await.0, Outcome::Compliant);
    assert_eq!(f.calls.calls(), vec![GET_ENC]);
    // Selected by tag.
    let tagged = f.bucket("tagged").await;
    f.s3.put_bucket_tagging()
        .bucket(&tagged)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("data-class")
                        .value("ai")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(f.direct(&tagged, KMS).await.0, Outcome::Remediated);
    let untagged = f.bucket("plain").await;
    assert_eq!(f.direct(&untagged, KMS).await.0, Outcome::NotApplicable);
    // Without a configured key ai-guard does not choose one.
    let g = fixture(&[], &[("AI_DATA_BUCKETS", "ai-*")]).await;
    let b = g.bucket("ai-nokey").await;
    let (outcome, detail) = g.direct(&b, KMS).await;
    assert_eq!(outcome, Outcome::Failed);
    assert!(detail.contains("set AI_DATA_KMS_KEY"), "{detail}");
}

#[tokio::test]
async fn each_trigger_reaches_the_controls_it_concerns() {
    let key = new_key(ACCOUNT, REGION, None).await;
    let f = fixture(
        &[],
        &[("AI_DATA_BUCKETS", "ai-*"), ("AI_DATA_KMS_KEY", &key)],
    )
    .await;
    let b = f.bucket("ai-events").await;
    let load = |file: &str| {
        events::load(
            &format!("s3-data-protection/{file}"),
            &[("ai-training-data-example", &b)],
        )
    };
    let controls = |r: &Response| r.results.iter().map(|r| r.control).collect::<Vec<_>>();
    // A new bucket concerns both controls.
    let r = f.run(&load("cloudtrail-create-bucket.json")).await;
    assert_eq!(controls(&r), vec![TLS, KMS]);
    assert!(
        r.results.iter().all(|r| r.outcome == Outcome::Remediated),
        "{r:?}"
    );
    for (file, control) in [
        ("cloudtrail-delete-bucket-policy.json", TLS),
        ("cloudtrail-put-bucket-policy.json", TLS),
        ("cloudtrail-delete-bucket-encryption.json", KMS),
        ("cloudtrail-put-bucket-encryption.json", KMS),
        ("config-compliance-change-tls-only.json", TLS),
        ("config-compliance-change-kms-encryption.json", KMS),
        ("securityhub-s3-5.json", TLS),
        ("securityhub-s3-17.json", KMS),
        ("direct-tls-only.json", TLS),
        ("direct-kms-encryption.json", KMS),
        ("ssm-automation-tls-only.json", TLS),
    ] {
        let r = f.run(&load(file)).await;
        assert_eq!(controls(&r), vec![control], "{file}");
        assert_eq!(r.results[0].outcome, Outcome::Compliant, "{file}: {r:?}");
    }
    // Without a control, a bucket id runs both controls, one record each.
    let r = f.run(&json!({"resourceId": b})).await;
    assert_eq!(controls(&r), vec![TLS, KMS]);
    assert!(
        r.results.iter().all(|r| r.outcome == Outcome::Compliant),
        "{r:?}"
    );
}

/// The outcome and detail of the customer-key control on `bucket`, with the calls it made.
async fn kms_run(f: &Fixture, bucket: &str) -> (Outcome, String, Vec<String>) {
    let (outcome, detail) = f.direct(bucket, KMS).await;
    (outcome, detail, f.calls.calls())
}

#[tokio::test]
async fn a_key_of_another_region_is_never_written() {
    // An existing, enabled key of the same account, in eu-west-1: S3 would accept it for a
    // us-east-1 bucket, and every upload would then fail.
    let key = new_key(ACCOUNT, "eu-west-1", None).await;
    let own = [
        ("AI_DATA_BUCKETS", "ai-*"),
        ("AI_DATA_KMS_KEY", key.as_str()),
    ];
    let f = fixture(&[], &own).await;
    let b = f.bucket("ai-region").await;
    let before = f.encryption(&b).await;
    let (outcome, detail, calls) = kms_run(&f, &b).await;
    assert_eq!(outcome, Outcome::Failed, "{detail}");
    assert!(
        detail.contains(&format!(
            "AI_DATA_KMS_KEY {key} is in eu-west-1, the bucket in us-east-1: S3 would accept it and every upload would fail"
        )),
        "{detail}"
    );
    assert!(detail.starts_with("not changed: "), "{detail}");
    // Judged from the ARN: no KMS call, no write.
    assert_eq!(calls, vec![GET_ENC]);
    assert_eq!(f.encryption(&b).await, before);
    // A dry run reports the same (the check runs in a dry run too).
    let dry = fixture(&[("DRY_RUN", "true")], &own).await;
    let (outcome, detail, calls) = kms_run(&dry, &b).await;
    assert_eq!(outcome, Outcome::Failed, "{detail}");
    assert!(detail.contains("is in eu-west-1"), "{detail}");
    assert_eq!(calls, vec![GET_ENC]);
    // A bucket of eu-west-1 named to this us-east-1 function is judged in its own region: a
    // us-east-1 key is refused for it.
    let us_key = new_key(ACCOUNT, REGION, None).await;
    let g = fixture(
        &[],
        &[("AI_DATA_BUCKETS", "ai-*"), ("AI_DATA_KMS_KEY", &us_key)],
    )
    .await;
    let eu_bucket = unique("ai-eu");
    admin(ACCOUNT, "eu-west-1")
        .await
        .s3()
        .create_bucket()
        .bucket(&eu_bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .expect("create in eu-west-1");
    let (outcome, detail, calls) = kms_run(&g, &eu_bucket).await;
    assert_eq!(outcome, Outcome::Failed, "{detail}");
    assert!(
        detail.contains("is in us-east-1, the bucket in eu-west-1"),
        "{detail}"
    );
    // The first read learns the bucket's region from S3's redirect.
    assert_eq!(calls, vec![GET_ENC, GET_ENC]);
}

#[tokio::test]
async fn a_key_of_another_account_must_be_allowed() {
    let key = new_key(OTHER_ACCOUNT, REGION, None).await;
    let alias = new_alias(OTHER_ACCOUNT, REGION, &key).await;
    let f = fixture(
        &[],
        &[("AI_DATA_BUCKETS", "ai-*"), ("AI_DATA_KMS_KEY", &key)],
    )
    .await;
    let b = f.bucket("ai-cross").await;
    let (outcome, detail, calls) = kms_run(&f, &b).await;
    assert_eq!(outcome, Outcome::Failed, "{detail}");
    assert!(
        detail.contains(&format!(
            "AI_DATA_KMS_KEY {key} belongs to account {OTHER_ACCOUNT}, the bucket to {ACCOUNT}"
        )),
        "{detail}"
    );
    assert!(detail.contains("AI_DATA_KMS_KEY_ACCOUNTS"), "{detail}");
    assert_eq!(calls, vec![GET_ENC]);
    // Listed in AI_DATA_KMS_KEY_ACCOUNTS: past the account check, the key itself is checked
    // (by its ARN, as KMS requires for another account's key) and written.
    for wanted in [&key, &alias] {
        let allowed = fixture(
            &[],
            &[
                ("AI_DATA_BUCKETS", "ai-*"),
                ("AI_DATA_KMS_KEY", wanted),
                ("AI_DATA_KMS_KEY_ACCOUNTS", OTHER_ACCOUNT),
            ],
        )
        .await;
        let b = allowed.bucket("ai-allowed").await;
        let (outcome, detail, calls) = kms_run(&allowed, &b).await;
        assert_eq!(outcome, Outcome::Remediated, "{wanted}: {detail}");
        assert_eq!(calls, vec![GET_ENC, DESCRIBE_KEY, PUT_ENC, GET_ENC]);
        assert_eq!(
            allowed.encryption(&b).await,
            (Some("aws:kms".to_owned()), Some(wanted.clone()))
        );
    }
}

#[tokio::test]
async fn a_disabled_missing_or_asymmetric_key_is_never_written() {
    let disabled = new_key(ACCOUNT, REGION, None).await;
    admin(ACCOUNT, REGION)
        .await
        .kms()
        .disable_key()
        .key_id(disabled.rsplit('/').next().expect("key id"))
        .send()
        .await
        .expect("disable key");
    let asymmetric = new_key(ACCOUNT, REGION, Some(KeySpec::Rsa2048)).await;
    let missing =
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000");
    let missing_alias = format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/no-such-alias");
    for (key, why) in [
        (&disabled, "is Disabled, not Enabled"),
        (
            &asymmetric,
            "is a RSA_2048 key for ENCRYPT_DECRYPT: S3 default encryption needs a symmetric encryption key",
        ),
        (&missing, "does not exist"),
        (&missing_alias, "does not exist"),
    ] {
        let f = fixture(
            &[],
            &[("AI_DATA_BUCKETS", "ai-*"), ("AI_DATA_KMS_KEY", key)],
        )
        .await;
        let b = f.bucket("ai-unusable").await;
        let before = f.encryption(&b).await;
        let (outcome, detail, calls) = kms_run(&f, &b).await;
        // Failed, not `gone`: the bucket exists, the key does not.
        assert_eq!(outcome, Outcome::Failed, "{key}: {detail}");
        assert!(
            detail.contains(&format!("AI_DATA_KMS_KEY {key}")) && detail.contains(why),
            "{key}: {detail}"
        );
        assert_eq!(calls, vec![GET_ENC, DESCRIBE_KEY], "{key}: nothing written");
        assert_eq!(f.encryption(&b).await, before);
        // The verdict is reused for the next bucket: no second DescribeKey.
        let next = f.bucket("ai-unusable").await;
        let (outcome, _, calls) = kms_run(&f, &next).await;
        assert_eq!(outcome, Outcome::Failed);
        assert_eq!(calls, vec![GET_ENC]);
    }
}

#[tokio::test]
async fn the_own_enabled_key_is_written_verified_and_checked_once() {
    let key = new_key(ACCOUNT, REGION, None).await;
    // Named by an alias ARN, as a hub's per-account setting would name it
    // (`arn:aws:kms:{region}:{account}:alias/ai-data`).
    let alias = new_alias(ACCOUNT, REGION, &key).await;
    let f = fixture(
        &[],
        &[("AI_DATA_BUCKETS", "ai-*"), ("AI_DATA_KMS_KEY", &alias)],
    )
    .await;
    let b = f.bucket("ai-own").await;
    let (outcome, detail, calls) = kms_run(&f, &b).await;
    assert_eq!(outcome, Outcome::Remediated, "{detail}");
    assert_eq!(calls, vec![GET_ENC, DESCRIBE_KEY, PUT_ENC, GET_ENC]);
    assert_eq!(
        f.encryption(&b).await,
        (Some("aws:kms".to_owned()), Some(alias.clone()))
    );
    // A compliant bucket costs one read and no DescribeKey.
    let (outcome, _, calls) = kms_run(&f, &b).await;
    assert_eq!(outcome, Outcome::Compliant);
    assert_eq!(calls, vec![GET_ENC]);
    // Another bucket to fix reuses the verdict: read, write, verify.
    let other = f.bucket("ai-own").await;
    let (outcome, _, calls) = kms_run(&f, &other).await;
    assert_eq!(outcome, Outcome::Remediated);
    assert_eq!(calls, vec![GET_ENC, PUT_ENC, GET_ENC]);
    // A dry run checks the key too, and writes nothing.
    let dry = fixture(
        &[("DRY_RUN", "true")],
        &[("AI_DATA_BUCKETS", "ai-*"), ("AI_DATA_KMS_KEY", &alias)],
    )
    .await;
    let b = dry.bucket("ai-own-dry").await;
    let (outcome, detail, calls) = kms_run(&dry, &b).await;
    assert_eq!(outcome, Outcome::WouldRemediate, "{detail}");
    assert_eq!(calls, vec![GET_ENC, DESCRIBE_KEY]);
    assert_ne!(dry.encryption(&b).await.0.as_deref(), Some("aws:kms"));
}

#[tokio::test]
async fn a_sweep_checks_the_key_once() {
    let key = new_key(ACCOUNT, REGION, None).await;
    let prefix = unique("ai-sweep");
    let f = fixture(
        &[("SWEEP_CONCURRENCY", "8")],
        &[
            // The TLS control of the same sweep left out: no bucket of the other tests is touched.
            ("TLS_ONLY_BUCKETS", "none-*"),
            ("AI_DATA_BUCKETS", &format!("{prefix}-*")),
            ("AI_DATA_KMS_KEY", &key),
        ],
    )
    .await;
    for i in 0..6 {
        f.s3.create_bucket()
            .bucket(format!("{prefix}-{i}"))
            .send()
            .await
            .unwrap();
    }
    let r = f
        .run(&events::load(
            "s3-data-protection/scheduled-sweep.json",
            &[],
        ))
        .await;
    let kms: Vec<_> = r.results.iter().filter(|r| r.control == KMS).collect();
    assert_eq!(kms.len(), 6, "{r:?}");
    assert!(
        kms.iter().all(|r| r.outcome == Outcome::Remediated),
        "{r:?}"
    );
    let describes = f
        .calls
        .calls()
        .iter()
        .filter(|c| *c == DESCRIBE_KEY)
        .count();
    assert_eq!(
        describes, 1,
        "buckets checked at once share one DescribeKey"
    );
}

/// Sets a bucket's default encryption as its owner would.
async fn set_encryption(f: &Fixture, bucket: &str, algorithm: &str, key: &str, bucket_key: bool) {
    use aws_sdk_s3::types::{
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule,
    };
    f.s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::from(algorithm))
                                .kms_master_key_id(key)
                                .build()
                                .unwrap(),
                        )
                        .bucket_key_enabled(bucket_key)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// Whether S3 Bucket Keys are on for the bucket's default encryption.
async fn bucket_key(f: &Fixture, bucket: &str) -> Option<bool> {
    f.s3.get_bucket_encryption()
        .bucket(bucket)
        .send()
        .await
        .ok()?
        .server_side_encryption_configuration()?
        .rules()
        .first()?
        .bucket_key_enabled()
}

#[tokio::test]
async fn dual_layer_dsse_kms_is_kept_never_downgraded() {
    // DSSE-KMS is dual-layer encryption with a KMS key: S3 Bucket Keys do not apply to it
    // (S3 API reference, PutBucketEncryption: "If you specify default encryption by using SSE-KMS,
    // you can also configure Amazon S3 Bucket Keys"; SSM runbook reference, AWS-EnableS3BucketKeys:
    // "Amazon S3 Bucket Keys aren't supported for dual-layer server-side encryption with AWS KMS
    // keys (DSSE-KMS)"). The emulator refuses a DSSE-KMS configuration with Bucket Keys.
    let key = new_key(ACCOUNT, REGION, None).await;
    let other = new_key(ACCOUNT, REGION, None).await;
    let f = fixture(
        &[],
        &[("AI_DATA_BUCKETS", "ai-*"), ("AI_DATA_KMS_KEY", &key)],
    )
    .await;
    let refused = f.bucket("ai-dsse-refused").await;
    let refusal = f
        .s3
        .put_bucket_encryption()
        .bucket(&refused)
        .server_side_encryption_configuration(
            aws_sdk_s3::types::ServerSideEncryptionConfiguration::builder()
                .rules(
                    aws_sdk_s3::types::ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            aws_sdk_s3::types::ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(aws_sdk_s3::types::ServerSideEncryption::AwsKmsDsse)
                                .kms_master_key_id(&key)
                                .build()
                                .unwrap(),
                        )
                        .bucket_key_enabled(true)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await;
    assert!(refusal.is_err(), "DSSE-KMS with S3 Bucket Keys is refused");

    // With the wanted key: compliant as it is, one read.
    let dsse = f.bucket("ai-dsse").await;
    set_encryption(&f, &dsse, "aws:kms:dsse", &key, false).await;
    let (outcome, detail, calls) = kms_run(&f, &dsse).await;
    assert_eq!(outcome, Outcome::Compliant, "{detail}");
    assert!(detail.contains("aws:kms:dsse"), "{detail}");
    assert_eq!(calls, vec![GET_ENC]);
    assert_eq!(
        f.encryption(&dsse).await,
        (Some("aws:kms:dsse".to_owned()), Some(key.clone()))
    );

    // With another key: the key is fixed, the second layer kept, no Bucket Keys asked for.
    let wrong = f.bucket("ai-dsse-other").await;
    set_encryption(&f, &wrong, "aws:kms:dsse", &other, false).await;
    let (outcome, detail, calls) = kms_run(&f, &wrong).await;
    assert_eq!(outcome, Outcome::Remediated, "{detail}");
    assert!(detail.contains("aws:kms:dsse"), "{detail}");
    assert_eq!(calls, vec![GET_ENC, DESCRIBE_KEY, PUT_ENC, GET_ENC]);
    assert_eq!(
        f.encryption(&wrong).await,
        (Some("aws:kms:dsse".to_owned()), Some(key.clone()))
    );
    assert_eq!(bucket_key(&f, &wrong).await, Some(false));
    // And it stays compliant.
    assert_eq!(kms_run(&f, &wrong).await.0, Outcome::Compliant);
}

/// A policy statement granting `s3:GetObject` on `bucket`'s objects to everyone.
fn public_read(bucket: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
    )
}

/// Turns `BlockPublicPolicy` (and the other three flags) on for a bucket.
async fn block_public_access(f: &Fixture, bucket: &str) {
    f.s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_public_policy_under_block_public_policy_is_failed_with_the_reason() {
    // With Block Public Access's BlockPublicPolicy on, S3 refuses (403 AccessDenied) any
    // PutBucketPolicy whose policy grants public access (S3 API reference,
    // PublicAccessBlockConfiguration: "Setting this element to TRUE causes Amazon S3 to reject
    // calls to PUT Bucket policy if the specified bucket policy allows public access"; "public" as
    // the S3 user guide defines it, "The meaning of 'public'"). The policy already in place stays
    // ("Enabling this setting doesn't affect existing bucket policies"), so the owner's public
    // grant plus the TLS-only statement is such a write. The emulator enforces it.
    let f = fixture(&[], &[]).await;
    let b = f.bucket("tls-public").await;
    f.set_policy(&b, &public_read(&b)).await;
    block_public_access(&f, &b).await;
    let public = f.policy(&b).await.unwrap();
    let refused =
        f.s3.put_bucket_policy()
            .bucket(&b)
            .policy(&public)
            .send()
            .await;
    assert!(
        refused.is_err(),
        "S3 refuses to write a public policy again"
    );

    let (outcome, detail) = f.direct(&b, TLS).await;
    assert_eq!(outcome, Outcome::Failed, "{detail}");
    assert!(
        detail.contains("grants public access")
            && detail.contains("PublicRead")
            && detail.contains("BlockPublicPolicy"),
        "{detail}"
    );
    assert!(!detail.contains("missing permission"), "{detail}");
    assert_eq!(
        f.policy(&b).await,
        Some(public),
        "the owner's grant is kept"
    );

    // Without BlockPublicPolicy, S3 takes the same write: the public bucket becomes TLS-only and
    // the owner's grant stays (this function does not read Block Public Access: it tries).
    let open = f.bucket("tls-public-open").await;
    f.set_policy(&open, &public_read(&open)).await;
    let (outcome, detail) = f.direct(&open, TLS).await;
    assert_eq!(outcome, Outcome::Remediated, "{detail}");
    let written = f.policy(&open).await.unwrap();
    assert!(
        written.contains("PublicRead") && written.contains("aws:SecureTransport"),
        "{written}"
    );

    // A grant to everyone fixed by a condition (here: one source account) is not public.
    let fixed = f.bucket("tls-fixed").await;
    f.set_policy(
        &fixed,
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Logs","Effect":"Allow","Principal":{{"Service":"logging.s3.amazonaws.com"}},"Action":"s3:PutObject","Resource":"arn:aws:s3:::{fixed}/*"}},{{"Sid":"Partner","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{fixed}/*","Condition":{{"StringEquals":{{"aws:SourceAccount":"{OTHER_ACCOUNT}"}}}}}}]}}"#
        ),
    )
    .await;
    block_public_access(&f, &fixed).await;
    let (outcome, detail) = f.direct(&fixed, TLS).await;
    assert_eq!(outcome, Outcome::Remediated, "{detail}");
}

#[tokio::test]
async fn a_policy_naming_a_deleted_principal_is_reported_not_resent() {
    // S3 shows a deleted IAM role or user as its unique id (AROA…, AIDA…) and refuses any policy
    // naming it: "MalformedPolicy: Invalid principal in policy" (AWS re:Post knowledge center,
    // "Why is there an unknown principal format in my IAM resource-based policy?" and "How do I
    // troubleshoot the error 'Invalid principal in policy' in my S3 bucket policy?"). The emulator
    // shows a deleted principal so and refuses such a policy.
    let f = fixture(&[], &[]).await;
    let b = f.bucket("tls-deleted").await;
    let role = format!("arn:aws:iam::{ACCOUNT}:role/{}", unique("gone"));
    f.set_policy(
        &b,
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Readers","Effect":"Allow","Principal":{{"AWS":"{role}"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*"}}]}}"#
        ),
    )
    .await;
    let id = "AROAKSCDLFT9R5DQP782U";
    emulator!().harness_get(&format!(
        "/_harness/s3/deleted-principal?arn={role}&id={id}"
    ));
    let shown = f.policy(&b).await.unwrap();
    assert!(shown.contains(id), "{shown}");
    let refused =
        f.s3.put_bucket_policy()
            .bucket(&b)
            .policy(&shown)
            .send()
            .await;
    assert!(refused.is_err(), "S3 refuses a policy naming a unique id");

    let (outcome, detail) = f.direct(&b, TLS).await;
    assert_eq!(outcome, Outcome::Failed, "{detail}");
    assert!(
        detail.contains(&format!("names a deleted IAM principal {id}"))
            && detail.contains("remove it"),
        "{detail}"
    );
    assert!(!detail.contains("missing permission"), "{detail}");
    assert_eq!(f.calls.calls(), vec![GET_POLICY], "no doomed write");
    assert_eq!(f.policy(&b).await, Some(shown));
}

#[tokio::test]
async fn a_policy_s3_rewrites_on_write_is_verified_by_meaning() {
    // S3 stores a policy in its own form: an account id principal as the account's root ARN
    // (IAM user guide, "AWS JSON policy elements: Principal", AWS account principals: the
    // service may convert the 12-digit id to the root ARN), single-item lists as their item, no
    // whitespace. The emulator normalises so; `raw-policy` stores a policy not in that form (as
    // a client wrote it), so the control's write is the one S3 rewrites.
    let f = fixture(&[], &[]).await;
    let b = f.bucket("tls-rewritten").await;
    let written = format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{"Sid": "Partner", "Effect": "Allow", "Principal": {{"AWS": ["{OTHER_ACCOUNT}"]}}, "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::{b}/*"}}]}}"#
    );
    let encoded: String = written
        .bytes()
        .map(|c| match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (c as char).to_string(),
            _ => format!("%{c:02X}"),
        })
        .collect();
    emulator!().harness_get(&format!(
        "/_harness/s3/raw-policy?bucket={b}&policy={encoded}"
    ));
    assert_eq!(f.policy(&b).await.as_deref(), Some(written.as_str()));

    let (outcome, detail) = f.direct(&b, TLS).await;
    assert_eq!(outcome, Outcome::Remediated, "{detail}");
    assert_eq!(f.calls.calls(), vec![GET_POLICY, PUT_POLICY, GET_POLICY]);
    let stored = f.policy(&b).await.unwrap();
    assert!(
        stored.contains(&format!(r#""AWS":"arn:aws:iam::{OTHER_ACCOUNT}:root""#)),
        "S3 rewrote the principal: {stored}"
    );
    assert_eq!(f.direct(&b, TLS).await.0, Outcome::Compliant);
}
