//! What `remediate` prints: one row per resource (control, resource, before, outcome, after), as a
//! table or JSON, and whether findings remain.

use serde::Serialize;

use remediation::{Outcome, OutcomeRecord};

/// One resource, before and after.
#[derive(Debug, Serialize)]
pub struct Row {
    pub control: &'static str,
    pub resource: String,
    pub account: String,
    pub region: String,
    /// What the scan found: `compliant`, `non-compliant`, `exempt`, `not applicable`, ...
    pub before: &'static str,
    /// The fix's outcome (`fix` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// The mode the remediation policy chose for the fix (`fix` only, when a fix was due).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<remediation::policy::Mode>,
    /// The state now.
    pub after: &'static str,
    pub detail: String,
    /// Still needs fixing.
    pub open: bool,
}

fn state(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Compliant | Outcome::Remediated => "compliant",
        Outcome::WouldRemediate | Outcome::Failed => "non-compliant",
        Outcome::Deferred => "non-compliant (busy)",
        Outcome::Exempt => "exempt",
        Outcome::NotApplicable => "not applicable",
        Outcome::Gone => "gone",
        Outcome::Pending => "non-compliant (awaiting approval)",
        Outcome::Off => "off by policy",
    }
}

fn is_open(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::WouldRemediate | Outcome::Failed | Outcome::Deferred | Outcome::Pending
    )
}

/// Resources the scan found to fix.
pub fn findings(scan: &[OutcomeRecord]) -> usize {
    scan.iter().filter(|r| is_open(r.outcome)).count()
}

/// Join the scan with the fix (if any) by control and resource.
pub fn rows(scan: &[OutcomeRecord], fixed: Option<&[OutcomeRecord]>) -> Vec<Row> {
    scan.iter()
        .map(|s| {
            let fix = fixed.and_then(|f| {
                f.iter().find(|r| {
                    r.control == s.control
                        && r.resource == s.resource
                        && r.account == s.account
                        && r.region == s.region
                })
            });
            match fix {
                Some(f) => Row {
                    control: s.control,
                    resource: s.resource.clone(),
                    account: s.account.clone(),
                    region: s.region.clone(),
                    before: state(s.outcome),
                    outcome: Some(f.outcome),
                    mode: f.mode,
                    after: state(f.outcome),
                    detail: f.detail.clone(),
                    open: is_open(f.outcome),
                },
                None => Row {
                    control: s.control,
                    resource: s.resource.clone(),
                    account: s.account.clone(),
                    region: s.region.clone(),
                    before: state(s.outcome),
                    outcome: None,
                    mode: None,
                    after: state(s.outcome),
                    detail: s.detail.clone(),
                    open: is_open(s.outcome),
                },
            }
        })
        .collect()
}

/// A plain-text table.
pub fn table(rows: &[Row]) -> String {
    let header = [
        "RESOURCE", "CONTROL", "BEFORE", "OUTCOME", "AFTER", "DETAIL",
    ];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.resource.clone(),
                r.control.to_owned(),
                r.before.to_owned(),
                r.outcome
                    .map(|o| o.to_string())
                    .unwrap_or_else(|| "-".to_owned()),
                r.after.to_owned(),
                r.detail.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |row: [&str; 6]| {
        let mut out = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i == 5 {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header);
    for row in &cells {
        out.push_str(&line([
            &row[0], &row[1], &row[2], &row[3], &row[4], &row[5],
        ]));
    }
    out
}

/// One closing line per account and region: how many resources, how many still open.
pub fn summary(rows: &[Row]) -> String {
    let mut places: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.account.as_str(), r.region.as_str()))
        .collect();
    places.sort_unstable();
    places.dedup();
    places
        .into_iter()
        .map(|(account, region)| {
            let here: Vec<&Row> = rows
                .iter()
                .filter(|r| r.account == account && r.region == region)
                .collect();
            let open = here.iter().filter(|r| r.open).count();
            format!(
                "{} resources in {account}/{region}: {open} with findings, {} without\n",
                here.len(),
                here.len() - open
            )
        })
        .collect()
}
