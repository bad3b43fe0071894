//! Least privilege, proven against the code: per function, the IAM actions its role grants in
//! `template.yaml` are exactly the operations its code declares (plus the platform's own: its
//! dead-letter queue and log group), no action is a wildcard, and only operations AWS offers no
//! resource-level permissions for are granted on `*`. (Every integration test also checks that each
//! call it records was declared, so "declared" and "called" agree.)

use std::collections::BTreeSet;
use std::process::Command;

use integration_tests::iam::NO_RESOURCE_SCOPE;
use integration_tests::{aws, env, settings, Recorder};
use remediation::functions::FUNCTIONS;
use remediation::hub::{Hub, HubSettings};
use remediation::Engine;
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

/// The organization's structure, read by a hub on `*`: the OU and root ARNs that could scope
/// them name the management account, which the hub's stack does not know; `DescribeOrganization`
/// (which names the management account) has no resource type at all. Read-only.
const ORGANIZATION_READS: &[&str] = &[
    "organizations:DescribeOrganization",
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
];

/// Permissions an operation needs besides its own action (AWS's documented requirements): when
/// the function calls the operation (left), its role also needs the permission (middle).
const IMPLIED: &[(&str, &str, &str)] = &[
    (
        "bedrock:PutModelInvocationLoggingConfiguration",
        "iam:PassRole",
        "PutModelInvocationLoggingConfiguration passes the CloudWatch Logs delivery role to Bedrock",
    ),
    (
        "guardduty:CreateDetector",
        "iam:CreateServiceLinkedRole",
        "CreateDetector creates GuardDuty's service-linked role the first time (GuardDuty user guide)",
    ),
    (
        "sns:Publish",
        "kms:GenerateDataKey",
        "publishing to a topic encrypted with a customer key (SNS developer guide, SSE)",
    ),
    (
        "sns:Publish",
        "kms:Decrypt",
        "publishing to a topic encrypted with a customer key (SNS developer guide, SSE)",
    ),
];

/// Every function of the registry, every optional feature on (the template's maximal grants).
async fn engines() -> Vec<(&'static str, Engine)> {
    let pairs = [
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
    let aws = aws(&s, &Recorder::new()).await;
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
async fn hub_operations(binary: &'static str) -> BTreeSet<String> {
    let function = remediation::functions::function(binary).expect("registered");
    let mut ops = BTreeSet::new();
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
        let aws = aws(&s, &Recorder::new()).await;
        let hub = Hub::new(binary, s, hub_settings, aws, function.builder(env(&pairs)))
            .unwrap_or_else(|e| panic!("{binary}: {e}"));
        ops.extend(hub.operations().iter().map(|o| o.permission.to_owned()));
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
                        NO_RESOURCE_SCOPE.contains(&action) || ORGANIZATION_READS.contains(&action),
                        "{binary}: {action} granted on * but it can be scoped"
                    );
                }
                granted.insert(action.to_owned());
            }
        }
        let mut needed: BTreeSet<String> = engine
            .operations()
            .iter()
            .map(|o| o.permission.to_owned())
            .collect();
        needed.extend(PLATFORM.iter().map(|p| p.to_string()));
        // As a hub (every option: member role, OUs, sweep queue), the hub's own calls too.
        needed.extend(hub_operations(binary).await);
        let implied: Vec<String> = IMPLIED
            .iter()
            .filter(|(by, _, _)| needed.contains(*by))
            .map(|(_, p, _)| p.to_string())
            .collect();
        needed.extend(implied);
        assert_eq!(
            granted, needed,
            "{binary}: template grants (left) vs code needs (right)"
        );
    }
}
