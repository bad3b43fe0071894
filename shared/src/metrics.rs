//! Metrics: CloudWatch Embedded Metric Format (EMF) lines, one per control per invocation, counting
//! outcomes. CloudWatch Logs turns them into metrics (namespace `ai-guard`, dimension `Control`,
//! one metric per outcome) with no API call from the function.

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

/// The EMF documents for `records`: one per control present, every outcome counted (zeros too, so
/// alarms on a metric see data).
pub fn emf(records: &[OutcomeRecord], timestamp_ms: u128) -> Vec<Value> {
    let mut controls: Vec<&'static str> = records.iter().map(|r| r.control).collect();
    controls.sort_unstable();
    controls.dedup();
    controls
        .into_iter()
        .map(|control| {
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
                    "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [["Control"]], "Metrics": metrics}]
                }),
            );
            doc.insert("Control".to_owned(), json!(control));
            for outcome in OUTCOMES {
                let n = records
                    .iter()
                    .filter(|r| r.control == control && r.outcome == outcome)
                    .count();
                doc.insert(outcome.as_str().to_owned(), json!(n));
            }
            let contested = records.iter().filter(|r| r.control == control && r.contested).count();
            doc.insert(CONTESTED.to_owned(), json!(contested));
            let failed = records
                .iter()
                .filter(|r| r.control == control && r.notification_failed)
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
        assert_eq!(cw["Dimensions"], json!([["Control"]]));
        assert_eq!(cw["Metrics"].as_array().map(Vec::len), Some(10));
        assert_eq!(b["notification_failed"], 0);
        assert_eq!(b["contested"], 0);
        assert_eq!(b["_aws"]["Timestamp"], 1_764_150_000_000u64);
        assert_eq!(docs[0]["failed"], 1);
    }
}
