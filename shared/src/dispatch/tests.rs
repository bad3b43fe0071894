//! The dispatcher with a fake control (no AWS call): grouping by account and region, scope
//! filtering, Security Hub feeds of several accounts, and a function without a hub.

use super::*;
use crate::controls::s3_public_access::{ACCOUNT_SPEC, BUCKET_SPEC};
use crate::intake::Work;
use crate::outcome::Outcome;
use crate::pipeline::{DynControl, Evaluation, Request};
use crate::resource::Resource;
use crate::settings::Settings;
use crate::Response;

const OWN: &str = "111111111111";
const MEMBER: &str = "222222222222";
const OUTSIDER: &str = "333333333333";
const REGION: &str = "us-east-1";
const OTHER_REGION: &str = "eu-west-1";

/// A control that finds every resource compliant, and lists one bucket.
struct Fake(&'static ControlSpec);

impl DynControl for Fake {
    fn spec(&self) -> &'static ControlSpec {
        self.0
    }

    fn list<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, Result<Vec<Resource>, AwsError>> {
        Box::pin(async move { Ok(vec![(self.0.resource)("swept-bucket", scope).unwrap()]) })
    }

    fn evaluate<'a>(&'a self, _: &'a Request<'a>) -> BoxFuture<'a, Evaluation> {
        Box::pin(async { Evaluation::new(Outcome::Compliant, "fine") })
    }
}

fn settings() -> Settings {
    Settings::from_lookup(&|_: &str| None).unwrap()
}

fn engine(region: &str) -> Engine {
    Engine::new(settings(), region, vec![Box::new(Fake(&BUCKET_SPEC))])
}

/// A hub's reach without AWS: these accounts and regions.
struct Scoped {
    accounts: Vec<&'static str>,
    regions: Vec<&'static str>,
    specs: Vec<&'static ControlSpec>,
}

fn scoped() -> Scoped {
    Scoped {
        accounts: vec![OWN, MEMBER],
        regions: vec![REGION, OTHER_REGION],
        specs: vec![&BUCKET_SPEC],
    }
}

impl Reach for Scoped {
    fn home(&self, own: &str) -> Home {
        Home::new(Scope::new(own, REGION)).with_member_role(Some("member".into()))
    }

    fn specs(&self) -> &[&'static ControlSpec] {
        &self.specs
    }

    fn account_id(&self) -> Option<&str> {
        None
    }

    fn outside<'a>(
        &'a self,
        place: &'a Place,
        _own: &'a str,
    ) -> BoxFuture<'a, Result<Option<Outside>, AwsError>> {
        let inside = self.accounts.contains(&place.account.as_str())
            && self.regions.contains(&place.region.as_str());
        let why = (!inside).then(|| Outside::Scope(format!("{place} is not in the hub's scope")));
        Box::pin(std::future::ready(Ok(why)))
    }

    fn places<'a>(&'a self, _own: &'a str) -> BoxFuture<'a, Result<Vec<Place>, AwsError>> {
        let places = self
            .accounts
            .iter()
            .flat_map(|a| self.regions.iter().map(move |r| Place::new(*a, *r)))
            .collect();
        Box::pin(std::future::ready(Ok(places)))
    }

    fn engine<'a>(
        &'a self,
        place: &'a Place,
        _own: &'a str,
    ) -> BoxFuture<'a, Result<EngineRef<'a>, EngineError>> {
        let engine = Arc::new(engine(&place.region));
        Box::pin(std::future::ready(Ok(EngineRef::Shared(engine))))
    }
}

fn finding(id: &str, account: &str, region: &str, bucket: &str) -> Value {
    json!({
        "SchemaVersion": "2018-10-08",
        "Id": id,
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub",
        "AwsAccountId": account,
        "Region": region,
        "Compliance": {"Status": "FAILED", "SecurityControlId": "S3.8"},
        "RecordState": "ACTIVE",
        "Workflow": {"Status": "NEW"},
        "Resources": [{"Type": "AwsS3Bucket", "Id": format!("arn:aws:s3:::{bucket}")}]
    })
}

fn security_hub(findings: Vec<Value>) -> Value {
    json!({
        "version": "0", "id": "e1", "detail-type": "Security Hub Findings - Imported",
        "source": "aws.securityhub", "account": OWN, "region": REGION,
        "time": "2026-11-26T10:00:00Z", "resources": [],
        "detail": {"findings": findings}
    })
}

fn places(records: &[OutcomeRecord]) -> Vec<(String, String, String)> {
    records
        .iter()
        .map(|r| (r.account.clone(), r.region.clone(), r.resource.clone()))
        .collect()
}

fn read(event: &Value, home: &Home) -> Intake {
    match intake::read(event, &[&BUCKET_SPEC, &ACCOUNT_SPEC], home).unwrap() {
        Inbound::Intake(i) => *i,
        other => panic!("expected an intake, got {other:?}"),
    }
}

#[test]
fn a_security_hub_feed_of_two_accounts_is_two_groups_each_with_only_its_findings() {
    let event = security_hub(vec![
        finding("f1", MEMBER, OTHER_REGION, "bucket-1"),
        finding("f2", OUTSIDER, REGION, "bucket-2"),
        finding("f3", MEMBER, OTHER_REGION, "bucket-3"),
    ]);
    let home = Home::new(Scope::new(OWN, REGION));
    let groups = read(&event, &home).split();
    assert_eq!(groups.len(), 2);
    let (first, part) = &groups[0];
    assert_eq!(first, &Place::new(MEMBER, OTHER_REGION));
    let Work::Targets(targets) = &part.work else {
        panic!("{part:?}")
    };
    let arns: Vec<&str> = targets.iter().map(|t| t.resource.arn.as_str()).collect();
    assert_eq!(arns, ["arn:aws:s3:::bucket-1", "arn:aws:s3:::bucket-3"]);
    assert!(targets.iter().all(|t| &t.place == first));
    let ids: Vec<String> = part
        .findings
        .iter()
        .map(|(p, f)| {
            assert_eq!(p, first);
            format!("{:?}", f.key)
        })
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0].contains("f1") && ids[1].contains("f3"), "{ids:?}");
    let (second, part) = &groups[1];
    assert_eq!(second, &Place::new(OUTSIDER, REGION));
    assert_eq!(part.findings.len(), 1);
    assert!(format!("{:?}", part.findings[0].1.key).contains("f2"));
}

#[test]
fn places_come_from_the_events_own_fields() {
    let home = Home::new(Scope::new(OWN, REGION));
    let place = |e: Value| read(&e, &home).place;
    // An EventBridge envelope.
    let ct = json!({"detail-type": "AWS API Call via CloudTrail", "account": MEMBER,
        "region": OTHER_REGION, "source": "aws.s3",
        "detail": {"eventSource": "s3.amazonaws.com", "eventName": "ListBuckets"}});
    assert_eq!(place(ct), Place::new(MEMBER, OTHER_REGION));
    // A Config custom-rule invocation: its account and its configuration item's region.
    let item = json!({"messageType": "ConfigurationItemChangeNotification",
        "configurationItem": {"resourceType": "AWS::S3::Bucket", "resourceId": "bucket-1",
            "awsRegion": OTHER_REGION}})
    .to_string();
    let config = json!({"invokingEvent": item, "accountId": MEMBER, "resultToken": "t", "eventLeftScope": false,
        "configRuleName": "r"});
    assert_eq!(place(config), Place::new(MEMBER, OTHER_REGION));
    // A direct payload: what it says, else its ARN's, else the function's own.
    let said = json!({"resourceId": "bucket-1", "accountId": MEMBER, "region": OTHER_REGION});
    assert_eq!(place(said), Place::new(MEMBER, OTHER_REGION));
    let arn = json!({"resourceId": format!("arn:aws:s3::{MEMBER}:account")});
    assert_eq!(place(arn), Place::new(MEMBER, REGION));
    assert_eq!(
        place(json!({"resourceId": "bucket-1"})),
        Place::new(OWN, REGION)
    );
    // A scheduled event: a sweep of every place in reach.
    let s = json!({"detail-type": "Scheduled Event", "id": "s1", "account": OWN,
        "region": REGION, "source": "aws.events", "resources": [], "detail": {}});
    assert_eq!(read(&s, &home).scheduled.as_deref(), Some("s1"));
}

#[test]
fn sqs_records_are_sweep_jobs_and_nothing_else() {
    let home = Home::new(Scope::new(OWN, REGION));
    let job = json!({"accountId": MEMBER, "region": OTHER_REGION, "control": BUCKET_SPEC.id});
    let e = json!({"Records": [
        {"messageId": "m1", "body": job.to_string(), "eventSource": "aws:sqs",
         "attributes": {"MessageGroupId": MEMBER}},
        {"messageId": "m2", "body": "{}", "eventSource": "aws:sqs"}]});
    let Inbound::Jobs(jobs) = intake::read(&e, &[&BUCKET_SPEC], &home).unwrap() else {
        panic!("expected jobs")
    };
    assert_eq!(
        jobs[0].work,
        Ok((Place::new(MEMBER, OTHER_REGION), BUCKET_SPEC.id))
    );
    assert_eq!(jobs[0].group, MEMBER);
    assert!(jobs[1].work.is_err());
    let s3 = json!({"Records": [{"eventSource": "aws:s3"}]});
    let err = intake::read(&s3, &[&BUCKET_SPEC], &home).unwrap_err();
    assert!(err.to_string().contains("aws:s3"), "{err}");
}

#[tokio::test]
async fn targets_are_grouped_by_account_and_region_and_filtered_by_scope() {
    let reach = scoped();
    let event = security_hub(vec![
        finding("f1", MEMBER, OTHER_REGION, "bucket-1"),
        finding("f2", OUTSIDER, REGION, "bucket-2"),
        finding("f3", OWN, REGION, "bucket-3"),
        finding("f4", MEMBER, "ap-south-1", "bucket-4"),
        finding("f5", MEMBER, OTHER_REGION, "bucket-5"),
    ]);
    let answer = handle(&reach, &event, OWN).await.unwrap();
    assert_eq!(
        places(answer.records()),
        [
            (OWN.into(), REGION.into(), "arn:aws:s3:::bucket-3".into()),
            (
                MEMBER.into(),
                OTHER_REGION.into(),
                "arn:aws:s3:::bucket-1".into()
            ),
            (
                MEMBER.into(),
                OTHER_REGION.into(),
                "arn:aws:s3:::bucket-5".into()
            ),
        ]
    );
    // A request outside the scope is refused, not ignored.
    let direct = json!({"resourceId": "bucket-9", "accountId": OUTSIDER});
    let err = handle(&reach, &direct, OWN).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::Intake(IntakeError::OutOfScope { .. })),
        "{err}"
    );
    assert!(!err.retryable());
    // A sweep covers every place in reach.
    let swept = reach
        .places(OWN)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.account, p.region, "arn:aws:s3:::swept-bucket".to_owned()))
        .collect::<Vec<_>>();
    let scheduled = json!({"detail-type": "Scheduled Event", "id": "s1", "account": OWN,
        "region": REGION, "source": "aws.events", "resources": [], "detail": {}});
    let answer = handle(&reach, &scheduled, OWN).await.unwrap();
    assert_eq!(places(answer.records()), swept);
    // Sweep jobs run where they say, when in reach; others are skipped; one that is not a job is
    // dropped (no retry makes it one) and the jobs after it in its group still run.
    let job = |a: &str, r: &str| {
        json!({"accountId": a, "region": r, "control": BUCKET_SPEC.id}).to_string()
    };
    let e = json!({"Records": [
        {"messageId": "m1", "body": job(MEMBER, OTHER_REGION), "eventSource": "aws:sqs"},
        {"messageId": "m2", "body": job(OUTSIDER, REGION), "eventSource": "aws:sqs"},
        {"messageId": "m3", "body": "nope", "eventSource": "aws:sqs",
         "attributes": {"MessageGroupId": "g"}},
        {"messageId": "m4", "body": job(MEMBER, OTHER_REGION), "eventSource": "aws:sqs",
         "attributes": {"MessageGroupId": "g"}}]});
    let Answer::Jobs { failures, records } = handle(&reach, &e, OWN).await.unwrap() else {
        panic!("expected jobs")
    };
    let swept_there = (
        MEMBER.to_owned(),
        OTHER_REGION.to_owned(),
        "arn:aws:s3:::swept-bucket".to_owned(),
    );
    assert_eq!(places(&records), [swept_there.clone(), swept_there]);
    assert!(failures.batch_item_failures.is_empty());
}

#[tokio::test]
async fn a_function_without_a_hub_is_the_same_dispatcher_with_one_account_and_region() {
    let engine = engine(REGION);
    // Its own finding is acted on; another account's (an administrator's feed) is ignored.
    let event = security_hub(vec![
        finding("f1", MEMBER, REGION, "bucket-1"),
        finding("f2", OWN, REGION, "bucket-2"),
    ]);
    let response = engine.handle(&event, OWN).await.unwrap();
    assert_eq!(
        places(&response.results),
        [(OWN.into(), REGION.into(), "arn:aws:s3:::bucket-2".into())]
    );
    // Another account's relayed event: ignored, no record.
    let relayed = security_hub(vec![finding("f1", MEMBER, REGION, "bucket-1")]);
    assert!(engine
        .handle(&relayed, OWN)
        .await
        .unwrap()
        .results
        .is_empty());
    // A request for another account's or region's resource: refused as before.
    let other = json!({"resourceId": format!("arn:aws:s3::{MEMBER}:account")});
    let two = Engine::new(
        settings(),
        REGION,
        vec![Box::new(Fake(&BUCKET_SPEC)), Box::new(Fake(&ACCOUNT_SPEC))],
    );
    match two.handle(&other, OWN).await {
        Err(EngineError::Intake(IntakeError::ForeignAccount {
            event_account,
            own_account,
        })) => assert_eq!(
            (event_account.as_str(), own_account.as_str()),
            (MEMBER, OWN)
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let elsewhere = json!({"resourceId": "bucket-1", "region": OTHER_REGION});
    let err = engine.handle(&elsewhere, OWN).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::Intake(IntakeError::ForeignRegion { region, .. }) if region == OTHER_REGION),
        "{err}"
    );
    // Its sweep is of its own account and region.
    let scheduled = json!({"detail-type": "Scheduled Event", "id": "s1", "account": OWN,
        "region": REGION, "source": "aws.events", "resources": [], "detail": {}});
    let swept = engine.handle(&scheduled, OWN).await.unwrap();
    assert_eq!(
        places(&swept.results),
        [(
            OWN.into(),
            REGION.into(),
            "arn:aws:s3:::swept-bucket".into()
        )]
    );
    // Another account's schedule, relayed: ignored.
    let mut relayed = scheduled.clone();
    relayed["account"] = json!(MEMBER);
    assert!(engine
        .handle(&relayed, OWN)
        .await
        .unwrap()
        .results
        .is_empty());
}

#[test]
fn merged_runs_keep_every_record_and_tell_the_failures_apart() {
    let record = |resource: &str| OutcomeRecord {
        control: "c",
        resource: resource.into(),
        account: OWN.into(),
        region: REGION.into(),
        outcome: Outcome::Failed,
        actions: vec![],
        trigger: "t".into(),
        dry_run: false,
        detail: String::new(),
        contested: false,
        mode: None,
        limited: false,
        quiet: false,
        notification_failed: false,
        finding_update_failed: 0,
        before: None,
        after: None,
        config_identity: ("T", "id".into()),
    };
    let response = |r: &str| Response {
        results: vec![record(r)],
    };
    let unresolved = |r: &str| EngineError::Unresolved {
        message: format!("{r} failed"),
        response: response(r),
    };
    let merged = merge(vec![
        Ok(response("a")),
        Err(unresolved("b")),
        Err(unresolved("c")),
    ]);
    let Err(EngineError::Unresolved {
        message,
        response: r,
    }) = merged
    else {
        panic!("{merged:?}")
    };
    assert_eq!(message, "b failed");
    assert_eq!(r.results.len(), 3);
    let merged = merge(vec![
        Err(unresolved("a")),
        Err(EngineError::infrastructure("listing failed")),
    ]);
    let Err(e @ EngineError::Infrastructure { .. }) = merged else {
        panic!("{merged:?}")
    };
    assert_eq!(e.to_string(), "listing failed");
    assert_eq!(e.response().map(|r| r.results.len()), Some(1));
    assert!(e.retryable());
    assert!(merge(vec![]).unwrap().results.is_empty());
}
