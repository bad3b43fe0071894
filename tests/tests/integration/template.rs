//! The template as AWS resolves it (`tests/tools/cfn.py`: the SAM transform with AWS's translator,
//! CloudFormation's Rules, conditions and documented `Ref`/`GetAtt` formats), for the default
//! parameters and each documented variant:
//! - parameters CloudFormation would refuse are refused, with the template's own message;
//! - every function binary, started with exactly the environment the template gives it, reaches
//!   the Lambda Runtime API (it does not refuse to start);
//! - every role's policies, evaluated like IAM does (`integration_tests::iam`), allow every call the
//!   function makes on the concrete resource ARN, and the platform's calls on the function's behalf;
//! - Bedrock can deliver to the destinations the template creates (delivery role trust and
//!   permissions, bucket policy, key policy), and the alarms can publish to their topic's key;
//! - what holds data survives the stack; every Config rule is gated on CreateManagedConfigRules.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use integration_tests::iam::{evaluate, on_any_resource, Decision, Principal, Request};
use integration_tests::template::{function_by_binary, resolve, resolve_many, role_policies, Job};
use integration_tests::{emulator, operation_resource, Recorder, ACCOUNT, REGION};
use remediation::env::Lookup;
use remediation::hub::{Hub, HubSettings, ASSUME_ROLE, SEND_SWEEPS};
use remediation::policy::{Mode, Policy};
use remediation::{contested, functions, governance, Engine, Settings};
use serde_json::Value;

/// Parameter sets a user may deploy with, by name.
const DEPLOYABLE: &[(&str, &[(&str, &str)])] = &[
    ("defaults", &[]),
    (
        "own S3 destination",
        &[
            ("CreateBedrockLogDestinations", "false"),
            ("BedrockLogBucket", "corp-bedrock-logs"),
        ],
    ),
    (
        "own CloudWatch-only destination, role with a path",
        &[
            ("CreateBedrockLogDestinations", "false"),
            ("BedrockLogGroup", "/corp/bedrock/invocations"),
            (
                "BedrockLogRoleArn",
                "arn:aws:iam::123456789012:role/service-role/corp-bedrock-logging",
            ),
            ("BedrockLogLargeDataBucket", "corp-bedrock-large"),
            ("BedrockLogLargeDataKeyPrefix", "large/"),
        ],
    ),
    (
        "every option on",
        &[
            ("NotificationEmail", "secops@example.com"),
            ("ExemptTag", "ai-guard:exempt"),
            ("KeepFixingContested", "false"),
            ("ExemptResources", "arn:aws:s3:::public-*"),
            ("BedrockLogTextImageEmbeddingVideo", "true,true,true,false"),
            ("TlsOnlyBuckets", "ai-*,ml-*"),
            ("AiDataBuckets", "ai-training-*,tag:data-class=ai"),
            (
                "AiDataKmsKey",
                "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            ),
        ],
    ),
    (
        "no AWS Config recorder",
        &[
            ("CreateManagedConfigRules", "false"),
            ("EnableContestedTracking", "false"),
        ],
    ),
    (
        "one account, several regions",
        &[("Regions", "us-east-1,eu-west-1,ap-southeast-2")],
    ),
    (
        "organization hub",
        &[
            ("MemberRoleName", "ai-guard-member"),
            ("MemberRolePath", "/security/"),
            ("OrganizationId", "o-a1b2c3d4e5"),
            ("Regions", "us-east-1,eu-west-1"),
            ("OrganizationalUnits", "ou-ab12-cdefgh34"),
            ("ExcludedAccounts", "111111111111"),
            ("NotificationEmail", "secops@example.com"),
        ],
    ),
    (
        "organization hub, own Bedrock destinations named per account and region",
        &[
            ("MemberRoleName", "ai-guard-member"),
            ("OrganizationId", "o-a1b2c3d4e5"),
            ("Regions", "us-east-1,eu-west-1"),
            ("CreateBedrockLogDestinations", "false"),
            ("BedrockLogBucket", "corp-bedrock-logs-{account}-{region}"),
            ("BedrockLogGroup", "/corp/bedrock"),
            (
                "BedrockLogRoleArn",
                "arn:aws:iam::{account}:role/corp-bedrock-logging",
            ),
            ("AiDataBuckets", "ai-training-*"),
            (
                "AiDataKmsKey",
                "arn:aws:kms:{region}:{account}:alias/ai-data",
            ),
        ],
    ),
    (
        "one control",
        &[
            ("EnableS3PublicAccessBlock", "false"),
            ("EnableBedrockInvocationLogging", "false"),
            ("EnableSageMakerNotebookGuard", "false"),
        ],
    ),
];

/// Parameter sets CloudFormation must refuse before creating anything, and a piece of the message.
const REFUSED: &[(&[(&str, &str)], &str)] = &[
    (
        &[("CreateBedrockLogDestinations", "false")],
        "needs a known-good destination",
    ),
    (
        &[
            ("CreateBedrockLogDestinations", "false"),
            ("BedrockLogGroup", "/corp/bedrock"),
        ],
        "BedrockLogGroup and BedrockLogRoleArn go together",
    ),
    (
        &[
            ("CreateBedrockLogDestinations", "false"),
            ("BedrockLogBucket", "corp-bedrock-logs"),
            ("BedrockLogLargeDataBucket", "corp-bedrock-large"),
        ],
        "needs BedrockLogGroup and BedrockLogRoleArn",
    ),
    (
        &[("BedrockLogLargeDataKeyPrefix", "large/")],
        "needs BedrockLogLargeDataBucket",
    ),
    (
        &[("BedrockLogTextImageEmbeddingVideo", "true,true,true")],
        "four comma-separated true/false flags",
    ),
    (
        &[("BedrockLogRoleArn", "corp-bedrock-logging")],
        "an IAM role ARN",
    ),
    (
        &[
            ("EnableS3PublicAccessBlock", "false"),
            ("EnableBedrockInvocationLogging", "false"),
            ("EnableSageMakerNotebookGuard", "false"),
            ("EnableKmsKeyRotation", "false"),
            ("EnableS3DataProtection", "false"),
            ("EnableGuardDutyDetector", "false"),
            ("EnableCloudTrailLogging", "false"),
        ],
        "nothing to deploy",
    ),
    (
        &[("MemberRoleName", "ai-guard-member")],
        "needs OrganizationId",
    ),
    (
        &[("OrganizationalUnits", "ou-ab12-cdefgh34")],
        "need MemberRoleName",
    ),
    (
        &[("ApprovalControls", "s3-bucket-tls-only,no-such-control")],
        "each a control id",
    ),
    (&[("WritesPerInvocation", "0")], "WritesPerInvocation"),
    (&[("ApprovalExpiryHours", "721")], "ApprovalExpiryHours"),
];

fn deployable(name: &str, params: &[(&str, &str)]) -> Value {
    let t = resolve(params);
    assert!(
        t.get("refused").is_none(),
        "{name}: refused: {}",
        t["refused"]
    );
    t
}

fn of_type<'a>(t: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    t["resources"]
        .as_object()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(k, r)| (k.as_str(), r))
        .collect()
}

/// The resource whose `Ref` or `Arn` attribute is `value`.
fn by_value<'a>(t: &'a Value, value: &str) -> &'a Value {
    t["resources"]
        .as_object()
        .expect("resources")
        .values()
        .find(|r| r["Ref"] == value || r["Attributes"]["Arn"] == value)
        .unwrap_or_else(|| panic!("no resource is {value}"))
}

fn env_of(function: &Value) -> HashMap<String, String> {
    function["Properties"]["Environment"]["Variables"]
        .as_object()
        .map(|vars| {
            vars.iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("string env").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn binary_of(function: &Value) -> &str {
    function["Metadata"]["BuildProperties"]["Binary"]
        .as_str()
        .expect("BuildProperties.Binary")
}

#[test]
fn parameters_cloudformation_refuses_are_refused_with_the_templates_message() {
    for (params, message) in REFUSED {
        let t = resolve(params);
        let refused = t["refused"]
            .as_str()
            .unwrap_or_else(|| panic!("{params:?} deployed, expected a refusal"));
        assert!(refused.contains(message), "{params:?}: {refused}");
    }
}

/// The directory of the workspace's debug binaries (`cargo build --bins`, which scripts/test runs
/// before the tests).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .expect("target/debug")
}

/// Start `binary` with `vars` plus what Lambda itself sets, against a Runtime API on 127.0.0.1;
/// `Ok` once it asks for its first event, `Err(stderr)` if it exits first.
fn reaches_runtime_api(
    binary: &str,
    vars: &HashMap<String, String>,
    log_level: &str,
) -> Result<(), String> {
    let path = bin_dir().join(binary);
    assert!(
        path.exists(),
        "{} not built: run `cargo build --bins` first (scripts/test does)",
        path.display()
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let mut child = Command::new(&path)
        .env_clear()
        .envs(vars)
        // Lambda's reserved variables (Lambda developer guide, "Defined runtime environment variables").
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", binary)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/ai-guard/{binary}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/26/[$LATEST]0")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", log_level)
        .env("AWS_REGION", REGION)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "example")
        .env("AWS_SESSION_TOKEN", "example")
        .env("_HANDLER", "bootstrap")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let result = loop {
        if let Ok((stream, _)) = listener.accept() {
            stream.set_nonblocking(false).ok();
            let mut line = String::new();
            BufReader::new(stream).read_line(&mut line).ok();
            break if line.starts_with("GET /2018-06-01/runtime/invocation/next") {
                Ok(())
            } else {
                Err(format!("unexpected first request {line:?}"))
            };
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                std::io::Read::read_to_string(&mut e, &mut stderr).ok();
            }
            break Err(format!(
                "exited with {status} before its first event: {stderr}"
            ));
        }
        if Instant::now() > deadline {
            break Err("did not reach the Runtime API within 20 s".to_owned());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    child.kill().ok();
    child.wait().ok();
    result
}

#[test]
fn every_function_starts_with_the_environment_the_template_gives_it() {
    for (name, params) in DEPLOYABLE {
        let t = deployable(name, params);
        let functions = of_type(&t, "AWS::Lambda::Function");
        assert!(!functions.is_empty(), "{name}: no function");
        for (logical, function) in functions {
            // Lambda sets AWS_LAMBDA_LOG_LEVEL from the function's ApplicationLogLevel.
            let level = function["Properties"]["LoggingConfig"]["ApplicationLogLevel"]
                .as_str()
                .unwrap_or("INFO");
            if let Err(e) = reaches_runtime_api(binary_of(function), &env_of(function), level) {
                panic!("{name}: {logical} would not start on Lambda: {e}");
            }
        }
    }
}

/// Parameters CloudFormation accepts (no Rule can test a substring) but that can never work in a
/// member account: the function refuses to start, naming the setting, instead of failing every
/// sweep there.
/// (parameters, the function, the setting it names).
type StartRefusal = (
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static str,
);

const REFUSED_AT_START: &[StartRefusal] = &[(
    &[
        ("MemberRoleName", "ai-guard-member"),
        ("OrganizationId", "o-a1b2c3d4e5"),
        ("CreateBedrockLogDestinations", "false"),
        ("BedrockLogBucket", "corp-bedrock-logs"),
    ],
    "bedrock-invocation-logging",
    "BEDROCK_LOG_BUCKET",
)];

#[test]
fn settings_no_member_account_could_use_stop_the_function_at_start() {
    for (params, binary, variable) in REFUSED_AT_START {
        let t = deployable("refused at start", params);
        let function = function_by_binary(&t, binary);
        match reaches_runtime_api(binary, &env_of(function), "INFO") {
            Ok(()) => panic!("{params:?}: {binary} started"),
            Err(e) => assert!(e.contains(variable), "{params:?}: {e}"),
        }
    }
}

struct MapEnv(HashMap<String, String>);

impl Lookup for MapEnv {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// The function's engine built from the template's environment, as its binary builds it for
/// `region` of its own account (a hub or `REGIONS` fills in `{account}` and `{region}`).
async fn engine_of(binary: &str, vars: &HashMap<String, String>, region: &str) -> Engine {
    let env = MapEnv(vars.clone());
    let settings = Settings::from_lookup(&env).expect("settings from the template");
    let aws = emulator!().aws(&settings, &Recorder::new()).await;
    let function = functions::function(binary)
        .unwrap_or_else(|| panic!("{binary} is in the template but not in the registry"));
    let placed = HubSettings::from_lookup(&env)
        .expect("hub settings")
        .is_some();
    let built = if placed {
        (function.builder(env))(settings, &aws, ACCOUNT, region)
    } else {
        (function.build)(settings, &env, &aws)
    };
    built.unwrap_or_else(|e| panic!("{binary}: {e}"))
}

/// The AWS-managed `alias/aws/sns` key's policy as AWS documents it: principals of the account,
/// through SNS only. No service principal (such as CloudWatch) can be added to it.
fn aws_managed_sns_key_policy() -> Value {
    serde_json::json!({"Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT, "kms:ViaService": format!("sns.{REGION}.amazonaws.com")}}
    }]})
}

/// The topic's key policy and key ARN.
fn topic_key(t: &Value, topic_arn: &str) -> (Value, String) {
    let topic = by_value(t, topic_arn);
    let key = topic["Properties"]["KmsMasterKeyId"]
        .as_str()
        .unwrap_or_else(|| panic!("topic {topic_arn} is not encrypted"));
    if key == "alias/aws/sns" {
        (
            aws_managed_sns_key_policy(),
            format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/sns"),
        )
    } else {
        let resource = by_value(t, key);
        (
            resource["Properties"]["KeyPolicy"].clone(),
            resource["Attributes"]["Arn"]
                .as_str()
                .expect("key arn")
                .to_owned(),
        )
    }
}

fn allowed(what: &str, decision: Decision) {
    assert_eq!(decision, Decision::Allow, "{what}");
}

/// The regions a function acts in: its `REGIONS`, else its own.
fn regions_of(vars: &HashMap<String, String>) -> Vec<String> {
    let regions: Vec<String> = vars
        .get("REGIONS")
        .map(|r| {
            r.split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if regions.is_empty() {
        vec![REGION.to_owned()]
    } else {
        regions
    }
}

/// Every call each function makes, in its own account, in every region it acts in (`REGIONS`:
/// a hub's own account and a single account in several regions are acted on with the function's
/// own role), evaluated on the resource ARN AWS builds for that region.
#[tokio::test]
async fn every_call_each_function_makes_is_allowed_on_the_real_resource() {
    for (name, params) in DEPLOYABLE {
        let t = deployable(name, params);
        for (logical, function) in of_type(&t, "AWS::Lambda::Function") {
            let vars = env_of(function);
            for region in regions_of(&vars) {
                let name = format!("{name} ({region})");
                let vars = vars.clone();
                calls_in_region(&t, &name, logical, function, vars, &region).await;
            }
        }
    }
}

async fn calls_in_region(
    t: &Value,
    name: &str,
    logical: &str,
    function: &Value,
    vars: HashMap<String, String>,
    acting_region: &str,
) {
    let binary = binary_of(function);
    let role_arn = function["Properties"]["Role"].as_str().expect("role");
    let identity = role_policies(by_value(t, role_arn));
    let principal = Principal::Role(role_arn);
    let check = |action: &str, resource: &str, context: Vec<(&str, String)>| {
        let req = Request {
            principal,
            action,
            resource,
            context,
        };
        let d = evaluate(&identity, None, &req, ACCOUNT, false);
        allowed(&format!("{name}: {logical} {action} on {resource}"), d);
    };
    let engine = engine_of(binary, &vars, acting_region).await;
    for op in engine.operations() {
        let resource = if on_any_resource(&op) {
            "*".to_owned()
        } else if op.api == "BatchUpdateFindingsV2" {
            // The new Security Hub's update is authorized on its `hubv2` resource type
            // (Service Authorization Reference, Security Hub), in the function's own
            // region, where the findings arrive.
            format!(
                "arn:aws:securityhub:{REGION}:{ACCOUNT}:hubv2/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
            )
        } else if op.service == "securityhub" {
            // BatchUpdateFindings is authorized on the hub (Service Authorization
            // Reference, Security Hub: resource type `hub`).
            format!("arn:aws:securityhub:{REGION}:{ACCOUNT}:hub/default")
        } else if op.service == "sns" {
            vars["NOTIFY_TOPIC_ARN"].clone()
        } else if op.service == "ssm" {
            // The policy document: this stack's parameter, read in the function's own region
            // (its name starts with `/`, which the ARN does not repeat).
            format!(
                "arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{}",
                vars["POLICY_PARAMETER"]
            )
        } else if op.service == "dynamodb" {
            // The same GetItem/PutItem serve the proposals' table and the contested counts':
            // each table whose component declares the operation.
            let counts = vars
                .get("CONTESTED_TABLE")
                .filter(|t| !t.is_empty())
                .filter(|_| {
                    op == contested::UPDATE
                        || op == contested::PUT
                        || (op == contested::GET && vars["KEEP_FIXING_CONTESTED"] == "false")
                });
            let proposals = vars
                .get("APPROVALS_TABLE")
                .filter(|t| !t.is_empty())
                .filter(|_| op == governance::GET_PROPOSAL || op == governance::PUT_PROPOSAL);
            let tables: Vec<&String> = counts.into_iter().chain(proposals).collect();
            assert!(!tables.is_empty(), "{name}: {logical}: {op:?} on no table");
            for table in tables {
                let arn = format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}");
                check(op.permission, &arn, vec![]);
            }
            continue;
        } else {
            let control = engine
                .controls()
                .find(|c| c.spec().operations.contains(&op) || c.spec().tag_operation == Some(op))
                .unwrap_or_else(|| panic!("{binary}: no control declares {op:?}"));
            operation_resource(control.spec(), &op, ACCOUNT, acting_region)
        };
        check(op.permission, &resource, vec![]);
    }
    // Implied by its calls: Bedrock's CloudWatch destination passes the delivery role.
    if let Some(role) = vars.get("BEDROCK_LOG_ROLE_ARN").filter(|r| !r.is_empty()) {
        // Named per account and region in a hub: this account's, this region's.
        let role = role
            .replace("{account}", ACCOUNT)
            .replace("{region}", acting_region);
        check(
            "iam:PassRole",
            &role,
            vec![("iam:PassedToService", "bedrock.amazonaws.com".into())],
        );
    }
    // Implied by CreateDetector: GuardDuty's service-linked role, created the first time.
    if engine
        .operations()
        .iter()
        .any(|o| o.permission == "guardduty:CreateDetector")
    {
        check(
            "iam:CreateServiceLinkedRole",
            &format!("arn:aws:iam::{ACCOUNT}:role/aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty"),
            vec![("iam:AWSServiceName", "guardduty.amazonaws.com".into())],
        );
    }
    // Publishing to an encrypted topic uses its key, through SNS, for the caller.
    if let Some(topic) = vars.get("NOTIFY_TOPIC_ARN").filter(|r| !r.is_empty()) {
        let (key_policy, key_arn) = topic_key(t, topic);
        for action in ["kms:GenerateDataKey", "kms:Decrypt"] {
            let req = Request {
                principal,
                action,
                resource: &key_arn,
                context: vec![
                    ("kms:ViaService", format!("sns.{REGION}.amazonaws.com")),
                    ("kms:CallerAccount", ACCOUNT.to_owned()),
                ],
            };
            let d = evaluate(&identity, Some(&key_policy), &req, ACCOUNT, true);
            allowed(&format!("{name}: {logical} {action} on {key_arn}"), d);
        }
    }
    // The platform, with the function's role: its log streams and its dead-letter queue.
    let log_group = function["Properties"]["LoggingConfig"]["LogGroup"]
        .as_str()
        .expect("log group");
    let stream = format!(
        "arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{log_group}:log-stream:2026/11/26/[$LATEST]0"
    );
    check("logs:CreateLogStream", &stream, vec![]);
    check("logs:PutLogEvents", &stream, vec![]);
    let dlq = function["Properties"]["DeadLetterConfig"]["TargetArn"]
        .as_str()
        .expect("dead-letter queue");
    check("sqs:SendMessage", dlq, vec![]);
    // A hub: assuming the member role, listing the organization, its sweep queue (sending
    // jobs, and Lambda polling it with the function's role).
    let env = MapEnv(vars.clone());
    // (`REGIONS` alone: the own account in several regions, nothing more than its engines' calls.)
    let hub = HubSettings::from_lookup(&env)
        .expect("hub settings")
        .filter(|h| h.member_role.is_some());
    if let Some(hub) = hub {
        let settings = Settings::from_lookup(&env).expect("settings");
        let function = functions::function(binary).expect("registered");
        let aws = emulator!().aws(&settings, &Recorder::new()).await;
        let queue_url = vars["SWEEP_QUEUE_URL"].clone();
        let queue = by_value(t, &queue_url)["Attributes"]["Arn"]
            .as_str()
            .expect("queue arn")
            .to_owned();
        let member_role = hub
            .member_role_arn(MEMBER, acting_region)
            .expect("member role");
        let hub = Hub::new(binary, settings, hub, aws, function.builder(env))
            .unwrap_or_else(|e| panic!("{name}: {binary}: {e}"));
        let ops = hub.operations();
        assert!(
            ops.contains(&ASSUME_ROLE) && ops.contains(&SEND_SWEEPS),
            "{ops:?}"
        );
        // The organization the hub's bus accepts: the member roles it may assume are its.
        let (_, bus_policy) = of_type(t, "AWS::Events::EventBusPolicy")
            .into_iter()
            .next()
            .expect("hub bus policy");
        let org = bus_policy["Properties"]["Statement"]["Condition"]["StringEquals"]
            ["aws:PrincipalOrgID"]
            .as_str()
            .expect("organization id")
            .to_owned();
        for op in ops {
            let (resource, context) = match op.service {
                "sts" => (
                    member_role.clone(),
                    vec![("aws:ResourceOrgID", org.clone())],
                ),
                "sqs" => (queue.clone(), vec![]),
                _ => ("*".to_owned(), vec![]),
            };
            check(op.permission, &resource, context);
        }
        // A role of the same name in an account outside the organization: never assumed.
        let outside = Request {
            principal,
            action: ASSUME_ROLE.permission,
            resource: &member_role,
            context: vec![("aws:ResourceOrgID", "o-zzzzzzzzzz".to_owned())],
        };
        assert_eq!(
            evaluate(&identity, None, &outside, ACCOUNT, false),
            Decision::ImplicitDeny,
            "{name}: {logical} may assume a role outside its organization"
        );
        for action in [
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        ] {
            check(action, &queue, vec![]);
        }
    }
}

/// A member account of the organization variant.
const MEMBER: &str = "210987654321";

#[test]
fn bedrock_can_deliver_to_the_destinations_the_template_creates() {
    let t = deployable("defaults", &[]);
    let function = function_by_binary(&t, "bedrock-invocation-logging");
    let vars = env_of(function);
    let bedrock = Principal::Service("bedrock.amazonaws.com");
    // Bedrock's requests carry the account and a source ARN in it (Bedrock user guide, "Model
    // invocation logging": the policies' aws:SourceAccount / aws:SourceArn conditions).
    let context = || {
        vec![
            ("aws:SourceAccount", ACCOUNT.to_owned()),
            (
                "aws:SourceArn",
                format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-logging"),
            ),
            ("aws:SecureTransport", "true".to_owned()),
        ]
    };
    // CloudWatch Logs: Bedrock assumes the delivery role, then writes the stream
    // `aws/bedrock/modelinvocations` of the log group.
    let role_arn = &vars["BEDROCK_LOG_ROLE_ARN"];
    let role = by_value(&t, role_arn);
    let assume = Request {
        principal: bedrock,
        action: "sts:AssumeRole",
        resource: role_arn,
        context: context(),
    };
    let trust = &role["Properties"]["AssumeRolePolicyDocument"];
    allowed(
        "bedrock assumes the delivery role",
        evaluate(&[], Some(trust), &assume, ACCOUNT, false),
    );
    let stream = format!(
        "arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{}:log-stream:aws/bedrock/modelinvocations",
        vars["BEDROCK_LOG_GROUP"]
    );
    for action in ["logs:CreateLogStream", "logs:PutLogEvents"] {
        let req = Request {
            principal: Principal::Role(role_arn),
            action,
            resource: &stream,
            context: vec![],
        };
        allowed(
            &format!("delivery role {action} on {stream}"),
            evaluate(&role_policies(role), None, &req, ACCOUNT, false),
        );
    }
    // S3: Bedrock puts objects under <prefix>AWSLogs/<account>/BedrockModelInvocationLogs/, into a
    // bucket encrypted with the stack's key.
    let bucket = &vars["BEDROCK_LOG_BUCKET"];
    let object = format!(
        "arn:aws:s3:::{bucket}/{}AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/{REGION}/2026/11/26/10/part.json.gz",
        vars["BEDROCK_LOG_KEY_PREFIX"]
    );
    let (_, bucket_policy) = of_type(&t, "AWS::S3::BucketPolicy")
        .into_iter()
        .find(|(_, p)| p["Properties"]["Bucket"] == bucket.as_str())
        .expect("log bucket policy");
    let put = Request {
        principal: bedrock,
        action: "s3:PutObject",
        resource: &object,
        context: context(),
    };
    let policy = &bucket_policy["Properties"]["PolicyDocument"];
    allowed(
        "bedrock writes log objects",
        evaluate(&[], Some(policy), &put, ACCOUNT, false),
    );
    let plain = Request {
        context: vec![("aws:SecureTransport", "false".to_owned())],
        ..put.clone()
    };
    assert!(
        matches!(
            evaluate(&[], Some(policy), &plain, ACCOUNT, false),
            Decision::ExplicitDeny(_)
        ),
        "the log bucket refuses plain HTTP"
    );
    let bucket_resource = by_value(&t, bucket);
    let key_arn = bucket_resource["Properties"]["BucketEncryption"]
        ["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]
        .as_str()
        .expect("bucket key");
    let key = by_value(&t, key_arn);
    let generate = Request {
        principal: bedrock,
        action: "kms:GenerateDataKey",
        resource: key_arn,
        context: context(),
    };
    allowed(
        "bedrock encrypts log objects with the bucket key",
        evaluate(
            &[],
            Some(&key["Properties"]["KeyPolicy"]),
            &generate,
            ACCOUNT,
            true,
        ),
    );
}

#[test]
fn each_functions_notification_alarm_watches_its_controls_within_cloudwatchs_limit() {
    let (name, params) = DEPLOYABLE
        .iter()
        .find(|(n, _)| *n == "every option on")
        .expect("variant");
    let t = deployable(name, params);
    let alarms = of_type(&t, "AWS::CloudWatch::Alarm");
    let mut watched_by_all = std::collections::BTreeSet::new();
    for f in functions::FUNCTIONS {
        let logical = format!("{}NotificationFailuresAlarm", f.logical);
        let (_, alarm) = alarms
            .iter()
            .find(|(l, _)| **l == logical)
            .unwrap_or_else(|| panic!("{logical}"));
        let metrics = alarm["Properties"]["Metrics"].as_array().expect("metrics");
        let watched: std::collections::BTreeSet<&str> = metrics
            .iter()
            .filter_map(|m| m["MetricStat"]["Metric"]["Dimensions"][0]["Value"].as_str())
            .collect();
        // CloudWatch's hard limit on metrics in a metric-math alarm (CloudWatch user guide,
        // "Limits that apply to alarms based on metric math expressions").
        assert!(
            metrics.len() <= remediation::deploy::ALARM_METRICS_MAX + 1,
            "{logical}: {} metrics",
            metrics.len()
        );
        assert_eq!(watched, f.specs.iter().map(|s| s.id).collect(), "{logical}");
        watched_by_all.extend(watched);
    }
    let controls: std::collections::BTreeSet<&str> = functions::FUNCTIONS
        .iter()
        .flat_map(|f| f.specs.iter().map(|s| s.id))
        .collect();
    assert_eq!(watched_by_all, controls);
}

#[test]
fn alarms_can_publish_to_their_encrypted_topic() {
    let t = deployable(
        "notifications",
        &[("NotificationEmail", "secops@example.com")],
    );
    let alarms = of_type(&t, "AWS::CloudWatch::Alarm");
    assert!(!alarms.is_empty());
    for (logical, alarm) in alarms {
        let actions = alarm["Properties"]["AlarmActions"]
            .as_array()
            .unwrap_or_else(|| panic!("{logical} notifies nobody"));
        for topic in actions.iter().filter_map(Value::as_str) {
            let (key_policy, key_arn) = topic_key(&t, topic);
            for action in ["kms:GenerateDataKey", "kms:Decrypt"] {
                let req = Request {
                    principal: Principal::Service("cloudwatch.amazonaws.com"),
                    action,
                    resource: &key_arn,
                    context: vec![],
                };
                allowed(
                    &format!("{logical}: CloudWatch {action} on {key_arn}"),
                    evaluate(&[], Some(&key_policy), &req, ACCOUNT, true),
                );
            }
        }
    }
}

#[test]
fn what_holds_data_survives_the_stack_and_config_rules_need_their_switch() {
    let t = deployable("defaults", &[]);
    for kind in ["AWS::S3::Bucket", "AWS::KMS::Key", "AWS::Logs::LogGroup"] {
        for (logical, r) in of_type(&t, kind) {
            let holds_bedrock_logs = logical.starts_with("BedrockLog");
            if holds_bedrock_logs {
                assert_eq!(r["DeletionPolicy"], "Retain", "{logical}");
                assert_eq!(r["UpdateReplacePolicy"], "Retain", "{logical}");
                assert!(
                    r["Properties"].get("LogGroupName").is_none()
                        && r["Properties"].get("BucketName").is_none(),
                    "{logical}: a retained resource with a fixed name blocks a new stack of that name"
                );
            }
        }
    }
    let off = deployable(
        "no AWS Config recorder",
        &[("CreateManagedConfigRules", "false")],
    );
    assert!(
        of_type(&off, "AWS::Config::ConfigRule").is_empty(),
        "every Config rule needs a recorder"
    );
    assert!(of_type(&off, "AWS::Config::RemediationConfiguration").is_empty());
    // The periodic SageMaker rule runs at the chosen frequency (as in AWS's conformance packs).
    let rule = of_type(&t, "AWS::Config::ConfigRule")
        .into_iter()
        .find(|(_, r)| {
            r["Properties"]["Source"]["SourceIdentifier"]
                == "SAGEMAKER_NOTEBOOK_NO_DIRECT_INTERNET_ACCESS"
        })
        .expect("rule")
        .1;
    assert_eq!(
        rule["Properties"]["MaximumExecutionFrequency"], "One_Hour",
        "{rule}"
    );
}

/// Where a findings rule's pattern filters the finding's account and region: ASFF's
/// `AwsAccountId`/`Region`, OCSF's `cloud.account.uid`/`cloud.region`.
fn finding_place(pattern: &Value) -> (&Value, &Value) {
    let findings = &pattern["detail"]["findings"];
    if pattern["detail-type"][0] == "Findings Imported V2" {
        (
            &findings["cloud"]["account"]["uid"],
            &findings["cloud"]["region"],
        )
    } else {
        (&findings["AwsAccountId"], &findings["Region"])
    }
}

/// The event pattern of a rule (CloudFormation takes it as JSON text or an object).
fn pattern_of(rule: &Value) -> Option<Value> {
    match rule["Properties"].get("EventPattern")? {
        Value::String(s) => Some(serde_json::from_str(s).expect("pattern json")),
        v => Some(v.clone()),
    }
}

#[test]
fn relayed_events_of_other_accounts_and_regions_are_filtered_by_the_rules() {
    let t = deployable("defaults", &[]);
    for (logical, rule) in of_type(&t, "AWS::Events::Rule") {
        let Some(pattern) = pattern_of(rule) else {
            continue; // schedules
        };
        let source = pattern["source"][0].as_str().unwrap_or_default();
        if source == "aws.securityhub" {
            let (account, region) = finding_place(&pattern);
            assert_eq!(account, &serde_json::json!([ACCOUNT]), "{logical}");
            assert_eq!(region, &serde_json::json!([REGION]), "{logical}");
        } else {
            assert_eq!(
                pattern["account"],
                serde_json::json!([ACCOUNT]),
                "{logical}"
            );
        }
        if source == "aws.config" {
            assert_eq!(pattern["detail"]["awsRegion"], serde_json::json!([REGION]));
        }
    }
}

/// A hub takes the organization's events on its own bus, which only the organization may put
/// events on; Security Hub findings come from its own (administrator's) feed on the default bus;
/// its rules let every account and region through (the function narrows them to its scope).
#[test]
fn a_hubs_rules_are_on_its_organization_only_bus() {
    let (name, params) = DEPLOYABLE
        .iter()
        .find(|(n, _)| *n == "organization hub")
        .expect("variant");
    let t = deployable(name, params);
    let (_, bus) = of_type(&t, "AWS::Events::EventBus")[0];
    let bus_name = bus["Ref"].as_str().expect("bus name");
    let bus_arn = bus["Attributes"]["Arn"].clone();
    let (_, policy) = of_type(&t, "AWS::Events::EventBusPolicy")[0];
    assert_eq!(policy["Properties"]["EventBusName"], bus_name);
    let statement = &policy["Properties"]["Statement"];
    assert_eq!(statement["Action"], "events:PutEvents");
    assert_eq!(
        statement["Condition"]["StringEquals"]["aws:PrincipalOrgID"],
        "o-a1b2c3d4e5"
    );
    let exists = serde_json::json!([{"exists": true}]);
    let mut on_bus = 0;
    for (logical, rule) in of_type(&t, "AWS::Events::Rule") {
        let Some(pattern) = pattern_of(rule) else {
            assert!(
                rule["Properties"].get("EventBusName").is_none(),
                "{logical}"
            );
            continue; // schedules: the hub's own
        };
        let bus = rule["Properties"]["EventBusName"].as_str();
        if rule["Properties"]["Targets"][0]["Arn"] == bus_arn {
            // The hub account's own events, forwarded from its default bus to the hub bus.
            assert_eq!(bus, None, "{logical}");
            continue;
        }
        if pattern["source"][0] == "aws.securityhub" {
            assert_eq!(bus, None, "{logical}: findings arrive on the default bus");
            let (account, region) = finding_place(&pattern);
            assert_eq!(account, &exists, "{logical}");
            assert_eq!(region, &exists, "{logical}");
        } else {
            assert_eq!(bus, Some(bus_name), "{logical}");
            assert_eq!(pattern["account"], exists, "{logical}");
            on_bus += 1;
        }
    }
    assert!(on_bus >= 5, "{on_bus} rules on the hub's bus");
    // Each function's sweep queue is FIFO, drained by the function, with partial batch failures.
    for (logical, mapping) in of_type(&t, "AWS::Lambda::EventSourceMapping") {
        let queue = by_value(
            &t,
            mapping["Properties"]["EventSourceArn"]
                .as_str()
                .expect("arn"),
        );
        assert_eq!(queue["Properties"]["FifoQueue"], true, "{logical}");
        assert!(
            queue["Ref"].as_str().is_some_and(|u| u.ends_with(".fifo")),
            "{logical}"
        );
        assert_eq!(
            mapping["Properties"]["FunctionResponseTypes"],
            serde_json::json!(["ReportBatchItemFailures"]),
            "{logical}"
        );
    }
    assert_eq!(
        of_type(&t, "AWS::Lambda::EventSourceMapping").len(),
        of_type(&t, "AWS::Lambda::Function").len()
    );
}

/// The template's function switches: the `Enable*` parameters its `AtLeastOneControl` rule
/// names, one per function of the registry.
fn switches() -> Vec<String> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"),
    )
    .expect("template.yaml");
    let rule = text
        .split("  AtLeastOneControl:")
        .nth(1)
        .and_then(|r| r.split("AssertDescription").next())
        .expect("the AtLeastOneControl rule");
    let switches: Vec<String> = rule
        .split("!Ref ")
        .skip(1)
        .filter_map(|r| r.split(',').next())
        .map(str::to_owned)
        .collect();
    assert_eq!(switches.len(), functions::FUNCTIONS.len(), "{switches:?}");
    switches
}

/// The longest stack name that works: CloudFormation allows 128 characters, but names the template
/// derives from the stack name must fit their types' limits (the longest: a Config rule name, 128
/// characters). The test below finds one more refused, and the README states this number.
const LONGEST_STACK_NAME: usize = 82;

/// Every combination of the switches, with the hub off and on (and a stack name as long as the
/// README allows), resolved as CloudFormation does:
/// - CloudFormation accepts it (every name fits its type's limit, a FIFO queue's 80 characters);
/// - every statement of every role's policies has actions and resources (IAM refuses a statement
///   without resources: MalformedPolicyDocument);
/// - every AWS Config remediation's function may be invoked by its automation role;
/// - every dead-letter queue (a function's, a sweep queue's) is watched by an alarm.
#[test]
fn every_switch_combination_deploys_and_holds_together() {
    let switches = switches();
    let mut jobs = Vec::new();
    for hub in [false, true] {
        for bits in 1u32..(1 << switches.len()) {
            let mut params: Vec<(&str, &str)> = switches
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    (
                        s.as_str(),
                        if bits & (1 << i) != 0 {
                            "true"
                        } else {
                            "false"
                        },
                    )
                })
                .collect();
            if hub {
                params.extend([
                    ("MemberRoleName", "ai-guard-member"),
                    ("OrganizationId", "o-a1b2c3d4e5"),
                    ("Regions", "us-east-1,eu-west-1"),
                    ("NotificationEmail", "secops@example.com"),
                ]);
            }
            let mut job = Job::new(&params);
            job.stack = format!("ai-guard-{}", "x".repeat(LONGEST_STACK_NAME - 9));
            jobs.push(job);
        }
    }
    // One character more than the limit: refused, so the limit is the real one.
    let mut longer = Job::new(&[]);
    longer.stack = format!("ai-guard-{}", "x".repeat(LONGEST_STACK_NAME - 8));
    jobs.push(longer);
    let mut resolved = resolve_many("template.yaml", &jobs);
    let over = resolved.pop().expect("the longer stack name");
    jobs.pop();
    assert!(
        over["refused"]
            .as_str()
            .is_some_and(|r| r.contains("longer than")),
        "a stack name of {} characters deploys: raise LONGEST_STACK_NAME",
        LONGEST_STACK_NAME + 1
    );
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
    )
    .expect("README");
    assert!(
        readme.contains(&format!("at most {LONGEST_STACK_NAME} characters")),
        "the README states the stack name limit ({LONGEST_STACK_NAME})"
    );
    assert_eq!(resolved.len(), jobs.len());
    for (job, t) in jobs.iter().zip(&resolved) {
        let name = format!("{:?}", job.params);
        assert!(
            t.get("refused").is_none(),
            "{name}: refused: {}",
            t["refused"]
        );
        statements_have_resources(&name, t);
        remediations_may_invoke_their_function(&name, t);
        dead_letters_are_watched(&name, t);
    }
}

fn statements_have_resources(name: &str, t: &Value) {
    for (logical, role) in of_type(t, "AWS::IAM::Role") {
        for policy in role_policies(role) {
            let statements = policy["Statement"].as_array().expect("statements");
            assert!(
                !statements.is_empty(),
                "{name}: {logical}: a policy without statements"
            );
            for statement in statements {
                for key in ["Action", "Resource"] {
                    let empty = match &statement[key] {
                        Value::Array(items) => items.is_empty(),
                        Value::String(s) => s.is_empty(),
                        _ => true,
                    };
                    assert!(
                        !empty,
                        "{name}: {logical}: a statement without {key}: {statement}"
                    );
                }
            }
        }
    }
}

fn remediations_may_invoke_their_function(name: &str, t: &Value) {
    for (logical, remediation) in of_type(t, "AWS::Config::RemediationConfiguration") {
        let parameters = &remediation["Properties"]["Parameters"];
        let static_value = |key: &str| {
            parameters[key]["StaticValue"]["Values"][0]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: {logical}: no {key}"))
                .to_owned()
        };
        let function = by_value(t, &static_value("FunctionName"));
        let function_arn = function["Attributes"]["Arn"]
            .as_str()
            .expect("function arn");
        let role_arn = static_value("AutomationAssumeRole");
        let role = by_value(t, &role_arn);
        let identity = role_policies(role);
        let req = Request {
            principal: Principal::Role(&role_arn),
            action: "lambda:InvokeFunction",
            resource: function_arn,
            context: vec![],
        };
        allowed(
            &format!("{name}: {logical}: the automation role invokes {function_arn}"),
            evaluate(&identity, None, &req, ACCOUNT, false),
        );
    }
}

fn dead_letters_are_watched(name: &str, t: &Value) {
    let mut queues: Vec<String> = Vec::new();
    for (_, function) in of_type(t, "AWS::Lambda::Function") {
        if let Some(arn) = function["Properties"]["DeadLetterConfig"]["TargetArn"].as_str() {
            queues.push(arn.to_owned());
        }
    }
    for (_, queue) in of_type(t, "AWS::SQS::Queue") {
        if let Some(arn) = queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"].as_str() {
            queues.push(arn.to_owned());
        }
    }
    assert!(!queues.is_empty(), "{name}: no dead-letter queue");
    let watched: Vec<&Value> = of_type(t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible")
        .flat_map(|(_, a)| {
            a["Properties"]["Dimensions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["Name"] == "QueueName")
                .map(|d| &d["Value"])
        })
        .collect();
    for arn in queues {
        let queue_name = by_value(t, &arn)["Attributes"]["QueueName"].clone();
        assert!(
            watched.contains(&&queue_name),
            "{name}: dead-letter queue {queue_name} has no alarm"
        );
    }
}

/// A Security Hub finding the functions could not update is counted in one metric without
/// dimensions (`remediation::metrics`), which one alarm watches, with every switch.
#[test]
fn an_alarm_watches_failed_finding_updates() {
    for (name, params) in DEPLOYABLE {
        let t = deployable(name, params);
        let watching: Vec<&str> = of_type(&t, "AWS::CloudWatch::Alarm")
            .into_iter()
            .filter(|(_, a)| {
                let p = &a["Properties"];
                p["Namespace"] == remediation::metrics::NAMESPACE
                    && p["MetricName"] == remediation::metrics::FINDING_UPDATE_FAILED
                    && p.get("Dimensions").is_none()
                    && p["Threshold"] == 0
            })
            .map(|(logical, _)| logical)
            .collect();
        assert_eq!(watching.len(), 1, "{name}: {watching:?}");
    }
}

/// Every remediation passes the SSM document exactly parameters it declares, each as AWS Config
/// takes it (AWS Config API reference, RemediationParameterValue: a `StaticValue` with its
/// `Values`, or a `ResourceValue` whose only `Value` is `RESOURCE_ID`); a `String` parameter of an
/// Automation document takes one value (Systems Manager user guide, "Data elements and
/// parameters": `StringList` is the list type), and a parameter without a default must be given.
#[test]
fn remediations_pass_the_document_exactly_its_parameters() {
    let (name, params) = DEPLOYABLE
        .iter()
        .find(|(n, _)| *n == "every option on")
        .expect("variant");
    let t = deployable(name, params);
    let remediations = of_type(&t, "AWS::Config::RemediationConfiguration");
    let rules = of_type(&t, "AWS::Config::ConfigRule");
    assert_eq!(remediations.len(), rules.len(), "a remediation per rule");
    for (logical, remediation) in remediations {
        let p = &remediation["Properties"];
        assert_eq!(p["TargetType"], "SSM_DOCUMENT", "{logical}");
        let document = by_value(&t, p["TargetId"].as_str().expect("TargetId"));
        assert_eq!(document["Type"], "AWS::SSM::Document", "{logical}");
        let declared = document["Properties"]["Content"]["parameters"]
            .as_object()
            .expect("document parameters");
        let given = p["Parameters"].as_object().expect("Parameters");
        for (key, value) in given {
            let declaration = declared
                .get(key)
                .unwrap_or_else(|| panic!("{logical}: the document declares no {key}"));
            match (value.get("StaticValue"), value.get("ResourceValue")) {
                (Some(s), None) => {
                    let values = s["Values"].as_array().expect("Values");
                    if declaration["type"] == "String" {
                        assert_eq!(values.len(), 1, "{logical}: {key}: {values:?}");
                    }
                    assert!(
                        values.iter().all(|v| v.is_string()),
                        "{logical}: {key}: {values:?}"
                    );
                }
                (None, Some(r)) => assert_eq!(r["Value"], "RESOURCE_ID", "{logical}: {key}"),
                _ => panic!("{logical}: {key}: {value}"),
            }
        }
        for (key, declaration) in declared {
            assert!(
                given.contains_key(key) || declaration.get("default").is_some(),
                "{logical}: the document's {key} has no default and is not given"
            );
        }
        // The automation runs as the role AWS Config passes (PutRemediationConfigurations: for
        // automatic remediation, the only valid assume-role parameter is AutomationAssumeRole).
        assert!(given.contains_key("AutomationAssumeRole"), "{logical}");
    }
}

/// EventBridge's quota "Event pattern size": 2,048 characters by default (EventBridge user
/// guide, "Amazon EventBridge quotas"; adjustable, but a deployment must not need a request).
#[test]
fn event_patterns_fit_eventbridges_default_size() {
    const EVENT_PATTERN_MAX: usize = 2048;
    for variant in ["every option on", "organization hub"] {
        let (name, params) = DEPLOYABLE
            .iter()
            .find(|(n, _)| *n == variant)
            .expect("variant");
        let t = deployable(name, params);
        let rules = of_type(&t, "AWS::Events::Rule");
        assert!(!rules.is_empty(), "{name}");
        for (logical, rule) in rules {
            let Some(pattern) = rule["Properties"].get("EventPattern") else {
                continue;
            };
            let size = match pattern {
                Value::String(s) => s.chars().count(),
                other => other.to_string().chars().count(),
            };
            assert!(
                size <= EVENT_PATTERN_MAX,
                "{name}: {logical}: a {size}-character event pattern"
            );
        }
    }
}

/// The remediation policy document as CloudFormation writes it (`RemediationPolicy`'s `Value`,
/// resolved: `Fn::Join`, `Fn::If` on an empty `ApprovalControls`), parsed as the functions parse it.
fn starting_policy(name: &str, t: &Value) -> (String, Policy) {
    let parameters = of_type(t, "AWS::SSM::Parameter");
    assert_eq!(parameters.len(), 1, "{name}: {parameters:?}");
    let (_, parameter) = parameters[0];
    let text = parameter["Properties"]["Value"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: the policy parameter has no text value"));
    let policy = Policy::parse(text, functions::CONTROL_IDS)
        .unwrap_or_else(|e| panic!("{name}: the functions refuse the starting policy {text}: {e}"));
    let parameter_name = parameter["Ref"]
        .as_str()
        .expect("parameter name")
        .to_owned();
    (parameter_name, policy)
}

/// Governed remediation: every function is given this stack's policy parameter and proposals'
/// table, and its role reads exactly that parameter and reads and writes exactly that table; the
/// starting document CloudFormation writes is one the functions accept, and says what the
/// parameters say.
#[test]
fn every_function_is_governed_by_the_stacks_own_policy_and_proposals() {
    let hub = DEPLOYABLE
        .iter()
        .find(|(n, _)| *n == "organization hub")
        .expect("variant")
        .1;
    let mut variants: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("defaults", vec![]),
        (
            "approval of two controls",
            vec![
                ("RemediationMode", "notify"),
                (
                    "ApprovalControls",
                    "s3-bucket-public-access-block, kms-key-rotation",
                ),
                ("WritesPerInvocation", "10"),
                ("ApprovalExpiryHours", "24"),
            ],
        ),
        (
            "everything off but one control in approve mode",
            vec![
                ("RemediationMode", "off"),
                ("ApprovalControls", "guardduty-detector"),
                ("SecurityHubApprovalAction", "false"),
            ],
        ),
    ];
    variants.push(("organization hub", hub.to_vec()));
    for (name, params) in &variants {
        let t = deployable(name, params);
        let (parameter_name, policy) = starting_policy(name, &t);
        assert_eq!(parameter_name, "/ai-guard/remediation-policy", "{name}");
        let given = |key: &str| params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let mode = match given("RemediationMode").unwrap_or("enforce") {
            "notify" => Mode::Notify,
            "approve" => Mode::Approve,
            "off" => Mode::Off,
            _ => Mode::Enforce,
        };
        assert_eq!(policy.default_mode, mode, "{name}");
        let approved: Vec<String> = given("ApprovalControls")
            .map(|c| c.split(',').map(|c| c.trim().to_owned()).collect())
            .unwrap_or_default();
        if approved.is_empty() {
            assert!(policy.rules.is_empty(), "{name}: {:?}", policy.rules);
        } else {
            assert_eq!(policy.rules.len(), 1, "{name}: {:?}", policy.rules);
            assert_eq!(policy.rules[0].mode, Mode::Approve, "{name}");
            assert_eq!(policy.rules[0].controls, approved, "{name}");
        }
        let number =
            |key: &str, default: u32| given(key).map_or(default, |v| v.parse().expect("a number"));
        assert_eq!(
            policy.limits.writes_per_invocation,
            number("WritesPerInvocation", 25),
            "{name}"
        );
        assert_eq!(
            policy.approval.expires_after_hours,
            number("ApprovalExpiryHours", 72),
            "{name}"
        );
        let (_, table) = of_type(&t, "AWS::DynamoDB::Table")
            .into_iter()
            .find(|(l, _)| *l == "ApprovalsTable")
            .unwrap_or_else(|| panic!("{name}: no ApprovalsTable"));
        let p = &table["Properties"];
        assert_eq!(
            p["KeySchema"],
            serde_json::json!([{"AttributeName": "id", "KeyType": "HASH"}]),
            "{name}"
        );
        assert_eq!(
            p["TimeToLiveSpecification"],
            serde_json::json!({"AttributeName": "expires_at", "Enabled": true}),
            "{name}"
        );
        let table_name = table["Ref"].as_str().expect("table name");
        let table_arn = table["Attributes"]["Arn"].as_str().expect("table arn");
        let parameter_arn = format!("arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{parameter_name}");
        let functions = of_type(&t, "AWS::Lambda::Function");
        assert!(!functions.is_empty(), "{name}");
        for (logical, function) in functions {
            let vars = env_of(function);
            assert_eq!(
                vars.get("POLICY_PARAMETER").map(String::as_str),
                Some(parameter_name.as_str()),
                "{name}: {logical}"
            );
            assert_eq!(
                vars.get("APPROVALS_TABLE").map(String::as_str),
                Some(table_name),
                "{name}: {logical}"
            );
            let role_arn = function["Properties"]["Role"].as_str().expect("role");
            let identity = role_policies(by_value(&t, role_arn));
            let decide = |action: &str, resource: &str| {
                let req = Request {
                    principal: Principal::Role(role_arn),
                    action,
                    resource,
                    context: vec![],
                };
                evaluate(&identity, None, &req, ACCOUNT, false)
            };
            let other_parameter = format!("arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/other/policy");
            for op in [governance::GET_PARAMETER, governance::GET_PARAMETER_HISTORY] {
                let what = format!("{name}: {logical} {} on {parameter_arn}", op.permission);
                allowed(&what, decide(op.permission, &parameter_arn));
                assert_eq!(
                    decide(op.permission, &other_parameter),
                    Decision::ImplicitDeny,
                    "{name}: {logical} {} on another parameter",
                    op.permission
                );
            }
            let other_table = format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/other");
            for op in [governance::GET_PROPOSAL, governance::PUT_PROPOSAL] {
                let what = format!("{name}: {logical} {} on {table_arn}", op.permission);
                allowed(&what, decide(op.permission, table_arn));
                assert_eq!(
                    decide(op.permission, &other_table),
                    Decision::ImplicitDeny,
                    "{name}: {logical} {} on another table",
                    op.permission
                );
            }
        }
        assert_eq!(
            t["outputs"]["RemediationPolicyParameter"], parameter_name,
            "{name}"
        );
        assert_eq!(t["outputs"]["ApprovalsTableName"], table_name, "{name}");
    }
}

/// A refused policy version and fixes held back by a limit are alarmed on: one alarm on
/// `policy_invalid` (no dimensions), and per function one on `limit_reached` of each of its controls.
#[test]
fn refused_policies_and_reached_limits_are_alarmed_on() {
    let t = deployable("defaults", &[]);
    let alarms = of_type(&t, "AWS::CloudWatch::Alarm");
    let invalid: Vec<&str> = alarms
        .iter()
        .filter(|(_, a)| {
            let p = &a["Properties"];
            p["Namespace"] == remediation::metrics::NAMESPACE
                && p["MetricName"] == governance::POLICY_INVALID
                && p.get("Dimensions").is_none()
                && p["Statistic"] == "Sum"
                && p["Threshold"] == 1
                && p["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        })
        .map(|(l, _)| *l)
        .collect();
    assert_eq!(invalid, ["PolicyInvalidAlarm"]);
    for f in functions::FUNCTIONS {
        let logical = format!("{}LimitReachedAlarm", f.logical);
        let (_, alarm) = alarms
            .iter()
            .find(|(l, _)| **l == logical)
            .unwrap_or_else(|| panic!("{logical}"));
        let metrics = alarm["Properties"]["Metrics"].as_array().expect("metrics");
        assert!(metrics.len() <= remediation::deploy::ALARM_METRICS_MAX + 1);
        let watched: std::collections::BTreeSet<&str> = metrics
            .iter()
            .filter(|m| {
                m["MetricStat"]["Metric"]["MetricName"] == remediation::metrics::LIMIT_REACHED
                    && m["MetricStat"]["Metric"]["Namespace"] == remediation::metrics::NAMESPACE
            })
            .filter_map(|m| m["MetricStat"]["Metric"]["Dimensions"][0]["Value"].as_str())
            .collect();
        assert_eq!(watched, f.specs.iter().map(|s| s.id).collect(), "{logical}");
    }
}

/// Security Hub's custom action approves proposed fixes: where it is created, each function with
/// Security Hub controls has a rule taking exactly that action's events (the action's ARN in the
/// events' `resources`) to it, and EventBridge may invoke it; switched off, neither exists.
#[test]
fn the_approval_action_reaches_each_function_with_security_hub_controls() {
    let t = deployable("with the action", &[("SecurityHubApprovalAction", "true")]);
    let actions = of_type(&t, "AWS::SecurityHub::ActionTarget");
    assert_eq!(actions.len(), 1, "{actions:?}");
    let (_, action) = actions[0];
    assert_eq!(action["Properties"]["Id"], "AiGuardApprove");
    // Security Hub user guide, "Creating a custom action": the name must be fewer than 20
    // characters; the id at most 20 alphanumerics.
    let action_name = action["Properties"]["Name"].as_str().expect("name");
    assert!(action_name.chars().count() < 20, "{action_name}");
    let action_arn = action["Ref"].as_str().expect("action arn");
    assert_eq!(
        action_arn,
        format!("arn:aws:securityhub:{REGION}:{ACCOUNT}:action/custom/AiGuardApprove")
    );
    let rules = of_type(&t, "AWS::Events::Rule");
    let permissions = of_type(&t, "AWS::Lambda::Permission");
    for f in functions::FUNCTIONS {
        let function = function_by_binary(&t, f.name);
        let arn = function["Attributes"]["Arn"]
            .as_str()
            .expect("function arn");
        let approving: Vec<&Value> = rules
            .iter()
            .filter(|(_, r)| {
                pattern_of(r).is_some_and(|p| p["resources"] == serde_json::json!([action_arn]))
            })
            .filter(|(_, r)| r["Properties"]["Targets"][0]["Arn"] == arn)
            .map(|(_, r)| *r)
            .collect();
        let has_controls = f.specs.iter().any(|s| !s.security_hub_controls.is_empty());
        assert_eq!(approving.len(), usize::from(has_controls), "{}", f.name);
        for rule in approving {
            let pattern = pattern_of(rule).expect("pattern");
            assert_eq!(pattern["source"], serde_json::json!(["aws.securityhub"]));
            assert_eq!(
                pattern["detail-type"],
                serde_json::json!(["Security Hub Findings - Custom Action"])
            );
            let rule_arn = &rule["Attributes"]["Arn"];
            assert!(
                permissions.iter().any(|(_, p)| {
                    let p = &p["Properties"];
                    p["Principal"] == "events.amazonaws.com"
                        && p["Action"] == "lambda:InvokeFunction"
                        && p["FunctionName"] == arn
                        && p["SourceArn"] == *rule_arn
                }),
                "{}: EventBridge may not invoke it for {rule_arn}",
                f.name
            );
        }
    }
    // Off by default: creating the action fails where Security Hub is not enabled.
    let off = deployable("defaults", &[]);
    assert!(of_type(&off, "AWS::SecurityHub::ActionTarget").is_empty());
    assert!(of_type(&off, "AWS::Events::Rule").iter().all(|(_, r)| {
        pattern_of(r).is_none_or(|p| {
            p["detail-type"] != serde_json::json!(["Security Hub Findings - Custom Action"])
        })
    }));
}
