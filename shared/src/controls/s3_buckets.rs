//! What every S3 bucket control shares: how a bucket is named, listed and found in its region.
//!
//! A bucket named by an event may live in another region: S3 then answers `301 PermanentRedirect`
//! with the bucket's region in `x-amz-bucket-region`, which the SDK does not follow.
//! [`BucketRegions`] learns it from the redirect so a control can repeat the call signed for that
//! region, and remembers it for the bucket's write and verification read.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_s3::client::customize::CustomizableOperation;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::aws::AwsError;
use crate::error::IntakeError;
use crate::event::cloudtrail::CloudTrailRecord;
use crate::resource::{Arn, Resource, Scope};

pub const BUCKET_TYPE: &str = "AWS::S3::Bucket";

/// Bucket names as S3 accepts them, including legacy us-east-1 names (capitals, underscores).
pub fn valid_bucket_name(name: &str) -> bool {
    (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

pub fn bucket_named(name: &str, scope: &Scope) -> Resource {
    Resource {
        arn: format!("arn:{}:s3:::{name}", scope.partition),
        id: name.to_owned(),
        resource_type: BUCKET_TYPE,
    }
}

/// The bucket an identifier names (its name or its ARN).
pub fn parse_bucket(id: &str, scope: &Scope) -> Result<Resource, IntakeError> {
    let invalid = |reason: &str| IntakeError::InvalidResourceId {
        id: id.to_owned(),
        reason: reason.to_owned(),
    };
    let name = match Arn::parse(id) {
        Some(arn) if arn.service == "s3" && arn.account.is_empty() && arn.region.is_empty() => {
            if arn.resource.contains('/') {
                return Err(invalid("an object ARN, not a bucket ARN"));
            }
            arn.resource
        }
        Some(_) => return Err(invalid("not an S3 bucket ARN (arn:aws:s3:::NAME)")),
        None => id,
    };
    if !valid_bucket_name(name) {
        return Err(invalid("not a valid S3 bucket name"));
    }
    Ok(bucket_named(name, scope))
}

/// The bucket a CloudTrail record of a bucket call names.
pub fn bucket_cloudtrail_targets(
    record: &CloudTrailRecord,
    _: &Scope,
) -> Result<Vec<String>, IntakeError> {
    Ok(vec![record.request_str(&["bucketName"])?.to_owned()])
}

/// Every bucket of the region (`ListBuckets` filtered by region, 1,000 a page).
pub async fn list_buckets(
    s3: &aws_sdk_s3::Client,
    scope: &Scope,
    permission: &'static str,
) -> Result<Vec<Resource>, AwsError> {
    let mut pages = s3
        .list_buckets()
        .bucket_region(&scope.region)
        .max_buckets(1000)
        .into_paginator()
        .send();
    let mut buckets = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk(permission, e))?;
        buckets.extend(
            page.buckets()
                .iter()
                .filter(|b| b.bucket_region().is_none_or(|r| r == scope.region))
                .filter_map(|b| b.name())
                .map(|name| bucket_named(name, scope)),
        );
    }
    Ok(buckets)
}

/// A bucket's tags (`NoSuchTagSet`: none), read in its own region; `owner` guards against a
/// same-named bucket of another account.
pub async fn bucket_tags(
    s3: &aws_sdk_s3::Client,
    regions: &BucketRegions,
    bucket: &str,
    owner: Option<&str>,
    permission: &'static str,
) -> Result<Vec<(String, String)>, AwsError> {
    let request = s3
        .get_bucket_tagging()
        .bucket(bucket)
        .set_expected_bucket_owner(owner.map(str::to_owned))
        .customize();
    match regions.route(bucket, request).send().await {
        Ok(out) => Ok(out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect()),
        Err(e) if e.code() == Some("NoSuchTagSet") => Ok(Vec::new()),
        Err(e) => Err(AwsError::from_sdk(permission, e)),
    }
}

/// The regions of buckets that answered from another region than the client's.
#[derive(Debug, Default)]
pub struct BucketRegions(Mutex<HashMap<String, String>>);

impl BucketRegions {
    fn region_of(&self, bucket: &str) -> Option<String> {
        self.0.lock().ok()?.get(bucket).cloned()
    }

    /// Learn a bucket's region from a `301 PermanentRedirect`; `true` if the call should be retried.
    pub fn redirected<E>(&self, bucket: &str, err: &SdkError<E, HttpResponse>) -> bool {
        let region = err
            .raw_response()
            .filter(|r| r.status().as_u16() == 301)
            .and_then(|r| r.headers().get("x-amz-bucket-region"))
            .map(str::to_owned);
        match (region, self.0.lock()) {
            (Some(region), Ok(mut regions)) if regions.get(bucket) != Some(&region) => {
                regions.insert(bucket.to_owned(), region);
                true
            }
            _ => false,
        }
    }

    /// `op`, signed for the bucket's region when it answered from another one.
    pub fn route<T, E, B>(
        &self,
        bucket: &str,
        op: CustomizableOperation<T, E, B>,
    ) -> CustomizableOperation<T, E, B> {
        match self.region_of(bucket) {
            Some(region) => op.config_override(
                aws_sdk_s3::config::Builder::default()
                    .region(aws_types::region::Region::new(region)),
            ),
            None => op,
        }
    }
}

/// Whether an S3 `AccessDenied` message gives Block Public Access as its reason. S3's enhanced
/// access-denied messages read "User: ARN is not authorized to perform: ACTION on resource: ARN
/// because CONTEXT" (S3 user guide, "Troubleshoot access denied (403 Forbidden) errors"), so the
/// phrase "not authorized to perform" alone does not make a denial IAM's: with `BlockPublicPolicy`
/// on, S3 answers a public `PutBucketPolicy` with "… because public policies are blocked by the
/// BlockPublicPolicy block public access setting."
pub fn names_block_public_access(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("block public access") || lower.contains("blockpublicpolicy")
}
