//! The registry (`remediation::functions::FUNCTIONS`) is the one list of functions and controls,
//! and everything else agrees with it: every spec has sample events that route to it, the template
//! deploys exactly the registry's functions with EventBridge patterns equal to what their specs
//! declare, the README has a row for each, and no two specs of a function are ambiguous.

use std::collections::BTreeSet;
use std::path::PathBuf;

use integration_tests::template::resolve;
use integration_tests::{ACCOUNT, REGION};
use remediation::functions::{Function, FUNCTIONS};
use remediation::intake::{self, Work};
use remediation::resource::Scope;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn events_of(function: &Function) -> Vec<(String, Value)> {
    let dir = root().join("events").join(function.name);
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|f| {
            let path = f.expect("file").path();
            let text = std::fs::read_to_string(&path).expect("read");
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, serde_json::from_str(&text).expect("json"))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_spec_has_sample_events_that_route_to_it() {
    let scope = Scope::new(ACCOUNT, REGION);
    let dirs: BTreeSet<String> = std::fs::read_dir(root().join("events"))
        .expect("events/")
        .map(|d| d.expect("dir").file_name().to_string_lossy().into_owned())
        .collect();
    let names: BTreeSet<String> = FUNCTIONS.iter().map(|f| f.name.to_owned()).collect();
    assert_eq!(
        dirs, names,
        "events/ has one directory per registered function"
    );
    for function in FUNCTIONS {
        let mut routed: BTreeSet<&str> = BTreeSet::new();
        for (file, event) in events_of(function) {
            let parsed = intake::parse(&event, function.specs, &scope)
                .unwrap_or_else(|e| panic!("{}/{file}: {e}", function.name));
            match parsed.work {
                Work::Targets(targets) => routed.extend(targets.iter().map(|t| t.control)),
                Work::Sweep(ids) => routed.extend(ids),
                Work::Ignore(_) => {}
            }
        }
        for spec in function.specs {
            assert!(
                routed.contains(spec.id),
                "{}: no sample event in events/{} routes to {}",
                function.name,
                function.name,
                spec.id
            );
        }
    }
}

#[test]
fn no_two_specs_are_ambiguous() {
    let mut ids = BTreeSet::new();
    for function in FUNCTIONS {
        let mut rules = BTreeSet::new();
        let mut findings = BTreeSet::new();
        let mut state_changes = BTreeSet::new();
        for spec in function.specs {
            assert!(ids.insert(spec.id), "control id {} twice", spec.id);
            for r in spec
                .config_rules
                .iter()
                .map(|r| &r.name)
                .chain(spec.custom_config_rule.iter())
            {
                assert!(
                    rules.insert(*r),
                    "{}: Config rule {r} names two controls",
                    function.name
                );
            }
            for c in spec.security_hub_controls {
                assert!(
                    findings.insert(*c),
                    "{}: Security Hub {c} names two controls",
                    function.name
                );
            }
            for e in spec.state_change_events {
                assert!(
                    state_changes.insert(e.detail_type),
                    "{}: {} names two controls",
                    function.name,
                    e.detail_type
                );
            }
            assert!(!spec.actions.is_empty(), "{}: no action", spec.id);
        }
        let shorts: Vec<&str> = FUNCTIONS.iter().map(|f| f.short).collect();
        assert_eq!(
            shorts.iter().filter(|s| **s == function.short).count(),
            1,
            "short name {} twice",
            function.short
        );
    }
}

#[test]
fn the_readme_has_a_row_for_every_function_and_names_every_control() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    for function in FUNCTIONS {
        assert!(
            readme.contains(&format!("| `{}` |", function.name)),
            "README: no table row for {}",
            function.name
        );
        assert!(
            readme.contains(&format!("### `{}`", function.name)),
            "README: no section for {}",
            function.name
        );
        for spec in function.specs {
            assert!(readme.contains(spec.id), "README never names {}", spec.id);
        }
    }
}

fn strings(v: &Value) -> BTreeSet<String> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                Value::Object(o) => o
                    .get("wildcard")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| i.to_string()),
                other => other.to_string(),
            })
            .collect(),
        Value::Null => BTreeSet::new(),
        other => panic!("expected a list, got {other}"),
    }
}

fn set<'a>(items: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    items.into_iter().map(str::to_owned).collect()
}

#[test]
fn the_template_deploys_the_registry_with_the_patterns_its_specs_declare() {
    // Every optional rule on: the customer-key rule needs AI data buckets named.
    let t = resolve(&[
        ("AiDataBuckets", "ai-*"),
        ("SecurityHubApprovalAction", "true"),
    ]);
    let resources = t["resources"].as_object().expect("resources");
    let deployed: BTreeSet<String> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::Lambda::Function")
        .map(|r| {
            r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .expect("binary")
                .to_owned()
        })
        .collect();
    assert_eq!(deployed, set(FUNCTIONS.iter().map(|f| f.name)));
    // The Security Hub custom action that approves proposed fixes.
    let action = resources
        .values()
        .find(|r| r["Type"] == "AWS::SecurityHub::ActionTarget")
        .and_then(|r| r["Ref"].as_str())
        .expect("the approval custom action")
        .to_owned();
    for function in FUNCTIONS {
        let arn = resources
            .values()
            .find(|r| r["Metadata"]["BuildProperties"]["Binary"] == function.name)
            .map(|r| r["Attributes"]["Arn"].clone())
            .expect("function");
        let patterns: Vec<Value> = resources
            .values()
            .filter(|r| r["Type"] == "AWS::Events::Rule")
            .filter(|r| {
                r["Properties"]["Targets"]
                    .as_array()
                    .is_some_and(|ts| ts.iter().any(|t| t["Arn"] == arn))
            })
            .filter_map(|r| r["Properties"].get("EventPattern").cloned())
            .collect();
        let of = |detail_type: &str| {
            patterns
                .iter()
                .filter(|p| strings(&p["detail-type"]).contains(detail_type))
                .collect::<Vec<_>>()
        };
        let name = function.name;
        let specs = function.specs;
        // CloudTrail: event sources and names.
        let ct = of("AWS API Call via CloudTrail");
        let names: BTreeSet<String> = ct
            .iter()
            .flat_map(|p| strings(&p["detail"]["eventName"]))
            .collect();
        let sources: BTreeSet<String> = ct
            .iter()
            .flat_map(|p| strings(&p["detail"]["eventSource"]))
            .collect();
        assert_eq!(
            names,
            set(specs
                .iter()
                .flat_map(|s| s.cloudtrail_events.iter().copied())),
            "{name}: CloudTrail eventName"
        );
        assert_eq!(
            sources,
            set(specs
                .iter()
                .filter(|s| !s.cloudtrail_events.is_empty())
                .map(|s| s.event_source)),
            "{name}: CloudTrail eventSource"
        );
        // Config compliance changes: the managed rules and their resource types.
        let cc = of("Config Rules Compliance Change");
        let rules: BTreeSet<String> = cc
            .iter()
            .flat_map(|p| strings(&p["detail"]["configRuleName"]))
            .collect();
        assert_eq!(
            rules,
            set(specs
                .iter()
                .flat_map(|s| s.config_rules.iter().map(|r| r.name)))
            .into_iter()
            .map(|r| format!("*{r}*"))
            .collect(),
            "{name}: configRuleName"
        );
        let types: BTreeSet<String> = cc
            .iter()
            .flat_map(|p| strings(&p["detail"]["resourceType"]))
            .collect();
        assert_eq!(
            types,
            set(specs
                .iter()
                .filter(|s| !s.config_rules.is_empty())
                .map(|s| s.resource_type)),
            "{name}: Config resourceType"
        );
        // Security Hub control ids.
        let sh: BTreeSet<String> = of("Security Hub Findings - Imported")
            .iter()
            .flat_map(|p| strings(&p["detail"]["findings"]["Compliance"]["SecurityControlId"]))
            .collect();
        assert_eq!(
            sh,
            set(specs
                .iter()
                .flat_map(|s| s.security_hub_controls.iter().copied())),
            "{name}: SecurityControlId"
        );
        // The new Security Hub's OCSF findings: the same controls.
        let v2: BTreeSet<String> = of("Findings Imported V2")
            .iter()
            .flat_map(|p| strings(&p["detail"]["findings"]["compliance"]["control"]))
            .collect();
        assert_eq!(v2, sh, "{name}: compliance.control (Findings Imported V2)");
        // The approval custom action on findings of the same controls, that action's events only.
        let approvals = of("Security Hub Findings - Custom Action");
        let approved: BTreeSet<String> = approvals
            .iter()
            .flat_map(|p| strings(&p["detail"]["findings"]["Compliance"]["SecurityControlId"]))
            .collect();
        assert_eq!(approved, sh, "{name}: SecurityControlId (custom action)");
        for p in &approvals {
            assert_eq!(
                strings(&p["resources"]),
                set([action.as_str()]),
                "{name}: the custom action's events only"
            );
        }
        // State-change events.
        let declared = set(specs
            .iter()
            .flat_map(|s| s.state_change_events.iter().map(|e| e.detail_type)));
        let subscribed: BTreeSet<String> = declared
            .iter()
            .filter(|d| !of(d).is_empty())
            .cloned()
            .collect();
        assert_eq!(subscribed, declared, "{name}: state-change events");
        // The function's own Config custom rule, and the managed rules it remediates.
        for spec in specs {
            if let Some(custom) = spec.custom_config_rule {
                assert!(
                    resources
                        .values()
                        .any(|r| r["Type"] == "AWS::Config::ConfigRule"
                            && r["Properties"]["Source"]["Owner"] == "CUSTOM_LAMBDA"
                            && r["Properties"]["Source"]["SourceIdentifier"] == arn
                            && r["Properties"]["ConfigRuleName"]
                                .as_str()
                                .is_some_and(|n| n.contains(custom))),
                    "{name}: no custom Config rule {custom}"
                );
            }
            for rule in spec.config_rules.iter().map(|r| r.name) {
                assert!(
                    resources
                        .values()
                        .any(|r| r["Type"] == "AWS::Config::ConfigRule"
                            && r["Properties"]["ConfigRuleName"]
                                .as_str()
                                .is_some_and(|n| n.contains(rule))),
                    "{name}: managed rule {rule} is not deployed"
                );
            }
        }
    }
}
