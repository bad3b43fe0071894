//! The hub across an organization, on the emulator with several accounts (moto's `AssumeRole`
//! returns credentials that act in the role's account) and its Organizations API: three member
//! accounts in an OU, an account in another OU and one outside the organization, two regions.
//!
//! One test, in order (the organization is the emulator's, one per test module): a relayed event
//! is fixed in its own account and region; events for accounts and regions outside the scope are
//! ignored with no call and no `AssumeRole`; credentials are cached per account; a dry-run sweep
//! covers every account and region in scope; the scheduled sweep fans out one SQS job per
//! account, region and control, and an account AWS throttles fails alone while the others are
//! fixed; the management account (no member role there) is outside the scope of a hub in a member
//! account, and the own account of a hub in the management account.

use std::collections::BTreeSet;

use aws_sdk_organizations::types::OrganizationFeatureSet;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use integration_tests::{
    admin, emulator, env, events, settings, unique, Emulator, ACCOUNT, REGION,
};
use remediation::clients::AwsClients;
use remediation::functions::{BEDROCK_INVOCATION_LOGGING, S3_PUBLIC_ACCESS_BLOCK};
use remediation::hub::{Answer, Hub, HubSettings};
use remediation::{Outcome, OutcomeRecord};
use serde_json::{json, Value};

const OTHER_REGION: &str = "eu-west-1";
const OUTSIDER: &str = "999999999999";
const MEMBER_ROLE: &str = "ai-guard-member";
/// What the hub's sessions are called (the function's name).
const SESSION: &str = "s3-public-access-block";

struct Org {
    members: Vec<String>,
    sandbox: String,
    workloads: String,
}

/// An organization managed by the emulator's default account (the hub): three accounts in
/// `workloads`, one in `sandbox`.
async fn organization(aws: &AwsClients) -> Org {
    let org = aws.organizations();
    org.create_organization()
        .feature_set(OrganizationFeatureSet::All)
        .send()
        .await
        .expect("organization");
    let roots = org.list_roots().send().await.expect("roots");
    let root = roots.roots()[0].id().expect("root id").to_owned();
    let unit = |name: &'static str| {
        let org = org.clone();
        let root = root.clone();
        async move {
            org.create_organizational_unit()
                .parent_id(root)
                .name(name)
                .send()
                .await
                .expect("OU")
                .organizational_unit()
                .and_then(|u| u.id())
                .expect("OU id")
                .to_owned()
        }
    };
    let workloads = unit("workloads").await;
    let sandbox_ou = unit("sandbox").await;
    let account = |name: String, ou: String| {
        let org = org.clone();
        let root = root.clone();
        async move {
            let created = org
                .create_account()
                .email(format!("{name}@example.com"))
                .account_name(&name)
                .send()
                .await
                .expect("account");
            let id = created
                .create_account_status()
                .and_then(|s| s.account_id())
                .expect("account id")
                .to_owned();
            org.move_account()
                .account_id(&id)
                .source_parent_id(root)
                .destination_parent_id(ou)
                .send()
                .await
                .expect("move");
            id
        }
    };
    let mut members = Vec::new();
    for i in 0..3 {
        members.push(account(format!("member{i}"), workloads.clone()).await);
    }
    let sandbox = account("sandbox".into(), sandbox_ou).await;
    Org {
        members,
        sandbox,
        workloads,
    }
}

/// A bucket without Block Public Access in `account` and `region`.
async fn open_bucket(aws: &AwsClients, account: &str, region: &str) -> String {
    let name = unique(&format!("ai-org-{}", &account[..4]));
    let s3 = admin(aws, account, region).await.s3();
    let mut create = s3.create_bucket().bucket(&name);
    if region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    create.send().await.expect("create bucket");
    name
}

async fn blocked(aws: &AwsClients, account: &str, region: &str, bucket: &str) -> bool {
    let s3 = admin(aws, account, region).await.s3();
    s3.get_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .ok()
        .and_then(|o| o.public_access_block_configuration().cloned())
        .is_some_and(|c| c.block_public_policy() == Some(true))
}

fn hub(aws: &AwsClients, pairs: &[(&str, &str)]) -> Hub {
    let hub_settings = HubSettings::from_lookup(&env(pairs))
        .expect("hub settings")
        .expect("a hub");
    Hub::new(
        SESSION,
        settings(&[]),
        hub_settings,
        aws.clone(),
        S3_PUBLIC_ACCESS_BLOCK.builder(env(&[])),
    )
    .expect("hub")
}

/// The event a member's forwarding rule delivers to the hub's bus: the member's account and
/// region in the envelope, as AWS keeps them (moto would rewrite `account`; this is AWS's).
fn relayed(account: &str, region: &str, bucket: &str) -> Value {
    events::load(
        "s3-public-access-block/hub-relayed-delete-bucket-public-access-block.json",
        &[
            ("210987654321", account),
            ("eu-west-1", region),
            ("ai-training-data-example", bucket),
        ],
    )
}

fn records(answer: Answer) -> Vec<OutcomeRecord> {
    answer.records().to_vec()
}

fn hub_sessions(emulator: &Emulator) -> Vec<String> {
    emulator
        .harness_get("/_harness/sts/assumed-roles")
        .as_array()
        .expect("list")
        .iter()
        .filter(|r| r["sessionName"] == SESSION)
        .map(|r| r["roleArn"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn one_hub_fixes_every_member_account_and_region_and_nothing_else() {
    let emulator = emulator!();
    let aws = emulator.clients(&settings(&[])).await;
    let org = organization(&aws).await;
    let (m0, m1, m2) = (&org.members[0], &org.members[1], &org.members[2]);
    let regions = format!("{REGION},{OTHER_REGION}");
    let scope = [
        ("MEMBER_ROLE_NAME", MEMBER_ROLE),
        ("REGIONS", regions.as_str()),
        ("ORGANIZATIONAL_UNITS", org.workloads.as_str()),
    ];
    let hub_a = hub(&aws, &scope);

    // A member's relayed event: fixed there, with its account and region on the record.
    let bucket = open_bucket(&aws, m0, OTHER_REGION).await;
    let fixed = records(
        hub_a
            .handle(&relayed(m0, OTHER_REGION, &bucket), ACCOUNT)
            .await
            .expect("member event"),
    );
    assert_eq!(fixed.len(), 1, "{fixed:?}");
    assert_eq!(fixed[0].outcome, Outcome::Remediated, "{fixed:?}");
    assert_eq!(
        (fixed[0].account.as_str(), fixed[0].region.as_str()),
        (m0.as_str(), OTHER_REGION)
    );
    assert!(blocked(&aws, m0, OTHER_REGION, &bucket).await);

    // The member role's own calls are the hub's: the loop breaker skips them there too.
    let own_call = open_bucket(&aws, m0, OTHER_REGION).await;
    let mut event = relayed(m0, OTHER_REGION, &own_call);
    event["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] =
        json!(format!("arn:aws:iam::{m0}:role/{MEMBER_ROLE}"));
    let skipped = hub_a.handle(&event, ACCOUNT).await.expect("own call");
    assert!(skipped.records().is_empty(), "{skipped:?}");
    assert!(!blocked(&aws, m0, OTHER_REGION, &own_call).await);

    // Outside the scope: another OU's account, an account outside the organization, a region not
    // in REGIONS. Ignored: no record, no error, and never assumed into.
    let sandboxed = open_bucket(&aws, &org.sandbox, REGION).await;
    let outside = open_bucket(&aws, OUTSIDER, REGION).await;
    let elsewhere = open_bucket(&aws, m1, "ap-south-1").await;
    for (account, region, bucket) in [
        (org.sandbox.as_str(), REGION, &sandboxed),
        (OUTSIDER, REGION, &outside),
        (m1.as_str(), "ap-south-1", &elsewhere),
    ] {
        let answer = hub_a
            .handle(&relayed(account, region, bucket), ACCOUNT)
            .await
            .expect("ignored, not an error");
        assert!(
            answer.records().is_empty(),
            "{account}/{region}: {answer:?}"
        );
        assert!(!blocked(&aws, account, region, bucket).await);
    }

    // Credentials are cached per account: a second event in the same account assumes nothing.
    let second = open_bucket(&aws, m0, REGION).await;
    let again = records(
        hub_a
            .handle(&relayed(m0, REGION, &second), ACCOUNT)
            .await
            .expect("second event"),
    );
    assert_eq!(again[0].outcome, Outcome::Remediated, "{again:?}");
    assert_eq!(
        hub_sessions(emulator),
        [format!("arn:aws:iam::{m0}:role/{MEMBER_ROLE}")],
        "one AssumeRole, into the member only"
    );

    // A dry-run sweep (in the invocation) covers every account and region in scope, and only them.
    let open: Vec<(String, &str, String)> = {
        let mut open = Vec::new();
        for member in [m0, m1, m2] {
            for region in [REGION, OTHER_REGION] {
                open.push((
                    member.clone(),
                    region,
                    open_bucket(&aws, member, region).await,
                ));
            }
        }
        open
    };
    let dry = hub_a.sweep(ACCOUNT, true).await.expect("dry-run sweep");
    let places: BTreeSet<(String, String)> = dry
        .results
        .iter()
        .map(|r| (r.account.clone(), r.region.clone()))
        .collect();
    let expected: BTreeSet<(String, String)> = [m0, m1, m2]
        .iter()
        .flat_map(|m| [REGION, OTHER_REGION].map(|r| ((*m).clone(), r.to_owned())))
        .collect();
    assert_eq!(places, expected);
    for (account, region, bucket) in &open {
        let r = dry
            .results
            .iter()
            .find(|r| r.resource.ends_with(bucket.as_str()))
            .unwrap_or_else(|| panic!("{bucket} not swept"));
        assert_eq!(r.outcome, Outcome::WouldRemediate, "{r:?}");
        assert_eq!((&r.account, r.region.as_str()), (account, *region));
        assert!(
            !blocked(&aws, account, region, bucket).await,
            "dry run wrote"
        );
    }

    // The scheduled sweep fans out: one FIFO message per account, region and control.
    let sqs = aws.sqs();
    let queue = sqs
        .create_queue()
        .queue_name(format!("{}.fifo", unique("sweeps")))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("queue")
        .queue_url()
        .expect("url")
        .to_owned();
    let with_queue: Vec<(&str, &str)> = scope
        .iter()
        .copied()
        .chain([("SWEEP_QUEUE_URL", queue.as_str())])
        .collect();
    let hub_q = hub(&aws, &with_queue);
    let scheduled = events::load("s3-public-access-block/scheduled-sweep.json", &[]);
    let answer = hub_q.handle(&scheduled, ACCOUNT).await.expect("fan out");
    assert_eq!(
        answer.to_json(),
        json!({"queued": 12}),
        "3 accounts × 2 regions × 2 controls"
    );
    let mut messages = Vec::new();
    for _ in 0..20 {
        let got = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .expect("receive");
        for m in got.messages() {
            sqs.delete_message()
                .queue_url(&queue)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
            messages.push(json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": {"MessageGroupId": m.attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sweeps.fifo",
                "awsRegion": REGION,
            }));
        }
        if messages.len() == 12 {
            break;
        }
    }
    assert_eq!(messages.len(), 12);
    let jobs_of = |account: &str| -> BTreeSet<String> {
        messages
            .iter()
            .filter(|m| m["body"].as_str().unwrap_or_default().contains(account))
            .map(|m| m["messageId"].as_str().unwrap_or_default().to_owned())
            .collect()
    };

    // AWS throttles one member account: its jobs go back to the queue; the others are fixed.
    emulator.harness_get(&format!("/_harness/faults?throttle=1&account={m1}"));
    let answer = hub_q
        .handle(&json!({ "Records": messages }), ACCOUNT)
        .await
        .expect("jobs");
    emulator.harness_get(&format!("/_harness/faults?throttle=0&account={m1}"));
    let Answer::Jobs {
        failures,
        records: swept,
    } = answer
    else {
        panic!("expected sweep jobs' answer");
    };
    let retried: BTreeSet<String> = failures
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(retried, jobs_of(m1), "exactly the throttled account's jobs");
    for (account, region, bucket) in &open {
        let is_fixed = blocked(&aws, account, region, bucket).await;
        assert_eq!(is_fixed, account != m1, "{account}/{region} {bucket}");
        if account != m1 {
            assert!(
                swept
                    .iter()
                    .any(|r| r.resource.ends_with(bucket.as_str())
                        && r.outcome == Outcome::Remediated)
            );
        }
    }

    // Lambda hands the returned jobs back once the throttling is over: fixed too.
    let retry: Vec<Value> = messages
        .iter()
        .filter(|m| retried.contains(m["messageId"].as_str().unwrap_or_default()))
        .cloned()
        .collect();
    let Answer::Jobs { failures, .. } = hub_q
        .handle(&json!({ "Records": retry }), ACCOUNT)
        .await
        .expect("retry")
    else {
        panic!("expected sweep jobs' answer");
    };
    assert!(failures.batch_item_failures.is_empty(), "{failures:?}");
    for (account, region, bucket) in &open {
        assert!(
            blocked(&aws, account, region, bucket).await,
            "{account}/{region}"
        );
    }

    // Settings may name each account's own resources: Bedrock's known-good destinations in a member
    // account are that account's ({account}, {region}), created there as a user would.
    let bucket = format!("ai-guard-logs-{m2}-{OTHER_REGION}");
    let role = format!("arn:aws:iam::{m2}:role/bedrock-logging");
    emulator.harness_get(&format!(
        "/_harness/bedrock/destinations?account={m2}&region={OTHER_REGION}&bucket={bucket}&logGroup=/ai-guard/bedrock&role={role}"
    ));
    let bedrock_env = [
        ("BEDROCK_LOG_BUCKET", "ai-guard-logs-{account}-{region}"),
        ("BEDROCK_LOG_GROUP", "/ai-guard/bedrock"),
        (
            "BEDROCK_LOG_ROLE_ARN",
            "arn:aws:iam::{account}:role/bedrock-logging",
        ),
    ];
    let hub_settings = HubSettings::from_lookup(&env(&scope))
        .expect("hub settings")
        .expect("a hub");
    let hub_b = Hub::new(
        "bedrock-invocation-logging",
        settings(&[]),
        hub_settings,
        aws.clone(),
        BEDROCK_INVOCATION_LOGGING.builder(env(&bedrock_env)),
    )
    .expect("bedrock hub");
    let direct = json!({"resourceId": m2, "accountId": m2, "region": OTHER_REGION});
    let restored = records(
        hub_b
            .handle(&direct, ACCOUNT)
            .await
            .expect("bedrock in a member"),
    );
    assert_eq!(restored.len(), 1, "{restored:?}");
    assert_eq!(restored[0].outcome, Outcome::Remediated, "{restored:?}");
    let config = admin(&aws, m2, OTHER_REGION)
        .await
        .bedrock()
        .get_model_invocation_logging_configuration()
        .send()
        .await
        .expect("read back");
    let logging = config.logging_config().expect("logging on");
    assert_eq!(
        logging.s3_config().map(|c| c.bucket_name()),
        Some(bucket.as_str())
    );
    assert_eq!(
        logging.cloud_watch_config().map(|c| c.role_arn()),
        Some(role.as_str())
    );

    // Across it all the hubs assumed into the three members only.
    let sessions: BTreeSet<String> = emulator
        .harness_get("/_harness/sts/assumed-roles")
        .as_array()
        .expect("list")
        .iter()
        .filter(|r| r["sessionName"] == SESSION || r["sessionName"] == "bedrock-invocation-logging")
        .map(|r| r["roleArn"].as_str().unwrap_or_default().to_owned())
        .collect();
    let members: BTreeSet<String> = [m0, m1, m2]
        .iter()
        .map(|m| format!("arn:aws:iam::{m}:role/{MEMBER_ROLE}"))
        .collect();
    assert_eq!(sessions, members);
    assert!(sessions
        .iter()
        .all(|s| !s.contains(OUTSIDER) && !s.contains(&org.sandbox)));

    // The management account (the emulator's, which created the organization). `ListAccounts`
    // returns it, but service-managed StackSets never deploy the member role there (CloudFormation
    // `DeploymentTargets`): a hub in a member account — a delegated administrator — leaves it out
    // of its scope, sweeps and events alike, and never assumes a role there.
    let org_api = aws.organizations();
    let security = org_api
        .create_account()
        .email("security@example.com")
        .account_name("security")
        .send()
        .await
        .expect("security account")
        .create_account_status()
        .and_then(|s| s.account_id())
        .expect("account id")
        .to_owned();
    org_api
        .register_delegated_administrator()
        .account_id(&security)
        .service_principal("guardduty.amazonaws.com")
        .send()
        .await
        .expect("delegated administrator");
    let whole_organization = [("MEMBER_ROLE_NAME", MEMBER_ROLE)];
    let in_member = "hub-in-a-member-account";
    let hub_m = Hub::new(
        in_member,
        settings(&[]),
        HubSettings::from_lookup(&env(&whole_organization))
            .expect("hub settings")
            .expect("a hub"),
        admin(&aws, &security, REGION).await,
        S3_PUBLIC_ACCESS_BLOCK.builder(env(&[])),
    )
    .expect("hub in a member account");
    let sessions_of = |name: &str| -> BTreeSet<String> {
        emulator
            .harness_get("/_harness/sts/assumed-roles")
            .as_array()
            .expect("list")
            .iter()
            .filter(|r| r["sessionName"] == name)
            .map(|r| r["roleArn"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let management_bucket = open_bucket(&aws, ACCOUNT, REGION).await;
    let ignored = hub_m
        .handle(&relayed(ACCOUNT, REGION, &management_bucket), &security)
        .await
        .expect("ignored, not an error");
    assert!(ignored.records().is_empty(), "{ignored:?}");
    assert!(!blocked(&aws, ACCOUNT, REGION, &management_bucket).await);
    // Its own account with its own role; a member through the member role.
    for account in [security.as_str(), m2.as_str()] {
        let bucket = open_bucket(&aws, account, REGION).await;
        let fixed = records(
            hub_m
                .handle(&relayed(account, REGION, &bucket), &security)
                .await
                .expect("fixed"),
        );
        assert_eq!(fixed.len(), 1, "{fixed:?}");
        assert_eq!(fixed[0].outcome, Outcome::Remediated, "{fixed:?}");
        assert_eq!(fixed[0].account, account);
        assert!(blocked(&aws, account, REGION, &bucket).await, "{account}");
    }
    let swept = match hub_m.sweep(&security, true).await {
        Ok(r) => r.results,
        Err(remediation::EngineError::Unresolved { response, .. }) => response.results,
        Err(e) => panic!("sweep: {e}"),
    };
    let swept_accounts: BTreeSet<String> = swept.iter().map(|r| r.account.clone()).collect();
    let in_scope: BTreeSet<String> = [m0, m1, m2, &org.sandbox, &security]
        .iter()
        .map(|a| (*a).clone())
        .collect();
    assert_eq!(
        swept_accounts, in_scope,
        "every account but the management's"
    );
    let expected_sessions: BTreeSet<String> = [m0, m1, m2, &org.sandbox]
        .iter()
        .map(|m| format!("arn:aws:iam::{m}:role/{MEMBER_ROLE}"))
        .collect();
    assert_eq!(
        sessions_of(in_member),
        expected_sessions,
        "the members only: never the management account, nor the hub's own"
    );

    // A hub in the management account: that is its own account, acted on with its own role.
    let in_management = "hub-in-the-management-account";
    let hub_mgmt = Hub::new(
        in_management,
        settings(&[]),
        HubSettings::from_lookup(&env(&whole_organization))
            .expect("hub settings")
            .expect("a hub"),
        aws.clone(),
        S3_PUBLIC_ACCESS_BLOCK.builder(env(&[])),
    )
    .expect("hub in the management account");
    let fixed = records(
        hub_mgmt
            .handle(&relayed(ACCOUNT, REGION, &management_bucket), ACCOUNT)
            .await
            .expect("own account"),
    );
    assert_eq!(fixed.len(), 1, "{fixed:?}");
    assert_eq!(fixed[0].outcome, Outcome::Remediated, "{fixed:?}");
    assert!(blocked(&aws, ACCOUNT, REGION, &management_bucket).await);
    assert!(sessions_of(in_management).is_empty());
}
