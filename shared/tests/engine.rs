//! The engine's guarantees, proven in milliseconds with an in-memory control (no emulator, no
//! SDK call): dry run never writes (from the settings or a payload), exemptions hold after an alias
//! resolves, unreadable tags fail closed, a write that does not verify is `failed`, a resource that
//! vanishes mid-fix is `gone`, a contested resource is left alone when so configured, a deferral is
//! recorded, and the invocation's verdict.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use remediation::aws::{AwsError, AwsErrorKind, IamResource, Operation};
use remediation::contested::ContestedTracker;
use remediation::control::{Control, ControlSpec, Decision};
use remediation::error::IntakeError;
use remediation::event::cloudtrail::CloudTrailRecord;
use remediation::resource::{Resource, Scope};
use remediation::{Engine, EngineError, Outcome, Response, Settings};
use serde::Serialize;
use serde_json::{json, Value};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const READ: Operation = Operation {
    service: "mem",
    api: "Read",
    permission: "mem:Read",
    resource: IamResource::Arn("arn:{partition}:mem:{region}:{account}:*"),
    implies: &[],
};
const WRITE: Operation = Operation {
    service: "mem",
    api: "Write",
    permission: "mem:Write",
    resource: IamResource::Arn("arn:{partition}:mem:{region}:{account}:*"),
    implies: &[],
};
const TAGS: Operation = Operation {
    service: "mem",
    api: "Tags",
    permission: "mem:Tags",
    resource: IamResource::Arn("arn:{partition}:mem:{region}:{account}:*"),
    implies: &[],
};

fn arn(id: &str) -> String {
    format!("arn:aws:mem:{REGION}:{ACCOUNT}:{id}")
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
    id: "mem-toggle",
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
    /// The thing an alias names (`thing/…`).
    id: String,
    on: bool,
    /// In a state no write is possible in.
    busy: bool,
    #[serde(skip)]
    tags: Vec<(String, String)>,
    /// Tags cannot be read (AccessDenied).
    #[serde(skip)]
    tags_unreadable: bool,
    /// Writes succeed but are undone at once.
    #[serde(skip)]
    writes_undone: bool,
    /// Deleted by someone else while being fixed.
    #[serde(skip)]
    vanishes_on_write: bool,
    /// Put by someone else, while being fixed, in a state no write is possible in: the write is
    /// refused (as KMS refuses EnableKeyRotation on a key scheduled for deletion meanwhile).
    #[serde(skip)]
    busy_on_write: bool,
}

#[derive(Default)]
struct World {
    things: Mutex<HashMap<String, Thing>>,
    aliases: Mutex<HashMap<String, String>>,
    writes: AtomicUsize,
}

struct Toggle(Arc<World>);

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
        let id = self
            .0
            .aliases
            .lock()
            .unwrap()
            .get(&r.id)
            .cloned()
            .unwrap_or_else(|| r.id.clone());
        Ok(self.0.things.lock().unwrap().get(&id).cloned())
    }

    async fn tags(
        &self,
        _: &Resource,
        t: &Thing,
    ) -> Result<Option<Vec<(String, String)>>, AwsError> {
        if t.tags_unreadable {
            return Err(AwsError::new(
                AwsErrorKind::AccessDenied,
                TAGS.permission,
                "denied",
            ));
        }
        Ok(Some(t.tags.clone()))
    }

    fn canonical(&self, r: &Resource, t: &Thing) -> Option<Resource> {
        (t.id != r.id).then(|| parse(&t.id, &Scope::new(ACCOUNT, REGION)).unwrap())
    }

    fn decide(&self, t: &Thing, _: &str) -> Decision<bool> {
        if t.on {
            Decision::Compliant("on".into())
        } else if t.busy {
            Decision::Deferred("busy".into())
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
        let id = self
            .0
            .aliases
            .lock()
            .unwrap()
            .get(&r.id)
            .cloned()
            .unwrap_or_else(|| r.id.clone());
        let mut things = self.0.things.lock().unwrap();
        let Some(thing) = things.get_mut(&id) else {
            return Err(AwsError::new(
                AwsErrorKind::NotFound,
                WRITE.permission,
                "gone",
            ));
        };
        if thing.busy_on_write {
            thing.busy = true;
            return Err(
                AwsError::new(AwsErrorKind::Other, WRITE.permission, "the thing is busy")
                    .with_code("InvalidStateException"),
            );
        }
        if thing.vanishes_on_write {
            things.remove(&id);
        } else if !thing.writes_undone {
            thing.on = true;
        }
        Ok(())
    }
}

struct Fixture {
    world: Arc<World>,
    engine: Engine,
}

fn fixture(settings: &[(&str, &str)], things: &[Thing]) -> Fixture {
    let world = Arc::new(World::default());
    for t in things {
        world.things.lock().unwrap().insert(t.id.clone(), t.clone());
    }
    let map: HashMap<String, String> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |k: &str| map.get(k).cloned();
    let settings = Settings::from_lookup(&lookup).unwrap();
    let contested = settings.contested.clone();
    let mut engine = Engine::new(settings, REGION, vec![Box::new(Toggle(world.clone()))]);
    if let Some(policy) = contested {
        engine = engine.with_contested_tracker(ContestedTracker::in_memory(policy));
    }
    Fixture { world, engine }
}

fn thing(name: &str) -> Thing {
    Thing {
        id: format!("thing/{name}"),
        ..Thing::default()
    }
}

impl Fixture {
    async fn run(&self, event: Value) -> Result<Response, EngineError> {
        self.engine.handle(&event, ACCOUNT).await
    }

    async fn one(&self, event: Value) -> (Outcome, String) {
        let response = match self.run(event).await {
            Ok(r) => r,
            Err(EngineError::Unresolved { response, .. }) => response,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(response.results.len(), 1, "{response:?}");
        let r = &response.results[0];
        (r.outcome, r.detail.clone())
    }

    fn writes(&self) -> usize {
        self.world.writes.load(Ordering::SeqCst)
    }

    fn is_on(&self, id: &str) -> bool {
        self.world.things.lock().unwrap()[id].on
    }
}

fn direct(id: &str) -> Value {
    json!({"resourceId": id})
}

#[tokio::test]
async fn a_fix_is_written_once_and_verified() {
    let f = fixture(&[], &[thing("a")]);
    assert_eq!(f.one(direct("thing/a")).await.0, Outcome::Remediated);
    assert!(f.is_on("thing/a"));
    assert_eq!(f.one(direct("thing/a")).await.0, Outcome::Compliant);
    assert_eq!(f.writes(), 1, "idempotent: the second run only reads");
}

#[tokio::test]
async fn dry_run_never_writes_from_settings_or_payload_and_a_payload_cannot_undo_it() {
    let f = fixture(&[("DRY_RUN", "true")], &[thing("a")]);
    assert_eq!(f.one(direct("thing/a")).await.0, Outcome::WouldRemediate);
    let live = json!({"resourceId": "thing/a", "dryRun": false});
    assert_eq!(f.one(live).await.0, Outcome::WouldRemediate);
    let sweep = json!({"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT, "time": "2026-11-26T00:00:00Z", "region": REGION, "resources": [], "detail": {}});
    let response = f.run(sweep).await.unwrap();
    assert_eq!(response.results[0].outcome, Outcome::WouldRemediate);
    let g = fixture(&[], &[thing("b")]);
    let dry = json!({"resourceId": "thing/b", "dryRun": true});
    assert_eq!(g.one(dry).await.0, Outcome::WouldRemediate);
    assert_eq!(f.writes() + g.writes(), 0);
}

#[tokio::test]
async fn exemptions_hold_for_the_name_and_for_what_an_alias_resolves_to() {
    let f = fixture(
        &[("EXEMPT_RESOURCES", &arn("thing/keep"))],
        &[thing("keep")],
    );
    f.world
        .aliases
        .lock()
        .unwrap()
        .insert("alias/friendly".into(), "thing/keep".into());
    assert_eq!(f.one(direct("thing/keep")).await.0, Outcome::Exempt);
    let (outcome, detail) = f.one(direct("alias/friendly")).await;
    assert_eq!(outcome, Outcome::Exempt, "{detail}");
    assert_eq!(f.writes(), 0);
}

#[tokio::test]
async fn unreadable_tags_fail_closed_and_a_matching_tag_exempts() {
    let locked = Thing {
        tags_unreadable: true,
        ..thing("locked")
    };
    let tagged = Thing {
        tags: vec![("ai-guard:exempt".into(), "yes".into())],
        ..thing("tagged")
    };
    let f = fixture(&[("EXEMPT_TAG", "ai-guard:exempt")], &[locked, tagged]);
    let (outcome, detail) = f.one(direct("thing/locked")).await;
    assert_eq!(outcome, Outcome::Failed);
    assert!(
        detail.contains("cannot check EXEMPT_TAG, not changed"),
        "{detail}"
    );
    assert_eq!(f.one(direct("thing/tagged")).await.0, Outcome::Exempt);
    assert_eq!(f.writes(), 0);
}

#[tokio::test]
async fn a_write_that_does_not_verify_is_failed_and_the_invocation_errs() {
    let f = fixture(
        &[],
        &[Thing {
            writes_undone: true,
            ..thing("a")
        }],
    );
    let err = f.run(direct("thing/a")).await.unwrap_err();
    let EngineError::Unresolved { message, response } = err else {
        panic!("expected unresolved")
    };
    assert_eq!(response.results[0].outcome, Outcome::Failed);
    assert!(
        message.contains("verification failed after Write"),
        "{message}"
    );
}

#[tokio::test]
async fn a_resource_that_vanishes_mid_fix_is_gone() {
    let f = fixture(
        &[],
        &[Thing {
            vanishes_on_write: true,
            ..thing("a")
        }],
    );
    let (outcome, detail) = f.one(direct("thing/a")).await;
    assert_eq!(outcome, Outcome::Gone, "{detail}");
    assert_eq!(f.one(direct("thing/never")).await.0, Outcome::Gone);
}

#[tokio::test]
async fn a_contested_resource_is_left_alone_when_so_configured() {
    let f = fixture(
        &[
            ("CONTESTED_TABLE", "in-memory"),
            ("CONTESTED_THRESHOLD", "2"),
            ("KEEP_FIXING_CONTESTED", "false"),
        ],
        &[thing("a")],
    );
    for round in 1..=3 {
        f.world
            .things
            .lock()
            .unwrap()
            .get_mut("thing/a")
            .unwrap()
            .on = false;
        assert_eq!(
            f.one(direct("thing/a")).await.0,
            Outcome::Remediated,
            "round {round}"
        );
    }
    f.world
        .things
        .lock()
        .unwrap()
        .get_mut("thing/a")
        .unwrap()
        .on = false;
    let (outcome, detail) = f.one(direct("thing/a")).await;
    assert_eq!(outcome, Outcome::Failed);
    assert!(detail.contains("contested"), "{detail}");
    assert_eq!(f.writes(), 3, "the fourth undo is left for a human");
}

#[tokio::test]
async fn a_deferral_without_a_follow_up_is_an_invocation_error_but_not_in_a_sweep() {
    let f = fixture(
        &[],
        &[Thing {
            busy: true,
            ..thing("a")
        }],
    );
    // This control listens to no state-change event: nothing else would bring the resource back.
    let err = f.run(direct("thing/a")).await.unwrap_err();
    assert!(err.to_string().contains("deferred=1"), "{err}");
    let sweep = json!({"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT, "time": "2026-11-26T00:00:00Z", "region": REGION, "resources": [], "detail": {}});
    let response = f
        .run(sweep)
        .await
        .expect("a sweep's deferral waits for the next sweep");
    assert_eq!(response.results[0].outcome, Outcome::Deferred);
}

#[tokio::test]
async fn routing_uses_specs_alone_and_bad_input_is_a_named_error() {
    let f = fixture(&[], &[thing("a")]);
    let ct = json!({"version": "0", "id": "1", "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.mem", "account": ACCOUNT, "time": "2026-11-26T00:00:00Z", "region": REGION,
        "resources": [], "detail": {"eventSource": "mem.amazonaws.com", "eventName": "TurnOff",
        "awsRegion": REGION, "recipientAccountId": ACCOUNT, "requestParameters": {"thing": "thing/a"}}});
    assert_eq!(f.one(ct).await.0, Outcome::Remediated);
    let err = f.run(direct("nonsense")).await.unwrap_err();
    assert!(
        err.to_string().contains("invalid resource id `nonsense`"),
        "{err}"
    );
    let err = f
        .run(json!({"resourceId": "thing/a", "control": "other"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown control `other`"), "{err}");
}

/// A write refused because the resource changed meanwhile (someone scheduled a key's deletion
/// between our read and our write): read again, and the record is what the resource is now, not
/// `failed`.
#[tokio::test]
async fn a_write_refused_because_the_resource_changed_meanwhile_is_judged_again() {
    let f = fixture(
        &[],
        &[Thing {
            busy_on_write: true,
            ..thing("racing")
        }],
    );
    let (outcome, detail) = f.one(direct("thing/racing")).await;
    assert_eq!(outcome, Outcome::Deferred, "{detail}");
    assert!(detail.contains("changed while being fixed"), "{detail}");
    assert!(detail.contains("busy"), "{detail}");
    assert_eq!(f.writes(), 1);
}
