//! `cloudtrail-logging` against the emulator (extended with AWS's default selector for a new trail,
//! its validation of event selectors — CloudTrail's 500-value quota, its documented data-event
//! resource types — and its home-region rule for trail writes): a stopped trail is started, and
//! started even when its selectors cannot be written; narrowed management events record read and
//! write again without widening the data events the same selector records; Bedrock data events are
//! added as advanced selectors (the owner's converted and kept); a deleted guarded trail is failed
//! and never recreated; a multi-Region trail is judged in its home region only; without
//! `GUARDED_TRAILS`, a data-events-only trail is never given a billed copy of management events;
//! and every trigger reaches the control. Most tests guard their own trails (`GUARDED_TRAILS`); the
//! ones without it use an account of their own, whose trails are theirs alone.

use aws_sdk_cloudtrail::error::ProvideErrorMetadata;
use aws_sdk_cloudtrail::types::{
    AdvancedEventSelector, AdvancedFieldSelector, DataResource, EventSelector, ReadWriteType,
};
use integration_tests::{
    admin, emulator, env, events, settings, unique, Recorder, ACCOUNT, REGION,
};
use remediation::{functions, Engine, EngineError, Outcome, Response};
use serde_json::{json, Value};

const CONTROL: &str = "cloudtrail-logging";
const OTHER_REGION: &str = "eu-west-1";

struct Fixture {
    engine: Engine,
    calls: Recorder,
    cloudtrail: aws_sdk_cloudtrail::Client,
    trail: String,
}

/// A logging trail (to its own bucket) guarded by a fresh engine with `pairs`.
async fn fixture(pairs: &[(&str, &str)]) -> Fixture {
    let plain = emulator!().clients(&settings(&[])).await;
    let trail = unique("ai-audit");
    let bucket = unique("trail-logs");
    plain
        .s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let cloudtrail = plain.cloudtrail();
    cloudtrail
        .create_trail()
        .name(&trail)
        .s3_bucket_name(&bucket)
        .is_multi_region_trail(true)
        .send()
        .await
        .expect("trail");
    cloudtrail
        .start_logging()
        .name(&trail)
        .send()
        .await
        .expect("start");
    let mut all: Vec<(&str, &str)> = pairs.to_vec();
    all.push(("GUARDED_TRAILS", &trail));
    let calls = Recorder::new();
    let s = settings(&all);
    let engine =
        functions::cloudtrail_logging(s.clone(), &env(&all), &emulator!().aws(&s, &calls).await)
            .expect("engine");
    Fixture {
        engine,
        calls,
        cloudtrail,
        trail,
    }
}

impl Fixture {
    async fn logging(&self) -> bool {
        self.cloudtrail
            .get_trail_status()
            .name(&self.trail)
            .send()
            .await
            .expect("status")
            .is_logging()
            .unwrap_or(false)
    }

    async fn selectors(
        &self,
    ) -> aws_sdk_cloudtrail::operation::get_event_selectors::GetEventSelectorsOutput {
        self.cloudtrail
            .get_event_selectors()
            .trail_name(&self.trail)
            .send()
            .await
            .expect("selectors")
    }

    async fn ok(&self, event: &Value) -> Response {
        integration_tests::handled(&self.engine, &self.calls, event).await
    }
}

fn event(name: &str) -> Value {
    events::load(&format!("cloudtrail-logging/{name}"), &[])
}

fn only(r: &Response) -> &remediation::OutcomeRecord {
    assert_eq!(r.results.len(), 1, "{r:?}");
    &r.results[0]
}

#[tokio::test]
async fn a_stopped_trail_is_started_and_verified() {
    let f = fixture(&[]).await;
    let compliant = f.ok(&event("scheduled-sweep.json")).await;
    assert_eq!(
        only(&compliant).outcome,
        Outcome::Compliant,
        "{compliant:?}"
    );
    f.cloudtrail
        .stop_logging()
        .name(&f.trail)
        .send()
        .await
        .expect("stop");
    let r = f.ok(&event("cloudtrail-stop-logging.json")).await;
    let rec = only(&r);
    assert_eq!(
        (rec.control, rec.outcome),
        (CONTROL, Outcome::Remediated),
        "{rec:?}"
    );
    assert_eq!(rec.actions, vec!["StartLogging"]);
    assert!(rec.detail.contains("not logging"), "{}", rec.detail);
    assert!(f.logging().await);
    assert_eq!(
        f.calls.calls(),
        [
            "cloudtrail:DescribeTrails",
            "cloudtrail:GetTrailStatus",
            "cloudtrail:GetEventSelectors",
            "cloudtrail:StartLogging",
            "cloudtrail:DescribeTrails",
            "cloudtrail:GetTrailStatus",
            "cloudtrail:GetEventSelectors"
        ]
    );
}

#[tokio::test]
async fn write_only_management_events_record_read_and_write_again_keeping_data_selectors() {
    let f = fixture(&[]).await;
    basic_s3_selector(&f.cloudtrail, &f.trail, ReadWriteType::WriteOnly, true).await;
    let r = f.ok(&event("cloudtrail-put-event-selectors.json")).await;
    assert_eq!(only(&r).outcome, Outcome::Remediated, "{r:?}");
    let after = f.selectors().await;
    // A basic selector's ReadWriteType applies to its data resources too: the owner's selector is
    // kept as it was (S3 writes only — widening it would log every GetObject, a cost they did not
    // choose), and management events are recorded by a selector of their own.
    let selectors = after.event_selectors();
    assert_eq!(selectors.len(), 2, "{selectors:?}");
    let owners = &selectors[0];
    assert_eq!(owners.read_write_type(), Some(&ReadWriteType::WriteOnly));
    assert_eq!(
        owners.data_resources()[0].values(),
        ["arn:aws:s3:::training-data/"]
    );
    let management = &selectors[1];
    assert_eq!(management.read_write_type(), Some(&ReadWriteType::All));
    assert_eq!(management.include_management_events(), Some(true));
    assert!(management.data_resources().is_empty(), "{management:?}");
    // Then compliant.
    let again = f.ok(&event("scheduled-sweep.json")).await;
    assert_eq!(only(&again).outcome, Outcome::Compliant, "{again:?}");
}

#[tokio::test]
async fn bedrock_data_events_are_added_as_advanced_selectors_keeping_the_owners() {
    let f = fixture(&[(
        "CLOUDTRAIL_BEDROCK_DATA_EVENTS",
        "AWS::Bedrock::Model,AWS::Bedrock::AgentAlias",
    )])
    .await;
    // The guide's basic selector for Bedrock is refused, as AWS refuses it.
    let refused = f
        .cloudtrail
        .put_event_selectors()
        .trail_name(&f.trail)
        .event_selectors(
            EventSelector::builder()
                .read_write_type(ReadWriteType::All)
                .include_management_events(true)
                .data_resources(
                    DataResource::builder()
                        .r#type("AWS::Bedrock::*")
                        .values("arn:aws:bedrock:*")
                        .build(),
                )
                .build(),
        )
        .send()
        .await;
    assert!(
        refused.is_err(),
        "basic selectors cannot name Bedrock data resources"
    );
    basic_s3_selector(&f.cloudtrail, &f.trail, ReadWriteType::All, true).await;
    let r = f.ok(&event("direct.json")).await;
    let rec = only(&r);
    assert_eq!(
        (rec.outcome, rec.actions.clone()),
        (Outcome::Remediated, vec!["PutEventSelectors"]),
        "{rec:?}"
    );
    let after = f.selectors().await;
    assert!(after.event_selectors().is_empty());
    let advanced = after.advanced_event_selectors();
    let has = |category: &str, ty: Option<&str>| {
        advanced.iter().any(|s| {
            let fields = s.field_selectors();
            fields
                .iter()
                .any(|x| x.field() == "eventCategory" && x.equals() == [category])
                && ty.is_none_or(|t| {
                    fields
                        .iter()
                        .any(|x| x.field() == "resources.type" && x.equals() == [t])
                })
        })
    };
    assert!(has("Management", None));
    assert!(
        has("Data", Some("AWS::S3::Object")),
        "the owner's S3 data events kept"
    );
    assert!(has("Data", Some("AWS::Bedrock::Model")));
    assert!(has("Data", Some("AWS::Bedrock::AgentAlias")));
    // Then compliant: the same selectors are not written again.
    let again = f.ok(&event("scheduled-sweep.json")).await;
    assert_eq!(only(&again).outcome, Outcome::Compliant, "{again:?}");
}

#[tokio::test]
async fn a_deleted_trail_is_failed_and_never_recreated() {
    let f = fixture(&[]).await;
    f.cloudtrail
        .delete_trail()
        .name(&f.trail)
        .send()
        .await
        .expect("delete");
    let err =
        integration_tests::handle(&f.engine, &f.calls, &event("cloudtrail-delete-trail.json"))
            .await
            .expect_err("failed");
    let EngineError::Unresolved { response, .. } = err else {
        panic!("expected a failed record");
    };
    let rec = only(&response);
    assert_eq!(rec.outcome, Outcome::Failed);
    assert!(
        rec.detail.contains(&f.trail) && rec.detail.contains("recreate"),
        "{}",
        rec.detail
    );
    assert!(!f
        .calls
        .calls()
        .iter()
        .any(|c| c.contains("Create") || c.contains("Start")));
}

#[tokio::test]
async fn every_trigger_reaches_the_control() {
    let f = fixture(&[]).await;
    for (file, trigger) in [
        ("cloudtrail-update-trail.json", "cloudtrail:UpdateTrail"),
        (
            "config-compliance-change.json",
            "config-rule:cloudtrail-enabled",
        ),
        ("securityhub-cloudtrail-1.json", "security-hub:CloudTrail.1"),
        (
            "securityhub-v2-cloudtrail-1.json",
            "security-hub:CloudTrail.1",
        ),
        ("direct.json", "direct:remediate"),
        (
            "scheduled-sweep.json",
            "schedule:ai-guard-cloudtrail-logging-sweep",
        ),
    ] {
        f.cloudtrail
            .stop_logging()
            .name(&f.trail)
            .send()
            .await
            .expect("stop");
        let r = f.ok(&event(file)).await;
        let rec = only(&r);
        assert_eq!(
            (rec.outcome, rec.trigger.as_str()),
            (Outcome::Remediated, trigger),
            "{file}"
        );
        assert!(f.logging().await, "{file}");
    }
}

/// An advanced field condition `field` Equals `values` (or StartsWith `starts`).
fn condition(field: &str, equals: &[&str], starts: &[String]) -> AdvancedFieldSelector {
    AdvancedFieldSelector::builder()
        .field(field)
        .set_equals(
            Some(equals.iter().map(|v| v.to_string()).collect()).filter(|v: &Vec<_>| !v.is_empty()),
        )
        .set_starts_with(Some(starts.to_vec()).filter(|v| !v.is_empty()))
        .build()
        .expect("field selector")
}

/// One advanced selector of S3 data events on `prefixes`: `prefixes.len() + 2` values.
fn s3_data_on(prefixes: usize) -> AdvancedEventSelector {
    let prefixes: Vec<String> = (0..prefixes)
        .map(|i| format!("arn:aws:s3:::training-data-{i}/"))
        .collect();
    AdvancedEventSelector::builder()
        .name("S3 data events")
        .field_selectors(condition("eventCategory", &["Data"], &[]))
        .field_selectors(condition("resources.type", &["AWS::S3::Object"], &[]))
        .field_selectors(condition("resources.ARN", &[], &prefixes))
        .build()
        .expect("selector")
}

fn error_code<E: ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or_default().to_owned()
}

/// What the emulator now refuses as CloudTrail does: more than 500 values across a trail's
/// advanced selectors, a `resources.type` CloudTrail does not document, and writes to a trail from
/// a region other than its home region.
#[tokio::test]
async fn the_emulator_refuses_the_selector_writes_and_regions_cloudtrail_refuses() {
    let f = fixture(&[]).await;
    let put = |selectors: Vec<AdvancedEventSelector>| {
        f.cloudtrail
            .put_event_selectors()
            .trail_name(&f.trail)
            .set_advanced_event_selectors(Some(selectors))
            .send()
    };
    put(vec![s3_data_on(498)]).await.expect("500 values");
    let over = put(vec![s3_data_on(499)]).await.expect_err("501 values");
    assert_eq!(error_code(&over), "InvalidEventSelectorsException");
    let typo = AdvancedEventSelector::builder()
        .field_selectors(condition("eventCategory", &["Data"], &[]))
        .field_selectors(condition("resources.type", &["AWS::Bedrock::Modle"], &[]))
        .build()
        .expect("selector");
    let unknown = put(vec![typo]).await.expect_err("unknown resources.type");
    assert_eq!(error_code(&unknown), "InvalidEventSelectorsException");
    // From another region: the trail's writes are refused, by name or by ARN.
    let arn = format!("arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{}", f.trail);
    let elsewhere = emulator!()
        .clients(&settings(&[]))
        .await
        .acting_in(OTHER_REGION, None)
        .cloudtrail();
    for name in [f.trail.as_str(), arn.as_str()] {
        let start = elsewhere.start_logging().name(name).send().await;
        assert_eq!(
            error_code(&start.expect_err("start")),
            "InvalidHomeRegionException"
        );
        let stop = elsewhere.stop_logging().name(name).send().await;
        assert_eq!(
            error_code(&stop.expect_err("stop")),
            "InvalidHomeRegionException"
        );
        let put = elsewhere
            .put_event_selectors()
            .trail_name(name)
            .advanced_event_selectors(s3_data_on(1))
            .send()
            .await;
        assert_eq!(
            error_code(&put.expect_err("put")),
            "InvalidHomeRegionException"
        );
    }
}

/// An attacker stops logging and fills the trail's advanced selectors up to CloudTrail's quota of
/// 500 values: the management selector the fix adds cannot be written, and logging must not wait
/// for it.
#[tokio::test]
async fn a_refused_selector_write_still_leaves_the_trail_logging() {
    let f = fixture(&[]).await;
    f.cloudtrail
        .put_event_selectors()
        .trail_name(&f.trail)
        .advanced_event_selectors(s3_data_on(498))
        .send()
        .await
        .expect("500 values, no management events");
    f.cloudtrail
        .stop_logging()
        .name(&f.trail)
        .send()
        .await
        .expect("stop");
    let err = integration_tests::handle(&f.engine, &f.calls, &event("direct.json"))
        .await
        .expect_err("the selectors cannot be written");
    let EngineError::Unresolved { response, .. } = err else {
        panic!("expected a failed record");
    };
    let rec = only(&response);
    assert_eq!(rec.outcome, Outcome::Failed, "{rec:?}");
    assert!(
        f.logging().await,
        "logging is on although the selectors were refused"
    );
    assert!(
        rec.detail.contains("logging started")
            && rec.detail.contains("PutEventSelectors")
            && rec.detail.contains("500"),
        "{}",
        rec.detail
    );
    let calls = f.calls.calls();
    let at = |op: &str| calls.iter().position(|c| c == op);
    assert!(
        at("cloudtrail:StartLogging") < at("cloudtrail:PutEventSelectors"),
        "{calls:?}"
    );
}

/// A multi-Region trail named in `GUARDED_TRAILS` (by name or ARN) is seen in every region, and
/// CloudTrail accepts its writes in its home region only: elsewhere it is neither "deleted" nor
/// written to, and its home region fixes it.
#[tokio::test]
async fn a_multi_region_trail_is_judged_and_fixed_in_its_home_region_only() {
    let f = fixture(&[]).await;
    f.cloudtrail
        .stop_logging()
        .name(&f.trail)
        .send()
        .await
        .expect("stop");
    let arn = format!("arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{}", f.trail);
    for guarded in [f.trail.as_str(), arn.as_str()] {
        let pairs = [("GUARDED_TRAILS", guarded)];
        let calls = Recorder::new();
        let s = settings(&pairs);
        let elsewhere = emulator!()
            .aws(&s, &calls)
            .await
            .acting_in(OTHER_REGION, None);
        let engine =
            functions::cloudtrail_logging(s.clone(), &env(&pairs), &elsewhere).expect("engine");
        let r = integration_tests::handled(&engine, &calls, &event("direct.json")).await;
        let rec = only(&r);
        assert_eq!(rec.outcome, Outcome::NotApplicable, "{guarded}: {rec:?}");
        assert!(
            rec.detail.contains(&f.trail) && rec.detail.contains("home region us-east-1"),
            "{}",
            rec.detail
        );
        assert!(
            !calls
                .calls()
                .iter()
                .any(|c| c.contains("StartLogging") || c.contains("PutEventSelectors")),
            "{:?}",
            calls.calls()
        );
    }
    assert!(!f.logging().await);
    let home = f.ok(&event("direct.json")).await;
    assert_eq!(only(&home).outcome, Outcome::Remediated, "{home:?}");
    assert!(f.logging().await);
}

/// An account of its own (the emulator's state is shared by the tests of a binary, and without
/// `GUARDED_TRAILS` every trail homed in the region is guarded), with a logging trail `name` to a
/// bucket of that account: its administrator's CloudTrail client.
async fn own_account_trail(account: &str, name: &str) -> aws_sdk_cloudtrail::Client {
    let admin = admin(&emulator!().clients(&settings(&[])).await, account, REGION).await;
    let bucket = unique("trail-logs");
    admin
        .s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let cloudtrail = admin.cloudtrail();
    cloudtrail
        .create_trail()
        .name(name)
        .s3_bucket_name(&bucket)
        .send()
        .await
        .expect("trail");
    cloudtrail
        .start_logging()
        .name(name)
        .send()
        .await
        .expect("start");
    cloudtrail
}

/// Make `trail` a data-events-only trail: S3 data events, no management events.
async fn data_only(cloudtrail: &aws_sdk_cloudtrail::Client, trail: &str) {
    basic_s3_selector(cloudtrail, trail, ReadWriteType::All, false).await;
}

/// Gives `trail` one basic selector: S3 object data events under `training-data/`, management
/// events when `management`, both `rw`.
async fn basic_s3_selector(
    cloudtrail: &aws_sdk_cloudtrail::Client,
    trail: &str,
    rw: ReadWriteType,
    management: bool,
) {
    cloudtrail
        .put_event_selectors()
        .trail_name(trail)
        .event_selectors(
            EventSelector::builder()
                .read_write_type(rw)
                .include_management_events(management)
                .data_resources(
                    DataResource::builder()
                        .r#type("AWS::S3::Object")
                        .values("arn:aws:s3:::training-data/")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("the owner's basic selector");
}

/// The control in `account` with `pairs`; its response (failed records included) and its calls.
async fn run_in(account: &str, pairs: &[(&str, &str)]) -> (Response, Vec<String>) {
    let calls = Recorder::new();
    let s = settings(pairs);
    let clients = admin(&emulator!().aws(&s, &calls).await, account, REGION).await;
    let engine = functions::cloudtrail_logging(s.clone(), &env(pairs), &clients).expect("engine");
    let response = match engine
        .handle(&json!({ "resourceId": account }), account)
        .await
    {
        Ok(r) => r,
        Err(EngineError::Unresolved { response, .. }) => response,
        Err(e) => panic!("{e}"),
    };
    (response, calls.calls())
}

/// Whether some selector of the trail `name` records management events.
async fn records_management_events(cloudtrail: &aws_sdk_cloudtrail::Client, name: &str) -> bool {
    let s = cloudtrail
        .get_event_selectors()
        .trail_name(name)
        .send()
        .await
        .expect("selectors");
    s.event_selectors()
        .iter()
        .any(|e| e.include_management_events() == Some(true))
        || s.advanced_event_selectors().iter().any(|a| {
            a.field_selectors()
                .iter()
                .any(|f| f.field() == "eventCategory" && f.equals() == ["Management"])
        })
}

/// Without `GUARDED_TRAILS`, one trail recording the region's management events is enough: a
/// dedicated data-events trail beside it is not given a second, billed copy of them.
#[tokio::test]
async fn a_data_events_trail_is_left_alone_beside_one_recording_management_events() {
    let account = "310000000001";
    let cloudtrail = own_account_trail(account, "main").await;
    own_account_trail(account, "s3-data").await;
    data_only(&cloudtrail, "s3-data").await;
    let (r, calls) = run_in(account, &[]).await;
    let rec = only(&r);
    assert_eq!(rec.outcome, Outcome::Compliant, "{rec:?}");
    assert!(rec.detail.contains("main"), "{}", rec.detail);
    assert!(
        !calls.iter().any(|c| c.contains("PutEventSelectors")),
        "{calls:?}"
    );
    assert!(!records_management_events(&cloudtrail, "s3-data").await);
}

/// Without `GUARDED_TRAILS`, when every trail homed in the region records data events only, none
/// is chosen to bill a copy of management events: the outcome is failed, saying to name one. A
/// stopped one is still started. Named, it is given them.
#[tokio::test]
async fn data_events_trails_alone_are_failed_not_given_billed_management_events() {
    let account = "310000000002";
    let cloudtrail = own_account_trail(account, "s3-data").await;
    data_only(&cloudtrail, "s3-data").await;
    cloudtrail
        .stop_logging()
        .name("s3-data")
        .send()
        .await
        .expect("stop");
    let (r, calls) = run_in(account, &[]).await;
    let rec = only(&r);
    assert_eq!(rec.outcome, Outcome::Failed, "{rec:?}");
    assert!(rec.detail.contains("GUARDED_TRAILS"), "{}", rec.detail);
    assert!(
        !calls.iter().any(|c| c.contains("PutEventSelectors")),
        "{calls:?}"
    );
    let status = cloudtrail
        .get_trail_status()
        .name("s3-data")
        .send()
        .await
        .expect("status");
    assert_eq!(status.is_logging(), Some(true), "started all the same");
    assert!(!records_management_events(&cloudtrail, "s3-data").await);
    // Named in GUARDED_TRAILS, it is the trail that records them.
    let (r, _) = run_in(account, &[("GUARDED_TRAILS", "s3-data")]).await;
    assert_eq!(only(&r).outcome, Outcome::Remediated, "{r:?}");
    assert!(records_management_events(&cloudtrail, "s3-data").await);
}
