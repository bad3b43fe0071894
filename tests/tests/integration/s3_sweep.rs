//! Sweeps of `s3-public-access-block`: the scheduled sweep and the AWS Config periodic rule over
//! many buckets and the account setting, with bounded concurrency, exemptions, and one resource's
//! failure isolated from the rest. This module has its own emulator: a sweep sees every bucket.

use integration_tests::{emulator, events, settings, unique, Recorder, ACCOUNT};
use remediation::{functions, EngineError, Outcome};
use serde_json::json;

const BUCKETS: usize = 45;

#[tokio::test]
async fn sweeps_fix_every_bucket_and_the_account_and_isolate_failures() {
    let prefix = unique("sweep");
    let exempt = format!("{prefix}-exempt");
    let broken = format!("{prefix}-contested");
    let calls = Recorder::new();
    let s = settings(&[
        ("SWEEP_CONCURRENCY", "4"),
        ("EXEMPT_RESOURCES", &format!("arn:aws:s3:::{exempt}")),
    ]);
    let engine = functions::s3_public_access_block(s.clone(), &emulator!().aws(&s, &calls).await)
        .expect("engine");
    let plain = emulator!().clients(&settings(&[])).await;
    let s3 = plain.s3();

    // Arrange: a third without configuration, a third half-open, a third compliant; an exempt
    // bucket; the account setting deleted.
    let mut names = Vec::new();
    for i in 0..BUCKETS {
        let name = format!("{prefix}-{i:03}");
        s3.create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("create");
        let flags = match i % 3 {
            0 => None,
            1 => Some(false),
            _ => Some(true),
        };
        if let Some(on) = flags {
            s3.put_public_access_block()
                .bucket(&name)
                .public_access_block_configuration(
                    aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                        .block_public_acls(true)
                        .ignore_public_acls(on)
                        .block_public_policy(on)
                        .restrict_public_buckets(true)
                        .build(),
                )
                .send()
                .await
                .expect("put");
        }
        names.push(name);
    }
    s3.create_bucket()
        .bucket(&exempt)
        .send()
        .await
        .expect("create exempt");
    plain
        .s3control()
        .delete_public_access_block()
        .account_id(ACCOUNT)
        .send()
        .await
        .expect("delete account bpa");

    // 1. The scheduled sweep.
    let response = engine
        .handle(
            &events::load("s3-public-access-block/scheduled-sweep.json", &[]),
            ACCOUNT,
        )
        .await
        .expect("sweep");
    assert_eq!(
        response.results.len(),
        BUCKETS + 2,
        "{}",
        response.summary()
    );
    let compliant = BUCKETS / 3;
    assert_eq!(
        response.summary(),
        format!(
            "remediated={}, compliant={compliant}, exempt=1",
            BUCKETS - compliant + 1
        )
    );
    for r in &response.results {
        assert_eq!(r.trigger, "schedule:ai-guard-s3-public-access-block-sweep");
    }
    assert!(
        calls.undeclared(&engine).is_empty(),
        "{:?}",
        calls.undeclared(&engine)
    );
    let account = &response.results[0];
    assert_eq!(
        (account.control, account.outcome),
        ("s3-account-public-access-block", Outcome::Remediated)
    );
    // Cost: one listing, then per resource one read, plus a write and a verify read per fix.
    let sent = calls.calls();
    let count = |op: &str| sent.iter().filter(|c| *c == op).count();
    assert_eq!(count("s3:ListBuckets"), 1);
    assert_eq!(
        count("s3:GetPublicAccessBlock"),
        BUCKETS + (BUCKETS - compliant)
    );
    assert_eq!(count("s3:PutPublicAccessBlock"), BUCKETS - compliant);
    assert_eq!(count("s3control:GetPublicAccessBlock"), 2);
    assert_eq!(count("s3control:PutPublicAccessBlock"), 1);
    for name in &names {
        let c = s3
            .get_public_access_block()
            .bucket(name)
            .send()
            .await
            .expect("get");
        let c = c.public_access_block_configuration().expect("configured");
        assert_eq!(
            [
                c.block_public_acls(),
                c.ignore_public_acls(),
                c.block_public_policy(),
                c.restrict_public_buckets()
            ],
            [Some(true); 4],
            "{name}"
        );
    }
    assert!(
        s3.get_public_access_block()
            .bucket(&exempt)
            .send()
            .await
            .is_err(),
        "the exempt bucket was left alone"
    );

    // 2. The AWS Config periodic rule: everything is compliant now; one evaluation per resource.
    calls.clear();
    let token = unique("periodic");
    let mut periodic = events::load("s3-public-access-block/config-rule-periodic.json", &[]);
    periodic["resultToken"] = json!(token);
    let response = engine.handle(&periodic, ACCOUNT).await.expect("periodic");
    assert_eq!(
        response.summary(),
        format!("compliant={}, exempt=1", BUCKETS + 1)
    );
    assert_eq!(
        calls
            .calls()
            .iter()
            .filter(|c| c.contains("PutPublicAccessBlock"))
            .count(),
        0
    );
    assert_eq!(
        calls.calls().last().map(String::as_str),
        Some("configservice:PutEvaluations")
    );
    assert!(
        calls.undeclared(&engine).is_empty(),
        "{:?}",
        calls.undeclared(&engine)
    );
    let evaluations = emulator!().config_evaluations(&token);
    assert_eq!(evaluations.len(), BUCKETS + 2);
    let of = |id: &str| {
        evaluations
            .iter()
            .find(|e| e["ComplianceResourceId"] == json!(id))
            .cloned()
    };
    assert_eq!(
        of(ACCOUNT).expect("account")["ComplianceResourceType"],
        json!("AWS::::Account")
    );
    assert_eq!(
        of(&names[0]).expect("bucket")["ComplianceType"],
        json!("COMPLIANT")
    );
    assert_eq!(
        of(&exempt).expect("exempt")["ComplianceType"],
        json!("NOT_APPLICABLE")
    );

    // 3. One resource that cannot be fixed does not stop the others, and fails the invocation.
    s3.create_bucket()
        .bucket(&broken)
        .send()
        .await
        .expect("create");
    emulator!().harness_get(&format!(
        "/_harness/s3/discard-public-access-block-writes?bucket={broken}"
    ));
    let fresh = format!("{prefix}-late");
    s3.create_bucket()
        .bucket(&fresh)
        .send()
        .await
        .expect("create");
    let err = engine
        .handle(
            &events::load("s3-public-access-block/scheduled-sweep.json", &[]),
            ACCOUNT,
        )
        .await
        .expect_err("one failure fails the sweep");
    let EngineError::Unresolved { message, response } = err else {
        panic!("expected unresolved")
    };
    assert!(message.starts_with("1 of "), "{message}");
    assert!(message.contains(&broken), "{message}");
    let outcome = |arn: String| {
        response
            .results
            .iter()
            .find(|r| r.resource == arn)
            .map(|r| r.outcome)
    };
    assert_eq!(
        outcome(format!("arn:aws:s3:::{broken}")),
        Some(Outcome::Failed)
    );
    assert_eq!(
        outcome(format!("arn:aws:s3:::{fresh}")),
        Some(Outcome::Remediated)
    );
}
