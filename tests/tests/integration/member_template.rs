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

use integration_tests::iam::{evaluate, evaluate_cross_account, Decision, Principal, Request};
use integration_tests::operation_resource;
use integration_tests::template::{function_by_binary, resolve_in, role_policies as policies};
use remediation::config_rule::PUT_EVALUATIONS;
use remediation::functions::FUNCTIONS;
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

/// The member roles of a resolved member template, by ARN.
fn member_roles(t: &Value) -> Vec<&Value> {
    t["resources"]
        .as_object()
        .expect("resources")
        .iter()
        .filter(|(logical, r)| r["Type"] == "AWS::IAM::Role" && logical.starts_with("MemberRole"))
        .map(|(_, r)| r)
        .collect()
}

/// The member role of `function` (its ARN ends `:role/<path><ROLE>-<short>`).
fn member_role<'a>(t: &'a Value, function: &remediation::functions::Function) -> &'a Value {
    let suffix = format!("/{}", function.member_role(ROLE));
    member_roles(t)
        .into_iter()
        .find(|r| {
            r["Attributes"]["Arn"]
                .as_str()
                .is_some_and(|a| a.ends_with(&suffix))
        })
        .unwrap_or_else(|| panic!("no member role for {}", function.name))
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
    assert!(member_roles(&other).is_empty());
    assert!(other["resources"].get("ForwardCloudTrail").is_some());
}

#[test]
fn each_member_role_may_be_assumed_by_its_own_hub_function_only() {
    let hub = hub();
    let t = member(&hub, "us-east-1", &[]);
    let roles: Vec<&str> = hub["outputs"]["HubRoleArns"]
        .as_str()
        .expect("roles")
        .split(',')
        .collect();
    // One hub role per function, in the registry's order (the member template selects by it).
    assert_eq!(roles.len(), FUNCTIONS.len());
    assert_eq!(member_roles(&t).len(), FUNCTIONS.len());
    let hub_role = |binary: &str| -> String {
        let function = function_by_binary(&hub, binary);
        let logical = function["Properties"]["Role"]["Fn::GetAtt"][0]
            .as_str()
            .map(str::to_owned)
            .or_else(|| function["Properties"]["Role"].as_str().map(str::to_owned))
            .expect("role");
        hub["resources"][logical.as_str()]["Attributes"]["Arn"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or(logical)
    };
    for (i, function) in FUNCTIONS.iter().enumerate() {
        assert_eq!(roles[i], hub_role(function.name), "{}", function.name);
        let target = member_role(&t, function);
        let target_arn = target["Attributes"]["Arn"].as_str().expect("arn");
        assert_eq!(
            target_arn,
            format!("arn:aws:iam::{MEMBER}:role/{}", function.member_role(ROLE))
        );
        // The function's MEMBER_ROLE_NAME names it.
        let vars =
            &function_by_binary(&hub, function.name)["Properties"]["Environment"]["Variables"];
        assert_eq!(
            vars["MEMBER_ROLE_NAME"].as_str(),
            Some(format!("/{}", function.member_role(ROLE)).as_str())
        );
        let trust = &target["Properties"]["AssumeRolePolicyDocument"];
        for (j, caller) in FUNCTIONS.iter().enumerate() {
            let caller_arn = roles[j];
            let (_, r) = hub["resources"]
                .as_object()
                .expect("resources")
                .iter()
                .find(|(_, r)| r["Attributes"]["Arn"] == caller_arn)
                .expect("hub role");
            // The member account is in the hub's organization (aws:ResourceOrgID).
            let d = evaluate_cross_account(
                &policies(r),
                trust,
                &Request {
                    context: vec![("aws:ResourceOrgID", ORG.to_owned())],
                    ..request(caller_arn, "sts:AssumeRole", target_arn)
                },
                HUB,
                MEMBER,
            );
            let expected = if i == j {
                Decision::Allow
            } else {
                Decision::ImplicitDeny
            };
            assert_eq!(
                d, expected,
                "{} assuming {}'s role",
                caller.name, function.name
            );
        }
        // Any other principal of the hub account, even one allowed to assume any role, is refused.
        let anyone = json!({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]});
        let other = format!("arn:aws:iam::{HUB}:role/DataScientist");
        let d = evaluate_cross_account(
            &[&anyone],
            trust,
            &request(&other, "sts:AssumeRole", target_arn),
            HUB,
            MEMBER,
        );
        assert_eq!(d, Decision::ImplicitDeny);
    }
    // A hub without some functions: their member roles are not created (a trust policy naming a
    // role that does not exist is refused by IAM), the others still trust their own.
    let partial = resolve_in(
        "template.yaml",
        &[
            ("MemberRoleName", ROLE),
            ("OrganizationId", ORG),
            ("EnableKmsKeyRotation", "false"),
            ("EnableSageMakerNotebookGuard", "false"),
        ],
        HUB,
        "us-east-1",
    );
    let t = member(&partial, "us-east-1", &[]);
    let created: BTreeSet<&str> = member_roles(&t)
        .iter()
        .filter_map(|r| r["Properties"]["RoleName"].as_str())
        .collect();
    let expected: BTreeSet<String> = FUNCTIONS
        .iter()
        .filter(|f| !matches!(f.short, "kms" | "sagemaker"))
        .map(|f| f.member_role(ROLE))
        .collect();
    assert_eq!(
        created,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
}

#[test]
fn each_member_role_grants_exactly_what_its_functions_controls_declare() {
    let t = member(
        &hub(),
        "us-east-1",
        &[("BedrockLogRoleName", "bedrock-logging")],
    );
    for function in FUNCTIONS {
        let role = member_role(&t, function);
        let role_arn = role["Attributes"]["Arn"].as_str().expect("arn");
        let identity = policies(role);
        let mut declared: BTreeSet<&str> = BTreeSet::from([PUT_EVALUATIONS.permission]);
        // In every region the hub may act in (the role is global, the ARNs are regional).
        for region in ["us-east-1", "eu-west-1", "ap-southeast-2"] {
            for spec in function.specs {
                let ops = spec.operations.iter().chain(spec.tag_operation.iter());
                for op in ops {
                    declared.insert(op.permission);
                    let arn = operation_resource(spec, op, MEMBER, region);
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
        match function.short {
            // Bedrock's CloudWatch destination passes this account's delivery role, to Bedrock
            // only.
            "bedrock" => {
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
            }
            // GuardDuty's CreateDetector creates its service-linked role the first time: that
            // role only.
            "guardduty" => {
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
            }
            _ => {}
        }
        // Nothing more: not another function's operations (one role's `s3:PutBucketPolicy` with
        // another's `s3:PutBucketPublicAccessBlock` could make a bucket public).
        let granted: BTreeSet<&str> = identity
            .iter()
            .flat_map(|p| p["Statement"].as_array().into_iter().flatten())
            .flat_map(|s| match &s["Action"] {
                Value::String(a) => vec![a.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(granted, declared, "{}", function.name);
    }
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

#[test]
fn the_member_role_trusts_role_arns_only() {
    let hub = hub();
    let bus = hub["outputs"]["HubEventBusArn"].as_str().expect("bus");
    for roles in [
        format!("arn:aws:iam::{HUB}:root"),
        HUB.to_owned(),
        format!("arn:aws:iam::{HUB}:role/fn,arn:aws:iam::{HUB}:root"),
        "*".to_owned(),
    ] {
        let t = resolve_in(
            "member-template.yaml",
            &[("HubRoleArns", &roles), ("HubEventBusArn", bus)],
            MEMBER,
            "us-east-1",
        );
        assert!(
            t["refused"]
                .as_str()
                .is_some_and(|r| r.contains("HubRoleArns")),
            "{roles}: {t}"
        );
    }
}

/// In the hub's own account the hub acts with its own roles (no member role), and in its own
/// region the hub stack forwards its events and has its Bedrock destinations; its other regions
/// get both from the member template.
#[test]
fn in_the_hub_account_the_member_template_adds_only_what_the_hub_stack_lacks() {
    let hub = hub();
    let roles = hub["outputs"]["HubRoleArns"].as_str().expect("roles");
    let bus = hub["outputs"]["HubEventBusArn"].as_str().expect("bus");
    let params = [("HubRoleArns", roles), ("HubEventBusArn", bus)];
    let kinds = |t: &Value| -> BTreeSet<String> {
        t["resources"]
            .as_object()
            .expect("resources")
            .values()
            .map(|r| r["Type"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let home = resolve_in("member-template.yaml", &params, HUB, "us-east-1");
    assert!(member_roles(&home).is_empty(), "{home}");
    assert!(!kinds(&home).contains("AWS::Events::Rule"));
    assert!(!kinds(&home).contains("AWS::S3::Bucket"));
    let other = resolve_in("member-template.yaml", &params, HUB, "eu-west-1");
    assert!(member_roles(&other).is_empty());
    assert!(kinds(&other).contains("AWS::Events::Rule"));
    assert!(kinds(&other).contains("AWS::S3::Bucket"));
    // The hub stack forwards its own region's events with the member template's rules.
    let member = member(&hub, "us-east-1", &[]);
    let patterns = |t: &Value, bus_filter: &dyn Fn(&Value) -> bool| -> BTreeSet<String> {
        t["resources"]
            .as_object()
            .expect("resources")
            .values()
            .filter(|r| r["Type"] == "AWS::Events::Rule" && bus_filter(r))
            .filter(|r| r["Properties"]["Targets"][0]["Arn"] == bus)
            .map(|r| r["Properties"]["EventPattern"].to_string())
            .collect()
    };
    let forwarded = patterns(&member, &|_| true);
    let own = patterns(&hub, &|r| r["Properties"].get("EventBusName").is_none());
    assert_eq!(
        own, forwarded,
        "the hub's own forwarding rules are the member template's"
    );
    assert_eq!(own.len(), 3);
}

/// The role the hub assumes is the role the member template creates, path included.
#[test]
fn the_hub_assumes_the_role_the_member_template_creates_path_included() {
    use remediation::hub::HubSettings;
    let path = [("MemberRolePath", "/security/")];
    let hub = resolve_in(
        "template.yaml",
        &[
            ("MemberRoleName", ROLE),
            ("OrganizationId", ORG),
            ("MemberRolePath", "/security/"),
        ],
        HUB,
        "us-east-1",
    );
    assert!(hub.get("refused").is_none(), "{hub}");
    let t = member(&hub, "us-east-1", &path);
    for function in FUNCTIONS {
        let created = member_role(&t, function)["Attributes"]["Arn"]
            .as_str()
            .expect("arn")
            .to_owned();
        assert_eq!(
            created,
            format!(
                "arn:aws:iam::{MEMBER}:role/security/{}",
                function.member_role(ROLE)
            )
        );
        // The function's own settings, as the hub template gives them, assume exactly it.
        let vars = function_by_binary(&hub, function.name)["Properties"]["Environment"]
            ["Variables"]
            .clone();
        let env = move |k: &str| vars[k].as_str().map(str::to_owned);
        let settings = HubSettings::from_lookup(&env)
            .unwrap_or_else(|e| panic!("{}: {e}", function.name))
            .expect("a hub");
        assert_eq!(
            settings.member_role_arn(MEMBER, "us-east-1").as_deref(),
            Some(created.as_str()),
            "{}",
            function.name
        );
    }
}

/// What the hub's Bedrock function names in a member account and region (its settings with
/// `{account}` and `{region}` filled in) is what the member template creates there, and the
/// member role may pass that delivery role to Bedrock.
#[test]
fn the_hub_names_the_bedrock_destinations_the_member_template_creates() {
    let hub = hub();
    let function = function_by_binary(&hub, "bedrock-invocation-logging");
    let vars = &function["Properties"]["Environment"]["Variables"];
    let primary = member(&hub, "us-east-1", &[]);
    for region in ["us-east-1", "eu-west-1"] {
        let t = member(&hub, region, &[]);
        let place = |name: &str| {
            vars[name]
                .as_str()
                .expect(name)
                .replace("{account}", MEMBER)
                .replace("{region}", region)
        };
        let of = |logical: &str| &t["resources"][logical];
        assert_eq!(
            of("BedrockLogBucket")["Ref"],
            place("BEDROCK_LOG_BUCKET").as_str()
        );
        assert_eq!(
            of("BedrockLogGroup")["Ref"],
            place("BEDROCK_LOG_GROUP").as_str()
        );
        let role = place("BEDROCK_LOG_ROLE_ARN");
        assert_eq!(
            of("BedrockLogDeliveryRole")["Attributes"]["Arn"],
            role.as_str()
        );
        // The bucket policy lets Bedrock write under the key prefix the hub uses.
        let policy = of("BedrockLogBucketPolicy")["Properties"]["PolicyDocument"].to_string();
        assert!(
            policy.contains(&format!(
                "/{}AWSLogs/{MEMBER}/",
                place("BEDROCK_LOG_KEY_PREFIX")
            )),
            "{policy}"
        );
        let bedrock =
            remediation::functions::function("bedrock-invocation-logging").expect("registered");
        let d = passes_to_bedrock(member_role(&primary, bedrock), &role, MEMBER);
        assert_eq!(d, Decision::Allow, "{region}: pass {role}");
    }
}

/// Bedrock user guide ("Set up an Amazon S3 destination"): with SSE-KMS, the key lets
/// `bedrock.amazonaws.com` call `kms:GenerateDataKey` only for this account (`aws:SourceAccount`)
/// and this region's Bedrock (`aws:SourceArn` `arn:<partition>:bedrock:<region>:<account>:*`) —
/// the same confinement as the bucket policy and the delivery role's trust. Both templates.
#[test]
fn the_bedrock_log_keys_confine_bedrock_to_its_account_and_region() {
    let hub = hub();
    let one = resolve_in(
        "template.yaml",
        &[("EnableBedrockInvocationLogging", "true")],
        HUB,
        "us-east-1",
    );
    let cases = [
        (member(&hub, "eu-west-1", &[]), MEMBER, "eu-west-1"),
        (hub.clone(), HUB, "us-east-1"),
        (one, HUB, "us-east-1"),
    ];
    for (t, account, region) in cases {
        let key = t["resources"]["BedrockLogKey"]["Properties"]["KeyPolicy"]["Statement"]
            .as_array()
            .expect("key policy")
            .iter()
            .find(|s| s["Principal"]["Service"] == "bedrock.amazonaws.com")
            .cloned()
            .expect("Bedrock's key statement");
        assert_eq!(
            key["Condition"]["StringEquals"]["aws:SourceAccount"], account,
            "{key}"
        );
        assert_eq!(
            key["Condition"]["ArnLike"]["aws:SourceArn"],
            format!("arn:aws:bedrock:{region}:{account}:*"),
            "{key}"
        );
    }
}

/// StackSet commands run from a delegated administrator need `--call-as DELEGATED_ADMIN`
/// (CloudFormation API reference, CreateStackSet `CallAs`): every such command in the README says
/// whom it runs as.
#[test]
fn the_readmes_stackset_commands_say_whom_they_run_as() {
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
    )
    .expect("README");
    let commands: Vec<&str> = readme
        .lines()
        .filter(|l| l.contains("aws cloudformation ") && l.contains("stack-"))
        .filter(|l| l.contains("stack-set") || l.contains("stack-instances"))
        .collect();
    assert!(commands.len() >= 2, "{commands:?}");
    for command in commands {
        assert!(
            command.contains("--call-as DELEGATED_ADMIN") || command.contains("--call-as SELF"),
            "{command}"
        );
    }
}

/// A single account acting in several regions (`Regions`, no hub) names its Bedrock destinations
/// per region too; the member template without the hub's parameters creates exactly those, and
/// nothing else.
#[test]
fn one_account_in_several_regions_gets_its_destinations_from_the_member_template() {
    let single = resolve_in(
        "template.yaml",
        &[("Regions", "us-east-1,eu-west-1")],
        HUB,
        "us-east-1",
    );
    assert!(single.get("refused").is_none(), "{single}");
    let function = function_by_binary(&single, "bedrock-invocation-logging");
    let vars = &function["Properties"]["Environment"]["Variables"];
    let t = resolve_in("member-template.yaml", &[], HUB, "eu-west-1");
    assert!(t.get("refused").is_none(), "{t}");
    let kinds: BTreeSet<&str> = t["resources"]
        .as_object()
        .expect("resources")
        .values()
        .filter_map(|r| r["Type"].as_str())
        .collect();
    assert!(!kinds.contains("AWS::Events::Rule"), "{kinds:?}");
    assert!(member_roles(&t).is_empty());
    let place = |name: &str| {
        vars[name]
            .as_str()
            .expect(name)
            .replace("{account}", HUB)
            .replace("{region}", "eu-west-1")
    };
    assert_eq!(
        t["resources"]["BedrockLogBucket"]["Ref"],
        place("BEDROCK_LOG_BUCKET").as_str()
    );
    assert_eq!(
        t["resources"]["BedrockLogDeliveryRole"]["Attributes"]["Arn"],
        place("BEDROCK_LOG_ROLE_ARN").as_str()
    );
    // The function's own role may pass each region's delivery role.
    let role_arn = function["Properties"]["Role"].as_str().expect("role");
    let (_, role) = single["resources"]
        .as_object()
        .expect("resources")
        .iter()
        .find(|(_, r)| r["Attributes"]["Arn"] == role_arn)
        .expect("function role");
    let delivery = place("BEDROCK_LOG_ROLE_ARN");
    let d = passes_to_bedrock(role, &delivery, HUB);
    assert_eq!(d, Decision::Allow, "pass {delivery}");
}

/// Whether `role` (a resolved role of `account`) may pass `delivery` to Bedrock.
fn passes_to_bedrock(role: &Value, delivery: &str, account: &str) -> Decision {
    let role_arn = role["Attributes"]["Arn"].as_str().expect("arn");
    evaluate(
        &policies(role),
        None,
        &Request {
            context: vec![("iam:PassedToService", "bedrock.amazonaws.com".to_owned())],
            ..request(role_arn, "iam:PassRole", delivery)
        },
        account,
        false,
    )
}

/// The member roles, their conditions and output, both templates' forwarding patterns and each
/// function's own CloudTrail pattern are generated from the registry and the operations' IAM
/// facts (`remediate generate`): the
/// checked-in templates are what the generator writes, so a new control's permissions and events
/// reach them without a hand edit.
#[test]
fn the_generated_parts_of_the_templates_are_what_the_registry_gives() {
    for (file, blocks) in remediation::deploy::generated() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(file);
        let text = std::fs::read_to_string(&path).expect("template");
        let generated = remediation::deploy::with_blocks(&text, &blocks).expect("generated blocks");
        assert!(
            generated == text,
            "{file} differs from the registry: run `cargo run -p remediate -- generate`"
        );
    }
}

/// IAM role names are at most 64 characters (IAM API reference, CreateRole): the longest
/// `<MemberRoleName>-<short>` the registry makes must fit, so `MemberRoleName`'s limit in both
/// templates is 64 less the longest short name and its dash — refused one character over, in
/// either template, before anything is created.
#[test]
fn the_member_role_prefix_leaves_room_for_every_functions_name() {
    let longest = FUNCTIONS
        .iter()
        .map(|f| f.short.len())
        .max()
        .expect("functions");
    let limit = 64 - 1 - longest;
    let prefix = |n: usize| "r".repeat(n);
    let hub_with = |name: &str| {
        resolve_in(
            "template.yaml",
            &[("MemberRoleName", name), ("OrganizationId", ORG)],
            HUB,
            "us-east-1",
        )
    };
    let fits = prefix(limit);
    let hub = hub_with(&fits);
    assert!(hub.get("refused").is_none(), "{hub}");
    let t = member(&hub, "us-east-1", &[("MemberRoleName", &fits)]);
    // cfn.py refuses a RoleName over IAM's 64 characters: every member role was created.
    assert_eq!(member_roles(&t).len(), FUNCTIONS.len());
    let over = prefix(limit + 1);
    assert!(hub_with(&over).get("refused").is_some());
    let roles = hub["outputs"]["HubRoleArns"].as_str().expect("roles");
    let bus = hub["outputs"]["HubEventBusArn"].as_str().expect("bus");
    let refused = resolve_in(
        "member-template.yaml",
        &[
            ("HubRoleArns", roles),
            ("HubEventBusArn", bus),
            ("MemberRoleName", &over),
        ],
        MEMBER,
        "us-east-1",
    );
    assert!(refused.get("refused").is_some(), "{refused}");
}
