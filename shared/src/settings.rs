//! Settings common to every function, read once at init from the environment and validated:
//! an invalid value stops the function from starting instead of falling back to a default.

use std::time::Duration;

use aws_config::retry::{RetryConfig, RetryMode};

use crate::env::{optional, parse_bool, parse_number, Lookup, ProcessEnv};
use crate::error::SettingsError;
use crate::exemption::Exemptions;

/// The engine's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `DRY_RUN`: report what would change, write nothing.
    pub dry_run: bool,
    /// `EXEMPT_RESOURCES`: ARNs (with `*` globs) never touched.
    pub exemptions: Exemptions,
    /// `SWEEP_CONCURRENCY`: resources handled at once in a sweep or a multi-target event.
    pub concurrency: usize,
    /// `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE`: the SDK's retry policy.
    pub retry: RetryConfig,
    /// `ACCOUNT_ID`: the account, for local runtimes whose invoked function ARN has none (on AWS
    /// the ARN always has it, and wins).
    pub account_id: Option<String>,
    /// `OWN_ROLE_ARN`: the function's execution role; CloudTrail events its own calls cause are
    /// skipped without any AWS call (the loop breaker).
    pub own_role_arn: Option<String>,
    /// `NOTIFY_TOPIC_ARN`: SNS topic told about every remediated, failed or contested resource.
    pub notify_topic_arn: Option<String>,
    /// `CONTESTED_TABLE` and friends: contested-resource tracking (off without a table).
    pub contested: Option<crate::contested::ContestedPolicy>,
    /// `EXEMPT_TAG`: opt-in tag exemption (`key` or `key=value`).
    pub exempt_tag: Option<crate::exemption::ExemptTag>,
    /// `POLICY_PARAMETER`, `POLICY_CACHE_SECONDS`, `APPROVALS_TABLE`: the remediation policy.
    pub governance: crate::governance::GovernanceSettings,
    /// Set by a hub for the engines it builds in member accounts (not from the environment).
    pub in_member_account: bool,
    /// The policy's reader, built once with the first engine and shared by every engine built
    /// from these settings (a hub's in every account and region): one cache, one store.
    pub governor:
        std::sync::Arc<std::sync::OnceLock<std::sync::Arc<crate::governance::Governance>>>,
}

impl Settings {
    pub const DEFAULT_CONCURRENCY: usize = 8;
    /// Throttling is the common failure of remediation at scale: retry it patiently.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(&ProcessEnv)
    }

    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, SettingsError> {
        let dry_run = parse_bool(env, "DRY_RUN", false)?;
        let exemptions = match env.get("EXEMPT_RESOURCES") {
            Some(v) => {
                Exemptions::parse(&v).map_err(|r| SettingsError::new("EXEMPT_RESOURCES", &v, r))?
            }
            None => Exemptions::default(),
        };
        let concurrency = parse_number(
            env,
            "SWEEP_CONCURRENCY",
            1..=64,
            Self::DEFAULT_CONCURRENCY as u32,
        )? as usize;
        let max_attempts =
            parse_number(env, "AWS_MAX_ATTEMPTS", 1..=20, Self::DEFAULT_MAX_ATTEMPTS)?;
        // Standard mode: exponential backoff with jitter on throttling and 5xx. Adaptive mode's
        // client-side rate limiter, measured under 20 % throttling, took 15 times longer to
        // finish a sweep (tests/tests/faults.rs), so it is opt-in.
        let mode = match env.get("AWS_RETRY_MODE").as_deref() {
            None | Some("standard") => RetryMode::Standard,
            Some("adaptive") => RetryMode::Adaptive,
            Some(other) => {
                return Err(SettingsError::new(
                    "AWS_RETRY_MODE",
                    other,
                    "expected `standard` or `adaptive`",
                ))
            }
        };
        let retry = match mode {
            RetryMode::Standard => RetryConfig::standard(),
            _ => RetryConfig::adaptive(),
        }
        .with_max_attempts(max_attempts)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(5));
        let account_id = match optional(env, "ACCOUNT_ID") {
            Some(a) if !crate::resource::is_account_id(&a) => {
                return Err(SettingsError::new(
                    "ACCOUNT_ID",
                    &a,
                    "expected a 12-digit account id",
                ))
            }
            other => other,
        };
        let own_role_arn = match optional(env, "OWN_ROLE_ARN") {
            Some(r) if crate::resource::role_of(&r).is_none() => {
                return Err(SettingsError::new(
                    "OWN_ROLE_ARN",
                    &r,
                    "expected an IAM role ARN",
                ))
            }
            other => other,
        };
        let notify_topic_arn = match optional(env, "NOTIFY_TOPIC_ARN") {
            Some(t) if crate::resource::Arn::parse(&t).is_none_or(|a| a.service != "sns") => {
                return Err(SettingsError::new(
                    "NOTIFY_TOPIC_ARN",
                    &t,
                    "expected an SNS topic ARN",
                ))
            }
            other => other,
        };
        let contested = crate::contested::ContestedPolicy::from_lookup(env)?;
        let exempt_tag = match optional(env, "EXEMPT_TAG") {
            Some(t) => Some(
                crate::exemption::ExemptTag::parse(&t)
                    .map_err(|r| SettingsError::new("EXEMPT_TAG", &t, r))?,
            ),
            None => None,
        };
        Ok(Self {
            dry_run,
            exemptions,
            concurrency,
            retry,
            account_id,
            own_role_arn,
            notify_topic_arn,
            contested,
            exempt_tag,
            governance: crate::governance::GovernanceSettings::from_lookup(env)?,
            in_member_account: false,
            governor: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn defaults() {
        let s = Settings::from_lookup(&env(&[])).unwrap();
        assert!(!s.dry_run);
        assert_eq!(s.concurrency, 8);
        assert_eq!(s.retry.max_attempts(), 8);
        assert_eq!(s.retry.mode(), RetryMode::Standard);
    }

    #[test]
    fn invalid_values_refuse_to_start() {
        for (k, v) in [
            ("DRY_RUN", "yes"),
            ("SWEEP_CONCURRENCY", "0"),
            ("SWEEP_CONCURRENCY", "many"),
            ("AWS_MAX_ATTEMPTS", "100"),
            ("AWS_RETRY_MODE", "legacy"),
            ("EXEMPT_RESOURCES", "my-bucket"),
            ("ACCOUNT_ID", "12345"),
            ("OWN_ROLE_ARN", "arn:aws:sts::123456789012:assumed-role/x/y"),
            ("NOTIFY_TOPIC_ARN", "arn:aws:sqs:us-east-1:123456789012:q"),
        ] {
            let err = Settings::from_lookup(&env(&[(k, v)])).unwrap_err();
            assert_eq!(err.name, k, "{err}");
            assert!(err.to_string().contains(v));
        }
    }

    #[test]
    fn explicit_values() {
        let s = Settings::from_lookup(&env(&[
            ("DRY_RUN", "TRUE"),
            ("SWEEP_CONCURRENCY", "3"),
            ("AWS_MAX_ATTEMPTS", "2"),
            ("AWS_RETRY_MODE", "adaptive"),
            (
                "EXEMPT_RESOURCES",
                "arn:aws:s3:::keep-*, arn:aws:s3:::other",
            ),
        ]))
        .unwrap();
        assert!(s.dry_run);
        assert_eq!(s.concurrency, 3);
        assert_eq!(s.retry.max_attempts(), 2);
        assert_eq!(s.retry.mode(), RetryMode::Adaptive);
        assert!(s.exemptions.matches("arn:aws:s3:::keep-me"));
    }
}
