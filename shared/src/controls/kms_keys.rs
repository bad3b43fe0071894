//! KMS keys as the key controls see them: how an identifier (key id, key ARN, alias, alias ARN)
//! names a key, and the listing every key control sweeps.

use crate::aws::{AwsError, IamResource, Operation};
use crate::error::IntakeError;
use crate::event::cloudtrail::CloudTrailRecord;
use crate::resource::{Arn, Resource, Scope};

/// The CloudFormation / AWS Config type of a key.
pub const KEY_TYPE: &str = "AWS::KMS::Key";

/// The operations every key control calls.
pub const DESCRIBE: Operation = Operation {
    service: "kms",
    api: "DescribeKey",
    permission: "kms:DescribeKey",
    resource: IamResource::Arn("arn:{partition}:kms:{region}:{account}:key/*"),
    implies: &[],
};
pub const LIST: Operation = Operation {
    service: "kms",
    api: "ListKeys",
    permission: "kms:ListKeys",
    resource: IamResource::None,
    implies: &[],
};
pub const TAGS: Operation = Operation {
    service: "kms",
    api: "ListResourceTags",
    permission: "kms:ListResourceTags",
    resource: IamResource::Arn("arn:{partition}:kms:{region}:{account}:key/*"),
    implies: &[],
};

pub fn key_named(arn: String, key_id: &str) -> Resource {
    Resource {
        arn,
        id: key_id.to_owned(),
        resource_type: KEY_TYPE,
    }
}

/// A key id: a UUID or a multi-Region `mrk-` id.
fn valid_key_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// An alias name (`alias/…`).
pub fn valid_alias(name: &str) -> bool {
    name.strip_prefix("alias/").is_some_and(|rest| {
        (1..=250).contains(&rest.len())
            && !rest.starts_with("aws/")
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
    })
}

/// The resource an identifier names (a name, id or ARN from any trigger).
pub fn parse_key(id: &str, scope: &Scope) -> Result<Resource, IntakeError> {
    let invalid = |reason: &str| IntakeError::InvalidResourceId {
        id: id.to_owned(),
        reason: reason.to_owned(),
    };
    match Arn::parse(id) {
        Some(arn) if arn.service == "kms" => {
            if let Some(key_id) = arn
                .resource
                .strip_prefix("key/")
                .filter(|k| valid_key_id(k))
            {
                Ok(key_named(id.to_owned(), key_id))
            } else if valid_alias(arn.resource) {
                Ok(key_named(id.to_owned(), id))
            } else {
                Err(invalid("not a KMS key or alias ARN"))
            }
        }
        Some(_) => Err(invalid("not a KMS ARN")),
        None if valid_alias(id) => Ok(key_named(
            format!(
                "arn:{}:kms:{}:{}:{id}",
                scope.partition, scope.region, scope.account
            ),
            id,
        )),
        None if valid_key_id(id) => Ok(key_named(
            format!(
                "arn:{}:kms:{}:{}:key/{id}",
                scope.partition, scope.region, scope.account
            ),
            id,
        )),
        None => Err(invalid(
            "not a KMS key id, key ARN, alias or alias ARN (AWS-managed aliases excluded)",
        )),
    }
}

/// The key a CloudTrail record's `requestParameters.keyId` names.
pub fn requested_key(record: &CloudTrailRecord, _: &Scope) -> Result<Vec<String>, IntakeError> {
    Ok(vec![record.request_str(&["keyId"])?.to_owned()])
}

/// Every key of the region (`ListKeys`, paginated).
pub async fn list_keys(kms: &aws_sdk_kms::Client) -> Result<Vec<Resource>, AwsError> {
    let mut pages = kms.list_keys().limit(1000).into_paginator().send();
    let mut keys = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk(LIST.permission, e))?;
        keys.extend(
            page.keys()
                .iter()
                .filter_map(|k| match (k.key_arn(), k.key_id()) {
                    (Some(arn), Some(id)) => Some(key_named(arn.to_owned(), id)),
                    _ => None,
                }),
        );
    }
    Ok(keys)
}

/// A key's tags (`ListResourceTags`), for the opt-in exemption tag.
pub async fn key_tags(
    kms: &aws_sdk_kms::Client,
    key_id: &str,
) -> Result<Option<Vec<(String, String)>>, AwsError> {
    let out = kms
        .list_resource_tags()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(TAGS.permission, e))?;
    Ok(Some(
        out.tags()
            .iter()
            .map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned()))
            .collect(),
    ))
}
