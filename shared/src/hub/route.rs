//! Which account and region an inbound event concerns, from the event's own fields, so the hub
//! can hand it to the engine acting there (no AWS call):
//!
//! * an EventBridge event: its envelope `account` and `region` (AWS keeps the source account's and
//!   region's when a rule forwards the event to another account's bus);
//! * Security Hub findings: each finding's `AwsAccountId` and `Region` (an administrator's or an
//!   aggregation region's feed carries many accounts' and regions' findings in one event): one part
//!   per account and region, each with only its own findings;
//! * an AWS Config custom-rule invocation: `accountId` and the configuration item's `awsRegion`;
//! * a direct or SSM payload: `accountId` and `region` when given, else the resource ARN's.
//!
//! What names no account or region is the hub's own. A scheduled event is a sweep; an SQS event
//! carries the sweep jobs a sweep fanned out.

use std::collections::BTreeMap;

use aws_lambda_events::sqs::SqsEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::IntakeError;
use crate::event::decode;
use crate::resource::Arn;

/// What the hub does with an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Routed {
    /// Each part to the engine of its account and region (`None`: the hub's own).
    Parts(Vec<Part>),
    /// A scheduled sweep of every account and region in scope.
    Sweep,
    /// Sweep jobs from the fan-out queue.
    Jobs(SqsEvent),
}

/// An event, or the part of one, that concerns one account and region.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub account: Option<String>,
    pub region: Option<String>,
    pub event: Value,
}

/// One message of a fanned-out sweep: every resource of one control in one account and region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SweepJob {
    pub account_id: String,
    pub region: String,
    pub control: String,
}

fn str_at(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Route `event` (its shape is checked by intake afterwards; only what routing reads is read here).
pub fn route(event: &Value) -> Result<Routed, IntakeError> {
    if event.get("Records").is_some() {
        let sqs: SqsEvent = decode(event, "SQS event")?;
        if let Some(other) = sqs
            .records
            .iter()
            .find_map(|r| r.event_source.as_deref().filter(|s| *s != "aws:sqs"))
        {
            return Err(IntakeError::UnrecognisedShape(format!(
                "records from `{other}`: only SQS sweep jobs are accepted"
            )));
        }
        return Ok(Routed::Jobs(sqs));
    }
    let part = |account, region| Part {
        account,
        region,
        event: event.clone(),
    };
    if let Some(detail_type) = event.get("detail-type").and_then(Value::as_str) {
        return Ok(match detail_type {
            "Scheduled Event" => Routed::Sweep,
            "Security Hub Findings - Imported" => Routed::Parts(findings(event, ASFF)),
            "Findings Imported V2" => Routed::Parts(findings(event, OCSF)),
            _ => Routed::Parts(vec![part(
                str_at(event, "/account"),
                str_at(event, "/region"),
            )]),
        });
    }
    if event.get("invokingEvent").is_some() {
        // The configuration item (or, for a periodic rule, nothing) names the region.
        let region = event
            .get("invokingEvent")
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .and_then(|i| str_at(&i, "/configurationItem/awsRegion"));
        return Ok(Routed::Parts(vec![part(
            str_at(event, "/accountId"),
            region,
        )]));
    }
    let arn = event
        .get("resourceId")
        .and_then(Value::as_str)
        .and_then(Arn::parse);
    let account = arn.as_ref().map(|a| a.account).filter(|s| !s.is_empty());
    let region = arn.as_ref().map(|a| a.region).filter(|s| !s.is_empty());
    Ok(Routed::Parts(vec![part(
        str_at(event, "/accountId").or_else(|| account.map(str::to_owned)),
        str_at(event, "/region").or_else(|| region.map(str::to_owned)),
    )]))
}

/// Where a finding format keeps a finding's account and region (the resource's region second).
struct Fields {
    account: &'static str,
    region: &'static str,
    resource_region: &'static str,
}

const ASFF: Fields = Fields {
    account: "/AwsAccountId",
    region: "/Region",
    resource_region: "/Resources/0/Region",
};

const OCSF: Fields = Fields {
    account: "/cloud/account/uid",
    region: "/cloud/region",
    resource_region: "/resources/0/region",
};

/// A Security Hub event split per account and region: each part is the event with only that
/// account's and region's findings, and its envelope naming them.
fn findings(event: &Value, fields: Fields) -> Vec<Part> {
    let Some(all) = event.pointer("/detail/findings").and_then(Value::as_array) else {
        // Malformed: the envelope's engine refuses it with intake's message.
        return vec![Part {
            account: str_at(event, "/account"),
            region: str_at(event, "/region"),
            event: event.clone(),
        }];
    };
    let mut groups: BTreeMap<(Option<String>, Option<String>), Vec<Value>> = BTreeMap::new();
    for finding in all {
        let account = str_at(finding, fields.account).or_else(|| str_at(event, "/account"));
        let region = str_at(finding, fields.region)
            .or_else(|| str_at(finding, fields.resource_region))
            .or_else(|| str_at(event, "/region"));
        groups
            .entry((account, region))
            .or_default()
            .push(finding.clone());
    }
    groups
        .into_iter()
        .map(|((account, region), findings)| {
            let mut part = event.clone();
            if let Some(obj) = part.as_object_mut() {
                if let Some(a) = &account {
                    obj.insert("account".into(), Value::String(a.clone()));
                }
                if let Some(r) = &region {
                    obj.insert("region".into(), Value::String(r.clone()));
                }
            }
            if let Some(detail) = part.get_mut("detail").and_then(Value::as_object_mut) {
                detail.insert("findings".into(), Value::Array(findings));
            }
            Part {
                account,
                region,
                event: part,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts(event: Value) -> Vec<(Option<String>, Option<String>)> {
        match route(&event).unwrap() {
            Routed::Parts(p) => p.into_iter().map(|p| (p.account, p.region)).collect(),
            other => panic!("expected parts, got {other:?}"),
        }
    }

    fn at(a: &str, r: &str) -> (Option<String>, Option<String>) {
        (Some(a.into()), Some(r.into()))
    }

    #[test]
    fn eventbridge_events_are_where_their_envelope_says() {
        let e = json!({"detail-type": "AWS API Call via CloudTrail", "account": "222222222222",
            "region": "eu-west-1", "detail": {}});
        assert_eq!(parts(e), [at("222222222222", "eu-west-1")]);
        let s =
            json!({"detail-type": "Scheduled Event", "account": "1", "region": "r", "detail": {}});
        assert_eq!(route(&s).unwrap(), Routed::Sweep);
    }

    #[test]
    fn findings_are_split_per_account_and_region() {
        let f = |id: &str, a: &str, r: &str| json!({"Id": id, "AwsAccountId": a, "Region": r, "Resources": [{"Type": "T", "Id": "x"}]});
        let e = json!({"detail-type": "Security Hub Findings - Imported",
            "account": "111111111111", "region": "us-east-1",
            "detail": {"findings": [f("1", "222222222222", "eu-west-1"),
                f("2", "333333333333", "us-east-1"), f("3", "222222222222", "eu-west-1")]}});
        let Routed::Parts(p) = route(&e).unwrap() else {
            panic!()
        };
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].account.as_deref(), p[0].region.as_deref()),
            (Some("222222222222"), Some("eu-west-1"))
        );
        assert_eq!(p[0].event["account"], "222222222222");
        assert_eq!(p[0].event["region"], "eu-west-1");
        let ids: Vec<&Value> = p[0].event["detail"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| &f["Id"])
            .collect();
        assert_eq!(ids, [&json!("1"), &json!("3")]);
        assert_eq!(p[1].event["detail"]["findings"][0]["Id"], "2");
    }

    #[test]
    fn ocsf_findings_are_where_their_cloud_says() {
        let f = |a: &str, r: &str| json!({"cloud": {"account": {"uid": a}, "region": r}});
        let e = json!({"detail-type": "Findings Imported V2", "account": "111111111111",
            "region": "us-east-1", "detail": {"findings": [f("222222222222", "eu-west-1")]}});
        assert_eq!(parts(e), [at("222222222222", "eu-west-1")]);
    }

    #[test]
    fn config_invocations_and_direct_payloads() {
        let item = json!({"configurationItem": {"awsRegion": "eu-west-1"}}).to_string();
        let c = json!({"invokingEvent": item, "accountId": "222222222222", "resultToken": "t"});
        assert_eq!(parts(c), [at("222222222222", "eu-west-1")]);
        let d = json!({"resourceId": "b", "accountId": "222222222222", "region": "eu-west-1"});
        assert_eq!(parts(d), [at("222222222222", "eu-west-1")]);
        let k = json!({"resourceId": "arn:aws:kms:eu-west-1:333333333333:key/k"});
        assert_eq!(parts(k), [at("333333333333", "eu-west-1")]);
        assert_eq!(parts(json!({"resourceId": "b"})), [(None, None)]);
    }

    #[test]
    fn sqs_records_are_sweep_jobs_and_nothing_else() {
        let job = json!({"accountId": "222222222222", "region": "eu-west-1", "control": "c"});
        let e = json!({"Records": [{"messageId": "m1", "body": job.to_string(), "eventSource": "aws:sqs"}]});
        let Routed::Jobs(sqs) = route(&e).unwrap() else {
            panic!()
        };
        assert_eq!(sqs.records.len(), 1);
        let s3 = json!({"Records": [{"eventSource": "aws:s3"}]});
        assert!(route(&s3).unwrap_err().to_string().contains("aws:s3"));
    }
}
