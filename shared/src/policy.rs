//! The remediation policy document: which mode each control runs in, where; the exceptions; how
//! much one invocation may change; how long a proposal waits for approval. Pure: the document, its
//! validation and the decisions. Reading it from its store is [`crate::governance`]'s; acting on the
//! mode is the pipeline's.
//!
//! ```json
//! {
//!   "version": 1,
//!   "defaultMode": "notify",
//!   "rules": [
//!     {"mode": "enforce", "organizationalUnits": ["ou-ab12-sandbox1"]},
//!     {"mode": "approve", "controls": ["sagemaker-notebook-guard"]},
//!     {"mode": "off", "accounts": ["111122223333"], "tags": {"ai-guard": "manual"}}
//!   ],
//!   "exceptions": [
//!     {"accounts": ["111122223333"], "resources": ["arn:aws:s3:::public-site-*"],
//!      "controls": ["s3-bucket-public-access-block"], "reason": "static web site, reviewed",
//!      "owner": "web-team@example.com", "expires": "2027-06-30T00:00:00Z"}
//!   ],
//!   "limits": {"writesPerInvocation": 25, "controls": {"s3-bucket-tls-only": 10}},
//!   "approval": {"expiresAfterHours": 72},
//!   "exemptionTag": {"accounts": ["111122223333"]},
//!   "securityHub": {"updateFindingsNotFixed": false}
//! }
//! ```
//!
//! A rule applies to a resource when every dimension it names matches (a list matches when it
//! contains the value; `tags` when the resource carries each of them). Among the rules that apply
//! the most specific wins, compared dimension by dimension in this order: resource tags (more tags
//! first), account, organizational unit (the one nearest the account first), region, control. A tie
//! goes to the rule written first. No rule applies: `defaultMode`.
//!
//! An exception names its accounts (required: a bucket's ARN carries no account, so a pattern alone
//! would exempt a same-named bucket in every account), its resource patterns, its controls (none:
//! all), a reason, an owner and an expiry; from its expiry on it no longer applies, and is reported.

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
    /// Resources left alone, each with a reason, an owner and an expiry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<Exception>,
    /// How many writes one invocation may make.
    #[serde(default)]
    pub limits: Limits,
    /// How long a proposal waits for a human.
    #[serde(default)]
    pub approval: Approval,
    /// Where the exemption tag (`EXEMPT_TAG`) is honoured; absent: in the function's own account
    /// only, so a member account's principals cannot exempt their own resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exemption_tag: Option<TagScope>,
    /// What Security Hub is told about findings that were not fixed.
    #[serde(default)]
    pub security_hub: SecurityHub,
}

/// An exception: these resources of these accounts are left alone by these controls, until it
/// expires.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Exception {
    /// Account ids (required: bucket ARNs carry no account).
    pub accounts: Vec<String>,
    /// ARN patterns (`*` and `?`), e.g. `arn:aws:s3:::public-site-*`.
    pub resources: Vec<String>,
    /// Control ids (empty: every control).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<String>,
    /// Why the resources are left alone.
    pub reason: String,
    /// Who answers for it.
    pub owner: String,
    /// When it stops applying: an RFC 3339 time (`2027-06-30T00:00:00Z`) or a date (the start of
    /// that day, UTC).
    pub expires: String,
    /// `expires` in seconds since the epoch (checked at parse).
    #[serde(skip)]
    expires_at: i64,
}

impl Exception {
    /// Seconds since the epoch from which it no longer applies.
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// Whether it has expired at `now` (seconds since the epoch).
    pub fn expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }

    /// Whether it names this control, account and resource (expired or not).
    pub fn covers(&self, control: &str, account: &str, arn: &str) -> bool {
        (self.controls.is_empty() || self.controls.iter().any(|c| c == control))
            && self.accounts.iter().any(|a| a == account)
            && self
                .resources
                .iter()
                .any(|p| wildmatch::WildMatch::new(p).matches(arn))
    }
}

/// Blast-radius limits: at most this many writes per control in one invocation (one account and
/// region: a hub's sweep job is one of each). Past it the rest are recorded as `notify`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limits {
    /// For every control without its own limit.
    #[serde(default = "Limits::default_writes")]
    pub writes_per_invocation: u32,
    /// Per control id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub controls: BTreeMap<String, u32>,
}

impl Limits {
    pub const DEFAULT_WRITES: u32 = 25;

    fn default_writes() -> u32 {
        Self::DEFAULT_WRITES
    }

    /// The limit for `control`.
    pub fn writes(&self, control: &str) -> u32 {
        self.controls
            .get(control)
            .copied()
            .unwrap_or(self.writes_per_invocation)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            writes_per_invocation: Self::DEFAULT_WRITES,
            controls: BTreeMap::new(),
        }
    }
}

/// Approval of proposed fixes.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Approval {
    /// A proposal not approved within this many hours expires (1 to 720).
    #[serde(default = "Approval::default_hours")]
    pub expires_after_hours: u32,
}

impl Approval {
    pub const DEFAULT_HOURS: u32 = 72;

    fn default_hours() -> u32 {
        Self::DEFAULT_HOURS
    }
}

impl Default for Approval {
    fn default() -> Self {
        Self {
            expires_after_hours: Self::DEFAULT_HOURS,
        }
    }
}

/// Where the exemption tag is honoured: these accounts and every account under these OUs.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TagScope {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizational_units: Vec<String>,
}

/// What Security Hub is told.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecurityHub {
    /// Also mark findings `NOTIFIED` when the fix was only recorded (dry run, `notify`, `approve`,
    /// past a limit); by default only a failed or deferred fix is told.
    #[serde(default)]
    pub update_findings_not_fixed: bool,
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
        let mut policy: Policy = serde_path_to_error::deserialize(&mut de).map_err(|e| {
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
        policy.check_extras(controls)?;
        Ok(policy)
    }

    /// Everything, `enforce`, no exceptions, the default limits: a deployment without a document.
    pub fn enforce_everything() -> Self {
        Self {
            version: 1,
            default_mode: Mode::Enforce,
            rules: Vec::new(),
            exceptions: Vec::new(),
            limits: Limits::default(),
            approval: Approval::default(),
            exemption_tag: None,
            security_hub: SecurityHub::default(),
        }
    }

    /// A deployment without a document (`POLICY_PARAMETER` unset): every control enforces, with no
    /// blast-radius limit — the behaviour before remediation policies. (The template always sets
    /// a document, whose starting limit is `WritesPerInvocation`.)
    pub fn unlimited() -> Self {
        Self {
            limits: Limits {
                writes_per_invocation: u32::MAX,
                controls: BTreeMap::new(),
            },
            ..Self::enforce_everything()
        }
    }

    /// Whether any rule or the exemption tag's scope names organizational units (an account's
    /// must then be known).
    pub fn names_organizational_units(&self) -> bool {
        self.rules
            .iter()
            .any(|r| !r.organizational_units.is_empty())
            || self
                .exemption_tag
                .as_ref()
                .is_some_and(|t| !t.organizational_units.is_empty())
    }

    /// Whether any rule names tags (the resource's tags must then be read before a write).
    pub fn reads_tags(&self) -> bool {
        self.rules.iter().any(|r| !r.tags.is_empty())
    }

    /// The exception covering this resource, and whether it has expired at `now`: an active one
    /// first, else the first expired one (to be reported).
    pub fn exception(
        &self,
        control: &str,
        account: &str,
        arn: &str,
        now: i64,
    ) -> Option<(usize, &Exception, bool)> {
        let mut expired = None;
        for (i, e) in self.exceptions.iter().enumerate() {
            if !e.covers(control, account, arn) {
                continue;
            }
            if !e.expired(now) {
                return Some((i, e, false));
            }
            expired = expired.or(Some((i, e, true)));
        }
        expired
    }

    /// Whether the exemption tag is honoured in `account` (under `ous`, the nearest first);
    /// `own`: the function's own account, where it is honoured when the document does not say.
    pub fn honours_exemption_tag(&self, account: &str, ous: &[String], own: bool) -> bool {
        match &self.exemption_tag {
            None => own,
            Some(scope) => {
                scope.accounts.iter().any(|a| a == account)
                    || ous.iter().any(|ou| scope.organizational_units.contains(ou))
            }
        }
    }

    fn check_extras(&mut self, controls: &[&str]) -> Result<(), PolicyError> {
        let known = |path: String, c: &str| {
            if controls.contains(&c) {
                Ok(())
            } else {
                Err(invalid(
                    path,
                    format!("unknown control `{c}` (known: {})", controls.join(", ")),
                ))
            }
        };
        let accounts = |path: &str, list: &[String]| {
            for (j, a) in list.iter().enumerate() {
                if !is_account_id(a) {
                    return Err(invalid(
                        format!("{path}[{j}]"),
                        format!("`{a}` is not an account id (12 digits)"),
                    ));
                }
            }
            Ok(())
        };
        for (i, e) in self.exceptions.iter_mut().enumerate() {
            let here = |field: &str| format!("exceptions[{i}].{field}");
            if e.accounts.is_empty() {
                return Err(invalid(
                    here("accounts"),
                    "an exception names its accounts (a bucket's ARN carries no account)",
                ));
            }
            accounts(&here("accounts"), &e.accounts)?;
            if e.resources.is_empty() {
                return Err(invalid(
                    here("resources"),
                    "an exception names its resources",
                ));
            }
            for (j, r) in e.resources.iter().enumerate() {
                if !r.starts_with("arn:") {
                    return Err(invalid(
                        format!("{}[{j}]", here("resources")),
                        format!("`{r}` is not an ARN pattern (expected `arn:…`, `*` allowed)"),
                    ));
                }
            }
            for (j, c) in e.controls.iter().enumerate() {
                known(format!("{}[{j}]", here("controls")), c)?;
            }
            for (field, value) in [("reason", &e.reason), ("owner", &e.owner)] {
                if value.trim().is_empty() {
                    return Err(invalid(
                        here(field),
                        format!("an exception needs its {field}"),
                    ));
                }
            }
            e.expires_at = parse_time(&e.expires).ok_or_else(|| {
                invalid(
                    here("expires"),
                    format!(
                        "`{}` is not a time (RFC 3339, e.g. 2027-06-30T00:00:00Z, or a date)",
                        e.expires
                    ),
                )
            })?;
        }
        let limits = std::iter::once((
            "limits.writesPerInvocation".to_owned(),
            self.limits.writes_per_invocation,
        ))
        .chain(
            self.limits
                .controls
                .iter()
                .map(|(c, n)| (format!("limits.controls.{c}"), *n)),
        );
        for (path, n) in limits {
            if !(1..=10_000).contains(&n) {
                return Err(invalid(path, format!("{n} is not a limit from 1 to 10000")));
            }
        }
        for c in self.limits.controls.keys() {
            known(format!("limits.controls.{c}"), c)?;
        }
        if !(1..=720).contains(&self.approval.expires_after_hours) {
            return Err(invalid(
                "approval.expiresAfterHours",
                format!(
                    "{} is not from 1 to 720 hours",
                    self.approval.expires_after_hours
                ),
            ));
        }
        if let Some(scope) = &self.exemption_tag {
            accounts("exemptionTag.accounts", &scope.accounts)?;
            for (j, ou) in scope.organizational_units.iter().enumerate() {
                if !is_parent_id(ou) {
                    return Err(invalid(
                        format!("exemptionTag.organizationalUnits[{j}]"),
                        format!("`{ou}` is not an organizational unit or root id (ou-…, r-…)"),
                    ));
                }
            }
        }
        Ok(())
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

/// Seconds since the epoch of an RFC 3339 time, or of the start of a date (`2027-06-30`, UTC).
pub fn parse_time(text: &str) -> Option<i64> {
    use aws_smithy_types::date_time::{DateTime, Format};
    let text = text.trim();
    if !text.is_ascii() {
        return None;
    }
    if text.len() == 10 {
        return DateTime::from_str(&format!("{text}T00:00:00Z"), Format::DateTime)
            .ok()
            .map(|t| t.secs());
    }
    // A numeric offset (`+02:00`), which the SDK's reader does not take: read the time as UTC,
    // then take the offset away.
    let (utc, offset) = match text.len().checked_sub(6).map(|i| text.split_at(i)) {
        Some((time, zone))
            if zone.is_char_boundary(3)
                && matches!(&zone[..1], "+" | "-")
                && &zone[3..4] == ":" =>
        {
            let digits = |s: &str| {
                s.bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| s.parse::<i64>().ok())
                    .flatten()
            };
            let hours = digits(&zone[1..3])?;
            let minutes = digits(&zone[4..6])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let secs = hours * 3600 + minutes * 60;
            (
                format!("{time}Z"),
                if &zone[..1] == "+" { secs } else { -secs },
            )
        }
        _ => (text.to_owned(), 0),
    };
    DateTime::from_str(&utc, Format::DateTime)
        .ok()
        .map(|t| t.secs() - offset)
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

    const DOCUMENTED_CONTROLS: &[&str] = &[
        "s3-bucket-public-access-block",
        "s3-bucket-tls-only",
        "sagemaker-notebook-guard",
    ];

    /// 2027-06-30T00:00:00Z.
    const JUNE_30_2027: i64 = 1_814_313_600;

    #[test]
    fn the_documented_example_parses() {
        let doc: String = include_str!("policy.rs")
            .lines()
            .skip_while(|l| !l.starts_with("//! ```json"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.trim_start_matches("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        let p = Policy::parse(&doc, DOCUMENTED_CONTROLS).unwrap();
        assert_eq!(p.default_mode, Mode::Notify);
        assert_eq!(p.rules.len(), 3);
        assert_eq!(p.exceptions.len(), 1);
        assert_eq!(p.exceptions[0].expires_at(), JUNE_30_2027);
        assert_eq!(p.limits.writes("s3-bucket-tls-only"), 10);
        assert_eq!(p.limits.writes("sagemaker-notebook-guard"), 25);
        assert_eq!(p.approval.expires_after_hours, 72);
        assert_eq!(
            p.exemption_tag,
            Some(TagScope {
                accounts: vec!["111122223333".into()],
                organizational_units: Vec::new(),
            })
        );
        assert!(!p.security_hub.update_findings_not_fixed);
    }

    #[test]
    fn the_new_fields_default_to_enforcing_everything_within_the_default_limits() {
        let p = policy(r#"{"version": 1}"#);
        assert!(p.exceptions.is_empty());
        assert_eq!(p.limits, Limits::default());
        assert_eq!(p.limits.writes_per_invocation, Limits::DEFAULT_WRITES);
        assert_eq!(Limits::DEFAULT_WRITES, 25);
        assert_eq!(p.approval.expires_after_hours, 72);
        assert_eq!(p.exemption_tag, None);
        assert!(!p.security_hub.update_findings_not_fixed);
        assert_eq!(p, Policy::enforce_everything());
        assert!(!p.names_organizational_units());
        assert!(!p.reads_tags());
    }

    #[test]
    fn every_new_field_parses() {
        let p = policy(&format!(
            r#"{{"version": 1,
                "exceptions": [
                    {{"accounts": ["111122223333", "444455556666"],
                      "resources": ["arn:aws:s3:::public-site-*", "arn:aws:s3:::docs"],
                      "controls": ["s3-bucket-tls-only"],
                      "reason": "static web site", "owner": "web@example.com",
                      "expires": "2027-06-30"}},
                    {{"accounts": ["111122223333"], "resources": ["arn:aws:kms:*"],
                      "reason": "migration", "owner": "kms@example.com",
                      "expires": "2027-06-30T10:30:00Z"}}
                ],
                "limits": {{"writesPerInvocation": 5, "controls": {{"kms-key-rotation": 100}}}},
                "approval": {{"expiresAfterHours": 720}},
                "exemptionTag": {{"accounts": ["111122223333"], "organizationalUnits": ["{SANDBOX}"]}},
                "securityHub": {{"updateFindingsNotFixed": true}}}}"#
        ));
        let e = &p.exceptions[0];
        assert_eq!(e.accounts, ["111122223333", "444455556666"]);
        assert_eq!(e.controls, ["s3-bucket-tls-only"]);
        assert_eq!(
            (e.reason.as_str(), e.owner.as_str()),
            ("static web site", "web@example.com")
        );
        assert_eq!(e.expires, "2027-06-30");
        assert_eq!(e.expires_at(), JUNE_30_2027);
        assert!(p.exceptions[1].controls.is_empty(), "every control");
        assert_eq!(
            p.exceptions[1].expires_at(),
            JUNE_30_2027 + 10 * 3600 + 1800
        );
        assert_eq!(p.limits.writes_per_invocation, 5);
        assert_eq!(p.limits.writes("kms-key-rotation"), 100);
        assert_eq!(p.limits.writes("s3-bucket-tls-only"), 5);
        assert_eq!(p.approval.expires_after_hours, 720);
        let scope = p.exemption_tag.as_ref().unwrap();
        assert_eq!(scope.accounts, ["111122223333"]);
        assert_eq!(scope.organizational_units, [SANDBOX]);
        assert!(p.security_hub.update_findings_not_fixed);
        assert!(
            p.names_organizational_units(),
            "the exemption tag's scope names OUs"
        );
        // And back.
        let again = Policy::parse(&serde_json::to_string(&p).unwrap(), CONTROLS).unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn the_bounds_of_limits_and_approval_are_accepted() {
        for (doc, n) in [
            (r#"{"version": 1, "limits": {"writesPerInvocation": 1}}"#, 1),
            (
                r#"{"version": 1, "limits": {"writesPerInvocation": 10000}}"#,
                10_000,
            ),
        ] {
            assert_eq!(policy(doc).limits.writes("kms-key-rotation"), n);
        }
        for hours in [1, 720] {
            let doc = format!(r#"{{"version": 1, "approval": {{"expiresAfterHours": {hours}}}}}"#);
            assert_eq!(policy(&doc).approval.expires_after_hours, hours);
        }
    }

    #[test]
    fn a_per_control_limit_overrides_the_invocations() {
        let limits = Limits {
            writes_per_invocation: 3,
            controls: BTreeMap::from([("s3-bucket-tls-only".to_owned(), 1)]),
        };
        assert_eq!(limits.writes("s3-bucket-tls-only"), 1);
        assert_eq!(limits.writes("kms-key-rotation"), 3);
        assert_eq!(Limits::default().writes("anything"), Limits::DEFAULT_WRITES);
        let p =
            policy(r#"{"version": 1, "limits": {"controls": {"sagemaker-notebook-guard": 2}}}"#);
        assert_eq!(p.limits.writes("sagemaker-notebook-guard"), 2);
        assert_eq!(p.limits.writes("kms-key-rotation"), Limits::DEFAULT_WRITES);
    }

    #[test]
    fn an_invalid_new_field_is_refused_naming_the_place() {
        let exception = |fields: &str| format!(r#"{{"version": 1, "exceptions": [{{{fields}}}]}}"#);
        let ok = r#""resources": ["arn:aws:s3:::b"], "reason": "r", "owner": "o", "expires": "2027-06-30""#;
        let cases: Vec<(String, &str, &str)> = vec![
            (
                exception(&format!(r#""accounts": [], {ok}"#)),
                "exceptions[0].accounts",
                "names its accounts",
            ),
            (
                exception(&format!(r#""accounts": ["1111"], {ok}"#)),
                "exceptions[0].accounts[0]",
                "not an account id",
            ),
            (
                exception(
                    r#""accounts": ["111122223333"], "resources": [], "reason": "r", "owner": "o", "expires": "2027-06-30""#,
                ),
                "exceptions[0].resources",
                "names its resources",
            ),
            (
                exception(
                    r#""accounts": ["111122223333"], "resources": ["public-site-*"], "reason": "r", "owner": "o", "expires": "2027-06-30""#,
                ),
                "exceptions[0].resources[0]",
                "not an ARN pattern",
            ),
            (
                exception(&format!(
                    r#""accounts": ["111122223333"], "controls": ["s3-tls"], {ok}"#
                )),
                "exceptions[0].controls[0]",
                "unknown control `s3-tls`",
            ),
            (
                exception(
                    r#""accounts": ["111122223333"], "resources": ["arn:aws:s3:::b"], "reason": " ", "owner": "o", "expires": "2027-06-30""#,
                ),
                "exceptions[0].reason",
                "needs its reason",
            ),
            (
                exception(
                    r#""accounts": ["111122223333"], "resources": ["arn:aws:s3:::b"], "reason": "r", "owner": "", "expires": "2027-06-30""#,
                ),
                "exceptions[0].owner",
                "needs its owner",
            ),
            (
                exception(
                    r#""accounts": ["111122223333"], "resources": ["arn:aws:s3:::b"], "reason": "r", "owner": "o", "expires": "next summer""#,
                ),
                "exceptions[0].expires",
                "`next summer` is not a time",
            ),
            (
                exception(
                    r#""accounts": ["111122223333"], "resources": ["arn:aws:s3:::b"], "reason": "r", "owner": "o", "expires": "2027-02-30""#,
                ),
                "exceptions[0].expires",
                "is not a time",
            ),
            (
                exception(
                    r#""accounts": ["111122223333"], "resources": ["arn:aws:s3:::b"], "reason": "r", "owner": "o""#,
                ),
                "exceptions[0]",
                "missing field `expires`",
            ),
            (
                exception(&format!(
                    r#""accounts": ["111122223333"], "note": "x", {ok}"#
                )),
                "exceptions[0].note",
                "unknown field `note`",
            ),
            (
                r#"{"version": 1, "limits": {"controls": {"x": 3}}}"#.to_owned(),
                "limits.controls.x",
                "unknown control `x`",
            ),
            (
                r#"{"version": 1, "limits": {"controls": {"kms-key-rotation": 0}}}"#.to_owned(),
                "limits.controls.kms-key-rotation",
                "0 is not a limit from 1 to 10000",
            ),
            (
                r#"{"version": 1, "limits": {"writesPerInvocation": 0}}"#.to_owned(),
                "limits.writesPerInvocation",
                "0 is not a limit",
            ),
            (
                r#"{"version": 1, "limits": {"writesPerInvocation": 10001}}"#.to_owned(),
                "limits.writesPerInvocation",
                "10001 is not a limit",
            ),
            (
                r#"{"version": 1, "limits": {"writesPerInvocation": -1}}"#.to_owned(),
                "limits.writesPerInvocation",
                "invalid value",
            ),
            (
                r#"{"version": 1, "approval": {"expiresAfterHours": 0}}"#.to_owned(),
                "approval.expiresAfterHours",
                "0 is not from 1 to 720 hours",
            ),
            (
                r#"{"version": 1, "approval": {"expiresAfterHours": 721}}"#.to_owned(),
                "approval.expiresAfterHours",
                "721 is not from 1 to 720 hours",
            ),
            (
                r#"{"version": 1, "exemptionTag": {"organizationalUnits": ["sandbox"]}}"#
                    .to_owned(),
                "exemptionTag.organizationalUnits[0]",
                "not an organizational unit",
            ),
            (
                r#"{"version": 1, "exemptionTag": {"accounts": ["111122223333", "me"]}}"#
                    .to_owned(),
                "exemptionTag.accounts[1]",
                "`me` is not an account id",
            ),
            (
                r#"{"version": 1, "securityHub": {"updateFindingsNotFixed": "yes"}}"#.to_owned(),
                "securityHub.updateFindingsNotFixed",
                "expected a boolean",
            ),
        ];
        for (text, path, reason) in &cases {
            let e = Policy::parse(text, CONTROLS).unwrap_err();
            assert_eq!(&e.path, path, "{text}: {e}");
            assert!(e.reason.contains(reason), "{text}: {e}");
            assert!(e.to_string().contains(&format!("at `{path}`")), "{e}");
        }
    }

    #[test]
    fn times_are_rfc_3339_or_a_date_at_the_start_of_its_day() {
        assert_eq!(parse_time("2027-06-30"), Some(JUNE_30_2027));
        assert_eq!(parse_time("2027-06-30T00:00:00Z"), Some(JUNE_30_2027));
        assert_eq!(
            parse_time("2027-06-30T10:30:00Z"),
            Some(JUNE_30_2027 + 10 * 3600 + 1800)
        );
        assert_eq!(parse_time(" 2027-06-30 "), Some(JUNE_30_2027), "trimmed");
        assert_eq!(
            parse_time("2027-06-30T00:00:00.500Z"),
            Some(JUNE_30_2027),
            "fractions of a second"
        );
        assert_eq!(parse_time("1970-01-01"), Some(0));
        for not in [
            "",
            "2027",
            "30/06/2027",
            "2027-6-30",
            "2027-06-30T25:00:00Z",
            "soon",
        ] {
            assert_eq!(parse_time(not), None, "{not}");
        }
    }

    #[test]
    fn a_time_with_an_offset_is_the_instant_it_names() {
        // RFC 3339 allows a numeric offset: 12:30 at +02:00 is 10:30 UTC.
        assert_eq!(
            parse_time("2027-06-30T12:30:00+02:00"),
            Some(JUNE_30_2027 + 10 * 3600 + 1800)
        );
    }

    #[test]
    fn a_time_that_is_not_ascii_is_refused_without_a_panic() {
        for text in [
            "2027-06-30T00:00:00\u{20ac}:00",
            "2027-06-30T00:00:00\u{e9}0:00",
            "2027-06-30T00:00:00\u{20ac}:00a",
        ] {
            let read = std::panic::catch_unwind(|| parse_time(text));
            assert!(matches!(read, Ok(None)), "{text}: {read:?}");
            let doc = format!(
                r#"{{"version": 1, "exceptions": [{{"accounts": ["111122223333"],
                    "resources": ["arn:aws:s3:::b"], "reason": "r", "owner": "o",
                    "expires": "{text}"}}]}}"#
            );
            let parsed =
                std::panic::catch_unwind(|| Policy::parse(&doc, CONTROLS).map_err(|e| e.path));
            assert_eq!(
                parsed.ok(),
                Some(Err("exceptions[0].expires".to_owned())),
                "{text}"
            );
        }
    }

    #[test]
    fn an_offset_is_two_digits_of_hours_and_of_minutes() {
        for text in [
            "2027-06-30T12:30:00+-1:00",
            "2027-06-30T12:30:00++1:00",
            "2027-06-30T12:30:00+02:-1",
        ] {
            assert_eq!(parse_time(text), None, "{text}");
        }
        assert_eq!(parse_time("2027-06-30T12:30:00+24:00"), None);
        assert_eq!(
            parse_time("2027-06-30T08:00:00-02:30"),
            Some(JUNE_30_2027 + 10 * 3600 + 1800)
        );
    }

    fn exceptions_policy() -> Policy {
        policy(
            r#"{"version": 1, "exceptions": [
                {"accounts": ["111122223333"], "resources": ["arn:aws:s3:::site-*"],
                 "controls": ["s3-bucket-tls-only"], "reason": "old", "owner": "a",
                 "expires": "2020-01-01"},
                {"accounts": ["111122223333"], "resources": ["arn:aws:s3:::site-?"],
                 "reason": "reviewed", "owner": "b", "expires": "2027-06-30"}
            ]}"#,
        )
    }

    #[test]
    fn an_active_exception_is_found_before_an_expired_one() {
        let p = exceptions_policy();
        let before = JUNE_30_2027 - 1;
        let (i, e, expired) = p
            .exception(
                "s3-bucket-tls-only",
                "111122223333",
                "arn:aws:s3:::site-a",
                before,
            )
            .unwrap();
        assert_eq!((i, e.owner.as_str(), expired), (1, "b", false));
        // Only the expired one names this resource: reported as expired.
        let (i, e, expired) = p
            .exception(
                "s3-bucket-tls-only",
                "111122223333",
                "arn:aws:s3:::site-ab",
                before,
            )
            .unwrap();
        assert_eq!((i, e.reason.as_str(), expired), (0, "old", true));
        // From its expiry on, the second no longer applies either.
        let (i, _, expired) = p
            .exception(
                "s3-bucket-tls-only",
                "111122223333",
                "arn:aws:s3:::site-a",
                JUNE_30_2027,
            )
            .unwrap();
        assert_eq!((i, expired), (0, true));
        assert!(p.exceptions[1].expired(JUNE_30_2027));
        assert!(!p.exceptions[1].expired(JUNE_30_2027 - 1));
    }

    #[test]
    fn an_exception_covers_only_its_accounts_resources_and_controls() {
        let p = exceptions_policy();
        let now = JUNE_30_2027 - 1;
        // The second names no control: every control.
        assert_eq!(
            p.exception(
                "kms-key-rotation",
                "111122223333",
                "arn:aws:s3:::site-a",
                now
            )
            .map(|(i, _, expired)| (i, expired)),
            Some((1, false))
        );
        // The first names a control: not another.
        assert!(p
            .exception(
                "kms-key-rotation",
                "111122223333",
                "arn:aws:s3:::site-ab",
                now
            )
            .is_none());
        // The same bucket name in another account.
        assert!(p
            .exception(
                "s3-bucket-tls-only",
                "444455556666",
                "arn:aws:s3:::site-a",
                now
            )
            .is_none());
        // A name its patterns do not match.
        assert!(p
            .exception(
                "s3-bucket-tls-only",
                "111122223333",
                "arn:aws:s3:::other",
                now
            )
            .is_none());
        assert!(p.exceptions[1].covers("kms-key-rotation", "111122223333", "arn:aws:s3:::site-z"));
        assert!(!p.exceptions[1].covers("kms-key-rotation", "111122223333", "arn:aws:s3:::site-"));
    }

    #[test]
    fn the_exemption_tag_is_honoured_where_the_document_says_else_in_the_own_account() {
        let none = policy(r#"{"version": 1}"#);
        assert!(none.honours_exemption_tag("111122223333", &[], true));
        assert!(!none.honours_exemption_tag("444455556666", &[], false));
        let scoped = policy(&format!(
            r#"{{"version": 1, "exemptionTag": {{"accounts": ["444455556666"],
                "organizationalUnits": ["{SANDBOX}"]}}}}"#
        ));
        let ous = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(scoped.honours_exemption_tag("444455556666", &[], false));
        assert!(scoped.honours_exemption_tag("777788889999", &ous(&[SANDBOX, ROOT]), false));
        assert!(!scoped.honours_exemption_tag("777788889999", &ous(&[PROD, ROOT]), false));
        // Once the document says where, the function's own account is one place like any other.
        assert!(!scoped.honours_exemption_tag("111122223333", &ous(&[PROD, ROOT]), true));
        let nowhere = policy(r#"{"version": 1, "exemptionTag": {}}"#);
        assert!(!nowhere.honours_exemption_tag("111122223333", &[], true));
    }

    #[test]
    fn what_a_document_needs_read_is_known_from_it() {
        let p = policy(r#"{"version": 1, "rules": [{"mode": "off", "tags": {"k": "v"}}]}"#);
        assert!(p.reads_tags());
        assert!(!p.names_organizational_units());
        let p = policy(&format!(
            r#"{{"version": 1, "rules": [{{"mode": "off", "organizationalUnits": ["{ROOT}"]}}]}}"#
        ));
        assert!(!p.reads_tags());
        assert!(p.names_organizational_units());
    }
}
