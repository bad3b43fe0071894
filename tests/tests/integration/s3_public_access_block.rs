//! `s3-public-access-block` against the emulator: every trigger shape, every outcome this function
//! can produce, dry run, exemption, foreign account, malformed events, the replay (loop) case, and
//! the exact AWS calls each path costs.

use aws_sdk_s3::types::PublicAccessBlockConfiguration;
use integration_tests::{emulator, events, settings, unique, Recorder, ACCOUNT};
use remediation::{functions, Engine, EngineError, Outcome, Response};
use serde_json::{json, Value};

const SAMPLE_BUCKET: &str = "ai-training-data-example";
const GET: &str = "s3:GetPublicAccessBlock";
const PUT: &str = "s3:PutPublicAccessBlock";
const ACCOUNT_GET: &str = "s3control:GetPublicAccessBlock";
const ACCOUNT_PUT: &str = "s3control:PutPublicAccessBlock";

/// Account-level Block Public Access is one setting per emulator: tests of it take turns.
static ACCOUNT_SETTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Fixture {
    engine: Engine,
    calls: Recorder,
    /// Unrecorded clients for arranging and checking state.
    s3: aws_sdk_s3::Client,
    s3control: aws_sdk_s3control::Client,
}

async fn fixture(pairs: &[(&str, &str)]) -> Fixture {
    let calls = Recorder::new();
    let s = settings(pairs);
    let engine = functions::s3_public_access_block(s.clone(), &emulator!().aws(&s, &calls).await)
        .expect("engine");
    let plain = emulator!().clients(&settings(&[])).await;
    Fixture {
        engine,
        calls,
        s3: plain.s3(),
        s3control: plain.s3control(),
    }
}

fn flags(on: [bool; 4]) -> PublicAccessBlockConfiguration {
    PublicAccessBlockConfiguration::builder()
        .block_public_acls(on[0])
        .ignore_public_acls(on[1])
        .block_public_policy(on[2])
        .restrict_public_buckets(on[3])
        .build()
}

impl Fixture {
    /// A new bucket with the given flags (`None`: no configuration at all).
    async fn bucket(&self, with: Option<[bool; 4]>) -> String {
        let name = unique("train");
        self.s3
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("create bucket");
        if let Some(on) = with {
            self.s3
                .put_public_access_block()
                .bucket(&name)
                .public_access_block_configuration(flags(on))
                .send()
                .await
                .expect("put bpa");
        }
        name
    }

    /// The bucket's four flags as S3 reports them (`None`: no configuration).
    async fn bucket_flags(&self, name: &str) -> Option<[bool; 4]> {
        let out = self
            .s3
            .get_public_access_block()
            .bucket(name)
            .send()
            .await
            .ok()?;
        let c = out.public_access_block_configuration()?;
        Some([
            c.block_public_acls() == Some(true),
            c.ignore_public_acls() == Some(true),
            c.block_public_policy() == Some(true),
            c.restrict_public_buckets() == Some(true),
        ])
    }

    async fn set_account_flags(&self, on: Option<[bool; 4]>) {
        match on {
            Some(on) => {
                self.s3control
                    .put_public_access_block()
                    .account_id(ACCOUNT)
                    .public_access_block_configuration(
                        aws_sdk_s3control::types::PublicAccessBlockConfiguration::builder()
                            .block_public_acls(on[0])
                            .ignore_public_acls(on[1])
                            .block_public_policy(on[2])
                            .restrict_public_buckets(on[3])
                            .build(),
                    )
                    .send()
                    .await
                    .expect("put account bpa");
            }
            None => {
                self.s3control
                    .delete_public_access_block()
                    .account_id(ACCOUNT)
                    .send()
                    .await
                    .expect("delete account bpa");
            }
        }
    }

    async fn account_flags(&self) -> Option<[bool; 4]> {
        let out = self
            .s3control
            .get_public_access_block()
            .account_id(ACCOUNT)
            .send()
            .await
            .ok()?;
        let c = out.public_access_block_configuration()?;
        Some([
            c.block_public_acls() == Some(true),
            c.ignore_public_acls() == Some(true),
            c.block_public_policy() == Some(true),
            c.restrict_public_buckets() == Some(true),
        ])
    }

    async fn handle(&self, event: &Value) -> Result<Response, EngineError> {
        integration_tests::handle(&self.engine, &self.calls, event).await
    }

    async fn ok(&self, event: &Value) -> Response {
        integration_tests::handled(&self.engine, &self.calls, event).await
    }
}

fn bucket_event(file: &str, bucket: &str) -> Value {
    events::load(
        &format!("s3-public-access-block/{file}"),
        &[(SAMPLE_BUCKET, bucket)],
    )
}

fn only(response: &Response) -> &remediation::OutcomeRecord {
    assert_eq!(response.results.len(), 1, "{response:?}");
    &response.results[0]
}

const ALL_ON: [bool; 4] = [true; 4];

#[tokio::test]
async fn cloudtrail_bucket_events_remediate_with_read_write_verify() {
    let f = fixture(&[]).await;
    for (file, event_name, start) in [
        (
            "cloudtrail-delete-bucket-public-access-block.json",
            "DeleteBucketPublicAccessBlock",
            None,
        ),
        (
            "cloudtrail-put-bucket-public-access-block.json",
            "PutBucketPublicAccessBlock",
            Some([true, false, false, false]),
        ),
        ("cloudtrail-create-bucket.json", "CreateBucket", None),
        (
            "cloudtrail-put-bucket-policy.json",
            "PutBucketPolicy",
            Some([true, true, false, false]),
        ),
        (
            "cloudtrail-put-bucket-acl.json",
            "PutBucketAcl",
            Some([false, false, true, true]),
        ),
    ] {
        let bucket = f.bucket(start).await;
        let response = f.ok(&bucket_event(file, &bucket)).await;
        let r = only(&response);
        assert_eq!(r.outcome, Outcome::Remediated, "{file}: {r:?}");
        assert_eq!(r.control, "s3-bucket-public-access-block");
        assert_eq!(r.resource, format!("arn:aws:s3:::{bucket}"));
        assert_eq!(r.actions, vec!["PutPublicAccessBlock"]);
        assert_eq!(r.trigger, format!("cloudtrail:{event_name}"));
        assert!(!r.dry_run);
        assert_eq!(f.calls.calls(), vec![GET, PUT, GET], "{file}");
        assert_eq!(f.bucket_flags(&bucket).await, Some(ALL_ON), "{file}");
        let before = r.before.as_ref().expect("before recorded");
        assert_eq!(before["Configured"], json!(start.is_some()), "{file}");
        assert_eq!(
            r.after.as_ref().expect("after recorded")["RestrictPublicBuckets"],
            json!(true)
        );
    }
}

#[tokio::test]
async fn own_fix_coming_back_is_compliant_after_one_read_and_no_write() {
    let f = fixture(&[]).await;
    let bucket = f.bucket(None).await;
    let first = f
        .ok(&bucket_event(
            "cloudtrail-delete-bucket-public-access-block.json",
            &bucket,
        ))
        .await;
    assert_eq!(only(&first).outcome, Outcome::Remediated);
    // The function's own PutBucketPublicAccessBlock is recorded by CloudTrail and comes back.
    let replay = f
        .ok(&bucket_event(
            "cloudtrail-own-put-bucket-public-access-block.json",
            &bucket,
        ))
        .await;
    let r = only(&replay);
    assert_eq!(r.outcome, Outcome::Compliant, "{r:?}");
    assert!(r.actions.is_empty());
    assert_eq!(f.calls.calls(), vec![GET]);
    // And again: idempotent.
    let again = f
        .ok(&bucket_event(
            "cloudtrail-own-put-bucket-public-access-block.json",
            &bucket,
        ))
        .await;
    assert_eq!(only(&again).outcome, Outcome::Compliant);
    assert_eq!(f.calls.calls(), vec![GET]);
}

#[tokio::test]
async fn events_about_something_else_do_nothing_and_call_nothing() {
    let f = fixture(&[]).await;
    let bucket = f.bucket(None).await;
    let mut compliant_change = bucket_event("config-compliance-change-bucket.json", &bucket);
    compliant_change["detail"]["newEvaluationResult"]["complianceType"] = json!("COMPLIANT");
    let mut other_rule = bucket_event("config-compliance-change-bucket.json", &bucket);
    other_rule["detail"]["configRuleName"] = json!("s3-bucket-versioning-enabled");
    let mut suppressed = bucket_event("securityhub-s3-8-failed.json", &bucket);
    suppressed["detail"]["findings"][0]["Workflow"]["Status"] = json!("SUPPRESSED");
    let mut archived = bucket_event("securityhub-s3-8-failed.json", &bucket);
    archived["detail"]["findings"][0]["RecordState"] = json!("ARCHIVED");
    let mut other_control = bucket_event("securityhub-s3-8-failed.json", &bucket);
    other_control["detail"]["findings"][0]["Compliance"]["SecurityControlId"] = json!("S3.5");
    for (name, event) in [
        (
            "failed call",
            bucket_event("cloudtrail-failed-call.json", &bucket),
        ),
        (
            "other event",
            bucket_event("cloudtrail-other-event.json", &bucket),
        ),
        (
            "passed finding",
            bucket_event("securityhub-s3-8-passed.json", &bucket),
        ),
        ("compliant change", compliant_change),
        ("other rule", other_rule),
        ("suppressed finding", suppressed),
        ("archived finding", archived),
        ("other control", other_control),
    ] {
        let response = f.ok(&event).await;
        assert!(response.results.is_empty(), "{name}: {response:?}");
        assert!(f.calls.calls().is_empty(), "{name}: {:?}", f.calls.calls());
    }
    assert_eq!(f.bucket_flags(&bucket).await, None, "nothing was written");
}

#[tokio::test]
async fn dry_run_setting_reports_and_writes_nothing() {
    let f = fixture(&[("DRY_RUN", "true")]).await;
    let bucket = f.bucket(Some([true, false, true, false])).await;
    // A payload cannot turn a dry-run deployment into a live one.
    let event = json!({"resourceId": bucket, "dryRun": false});
    let r = f.ok(&event).await.results.remove(0);
    assert_eq!(r.outcome, Outcome::WouldRemediate, "{r:?}");
    assert!(r.dry_run);
    assert_eq!(r.actions, vec!["PutPublicAccessBlock"]);
    assert!(
        r.detail.contains("IgnorePublicAcls, RestrictPublicBuckets"),
        "{}",
        r.detail
    );
    assert_eq!(f.calls.calls(), vec![GET]);
    assert_eq!(
        f.bucket_flags(&bucket).await,
        Some([true, false, true, false])
    );
}

#[tokio::test]
async fn dry_run_payload_reports_and_writes_nothing() {
    let f = fixture(&[]).await;
    let bucket = f.bucket(None).await;
    let response = f
        .ok(&bucket_event("direct-bucket-dry-run.json", &bucket))
        .await;
    let r = only(&response);
    assert_eq!(r.outcome, Outcome::WouldRemediate);
    assert!(r.dry_run);
    assert_eq!(f.calls.calls(), vec![GET]);
    assert_eq!(f.bucket_flags(&bucket).await, None);
}

#[tokio::test]
async fn exempt_bucket_is_never_read_or_written() {
    let prefix = unique("keep");
    let f = fixture(&[(
        "EXEMPT_RESOURCES",
        &format!("arn:aws:s3:::other, arn:aws:s3:::{prefix}*"),
    )])
    .await;
    let bucket = format!("{prefix}-public-dataset");
    f.s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create");
    let response = f
        .ok(&bucket_event(
            "cloudtrail-delete-bucket-public-access-block.json",
            &bucket,
        ))
        .await;
    let r = only(&response);
    assert_eq!(r.outcome, Outcome::Exempt);
    assert!(
        r.detail.contains(&format!("arn:aws:s3:::{prefix}*")),
        "{}",
        r.detail
    );
    assert!(f.calls.calls().is_empty());
    assert_eq!(f.bucket_flags(&bucket).await, None);
}

#[tokio::test]
async fn deleted_bucket_is_gone_without_error() {
    let f = fixture(&[]).await;
    let bucket = unique("deleted");
    let response = f.ok(&bucket_event("direct-bucket.json", &bucket)).await;
    let r = only(&response);
    assert_eq!(r.outcome, Outcome::Gone, "{r:?}");
    assert_eq!(f.calls.calls(), vec![GET]);
}

#[tokio::test]
async fn a_write_that_does_not_stick_fails_the_invocation() {
    let f = fixture(&[]).await;
    let bucket = f.bucket(None).await;
    emulator!().harness_get(&format!(
        "/_harness/s3/discard-public-access-block-writes?bucket={bucket}"
    ));
    let err = f
        .handle(&bucket_event("direct-bucket.json", &bucket))
        .await
        .expect_err("verification must fail");
    let message = err.to_string();
    assert!(
        message.contains("1 of 1 resources unresolved (failed=1)"),
        "{message}"
    );
    assert!(
        message.contains("verification failed after PutPublicAccessBlock (4 reads"),
        "{message}"
    );
    // Read back again (bounded) before calling it failed: eventual consistency is not a failure.
    assert_eq!(f.calls.calls(), vec![GET, PUT, GET, GET, GET, GET]);
}

#[tokio::test]
async fn other_accounts_are_never_touched_relayed_events_ignored_direct_refused() {
    let f = fixture(&[]).await;
    let bucket = f.bucket(None).await;
    let mut event = bucket_event("cloudtrail-delete-bucket-public-access-block.json", &bucket);
    event["account"] = json!("999999999999");
    event["detail"]["recipientAccountId"] = json!("999999999999");
    let ignored = f.handle(&event).await.expect("relayed: ignored");
    assert!(ignored.results.is_empty());
    let direct = json!({"resourceId": "999999999999", "resourceType": "AWS::::Account"});
    let err = f.handle(&direct).await.expect_err("refused");
    assert!(err.to_string().contains("999999999999"), "{err}");
    let mut finding = bucket_event("securityhub-s3-8-failed.json", &bucket);
    finding["account"] = json!(null);
    finding["detail"]["findings"][0]["AwsAccountId"] = json!("999999999999");
    let ignored = f.handle(&finding).await.expect("member finding: ignored");
    assert!(ignored.results.is_empty());
    assert!(f.calls.calls().is_empty());
    assert_eq!(f.bucket_flags(&bucket).await, None);
}

#[tokio::test]
async fn malformed_events_are_named_errors_and_the_next_event_still_works() {
    let f = fixture(&[]).await;
    let ct = bucket_event(
        "cloudtrail-delete-bucket-public-access-block.json",
        "x-bucket",
    );
    let mut no_bucket = ct.clone();
    no_bucket["detail"]["requestParameters"] = json!({"publicAccessBlock": ""});
    let mut bucket_number = ct.clone();
    bucket_number["detail"]["requestParameters"]["bucketName"] = json!(42);
    let mut no_detail = ct.clone();
    no_detail.as_object_mut().map(|o| o.remove("detail"));
    let mut bad_invoking = bucket_event("config-rule-change-notification.json", "x-bucket");
    bad_invoking["invokingEvent"] = json!("{not json");
    let mut no_token = bucket_event("config-rule-change-notification.json", "x-bucket");
    no_token.as_object_mut().map(|o| o.remove("resultToken"));
    no_token["invokingEvent"] =
        bucket_event("config-rule-change-notification.json", "x-bucket")["invokingEvent"].clone();
    let mut detail_type = ct.clone();
    detail_type["detail-type"] = json!("EC2 Instance State-change Notification");
    let cases: Vec<(Value, &str)> = vec![
        (json!([]), "expected a JSON object, got an array"),
        (json!("s3"), "expected a JSON object, got a string"),
        (json!(null), "expected a JSON object, got null"),
        (json!({}), "unrecognised event"),
        (json!({"hello": "world"}), "unrecognised event"),
        (
            no_bucket,
            "missing field `detail.requestParameters.bucketName`",
        ),
        (
            bucket_number,
            "`detail.requestParameters.bucketName` is not a string",
        ),
        (no_detail, "missing field `detail`"),
        (bad_invoking, "`invokingEvent` is not a JSON document"),
        (no_token, "missing field `resultToken`"),
        (
            detail_type,
            "unsupported EventBridge detail-type `EC2 Instance State-change Notification`",
        ),
        (json!({"resourceId": 7}), "direct payload at `resourceId`"),
        (json!({"resourceId": "a/b"}), "invalid resource id `a/b`"),
        (
            json!({"resourceId": "arn:aws:s3:::bucket/key.txt"}),
            "object ARN",
        ),
        (
            json!({"resourceId": "b1", "dryrun": true}),
            "unknown field `dryrun`",
        ),
        (
            json!({"resourceId": "my-bucket", "resourceType": "AWS::EC2::Instance"}),
            "unsupported resource type `AWS::EC2::Instance`",
        ),
        (
            json!({"resourceId": "my-bucket", "action": "delete"}),
            "unknown action `delete`",
        ),
        (
            json!({"resourceId": "my-bucket", "dryRun": "yes"}),
            "at `dryRun`",
        ),
    ];
    for (event, expected) in cases {
        match f.handle(&event).await {
            Err(EngineError::Intake(e)) => assert!(
                e.to_string().contains(expected),
                "{event}: `{e}` lacks `{expected}`"
            ),
            other => panic!("{event}: expected an intake error, got {other:?}"),
        }
        assert!(f.calls.calls().is_empty(), "{event}");
    }
    let bucket = f.bucket(None).await;
    let response = f.ok(&bucket_event("direct-bucket.json", &bucket)).await;
    assert_eq!(only(&response).outcome, Outcome::Remediated);
}

#[tokio::test]
async fn config_compliance_change_and_security_hub_and_direct_payloads_remediate_buckets() {
    let f = fixture(&[]).await;
    for (file, trigger) in [
        (
            "config-compliance-change-bucket.json",
            "config-rule:s3-bucket-level-public-access-prohibited",
        ),
        ("securityhub-s3-8-failed.json", "security-hub:S3.8"),
        ("direct-bucket.json", "direct:remediate"),
        ("ssm-automation-bucket.json", "direct:remediate"),
    ] {
        let bucket = f.bucket(Some([false, true, true, true])).await;
        let response = f.ok(&bucket_event(file, &bucket)).await;
        let r = only(&response);
        assert_eq!(
            (r.outcome, r.trigger.as_str()),
            (Outcome::Remediated, trigger),
            "{file}: {r:?}"
        );
        assert_eq!(
            f.calls.calls(),
            with_finding(file, &[GET, PUT, GET]),
            "{file}"
        );
        assert_eq!(f.bucket_flags(&bucket).await, Some(ALL_ON), "{file}");
    }
}

#[tokio::test]
async fn config_custom_rule_invocations_remediate_and_report_evaluations() {
    let f = fixture(&[]).await;
    for file in [
        "config-rule-change-notification.json",
        "config-rule-oversized-notification.json",
    ] {
        let bucket = f.bucket(None).await;
        let token = unique("token");
        let mut event = bucket_event(file, &bucket);
        event["resultToken"] = json!(token);
        let response = f.ok(&event).await;
        assert_eq!(only(&response).outcome, Outcome::Remediated, "{file}");
        assert_eq!(
            f.calls.calls(),
            vec![GET, PUT, GET, "configservice:PutEvaluations"],
            "{file}"
        );
        let evaluations = emulator!().config_evaluations(&token);
        assert_eq!(evaluations.len(), 1, "{file}: {evaluations:?}");
        let e = &evaluations[0];
        assert_eq!(e["ComplianceResourceType"], json!("AWS::S3::Bucket"));
        assert_eq!(e["ComplianceResourceId"], json!(bucket));
        assert_eq!(e["ComplianceType"], json!("COMPLIANT"));
        assert!(e["Annotation"]
            .as_str()
            .unwrap_or("")
            .starts_with("remediated: fixed: no Block Public Access"));
        assert_eq!(f.bucket_flags(&bucket).await, Some(ALL_ON));
    }

    // A deleted resource: not applicable, reported, no S3 call.
    let bucket = unique("deleted");
    let token = unique("token");
    let mut event = bucket_event("config-rule-change-notification.json", &bucket);
    let mut invoking: Value =
        serde_json::from_str(event["invokingEvent"].as_str().unwrap()).unwrap();
    invoking["configurationItem"]["configurationItemStatus"] = json!("ResourceDeleted");
    event["invokingEvent"] = json!(invoking.to_string());
    event["resultToken"] = json!(token);
    let response = f.ok(&event).await;
    assert_eq!(only(&response).outcome, Outcome::NotApplicable);
    assert_eq!(f.calls.calls(), vec!["configservice:PutEvaluations"]);
    assert_eq!(
        emulator!().config_evaluations(&token)[0]["ComplianceType"],
        json!("NOT_APPLICABLE")
    );
}

#[tokio::test]
async fn account_level_block_public_access_every_trigger() {
    let _turn = ACCOUNT_SETTING.lock().await;
    let f = fixture(&[]).await;
    for (file, start, trigger) in [
        (
            "cloudtrail-delete-account-public-access-block.json",
            None,
            "cloudtrail:DeleteAccountPublicAccessBlock",
        ),
        (
            "cloudtrail-put-account-public-access-block.json",
            Some([false; 4]),
            "cloudtrail:PutAccountPublicAccessBlock",
        ),
        (
            "config-compliance-change-account.json",
            Some([true, true, false, true]),
            "config-rule:s3-account-level-public-access-blocks-periodic",
        ),
        ("securityhub-s3-1-account.json", None, "security-hub:S3.1"),
        (
            "direct-account.json",
            Some([true, false, true, true]),
            "direct:remediate",
        ),
    ] {
        f.set_account_flags(start).await;
        let response = f
            .ok(&events::load(
                &format!("s3-public-access-block/{file}"),
                &[],
            ))
            .await;
        let r = only(&response);
        assert_eq!(r.outcome, Outcome::Remediated, "{file}: {r:?}");
        assert_eq!(r.control, "s3-account-public-access-block");
        assert_eq!(r.resource, format!("arn:aws:s3::{ACCOUNT}:account"));
        assert_eq!(r.trigger, trigger);
        assert_eq!(
            f.calls.calls(),
            with_finding(file, &[ACCOUNT_GET, ACCOUNT_PUT, ACCOUNT_GET]),
            "{file}"
        );
        assert_eq!(f.account_flags().await, Some(ALL_ON), "{file}");
    }
    // Already compliant: one read.
    let response = f
        .ok(&events::load(
            "s3-public-access-block/direct-account.json",
            &[],
        ))
        .await;
    assert_eq!(only(&response).outcome, Outcome::Compliant);
    assert_eq!(f.calls.calls(), vec![ACCOUNT_GET]);
    // A bare account id without a type is the account, too.
    let response = f.ok(&json!({"resourceId": ACCOUNT})).await;
    assert_eq!(only(&response).control, "s3-account-public-access-block");
}

#[tokio::test]
async fn events_caused_by_the_functions_own_role_are_skipped_without_any_call() {
    let f = fixture(&[(
        "OWN_ROLE_ARN",
        "arn:aws:iam::123456789012:role/ai-guard/ai-guard-S3PublicAccessBlockRole",
    )])
    .await;
    // Even a bucket that is not compliant: the event is our own write coming back, not a change
    // to react to (the sweep and the other triggers still cover the bucket).
    let bucket = f.bucket(None).await;
    let response = f
        .ok(&bucket_event(
            "cloudtrail-own-put-bucket-public-access-block.json",
            &bucket,
        ))
        .await;
    assert!(response.results.is_empty(), "{response:?}");
    assert!(f.calls.calls().is_empty());
    // Anyone else's change is acted on as usual.
    let response = f
        .ok(&bucket_event(
            "cloudtrail-delete-bucket-public-access-block.json",
            &bucket,
        ))
        .await;
    assert_eq!(only(&response).outcome, Outcome::Remediated);
}

#[tokio::test]
async fn the_opt_in_exemption_tag_is_read_only_for_a_resource_about_to_change() {
    let f = fixture(&[("EXEMPT_TAG", "ai-guard:exempt=true")]).await;
    let tagged = f.bucket(None).await;
    f.s3.put_bucket_tagging()
        .bucket(&tagged)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("ai-guard:exempt")
                        .value("true")
                        .build()
                        .expect("tag"),
                )
                .build()
                .expect("tagging"),
        )
        .send()
        .await
        .expect("tag bucket");
    let response = f.ok(&bucket_event("direct-bucket.json", &tagged)).await;
    let r = only(&response);
    assert_eq!(r.outcome, Outcome::Exempt, "{r:?}");
    assert!(
        r.detail.starts_with("exempt by tag ai-guard:exempt=true"),
        "{}",
        r.detail
    );
    assert_eq!(f.calls.calls(), vec![GET, "s3:GetBucketTagging"]);
    assert_eq!(f.bucket_flags(&tagged).await, None);

    let untagged = f.bucket(None).await;
    let response = f.ok(&bucket_event("direct-bucket.json", &untagged)).await;
    assert_eq!(only(&response).outcome, Outcome::Remediated);
    assert_eq!(f.calls.calls(), vec![GET, "s3:GetBucketTagging", PUT, GET]);

    // A compliant resource costs no tag read.
    let response = f.ok(&bucket_event("direct-bucket.json", &untagged)).await;
    assert_eq!(only(&response).outcome, Outcome::Compliant);
    assert_eq!(f.calls.calls(), vec![GET]);
}

#[tokio::test]
async fn a_bucket_in_another_region_is_fixed_in_its_own_region() {
    let f = fixture(&[]).await;
    let name = integration_tests::unique("eu-bucket");
    // A bucket in eu-west-1: S3 answers requests signed for us-east-1 with 301 PermanentRedirect.
    let eu = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(
            integration_tests::emulator!()
                .clients(&integration_tests::settings(&[]))
                .await
                .sdk_config(),
        )
        .region(aws_sdk_s3::config::Region::new("eu-west-1"))
        .force_path_style(true)
        .build(),
    );
    eu.create_bucket()
        .bucket(&name)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .expect("create in eu-west-1");
    let redirect =
        f.s3.get_public_access_block()
            .bucket(&name)
            .send()
            .await
            .expect_err("the emulator redirects as S3 does");
    assert_eq!(
        redirect.raw_response().map(|r| r.status().as_u16()),
        Some(301)
    );
    let response = f.ok(&bucket_event("direct-bucket.json", &name)).await;
    assert_eq!(
        response.results[0].outcome,
        Outcome::Remediated,
        "{response:?}"
    );
    // The first read learns the region from the redirect; everything after is signed for it.
    assert_eq!(f.calls.calls(), vec![GET, GET, PUT, GET]);
    let flags = eu
        .get_public_access_block()
        .bucket(&name)
        .send()
        .await
        .expect("flags in eu-west-1");
    assert_eq!(
        flags
            .public_access_block_configuration()
            .and_then(|c| c.block_public_acls()),
        Some(true)
    );
}

/// The calls of a fix, plus the finding's update when a Security Hub finding triggered it.
fn with_finding(file: &str, calls: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = calls.iter().map(|c| c.to_string()).collect();
    if file.starts_with("securityhub") {
        v.push("securityhub:BatchUpdateFindings".to_owned());
    }
    v
}

/// Marks the account's Block Public Access as managed by an AWS Organizations S3 policy
/// (`all`, `none`), or detaches it (`detach`), in the emulator; detached again when dropped.
struct OrganizationPolicy;

impl OrganizationPolicy {
    fn assign(assign: &str) -> Self {
        emulator!().harness_get(&format!(
            "/_harness/s3/organization-bpa?account={ACCOUNT}&assign={assign}"
        ));
        OrganizationPolicy
    }
}

impl Drop for OrganizationPolicy {
    fn drop(&mut self) {
        emulator!().harness_get(&format!(
            "/_harness/s3/organization-bpa?account={ACCOUNT}&assign=detach"
        ));
    }
}

#[tokio::test]
async fn an_account_managed_by_an_organization_s3_policy() {
    // An AWS Organizations S3 policy can manage an account's Block Public Access: it overrides the
    // account-level setting, `GetPublicAccessBlock` "returns the effective account-level
    // configuration, which may inherit from organization-level policies", and
    // `PutPublicAccessBlock` "may be restricted ... You might get an Access Denied (403) error"
    // (S3 Control API reference, GetPublicAccessBlock and PutPublicAccessBlock; AWS Organizations
    // user guide, "Amazon S3 policies": "Override protection: Prevents account-level
    // modifications when organization policies are active"). The emulator's `organization-bpa`
    // switch does so.
    let _turn = ACCOUNT_SETTING.lock().await;
    let f = fixture(&[]).await;
    f.set_account_flags(None).await;
    let account = || events::load("s3-public-access-block/direct-account.json", &[]);

    // The organization blocks everything: the effective setting is compliant, nothing written.
    {
        let _org = OrganizationPolicy::assign("all");
        let response = f.ok(&account()).await;
        let r = only(&response);
        assert_eq!(r.outcome, Outcome::Compliant, "{r:?}");
        assert_eq!(f.calls.calls(), vec![ACCOUNT_GET]);
    }
    // The organization turns it off: S3 Control refuses the write; the record says who manages it.
    {
        let _org = OrganizationPolicy::assign("none");
        let err = f
            .handle(&account())
            .await
            .expect_err("not compliant, not fixable");
        let EngineError::Unresolved { response, .. } = err else {
            panic!("expected unresolved: {err}")
        };
        let r = only(&response);
        assert_eq!(r.outcome, Outcome::Failed, "{r:?}");
        assert!(
            r.detail.contains("managed by the organization"),
            "{}",
            r.detail
        );
        assert!(!r.detail.contains("missing permission"), "{}", r.detail);
        assert_eq!(f.calls.calls(), vec![ACCOUNT_GET, ACCOUNT_PUT]);
    }
    // Detached: the account's own setting is back (none), and fixable again.
    assert_eq!(f.account_flags().await, None);
    assert_eq!(only(&f.ok(&account()).await).outcome, Outcome::Remediated);
}
