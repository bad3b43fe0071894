//! KMS key rotation: automatic rotation on, with a period no longer than the setting; and rotation
//! on demand ("rotate-now") for a key suspected of exposure.
//!
//! Eligible keys: customer-managed, `SYMMETRIC_DEFAULT`, origin `AWS_KMS`, state `Enabled`, not a
//! multi-Region replica (a replica follows its primary). Any other key is `not_applicable`, with the
//! reason, and costs one read.

use aws_sdk_kms::types::{
    KeyManagerType, KeySpec, KeyState, MultiRegionKeyType, OriginType, RotationType,
};
use serde::Serialize;

use crate::aws::{AwsError, AwsErrorKind, IamResource, Operation};
use crate::control::{Control, ControlSpec, Decision, ManagedRule};
use crate::env::{parse_number, Lookup};
use crate::error::{IntakeError, SettingsError};
use crate::event::cloudtrail::CloudTrailRecord;
use crate::resource::{Resource, Scope};

use super::kms_keys::{key_named, key_tags, list_keys, parse_key};
pub use super::kms_keys::{DESCRIBE, LIST, TAGS};

pub const STATUS: Operation = Operation {
    service: "kms",
    api: "GetKeyRotationStatus",
    permission: "kms:GetKeyRotationStatus",
    resource: IamResource::Arn("arn:{partition}:kms:{region}:{account}:key/*"),
    implies: &[],
};
pub const ENABLE: Operation = Operation {
    service: "kms",
    api: "EnableKeyRotation",
    permission: "kms:EnableKeyRotation",
    resource: IamResource::Arn("arn:{partition}:kms:{region}:{account}:key/*"),
    implies: &[],
};
pub const ROTATE: Operation = Operation {
    service: "kms",
    api: "RotateKeyOnDemand",
    permission: "kms:RotateKeyOnDemand",
    resource: IamResource::Arn("arn:{partition}:kms:{region}:{account}:key/*"),
    implies: &[],
};
pub const ROTATIONS: Operation = Operation {
    service: "kms",
    api: "ListKeyRotations",
    permission: "kms:ListKeyRotations",
    resource: IamResource::Arn("arn:{partition}:kms:{region}:{account}:key/*"),
    implies: &[],
};

/// The direct-invoke action that rotates a key now.
pub const ROTATE_NOW: &str = "rotate-now";

pub static SPEC: ControlSpec = ControlSpec {
    id: "kms-key-rotation",
    resource_type: "AWS::KMS::Key",
    asff_type: "AwsKmsKey",
    event_source: "kms.amazonaws.com",
    cloudtrail_events: &["CreateKey", "DisableKeyRotation", "EnableKeyRotation"],
    state_change_events: &[],
    config_rules: &[ManagedRule::periodic(
        "cmk-backing-key-rotation-enabled",
        "CMK_BACKING_KEY_ROTATION_ENABLED",
    )],
    custom_config_rule: None,
    security_hub_controls: &["KMS.4"],
    actions: &["remediate", ROTATE_NOW],
    operations: &[DESCRIBE, STATUS, ENABLE, ROTATE, ROTATIONS, LIST],
    tag_operation: Some(TAGS),
    resource: parse_key,
    cloudtrail_targets: key_cloudtrail_targets,
};

/// `KEY_ROTATION_PERIOD_DAYS`: the longest allowed rotation period, and the one set when fixing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPeriod(pub i32);

impl RotationPeriod {
    pub const DEFAULT: i32 = 365;

    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, SettingsError> {
        let days = parse_number(
            env,
            "KEY_ROTATION_PERIOD_DAYS",
            90..=2560,
            Self::DEFAULT as u32,
        )?;
        Ok(Self(days as i32))
    }
}

/// A key as inspected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct KeyRotation {
    pub key_id: String,
    pub arn: String,
    pub key_manager: String,
    pub key_spec: String,
    pub origin: String,
    pub key_state: String,
    pub replica: bool,
    /// Only read for eligible keys.
    pub rotation_enabled: Option<bool>,
    pub rotation_period_days: Option<i32>,
    pub on_demand_rotation_started: Option<String>,
    /// On-demand rotations so far (read for "rotate-now" only).
    pub on_demand_rotations: Option<usize>,
}

impl KeyRotation {
    /// Why AWS does not rotate this key, if it does not.
    pub fn ineligible(&self) -> Option<String> {
        if self.key_manager != KeyManagerType::Customer.as_str() {
            Some(format!(
                "{}-managed key: AWS rotates it",
                self.key_manager.to_ascii_lowercase()
            ))
        } else if self.key_spec != KeySpec::SymmetricDefault.as_str() {
            Some(format!(
                "{} key: automatic rotation applies to SYMMETRIC_DEFAULT keys only",
                self.key_spec
            ))
        } else if self.origin != OriginType::AwsKms.as_str() {
            Some(format!(
                "key material origin {}: only AWS_KMS keys rotate",
                self.origin
            ))
        } else if self.key_state != KeyState::Enabled.as_str() {
            Some(format!(
                "key state {}: only Enabled keys rotate",
                self.key_state
            ))
        } else if self.replica {
            Some("multi-Region replica: rotation follows its primary key".to_owned())
        } else {
            None
        }
    }
}

/// What a fix writes, to the key id inspection found (writes take no alias).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationPlan {
    Enable {
        key_id: String,
        period: i32,
    },
    RotateNow {
        key_id: String,
        rotations_before: usize,
    },
}

/// The control.
pub struct KeyRotationControl {
    kms: aws_sdk_kms::Client,
    period: RotationPeriod,
}

impl KeyRotationControl {
    pub fn new(kms: aws_sdk_kms::Client, period: RotationPeriod) -> Self {
        Self { kms, period }
    }

    /// Add the rotation settings (and, for "rotate-now", the on-demand rotations so far).
    async fn read_rotation(
        &self,
        mut state: KeyRotation,
        action: &str,
    ) -> Result<KeyRotation, AwsError> {
        let status = self
            .kms
            .get_key_rotation_status()
            .key_id(&state.key_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(STATUS.permission, e))?;
        state.rotation_enabled = Some(status.key_rotation_enabled());
        state.rotation_period_days = status.rotation_period_in_days();
        state.on_demand_rotation_started = status
            .on_demand_rotation_start_date()
            .map(|d| d.to_string());
        if action == ROTATE_NOW {
            state.on_demand_rotations = Some(self.on_demand_rotations(&state.key_id).await?);
        }
        Ok(state)
    }

    async fn on_demand_rotations(&self, key_id: &str) -> Result<usize, AwsError> {
        let mut pages = self
            .kms
            .list_key_rotations()
            .key_id(key_id)
            .into_paginator()
            .send();
        let mut count = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(ROTATIONS.permission, e))?;
            count += page
                .rotations()
                .iter()
                .filter(|r| r.rotation_type() == Some(&RotationType::OnDemand))
                .count();
        }
        Ok(count)
    }
}

/// Resource identifiers a CloudTrail record of the spec names.
fn key_cloudtrail_targets(
    record: &CloudTrailRecord,
    _: &Scope,
) -> Result<Vec<String>, IntakeError> {
    let id = if record.event_name == "CreateKey" {
        record
            .response_str(&["keyMetadata", "arn"])
            .or_else(|_| record.response_str(&["keyMetadata", "keyId"]))?
    } else {
        record.request_str(&["keyId"])?
    };
    Ok(vec![id.to_owned()])
}

impl Control for KeyRotationControl {
    type State = KeyRotation;
    type Plan = RotationPlan;

    fn spec(&self) -> &'static ControlSpec {
        &SPEC
    }

    /// A key id, key ARN, alias name (`alias/…`) or alias ARN.
    async fn list(&self, _: &Scope) -> Result<Vec<Resource>, AwsError> {
        list_keys(&self.kms).await
    }

    async fn inspect(
        &self,
        key: &Resource,
        action: &str,
        _: &Scope,
    ) -> Result<Option<KeyRotation>, AwsError> {
        let described = self
            .kms
            .describe_key()
            .key_id(&key.id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(DESCRIBE.permission, e))?;
        let Some(meta) = described.key_metadata() else {
            return Err(AwsError::new(
                AwsErrorKind::Other,
                DESCRIBE.permission,
                "no key metadata",
            ));
        };
        let text = |s: Option<&str>| s.unwrap_or("UNKNOWN").to_owned();
        let state = KeyRotation {
            key_id: meta.key_id().to_owned(),
            arn: meta
                .arn()
                .map(str::to_owned)
                .unwrap_or_else(|| key.arn.clone()),
            key_manager: text(meta.key_manager().map(|m| m.as_str())),
            key_spec: text(meta.key_spec().map(|s| s.as_str())),
            origin: text(meta.origin().map(|o| o.as_str())),
            key_state: text(meta.key_state().map(|s| s.as_str())),
            replica: meta
                .multi_region_configuration()
                .and_then(|c| c.multi_region_key_type())
                == Some(&MultiRegionKeyType::Replica),
            ..KeyRotation::default()
        };
        // A key being deleted is PendingDeletion, not missing: AWS keeps it readable.
        if state.ineligible().is_some() {
            return Ok(Some(state));
        }
        self.read_rotation(state, action).await.map(Some)
    }

    /// After a rotation write only the rotation settings can have changed: read just those.
    async fn reinspect(
        &self,
        _: &Resource,
        before: &KeyRotation,
        action: &str,
        _: &Scope,
    ) -> Result<Option<KeyRotation>, AwsError> {
        self.read_rotation(before.clone(), action).await.map(Some)
    }

    async fn tags(
        &self,
        _: &Resource,
        state: &KeyRotation,
    ) -> Result<Option<Vec<(String, String)>>, AwsError> {
        key_tags(&self.kms, &state.key_id).await
    }

    fn canonical(&self, key: &Resource, state: &KeyRotation) -> Option<Resource> {
        (key.arn != state.arn).then(|| key_named(state.arn.clone(), &state.key_id))
    }

    fn decide(&self, state: &KeyRotation, action: &str) -> Decision<RotationPlan> {
        if let Some(reason) = state.ineligible() {
            return Decision::NotApplicable(reason);
        }
        let limit = self.period.0;
        if action == ROTATE_NOW {
            return match &state.on_demand_rotation_started {
                Some(since) => Decision::Compliant(format!(
                    "an on-demand rotation is in progress since {since}"
                )),
                None => Decision::Remediate {
                    plan: RotationPlan::RotateNow {
                        key_id: state.key_id.clone(),
                        rotations_before: state.on_demand_rotations.unwrap_or(0),
                    },
                    actions: vec![ROTATE.api],
                    reason: "rotation on demand requested".to_owned(),
                },
            };
        }
        // AWS reports the period of every rotating key; an older answer without one means 365.
        let period = state
            .rotation_period_days
            .unwrap_or(RotationPeriod::DEFAULT);
        match state.rotation_enabled {
            Some(true) if period <= limit => Decision::Compliant(format!(
                "automatic rotation every {period} days (limit {limit})"
            )),
            enabled => Decision::Remediate {
                plan: RotationPlan::Enable {
                    key_id: state.key_id.clone(),
                    period: limit,
                },
                actions: vec![ENABLE.api],
                reason: if enabled == Some(true) {
                    format!("rotation period {period} days exceeds {limit}")
                } else {
                    "automatic rotation disabled".to_owned()
                },
            },
        }
    }

    async fn apply(&self, _: &Resource, plan: &RotationPlan, _: &Scope) -> Result<(), AwsError> {
        match plan {
            RotationPlan::Enable { key_id, period } => {
                self.kms
                    .enable_key_rotation()
                    .key_id(key_id)
                    .rotation_period_in_days(*period)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(ENABLE.permission, e))?;
            }
            RotationPlan::RotateNow { key_id, .. } => {
                self.kms
                    .rotate_key_on_demand()
                    .key_id(key_id)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(ROTATE.permission, e))?;
            }
        }
        Ok(())
    }

    fn verify(&self, plan: &RotationPlan, after: &KeyRotation) -> Result<(), String> {
        match plan {
            RotationPlan::Enable { period, .. } => match (after.rotation_enabled, after.rotation_period_days) {
                (Some(true), Some(p)) if p == *period => Ok(()),
                (enabled, p) => Err(format!(
                    "rotation enabled={enabled:?} period={p:?}, expected enabled every {period} days"
                )),
            },
            RotationPlan::RotateNow { rotations_before, .. } => {
                let now = after.on_demand_rotations.unwrap_or(0);
                if after.on_demand_rotation_started.is_some() || now > *rotations_before {
                    Ok(())
                } else {
                    Err(format!("no new on-demand rotation ({now} before and after)"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eligible() -> KeyRotation {
        KeyRotation {
            key_id: "k".into(),
            arn: "arn:aws:kms:us-east-1:123456789012:key/k".into(),
            key_manager: "CUSTOMER".into(),
            key_spec: "SYMMETRIC_DEFAULT".into(),
            origin: "AWS_KMS".into(),
            key_state: "Enabled".into(),
            rotation_enabled: Some(false),
            ..KeyRotation::default()
        }
    }

    #[test]
    fn eligibility() {
        assert_eq!(eligible().ineligible(), None);
        for (k, expected) in [
            (
                KeyRotation {
                    key_manager: "AWS".into(),
                    ..eligible()
                },
                "aws-managed key",
            ),
            (
                KeyRotation {
                    key_spec: "RSA_2048".into(),
                    ..eligible()
                },
                "RSA_2048 key",
            ),
            (
                KeyRotation {
                    key_spec: "HMAC_256".into(),
                    ..eligible()
                },
                "HMAC_256 key",
            ),
            (
                KeyRotation {
                    origin: "EXTERNAL".into(),
                    ..eligible()
                },
                "origin EXTERNAL",
            ),
            (
                KeyRotation {
                    key_state: "PendingDeletion".into(),
                    ..eligible()
                },
                "PendingDeletion",
            ),
            (
                KeyRotation {
                    replica: true,
                    ..eligible()
                },
                "replica",
            ),
        ] {
            assert!(
                k.ineligible().unwrap_or_default().contains(expected),
                "{k:?}"
            );
        }
    }

    #[test]
    fn settings_bound_the_period() {
        let env = |v: &'static str| {
            move |k: &str| (k == "KEY_ROTATION_PERIOD_DAYS").then(|| v.to_owned())
        };
        assert_eq!(
            RotationPeriod::from_lookup(&env("90")).unwrap(),
            RotationPeriod(90)
        );
        assert!(RotationPeriod::from_lookup(&env("89")).is_err());
        assert!(RotationPeriod::from_lookup(&env("2561")).is_err());
        assert_eq!(
            RotationPeriod::from_lookup(&|_: &str| None).unwrap(),
            RotationPeriod(365)
        );
    }
}
