//! `member-template.yaml`, resolved as CloudFormation does in a member account, against the hub
//! (`template.yaml` with `MemberRoleName`) resolved in the hub account:
//! - it is plain CloudFormation (a service-managed StackSet refuses a `Transform`) with no Lambda;
//! - only the hub functions' roles may assume the member role (cross-account evaluation: the hub
//!   role's own policy and the member role's trust policy must both allow it);
//! - the member role grants exactly the operations the registry's controls declare, each allowed
//!   on the concrete resource ARN in the member account and another region;
//! - the member forwards every event the hub's rules listen to, and its forwarder may put them on
//!   the hub's bus, which accepts the organization only.

use std::collections::BTreeSet;

use integration_tests::iam::{
    evaluate, evaluate_cross_account, Decision, Principal, Request, NO_RESOURCE_SCOPE,
};
use integration_tests::template::resolve_in;
use integration_tests::{iam_resource, sample_id};
use remediation::config_rule::PUT_EVALUATIONS;
use remediation::functions::FUNCTIONS;
use remediation::resource::Scope;
use serde_json::{json, Value};

const HUB: &str = "123456789012";
const MEMBER: &str = "210987654321";
const ORG: &str = "o-a1b2c3d4e5";
const ROLE: &str = "ai-guard-member";

fn hub() -> Value {
    let t = resolve_in(
        "template.yaml",
        &[("MemberRoleName", ROLE), ("OrganizationId", ORG)],
        HUB,
        "us-east-1",
    );
    assert!(t.get("refused").is_none(), "{t}");
    t
}

fn member(hub: &Value, region: &str, extra: &[(&str, &str)]) -> Value {
    let roles = hub["outputs"]["HubRoleArns"].as_str().expect("HubRoleArns");
    let bus = hub["outputs"]["HubEventBusArn"].as_str().expect("bus");
    let mut params = vec![("HubRoleArns", roles), ("HubEventBusArn", bus)];
    params.extend_from_slice(extra);
    let t = resolve_in("member-template.yaml", &params, MEMBER, region);
    assert!(t.get("refused").is_none(), "{t}");
    t
}

fn resource<'a>(t: &'a Value, logical: &str) -> &'a Value {
    &t["resources"][logical]
}

fn policies(role: &Value) -> Vec<&Value> {
    role["Properties"]["Policies"]
        .as_array()
        .map(|ps| ps.iter().map(|p| &p["PolicyDocument"]).collect())
        .unwrap_or_default()
}

fn request<'a>(principal: &'a str, action: &'a str, resource: &'a str) -> Request<'a> {
    Request {
        principal: Principal::Role(principal),
        action,
        resource,
        context: Vec::new(),
    }
}

#[test]
fn the_member_template_is_plain_cloudformation_without_functions() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../member-template.yaml"),
    )
    .expect("member-template.yaml");
    assert!(!text.lines().any(|l| l.starts_with("Transform")));
    let t = member(&hub(), "us-east-1", &[]);
    for (logical, r) in t["resources"].as_object().expect("resources") {
        let kind = r["Type"].as_str().unwrap_or_default();
        assert!(
            !kind.starts_with("AWS::Lambda::") && !kind.starts_with("AWS::Serverless::"),
            "{logical}: {kind}"
        );
    }
    // IAM is global: the roles come from the primary region's stack instance only.
    let other = member(&hub(), "eu-west-1", &[]);
    assert!(other["resources"].get("MemberRole").is_none());
    assert!(other["resources"].get("ForwardCloudTrail").is_some());
}

#[test]
fn only_the_hub_functions_may_assume_the_member_role() {
    let hub = hub();
    let t = member(&hub, "us-east-1", &[]);
    let role = resource(&t, "MemberRole");
    let role_arn = role["Attributes"]["Arn"].as_str().expect("arn");
    assert_eq!(role_arn, format!("arn:aws:iam::{MEMBER}:role/{ROLE}"));
    let trust = &role["Properties"]["AssumeRolePolicyDocument"];
    let roles: Vec<&str> = hub["outputs"]["HubRoleArns"]
        .as_str()
        .expect("roles")
        .split(',')
        .collect();
    assert_eq!(roles.len(), FUNCTIONS.len());
    for hub_role in &roles {
        let (_, r) = hub["resources"]
            .as_object()
            .expect("resources")
            .iter()
            .find(|(_, r)| r["Attributes"]["Arn"] == *hub_role)
            .expect("hub role");
        let d = evaluate_cross_account(
            &policies(r),
            trust,
            &request(hub_role, "sts:AssumeRole", role_arn),
            HUB,
            MEMBER,
        );
        assert_eq!(d, Decision::Allow, "{hub_role}");
    }
    // Any other principal of the hub account, even one allowed to assume any role, is refused.
    let anyone =
        json!({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]});
    let other = format!("arn:aws:iam::{HUB}:role/DataScientist");
    let d = evaluate_cross_account(
        &[&anyone],
        trust,
        &request(&other, "sts:AssumeRole", role_arn),
        HUB,
        MEMBER,
    );
    assert_eq!(d, Decision::ImplicitDeny);
}

#[test]
fn the_member_role_grants_exactly_what_the_controls_declare() {
    let t = member(
        &hub(),
        "us-east-1",
        &[("BedrockLogRoleName", "bedrock-logging")],
    );
    let role = resource(&t, "MemberRole");
    let role_arn = role["Attributes"]["Arn"].as_str().expect("arn");
    let identity = policies(role);
    // Acting in another region than the stack's: the role is global.
    let scope = Scope::new(MEMBER, "eu-west-1");
    let mut declared: BTreeSet<&str> = BTreeSet::from([PUT_EVALUATIONS.permission]);
    for function in FUNCTIONS {
        for spec in function.specs {
            let ops = spec.operations.iter().chain(spec.tag_operation.iter());
            for op in ops {
                declared.insert(op.permission);
                let arn = if NO_RESOURCE_SCOPE.contains(&op.permission) {
                    "*".to_owned()
                } else {
                    iam_resource(
                        &spec
                            .resource(&sample_id(spec.resource_type, MEMBER), &scope)
                            .expect("sample")
                            .arn,
                    )
                };
                let d = evaluate(
                    &identity,
                    None,
                    &request(role_arn, op.permission, &arn),
                    MEMBER,
                    false,
                );
                assert_eq!(d, Decision::Allow, "{} {} on {arn}", spec.id, op.permission);
            }
        }
    }
    // Bedrock's CloudWatch destination passes this account's delivery role, to Bedrock only.
    let delivery = format!("arn:aws:iam::{MEMBER}:role/bedrock-logging");
    let pass = |service: &str| {
        evaluate(
            &identity,
            None,
            &Request {
                context: vec![("iam:PassedToService", service.to_owned())],
                ..request(role_arn, "iam:PassRole", &delivery)
            },
            MEMBER,
            false,
        )
    };
    assert_eq!(pass("bedrock.amazonaws.com"), Decision::Allow);
    assert_eq!(pass("ec2.amazonaws.com"), Decision::ImplicitDeny);
    declared.insert("iam:PassRole");
    // GuardDuty's CreateDetector creates its service-linked role the first time: that role only.
    let slr = format!(
        "arn:aws:iam::{MEMBER}:role/aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty"
    );
    let create_slr = |service: &str| {
        evaluate(
            &identity,
            None,
            &Request {
                context: vec![("iam:AWSServiceName", service.to_owned())],
                ..request(role_arn, "iam:CreateServiceLinkedRole", &slr)
            },
            MEMBER,
            false,
        )
    };
    assert_eq!(create_slr("guardduty.amazonaws.com"), Decision::Allow);
    assert_eq!(create_slr("ec2.amazonaws.com"), Decision::ImplicitDeny);
    declared.insert("iam:CreateServiceLinkedRole");
    // Nothing more.
    let granted: BTreeSet<&str> = identity
        .iter()
        .flat_map(|p| p["Statement"].as_array().into_iter().flatten())
        .flat_map(|s| match &s["Action"] {
            Value::String(a) => vec![a.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(granted, declared);
}

#[test]
fn members_forward_every_event_the_hubs_rules_listen_to_and_only_the_organization_may() {
    let hub = hub();
    let t = member(&hub, "eu-west-1", &[]);
    let bus_arn = hub["outputs"]["HubEventBusArn"].as_str().expect("bus");
    let forwarder = format!("arn:aws:iam::{MEMBER}:role/{ROLE}-forwarder");
    let forwards: Vec<Value> = t["resources"]
        .as_object()
        .expect("resources")
        .values()
        .filter(|r| r["Type"] == "AWS::Events::Rule")
        .inspect(|r| {
            let target = &r["Properties"]["Targets"][0];
            assert_eq!(target["Arn"], bus_arn);
            assert_eq!(target["RoleArn"], forwarder.as_str());
        })
        .map(|r| r["Properties"]["EventPattern"].clone())
        .collect();
    let strings = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let bus_name = bus_arn.rsplit('/').next().expect("bus name");
    let mut checked = 0;
    for (logical, rule) in hub["resources"].as_object().expect("resources") {
        if rule["Type"] != "AWS::Events::Rule" || rule["Properties"]["EventBusName"] != bus_name {
            continue;
        }
        let wants = &rule["Properties"]["EventPattern"];
        let covered = forwards.iter().any(|f| {
            strings(&wants["source"]).is_subset(&strings(&f["source"]))
                && strings(&wants["detail-type"]).is_subset(&strings(&f["detail-type"]))
                && strings(&wants["detail"]["eventSource"])
                    .is_subset(&strings(&f["detail"]["eventSource"]))
                && strings(&wants["detail"]["eventName"])
                    .is_subset(&strings(&f["detail"]["eventName"]))
        });
        assert!(covered, "{logical}: no member rule forwards {wants}");
        checked += 1;
    }
    assert!(checked >= 5, "{checked} hub rules");

    // The forwarder's own policy and the hub bus's policy: the organization only.
    let primary = member(&hub, "us-east-1", &[]);
    let identity = policies(resource(&primary, "ForwarderRole"));
    let (_, policy) = hub["resources"]
        .as_object()
        .expect("resources")
        .iter()
        .find(|(_, r)| r["Type"] == "AWS::Events::EventBusPolicy")
        .expect("bus policy");
    let bus_policy = json!({"Statement": [policy["Properties"]["Statement"].clone()]});
    let put = |org: &str| {
        evaluate_cross_account(
            &identity,
            &bus_policy,
            &Request {
                context: vec![("aws:PrincipalOrgID", org.to_owned())],
                ..request(&forwarder, "events:PutEvents", bus_arn)
            },
            MEMBER,
            HUB,
        )
    };
    assert_eq!(put(ORG), Decision::Allow);
    assert_eq!(put("o-someoneelse"), Decision::ImplicitDeny);
}
