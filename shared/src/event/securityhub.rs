//! Security Hub findings in an EventBridge event's `detail`: ASFF ("Security Hub Findings -
//! Imported", Security Hub CSPM) and OCSF ("Findings Imported V2", the new Security Hub; field
//! names from AWS's "OCSF findings in Security Hub" and the `OcsfFindingIdentifier` API reference).

use serde::Deserialize;
use serde_json::Value;

/// `detail`: the findings.
#[derive(Debug, Clone, Deserialize)]
pub struct Findings {
    pub findings: Vec<Finding>,
}

/// One ASFF finding: what remediation reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Finding {
    /// The finding's id and its product's ARN: together, what `BatchUpdateFindings` names.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub product_arn: Option<String>,
    #[serde(default)]
    pub aws_account_id: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub compliance: Option<Compliance>,
    #[serde(default)]
    pub record_state: Option<String>,
    #[serde(default)]
    pub workflow: Option<Workflow>,
    #[serde(default)]
    pub product_fields: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub resources: Vec<AsffResource>,
}

/// `Compliance`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Compliance {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub security_control_id: Option<String>,
}

/// `Workflow`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Workflow {
    #[serde(default)]
    pub status: Option<String>,
}

/// One of `Resources`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffResource {
    #[serde(rename = "Type")]
    pub resource_type: String,
    pub id: String,
    #[serde(default)]
    pub region: Option<String>,
}

impl Finding {
    /// A failed check, still active and not suppressed or resolved by a human.
    pub fn is_open_failure(&self) -> bool {
        let failed = self.compliance.as_ref().and_then(|c| c.status.as_deref()) == Some("FAILED");
        let active = self.record_state.as_deref() == Some("ACTIVE");
        let open = !matches!(
            self.workflow.as_ref().and_then(|w| w.status.as_deref()),
            Some("SUPPRESSED") | Some("RESOLVED")
        );
        failed && active && open
    }

    /// The security control id (`S3.8`), from `Compliance` or, in older findings, `ProductFields`.
    pub fn control_id(&self) -> Option<String> {
        self.compliance
            .as_ref()
            .and_then(|c| c.security_control_id.clone())
            .or_else(|| {
                self.product_fields
                    .as_ref()
                    .and_then(|p| p.get("ControlId"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
    }
}

/// "Findings Imported V2" `detail`: OCSF findings (one per event, AWS documents).
#[derive(Debug, Clone, Deserialize)]
pub struct OcsfFindings {
    pub findings: Vec<OcsfFinding>,
}

/// One OCSF (Compliance) finding: what remediation reads.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct OcsfFinding {
    /// 1 Create, 2 Update, 3 Close.
    #[serde(default)]
    pub activity_id: Option<i64>,
    #[serde(default)]
    pub cloud: Option<OcsfCloud>,
    #[serde(default)]
    pub compliance: Option<OcsfCompliance>,
    #[serde(default)]
    pub finding_info: Option<OcsfUid>,
    #[serde(default)]
    pub metadata: Option<OcsfMetadata>,
    #[serde(default)]
    pub resources: Vec<OcsfResource>,
    /// `New`, `In Progress`, `Suppressed`, `Resolved`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// 1 New, 2 In Progress, 3 Suppressed, 4 Resolved, 5 Archived, 6 Deleted, 99 Other.
    #[serde(default)]
    pub status_id: Option<i64>,
}

/// `cloud`: the account and region the finding is about.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct OcsfCloud {
    #[serde(default)]
    pub account: Option<OcsfUid>,
    #[serde(default)]
    pub region: Option<String>,
}

/// Anything identified by `uid`.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct OcsfUid {
    #[serde(default)]
    pub uid: Option<String>,
}

/// `compliance`: the control and the check's result.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct OcsfCompliance {
    /// The security control id, e.g. `S3.8`.
    #[serde(default)]
    pub control: Option<String>,
    /// `Pass`, `Warning`, `Fail`.
    #[serde(default)]
    pub status: Option<String>,
    /// 1 Pass, 2 Warning, 3 Fail.
    #[serde(default)]
    pub status_id: Option<i64>,
}

/// `metadata`: the product that made the finding.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct OcsfMetadata {
    #[serde(default)]
    pub product: Option<OcsfUid>,
}

/// One of `resources`.
#[derive(Debug, Clone, Deserialize)]
pub struct OcsfResource {
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(rename = "type", default)]
    pub resource_type: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

impl OcsfFinding {
    pub fn account(&self) -> Option<&str> {
        self.cloud
            .as_ref()
            .and_then(|c| c.account.as_ref())
            .and_then(|a| a.uid.as_deref())
    }

    pub fn region(&self) -> Option<&str> {
        self.cloud.as_ref().and_then(|c| c.region.as_deref())
    }

    pub fn control_id(&self) -> Option<&str> {
        self.compliance.as_ref().and_then(|c| c.control.as_deref())
    }

    pub fn status(&self) -> Option<String> {
        self.status.clone().or_else(|| {
            self.status_id.map(|id| {
                match id {
                    1 => "New",
                    2 => "In Progress",
                    3 => "Suppressed",
                    4 => "Resolved",
                    5 => "Archived",
                    6 => "Deleted",
                    _ => "Other",
                }
                .to_owned()
            })
        })
    }

    /// A failed check whose finding is still open: not closed, suppressed, resolved or archived
    /// (a human's or Security Hub's decision, respected).
    pub fn is_open_failure(&self) -> bool {
        let failed = self.compliance.as_ref().is_some_and(|c| {
            c.status_id == Some(3)
                || c.status.as_deref().is_some_and(|s| {
                    s.eq_ignore_ascii_case("fail") || s.eq_ignore_ascii_case("failed")
                })
        });
        let closed = self.activity_id == Some(3)
            || matches!(
                self.status().as_deref(),
                Some("Suppressed" | "Resolved" | "Archived" | "Deleted")
            );
        failed && !closed
    }

    /// (`cloud.account.uid`, `finding_info.uid`, `metadata.product.uid`): what
    /// `BatchUpdateFindingsV2` names a finding by.
    pub fn identifier(&self) -> Option<(String, String, String)> {
        Some((
            self.account()?.to_owned(),
            self.finding_info.as_ref()?.uid.clone()?,
            self.metadata.as_ref()?.product.as_ref()?.uid.clone()?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: &str) -> Findings {
        let path = format!("{}/../events/{file}", env!("CARGO_MANIFEST_DIR"));
        let e: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        crate::event::decode(&e["detail"], "findings").unwrap()
    }

    #[test]
    fn ocsf_open_failures_control_ids_and_identifiers() {
        let path = format!(
            "{}/../events/s3-public-access-block/securityhub-v2-s3-8-failed.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let e: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let f: OcsfFindings = crate::event::decode(&e["detail"], "findings").unwrap();
        let failed = &f.findings[0];
        assert!(failed.is_open_failure());
        assert_eq!(failed.control_id(), Some("S3.8"));
        assert_eq!(failed.account(), Some("123456789012"));
        assert_eq!(failed.region(), Some("us-east-1"));
        let (account, uid, product) = failed.identifier().unwrap();
        assert_eq!(account, "123456789012");
        assert!(uid.contains("S3.8") && product.contains("securityhub"));
        for (field, value) in [("status_id", 4), ("activity_id", 3)] {
            let mut closed = e["detail"]["findings"][0].clone();
            closed[field] = value.into();
            if field == "status_id" {
                closed["status"] = "Resolved".into();
            }
            let closed: OcsfFinding = crate::event::decode(&closed, "finding").unwrap();
            assert!(!closed.is_open_failure(), "{field}");
        }
        let mut passed = e["detail"]["findings"][0].clone();
        passed["compliance"]["status"] = "Pass".into();
        passed["compliance"]["status_id"] = 1.into();
        let passed: OcsfFinding = crate::event::decode(&passed, "finding").unwrap();
        assert!(!passed.is_open_failure());
    }

    #[test]
    fn open_failures_and_control_ids() {
        let failed = &load("s3-public-access-block/securityhub-s3-8-failed.json").findings[0];
        assert!(failed.is_open_failure());
        assert_eq!(failed.control_id().as_deref(), Some("S3.8"));
        let passed = &load("s3-public-access-block/securityhub-s3-8-passed.json").findings[0];
        assert!(!passed.is_open_failure());
        let mut suppressed = failed.clone();
        suppressed.workflow = Some(Workflow {
            status: Some("SUPPRESSED".into()),
        });
        assert!(!suppressed.is_open_failure());
    }
}
