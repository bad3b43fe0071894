//! `s3-data-protection` against the emulator: TLS-only bucket policies (merged, never rewritten;
//! unparsable and oversized policies left alone) and customer-key default encryption of AI data
//! buckets, through every trigger shape, with dry run, scope settings and deleted buckets.

use integration_tests::{aws, env, events, settings, unique, Recorder, ACCOUNT};
use remediation::clients::AwsClients;
use remediation::{functions, Engine, Outcome, Response};
use serde_json::{json, Value};

const GET_POLICY: &str = "s3:GetBucketPolicy";
const PUT_POLICY: &str = "s3:PutBucketPolicy";
const GET_ENC: &str = "s3:GetBucketEncryption";
const PUT_ENC: &str = "s3:PutBucketEncryption";
const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

struct Fixture {
    engine: Engine,
    calls: Recorder,
    s3: aws_sdk_s3::Client,
}

async fn fixture(common: &[(&str, &str)], own: &[(&str, &str)]) -> Fixture {
    let calls = Recorder::new();
    let s = settings(common);
    let engine =
        functions::s3_data_protection(s.clone(), &env(own), &aws(&s, &calls).await).unwrap();
    Fixture {
        engine,
        calls,
        s3: AwsClients::load(&settings(&[])).await.s3(),
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
    // Statements up to just under the limit: valid as it is, over it with one more statement.
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
    while wrap(&filler).len() + statement(filler.len()).len() < 20 * 1024 - 120 {
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
    let f = fixture(
        &[],
        &[
            ("AI_DATA_BUCKETS", "ai-train-*,tag:data-class=ai"),
            ("AI_DATA_KMS_KEY", KEY),
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
    assert_eq!(f.calls.calls(), vec![GET_ENC, PUT_ENC, GET_ENC]);
    assert_eq!(f.direct(&b, KMS).await.0, Outcome::Compliant);
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
    let f = fixture(
        &[],
        &[("AI_DATA_BUCKETS", "ai-*"), ("AI_DATA_KMS_KEY", KEY)],
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
    // Without a control, a bucket id fits both: the payload must say which.
    let err = integration_tests::handle(&f.engine, &f.calls, &json!({"resourceId": b}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("add `control`"), "{err}");
}
