//! Governed remediation (issue 26) through the real `s3-public-access-block` function against the
//! emulator: the policy document read from an SSM parameter (`POLICY_PARAMETER`, re-read every run
//! with `POLICY_CACHE_SECONDS=0`), its modes and rule precedence, approval proposals kept in a
//! DynamoDB table (`APPROVALS_TABLE`), an invalid document refused with the last good one kept (in
//! the cache, and from the parameter's history after a cold start), the blast-radius limit in a
//! sweep, and exceptions qualified by account and expiring. Every assertion on a fix is made on the
//! bucket's real state, read back from the emulator.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_s3::types::{PublicAccessBlockConfiguration, Tag, Tagging};
use integration_tests::{
    emulator, events, settings, unique, CapturedLogs, Recorder, ACCOUNT, REGION,
};
use remediation::clients::AwsClients;
use remediation::governance::proposal_id;
use remediation::policy::Mode;
use remediation::{functions, Engine, Outcome, OutcomeRecord, Response};
use serde_json::{json, Value};

const CONTROL: &str = "s3-bucket-public-access-block";
const OTHER_ACCOUNT: &str = "111122223333";
const ALL_ON: [bool; 4] = [true; 4];
const GET: &str = "s3:GetPublicAccessBlock";
const PUT: &str = "s3:PutPublicAccessBlock";

/// One test's policy parameter and proposals table, and unrecorded clients to arrange and check
/// state with.
struct Fixture {
    parameter: String,
    table: String,
    plain: AwsClients,
}

/// A function built from fresh settings (its own policy cache: a cold start), recording its calls.
struct Function {
    engine: Engine,
    calls: Recorder,
}

impl Function {
    async fn handle(&self, event: &Value) -> Response {
        integration_tests::handled(&self.engine, &self.calls, event).await
    }

    /// The one record of handling `event`.
    async fn one(&self, event: &Value) -> OutcomeRecord {
        let response = self.handle(event).await;
        assert_eq!(response.results.len(), 1, "{response:?}");
        response.results.into_iter().next().expect("one record")
    }

    fn called(&self, op: &str) -> bool {
        self.calls.calls().iter().any(|c| c == op)
    }
}

async fn fixture() -> Fixture {
    let plain = emulator!().clients(&settings(&[])).await;
    let table = unique("approvals");
    plain
        .dynamodb()
        .create_table()
        .table_name(&table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create table");
    Fixture {
        parameter: format!("/ai-guard/{}", unique("policy")),
        table,
        plain,
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

fn direct(bucket: &str) -> Value {
    json!({ "resourceId": bucket })
}

fn arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

impl Fixture {
    /// The function as deployed with this fixture's parameter and table, from a cold start.
    async fn function(&self) -> Function {
        self.function_with(&self.parameter).await
    }

    async fn function_with(&self, parameter: &str) -> Function {
        let calls = Recorder::new();
        let s = settings(&[
            ("POLICY_PARAMETER", parameter),
            ("POLICY_CACHE_SECONDS", "0"),
            ("APPROVALS_TABLE", &self.table),
        ]);
        let engine =
            functions::s3_public_access_block(s.clone(), &emulator!().aws(&s, &calls).await)
                .expect("engine");
        Function { engine, calls }
    }

    /// Write a new version of the policy parameter (the first one creates it).
    async fn policy(&self, document: &str) {
        self.policy_in(&self.parameter, document).await;
    }

    async fn policy_in(&self, parameter: &str, document: &str) {
        self.plain
            .ssm()
            .put_parameter()
            .name(parameter)
            .value(document)
            .r#type("String".into())
            .overwrite(true)
            .send()
            .await
            .expect("put parameter");
    }

    /// A new bucket named `name` with the given flags (`None`: no configuration at all).
    async fn bucket_named(&self, name: &str, with: Option<[bool; 4]>) {
        let s3 = self.plain.s3();
        s3.create_bucket()
            .bucket(name)
            .send()
            .await
            .expect("create bucket");
        if let Some(on) = with {
            self.set_flags(name, on).await;
        }
    }

    async fn bucket(&self, with: Option<[bool; 4]>) -> String {
        let name = unique("gov");
        self.bucket_named(&name, with).await;
        name
    }

    async fn set_flags(&self, name: &str, on: [bool; 4]) {
        self.plain
            .s3()
            .put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(flags(on))
            .send()
            .await
            .expect("put bpa");
    }

    /// The bucket's four flags as S3 reports them (`None`: no configuration).
    async fn bucket_flags(&self, name: &str) -> Option<[bool; 4]> {
        let out = self
            .plain
            .s3()
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

    /// The proposal item for `bucket`, as stored.
    async fn proposal(&self, bucket: &str) -> Option<std::collections::HashMap<String, String>> {
        let id = proposal_id(CONTROL, ACCOUNT, REGION, &arn(bucket));
        let out = self
            .plain
            .dynamodb()
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id))
            .consistent_read(true)
            .send()
            .await
            .expect("get item");
        out.item().map(|item| {
            item.iter()
                .filter_map(|(k, v)| {
                    let v = v.as_s().or_else(|_| v.as_n()).ok()?;
                    Some((k.clone(), v.clone()))
                })
                .collect()
        })
    }

    async fn proposal_status(&self, bucket: &str) -> String {
        self.proposal(bucket)
            .await
            .unwrap_or_else(|| panic!("no proposal for {bucket}"))["status"]
            .clone()
    }
}

fn approve(bucket: &str, by: &str) -> Value {
    json!({
        "approve": proposal_id(CONTROL, ACCOUNT, REGION, &arn(bucket)),
        "approvedBy": by,
    })
}

#[tokio::test]
async fn notify_records_and_writes_nothing() {
    let f = fixture().await;
    f.policy(r#"{"version": 1, "defaultMode": "notify"}"#).await;
    let bucket = f.bucket(None).await;
    let function = f.function().await;

    let r = function.one(&direct(&bucket)).await;
    assert_eq!(r.outcome, Outcome::WouldRemediate, "{r:?}");
    assert_eq!(r.mode, Some(Mode::Notify), "{r:?}");
    assert!(!r.limited, "{r:?}");
    assert!(r.detail.contains("notify"), "{r:?}");
    assert_eq!(r.actions, vec!["PutPublicAccessBlock"], "{r:?}");
    assert!(
        function.called("ssm:GetParameter"),
        "{:?}",
        function.calls.calls()
    );
    assert!(function.called(GET), "{:?}", function.calls.calls());
    assert!(!function.called(PUT), "{:?}", function.calls.calls());
    assert_eq!(
        f.bucket_flags(&bucket).await,
        None,
        "notify wrote to the bucket"
    );

    // A compliant bucket under notify is simply compliant (no mode: no fix was due).
    let fine = f.bucket(Some(ALL_ON)).await;
    let r = function.one(&direct(&fine)).await;
    assert_eq!(r.outcome, Outcome::Compliant, "{r:?}");
    assert_eq!(r.mode, None, "{r:?}");
}

#[tokio::test]
async fn off_for_one_account_enforce_elsewhere() {
    let f = fixture().await;
    let function = f.function().await;

    // Off for another account only: this account gets the default, enforce.
    f.policy(&format!(
        r#"{{"version": 1, "defaultMode": "enforce",
             "rules": [{{"mode": "off", "accounts": ["{OTHER_ACCOUNT}"]}}]}}"#
    ))
    .await;
    let bucket = f.bucket(None).await;
    let r = function.one(&direct(&bucket)).await;
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert_eq!(f.bucket_flags(&bucket).await, Some(ALL_ON));

    // Off for this account: decided without a call to S3, nothing written.
    f.policy(&format!(
        r#"{{"version": 1, "defaultMode": "enforce",
             "rules": [{{"mode": "off", "accounts": ["{ACCOUNT}"]}}]}}"#
    ))
    .await;
    let bucket = f.bucket(None).await;
    let r = function.one(&direct(&bucket)).await;
    assert_eq!(r.outcome, Outcome::Off, "{r:?}");
    assert_eq!(r.mode, Some(Mode::Off), "{r:?}");
    assert!(!function.called(GET), "{:?}", function.calls.calls());
    assert!(!function.called(PUT), "{:?}", function.calls.calls());
    assert_eq!(f.bucket_flags(&bucket).await, None);

    // A control rule `off` is beaten by an account rule `enforce` (account is more specific than
    // control), whichever is written first.
    f.policy(&format!(
        r#"{{"version": 1, "defaultMode": "notify",
             "rules": [{{"mode": "off", "controls": ["{CONTROL}"]}},
                       {{"mode": "enforce", "accounts": ["{ACCOUNT}"]}}]}}"#
    ))
    .await;
    let bucket = f.bucket(None).await;
    let r = function.one(&direct(&bucket)).await;
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert_eq!(f.bucket_flags(&bucket).await, Some(ALL_ON));

    // And the other way round: an account rule `off` beats a control rule `enforce`.
    f.policy(&format!(
        r#"{{"version": 1, "defaultMode": "enforce",
             "rules": [{{"mode": "enforce", "controls": ["{CONTROL}"]}},
                       {{"mode": "off", "accounts": ["{ACCOUNT}"]}}]}}"#
    ))
    .await;
    let bucket = f.bucket(Some([true, false, false, false])).await;
    let r = function.one(&direct(&bucket)).await;
    assert_eq!(r.outcome, Outcome::Off, "{r:?}");
    assert_eq!(
        f.bucket_flags(&bucket).await,
        Some([true, false, false, false])
    );

    // Both dimensions in one rule beat either alone.
    f.policy(&format!(
        r#"{{"version": 1, "defaultMode": "enforce",
             "rules": [{{"mode": "off", "accounts": ["{ACCOUNT}"]}},
                       {{"mode": "notify", "accounts": ["{ACCOUNT}"], "regions": ["{REGION}"]}}]}}"#
    ))
    .await;
    let bucket = f.bucket(None).await;
    let r = function.one(&direct(&bucket)).await;
    assert_eq!(r.outcome, Outcome::WouldRemediate, "{r:?}");
    assert_eq!(r.mode, Some(Mode::Notify), "{r:?}");
    assert_eq!(f.bucket_flags(&bucket).await, None);
}

#[tokio::test]
async fn approval_applies_only_what_was_approved() {
    let f = fixture().await;
    f.policy(r#"{"version": 1, "defaultMode": "approve"}"#)
        .await;
    let function = f.function().await;

    // Proposed: pending, nothing written, the proposal in the table.
    let bucket = f.bucket(None).await;
    let r = function.one(&direct(&bucket)).await;
    assert_eq!(r.outcome, Outcome::Pending, "{r:?}");
    assert_eq!(r.mode, Some(Mode::Approve), "{r:?}");
    let id = proposal_id(CONTROL, ACCOUNT, REGION, &arn(&bucket));
    assert!(r.detail.contains(&id), "{r:?}");
    assert!(!function.called(PUT), "{:?}", function.calls.calls());
    assert_eq!(f.bucket_flags(&bucket).await, None);
    let item = f.proposal(&bucket).await.expect("proposal stored");
    assert_eq!(item["status"], "pending", "{item:?}");
    assert_eq!(item["resource"], arn(&bucket), "{item:?}");
    assert_eq!(item["control"], CONTROL, "{item:?}");

    // Asked again before approval: still pending, the same proposal.
    let again = function.one(&direct(&bucket)).await;
    assert_eq!(again.outcome, Outcome::Pending, "{again:?}");
    assert!(again.detail.contains("waiting for approval"), "{again:?}");
    assert_eq!(f.bucket_flags(&bucket).await, None);

    // Approved by id: applied, and the proposal says who approved it.
    let r = function.one(&approve(&bucket, "alice")).await;
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert_eq!(r.resource, arn(&bucket));
    assert!(function.called(PUT), "{:?}", function.calls.calls());
    assert_eq!(f.bucket_flags(&bucket).await, Some(ALL_ON));
    let item = f.proposal(&bucket).await.expect("proposal kept");
    assert_eq!(item["status"], "approved", "{item:?}");
    assert!(
        item.get("approved_by").is_some_and(|b| b.contains("alice")),
        "{item:?}"
    );

    // Approving it a second time changes nothing: the bucket is compliant now.
    let r = function.one(&approve(&bucket, "alice")).await;
    assert_eq!(r.outcome, Outcome::Compliant, "{r:?}");

    // Changed after the proposal: the approval is not applied, a new proposal replaces it.
    let changed = f.bucket(None).await;
    let r = function.one(&direct(&changed)).await;
    assert_eq!(r.outcome, Outcome::Pending, "{r:?}");
    f.set_flags(&changed, [true, false, false, false]).await;
    let r = function.one(&approve(&changed, "alice")).await;
    assert_eq!(r.outcome, Outcome::Pending, "{r:?}");
    assert!(r.detail.contains("changed"), "{r:?}");
    assert!(!function.called(PUT), "{:?}", function.calls.calls());
    assert_eq!(
        f.bucket_flags(&changed).await,
        Some([true, false, false, false])
    );
    assert_eq!(f.proposal_status(&changed).await, "pending");
    // The new proposal, for the state as it is now, can be approved.
    let r = function.one(&approve(&changed, "bob")).await;
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert_eq!(f.bucket_flags(&changed).await, Some(ALL_ON));
    assert_eq!(f.proposal_status(&changed).await, "approved");

    // Expired before approval: not applied, proposed again.
    let late = f.bucket(None).await;
    let r = function.one(&direct(&late)).await;
    assert_eq!(r.outcome, Outcome::Pending, "{r:?}");
    let past = remediation::governance::now() - 60;
    f.plain
        .dynamodb()
        .update_item()
        .table_name(&f.table)
        .key(
            "id",
            AttributeValue::S(proposal_id(CONTROL, ACCOUNT, REGION, &arn(&late))),
        )
        .update_expression("SET proposal_expires_at = :t")
        .expression_attribute_values(":t", AttributeValue::N(past.to_string()))
        .send()
        .await
        .expect("expire the proposal");
    let r = function.one(&approve(&late, "alice")).await;
    assert_eq!(r.outcome, Outcome::Pending, "{r:?}");
    assert!(r.detail.contains("expired"), "{r:?}");
    assert!(!function.called(PUT), "{:?}", function.calls.calls());
    assert_eq!(f.bucket_flags(&late).await, None);
    let item = f.proposal(&late).await.expect("proposed again");
    assert_eq!(item["status"], "pending", "{item:?}");
    assert!(
        item["proposal_expires_at"].parse::<i64>().expect("number") > past,
        "{item:?}"
    );

    // A direct payload naming the approver, for a resource nothing was proposed for: proposed.
    let unproposed = f.bucket(None).await;
    let mut payload = direct(&unproposed);
    payload["approvedBy"] = json!("mallory");
    let r = function.one(&payload).await;
    assert_eq!(r.outcome, Outcome::Pending, "{r:?}");
    assert!(r.detail.contains("nothing pending"), "{r:?}");
    assert_eq!(f.bucket_flags(&unproposed).await, None);

    // A Security Hub custom action approves its findings' proposals.
    let via_hub = f.bucket(None).await;
    let r = function.one(&direct(&via_hub)).await;
    assert_eq!(r.outcome, Outcome::Pending, "{r:?}");
    let event = events::load(
        "s3-public-access-block/securityhub-custom-action-approve.json",
        &[("ai-training-data-example", &via_hub)],
    );
    let response = function.handle(&event).await;
    let r = response
        .results
        .iter()
        .find(|r| r.resource == arn(&via_hub))
        .unwrap_or_else(|| panic!("no record for {via_hub}: {response:?}"));
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert_eq!(f.bucket_flags(&via_hub).await, Some(ALL_ON));
    assert_eq!(f.proposal_status(&via_hub).await, "approved");
}

#[tokio::test]
async fn an_invalid_document_is_refused_and_the_last_good_one_stays() {
    let logs = CapturedLogs::start();
    let refusals = |logs: &CapturedLogs, parameter: &str| -> Vec<Value> {
        logs.lines()
            .into_iter()
            .filter(|l| l["target"] == json!("policy") && l["parameter"] == json!(parameter))
            .filter(|l| l["level"] == json!("ERROR"))
            .collect()
    };
    let f = fixture().await;
    f.policy(r#"{"version": 1, "defaultMode": "enforce"}"#)
        .await;
    let warm = f.function().await;
    let bucket = f.bucket(None).await;
    let r = warm.one(&direct(&bucket)).await;
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");

    // Version 2 is not JSON: refused, version 1 (cached) stays in force.
    f.policy(r#"{"version": 1, "defaultMode": "notify""#).await;
    let bucket = f.bucket(None).await;
    let r = warm.one(&direct(&bucket)).await;
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert_eq!(f.bucket_flags(&bucket).await, Some(ALL_ON));
    let refused = refusals(&logs, &f.parameter);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["version"], json!(2), "{refused:?}");
    // Refused once per version, not on every read.
    let bucket = f.bucket(None).await;
    assert_eq!(
        warm.one(&direct(&bucket)).await.outcome,
        Outcome::Remediated
    );
    assert_eq!(refusals(&logs, &f.parameter).len(), 1);

    // A cold start reads version 2 first, refuses it, and finds version 1 in the history.
    let cold = f.function().await;
    let bucket = f.bucket(None).await;
    let r = cold.one(&direct(&bucket)).await;
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert!(
        cold.called("ssm:GetParameterHistory"),
        "{:?}",
        cold.calls.calls()
    );
    assert_eq!(f.bucket_flags(&bucket).await, Some(ALL_ON));
    assert_eq!(refusals(&logs, &f.parameter).len(), 2);

    // Version 3 is JSON but names an unknown control: refused too, after a cold start as well.
    f.policy(
        r#"{"version": 1, "defaultMode": "notify",
            "rules": [{"mode": "off", "controls": ["no-such-control"]}]}"#,
    )
    .await;
    let bucket = f.bucket(None).await;
    let r = warm.one(&direct(&bucket)).await;
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    let cold = f.function().await;
    let bucket = f.bucket(None).await;
    let r = cold.one(&direct(&bucket)).await;
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert_eq!(f.bucket_flags(&bucket).await, Some(ALL_ON));
    let refused = refusals(&logs, &f.parameter);
    assert_eq!(refused.len(), 4, "{refused:?}");
    assert!(
        refused[3]["error"]
            .as_str()
            .is_some_and(|e| e.contains("rules[0].controls[0]") && e.contains("no-such-control")),
        "{refused:?}"
    );

    // A valid version 4 is taken at once.
    f.policy(r#"{"version": 1, "defaultMode": "notify"}"#).await;
    let bucket = f.bucket(None).await;
    let r = warm.one(&direct(&bucket)).await;
    assert_eq!(r.outcome, Outcome::WouldRemediate, "{r:?}");
    assert_eq!(f.bucket_flags(&bucket).await, None);

    // A parameter whose only version is invalid: every control only notifies.
    let never_valid = format!("/ai-guard/{}", unique("invalid"));
    f.policy_in(&never_valid, r#"{"version": 2}"#).await;
    let function = f.function_with(&never_valid).await;
    let bucket = f.bucket(None).await;
    let r = function.one(&direct(&bucket)).await;
    assert_eq!(r.outcome, Outcome::WouldRemediate, "{r:?}");
    assert_eq!(r.mode, Some(Mode::Notify), "{r:?}");
    assert!(!function.called(PUT), "{:?}", function.calls.calls());
    assert_eq!(f.bucket_flags(&bucket).await, None);
    assert_eq!(refusals(&logs, &never_valid).len(), 1);
}

#[tokio::test]
async fn the_blast_radius_limit_holds_in_a_sweep() {
    let f = fixture().await;
    let prefix = unique("limit");
    // Only this test's buckets (tagged) are enforced; every other bucket of the emulator and the
    // account setting are off, so the sweep's writes are this test's alone.
    f.policy(&format!(
        r#"{{"version": 1, "defaultMode": "off",
             "rules": [{{"mode": "enforce", "tags": {{"governance-limit": "{prefix}"}}}}],
             "limits": {{"writesPerInvocation": 2}}}}"#
    ))
    .await;
    let mut names = Vec::new();
    for i in 0..4 {
        let name = format!("{prefix}-{i}");
        f.bucket_named(&name, None).await;
        f.plain
            .s3()
            .put_bucket_tagging()
            .bucket(&name)
            .tagging(
                Tagging::builder()
                    .tag_set(
                        Tag::builder()
                            .key("governance-limit")
                            .value(&prefix)
                            .build()
                            .expect("tag"),
                    )
                    .build()
                    .expect("tagging"),
            )
            .send()
            .await
            .expect("tag bucket");
        names.push(name);
    }
    let function = f.function().await;
    let sweep = events::load("s3-public-access-block/scheduled-sweep.json", &[]);

    let response = function.handle(&sweep).await;
    let mine: Vec<&OutcomeRecord> = response
        .results
        .iter()
        .filter(|r| names.iter().any(|n| r.resource == arn(n)))
        .collect();
    assert_eq!(mine.len(), 4, "{response:?}");
    let fixed: Vec<&&OutcomeRecord> = mine
        .iter()
        .filter(|r| r.outcome == Outcome::Remediated)
        .collect();
    let held: Vec<&&OutcomeRecord> = mine
        .iter()
        .filter(|r| r.outcome == Outcome::WouldRemediate)
        .collect();
    assert_eq!(fixed.len(), 2, "{mine:?}");
    assert_eq!(held.len(), 2, "{mine:?}");
    for r in &held {
        assert!(r.limited, "{r:?}");
        assert_eq!(r.mode, Some(Mode::Notify), "{r:?}");
        assert!(r.detail.contains("blast-radius"), "{r:?}");
    }
    assert!(fixed.iter().all(|r| !r.limited), "{fixed:?}");
    // Nothing else in the emulator was written by this sweep.
    let others_fixed: Vec<&OutcomeRecord> = response
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Remediated && !mine.contains(r))
        .collect();
    assert!(others_fixed.is_empty(), "{others_fixed:?}");
    let mut states = Vec::new();
    for n in &names {
        states.push(f.bucket_flags(n).await);
    }
    assert_eq!(
        states.iter().filter(|s| **s == Some(ALL_ON)).count(),
        2,
        "{states:?}"
    );
    assert_eq!(
        states.iter().filter(|s| s.is_none()).count(),
        2,
        "{states:?}"
    );
    for r in &held {
        let name = r.resource.trim_start_matches("arn:aws:s3:::");
        assert_eq!(f.bucket_flags(name).await, None, "{r:?}");
    }

    // The next invocation has a budget of its own: the other two are fixed.
    let response = function.handle(&sweep).await;
    let mine: Vec<&OutcomeRecord> = response
        .results
        .iter()
        .filter(|r| names.iter().any(|n| r.resource == arn(n)))
        .collect();
    assert_eq!(
        mine.iter()
            .filter(|r| r.outcome == Outcome::Remediated)
            .count(),
        2,
        "{mine:?}"
    );
    assert_eq!(
        mine.iter()
            .filter(|r| r.outcome == Outcome::Compliant)
            .count(),
        2,
        "{mine:?}"
    );
    for n in &names {
        assert_eq!(f.bucket_flags(n).await, Some(ALL_ON), "{n}");
    }
}

#[tokio::test]
async fn exceptions_are_account_qualified_and_expire() {
    let f = fixture().await;
    let prefix = unique("exc");
    f.policy(&format!(
        r#"{{"version": 1, "defaultMode": "enforce", "exceptions": [
            {{"accounts": ["{ACCOUNT}"], "resources": ["arn:aws:s3:::{prefix}-site-*"],
              "controls": ["{CONTROL}"], "reason": "static web site, reviewed",
              "owner": "web-team@example.com", "expires": "2099-06-30T00:00:00Z"}},
            {{"accounts": ["{OTHER_ACCOUNT}"], "resources": ["arn:aws:s3:::{prefix}-elsewhere-*"],
              "reason": "another account's site", "owner": "web-team@example.com",
              "expires": "2099-06-30"}},
            {{"accounts": ["{ACCOUNT}"], "resources": ["arn:aws:s3:::{prefix}-old-*"],
              "reason": "the old site", "owner": "web-team@example.com",
              "expires": "2020-01-01T00:00:00Z"}}
        ]}}"#
    ))
    .await;
    let function = f.function().await;

    // Covered in this account: exempt, without even a read.
    let site = format!("{prefix}-site-1");
    f.bucket_named(&site, None).await;
    let r = function.one(&direct(&site)).await;
    assert_eq!(r.outcome, Outcome::Exempt, "{r:?}");
    assert!(r.detail.contains("static web site"), "{r:?}");
    assert!(r.detail.contains("web-team@example.com"), "{r:?}");
    assert!(!function.called(GET), "{:?}", function.calls.calls());
    assert_eq!(f.bucket_flags(&site).await, None);

    // The same kind of pattern for another account does not cover this account's bucket.
    let elsewhere = format!("{prefix}-elsewhere-1");
    f.bucket_named(&elsewhere, None).await;
    let r = function.one(&direct(&elsewhere)).await;
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert_eq!(f.bucket_flags(&elsewhere).await, Some(ALL_ON));

    // Expired: fixed, and the record says the exception no longer applies.
    let old = format!("{prefix}-old-1");
    f.bucket_named(&old, None).await;
    let r = function.one(&direct(&old)).await;
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert!(r.detail.contains("expired"), "{r:?}");
    assert_eq!(f.bucket_flags(&old).await, Some(ALL_ON));
}

/// The event a member's forwarding rule delivers to the hub's bus, for `bucket` in `account`.
fn relayed(account: &str, bucket: &str) -> Value {
    events::load(
        "s3-public-access-block/hub-relayed-delete-bucket-public-access-block.json",
        &[
            ("210987654321", account),
            ("eu-west-1", REGION),
            ("ai-training-data-example", bucket),
        ],
    )
}

#[tokio::test]
async fn a_hub_takes_each_accounts_mode_from_its_organizational_units() {
    use aws_sdk_organizations::types::OrganizationFeatureSet;
    use remediation::functions::S3_PUBLIC_ACCESS_BLOCK;
    use remediation::hub::{Hub, HubSettings};

    let f = fixture().await;
    let aws = &f.plain;
    // The organization, managed by the emulator's default account (the hub's): `enforced` with
    // `deep` under it, and `notified`. This is the only test of the module that makes one.
    let org = aws.organizations();
    org.create_organization()
        .feature_set(OrganizationFeatureSet::All)
        .send()
        .await
        .expect("organization");
    let roots = org.list_roots().send().await.expect("roots");
    let root = roots.roots()[0].id().expect("root id").to_owned();
    let unit = |name: &'static str, parent: String| {
        let org = org.clone();
        async move {
            org.create_organizational_unit()
                .parent_id(parent)
                .name(name)
                .send()
                .await
                .expect("OU")
                .organizational_unit()
                .and_then(|u| u.id())
                .expect("OU id")
                .to_owned()
        }
    };
    let enforced = unit("enforced", root.clone()).await;
    let notified = unit("notified", root.clone()).await;
    let deep = unit("deep", enforced.clone()).await;
    let account = |name: &'static str, ou: String| {
        let org = org.clone();
        let root = root.clone();
        async move {
            let id = org
                .create_account()
                .email(format!("{name}@example.com"))
                .account_name(name)
                .send()
                .await
                .expect("account")
                .create_account_status()
                .and_then(|s| s.account_id())
                .expect("account id")
                .to_owned();
            org.move_account()
                .account_id(&id)
                .source_parent_id(root)
                .destination_parent_id(ou)
                .send()
                .await
                .expect("move");
            id
        }
    };
    let in_enforced = account("gov-enforced", enforced.clone()).await;
    let in_notified = account("gov-notified", notified.clone()).await;
    let in_deep = account("gov-deep", deep.clone()).await;

    // The root notifies, `enforced` (nearer than the root) enforces, `notified` only notifies.
    f.policy(&format!(
        r#"{{"version": 1, "defaultMode": "off",
             "rules": [{{"mode": "notify", "organizationalUnits": ["{root}"]}},
                       {{"mode": "enforce", "organizationalUnits": ["{enforced}"]}},
                       {{"mode": "notify", "organizationalUnits": ["{notified}"]}}]}}"#
    ))
    .await;
    let hub_settings = HubSettings::from_lookup(&integration_tests::env(&[
        ("MEMBER_ROLE_NAME", "ai-guard-member"),
        ("REGIONS", REGION),
    ]))
    .expect("hub settings")
    .expect("a hub");
    let hub = Hub::new(
        "s3-public-access-block",
        settings(&[
            ("POLICY_PARAMETER", &f.parameter),
            ("POLICY_CACHE_SECONDS", "0"),
            ("APPROVALS_TABLE", &f.table),
        ]),
        hub_settings,
        aws.clone(),
        S3_PUBLIC_ACCESS_BLOCK.builder(integration_tests::env(&[])),
    )
    .expect("hub");

    let open_bucket = |account: String| async move {
        let name = unique("gov-org");
        integration_tests::admin(aws, &account, REGION)
            .await
            .s3()
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("create bucket");
        name
    };
    let blocked = |account: String, bucket: String| async move {
        integration_tests::admin(aws, &account, REGION)
            .await
            .s3()
            .get_public_access_block()
            .bucket(&bucket)
            .send()
            .await
            .ok()
            .and_then(|o| o.public_access_block_configuration().cloned())
            .is_some_and(|c| c.block_public_policy() == Some(true))
    };
    let run = |account: &str, bucket: &str| {
        let event = relayed(account, bucket);
        let hub = &hub;
        async move {
            let answer = hub.handle(&event, ACCOUNT).await.expect("handled");
            let records = answer.records().to_vec();
            assert_eq!(records.len(), 1, "{records:?}");
            records.into_iter().next().expect("one record")
        }
    };

    // The OU's own rule.
    let bucket = open_bucket(in_enforced.clone()).await;
    let r = run(&in_enforced, &bucket).await;
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert_eq!(r.account, in_enforced);
    assert!(blocked(in_enforced.clone(), bucket).await);

    let bucket = open_bucket(in_notified.clone()).await;
    let r = run(&in_notified, &bucket).await;
    assert_eq!(r.outcome, Outcome::WouldRemediate, "{r:?}");
    assert_eq!(r.mode, Some(Mode::Notify), "{r:?}");
    assert!(!blocked(in_notified.clone(), bucket).await);

    // Under `deep`, which no rule names: the nearest OU a rule names (`enforced`) wins over the
    // root.
    let bucket = open_bucket(in_deep.clone()).await;
    let r = run(&in_deep, &bucket).await;
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert!(blocked(in_deep.clone(), bucket).await);

    // An account rule beats the OUs: `in_enforced` turned off.
    f.policy(&format!(
        r#"{{"version": 1, "defaultMode": "off",
             "rules": [{{"mode": "enforce", "organizationalUnits": ["{enforced}"]}},
                       {{"mode": "off", "accounts": ["{in_enforced}"]}}]}}"#
    ))
    .await;
    let bucket = open_bucket(in_enforced.clone()).await;
    let r = run(&in_enforced, &bucket).await;
    assert_eq!(r.outcome, Outcome::Off, "{r:?}");
    assert!(!blocked(in_enforced.clone(), bucket).await);
    let bucket = open_bucket(in_deep.clone()).await;
    let r = run(&in_deep, &bucket).await;
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert!(blocked(in_deep.clone(), bucket).await);

    // Approval through the hub: proposed in a member account, approved by id, fixed there.
    f.policy(&format!(
        r#"{{"version": 1, "defaultMode": "off",
             "rules": [{{"mode": "approve", "organizationalUnits": ["{notified}"]}}]}}"#
    ))
    .await;
    let bucket = open_bucket(in_notified.clone()).await;
    let r = run(&in_notified, &bucket).await;
    assert_eq!(r.outcome, Outcome::Pending, "{r:?}");
    assert_eq!(r.mode, Some(Mode::Approve), "{r:?}");
    assert!(!blocked(in_notified.clone(), bucket.clone()).await);
    let id = proposal_id(CONTROL, &in_notified, REGION, &arn(&bucket));
    assert!(r.detail.contains(&id), "{r:?}");
    let answer = hub
        .handle(&json!({"approve": id, "approvedBy": "alice"}), ACCOUNT)
        .await
        .expect("approval");
    let records = answer.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].outcome, Outcome::Remediated, "{records:?}");
    assert_eq!(records[0].account, in_notified);
    assert!(blocked(in_notified.clone(), bucket).await);
}

/// The Security Hub custom action event of the fixture, for `bucket`, as account `account` would
/// send it (its `account` and its action target ARN), the findings still this account's.
fn custom_action_of(account: &str, action_account: &str, bucket: &str) -> Value {
    let mut event = events::load(
        "s3-public-access-block/securityhub-custom-action-approve.json",
        &[("ai-training-data-example", bucket)],
    );
    event["account"] = json!(account);
    event["resources"] = json!([format!(
        "arn:aws:securityhub:{REGION}:{action_account}:action/custom/AiGuardApprove"
    )]);
    event
}

#[tokio::test]
async fn only_this_accounts_own_custom_action_approves() {
    let f = fixture().await;
    f.policy(r#"{"version": 1, "defaultMode": "approve"}"#)
        .await;
    let function = f.function().await;
    let bucket = f.bucket(None).await;
    let r = function.one(&direct(&bucket)).await;
    assert_eq!(r.outcome, Outcome::Pending, "{r:?}");

    // Another account's custom action (a member's own, forwarded to a bus the function listens
    // on), or an action target of another account: refused, nothing approved or written.
    for event in [
        custom_action_of(OTHER_ACCOUNT, OTHER_ACCOUNT, &bucket),
        custom_action_of(ACCOUNT, OTHER_ACCOUNT, &bucket),
        custom_action_of(OTHER_ACCOUNT, ACCOUNT, &bucket),
    ] {
        let refused = integration_tests::handle(&function.engine, &function.calls, &event).await;
        let e = refused.expect_err("another account's custom action approves nothing");
        assert!(e.to_string().contains("custom action"), "{e}");
        assert!(!function.called(PUT), "{:?}", function.calls.calls());
        assert_eq!(f.bucket_flags(&bucket).await, None);
        assert_eq!(f.proposal_status(&bucket).await, "pending");
    }

    // This account's own action approves.
    let response = function
        .handle(&custom_action_of(ACCOUNT, ACCOUNT, &bucket))
        .await;
    assert!(
        response
            .results
            .iter()
            .any(|r| r.resource == arn(&bucket) && r.outcome == Outcome::Remediated),
        "{response:?}"
    );
    assert_eq!(f.bucket_flags(&bucket).await, Some(ALL_ON));
}

#[tokio::test]
async fn a_parameter_deleted_and_created_again_is_read_again() {
    let f = fixture().await;
    f.policy(r#"{"version": 1, "defaultMode": "enforce"}"#)
        .await;
    let warm = f.function().await;
    let bucket = f.bucket(None).await;
    assert_eq!(
        warm.one(&direct(&bucket)).await.outcome,
        Outcome::Remediated
    );

    // Deleted and created again: version 1 again, with another document.
    f.plain
        .ssm()
        .delete_parameter()
        .name(&f.parameter)
        .send()
        .await
        .expect("delete parameter");
    f.policy(r#"{"version": 1, "defaultMode": "notify"}"#).await;
    let bucket = f.bucket(None).await;
    let r = warm.one(&direct(&bucket)).await;
    assert_eq!(r.outcome, Outcome::WouldRemediate, "{r:?}");
    assert_eq!(r.mode, Some(Mode::Notify), "{r:?}");
    assert_eq!(f.bucket_flags(&bucket).await, None);
}

#[tokio::test]
async fn a_secure_string_policy_is_refused_as_such() {
    let logs = CapturedLogs::start();
    let f = fixture().await;
    f.plain
        .ssm()
        .put_parameter()
        .name(&f.parameter)
        .value(r#"{"version": 1, "defaultMode": "enforce"}"#)
        .r#type("SecureString".into())
        .send()
        .await
        .expect("put parameter");
    let function = f.function().await;
    let bucket = f.bucket(None).await;
    let r = function.one(&direct(&bucket)).await;
    // Read encrypted, never enforced: every control only notifies, and the log says why.
    assert_eq!(r.outcome, Outcome::WouldRemediate, "{r:?}");
    assert_eq!(r.mode, Some(Mode::Notify), "{r:?}");
    assert_eq!(f.bucket_flags(&bucket).await, None);
    let refused: Vec<Value> = logs
        .lines()
        .into_iter()
        .filter(|l| l["target"] == json!("policy") && l["parameter"] == json!(f.parameter))
        .filter(|l| l["level"] == json!("ERROR"))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("SecureString")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_parameter_named_by_its_arn_falls_back_to_its_history() {
    let f = fixture().await;
    f.policy(r#"{"version": 1, "defaultMode": "enforce"}"#)
        .await;
    f.policy(r#"{"version": 1, "defaultMode": "#).await;
    let by_arn = format!("arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{}", f.parameter);
    let cold = f.function_with(&by_arn).await;
    let bucket = f.bucket(None).await;
    // Version 2 refused, version 1 found in the history read by the ARN (not the notify-only
    // stand-in for a parameter without a valid version).
    let r = cold.one(&direct(&bucket)).await;
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert_eq!(f.bucket_flags(&bucket).await, Some(ALL_ON));
    assert!(
        cold.called("ssm:GetParameterHistory"),
        "{:?}",
        cold.calls.calls()
    );
}

#[tokio::test]
async fn organizational_units_are_read_once_per_account_and_per_ou() {
    use aws_sdk_organizations::types::OrganizationFeatureSet;
    use remediation::governance::{Governance, GovernanceSettings};

    // Its own management account: the module's other organization test has the default one's.
    // (`AwsClients::organizations` is the function's home account's client: built here from the
    // management account's credentials instead.)
    let f = fixture().await;
    let management = integration_tests::admin(&f.plain, "444455556666", REGION).await;
    let calls = Recorder::new();
    let organizations = |recorded: bool| {
        let mut config = aws_sdk_organizations::config::Builder::from(management.sdk_config());
        if recorded {
            config.push_interceptor(calls.interceptor());
        }
        aws_sdk_organizations::Client::from_conf(config.build())
    };
    let org = organizations(false);
    org.create_organization()
        .feature_set(OrganizationFeatureSet::All)
        .send()
        .await
        .expect("organization");
    let root = org.list_roots().send().await.expect("roots").roots()[0]
        .id()
        .expect("root id")
        .to_owned();
    let ou = |name: &'static str, parent: String| {
        let org = org.clone();
        async move {
            org.create_organizational_unit()
                .parent_id(parent)
                .name(name)
                .send()
                .await
                .expect("OU")
                .organizational_unit()
                .and_then(|u| u.id())
                .expect("OU id")
                .to_owned()
        }
    };
    let upper = ou("upper", root.clone()).await;
    let lower = ou("lower", upper.clone()).await;
    let mut accounts = Vec::new();
    for name in ["ou-cache-a", "ou-cache-b"] {
        let id = org
            .create_account()
            .email(format!("{name}@example.com"))
            .account_name(name)
            .send()
            .await
            .expect("account")
            .create_account_status()
            .and_then(|s| s.account_id())
            .expect("account id")
            .to_owned();
        org.move_account()
            .account_id(&id)
            .source_parent_id(&root)
            .destination_parent_id(&lower)
            .send()
            .await
            .expect("move");
        accounts.push(id);
    }

    let governance = Governance::new(
        GovernanceSettings {
            parameter: Some(f.parameter.clone()),
            ..GovernanceSettings::default()
        },
        vec![CONTROL],
        f.plain.ssm(),
        f.plain.dynamodb(),
        organizations(true),
    );
    let list_parents = || {
        calls
            .calls()
            .iter()
            .filter(|c| *c == "organizations:ListParents")
            .count()
    };
    let path = vec![lower.clone(), upper.clone(), root.clone()];
    assert_eq!(
        governance
            .organizational_units(&accounts[0])
            .await
            .expect("OUs"),
        path
    );
    assert_eq!(list_parents(), 3);
    // Another account of the same OU: only its own parent is asked for.
    assert_eq!(
        governance
            .organizational_units(&accounts[1])
            .await
            .expect("OUs"),
        path
    );
    assert_eq!(list_parents(), 4, "{:?}", calls.calls());
    // Asked again within 15 minutes: nothing.
    assert_eq!(
        governance
            .organizational_units(&accounts[0])
            .await
            .expect("OUs"),
        path
    );
    assert_eq!(list_parents(), 4, "{:?}", calls.calls());
}
