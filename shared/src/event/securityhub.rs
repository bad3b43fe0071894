//! "Security Hub Findings - Imported": the ASFF findings in an EventBridge event's `detail`.

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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: &str) -> Findings {
        let path = format!("{}/../events/{file}", env!("CARGO_MANIFEST_DIR"));
        let e: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        crate::event::decode(&e["detail"], "findings").unwrap()
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
