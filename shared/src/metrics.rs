//! Metrics: CloudWatch Embedded Metric Format (EMF) lines, one per control, account and region per
//! invocation, counting outcomes. CloudWatch Logs turns them into metrics (namespace `ai-guard`,
//! dimensions `Control` and `Control`+`Account`+`Region`, one metric per outcome) with no API call
//! from the function.

use serde_json::{json, Map, Value};

use crate::outcome::{Outcome, OutcomeRecord};

/// The CloudWatch namespace of the metrics.
pub const NAMESPACE: &str = "ai-guard";

/// The extra metric counting contested resources.
const CONTESTED: &str = "contested";

/// The extra metric counting notifications that could not be sent (the template alarms on it).
const NOTIFICATION_FAILED: &str = "notification_failed";

const OUTCOMES: [Outcome; 8] = [
    Outcome::Compliant,
    Outcome::Remediated,
    Outcome::WouldRemediate,
    Outcome::Exempt,
    Outcome::NotApplicable,
    Outcome::Gone,
    Outcome::Deferred,
    Outcome::Failed,
];

/// The EMF documents for `records`: one per (control, account, region) present, every outcome
/// counted (zeros too, so alarms on a metric see data).
pub fn emf(records: &[OutcomeRecord], timestamp_ms: u128) -> Vec<Value> {
    let mut groups: Vec<(&'static str, &str, &str)> = records
        .iter()
        .map(|r| (r.control, r.account.as_str(), r.region.as_str()))
        .collect();
    groups.sort_unstable();
    groups.dedup();
    groups
        .into_iter()
        .map(|(control, account, region)| {
            let of_group = |r: &&OutcomeRecord| {
                r.control == control && r.account == account && r.region == region
            };
            let metrics: Vec<Value> = OUTCOMES
                .iter()
                .map(|o| o.as_str())
                .chain([CONTESTED, NOTIFICATION_FAILED])
                .map(|name| json!({"Name": name, "Unit": "Count"}))
                .collect();
            let mut doc = Map::new();
            doc.insert(
                "_aws".to_owned(),
                json!({
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": NAMESPACE,
                        "Dimensions": [["Control"], ["Control", "Account", "Region"]],
                        "Metrics": metrics
                    }]
                }),
            );
            doc.insert("Control".to_owned(), json!(control));
            doc.insert("Account".to_owned(), json!(account));
            doc.insert("Region".to_owned(), json!(region));
            for outcome in OUTCOMES {
                let n = records
                    .iter()
                    .filter(of_group)
                    .filter(|r| r.outcome == outcome)
                    .count();
                doc.insert(outcome.as_str().to_owned(), json!(n));
            }
            let contested = records
                .iter()
                .filter(of_group)
                .filter(|r| r.contested)
                .count();
            doc.insert(CONTESTED.to_owned(), json!(contested));
            let failed = records
                .iter()
                .filter(of_group)
                .filter(|r| r.notification_failed)
                .count();
            doc.insert(NOTIFICATION_FAILED.to_owned(), json!(failed));
            Value::Object(doc)
        })
        .collect()
}

/// Print the EMF lines to stdout, where the Lambda runtime ships them to CloudWatch Logs (nothing
/// for no records).
pub fn publish(records: &[OutcomeRecord]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    for doc in emf(records, now) {
        println!("{doc}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(control: &'static str, outcome: Outcome) -> OutcomeRecord {
        OutcomeRecord {
            control,
            resource: "arn".into(),
            account: "111111111111".into(),
            region: "us-east-1".into(),
            outcome,
            actions: vec![],
            trigger: "t".into(),
            dry_run: false,
            detail: String::new(),
            contested: false,
            notification_failed: false,
            before: None,
            after: None,
            config_identity: ("T", "id".into()),
        }
    }

    #[test]
    fn one_document_per_control_with_every_outcome_counted() {
        let docs = emf(
            &[
                record("b", Outcome::Remediated),
                record("a", Outcome::Failed),
                record("b", Outcome::Remediated),
                record("b", Outcome::Compliant),
            ],
            1_764_150_000_000,
        );
        assert_eq!(docs.len(), 2);
        let b = &docs[1];
        assert_eq!(b["Control"], "b");
        assert_eq!(b["remediated"], 2);
        assert_eq!(b["compliant"], 1);
        assert_eq!(b["failed"], 0);
        let cw = &b["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "ai-guard");
        assert_eq!(
            cw["Dimensions"],
            json!([["Control"], ["Control", "Account", "Region"]])
        );
        assert_eq!(b["Account"], "111111111111");
        assert_eq!(cw["Metrics"].as_array().map(Vec::len), Some(10));
        assert_eq!(b["notification_failed"], 0);
        assert_eq!(b["contested"], 0);
        assert_eq!(b["_aws"]["Timestamp"], 1_764_150_000_000u64);
        assert_eq!(docs[0]["failed"], 1);
    }

    #[test]
    fn accounts_and_regions_are_counted_apart() {
        let mut other = record("a", Outcome::Remediated);
        other.account = "222222222222".into();
        let mut elsewhere = record("a", Outcome::Remediated);
        elsewhere.region = "eu-west-1".into();
        let docs = emf(&[record("a", Outcome::Remediated), other, elsewhere], 0);
        let keys: Vec<(String, String, u64)> = docs
            .iter()
            .map(|d| {
                (
                    d["Account"].as_str().unwrap_or_default().to_owned(),
                    d["Region"].as_str().unwrap_or_default().to_owned(),
                    d["remediated"].as_u64().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("111111111111".into(), "eu-west-1".into(), 1),
                ("111111111111".into(), "us-east-1".into(), 1),
                ("222222222222".into(), "us-east-1".into(), 1),
            ]
        );
    }
}
