//! `guardduty-detector` against the emulator (extended with AWS's one-detector rule, per-feature
//! updates and foundational data sources): a deleted detector is created again, a disabled one
//! enabled, a feature turned off turned back on — each verified — by every trigger; an account
//! managed by a GuardDuty administrator is reported, not fought; dry run writes nothing.
//!
//! One test: the region has one detector, and every step changes it.

use aws_sdk_guardduty::types::{DetectorFeature, DetectorFeatureConfiguration, FeatureStatus};
use integration_tests::{emulator, env, events, settings, Recorder, ACCOUNT};
use remediation::{functions, Engine, Outcome, Response};
use serde_json::Value;

const CONTROL: &str = "guardduty-detector";

async fn engine(pairs: &[(&str, &str)], calls: &Recorder) -> Engine {
    let s = settings(pairs);
    functions::guardduty_detector(s.clone(), &env(pairs), &emulator!().aws(&s, calls).await)
        .expect("engine")
}

/// (detector id, enabled, S3_DATA_EVENTS on) as GuardDuty reports them.
async fn detector(gd: &aws_sdk_guardduty::Client) -> Option<(String, bool, bool)> {
    let ids = gd.list_detectors().send().await.expect("list");
    let id = ids.detector_ids().first()?.clone();
    let d = gd
        .get_detector()
        .detector_id(&id)
        .send()
        .await
        .expect("get");
    let s3 = d.features().iter().any(|f| {
        f.name().map(|n| n.as_str()) == Some("S3_DATA_EVENTS")
            && f.status() == Some(&FeatureStatus::Enabled)
    });
    Some((id, d.status().map(|s| s.as_str()) == Some("ENABLED"), s3))
}

fn only(r: &Response) -> &remediation::OutcomeRecord {
    assert_eq!(r.results.len(), 1, "{r:?}");
    &r.results[0]
}

fn event(name: &str) -> Value {
    events::load(&format!("guardduty-detector/{name}"), &[])
}

#[tokio::test]
async fn the_detector_heals_itself_by_every_trigger() {
    let calls = Recorder::new();
    let guard = engine(&[], &calls).await;
    let gd = emulator!().clients(&settings(&[])).await.guardduty();

    // No detector in the region (deleted): created with the features, verified.
    let r =
        integration_tests::handled(&guard, &calls, &event("cloudtrail-delete-detector.json")).await;
    let rec = only(&r);
    assert_eq!(
        (rec.control, rec.outcome),
        (CONTROL, Outcome::Remediated),
        "{rec:?}"
    );
    assert_eq!(rec.actions, vec!["CreateDetector"]);
    assert_eq!(
        rec.resource,
        format!("arn:aws:guardduty:us-east-1:{ACCOUNT}:detector")
    );
    let (id, enabled, s3) = detector(&gd).await.expect("detector created");
    assert!(enabled && s3);
    assert_eq!(
        calls.calls(),
        [
            "guardduty:ListDetectors",
            "guardduty:CreateDetector",
            "guardduty:ListDetectors",
            "guardduty:GetDetector"
        ]
    );

    // Compliant: two reads.
    let r = integration_tests::handled(&guard, &calls, &event("scheduled-sweep.json")).await;
    assert_eq!(only(&r).outcome, Outcome::Compliant);
    assert_eq!(
        calls.calls(),
        ["guardduty:ListDetectors", "guardduty:GetDetector"]
    );

    // Disabled: a dry run reports it and writes nothing; the fix enables it.
    gd.update_detector()
        .detector_id(&id)
        .enable(false)
        .send()
        .await
        .expect("disable");
    let dry = engine(&[("DRY_RUN", "true")], &calls).await;
    let r =
        integration_tests::handled(&dry, &calls, &event("cloudtrail-update-detector.json")).await;
    assert_eq!(only(&r).outcome, Outcome::WouldRemediate);
    assert!(!detector(&gd).await.expect("detector").1);
    let r =
        integration_tests::handled(&guard, &calls, &event("cloudtrail-update-detector.json")).await;
    let rec = only(&r);
    assert_eq!(
        (rec.outcome, rec.detail.contains("detector disabled")),
        (Outcome::Remediated, true),
        "{rec:?}"
    );
    assert!(detector(&gd).await.expect("detector").1);

    // A feature turned off: back on, the others untouched.
    gd.update_detector()
        .detector_id(&id)
        .features(
            DetectorFeatureConfiguration::builder()
                .name(DetectorFeature::S3DataEvents)
                .status(FeatureStatus::Disabled)
                .build(),
        )
        .send()
        .await
        .expect("feature off");
    for file in [
        "securityhub-guardduty-1.json",
        "securityhub-v2-guardduty-1.json",
        "direct.json",
    ] {
        let r = integration_tests::handled(&guard, &calls, &event(file)).await;
        let rec = only(&r);
        if file == "securityhub-guardduty-1.json" {
            assert_eq!(rec.outcome, Outcome::Remediated, "{rec:?}");
            assert!(rec.detail.contains("S3_DATA_EVENTS"), "{}", rec.detail);
            assert_eq!(rec.trigger, "security-hub:GuardDuty.1");
        } else {
            assert_eq!(rec.outcome, Outcome::Compliant, "{file}: {rec:?}");
        }
        assert!(detector(&gd).await.expect("detector").2, "{file}");
    }

    // An account managed by a GuardDuty administrator: reported (failed, with who), not fought.
    gd.enable_organization_admin_account()
        .admin_account_id("999999999999")
        .send()
        .await
        .expect("administrator");
    gd.update_detector()
        .detector_id(&id)
        .enable(false)
        .send()
        .await
        .expect("disable");
    let err = integration_tests::handle(&guard, &calls, &event("direct.json"))
        .await
        .expect_err("reported as failed");
    let remediation::EngineError::Unresolved { response, .. } = err else {
        panic!("expected a failed record");
    };
    let rec = only(&response);
    assert_eq!(rec.outcome, Outcome::Failed);
    assert!(
        rec.detail.contains("administrator 999999999999"),
        "{}",
        rec.detail
    );
    assert!(!calls
        .calls()
        .contains(&"guardduty:UpdateDetector".to_owned()));
    assert!(
        !detector(&gd).await.expect("detector").1,
        "left to the administrator"
    );
}

/// GuardDuty refuses any CreateDetector/UpdateDetector naming both EKS Runtime Monitoring and
/// Runtime Monitoring (API reference, UpdateDetector): such a setting would make every fix fail,
/// so the function refuses it at start. (In another region: the test above owns us-east-1's
/// detector.)
#[tokio::test]
async fn features_that_exclude_each_other_are_refused_at_start() {
    let both = [(
        "GUARDDUTY_FEATURES",
        "S3_DATA_EVENTS,EKS_RUNTIME_MONITORING,RUNTIME_MONITORING",
    )];
    let s = settings(&both);
    let calls = Recorder::new();
    let err =
        functions::guardduty_detector(s.clone(), &env(&both), &emulator!().aws(&s, &calls).await)
            .err()
            .expect("refused at start");
    assert!(
        err.to_string().contains("GUARDDUTY_FEATURES") && err.to_string().contains("exclude"),
        "{err}"
    );
    assert!(calls.calls().is_empty());
    // The rule the setting check mirrors, as the emulator (and AWS) apply it.
    let gd = emulator!()
        .clients(&settings(&[]))
        .await
        .acting_in("eu-west-3", None)
        .guardduty();
    let feature = |f: &str| {
        DetectorFeatureConfiguration::builder()
            .name(DetectorFeature::from(f))
            .status(FeatureStatus::Enabled)
            .build()
    };
    let refused = gd
        .create_detector()
        .enable(true)
        .features(feature("EKS_RUNTIME_MONITORING"))
        .features(feature("RUNTIME_MONITORING"))
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(gd
        .list_detectors()
        .send()
        .await
        .expect("list")
        .detector_ids()
        .is_empty());
}
