//! Contested resources: one remediated more than `CONTESTED_THRESHOLD` times within
//! `CONTESTED_WINDOW_MINUTES` — an attacker or an infrastructure-as-code tool keeps undoing the fix
//! — is reported as contested so a human looks. Counts live in a DynamoDB table
//! (`CONTESTED_TABLE`: partition key `resource` (S), TTL attribute `expires_at`); without a table
//! the feature is off. `KEEP_FIXING_CONTESTED=false` stops fixing a contested resource (it is then
//! `failed`, so alarms fire) instead of fighting over it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::aws::{AwsError, IamResource, Operation};
use crate::env::{optional, parse_bool, parse_number, Lookup};
use crate::error::SettingsError;

pub const UPDATE: Operation = Operation {
    service: "dynamodb",
    api: "UpdateItem",
    permission: "dynamodb:UpdateItem",
    resource: IamResource::Arn("arn:{partition}:dynamodb:{region}:{account}:table/*"),
    implies: &[],
};
pub const PUT: Operation = Operation {
    service: "dynamodb",
    api: "PutItem",
    permission: "dynamodb:PutItem",
    resource: IamResource::Arn("arn:{partition}:dynamodb:{region}:{account}:table/*"),
    implies: &[],
};
pub const GET: Operation = Operation {
    service: "dynamodb",
    api: "GetItem",
    permission: "dynamodb:GetItem",
    resource: IamResource::Arn("arn:{partition}:dynamodb:{region}:{account}:table/*"),
    implies: &[],
};

/// The contested-resource policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContestedPolicy {
    pub table: String,
    pub threshold: u32,
    pub window_secs: u64,
    pub keep_fixing: bool,
}

impl ContestedPolicy {
    /// `None` when `CONTESTED_TABLE` is not set (the feature is off).
    pub fn from_lookup(env: &dyn Lookup) -> Result<Option<Self>, SettingsError> {
        let Some(table) = optional(env, "CONTESTED_TABLE") else {
            return Ok(None);
        };
        Ok(Some(Self {
            table,
            threshold: parse_number(env, "CONTESTED_THRESHOLD", 1..=1000, 3)?,
            window_secs: u64::from(parse_number(
                env,
                "CONTESTED_WINDOW_MINUTES",
                1..=10_080,
                60,
            )?) * 60,
            keep_fixing: parse_bool(env, "KEEP_FIXING_CONTESTED", true)?,
        }))
    }
}

/// Counts fixes per resource: in the DynamoDB table, or in memory (one process: tests, local runs).
#[derive(Debug, Clone)]
pub struct ContestedTracker {
    store: Store,
    pub policy: ContestedPolicy,
}

/// Where the counts live.
#[derive(Debug, Clone)]
enum Store {
    DynamoDb(aws_sdk_dynamodb::Client),
    /// key → (fixes, window start).
    Memory(Arc<Mutex<HashMap<String, (u32, u64)>>>),
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Where a resource is and which control fixes it: a bucket's ARN names neither its account nor
/// its region, so a hub acting in many accounts keys its counts with both.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub control: &'a str,
    pub account: &'a str,
    pub region: &'a str,
    pub resource: &'a str,
}

impl Subject<'_> {
    fn id(&self) -> String {
        format!(
            "{}#{}#{}#{}",
            self.control, self.account, self.region, self.resource
        )
    }

    fn key(&self) -> AttributeValue {
        AttributeValue::S(self.id())
    }
}

impl ContestedTracker {
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, policy: ContestedPolicy) -> Self {
        Self {
            store: Store::DynamoDb(dynamodb),
            policy,
        }
    }

    /// Counts kept in this process only, with the same window rules.
    pub fn in_memory(policy: ContestedPolicy) -> Self {
        Self {
            store: Store::Memory(Arc::default()),
            policy,
        }
    }

    /// Count one more fix; the number of fixes in the current window.
    pub async fn record_fix(&self, subject: Subject<'_>) -> Result<u32, AwsError> {
        let now = now();
        let cutoff = now.saturating_sub(self.policy.window_secs);
        let dynamodb = match &self.store {
            Store::DynamoDb(client) => client,
            Store::Memory(counts) => {
                let mut counts = counts.lock().unwrap_or_else(|p| p.into_inner());
                let entry = counts.entry(subject.id()).or_insert((0, now));
                if entry.1 <= cutoff {
                    *entry = (0, now);
                }
                entry.0 += 1;
                return Ok(entry.0);
            }
        };
        let added = dynamodb
            .update_item()
            .table_name(&self.policy.table)
            .key("resource", subject.key())
            .update_expression("ADD fixes :one")
            .condition_expression("window_start > :cutoff")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":cutoff", AttributeValue::N(cutoff.to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        match added {
            Ok(out) => Ok(out
                .attributes()
                .and_then(|a| a.get("fixes"))
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(1)),
            // No item, or its window has passed: start a new window.
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                dynamodb
                    .put_item()
                    .table_name(&self.policy.table)
                    .item("resource", subject.key())
                    .item("fixes", AttributeValue::N("1".into()))
                    .item("window_start", AttributeValue::N(now.to_string()))
                    .item(
                        "expires_at",
                        AttributeValue::N((now + self.policy.window_secs).to_string()),
                    )
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(PUT.permission, e))?;
                Ok(1)
            }
            Err(e) => Err(AwsError::from_sdk(UPDATE.permission, e)),
        }
    }

    /// Fixes so far in the current window (before fixing again).
    pub async fn fixes(&self, subject: Subject<'_>) -> Result<u32, AwsError> {
        let dynamodb = match &self.store {
            Store::DynamoDb(client) => client,
            Store::Memory(counts) => {
                let counts = counts.lock().unwrap_or_else(|p| p.into_inner());
                let cutoff = now().saturating_sub(self.policy.window_secs);
                return Ok(counts
                    .get(&subject.id())
                    .filter(|(_, start)| *start > cutoff)
                    .map_or(0, |(n, _)| *n));
            }
        };
        let out = dynamodb
            .get_item()
            .table_name(&self.policy.table)
            .key("resource", subject.key())
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(GET.permission, e))?;
        let Some(item) = out.item() else { return Ok(0) };
        let number = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok())
        };
        let in_window = number("window_start")
            .is_some_and(|s| s > now().saturating_sub(self.policy.window_secs));
        Ok(if in_window {
            number("fixes").unwrap_or(0) as u32
        } else {
            0
        })
    }

    /// Whether `fixes` in the window make a resource contested.
    pub fn is_contested(&self, fixes: u32) -> bool {
        fixes > self.policy.threshold
    }
}
