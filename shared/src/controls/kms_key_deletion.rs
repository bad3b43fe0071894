//! KMS key deletion guard: a key protected by `PROTECTED_KEYS` (key ARNs, aliases, alias patterns
//! such as `alias/ai-*`) that is scheduled for deletion gets its deletion cancelled and is enabled
//! again (KMS leaves a cancelled key `Disabled`); one that is disabled is enabled again. Both are
//! how the data a key encrypts — training data, models — is destroyed or made unreadable quietly.
//!
//! Unprotected keys are `not_applicable` (logged): users who delete keys on purpose are never
//! surprised, and `PROTECTED_KEYS` is empty by default. An enabled key costs one read; the aliases
//! are read only for a key about to be judged, and only when a protection names aliases.

use aws_sdk_kms::types::{KeyManagerType, KeyState};
use serde::Serialize;
use wildmatch::WildMatch;

use crate::aws::{AwsError, AwsErrorKind, IamResource, Operation};
use crate::control::{Control, ControlSpec, Decision, ManagedRule};
use crate::env::{optional, Lookup};
use crate::error::SettingsError;
use crate::resource::{Arn, Resource, Scope};

use super::kms_keys::{
    key_named, key_tags, list_keys, parse_key, requested_key, valid_alias, KEY_TYPE,
};
pub use super::kms_keys::{DESCRIBE, LIST, TAGS};

pub const ALIASES: Operation = Operation {
    service: "kms",
    api: "ListAliases",
    permission: "kms:ListAliases",
    resource: IamResource::None,
    implies: &[],
};
pub const CANCEL: Operation = Operation {
    service: "kms",
    api: "CancelKeyDeletion",
    permission: "kms:CancelKeyDeletion",
    resource: IamResource::Arn("arn:{partition}:kms:{region}:{account}:key/*"),
    implies: &[],
};
pub const ENABLE_KEY: Operation = Operation {
    service: "kms",
    api: "EnableKey",
    permission: "kms:EnableKey",
    resource: IamResource::Arn("arn:{partition}:kms:{region}:{account}:key/*"),
    implies: &[],
};

pub static SPEC: ControlSpec = ControlSpec {
    id: "kms-key-deletion-guard",
    resource_type: KEY_TYPE,
    asff_type: "AwsKmsKey",
    event_source: "kms.amazonaws.com",
    cloudtrail_events: &["ScheduleKeyDeletion", "DisableKey"],
    state_change_events: &[],
    config_rules: &[ManagedRule::periodic(
        "kms-cmk-not-scheduled-for-deletion",
        "KMS_CMK_NOT_SCHEDULED_FOR_DELETION",
    )],
    custom_config_rule: None,
    security_hub_controls: &["KMS.3"],
    actions: &["remediate"],
    operations: &[DESCRIBE, ALIASES, CANCEL, ENABLE_KEY, LIST],
    tag_operation: Some(TAGS),
    resource: parse_key,
    cloudtrail_targets: requested_key,
};

/// `PROTECTED_KEYS`: the keys that must stay enabled and may not be deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtectedKeys {
    /// Key ARNs (with `*` globs).
    arns: Vec<String>,
    /// Alias names (with `*` globs), e.g. `alias/ai-*`.
    aliases: Vec<String>,
}

impl ProtectedKeys {
    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, SettingsError> {
        let mut keys = Self::default();
        let Some(value) = optional(env, "PROTECTED_KEYS") else {
            return Ok(keys);
        };
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let arn = Arn::parse(entry);
            if arn.as_ref().is_some_and(|a| {
                a.service == "kms"
                    && (a.resource.starts_with("key/") || a.resource.starts_with("alias/"))
            }) {
                match arn.map(|a| a.resource) {
                    Some(r) if r.starts_with("alias/") => keys.aliases.push(r.to_owned()),
                    _ => keys.arns.push(entry.to_owned()),
                }
            } else if valid_alias(&entry.replace('*', "x")) {
                keys.aliases.push(entry.to_owned());
            } else {
                return Err(SettingsError::new(
                    "PROTECTED_KEYS",
                    entry,
                    "expected key ARNs, alias names or alias patterns (`alias/ai-*`), comma-separated",
                ));
            }
        }
        Ok(keys)
    }

    pub fn is_empty(&self) -> bool {
        self.arns.is_empty() && self.aliases.is_empty()
    }

    /// The entry protecting the key with this ARN and these aliases, if any.
    pub fn protecting(&self, arn: &str, aliases: &[String]) -> Option<String> {
        self.arns
            .iter()
            .find(|p| WildMatch::new(p).matches(arn))
            .or_else(|| {
                self.aliases
                    .iter()
                    .find(|p| aliases.iter().any(|a| WildMatch::new(p).matches(a)))
            })
            .cloned()
    }
}

/// A key as the guard sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct KeyGuardState {
    pub key_id: String,
    pub arn: String,
    pub key_manager: String,
    pub key_state: String,
    pub deletion_date: Option<String>,
    /// Read only for a key that is not enabled, when a protection names aliases.
    pub aliases: Vec<String>,
    /// The `PROTECTED_KEYS` entry that protects it (judged only for a key that is not enabled).
    pub protected_by: Option<String>,
}

/// What a fix writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restore {
    pub key_id: String,
    /// Scheduled for deletion: cancel first.
    pub cancel: bool,
}

/// The control.
pub struct KeyDeletionGuard {
    kms: aws_sdk_kms::Client,
    protected: ProtectedKeys,
}

impl KeyDeletionGuard {
    pub fn new(kms: aws_sdk_kms::Client, protected: ProtectedKeys) -> Self {
        Self { kms, protected }
    }

    async fn aliases(&self, key_id: &str) -> Result<Vec<String>, AwsError> {
        let mut pages = self
            .kms
            .list_aliases()
            .key_id(key_id)
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(ALIASES.permission, e))?;
            names.extend(
                page.aliases()
                    .iter()
                    .filter_map(|a| a.alias_name().map(str::to_owned)),
            );
        }
        Ok(names)
    }
}

impl Control for KeyDeletionGuard {
    type State = KeyGuardState;
    type Plan = Restore;

    fn spec(&self) -> &'static ControlSpec {
        &SPEC
    }

    async fn list(&self, _: &Scope) -> Result<Vec<Resource>, AwsError> {
        if self.protected.is_empty() {
            return Ok(Vec::new()); // nothing is protected: nothing to sweep, no call
        }
        list_keys(&self.kms).await
    }

    async fn inspect(
        &self,
        key: &Resource,
        _: &str,
        _: &Scope,
    ) -> Result<Option<KeyGuardState>, AwsError> {
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
        let mut state = KeyGuardState {
            key_id: meta.key_id().to_owned(),
            arn: meta
                .arn()
                .map(str::to_owned)
                .unwrap_or_else(|| key.arn.clone()),
            key_manager: meta
                .key_manager()
                .map(|m| m.as_str().to_owned())
                .unwrap_or_default(),
            key_state: meta
                .key_state()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            deletion_date: meta.deletion_date().map(|d| d.to_string()),
            ..KeyGuardState::default()
        };
        let judged = state.key_manager == KeyManagerType::Customer.as_str()
            && state.key_state != KeyState::Enabled.as_str();
        if judged {
            if self.protected.protecting(&state.arn, &[]).is_none()
                && !self.protected.aliases.is_empty()
            {
                state.aliases = self.aliases(&state.key_id).await?;
            }
            state.protected_by = self.protected.protecting(&state.arn, &state.aliases);
        }
        Ok(Some(state))
    }

    async fn tags(
        &self,
        _: &Resource,
        state: &KeyGuardState,
    ) -> Result<Option<Vec<(String, String)>>, AwsError> {
        key_tags(&self.kms, &state.key_id).await
    }

    fn canonical(&self, key: &Resource, state: &KeyGuardState) -> Option<Resource> {
        (key.arn != state.arn).then(|| key_named(state.arn.clone(), &state.key_id))
    }

    fn decide(&self, state: &KeyGuardState, _: &str) -> Decision<Restore> {
        if state.key_manager != KeyManagerType::Customer.as_str() {
            return Decision::NotApplicable(format!(
                "{}-managed key: AWS manages its lifecycle",
                state.key_manager.to_ascii_lowercase()
            ));
        }
        // A multi-Region primary key scheduled for deletion while it still has replicas waits in
        // `PendingReplicaDeletion` (unusable, indefinitely); KMS cancels its deletion like any other
        // (KMS developer guide, "Deleting multi-Region keys" and the key state table).
        let replica_wait = state.key_state == KeyState::PendingReplicaDeletion.as_str();
        let pending = replica_wait || state.key_state == KeyState::PendingDeletion.as_str();
        let disabled = state.key_state == KeyState::Disabled.as_str();
        if state.key_state == KeyState::Enabled.as_str() {
            return Decision::Compliant("enabled, not scheduled for deletion".to_owned());
        }
        if !(pending || disabled) {
            return Decision::NotApplicable(format!(
                "key state {}: the guard restores PendingDeletion, PendingReplicaDeletion and \
                 Disabled keys only",
                state.key_state
            ));
        }
        let Some(protection) = &state.protected_by else {
            return Decision::NotApplicable(format!(
                "{} but not protected by PROTECTED_KEYS: left alone",
                state.key_state
            ));
        };
        let (actions, reason) = if pending {
            (
                vec![CANCEL.api, ENABLE_KEY.api],
                if replica_wait {
                    format!(
                        "multi-Region primary key scheduled for deletion (PendingReplicaDeletion: \
                         unusable now, deleted once its replica keys are) although protected by \
                         {protection}"
                    )
                } else {
                    format!(
                        "scheduled for deletion{} although protected by {protection}",
                        state
                            .deletion_date
                            .as_deref()
                            .map(|d| format!(" on {d}"))
                            .unwrap_or_default()
                    )
                },
            )
        } else {
            (
                vec![ENABLE_KEY.api],
                format!("disabled although protected by {protection}"),
            )
        };
        Decision::Remediate {
            plan: Restore {
                key_id: state.key_id.clone(),
                cancel: pending,
            },
            actions,
            reason,
        }
    }

    async fn apply(&self, _: &Resource, plan: &Restore, _: &Scope) -> Result<(), AwsError> {
        if plan.cancel {
            self.kms
                .cancel_key_deletion()
                .key_id(&plan.key_id)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(CANCEL.permission, e))?;
        }
        // A cancelled key comes back Disabled (KMS developer guide, "Scheduling and canceling key
        // deletion"): enable it, as a protected key must be.
        self.kms
            .enable_key()
            .key_id(&plan.key_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(ENABLE_KEY.permission, e))?;
        Ok(())
    }

    fn verify(&self, _: &Restore, after: &KeyGuardState) -> Result<(), String> {
        if after.key_state == KeyState::Enabled.as_str() {
            Ok(())
        } else {
            Err(format!("key state {}, expected Enabled", after.key_state))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protected(v: &str) -> Result<ProtectedKeys, SettingsError> {
        let v = v.to_owned();
        ProtectedKeys::from_lookup(&move |k: &str| (k == "PROTECTED_KEYS").then(|| v.clone()))
    }

    fn key(state: &str, protected_by: Option<&str>) -> KeyGuardState {
        KeyGuardState {
            key_id: "k".into(),
            arn: "arn:aws:kms:us-east-1:123456789012:key/k".into(),
            key_manager: "CUSTOMER".into(),
            key_state: state.into(),
            protected_by: protected_by.map(str::to_owned),
            ..KeyGuardState::default()
        }
    }

    #[test]
    fn protection_by_arn_alias_or_alias_pattern() {
        let p = protected(
            "arn:aws:kms:us-east-1:123456789012:key/k1, alias/ai-*, arn:aws:kms:us-east-1:123456789012:alias/models",
        )
        .unwrap();
        let arn = |k: &str| format!("arn:aws:kms:us-east-1:123456789012:key/{k}");
        assert!(p.protecting(&arn("k1"), &[]).is_some());
        assert!(p
            .protecting(&arn("k2"), &["alias/ai-training".into()])
            .is_some());
        assert!(p.protecting(&arn("k2"), &["alias/models".into()]).is_some());
        assert_eq!(p.protecting(&arn("k2"), &["alias/other".into()]), None);
        assert!(protected("").unwrap().is_empty());
        for bad in ["k1", "arn:aws:s3:::b", "alias/aws/s3"] {
            assert!(protected(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decisions() {
        let g = KeyDeletionGuard {
            kms: aws_sdk_kms::Client::from_conf(
                aws_sdk_kms::Config::builder()
                    .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
                    .build(),
            ),
            protected: ProtectedKeys::default(),
        };
        assert!(matches!(
            g.decide(&key("Enabled", None), "remediate"),
            Decision::Compliant(_)
        ));
        assert!(matches!(
            g.decide(&key("PendingDeletion", None), "remediate"),
            Decision::NotApplicable(_)
        ));
        match g.decide(&key("PendingDeletion", Some("alias/ai-*")), "remediate") {
            Decision::Remediate { plan, actions, .. } => {
                assert!(plan.cancel);
                assert_eq!(actions, vec!["CancelKeyDeletion", "EnableKey"]);
            }
            other => panic!("{other:?}"),
        }
        match g.decide(&key("Disabled", Some("alias/ai-*")), "remediate") {
            Decision::Remediate { plan, actions, .. } => {
                assert!(!plan.cancel);
                assert_eq!(actions, vec!["EnableKey"]);
            }
            other => panic!("{other:?}"),
        }
        let aws_key = KeyGuardState {
            key_manager: "AWS".into(),
            ..key("PendingDeletion", Some("x"))
        };
        assert!(matches!(
            g.decide(&aws_key, "remediate"),
            Decision::NotApplicable(_)
        ));
        match g.decide(
            &key("PendingReplicaDeletion", Some("alias/ai-*")),
            "remediate",
        ) {
            Decision::Remediate {
                plan,
                actions,
                reason,
            } => {
                assert!(plan.cancel);
                assert_eq!(actions, vec!["CancelKeyDeletion", "EnableKey"]);
                assert!(reason.contains("replica"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            g.decide(&key("PendingReplicaDeletion", None), "remediate"),
            Decision::NotApplicable(_)
        ));
        assert!(matches!(
            g.decide(&key("PendingImport", Some("x")), "remediate"),
            Decision::NotApplicable(_)
        ));
    }
}
