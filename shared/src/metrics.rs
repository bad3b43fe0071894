//! Metrics: CloudWatch Embedded Metric Format (EMF) lines, one per control, account and region per
//! invocation, counting outcomes. CloudWatch Logs turns them into metrics (namespace `ai-guard`,
//! dimensions `Control` and `Control`+`Account`+`Region`, one metric per outcome) with no API call
//! from the function. `finding_update_failed` (Security Hub findings that could not be updated) is
//! published without dimensions only (an empty dimension set, which EMF allows): one metric for
//! every function, control, account and region, so one alarm watches it with one metric (an
//! alarm's metric math takes at most 10) and CloudWatch bills one custom metric for it. The lines
//! keep `Control`, `Account` and `Region` for Logs Insights.

use serde_json::{json, Map, Value};

use crate::outcome::{Outcome, OutcomeRecord};

/// The CloudWatch namespace of the metrics.
pub const NAMESPACE: &str = "ai-guard";

/// The extra metric counting contested resources.
const CONTESTED: &str = "contested";

/// The extra metric counting notifications that could not be sent (the template alarms on it).
const NOTIFICATION_FAILED: &str = "notification_failed";

/// The metric counting Security Hub findings not updated (without dimensions; the template alarms
/// on it).
pub const FINDING_UPDATE_FAILED: &str = "finding_update_failed";

/// The metric counting fixes held back by a blast-radius limit (the template alarms on it).
pub const LIMIT_REACHED: &str = "limit_reached";

const OUTCOMES: [Outcome; 10] = [
    Outcome::Compliant,
    Outcome::Remediated,
    Outcome::WouldRemediate,
    Outcome::Exempt,
    Outcome::NotApplicable,
    Outcome::Gone,
    Outcome::Deferred,
    Outcome::Failed,
    Outcome::Pending,
    Outcome::Off,
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
                .chain([CONTESTED, NOTIFICATION_FAILED, LIMIT_REACHED])
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
                    }, {
                        "Namespace": NAMESPACE,
                        "Dimensions": [[]],
                        "Metrics": [{"Name": FINDING_UPDATE_FAILED, "Unit": "Count"}]
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
            let limited = records
                .iter()
                .filter(of_group)
                .filter(|r| r.limited)
                .count();
            doc.insert(LIMIT_REACHED.to_owned(), json!(limited));
            let not_updated: u64 = records
                .iter()
                .filter(of_group)
                .map(|r| u64::from(r.finding_update_failed))
                .sum();
            doc.insert(FINDING_UPDATE_FAILED.to_owned(), json!(not_updated));
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

/// Print one EMF line counting `value` of the metric `name`, without dimensions (the template's
/// alarms on such metrics, e.g. a refused policy document).
pub fn publish_count(name: &str, value: u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut doc = Map::new();
    doc.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": now,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[]],
                "Metrics": [{"Name": name, "Unit": "Count"}]
            }]
        }),
    );
    doc.insert(name.to_owned(), json!(value));
    println!("{}", Value::Object(doc));
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
            mode: None,
            limited: false,
            quiet: false,
            notification_failed: false,
            finding_update_failed: 0,
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
        assert_eq!(cw["Metrics"].as_array().map(Vec::len), Some(13));
        assert_eq!(b["limit_reached"], 0);
        assert_eq!(b["notification_failed"], 0);
        assert_eq!(b["contested"], 0);
        assert_eq!(b["_aws"]["Timestamp"], 1_764_150_000_000u64);
        assert_eq!(docs[0]["failed"], 1);
    }

    #[test]
    fn findings_not_updated_are_one_metric_without_dimensions() {
        let mut a = record("a", Outcome::Remediated);
        a.finding_update_failed = 2;
        let mut b = record("b", Outcome::Failed);
        b.finding_update_failed = 1;
        b.account = "222222222222".into();
        let docs = emf(&[a, b, record("b", Outcome::Compliant)], 0);
        assert_eq!(docs.len(), 3);
        for doc in &docs {
            let directives = doc["_aws"]["CloudWatchMetrics"].as_array().unwrap();
            assert_eq!(directives.len(), 2, "{doc}");
            // Per control: the outcomes, contested, notification_failed; not this one.
            assert!(!directives[0]["Metrics"]
                .to_string()
                .contains(FINDING_UPDATE_FAILED));
            assert_eq!(
                directives[1],
                json!({"Namespace": "ai-guard", "Dimensions": [[]],
                       "Metrics": [{"Name": "finding_update_failed", "Unit": "Count"}]})
            );
        }
        // Every line carries its count (zeros too); CloudWatch sums them into the one metric.
        let counts: Vec<u64> = docs
            .iter()
            .map(|d| d[FINDING_UPDATE_FAILED].as_u64().unwrap())
            .collect();
        assert_eq!(counts, [2, 0, 1]);
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
