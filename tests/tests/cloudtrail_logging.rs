//! `cloudtrail-logging` against the emulator (extended with AWS's default selector for a new trail
//! and its validation of event selectors): a stopped trail is started, narrowed management events
//! record read and write again, Bedrock data events are added as advanced selectors (the owner's
//! converted and kept), a deleted guarded trail is failed and never recreated, and every trigger
//! reaches the control. Each test guards its own trails (`GUARDED_TRAILS`).

use aws_sdk_cloudtrail::types::{DataResource, EventSelector, ReadWriteType};
use integration_tests::{aws, env, events, settings, unique, Emulator, Recorder};
use remediation::clients::AwsClients;
use remediation::{functions, Engine, EngineError, Outcome, Response};
use serde_json::Value;

const CONTROL: &str = "cloudtrail-logging";

struct Fixture {
    engine: Engine,
    calls: Recorder,
    cloudtrail: aws_sdk_cloudtrail::Client,
    trail: String,
}

/// A logging trail (to its own bucket) guarded by a fresh engine with `pairs`.
async fn fixture(pairs: &[(&str, &str)]) -> Fixture {
    Emulator::get();
    let plain = AwsClients::load(&settings(&[])).await;
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
    let engine = functions::cloudtrail_logging(s.clone(), &env(&all), &aws(&s, &calls).await)
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
    let s3_data = DataResource::builder()
        .r#type("AWS::S3::Object")
        .values("arn:aws:s3:::training-data/")
        .build();
    f.cloudtrail
        .put_event_selectors()
        .trail_name(&f.trail)
        .event_selectors(
            EventSelector::builder()
                .read_write_type(ReadWriteType::WriteOnly)
                .include_management_events(true)
                .data_resources(s3_data)
                .build(),
        )
        .send()
        .await
        .expect("narrow");
    let r = f.ok(&event("cloudtrail-put-event-selectors.json")).await;
    assert_eq!(only(&r).outcome, Outcome::Remediated, "{r:?}");
    let after = f.selectors().await;
    let s = &after.event_selectors()[0];
    assert_eq!(s.read_write_type(), Some(&ReadWriteType::All));
    assert_eq!(
        s.data_resources()[0].values(),
        ["arn:aws:s3:::training-data/"]
    );
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
    f.cloudtrail
        .put_event_selectors()
        .trail_name(&f.trail)
        .event_selectors(
            EventSelector::builder()
                .read_write_type(ReadWriteType::All)
                .include_management_events(true)
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
        .expect("owner's selectors");
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
