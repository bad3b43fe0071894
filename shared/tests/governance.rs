//! Governed remediation through the engine, in milliseconds with an in-memory control (no
//! emulator, no SDK call): the modes (enforce, notify, approve, off) and which rule wins, approval
//! of proposed fixes (approved, changed meanwhile, expired, asked again while waiting), the
//! blast-radius limit, the policy's exceptions, where the exemption tag is honoured, and a dry run
//! under `approve`. Every test counts the control's writes (and, where it matters, its reads).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use remediation::aws::{AwsError, AwsErrorKind, IamResource, Operation};
use remediation::control::{Control, ControlSpec, Decision};
use remediation::error::IntakeError;
use remediation::event::cloudtrail::CloudTrailRecord;
use remediation::governance::{now, proposal_id, Governance, Proposal, Status};
use remediation::intake::{Intake, Target, Work};
use remediation::notify::Notifier;
use remediation::outcome::Trigger;
use remediation::policy::{Mode, Policy};
use remediation::resource::{Place, Resource, Scope};
use remediation::{Engine, EngineError, Outcome, OutcomeRecord, Response, Settings};
use serde::Serialize;
use serde_json::{json, Value};

/// The function's own account.
const ACCOUNT: &str = "123456789012";
/// A member account (a hub's).
const OTHER: &str = "210987654321";
const REGION: &str = "us-east-1";
const CONTROL: &str = "mem-toggle";
const EXEMPT_TAG: &str = "ai-guard:exempt";

const READ: Operation = Operation {
    service: "mem",
    api: "Read",
    permission: "mem:Read",
    resource: IamResource::Arn("arn:{partition}:mem:::*"),
    implies: &[],
};
const WRITE: Operation = Operation {
    service: "mem",
    api: "Write",
    permission: "mem:Write",
    resource: IamResource::Arn("arn:{partition}:mem:::*"),
    implies: &[],
};
const TAGS: Operation = Operation {
    service: "mem",
    api: "Tags",
    permission: "mem:Tags",
    resource: IamResource::Arn("arn:{partition}:mem:::*"),
    implies: &[],
};

/// Like a bucket's, a thing's ARN names neither its account nor its region: only the policy's
/// `accounts` tell a thing of one account from a same-named one of another.
fn arn(id: &str) -> String {
    format!("arn:aws:mem:::{id}")
}

/// `thing/NAME` or `alias/NAME`, bare or as an ARN.
fn parse(id: &str, _: &Scope) -> Result<Resource, IntakeError> {
    let id = id.strip_prefix(&arn("")).unwrap_or(id);
    if !(id.starts_with("thing/") || id.starts_with("alias/")) {
        return Err(IntakeError::InvalidResourceId {
            id: id.to_owned(),
            reason: "not a thing".into(),
        });
    }
    Ok(Resource {
        arn: arn(id),
        id: id.to_owned(),
        resource_type: "Test::Mem::Thing",
    })
}

fn named(record: &CloudTrailRecord, _: &Scope) -> Result<Vec<String>, IntakeError> {
    Ok(vec![record.request_str(&["thing"])?.to_owned()])
}

static SPEC: ControlSpec = ControlSpec {
    id: CONTROL,
    resource_type: "Test::Mem::Thing",
    asff_type: "MemThing",
    event_source: "mem.amazonaws.com",
    cloudtrail_events: &["TurnOff"],
    state_change_events: &[],
    config_rules: &[remediation::control::ManagedRule::on_change(
        "mem-rule", "MEM_RULE",
    )],
    custom_config_rule: None,
    security_hub_controls: &["Mem.1"],
    actions: &["remediate"],
    operations: &[READ, WRITE],
    tag_operation: Some(TAGS),
    resource: parse,
    cloudtrail_targets: named,
};

/// One thing: a switch that must be on.
#[derive(Debug, Clone, Serialize, Default)]
struct Thing {
    id: String,
    on: bool,
    /// Anything else about it (part of the state a proposal records).
    label: String,
    #[serde(skip)]
    tags: Vec<(String, String)>,
}

#[derive(Default)]
struct World {
    things: Mutex<HashMap<String, Thing>>,
    /// alias id → the thing's id.
    aliases: Mutex<HashMap<String, String>>,
    /// Every read: inspections and tag reads.
    reads: AtomicUsize,
    writes: AtomicUsize,
}

struct Toggle(Arc<World>);

impl Toggle {
    /// The thing's id, through an alias.
    fn resolve(&self, r: &Resource) -> String {
        let aliases = self.0.aliases.lock().unwrap();
        aliases.get(&r.id).cloned().unwrap_or_else(|| r.id.clone())
    }
}

impl Control for Toggle {
    type State = Thing;
    type Plan = bool;

    fn spec(&self) -> &'static ControlSpec {
        &SPEC
    }

    async fn list(&self, _: &Scope) -> Result<Vec<Resource>, AwsError> {
        let things = self.0.things.lock().unwrap();
        let mut ids: Vec<&String> = things.keys().collect();
        ids.sort();
        Ok(ids
            .into_iter()
            .map(|id| parse(id, &Scope::new(ACCOUNT, REGION)).unwrap())
            .collect())
    }

    async fn inspect(&self, r: &Resource, _: &str, _: &Scope) -> Result<Option<Thing>, AwsError> {
        self.0.reads.fetch_add(1, Ordering::SeqCst);
        let id = self.resolve(r);
        Ok(self.0.things.lock().unwrap().get(&id).cloned())
    }

    async fn tags(
        &self,
        _: &Resource,
        t: &Thing,
    ) -> Result<Option<Vec<(String, String)>>, AwsError> {
        self.0.reads.fetch_add(1, Ordering::SeqCst);
        Ok(Some(t.tags.clone()))
    }

    fn canonical(&self, r: &Resource, t: &Thing) -> Option<Resource> {
        (t.id != r.id).then(|| parse(&t.id, &Scope::new(ACCOUNT, REGION)).unwrap())
    }

    fn decide(&self, t: &Thing, _: &str) -> Decision<bool> {
        if t.on {
            Decision::Compliant("on".into())
        } else {
            Decision::Remediate {
                plan: true,
                actions: vec!["Write"],
                reason: "off".into(),
            }
        }
    }

    async fn apply(&self, r: &Resource, _: &bool, _: &Scope) -> Result<(), AwsError> {
        self.0.writes.fetch_add(1, Ordering::SeqCst);
        let id = self.resolve(r);
        let mut things = self.0.things.lock().unwrap();
        let Some(thing) = things.get_mut(&id) else {
            return Err(AwsError::new(
                AwsErrorKind::NotFound,
                WRITE.permission,
                "gone",
            ));
        };
        thing.on = true;
        Ok(())
    }
}

struct Fixture {
    world: Arc<World>,
    governance: Arc<Governance>,
    engine: Engine,
}

/// An engine governed by `doc`, with these settings and things; `member`: built by a hub for a
/// member account (not the function's own).
fn governed(doc: &str, settings: &[(&str, &str)], things: &[Thing], member: bool) -> Fixture {
    let world = Arc::new(World::default());
    for t in things {
        world.things.lock().unwrap().insert(t.id.clone(), t.clone());
    }
    let map: HashMap<String, String> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |k: &str| map.get(k).cloned();
    let mut settings = Settings::from_lookup(&lookup).unwrap();
    settings.in_member_account = member;
    let policy = Policy::parse(doc, &[CONTROL]).unwrap();
    let governance = Arc::new(Governance::fixed(policy));
    let engine = Engine::new(settings, REGION, vec![Box::new(Toggle(world.clone()))])
        .with_governance(governance.clone());
    Fixture {
        world,
        governance,
        engine,
    }
}

fn fixture(doc: &str, things: &[Thing]) -> Fixture {
    governed(doc, &[], things, false)
}

fn thing(name: &str) -> Thing {
    Thing {
        id: format!("thing/{name}"),
        label: "as created".into(),
        ..Thing::default()
    }
}

fn tagged(name: &str, key: &str, value: &str) -> Thing {
    Thing {
        tags: vec![(key.into(), value.into())],
        ..thing(name)
    }
}

fn direct(id: &str) -> Value {
    json!({"resourceId": id})
}

fn approve(id: &str, by: &str) -> Value {
    json!({"resourceId": id, "approvedBy": by})
}

fn id_of(name: &str) -> String {
    proposal_id(CONTROL, ACCOUNT, REGION, &arn(&format!("thing/{name}")))
}

fn response(result: Result<Response, EngineError>) -> Response {
    match result {
        Ok(r) => r,
        Err(EngineError::Unresolved { response, .. }) => response,
        Err(e) => panic!("{e}"),
    }
}

impl Fixture {
    /// One event to the function in its own account: its one record.
    async fn one(&self, event: Value) -> OutcomeRecord {
        let response = response(self.engine.handle(&event, ACCOUNT).await);
        assert_eq!(response.results.len(), 1, "{response:?}");
        response.results[0].clone()
    }

    /// The things named, run in `account` (as a hub runs its engine of a member account).
    async fn run_in(&self, account: &str, names: &[&str], approved_by: Option<&str>) -> Response {
        let place = Place::new(account, REGION);
        let targets = names
            .iter()
            .map(|n| Target {
                place: place.clone(),
                control: CONTROL,
                resource: parse(&format!("thing/{n}"), &Scope::new(account, REGION)).unwrap(),
                action: "remediate",
                left_scope: false,
            })
            .collect();
        let intake = Intake {
            trigger: Trigger {
                source: "direct",
                name: "remediate".into(),
                ..Trigger::default()
            },
            work: Work::Targets(targets),
            dry_run: false,
            config_rule: None,
            findings: Vec::new(),
            place,
            request: true,
            scheduled: None,
            approved_by: approved_by.map(str::to_owned),
        };
        response(self.engine.run(&intake, account).await)
    }

    fn reads(&self) -> usize {
        self.world.reads.load(Ordering::SeqCst)
    }

    fn writes(&self) -> usize {
        self.world.writes.load(Ordering::SeqCst)
    }

    fn is_on(&self, name: &str) -> bool {
        self.world.things.lock().unwrap()[&format!("thing/{name}")].on
    }

    fn relabel(&self, name: &str, label: &str) {
        self.world
            .things
            .lock()
            .unwrap()
            .get_mut(&format!("thing/{name}"))
            .unwrap()
            .label = label.into();
    }

    async fn proposal(&self, name: &str) -> Option<Proposal> {
        self.governance
            .proposals()
            .expect("a fixed governance keeps proposals in memory")
            .get(&id_of(name))
            .await
            .unwrap()
    }

    async fn put(&self, p: &Proposal) {
        self.governance.proposals().unwrap().put(p).await.unwrap();
    }
}

/// The record's outcome, mode and detail, with the detail in every failure message.
fn check(r: &OutcomeRecord, outcome: Outcome, mode: Option<Mode>, detail: &[&str]) {
    assert_eq!(r.outcome, outcome, "{r:?}");
    assert_eq!(r.mode, mode, "{r:?}");
    for part in detail {
        assert!(r.detail.contains(part), "`{part}` not in: {}", r.detail);
    }
}

// 1. The modes.

#[tokio::test]
async fn enforce_is_the_default_and_fixes() {
    let f = fixture(r#"{"version": 1}"#, &[thing("a")]);
    let r = f.one(direct("thing/a")).await;
    check(
        &r,
        Outcome::Remediated,
        Some(Mode::Enforce),
        &["fixed: off"],
    );
    assert_eq!(r.actions, ["Write"]);
    assert!(!r.limited && !r.quiet);
    assert_eq!(f.writes(), 1);
    assert!(f.is_on("a"));
}

#[tokio::test]
async fn notify_records_what_would_be_fixed_and_writes_nothing() {
    let f = fixture(r#"{"version": 1, "defaultMode": "notify"}"#, &[thing("a")]);
    let r = f.one(direct("thing/a")).await;
    check(
        &r,
        Outcome::WouldRemediate,
        Some(Mode::Notify),
        &[
            "notify by the remediation policy (its default mode)",
            "would fix: off",
        ],
    );
    assert_eq!(r.actions, ["Write"], "what the fix would write");
    assert!(!r.limited);
    assert!(Notifier::wants(&r, false), "a notify-mode fix is announced");
    assert_eq!(f.writes(), 0);
    assert!(!f.is_on("a"));
}

#[tokio::test]
async fn off_is_decided_without_any_read_or_write() {
    let f = fixture(r#"{"version": 1, "defaultMode": "off"}"#, &[thing("a")]);
    let r = f.one(direct("thing/a")).await;
    check(
        &r,
        Outcome::Off,
        Some(Mode::Off),
        &["off by the remediation policy (its default mode)"],
    );
    assert!(!Notifier::wants(&r, false));
    assert_eq!((f.reads(), f.writes()), (0, 0));

    // By a rule naming the control: the same, naming the rule.
    let f = fixture(
        r#"{"version": 1, "rules": [{"mode": "off", "controls": ["mem-toggle"]}]}"#,
        &[thing("a")],
    );
    let r = f.one(direct("thing/a")).await;
    check(
        &r,
        Outcome::Off,
        Some(Mode::Off),
        &["off by the remediation policy (rule 0)"],
    );
    assert_eq!((f.reads(), f.writes()), (0, 0));
}

#[tokio::test]
async fn off_by_a_tag_rule_reads_the_resource_but_never_writes() {
    let f = fixture(
        r#"{"version": 1, "rules": [{"mode": "off", "tags": {"ai-guard": "manual"}}]}"#,
        &[tagged("manual", "ai-guard", "manual"), thing("plain")],
    );
    let r = f.one(direct("thing/manual")).await;
    check(
        &r,
        Outcome::Off,
        Some(Mode::Off),
        &["off by the remediation policy (rule 0)", "would fix: off"],
    );
    assert!(f.reads() > 0, "its tags decide its mode: they must be read");
    assert_eq!(f.writes(), 0);
    let r = f.one(direct("thing/plain")).await;
    check(&r, Outcome::Remediated, Some(Mode::Enforce), &["fixed"]);
    assert_eq!(f.writes(), 1);
}

#[tokio::test]
async fn approve_proposes_the_fix_and_writes_nothing() {
    let f = fixture(r#"{"version": 1, "defaultMode": "approve"}"#, &[thing("a")]);
    let r = f.one(direct("thing/a")).await;
    let id = id_of("a");
    check(
        &r,
        Outcome::Pending,
        Some(Mode::Approve),
        &[
            &format!("proposed as {id}, waiting for approval until "),
            "off",
        ],
    );
    assert!(!r.quiet);
    assert!(Notifier::wants(&r, false), "a new proposal is announced");
    assert_eq!(f.writes(), 0);
    let p = f.proposal("a").await.expect("proposed");
    assert_eq!(p.status, Status::Pending);
    assert_eq!(p.control, CONTROL);
    assert_eq!((p.account.as_str(), p.region.as_str()), (ACCOUNT, REGION));
    assert_eq!(p.resource, arn("thing/a"));
    assert_eq!(p.resource_type, "Test::Mem::Thing");
    assert_eq!(p.actions, ["Write"]);
    assert_eq!(p.reason, "off");
    assert!(p.before.contains("as created"), "{}", p.before);
    assert_eq!(p.expires_at - p.created_at, 72 * 3600, "the default wait");
    assert!(p.approved_by.is_none());
}

// 2. Which rule wins, through the engine.

#[tokio::test]
async fn a_tag_rule_beats_an_account_rule() {
    let f = fixture(
        &format!(
            r#"{{"version": 1, "rules": [
                {{"mode": "enforce", "tags": {{"ai-guard": "auto"}}}},
                {{"mode": "notify", "accounts": ["{ACCOUNT}"]}}
            ]}}"#
        ),
        &[tagged("auto", "ai-guard", "auto"), thing("plain")],
    );
    let r = f.one(direct("thing/auto")).await;
    check(&r, Outcome::Remediated, Some(Mode::Enforce), &["fixed"]);
    assert_eq!(f.writes(), 1);
    let r = f.one(direct("thing/plain")).await;
    check(
        &r,
        Outcome::WouldRemediate,
        Some(Mode::Notify),
        &["notify by the remediation policy (rule 1)"],
    );
    assert_eq!(f.writes(), 1);
}

#[tokio::test]
async fn an_account_rule_beats_a_region_rule_which_beats_a_control_rule() {
    let doc = |account: &str| {
        format!(
            r#"{{"version": 1, "rules": [
                {{"mode": "off", "controls": ["mem-toggle"]}},
                {{"mode": "notify", "regions": ["{REGION}"]}},
                {{"mode": "enforce", "accounts": ["{account}"]}}
            ]}}"#
        )
    };
    // This account: its rule wins.
    let f = fixture(&doc(ACCOUNT), &[thing("a")]);
    let r = f.one(direct("thing/a")).await;
    check(&r, Outcome::Remediated, Some(Mode::Enforce), &["fixed"]);
    assert_eq!(f.writes(), 1);
    // Another account's rule does not apply: the region's beats the control's.
    let f = fixture(&doc(OTHER), &[thing("a")]);
    let r = f.one(direct("thing/a")).await;
    check(
        &r,
        Outcome::WouldRemediate,
        Some(Mode::Notify),
        &["notify by the remediation policy (rule 1)"],
    );
    assert_eq!(f.writes(), 0);
}

#[tokio::test]
async fn a_control_rule_beats_the_default() {
    let f = fixture(
        r#"{"version": 1, "defaultMode": "off",
            "rules": [{"mode": "approve", "controls": ["mem-toggle"]}]}"#,
        &[thing("a")],
    );
    let r = f.one(direct("thing/a")).await;
    check(&r, Outcome::Pending, Some(Mode::Approve), &["proposed as"]);
    assert_eq!(f.writes(), 0);
}

// 3. Approval.

const APPROVE: &str = r#"{"version": 1, "defaultMode": "approve"}"#;

#[tokio::test]
async fn an_approved_proposal_is_applied_and_marked_approved() {
    let f = fixture(APPROVE, &[thing("a")]);
    assert_eq!(f.one(direct("thing/a")).await.outcome, Outcome::Pending);
    assert_eq!(f.writes(), 0);
    let r = f.one(approve("thing/a", "alice@example.com")).await;
    check(
        &r,
        Outcome::Remediated,
        Some(Mode::Approve),
        &["fixed: off"],
    );
    assert_eq!(f.writes(), 1);
    assert!(f.is_on("a"));
    let p = f.proposal("a").await.unwrap();
    assert_eq!(p.status, Status::Approved);
    assert_eq!(p.approved_by.as_deref(), Some("alice@example.com"));
    // Fixed: nothing more to approve.
    let r = f.one(approve("thing/a", "alice@example.com")).await;
    assert_eq!(r.outcome, Outcome::Compliant, "{r:?}");
    assert_eq!(f.writes(), 1);
}

/// `OutcomeRecord::mode` is "the mode the remediation policy chose, when a fix was due": for a fix
/// applied on approval, `approve`, so the audit log tells an approved fix from an automatic one.
#[tokio::test]
async fn an_approved_fix_is_recorded_in_approve_mode() {
    let f = fixture(APPROVE, &[thing("a")]);
    f.one(direct("thing/a")).await;
    let r = f.one(approve("thing/a", "alice@example.com")).await;
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert_eq!(r.mode, Some(Mode::Approve), "{r:?}");
}

#[tokio::test]
async fn approving_a_resource_that_changed_proposes_again_and_writes_nothing() {
    let f = fixture(APPROVE, &[thing("a")]);
    f.one(direct("thing/a")).await;
    f.relabel("a", "changed by its owner");
    let r = f.one(approve("thing/a", "alice@example.com")).await;
    check(
        &r,
        Outcome::Pending,
        Some(Mode::Approve),
        &[
            "the resource changed since it was proposed, so the approval was not applied",
            &format!("proposed as {}", id_of("a")),
        ],
    );
    assert_eq!(f.writes(), 0);
    assert!(!f.is_on("a"));
    let p = f.proposal("a").await.unwrap();
    assert_eq!(p.status, Status::Pending, "proposed again");
    assert!(p.before.contains("changed by its owner"), "{}", p.before);
    assert!(p.approved_by.is_none());
    // The new proposal, approved, is applied.
    let r = f.one(approve("thing/a", "alice@example.com")).await;
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert_eq!(f.writes(), 1);
}

#[tokio::test]
async fn an_expired_proposal_is_not_applied_but_proposed_again() {
    let f = fixture(APPROVE, &[thing("a")]);
    f.one(direct("thing/a")).await;
    let mut p = f.proposal("a").await.unwrap();
    p.created_at -= 100 * 3600;
    p.expires_at = now() - 3600;
    f.put(&p).await;
    let r = f.one(approve("thing/a", "alice@example.com")).await;
    check(
        &r,
        Outcome::Pending,
        Some(Mode::Approve),
        &[
            &format!("proposal {} expired at ", id_of("a")),
            "without approval",
            "proposed as",
        ],
    );
    assert!(!r.quiet, "a new proposal is announced");
    assert_eq!(f.writes(), 0);
    let again = f.proposal("a").await.unwrap();
    assert_eq!(again.status, Status::Pending);
    assert!(again.expires_at > now(), "a fresh wait");
    assert!(again.approved_by.is_none());
}

/// An expired proposal found by the next event (no approval): recorded as expired and announced
/// again as a new proposal.
#[tokio::test]
async fn an_expired_proposal_found_by_the_next_event_is_recorded_as_expired() {
    let f = fixture(APPROVE, &[thing("a")]);
    f.one(direct("thing/a")).await;
    let mut p = f.proposal("a").await.unwrap();
    p.expires_at = now() - 60;
    f.put(&p).await;
    let r = f.one(direct("thing/a")).await;
    check(
        &r,
        Outcome::Pending,
        Some(Mode::Approve),
        &[
            &format!("proposal {} expired at ", id_of("a")),
            "without approval",
            "proposed as",
        ],
    );
    assert!(!r.quiet, "the new proposal is announced");
    assert_eq!(f.writes(), 0);
    assert!(f.proposal("a").await.unwrap().expires_at > now());
}

#[tokio::test]
async fn an_approval_with_nothing_proposed_only_proposes() {
    let f = fixture(APPROVE, &[thing("a")]);
    let r = f.one(approve("thing/a", "alice@example.com")).await;
    check(
        &r,
        Outcome::Pending,
        Some(Mode::Approve),
        &["nothing pending was proposed for it", "proposed as"],
    );
    assert_eq!(f.writes(), 0);
    assert_eq!(f.proposal("a").await.unwrap().status, Status::Pending);
}

#[tokio::test]
async fn a_repeated_event_while_a_proposal_waits_is_quiet() {
    let f = fixture(APPROVE, &[thing("a")]);
    let first = f.one(direct("thing/a")).await;
    let proposed = f.proposal("a").await.unwrap();
    let ct = json!({"version": "0", "id": "1", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.mem", "account": ACCOUNT, "time": "2026-11-26T00:00:00Z", "region": REGION,
        "resources": [], "detail": {"eventSource": "mem.amazonaws.com", "eventName": "TurnOff",
        "awsRegion": REGION, "recipientAccountId": ACCOUNT, "requestParameters": {"thing": "thing/a"}}});
    for event in [direct("thing/a"), ct] {
        let r = f.one(event).await;
        check(
            &r,
            Outcome::Pending,
            Some(Mode::Approve),
            &[&format!("waiting for approval: proposal {}", id_of("a"))],
        );
        assert!(r.quiet, "{r:?}");
        assert!(!Notifier::wants(&r, false), "announced once: {first:?}");
    }
    assert_eq!(f.writes(), 0);
    assert_eq!(
        f.proposal("a").await.unwrap(),
        proposed,
        "the same proposal"
    );
}

/// An approval in a run that also reaches the blast-radius limit: the fix is not applied, so its
/// proposal must still wait (a human's approval is not used up by a fix that was never tried).
#[tokio::test]
async fn an_approved_fix_held_back_by_the_limit_stays_pending() {
    let f = fixture(
        r#"{"version": 1, "defaultMode": "approve", "limits": {"writesPerInvocation": 1}}"#,
        &[thing("a"), thing("b")],
    );
    f.run_in(ACCOUNT, &["a", "b"], None).await;
    let response = f
        .run_in(ACCOUNT, &["a", "b"], Some("alice@example.com"))
        .await;
    assert_eq!(f.writes(), 1);
    let limited: Vec<&OutcomeRecord> = response.results.iter().filter(|r| r.limited).collect();
    assert_eq!(limited.len(), 1, "{response:?}");
    check(
        limited[0],
        Outcome::WouldRemediate,
        Some(Mode::Notify),
        &["blast-radius limit: 1 writes of mem-toggle"],
    );
    let (fixed, held) = if f.is_on("a") { ("a", "b") } else { ("b", "a") };
    assert_eq!(f.proposal(fixed).await.unwrap().status, Status::Approved);
    assert_eq!(f.proposal(held).await.unwrap().status, Status::Pending);
    // Approved again in the next invocation, it is applied.
    let response = f.run_in(ACCOUNT, &[held], Some("alice@example.com")).await;
    check(
        &response.results[0],
        Outcome::Remediated,
        Some(Mode::Approve),
        &["fixed: off"],
    );
    assert_eq!(f.writes(), 2);
}

/// An approval that is not taken up (the resource changed since it was proposed) writes nothing,
/// so it must not use up the run's blast-radius budget: another approved fix of the same run is
/// still applied.
#[tokio::test]
async fn an_approval_not_taken_up_does_not_use_the_limit() {
    let f = fixture(
        r#"{"version": 1, "defaultMode": "approve", "limits": {"writesPerInvocation": 1}}"#,
        &[thing("a"), thing("b")],
    );
    f.run_in(ACCOUNT, &["a", "b"], None).await;
    f.relabel("a", "changed by its owner");
    let response = f
        .run_in(ACCOUNT, &["a", "b"], Some("alice@example.com"))
        .await;
    check(
        &response.results[0],
        Outcome::Pending,
        Some(Mode::Approve),
        &["the resource changed since it was proposed"],
    );
    check(
        &response.results[1],
        Outcome::Remediated,
        Some(Mode::Approve),
        &["fixed: off"],
    );
    assert_eq!(f.writes(), 1);
}

// 4. The blast-radius limit.

#[tokio::test]
async fn a_sweep_stops_writing_at_the_limit_and_notifies_the_rest() {
    let names = ["a", "b", "c", "d", "e"];
    let things: Vec<Thing> = names.iter().map(|n| thing(n)).collect();
    let f = fixture(
        r#"{"version": 1, "limits": {"writesPerInvocation": 25, "controls": {"mem-toggle": 2}}}"#,
        &things,
    );
    let response = f.engine.sweep(ACCOUNT, "test", false).await.unwrap();
    assert_eq!(response.results.len(), 5);
    let fixed: Vec<&OutcomeRecord> = response
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Remediated)
        .collect();
    assert_eq!(fixed.len(), 2, "{response:?}");
    for r in &fixed {
        check(r, Outcome::Remediated, Some(Mode::Enforce), &["fixed"]);
        assert!(!r.limited);
    }
    let held: Vec<&OutcomeRecord> = response.results.iter().filter(|r| r.limited).collect();
    assert_eq!(held.len(), 3, "{response:?}");
    for r in &held {
        check(
            r,
            Outcome::WouldRemediate,
            Some(Mode::Notify),
            &[
                "blast-radius limit: 2 writes of mem-toggle in one invocation reached",
                "would fix: off",
            ],
        );
        assert!(Notifier::wants(r, false), "a held-back fix is announced");
    }
    assert_eq!(f.writes(), 2);
    assert_eq!(names.iter().filter(|n| f.is_on(n)).count(), 2);
    // The next invocation has a budget of its own.
    let response = f.engine.sweep(ACCOUNT, "test", false).await.unwrap();
    assert_eq!(response.results.iter().filter(|r| r.limited).count(), 1);
    assert_eq!(f.writes(), 4);
}

// 5. The policy's exceptions.

fn exception(accounts: &str, expires: &str) -> String {
    format!(
        r#"{{"version": 1, "exceptions": [{{"accounts": [{accounts}],
            "resources": ["{}"], "controls": ["mem-toggle"],
            "reason": "static web site, reviewed", "owner": "web-team@example.com",
            "expires": "{expires}"}}]}}"#,
        arn("thing/site-*")
    )
}

#[tokio::test]
async fn an_active_exception_exempts_without_a_call() {
    let f = fixture(
        &exception(&format!(r#""{ACCOUNT}""#), "2999-01-01"),
        &[thing("site-a"), thing("other")],
    );
    let r = f.one(direct("thing/site-a")).await;
    check(
        &r,
        Outcome::Exempt,
        None,
        &[
            "exception 0 of the remediation policy",
            "static web site, reviewed",
            "owner web-team@example.com",
            "until 2999-01-01",
        ],
    );
    assert_eq!((f.reads(), f.writes()), (0, 0));
    // What its patterns do not name is fixed.
    let r = f.one(direct("thing/other")).await;
    check(&r, Outcome::Remediated, Some(Mode::Enforce), &["fixed"]);
    assert!(!r.detail.contains("exception"), "{}", r.detail);
    assert_eq!(f.writes(), 1);
}

#[tokio::test]
async fn an_exception_holds_for_what_an_alias_resolves_to() {
    let f = fixture(
        &exception(&format!(r#""{ACCOUNT}""#), "2999-01-01"),
        &[thing("site-a")],
    );
    f.world
        .aliases
        .lock()
        .unwrap()
        .insert("alias/www".into(), "thing/site-a".into());
    let r = f.one(direct("alias/www")).await;
    check(
        &r,
        Outcome::Exempt,
        None,
        &["static web site, reviewed", "owner web-team@example.com"],
    );
    assert_eq!(r.resource, arn("thing/site-a"), "recorded as what it is");
    assert_eq!(f.reads(), 1, "read once, to resolve the alias");
    assert_eq!(f.writes(), 0);
}

#[tokio::test]
async fn an_expired_exception_no_longer_exempts_and_says_so() {
    let f = fixture(
        &exception(&format!(r#""{ACCOUNT}""#), "2020-01-01T00:00:00Z"),
        &[thing("site-a")],
    );
    let r = f.one(direct("thing/site-a")).await;
    check(
        &r,
        Outcome::Remediated,
        Some(Mode::Enforce),
        &[
            "fixed: off",
            "exception 0 of the remediation policy (static web site, reviewed, owner \
             web-team@example.com) expired at 2020-01-01T00:00:00Z and no longer applies",
        ],
    );
    assert_eq!(f.writes(), 1);
    assert!(f.is_on("site-a"));
}

#[tokio::test]
async fn an_exception_holds_only_in_the_accounts_it_names() {
    let f = fixture(
        &exception(&format!(r#""{OTHER}""#), "2999-01-01"),
        &[thing("site-a")],
    );
    // The same name in the function's own account: not excepted, fixed.
    let r = f.one(direct("thing/site-a")).await;
    check(&r, Outcome::Remediated, Some(Mode::Enforce), &["fixed"]);
    assert_eq!(f.writes(), 1);
    // In the account it names: excepted.
    f.world
        .things
        .lock()
        .unwrap()
        .get_mut("thing/site-a")
        .unwrap()
        .on = false;
    let response = f.run_in(OTHER, &["site-a"], None).await;
    check(
        &response.results[0],
        Outcome::Exempt,
        None,
        &["static web site, reviewed", "owner web-team@example.com"],
    );
    assert_eq!(response.results[0].account, OTHER);
    assert_eq!(f.writes(), 1);
}

// 6. Where the exemption tag is honoured.

#[tokio::test]
async fn the_exemption_tag_is_honoured_in_the_functions_own_account_by_default() {
    let settings = [("EXEMPT_TAG", EXEMPT_TAG)];
    let things = [tagged("kept", EXEMPT_TAG, "yes")];
    let f = governed(r#"{"version": 1}"#, &settings, &things, false);
    let r = f.one(direct("thing/kept")).await;
    check(
        &r,
        Outcome::Exempt,
        None,
        &[
            "exempt by tag ai-guard:exempt (EXEMPT_TAG)",
            "would fix: off",
        ],
    );
    assert_eq!(f.writes(), 0);
    // A member account's principals cannot exempt their own resources.
    let f = governed(r#"{"version": 1}"#, &settings, &things, true);
    let response = f.run_in(OTHER, &["kept"], None).await;
    check(
        &response.results[0],
        Outcome::Remediated,
        Some(Mode::Enforce),
        &["fixed"],
    );
    assert_eq!(f.writes(), 1);
}

#[tokio::test]
async fn the_exemption_tag_is_honoured_only_where_the_policy_says() {
    let settings = [("EXEMPT_TAG", EXEMPT_TAG)];
    let things = [tagged("kept", EXEMPT_TAG, "yes")];
    let doc = format!(r#"{{"version": 1, "exemptionTag": {{"accounts": ["{OTHER}"]}}}}"#);
    // The function's own account is not named: the tag does not exempt there.
    let f = governed(&doc, &settings, &things, false);
    let r = f.one(direct("thing/kept")).await;
    check(&r, Outcome::Remediated, Some(Mode::Enforce), &["fixed"]);
    assert_eq!(f.writes(), 1);
    // The member account named: it does.
    let f = governed(&doc, &settings, &things, true);
    let response = f.run_in(OTHER, &["kept"], None).await;
    check(
        &response.results[0],
        Outcome::Exempt,
        None,
        &["exempt by tag ai-guard:exempt (EXEMPT_TAG)"],
    );
    assert_eq!(f.writes(), 0);
}

// 7. A dry run under `approve`.

#[tokio::test]
async fn a_dry_run_under_approve_proposes_nothing() {
    // From the settings.
    let f = governed(APPROVE, &[("DRY_RUN", "true")], &[thing("a")], false);
    let r = f.one(direct("thing/a")).await;
    // Dry run comes before the policy's mode: none was chosen.
    check(
        &r,
        Outcome::WouldRemediate,
        None,
        &["dry run: would fix: off"],
    );
    assert!(r.dry_run);
    assert!(f.proposal("a").await.is_none(), "no proposal");
    assert_eq!(f.writes(), 0);
    // From the payload, even with an approval.
    let f = fixture(APPROVE, &[thing("a")]);
    let r = f
        .one(json!({"resourceId": "thing/a", "dryRun": true, "approvedBy": "alice@example.com"}))
        .await;
    check(
        &r,
        Outcome::WouldRemediate,
        None,
        &["dry run: would fix: off"],
    );
    assert!(f.proposal("a").await.is_none(), "no proposal");
    assert_eq!(f.writes(), 0);
}
