//! The Security Hub closed loop against the emulator (BatchUpdateFindings as AWS documents it):
//! a finding whose resource was fixed and verified is `RESOLVED` with a note; one only reported
//! (dry run) or not fixed is `NOTIFIED` with the reason — once: the event Security Hub sends back
//! for that update does not update it again. The same for the new Security Hub's OCSF findings
//! (`BatchUpdateFindingsV2`: Resolved, In Progress), side by side with the ASFF ones.

use aws_sdk_securityhub::types::AwsSecurityFinding;
use integration_tests::{emulator, events, settings, unique, Recorder, ACCOUNT};
use remediation::functions;
use remediation::Outcome;
use serde_json::Value;

const UPDATE: &str = "securityhub:BatchUpdateFindings";

/// The S3.8 sample event naming `bucket`, and the same finding imported into the emulator's hub.
async fn finding_for(bucket: &str) -> (Value, String) {
    let event = events::load(
        "s3-public-access-block/securityhub-s3-8-failed.json",
        &[("ai-training-data-example", bucket)],
    );
    let mut finding = event["detail"]["findings"][0].clone();
    let id = format!("{}-{}", finding["Id"].as_str().unwrap(), bucket);
    finding["Id"] = Value::String(id.clone());
    let mut event = event;
    event["detail"]["findings"][0]["Id"] = Value::String(id.clone());
    let hub = emulator!().clients(&settings(&[])).await.securityhub();
    // The finding as Security Hub holds it, imported through the API.
    let imported: AwsSecurityFinding = AwsSecurityFinding::builder()
        .schema_version("2018-10-08")
        .id(&id)
        .product_arn(finding["ProductArn"].as_str().unwrap())
        .generator_id(finding["GeneratorId"].as_str().unwrap())
        .aws_account_id(ACCOUNT)
        .types("Software and Configuration Checks")
        .created_at("2026-11-26T10:00:00.000Z")
        .updated_at("2026-11-26T10:00:00.000Z")
        .title("S3.8")
        .description("S3 general purpose buckets should block public access")
        .resources(
            aws_sdk_securityhub::types::Resource::builder()
                .r#type("AwsS3Bucket")
                .id(format!("arn:aws:s3:::{bucket}"))
                .build(),
        )
        .build();
    hub.batch_import_findings()
        .findings(imported)
        .send()
        .await
        .expect("import");
    (event, id)
}

fn stored(id: &str) -> (Value, usize) {
    let all = emulator!().harness_get("/_harness/securityhub/findings");
    let finding = all["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["Id"] == id)
        .cloned()
        .unwrap_or(Value::Null);
    let updates = all["updates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["FindingIdentifiers"][0]["Id"] == id)
        .count();
    (finding, updates)
}

#[tokio::test]
async fn a_verified_fix_resolves_its_finding_with_a_note() {
    let s = settings(&[]);
    let calls = Recorder::new();
    let engine =
        functions::s3_public_access_block(s.clone(), &emulator!().aws(&s, &calls).await).unwrap();
    let s3 = emulator!().clients(&settings(&[])).await.s3();
    let bucket = unique("sh-fixed");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let (event, id) = finding_for(&bucket).await;
    let response = engine.handle(&event, ACCOUNT).await.expect("fixed");
    assert_eq!(response.results[0].outcome, Outcome::Remediated);
    assert!(calls.calls().contains(&UPDATE.to_owned()));
    let (finding, updates) = stored(&id);
    assert_eq!(finding["Workflow"]["Status"], "RESOLVED", "{finding}");
    let note = finding["Note"]["Text"].as_str().unwrap();
    assert!(note.contains("remediated"), "{note}");
    assert_eq!(finding["Note"]["UpdatedBy"], "ai-guard");
    assert_eq!(updates, 1);
}

/// A remediation policy that asks Security Hub to be told about findings not fixed
/// (`securityHub.updateFindingsNotFixed`); by default a dry run or `notify` writes nothing there.
async fn telling_policy() -> String {
    let name = format!("/{}/policy", unique("sh-policy"));
    emulator!()
        .clients(&settings(&[]))
        .await
        .ssm()
        .put_parameter()
        .name(&name)
        .value(r#"{"version": 1, "securityHub": {"updateFindingsNotFixed": true}}"#)
        .r#type("String".into())
        .send()
        .await
        .unwrap();
    name
}

#[tokio::test]
async fn a_dry_run_notifies_once_and_the_echoed_event_is_not_updated_again() {
    let s3 = emulator!().clients(&settings(&[])).await.s3();
    let bucket = unique("sh-dry");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let (mut event, id) = finding_for(&bucket).await;
    // By default a dry run tells Security Hub nothing.
    let quiet = settings(&[("DRY_RUN", "true")]);
    let calls = Recorder::new();
    let engine =
        functions::s3_public_access_block(quiet.clone(), &emulator!().aws(&quiet, &calls).await)
            .unwrap();
    let response = engine.handle(&event, ACCOUNT).await.expect("reported");
    assert_eq!(response.results[0].outcome, Outcome::WouldRemediate);
    assert!(!calls.calls().contains(&UPDATE.to_owned()));
    assert_eq!(stored(&id).1, 0);
    // Asked by the policy, it tells once.
    let parameter = telling_policy().await;
    let s = settings(&[("DRY_RUN", "true"), ("POLICY_PARAMETER", &parameter)]);
    let calls = Recorder::new();
    let engine =
        functions::s3_public_access_block(s.clone(), &emulator!().aws(&s, &calls).await).unwrap();
    let response = engine.handle(&event, ACCOUNT).await.expect("reported");
    assert_eq!(response.results[0].outcome, Outcome::WouldRemediate);
    let (finding, updates) = stored(&id);
    assert_eq!(finding["Workflow"]["Status"], "NOTIFIED", "{finding}");
    assert!(finding["Note"]["Text"]
        .as_str()
        .unwrap()
        .contains("would_remediate"));
    assert_eq!(updates, 1);
    // Security Hub sends the updated finding back as a new event (NOTIFIED): it is evaluated
    // again, but not updated again.
    event["detail"]["findings"][0]["Workflow"]["Status"] = Value::String("NOTIFIED".into());
    calls.clear();
    engine.handle(&event, ACCOUNT).await.expect("reported");
    assert!(
        !calls.calls().contains(&UPDATE.to_owned()),
        "{:?}",
        calls.calls()
    );
    assert_eq!(stored(&id).1, 1);
    // A resolved echo is not acted on at all.
    event["detail"]["findings"][0]["Workflow"]["Status"] = Value::String("RESOLVED".into());
    calls.clear();
    let response = engine.handle(&event, ACCOUNT).await.expect("ignored");
    assert!(response.results.is_empty());
    assert!(calls.calls().is_empty());
}

// --- The new Security Hub: OCSF findings ("Findings Imported V2"), BatchUpdateFindingsV2 -------

const UPDATE_V2: &str = "securityhub:BatchUpdateFindingsV2";

/// The S3.8 OCSF sample event naming `bucket`, its finding registered with the emulator's new
/// Security Hub; the finding's `finding_info.uid`.
fn ocsf_finding_for(bucket: &str) -> (Value, String) {
    let mut event = events::load(
        "s3-public-access-block/securityhub-v2-s3-8-failed.json",
        &[("ai-training-data-example", bucket)],
    );
    let finding = &mut event["detail"]["findings"][0];
    let uid = format!(
        "{}-{bucket}",
        finding["finding_info"]["uid"].as_str().unwrap()
    );
    finding["finding_info"]["uid"] = Value::String(uid.clone());
    let product = finding["metadata"]["product"]["uid"].as_str().unwrap();
    emulator!().harness_get(&format!(
        "/_harness/securityhub/v2-findings?account={ACCOUNT}&uid={uid}&product={product}"
    ));
    (event, uid)
}

fn stored_v2(uid: &str) -> (Value, usize) {
    let all = emulator!().harness_get("/_harness/securityhub/v2-findings");
    let finding = all["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["FindingInfoUid"] == uid)
        .cloned()
        .unwrap_or(Value::Null);
    let updates = all["updates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["FindingIdentifiers"][0]["FindingInfoUid"] == uid)
        .count();
    (finding, updates)
}

#[tokio::test]
async fn both_security_hubs_side_by_side_each_finding_resolved_with_its_own_api() {
    let s = settings(&[]);
    let calls = Recorder::new();
    let engine =
        functions::s3_public_access_block(s.clone(), &emulator!().aws(&s, &calls).await).unwrap();
    let s3 = emulator!().clients(&settings(&[])).await.s3();
    let (old, new) = (unique("sh-asff"), unique("sh-ocsf"));
    for bucket in [&old, &new] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let (asff_event, id) = finding_for(&old).await;
    let (ocsf_event, uid) = ocsf_finding_for(&new);

    let response = engine.handle(&ocsf_event, ACCOUNT).await.expect("fixed");
    assert_eq!(response.results[0].outcome, Outcome::Remediated);
    assert_eq!(response.results[0].trigger, "security-hub:S3.8");
    assert!(
        calls.calls().contains(&UPDATE_V2.to_owned()),
        "{:?}",
        calls.calls()
    );
    assert!(!calls.calls().contains(&UPDATE.to_owned()));
    let (finding, updates) = stored_v2(&uid);
    assert_eq!(finding["status_id"], 4, "Resolved: {finding}");
    let comment = finding["comment"].as_str().unwrap();
    assert!(
        comment.starts_with("ai-guard verified") && comment.contains(&new),
        "{comment}"
    );
    assert_eq!(updates, 1);

    calls.clear();
    let response = engine.handle(&asff_event, ACCOUNT).await.expect("fixed");
    assert_eq!(response.results[0].outcome, Outcome::Remediated);
    assert!(calls.calls().contains(&UPDATE.to_owned()));
    assert!(!calls.calls().contains(&UPDATE_V2.to_owned()));
    assert_eq!(stored(&id).0["Workflow"]["Status"], "RESOLVED");
}

#[tokio::test]
async fn an_ocsf_finding_not_fixed_is_told_why_once() {
    let parameter = telling_policy().await;
    let s = settings(&[("DRY_RUN", "true"), ("POLICY_PARAMETER", &parameter)]);
    let calls = Recorder::new();
    let engine =
        functions::s3_public_access_block(s.clone(), &emulator!().aws(&s, &calls).await).unwrap();
    let s3 = emulator!().clients(&settings(&[])).await.s3();
    let bucket = unique("sh-ocsf-dry");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let (mut event, uid) = ocsf_finding_for(&bucket);
    let response = engine.handle(&event, ACCOUNT).await.expect("reported");
    assert_eq!(response.results[0].outcome, Outcome::WouldRemediate);
    let (finding, updates) = stored_v2(&uid);
    assert_eq!(finding["status_id"], 2, "In Progress: {finding}");
    assert!(finding["comment"]
        .as_str()
        .unwrap()
        .contains("would_remediate"));
    assert_eq!(updates, 1);
    // The echo (status In Progress) is evaluated again, not updated again; a resolved one is
    // not acted on at all.
    event["detail"]["findings"][0]["status"] = Value::String("In Progress".into());
    event["detail"]["findings"][0]["status_id"] = 2.into();
    calls.clear();
    engine.handle(&event, ACCOUNT).await.expect("reported");
    assert!(!calls.calls().contains(&UPDATE_V2.to_owned()));
    assert_eq!(stored_v2(&uid).1, 1);
    event["detail"]["findings"][0]["status"] = Value::String("Resolved".into());
    event["detail"]["findings"][0]["status_id"] = 4.into();
    calls.clear();
    let response = engine.handle(&event, ACCOUNT).await.expect("ignored");
    assert!(response.results.is_empty() && calls.calls().is_empty());
}

// --- A refused or unprocessed update: the later requests are still sent, and it is counted ------

/// The metric line's count of findings not updated, and whether it is published as one metric
/// without dimensions (what the template's alarm watches).
fn finding_update_failures(response: &remediation::Response) -> u64 {
    let docs = remediation::metrics::emf(&response.results, 0);
    for doc in &docs {
        let directives = doc["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert!(
            directives.iter().any(|d| d["Namespace"] == "ai-guard"
                && d["Dimensions"] == serde_json::json!([[]])
                && d["Metrics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["Name"] == "finding_update_failed")),
            "finding_update_failed without dimensions: {doc}"
        );
    }
    docs.iter()
        .map(|d| d["finding_update_failed"].as_u64().expect("counted"))
        .sum()
}

#[tokio::test]
async fn a_refused_update_does_not_stop_the_next_and_is_counted() {
    let s = settings(&[]);
    let calls = Recorder::new();
    let engine =
        functions::s3_public_access_block(s.clone(), &emulator!().aws(&s, &calls).await).unwrap();
    let s3 = emulator!().clients(&settings(&[])).await.s3();
    let (refused, accepted, unknown) = (
        unique("sh-refused"),
        unique("sh-accepted"),
        unique("sh-unknown"),
    );
    for bucket in [&refused, &accepted, &unknown] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    // One event, three findings: one whose update IAM refuses (the first request), one Security
    // Hub accepts, one it does not hold (answered in UnprocessedFindings).
    let (mut event, refused_id) = finding_for(&refused).await;
    let (accepted_event, accepted_id) = finding_for(&accepted).await;
    let stranger = events::load(
        "s3-public-access-block/securityhub-s3-8-failed.json",
        &[("ai-training-data-example", &unknown)],
    )["detail"]["findings"][0]
        .clone();
    let findings = event["detail"]["findings"].as_array_mut().unwrap();
    findings.push(accepted_event["detail"]["findings"][0].clone());
    findings.push(stranger);
    emulator!().harness_get(&format!(
        "/_harness/securityhub/deny-updates?id={refused_id}"
    ));

    let response = engine
        .handle(&event, ACCOUNT)
        .await
        .expect("a finding left open is not fatal");
    assert_eq!(response.results.len(), 3, "{:?}", response.results);
    assert!(response
        .results
        .iter()
        .all(|r| r.outcome == Outcome::Remediated));
    // One request per finding (each note names its resource): all three sent.
    let sent = calls.calls().iter().filter(|c| *c == UPDATE).count();
    assert_eq!(sent, 3, "{:?}", calls.calls());
    assert_eq!(stored(&accepted_id).0["Workflow"]["Status"], "RESOLVED");
    let (still_open, updates) = stored(&refused_id);
    assert!(
        still_open["Workflow"].is_null() && still_open["Note"].is_null(),
        "as imported: {still_open}"
    );
    assert_eq!(updates, 0);
    // Two findings not updated (refused, unprocessed): counted for the alarm.
    assert_eq!(finding_update_failures(&response), 2);
}

#[tokio::test]
async fn a_refused_ocsf_update_does_not_stop_the_next_and_is_counted() {
    let s = settings(&[]);
    let calls = Recorder::new();
    let engine =
        functions::s3_public_access_block(s.clone(), &emulator!().aws(&s, &calls).await).unwrap();
    let s3 = emulator!().clients(&settings(&[])).await.s3();
    let (refused, accepted) = (unique("sh-ocsf-refused"), unique("sh-ocsf-accepted"));
    for bucket in [&refused, &accepted] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let (mut event, refused_uid) = ocsf_finding_for(&refused);
    let (accepted_event, accepted_uid) = ocsf_finding_for(&accepted);
    event["detail"]["findings"]
        .as_array_mut()
        .unwrap()
        .push(accepted_event["detail"]["findings"][0].clone());
    emulator!().harness_get(&format!(
        "/_harness/securityhub/deny-updates?id={refused_uid}"
    ));

    let response = engine.handle(&event, ACCOUNT).await.expect("not fatal");
    assert_eq!(response.results.len(), 2, "{:?}", response.results);
    let sent = calls.calls().iter().filter(|c| *c == UPDATE_V2).count();
    assert_eq!(sent, 2, "{:?}", calls.calls());
    assert_eq!(stored_v2(&accepted_uid).0["status_id"], 4);
    let (still_open, updates) = stored_v2(&refused_uid);
    assert_eq!(still_open["status_id"], 1, "{still_open}");
    assert_eq!(updates, 0);
    assert_eq!(finding_update_failures(&response), 1);
}
