//! Bedrock's destinations as AWS checks them, across an organization (issue 24, defect 3).
//!
//! Bedrock accepts only destinations of the account and region it logs (Bedrock user guide,
//! "Monitor model invocation using CloudWatch Logs and Amazon S3"), and the emulator refuses the
//! others as Bedrock does. The hub is deployed with default parameters (`template.yaml` resolved
//! as CloudFormation does, its Bedrock function run with exactly the environment the template
//! gives it) over two member accounts in two regions; every account and region has the
//! destinations the stacks create there (`member-template.yaml` resolved in each, `template.yaml`
//! in the hub's home region), created in the emulator under that account and region:
//! - the hub's sweep fixes every account and region, none `failed`, each pointing at its own
//!   account's and region's destinations, which the role acting there may pass to Bedrock;
//! - the hub's own destinations pushed into the members are refused at start, and, forced past
//!   that check, refused by Bedrock in every member: `failed`;
//! - the emulator refuses a bucket, log group or delivery role of another account or region.
//!
//! As in `organization.rs`, the organization belongs to the emulator's default account, which is
//! also the hub; the StackSet is modelled as reaching every account of the organization, the hub's
//! included (the member template leaves the hub's home region to the hub stack).

use std::collections::BTreeSet;

use aws_sdk_bedrock::types::{CloudWatchConfig, LoggingConfig, S3Config};
use aws_sdk_organizations::types::OrganizationFeatureSet;
use integration_tests::iam::{evaluate, Decision, Principal, Request};
use integration_tests::template::{function_by_binary, resolve, resolve_in, role_policies};
use integration_tests::{admin, emulator, env, settings, Emulator, ACCOUNT, REGION};
use remediation::clients::AwsClients;
use remediation::functions::BEDROCK_INVOCATION_LOGGING;
use remediation::hub::{Hub, HubSettings};
use remediation::{EngineError, Outcome, OutcomeRecord};
use serde_json::Value;
use tokio::sync::{Mutex, OnceCell};

/// The hub's account: the emulator's default, where `template::resolve` deploys the hub.
const HUB: &str = ACCOUNT;
const OTHER_REGION: &str = "eu-west-1";
/// The hub's parameters as the README's deployment gives them; everything else is the default
/// (`CreateBedrockLogDestinations=true` among them).
const HUB_PARAMS: &[(&str, &str)] = &[
    ("MemberRoleName", "ai-guard-member"),
    ("OrganizationId", "o-a1b2c3d4e5"),
    ("Regions", "us-east-1,eu-west-1"),
];
const FUNCTION: &str = "bedrock-invocation-logging";
const BEDROCK: &str = "bedrock.amazonaws.com";

/// Bedrock logging is one setting per account and region: the tests of this module take turns.
static TURN: Mutex<()> = Mutex::const_new(());
static WORLD: OnceCell<World> = OnceCell::const_new();

/// The deployment: the organization, the resolved templates, the destinations created.
struct World {
    members: Vec<String>,
    hub: Value,
    /// The Bedrock function's environment as the template gives it.
    function_env: Vec<(String, String)>,
    /// (account, region) → the destinations its stacks created there.
    places: Vec<Place>,
}

struct Place {
    account: String,
    region: String,
    /// The member template as resolved in this account and region.
    member: Value,
    destinations: Destinations,
}

#[derive(Debug, Default, Clone)]
struct Destinations {
    buckets: Vec<String>,
    log_groups: Vec<String>,
    /// Delivery roles (trusting Bedrock): ARN and trust policy.
    roles: Vec<(String, Value)>,
}

impl World {
    fn regions(&self) -> [&'static str; 2] {
        [REGION, OTHER_REGION]
    }

    fn accounts(&self) -> Vec<&str> {
        std::iter::once(HUB)
            .chain(self.members.iter().map(String::as_str))
            .collect()
    }

    fn place(&self, account: &str, region: &str) -> &Place {
        self.places
            .iter()
            .find(|p| p.account == account && p.region == region)
            .unwrap_or_else(|| panic!("no place {account}/{region}"))
    }

    fn var(&self, name: &str) -> &str {
        self.function_env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// The environment as `(&str, &str)` pairs, with `overrides` first.
    fn env_with<'a>(&'a self, overrides: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        overrides
            .iter()
            .copied()
            .chain(
                self.function_env
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .collect()
    }
}

fn of_type<'a>(t: &'a Value, kind: &str) -> Vec<&'a Value> {
    t["resources"]
        .as_object()
        .expect("resources")
        .values()
        .filter(|r| r["Type"] == kind)
        .collect()
}

fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether a role's trust policy names Bedrock.
fn trusts_bedrock(role: &Value) -> bool {
    let trust = &role["Properties"]["AssumeRolePolicyDocument"];
    let statements = match &trust["Statement"] {
        Value::Array(s) => s.clone(),
        s => vec![s.clone()],
    };
    statements
        .iter()
        .any(|s| strings(&s["Principal"]["Service"]).contains(&BEDROCK))
}

/// The Bedrock log destinations a resolved template creates: buckets and log groups (their
/// `Ref` is the name, generated or given), roles Bedrock may assume (their ARN, path included).
fn destinations_of(t: &Value) -> Destinations {
    Destinations {
        buckets: of_type(t, "AWS::S3::Bucket")
            .into_iter()
            .map(|r| str_of(&r["Ref"]))
            .collect(),
        log_groups: of_type(t, "AWS::Logs::LogGroup")
            .into_iter()
            .map(|r| str_of(&r["Ref"]))
            .collect(),
        roles: of_type(t, "AWS::IAM::Role")
            .into_iter()
            .filter(|r| trusts_bedrock(r))
            .map(|r| {
                (
                    str_of(&r["Attributes"]["Arn"]),
                    r["Properties"]["AssumeRolePolicyDocument"].clone(),
                )
            })
            .collect(),
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Create `d` in the emulator in `account` and `region`, as the stack there does.
fn create(emulator: &Emulator, account: &str, region: &str, d: &Destinations) {
    let place = format!("account={account}&region={region}");
    let mut query: Vec<String> = d
        .buckets
        .iter()
        .map(|b| format!("bucket={}", encode(b)))
        .chain(
            d.log_groups
                .iter()
                .map(|g| format!("logGroup={}", encode(g))),
        )
        .collect();
    if !query.is_empty() {
        query.push(place.clone());
        emulator.harness_get(&format!(
            "/_harness/bedrock/destinations?{}",
            query.join("&")
        ));
    }
    // One request per role: each has its own trust policy.
    for (arn, trust) in &d.roles {
        emulator.harness_get(&format!(
            "/_harness/bedrock/destinations?{place}&role={}&trust={}",
            encode(arn),
            encode(&trust.to_string())
        ));
    }
}

fn hub_template() -> Value {
    let t = resolve(HUB_PARAMS);
    assert!(
        t.get("refused").is_none(),
        "the hub's parameters are refused: {}",
        t["refused"]
    );
    t
}

fn function_env(hub: &Value) -> Vec<(String, String)> {
    let function = function_by_binary(hub, FUNCTION);
    function["Properties"]["Environment"]["Variables"]
        .as_object()
        .expect("environment")
        .iter()
        .map(|(k, v)| (k.clone(), str_of(v)))
        .collect()
}

fn member_template(hub: &Value, account: &str, region: &str) -> Value {
    let roles = hub["outputs"]["HubRoleArns"].as_str().expect("HubRoleArns");
    let bus = hub["outputs"]["HubEventBusArn"]
        .as_str()
        .expect("HubEventBusArn");
    let t = resolve_in(
        "member-template.yaml",
        &[("HubRoleArns", roles), ("HubEventBusArn", bus)],
        account,
        region,
    );
    assert!(t.get("refused").is_none(), "{account}/{region}: {t}");
    t
}

/// An organization of the emulator's default account (the hub) with two member accounts.
async fn organization(aws: &AwsClients) -> Vec<String> {
    let org = aws.organizations();
    org.create_organization()
        .feature_set(OrganizationFeatureSet::All)
        .send()
        .await
        .expect("organization");
    let mut members = Vec::new();
    for i in 0..2 {
        let created = org
            .create_account()
            .email(format!("bedrock-member{i}@example.com"))
            .account_name(format!("bedrock-member{i}"))
            .send()
            .await
            .expect("account");
        members.push(
            created
                .create_account_status()
                .and_then(|s| s.account_id())
                .expect("account id")
                .to_owned(),
        );
    }
    members
}

/// The organization, the templates resolved, and every stack's destinations created.
async fn world() -> &'static World {
    WORLD
        .get_or_init(|| async {
            let emulator = emulator!();
            let aws = emulator.clients(&settings(&[])).await;
            let members = organization(&aws).await;
            let hub = hub_template();
            // The hub stack's own destinations, in its account and home region.
            create(emulator, HUB, REGION, &destinations_of(&hub));
            let mut places = Vec::new();
            for account in std::iter::once(HUB).chain(members.iter().map(String::as_str)) {
                for region in [REGION, OTHER_REGION] {
                    let member = member_template(&hub, account, region);
                    let destinations = destinations_of(&member);
                    create(emulator, account, region, &destinations);
                    places.push(Place {
                        account: account.to_owned(),
                        region: region.to_owned(),
                        member,
                        destinations,
                    });
                }
            }
            World {
                members,
                function_env: function_env(&hub),
                hub,
                places,
            }
        })
        .await
}

async fn logging(aws: &AwsClients, account: &str, region: &str) -> Option<LoggingConfig> {
    admin(aws, account, region)
        .await
        .bedrock()
        .get_model_invocation_logging_configuration()
        .send()
        .await
        .expect("read logging")
        .logging_config()
        .cloned()
}

fn hub_settings(pairs: &[(&str, &str)]) -> HubSettings {
    HubSettings::from_lookup(&env(pairs))
        .expect("hub settings")
        .expect("a hub")
}

/// The records of a sweep, failed ones included.
async fn sweep(hub: &Hub) -> Vec<OutcomeRecord> {
    match hub.sweep(HUB, false).await {
        Ok(r) => r.results,
        Err(EngineError::Unresolved { response, .. }) => response.results,
        Err(e) => panic!("sweep: {e}"),
    }
}

fn places_of(records: &[OutcomeRecord]) -> BTreeSet<(String, String)> {
    records
        .iter()
        .map(|r| (r.account.clone(), r.region.clone()))
        .collect()
}

fn role_with_arn<'a>(t: &'a Value, arn: &str) -> &'a Value {
    of_type(t, "AWS::IAM::Role")
        .into_iter()
        .find(|r| r["Attributes"]["Arn"] == arn)
        .unwrap_or_else(|| panic!("no role {arn}"))
}

#[tokio::test]
async fn a_hub_with_default_parameters_fixes_every_member_and_region_with_their_own_destinations() {
    let _turn = TURN.lock().await;
    let w = world().await;
    let aws = emulator!().clients(&settings(&[])).await;
    // Logging off everywhere, so every place needs the hub's write.
    logging_off_everywhere(&aws, w).await;

    // The function exactly as the template configures it: its own settings and its hub's. It
    // starts (the hub-mode check passes) and sweeps every account and region of the organization.
    let vars = w.env_with(&[]);
    let hub = BEDROCK_INVOCATION_LOGGING
        .hub(
            FUNCTION,
            settings(&[]),
            hub_settings(&vars),
            aws.clone(),
            env(&vars),
        )
        .expect("the hub starts with the template's settings");
    let records = sweep(&hub).await;
    let expected: BTreeSet<(String, String)> = w
        .accounts()
        .iter()
        .flat_map(|a| w.regions().map(|r| (a.to_string(), r.to_owned())))
        .collect();
    assert_eq!(places_of(&records), expected, "{records:#?}");
    let failed: Vec<&OutcomeRecord> = records
        .iter()
        .filter(|r| r.outcome == Outcome::Failed)
        .collect();
    assert!(failed.is_empty(), "failed records: {failed:#?}");
    for r in &records {
        assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    }

    // Each account and region logs to its own destinations: those its stacks created there, under
    // the names the member template and the hub share.
    let hub_template_destinations = destinations_of(&w.hub);
    for account in w.accounts() {
        for region in w.regions() {
            let created = if account == HUB && region == REGION {
                &hub_template_destinations
            } else {
                &w.place(account, region).destinations
            };
            let config = logging(&aws, account, region)
                .await
                .unwrap_or_else(|| panic!("{account}/{region}: logging off"));
            let s3 = config.s3_config().expect("S3 destination");
            let cw = config.cloud_watch_config().expect("CloudWatch destination");
            let place = format!("{account}/{region}");
            assert_eq!(
                s3.bucket_name(),
                format!("ai-guard-bedrock-logs-{account}-{region}"),
                "{place}"
            );
            assert_eq!(s3.key_prefix(), Some("bedrock/"), "{place}");
            assert_eq!(
                cw.log_group_name(),
                "/ai-guard/bedrock/model-invocations",
                "{place}"
            );
            assert_eq!(
                cw.role_arn(),
                format!("arn:aws:iam::{account}:role/ai-guard-bedrock-logging-{region}"),
                "{place}"
            );
            assert!(
                created.buckets.iter().any(|b| b == s3.bucket_name()),
                "{place}: the bucket is not one its stack created: {created:?}"
            );
            assert!(
                created.log_groups.iter().any(|g| g == cw.log_group_name()),
                "{place}: the log group is not one its stack created: {created:?}"
            );
            assert!(
                created.roles.iter().any(|(arn, _)| arn == cw.role_arn()),
                "{place}: the role is not one its stack created: {created:?}"
            );
        }
    }

    // The emulator does not enforce IAM: the role acting in each account (the member role; the
    // function's own role in the hub's account) may pass exactly that delivery role, to Bedrock.
    let own_role = w.var("OWN_ROLE_ARN");
    let primary = |account: &str| &w.place(account, REGION).member;
    for account in w.accounts() {
        let (identity, principal) = if account == HUB {
            (
                role_policies(role_with_arn(&w.hub, own_role)),
                own_role.to_owned(),
            )
        } else {
            let role = of_type(primary(account), "AWS::IAM::Role")
                .into_iter()
                .find(|r| {
                    r["Attributes"]["Arn"]
                        .as_str()
                        .is_some_and(|a| a.ends_with(":role/ai-guard-member-bedrock"))
                })
                .unwrap_or_else(|| panic!("{account}: no member role"));
            (role_policies(role), str_of(&role["Attributes"]["Arn"]))
        };
        for region in w.regions() {
            let delivery = format!("arn:aws:iam::{account}:role/ai-guard-bedrock-logging-{region}");
            let pass = |service: &str| {
                evaluate(
                    &identity,
                    None,
                    &Request {
                        principal: Principal::Role(&principal),
                        action: "iam:PassRole",
                        resource: &delivery,
                        context: vec![("iam:PassedToService", service.to_owned())],
                    },
                    account,
                    false,
                )
            };
            assert_eq!(
                pass(BEDROCK),
                Decision::Allow,
                "{principal} passes {delivery}"
            );
            assert_eq!(
                pass("ec2.amazonaws.com"),
                Decision::ImplicitDeny,
                "{principal} passes {delivery} to another service"
            );
        }
    }
}

#[tokio::test]
async fn the_hubs_own_destinations_pushed_into_members_are_refused_at_start_and_by_bedrock() {
    let _turn = TURN.lock().await;
    let w = world().await;
    let aws = emulator!().clients(&settings(&[])).await;
    // What the defect did: the hub's own bucket, log group and role, named as they are in its
    // account and home region, for every account and region.
    let own = |name: &str| {
        w.var(name)
            .replace("{account}", HUB)
            .replace("{region}", REGION)
    };
    let (bucket, group, role) = (
        own("BEDROCK_LOG_BUCKET"),
        own("BEDROCK_LOG_GROUP"),
        own("BEDROCK_LOG_ROLE_ARN"),
    );
    let vars = w.env_with(&[
        ("BEDROCK_LOG_BUCKET", &bucket),
        ("BEDROCK_LOG_GROUP", &group),
        ("BEDROCK_LOG_ROLE_ARN", &role),
    ]);

    // The function refuses to start, naming the setting and why.
    let err = BEDROCK_INVOCATION_LOGGING
        .hub(
            FUNCTION,
            settings(&[]),
            hub_settings(&vars),
            aws.clone(),
            env(&vars),
        )
        .err()
        .expect("refused at start");
    assert_eq!(err.name, "BEDROCK_LOG_BUCKET", "{err}");
    assert!(err.reason.contains("{account}"), "{err}");

    // Forced past that check, Bedrock refuses them in every member account and region, as AWS
    // does; only the hub's home region, where they are its own, is fixed.
    let forced = Hub::new(
        FUNCTION,
        settings(&[]),
        hub_settings(&vars),
        aws.clone(),
        BEDROCK_INVOCATION_LOGGING.builder(env(&vars)),
    )
    .expect("hub without the check");
    logging_off_everywhere(&aws, w).await;
    let records = sweep(&forced).await;
    assert_eq!(records.len(), 6, "{records:#?}");
    for r in &records {
        if r.account == HUB && r.region == REGION {
            assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
            continue;
        }
        assert_eq!(r.outcome, Outcome::Failed, "{r:?}");
        assert!(
            r.detail
                .contains("Failed to validate permissions for s3 bucket"),
            "{r:?}"
        );
        assert!(
            logging(&aws, &r.account, &r.region).await.is_none(),
            "{}/{}: nothing was configured",
            r.account,
            r.region
        );
    }
}

#[tokio::test]
async fn bedrock_refuses_destinations_of_another_account_or_region() {
    let _turn = TURN.lock().await;
    let w = world().await;
    let aws = emulator!().clients(&settings(&[])).await;
    let m0 = &w.members[0];
    let m1 = &w.members[1];
    let bucket = |account: &str, region: &str| format!("ai-guard-bedrock-logs-{account}-{region}");
    let role = |account: &str, region: &str| {
        format!("arn:aws:iam::{account}:role/ai-guard-bedrock-logging-{region}")
    };
    let group = "/ai-guard/bedrock/model-invocations";
    let put = |s3: Option<String>, cw: Option<(String, String, Option<String>)>| {
        let aws = aws.clone();
        let m0 = m0.clone();
        async move {
            let mut config = LoggingConfig::builder().text_data_delivery_enabled(true);
            if let Some(b) = s3 {
                config = config.s3_config(S3Config::builder().bucket_name(b).build().expect("s3"));
            }
            if let Some((g, r, large)) = cw {
                let mut c = CloudWatchConfig::builder().log_group_name(g).role_arn(r);
                if let Some(l) = large {
                    c = c.large_data_delivery_s3_config(
                        S3Config::builder().bucket_name(l).build().expect("large"),
                    );
                }
                config = config.cloud_watch_config(c.build().expect("cw"));
            }
            admin(&aws, &m0, OTHER_REGION)
                .await
                .bedrock()
                .put_model_invocation_logging_configuration()
                .logging_config(config.build())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("{:?}", e.into_service_error()))
        }
    };
    // The member's own, in this region: accepted.
    let own_cw = (
        group.to_owned(),
        role(m0, OTHER_REGION),
        Some(bucket(m0, OTHER_REGION)),
    );
    put(Some(bucket(m0, OTHER_REGION)), Some(own_cw))
        .await
        .expect("its own destinations");
    for (what, s3, cw, message) in [
        (
            "another account's bucket",
            Some(bucket(m1, OTHER_REGION)),
            None,
            "s3 bucket",
        ),
        (
            "its own bucket of another region",
            Some(bucket(m0, REGION)),
            None,
            "s3 bucket",
        ),
        (
            "the large-data bucket of another region",
            None,
            Some((
                group.to_owned(),
                role(m0, OTHER_REGION),
                Some(bucket(m0, REGION)),
            )),
            "s3 bucket",
        ),
        (
            "another account's delivery role",
            None,
            Some((group.to_owned(), role(m1, OTHER_REGION), None)),
            "log group",
        ),
        (
            "its own delivery role of another region (trusted by Bedrock there only)",
            None,
            Some((group.to_owned(), role(m0, REGION), None)),
            "log group",
        ),
        (
            "a log group that exists in another region only",
            None,
            Some((
                "/ai-guard/bedrock/us-east-1-only".to_owned(),
                role(m0, OTHER_REGION),
                None,
            )),
            "log group",
        ),
    ] {
        if what.starts_with("a log group") {
            emulator!().harness_get(&format!(
                "/_harness/bedrock/destinations?account={m0}&region={REGION}&logGroup={}",
                encode("/ai-guard/bedrock/us-east-1-only")
            ));
        }
        let err = put(s3, cw).await.expect_err(what);
        assert!(
            err.contains("ValidationException")
                && err.contains(&format!("Failed to validate permissions for {message}")),
            "{what}: {err}"
        );
    }
}

/// Bedrock logging deleted in every account and region, so every place needs the hub's write.
async fn logging_off_everywhere(aws: &AwsClients, w: &World) {
    for account in w.accounts() {
        for region in w.regions() {
            admin(aws, account, region)
                .await
                .bedrock()
                .delete_model_invocation_logging_configuration()
                .send()
                .await
                .expect("delete");
        }
    }
}
