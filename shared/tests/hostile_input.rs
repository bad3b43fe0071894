//! Hostile input: whatever arrives, intake answers with a result or a named error, never a panic.
//!
//! Two generators: arbitrary JSON documents, and the real sample events of `events/` with random
//! mutations (a field deleted, replaced by another type, or a value swapped for garbage) — the
//! inputs most likely to reach deep into the parsers. The normal suite runs a few thousand cases;
//! `PROPTEST_CASES=1000000 cargo test --release -p remediation --test hostile_input` is the long
//! run (its figure is in BENCHMARKS.md).

use std::path::PathBuf;

use proptest::prelude::*;
use remediation::control::ControlSpec;
use remediation::functions::FUNCTIONS;
use remediation::intake;
use remediation::Scope;
use serde_json::{Map, Value};

/// Every control of every function, from the registry: intake needs their specs alone.
fn controls() -> Vec<&'static ControlSpec> {
    FUNCTIONS
        .iter()
        .flat_map(|f| f.specs.iter().copied())
        .collect()
}

fn sample_events() -> Vec<Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut events = Vec::new();
    for dir in std::fs::read_dir(&root).expect("events/") {
        for file in std::fs::read_dir(dir.expect("dir").path()).expect("function dir") {
            let path = file.expect("file").path();
            let text = std::fs::read_to_string(&path).expect("read");
            events.push(serde_json::from_str(&text).expect("sample events are JSON"));
        }
    }
    events
}

/// `PROPTEST_CASES`, or a few thousand for the normal suite.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// Every control's spec, the sample events, the scope.
type Fixture = (Vec<&'static ControlSpec>, Vec<Value>, Scope);

/// Built once: the specs, the samples, the scope.
fn fixture() -> &'static Fixture {
    static FIXTURE: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        (
            controls(),
            sample_events(),
            Scope::new("123456789012", "us-east-1"),
        )
    })
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        ".{0,40}".prop_map(Value::String),
        prop::sample::select(vec![
            "AWS API Call via CloudTrail",
            "Scheduled Event",
            "Config Rules Compliance Change",
            "Security Hub Findings - Imported",
            "SageMaker Notebook Instance State Change",
            "123456789012",
            "arn:aws:s3:::bucket",
            "arn:aws:kms:us-east-1:123456789012:key/k",
            "alias/x",
            "rotate-now",
            "NON_COMPLIANT",
            "{\"messageType\":\"ScheduledNotification\"}",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "detail-type",
                        "detail",
                        "account",
                        "source",
                        "resourceId",
                        "resourceType",
                        "action",
                        "dryRun",
                        "invokingEvent",
                        "resultToken",
                        "accountId",
                        "eventName",
                        "eventSource",
                        "requestParameters",
                        "findings",
                        "Compliance",
                        "Resources",
                        "x",
                    ]),
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(
                kv.into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect::<Map<_, _>>()
            )),
        ]
    })
}

/// Apply one mutation at the `pick`-th node of `event`.
fn mutate(event: &mut Value, pick: usize, replacement: Value, delete: bool) {
    fn nodes(v: &Value) -> usize {
        1 + match v {
            Value::Array(a) => a.iter().map(nodes).sum(),
            Value::Object(o) => o.values().map(nodes).sum(),
            _ => 0,
        }
    }
    fn walk(
        v: &mut Value,
        pick: &mut usize,
        replacement: &mut Option<Value>,
        delete: bool,
    ) -> bool {
        if *pick == 0 {
            if let Some(r) = replacement.take() {
                *v = r;
            }
            return true;
        }
        *pick -= 1;
        match v {
            Value::Object(o) => {
                let keys: Vec<String> = o.keys().cloned().collect();
                for k in keys {
                    if delete && *pick == 0 {
                        o.remove(&k);
                        return true;
                    }
                    if let Some(child) = o.get_mut(&k) {
                        if walk(child, pick, replacement, delete) {
                            return true;
                        }
                    }
                }
                false
            }
            Value::Array(a) => a
                .iter_mut()
                .any(|child| walk(child, pick, replacement, delete)),
            _ => false,
        }
    }
    let total = nodes(event);
    let mut pick = pick % total;
    walk(event, &mut pick, &mut Some(replacement), delete);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics(event in arb_json()) {
        let (controls, _, scope) = fixture();
        let _ = intake::parse(&event, controls, scope);
    }

    #[test]
    fn mutated_sample_events_never_panic(
        which in any::<prop::sample::Index>(),
        mutations in prop::collection::vec((any::<usize>(), arb_json(), any::<bool>()), 1..4),
    ) {
        let (controls, samples, scope) = fixture();
        let mut event = samples[which.index(samples.len())].clone();
        for (pick, replacement, delete) in mutations {
            mutate(&mut event, pick, replacement, delete);
        }
        match intake::parse(&event, controls, scope) {
            Ok(_) => {}
            // Every refusal names its problem.
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
