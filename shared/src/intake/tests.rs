//! Routing the S3 function's sample events with its specs alone (no client, no AWS call).

use super::*;
use crate::control::ControlSpec;
use crate::controls::s3_public_access::{ACCOUNT_SPEC, BUCKET_SPEC};
use serde_json::json;

/// The S3 function's specs, in either order: routing must not depend on it.
fn controls() -> Vec<&'static ControlSpec> {
    vec![&BUCKET_SPEC, &ACCOUNT_SPEC]
}

fn scope() -> Scope {
    Scope::new("123456789012", "us-east-1")
}

fn event(name: &str) -> Value {
    let path = format!(
        "{}/../events/s3-public-access-block/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn parse_file(name: &str) -> Intake {
    parse(&event(name), &controls(), &scope()).unwrap()
}

fn targets(intake: &Intake) -> Vec<(&'static str, String, &'static str, bool)> {
    match &intake.work {
        Work::Targets(t) => t
            .iter()
            .map(|t| (t.control, t.resource.arn.clone(), t.action, t.left_scope))
            .collect(),
        other => panic!("expected targets, got {other:?}"),
    }
}

const BUCKET: &str = "s3-bucket-public-access-block";
const ACCOUNT: &str = "s3-account-public-access-block";
const BUCKET_ARN: &str = "arn:aws:s3:::ai-training-data-example";
const ACCOUNT_ARN: &str = "arn:aws:s3::123456789012:account";

#[test]
fn cloudtrail_events_name_the_bucket_and_the_principal() {
    let i = parse_file("cloudtrail-delete-bucket-public-access-block.json");
    assert_eq!(
        targets(&i),
        vec![(BUCKET, BUCKET_ARN.to_owned(), "remediate", false)]
    );
    assert_eq!(
        i.trigger.to_string(),
        "cloudtrail:DeleteBucketPublicAccessBlock"
    );
    assert_eq!(
        i.trigger.principal.as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/DataScientist/alice")
    );
    assert_eq!(i.trigger.source_ip.as_deref(), Some("203.0.113.7"));
    assert!(i.config_rule.is_none() && !i.dry_run);
    let a = parse_file("cloudtrail-delete-account-public-access-block.json");
    assert_eq!(
        targets(&a),
        vec![(ACCOUNT, ACCOUNT_ARN.to_owned(), "remediate", false)]
    );
}

#[test]
fn failed_and_unrelated_calls_are_ignored() {
    for name in [
        "cloudtrail-failed-call.json",
        "cloudtrail-other-event.json",
        "securityhub-s3-8-passed.json",
    ] {
        assert!(matches!(parse_file(name).work, Work::Ignore(_)), "{name}");
    }
}

#[test]
fn config_shapes() {
    let change = parse_file("config-compliance-change-account.json");
    assert_eq!(
        targets(&change),
        vec![(ACCOUNT, ACCOUNT_ARN.to_owned(), "remediate", false)]
    );
    for name in [
        "config-rule-change-notification.json",
        "config-rule-oversized-notification.json",
    ] {
        let i = parse_file(name);
        assert_eq!(
            targets(&i),
            vec![(BUCKET, BUCKET_ARN.to_owned(), "remediate", false)],
            "{name}"
        );
        let c = i.config_rule.unwrap();
        assert_eq!(c.ordering_time.as_deref(), Some("2026-11-26T10:02:11.000Z"));
        assert_eq!(c.rule_name, "ai-guard-s3-public-access");
    }
    let periodic = parse_file("config-rule-periodic.json");
    assert_eq!(periodic.work, Work::Sweep(vec![BUCKET, ACCOUNT]));
    assert_eq!(
        periodic.config_rule.unwrap().ordering_time.as_deref(),
        Some("2026-11-26T10:00:00.000Z")
    );
    let mut left = event("config-rule-change-notification.json");
    left["eventLeftScope"] = json!(true);
    let i = parse(&left, &controls(), &scope()).unwrap();
    assert!(targets(&i)[0].3);
}

#[test]
fn security_hub_findings_are_deduplicated_and_routed_by_type() {
    let mut e = event("securityhub-s3-8-failed.json");
    let finding = e["detail"]["findings"][0].clone();
    let mut s3_2 = finding.clone();
    s3_2["Compliance"]["SecurityControlId"] = json!("S3.2");
    e["detail"]["findings"] = json!([finding, s3_2]);
    let i = parse(&e, &controls(), &scope()).unwrap();
    assert_eq!(
        targets(&i),
        vec![(BUCKET, BUCKET_ARN.to_owned(), "remediate", false)]
    );
    assert_eq!(i.trigger.to_string(), "security-hub:S3.8,S3.2");
    let account = parse_file("securityhub-s3-1-account.json");
    assert_eq!(
        targets(&account),
        vec![(ACCOUNT, ACCOUNT_ARN.to_owned(), "remediate", false)]
    );
}

#[test]
fn direct_payloads_route_by_type_or_identifier() {
    let p = |v: Value| parse(&v, &controls(), &scope());
    assert_eq!(
        targets(&p(json!({"resourceId": "123456789012"})).unwrap())[0].0,
        ACCOUNT
    );
    assert_eq!(
        targets(&p(json!({"resourceId": "data-bucket"})).unwrap())[0].0,
        BUCKET
    );
    // A bucket whose name is 12 digits needs its type (or its ARN).
    let digits =
        p(json!({"resourceId": "123456789012", "resourceType": "AWS::S3::Bucket"})).unwrap();
    assert_eq!(targets(&digits)[0].1, "arn:aws:s3:::123456789012");
    assert!(
        p(json!({"resourceId": "x", "dryRun": true})).is_err(),
        "too short a name"
    );
    assert!(
        p(json!({"resourceId": "abc", "dryRun": true}))
            .unwrap()
            .dry_run
    );
    let sh_account = p(json!({"resourceId": "AWS::::Account:123456789012"})).unwrap();
    assert_eq!(targets(&sh_account)[0].1, ACCOUNT_ARN);
    assert_eq!(
        p(json!({"resourceId": "arn:aws:s3::210987654321:account"})).unwrap_err(),
        IntakeError::ForeignAccount {
            event_account: "210987654321".into(),
            own_account: "123456789012".into()
        }
    );
}

#[test]
fn relayed_events_of_other_accounts_and_regions_are_ignored_not_errors() {
    let ignored = |e: &Value| match parse(e, &controls(), &scope()) {
        Ok(Intake {
            work: Work::Ignore(reason),
            ..
        }) => reason,
        other => panic!("expected Ignore, got {other:?}"),
    };
    // A Security Hub administrator account's feed: a member's finding.
    let mut member = event("securityhub-s3-8-failed.json");
    member["detail"]["findings"][0]["AwsAccountId"] = json!("210987654321");
    assert!(ignored(&member).contains("other accounts or regions"));
    // An aggregation region's feed: a linked region's finding (the bucket ARN has no region).
    let mut linked = event("securityhub-s3-8-failed.json");
    linked["detail"]["findings"][0]["Region"] = json!("eu-west-1");
    assert!(ignored(&linked).contains("other accounts or regions"));
    let mut linked_resource = event("securityhub-s3-8-failed.json");
    linked_resource["detail"]["findings"][0]["Resources"][0]["Region"] = json!("eu-west-1");
    ignored(&linked_resource);
    // A mixed batch keeps this account's finding.
    let mut mixed = event("securityhub-s3-8-failed.json");
    let own = mixed["detail"]["findings"][0].clone();
    mixed["detail"]["findings"] = json!([member["detail"]["findings"][0].clone(), own]);
    assert_eq!(
        targets(&parse(&mixed, &controls(), &scope()).unwrap()),
        vec![(BUCKET, BUCKET_ARN.to_owned(), "remediate", false)]
    );
    // A forwarding bus: another account's CloudTrail event; another region's call.
    let mut forwarded = event("cloudtrail-delete-bucket-public-access-block.json");
    forwarded["account"] = json!("210987654321");
    assert!(ignored(&forwarded).contains("account 210987654321"));
    let mut other_region = event("cloudtrail-delete-account-public-access-block.json");
    other_region["detail"]["awsRegion"] = json!("eu-west-1");
    assert!(ignored(&other_region).contains("region eu-west-1"));
    let mut change = event("config-compliance-change-bucket.json");
    change["detail"]["awsRegion"] = json!("eu-west-1");
    ignored(&change);
    // A direct payload is a request, not a relay: naming another account is an error.
    assert!(parse(
        &json!({"resourceId": "arn:aws:s3::210987654321:account"}),
        &controls(),
        &scope()
    )
    .is_err());
}

#[test]
fn scheduled_event_is_a_sweep() {
    let i = parse_file("scheduled-sweep.json");
    assert_eq!(i.work, Work::Sweep(vec![BUCKET, ACCOUNT]));
    assert_eq!(
        i.trigger.to_string(),
        "schedule:ai-guard-s3-public-access-block-sweep"
    );
}

#[test]
fn a_direct_payload_may_name_the_control_else_runs_every_control_of_its_resource() {
    let p = |v: Value| parse(&v, &controls(), &scope());
    let named = p(json!({"resourceId": "123456789012", "control": BUCKET})).unwrap();
    assert_eq!(targets(&named)[0].0, BUCKET);
    assert!(matches!(
        p(json!({"resourceId": "x-bucket", "control": "nope"})),
        Err(IntakeError::UnknownControl { .. })
    ));
    // Two controls of one type: a bare resource runs both, one target each (as a CloudTrail event
    // for it would).
    static TLS: ControlSpec = ControlSpec {
        id: "s3-bucket-tls-only",
        ..BUCKET_SPEC
    };
    let two: Vec<&'static ControlSpec> = vec![&BUCKET_SPEC, &TLS];
    let both = parse(&json!({"resourceId": "x-bucket"}), &two, &scope()).unwrap();
    assert_eq!(
        targets(&both),
        vec![
            (
                BUCKET,
                "arn:aws:s3:::x-bucket".to_owned(),
                "remediate",
                false
            ),
            (
                "s3-bucket-tls-only",
                "arn:aws:s3:::x-bucket".to_owned(),
                "remediate",
                false
            ),
        ]
    );
    // An action only one of them has picks that one.
    static ROTATE: ControlSpec = ControlSpec {
        id: "s3-bucket-rotate",
        actions: &["remediate", "rotate-now"],
        ..BUCKET_SPEC
    };
    let three: Vec<&'static ControlSpec> = vec![&BUCKET_SPEC, &TLS, &ROTATE];
    let picked = parse(
        &json!({"resourceId": "x-bucket", "action": "rotate-now"}),
        &three,
        &scope(),
    )
    .unwrap();
    assert_eq!(targets(&picked)[0].0, "s3-bucket-rotate");
    assert_eq!(targets(&picked).len(), 1);
    // An id that fits resources of different types must say which.
    static ACCOUNT_LIKE: ControlSpec = ControlSpec {
        id: "any-name",
        resource_type: "AWS::Other::Thing",
        ..BUCKET_SPEC
    };
    let mixed: Vec<&'static ControlSpec> = vec![&BUCKET_SPEC, &ACCOUNT_LIKE];
    let err = parse(&json!({"resourceId": "x-bucket"}), &mixed, &scope()).unwrap_err();
    assert!(matches!(err, IntakeError::AmbiguousControl { .. }), "{err}");
    assert!(err.to_string().contains("add `resourceType`"), "{err}");
    let t = parse(
        &json!({"resourceId": "x-bucket", "control": "s3-bucket-tls-only"}),
        &two,
        &scope(),
    )
    .unwrap();
    assert_eq!(targets(&t)[0].0, "s3-bucket-tls-only");
}

#[test]
fn direct_payloads_may_say_where_the_resource_is_and_must_be_here() {
    let here = json!({"resourceId": "ai-b", "resourceType": "AWS::S3::Bucket",
        "accountId": "123456789012", "region": "us-east-1"});
    let i = parse(&here, &controls(), &scope()).unwrap();
    assert_eq!(
        targets(&i),
        vec![(BUCKET, "arn:aws:s3:::ai-b".to_owned(), "remediate", false)]
    );
    for (elsewhere, says) in [
        (
            json!({"resourceId": "ai-b", "accountId": "210987654321"}),
            "210987654321",
        ),
        (
            json!({"resourceId": "ai-b", "region": "eu-west-1"}),
            "eu-west-1",
        ),
        (json!({"resourceId": "ai-b", "accountId": "12345"}), "12345"),
    ] {
        let err = parse(&elsewhere, &controls(), &scope()).unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
    }
}

#[test]
fn ocsf_findings_route_like_asff_ones_side_by_side() {
    for (asff, ocsf, control, arn) in [
        (
            "securityhub-s3-8-failed.json",
            "securityhub-v2-s3-8-failed.json",
            BUCKET,
            BUCKET_ARN,
        ),
        (
            "securityhub-s3-1-account.json",
            "securityhub-v2-s3-1-account.json",
            ACCOUNT,
            ACCOUNT_ARN,
        ),
    ] {
        let (a, o) = (parse_file(asff), parse_file(ocsf));
        assert_eq!(targets(&a), targets(&o), "{ocsf}");
        assert_eq!(
            targets(&o),
            vec![(control, arn.to_owned(), "remediate", false)]
        );
        assert_eq!(a.trigger.to_string(), o.trigger.to_string());
        assert_eq!(o.findings.len(), 1);
        assert!(matches!(
            &o.findings[0].1.key,
            crate::findings::FindingKey::Ocsf { account, .. } if account == "123456789012"
        ));
        assert_eq!(o.findings[0].1.workflow.as_deref(), Some("New"));
    }
    // Another account's or region's finding (an administrator's feed): ignored, not an error.
    for (pointer, value) in [
        ("/cloud/account/uid", "210987654321"),
        ("/cloud/region", "eu-west-1"),
    ] {
        let mut e = event("securityhub-v2-s3-8-failed.json");
        if let Some(v) = e["detail"]["findings"][0].pointer_mut(pointer) {
            *v = json!(value);
        }
        assert!(matches!(
            parse(&e, &controls(), &scope()).unwrap().work,
            Work::Ignore(_)
        ));
    }
    // Passed, or resolved by a human: left alone.
    let mut passed = event("securityhub-v2-s3-8-failed.json");
    passed["detail"]["findings"][0]["compliance"]["status"] = json!("Pass");
    passed["detail"]["findings"][0]["compliance"]["status_id"] = json!(1);
    let mut resolved = event("securityhub-v2-s3-8-failed.json");
    resolved["detail"]["findings"][0]["status"] = json!("Resolved");
    resolved["detail"]["findings"][0]["status_id"] = json!(4);
    for e in [passed, resolved] {
        assert!(matches!(
            parse(&e, &controls(), &scope()).unwrap().work,
            Work::Ignore(_)
        ));
    }
}

#[test]
fn a_security_hub_custom_action_approves_the_findings_resources() {
    let i = parse_file("securityhub-custom-action-approve.json");
    assert_eq!(
        targets(&i),
        vec![(BUCKET, BUCKET_ARN.to_owned(), "remediate", false)]
    );
    assert_eq!(
        i.approved_by.as_deref(),
        Some("Security Hub custom action `ai-guard approve`")
    );
    assert_eq!(
        i.trigger.to_string(),
        "security-hub-action:ai-guard approve"
    );
    // An imported finding approves nothing.
    assert_eq!(parse_file("securityhub-s3-8-failed.json").approved_by, None);
    // Nor does a direct payload unless it says who approves.
    assert_eq!(parse_file("direct-bucket.json").approved_by, None);
}

#[test]
fn an_approver_name_is_bounded() {
    let mut payload = event("direct-bucket.json");
    payload["approvedBy"] = json!("a".repeat(257));
    let err = parse(&payload, &controls(), &scope()).unwrap_err();
    assert!(err.to_string().contains("approvedBy"), "{err}");
    payload["approvedBy"] = json!("  alice  ");
    let intake = parse(&payload, &controls(), &scope()).unwrap();
    assert_eq!(intake.approved_by.as_deref(), Some("alice"));
}
