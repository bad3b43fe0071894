//! The remediation policy document: which mode each control runs in, where. The first part of
//! governed remediation (issue 26): the document, its validation and the mode decision, pure and
//! tested here. Reading it from its store, and the engine acting on `notify`, `approve` and `off`,
//! come next; until then no function reads a policy and every control runs as `enforce`.
//!
//! ```json
//! {
//!   "version": 1,
//!   "defaultMode": "notify",
//!   "rules": [
//!     {"mode": "enforce", "organizationalUnits": ["ou-ab12-sandbox1"]},
//!     {"mode": "approve", "controls": ["sagemaker-notebook-guard"]},
//!     {"mode": "off", "accounts": ["111122223333"], "tags": {"ai-guard": "manual"}}
//!   ]
//! }
//! ```
//!
//! A rule applies to a resource when every dimension it names matches (a list matches when it
//! contains the value; `tags` when the resource carries each of them). Among the rules that apply
//! the most specific wins, compared dimension by dimension in this order: resource tags (more tags
//! first), account, organizational unit (the one nearest the account first), region, control. A tie
//! goes to the rule written first. No rule applies: `defaultMode`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::resource::{is_account_id, is_parent_id, is_region};

/// What a control may do to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Fix it (inspect, decide, apply, verify).
    Enforce,
    /// Record and announce what would be fixed; write nothing.
    Notify,
    /// Propose the fix and wait for a human.
    Approve,
    /// Leave the control's resources alone.
    Off,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Enforce => "enforce",
            Mode::Notify => "notify",
            Mode::Approve => "approve",
            Mode::Off => "off",
        })
    }
}

fn enforce() -> Mode {
    Mode::Enforce
}

/// The document.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// The document's format: 1.
    pub version: u32,
    /// The mode where no rule applies.
    #[serde(default = "enforce")]
    pub default_mode: Mode,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// A mode for the resources that match every dimension the rule names.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    pub mode: Mode,
    /// Control ids, e.g. `s3-bucket-tls-only`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<String>,
    /// Account ids (12 digits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// Organizational unit or root ids (`ou-…`, `r-…`): every account under them, at any depth.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizational_units: Vec<String>,
    /// Region names, e.g. `eu-west-1`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// Resource tags the resource must carry, each with this value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// A document that cannot be used, and where it is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("remediation policy{at}: {reason}", at = at(.path))]
pub struct PolicyError {
    /// The offending field, e.g. `rules[2].accounts[0]` (empty: the whole document).
    pub path: String,
    pub reason: String,
}

fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" at `{path}`")
    }
}

fn invalid(path: impl Into<String>, reason: impl Into<String>) -> PolicyError {
    PolicyError {
        path: path.into(),
        reason: reason.into(),
    }
}

/// The resource a mode is chosen for.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub control: &'a str,
    pub account: &'a str,
    /// The account's organizational units, the nearest first, then the root (empty: unknown, or
    /// no organization).
    pub organizational_units: &'a [String],
    pub region: &'a str,
    /// The resource's tags (empty when not read).
    pub tags: &'a BTreeMap<String, String>,
}

/// The mode chosen, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chosen {
    pub mode: Mode,
    /// The index of the rule that chose it; `None`: the default.
    pub rule: Option<usize>,
}

/// How specific a rule is for one subject; compared in the documented order.
type Specificity = (usize, bool, usize, bool, bool);

impl Policy {
    /// The document in `text`, checked: its format, every control id one of `controls`, every
    /// account, organizational unit and region well formed, and no rule that names nothing.
    pub fn parse(text: &str, controls: &[&str]) -> Result<Self, PolicyError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let policy: Policy = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            // `.`: the document itself; `?`: where the text stopped being JSON.
            let path = if path == "." || path == "?" {
                String::new()
            } else {
                path
            };
            invalid(path, e.into_inner().to_string())
        })?;
        de.end()
            .map_err(|e| invalid("", format!("text after the document: {e}")))?;
        policy.check(controls)?;
        Ok(policy)
    }

    fn check(&self, controls: &[&str]) -> Result<(), PolicyError> {
        if self.version != 1 {
            return Err(invalid(
                "version",
                format!(
                    "version {} is not known (this build reads version 1)",
                    self.version
                ),
            ));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let here = |field: &str, j: usize| format!("rules[{i}].{field}[{j}]");
            if rule.controls.is_empty()
                && rule.accounts.is_empty()
                && rule.organizational_units.is_empty()
                && rule.regions.is_empty()
                && rule.tags.is_empty()
            {
                return Err(invalid(
                    format!("rules[{i}]"),
                    "a rule names no control, account, organizational unit, region or tag \
                     (use defaultMode for everything)",
                ));
            }
            for (j, c) in rule.controls.iter().enumerate() {
                if !controls.contains(&c.as_str()) {
                    return Err(invalid(
                        here("controls", j),
                        format!("unknown control `{c}` (known: {})", controls.join(", ")),
                    ));
                }
            }
            for (j, a) in rule.accounts.iter().enumerate() {
                if !is_account_id(a) {
                    return Err(invalid(
                        here("accounts", j),
                        format!("`{a}` is not an account id (12 digits)"),
                    ));
                }
            }
            for (j, ou) in rule.organizational_units.iter().enumerate() {
                if !is_parent_id(ou) {
                    return Err(invalid(
                        here("organizationalUnits", j),
                        format!("`{ou}` is not an organizational unit or root id (ou-…, r-…)"),
                    ));
                }
            }
            for (j, r) in rule.regions.iter().enumerate() {
                if !is_region(r) {
                    return Err(invalid(
                        here("regions", j),
                        format!("`{r}` is not a region name (e.g. eu-west-1)"),
                    ));
                }
            }
            if let Some(k) = rule.tags.keys().find(|k| k.is_empty() || k.len() > 128) {
                return Err(invalid(
                    format!("rules[{i}].tags"),
                    format!("`{k}` is not a tag key (1 to 128 characters)"),
                ));
            }
        }
        Ok(())
    }

    /// The mode for `subject`: the most specific rule that applies, else the default.
    pub fn mode(&self, subject: &Subject<'_>) -> Chosen {
        let mut best: Option<(Specificity, usize)> = None;
        for (i, rule) in self.rules.iter().enumerate() {
            let Some(s) = rule.specificity(subject) else {
                continue;
            };
            // Strictly more specific replaces: a tie keeps the rule written first.
            if best.is_none_or(|(b, _)| s > b) {
                best = Some((s, i));
            }
        }
        match best {
            Some((_, i)) => Chosen {
                mode: self.rules[i].mode,
                rule: Some(i),
            },
            None => Chosen {
                mode: self.default_mode,
                rule: None,
            },
        }
    }
}

impl Rule {
    /// `None` when the rule does not apply to `subject`.
    fn specificity(&self, subject: &Subject<'_>) -> Option<Specificity> {
        let names =
            |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        if !names(&self.controls, subject.control)
            || !names(&self.accounts, subject.account)
            || !names(&self.regions, subject.region)
            || !self
                .tags
                .iter()
                .all(|(k, v)| subject.tags.get(k) == Some(v))
        {
            return None;
        }
        // An OU rule applies under the nearest of its OUs on the account's path; nearer is more
        // specific (the root, last on the path, least).
        let ou = if self.organizational_units.is_empty() {
            0
        } else {
            let depth = subject.organizational_units.len();
            let nearest = subject
                .organizational_units
                .iter()
                .position(|ou| self.organizational_units.contains(ou))?;
            depth - nearest
        };
        Some((
            self.tags.len(),
            !self.accounts.is_empty(),
            ou,
            !self.regions.is_empty(),
            !self.controls.is_empty(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTROLS: &[&str] = &[
        "s3-bucket-tls-only",
        "sagemaker-notebook-guard",
        "kms-key-rotation",
    ];
    const SANDBOX: &str = "ou-ab12-sandbox01";
    const PROD: &str = "ou-ab12-production";
    const ROOT: &str = "r-ab12";

    fn policy(text: &str) -> Policy {
        Policy::parse(text, CONTROLS).unwrap()
    }

    fn mode(
        p: &Policy,
        control: &str,
        account: &str,
        ous: &[&str],
        region: &str,
        tags: &[(&str, &str)],
    ) -> Chosen {
        let ous: Vec<String> = ous.iter().map(|s| s.to_string()).collect();
        let tags: BTreeMap<String, String> = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        p.mode(&Subject {
            control,
            account,
            organizational_units: &ous,
            region,
            tags: &tags,
        })
    }

    #[test]
    fn no_rule_applies_the_default_which_is_enforce_unless_given() {
        let p = policy(r#"{"version": 1}"#);
        let chosen = mode(
            &p,
            "kms-key-rotation",
            "111122223333",
            &[],
            "us-east-1",
            &[],
        );
        assert_eq!(
            chosen,
            Chosen {
                mode: Mode::Enforce,
                rule: None
            }
        );
        let p = policy(r#"{"version": 1, "defaultMode": "notify"}"#);
        assert_eq!(
            mode(
                &p,
                "kms-key-rotation",
                "111122223333",
                &[],
                "us-east-1",
                &[]
            )
            .mode,
            Mode::Notify
        );
    }

    #[test]
    fn one_ou_enforces_and_another_only_notifies() {
        let p = policy(&format!(
            r#"{{"version": 1, "defaultMode": "notify",
                "rules": [{{"mode": "enforce", "organizationalUnits": ["{SANDBOX}"]}}]}}"#
        ));
        let sandbox = mode(
            &p,
            "kms-key-rotation",
            "111122223333",
            &[SANDBOX, ROOT],
            "us-east-1",
            &[],
        );
        assert_eq!(
            sandbox,
            Chosen {
                mode: Mode::Enforce,
                rule: Some(0)
            }
        );
        let prod = mode(
            &p,
            "kms-key-rotation",
            "444455556666",
            &[PROD, ROOT],
            "us-east-1",
            &[],
        );
        assert_eq!(
            prod,
            Chosen {
                mode: Mode::Notify,
                rule: None
            }
        );
    }

    #[test]
    fn the_most_specific_rule_wins_in_the_documented_order() {
        let p = policy(&format!(
            r#"{{"version": 1, "rules": [
                {{"mode": "notify", "controls": ["kms-key-rotation"]}},
                {{"mode": "approve", "regions": ["eu-west-1"]}},
                {{"mode": "off", "organizationalUnits": ["{ROOT}"]}},
                {{"mode": "enforce", "organizationalUnits": ["{PROD}"]}},
                {{"mode": "notify", "accounts": ["444455556666"]}},
                {{"mode": "off", "tags": {{"ai-guard": "manual"}}}}
            ]}}"#
        ));
        let chosen = |account: &str, ous: &[&str], region: &str, tags: &[(&str, &str)]| {
            mode(&p, "kms-key-rotation", account, ous, region, tags).rule
        };
        // Control only.
        assert_eq!(chosen("111122223333", &[], "us-east-1", &[]), Some(0));
        // A region beats a control.
        assert_eq!(chosen("111122223333", &[], "eu-west-1", &[]), Some(1));
        // An OU beats a region; the nearer OU beats the root.
        assert_eq!(
            chosen("111122223333", &[SANDBOX, ROOT], "eu-west-1", &[]),
            Some(2)
        );
        assert_eq!(
            chosen("111122223333", &[PROD, ROOT], "eu-west-1", &[]),
            Some(3)
        );
        // An account beats an OU.
        assert_eq!(
            chosen("444455556666", &[PROD, ROOT], "eu-west-1", &[]),
            Some(4)
        );
        // A resource tag beats everything.
        assert_eq!(
            chosen(
                "444455556666",
                &[PROD, ROOT],
                "eu-west-1",
                &[("ai-guard", "manual")]
            ),
            Some(5)
        );
        // Another value of the tag is not the tag.
        assert_eq!(
            chosen(
                "444455556666",
                &[PROD, ROOT],
                "eu-west-1",
                &[("ai-guard", "auto")]
            ),
            Some(4)
        );
    }

    #[test]
    fn more_dimensions_of_the_same_rank_win_and_a_tie_goes_to_the_first_rule() {
        let p = policy(
            r#"{"version": 1, "rules": [
                {"mode": "notify", "accounts": ["111122223333"]},
                {"mode": "approve", "accounts": ["111122223333"], "controls": ["sagemaker-notebook-guard"]},
                {"mode": "off", "accounts": ["111122223333"]}
            ]}"#,
        );
        assert_eq!(
            mode(
                &p,
                "sagemaker-notebook-guard",
                "111122223333",
                &[],
                "us-east-1",
                &[]
            )
            .rule,
            Some(1)
        );
        assert_eq!(
            mode(
                &p,
                "kms-key-rotation",
                "111122223333",
                &[],
                "us-east-1",
                &[]
            )
            .rule,
            Some(0)
        );
    }

    #[test]
    fn a_rule_applies_only_where_every_dimension_matches() {
        let p = policy(
            r#"{"version": 1, "rules": [
                {"mode": "off", "accounts": ["111122223333"], "regions": ["eu-west-1"]}
            ]}"#,
        );
        assert_eq!(
            mode(
                &p,
                "kms-key-rotation",
                "111122223333",
                &[],
                "us-east-1",
                &[]
            )
            .rule,
            None
        );
        assert_eq!(
            mode(
                &p,
                "kms-key-rotation",
                "444455556666",
                &[],
                "eu-west-1",
                &[]
            )
            .rule,
            None
        );
        assert_eq!(
            mode(
                &p,
                "kms-key-rotation",
                "111122223333",
                &[],
                "eu-west-1",
                &[]
            )
            .rule,
            Some(0)
        );
    }

    #[test]
    fn an_invalid_document_is_refused_naming_the_place() {
        let cases: &[(&str, &str, &str)] = &[
            ("{", "", "EOF"),
            (r#"{"version": 2}"#, "version", "version 2 is not known"),
            (
                r#"{"version": 1, "defaultMode": "enforced"}"#,
                "defaultMode",
                "unknown variant `enforced`",
            ),
            (
                r#"{"version": 1, "rule": []}"#,
                "rule",
                "unknown field `rule`",
            ),
            (
                r#"{"version": 1, "rules": [{"mode": "off"}]}"#,
                "rules[0]",
                "names no control",
            ),
            (
                r#"{"version": 1, "rules": [{"mode": "off", "controls": ["s3-tls"]}]}"#,
                "rules[0].controls[0]",
                "unknown control `s3-tls`",
            ),
            (
                r#"{"version": 1, "rules": [{"mode": "off", "accounts": ["1111"]}]}"#,
                "rules[0].accounts[0]",
                "not an account id",
            ),
            (
                r#"{"version": 1, "rules": [{"mode": "off", "organizationalUnits": ["sandbox"]}]}"#,
                "rules[0].organizationalUnits[0]",
                "not an organizational unit",
            ),
            (
                r#"{"version": 1, "rules": [{"mode": "off", "regions": ["Europe"]}]}"#,
                "rules[0].regions[0]",
                "not a region name",
            ),
            (
                r#"{"version": 1, "rules": [{"mode": "sometimes", "regions": ["eu-west-1"]}]}"#,
                "rules[0].mode",
                "unknown variant `sometimes`",
            ),
            (r#"{"version": 1} {}"#, "", "text after the document"),
        ];
        for (text, path, reason) in cases {
            let e = Policy::parse(text, CONTROLS).unwrap_err();
            assert_eq!(&e.path, path, "{text}: {e}");
            assert!(e.reason.contains(reason), "{text}: {e}");
            assert!(e.to_string().starts_with("remediation policy"), "{e}");
        }
    }

    #[test]
    fn ids_and_regions_are_recognised() {
        for ou in [SANDBOX, PROD, ROOT, "ou-a1b2-c3d4e5f6"] {
            assert!(is_parent_id(ou), "{ou}");
        }
        for not in ["ou-", "ou-ab12", "r-", "ou-AB12-sandbox01", "o-abcdefghij"] {
            assert!(!is_parent_id(not), "{not}");
        }
        for r in [
            "us-east-1",
            "ap-southeast-2",
            "us-gov-west-1",
            "eu-central-2",
        ] {
            assert!(is_region(r), "{r}");
        }
        for not in ["us-east", "US-EAST-1", "us--1", "eu-west-x"] {
            assert!(!is_region(not), "{not}");
        }
    }

    #[test]
    fn a_document_reads_back_as_written() {
        let p = policy(&format!(
            r#"{{"version": 1, "defaultMode": "approve", "rules": [
                {{"mode": "enforce", "organizationalUnits": ["{SANDBOX}"], "tags": {{"env": "dev"}}}}]}}"#
        ));
        let again = Policy::parse(&serde_json::to_string(&p).unwrap(), CONTROLS).unwrap();
        assert_eq!(again, p);
    }
}
