//! A direct invocation, or AWS Config's remediation through SSM Automation
//! (`aws:invokeLambdaFunction`): `{"resourceId", "resourceType"?, "control"?, "action"?, "dryRun"?,
//! "accountId"?, "region"?}` (the last two say where the resource is, for a hub acting in many
//! accounts and regions; a bare bucket name names neither).
//! Unknown keys are refused, so a typo such as `dryrun` cannot turn into a live write.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirectPayload {
    pub resource_id: String,
    /// The CloudFormation type, when the identifier alone is ambiguous.
    #[serde(default)]
    pub resource_type: Option<String>,
    /// The control id, when several controls of the function handle the type.
    #[serde(default)]
    pub control: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub dry_run: Option<bool>,
    /// The account the resource is in (default: the function's own, or the one in an ARN).
    #[serde(default)]
    pub account_id: Option<String>,
    /// The region the resource is in (default: the function's own, or the one in an ARN).
    #[serde(default)]
    pub region: Option<String>,
    /// Who approves the fix (a control in `approve` mode applies its pending proposal when the
    /// resource is still as proposed). Whoever may invoke the function may approve.
    #[serde(default)]
    pub approved_by: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_keys_only() {
        let p: DirectPayload = crate::event::decode(
            &json!({"resourceId": "b", "control": "c", "dryRun": true}),
            "direct payload",
        )
        .unwrap();
        assert_eq!(p.control.as_deref(), Some("c"));
        assert_eq!(p.dry_run, Some(true));
        let err = crate::event::decode::<DirectPayload>(
            &json!({"resourceId": "b", "dryrun": true}),
            "direct payload",
        )
        .unwrap_err();
        assert!(err.to_string().contains("dryrun"), "{err}");
    }
}
