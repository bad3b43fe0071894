//! S3 Block Public Access, at bucket level (S3 API) and account level (S3 Control API).
//!
//! Compliant iff all four flags are on. Otherwise one `PutPublicAccessBlock` with all four on,
//! verified by reading it back. A compliant resource costs one read; a fix costs read + write + read.
//!
//! An AWS Organizations S3 policy may manage an account's Block Public Access: the account-level
//! read then returns the organization's effective setting (compliant when it blocks everything),
//! and S3 Control refuses the account-level write with `403 AccessDenied`, which the record
//! reports as managed by the organization, not as a missing permission.

use aws_sdk_s3::types::PublicAccessBlockConfiguration as BucketConfiguration;
use aws_sdk_s3control::types::PublicAccessBlockConfiguration as AccountConfiguration;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;

use crate::aws::{AwsError, AwsErrorKind};
use crate::control::{Control, ControlSpec, Decision, ManagedRule};
use crate::controls::s3_buckets::{
    bucket_cloudtrail_targets, bucket_tags, list_buckets, parse_bucket, BucketRegions,
};
use crate::error::IntakeError;
use crate::event::cloudtrail::CloudTrailRecord;
use crate::resource::{account_setting, Resource, Scope};

/// The error S3 and S3 Control return when no Block Public Access configuration exists.
const NO_CONFIGURATION: &str = "NoSuchPublicAccessBlockConfiguration";
const PUT: &str = "PutPublicAccessBlock";

/// The four Block Public Access flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublicAccessBlock {
    pub configured: bool,
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// The desired state: everything blocked.
    pub const ALL_ON: Self = Self {
        configured: true,
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };

    /// Names of the flags that are off.
    pub fn off(&self) -> Vec<&'static str> {
        [
            ("BlockPublicAcls", self.block_public_acls),
            ("IgnorePublicAcls", self.ignore_public_acls),
            ("BlockPublicPolicy", self.block_public_policy),
            ("RestrictPublicBuckets", self.restrict_public_buckets),
        ]
        .into_iter()
        .filter_map(|(name, on)| (!on).then_some(name))
        .collect()
    }

    /// Compliant iff all four flags are on.
    pub fn decide(&self) -> Decision<PublicAccessBlock> {
        let off = self.off();
        if off.is_empty() {
            Decision::Compliant("all four Block Public Access flags are on".to_owned())
        } else if !self.configured {
            Decision::Remediate {
                plan: Self::ALL_ON,
                actions: vec![PUT],
                reason: "no Block Public Access configuration".to_owned(),
            }
        } else {
            Decision::Remediate {
                plan: Self::ALL_ON,
                actions: vec![PUT],
                reason: format!("Block Public Access flags off: {}", off.join(", ")),
            }
        }
    }
}

/// The flags of either API's `PublicAccessBlockConfiguration` (S3 and S3 Control have one each,
/// of the same shape); no configuration means every flag off.
macro_rules! flags {
    ($configuration:expr) => {
        match $configuration {
            Some(c) => PublicAccessBlock {
                configured: true,
                block_public_acls: c.block_public_acls().unwrap_or(false),
                ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                block_public_policy: c.block_public_policy().unwrap_or(false),
                restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
            },
            None => PublicAccessBlock::default(),
        }
    };
}

/// Either API's `PublicAccessBlockConfiguration` for a plan.
macro_rules! configuration {
    ($type:ty, $plan:expr) => {
        <$type>::builder()
            .block_public_acls($plan.block_public_acls)
            .ignore_public_acls($plan.ignore_public_acls)
            .block_public_policy($plan.block_public_policy)
            .restrict_public_buckets($plan.restrict_public_buckets)
            .build()
    };
}

/// The AWS operations of the two Block Public Access controls.
pub mod operations {
    use crate::aws::{IamResource, Operation};

    pub const GET_BUCKET: Operation = Operation {
        service: "s3",
        api: "GetPublicAccessBlock",
        permission: "s3:GetBucketPublicAccessBlock",
        resource: IamResource::Arn("arn:{partition}:s3:::*"),
        implies: &[],
    };
    pub const PUT_BUCKET: Operation = Operation {
        service: "s3",
        api: "PutPublicAccessBlock",
        permission: "s3:PutBucketPublicAccessBlock",
        resource: IamResource::Arn("arn:{partition}:s3:::*"),
        implies: &[],
    };
    pub const LIST_BUCKETS: Operation = Operation {
        service: "s3",
        api: "ListBuckets",
        permission: "s3:ListAllMyBuckets",
        resource: IamResource::None,
        implies: &[],
    };
    pub const GET_ACCOUNT: Operation = Operation {
        service: "s3control",
        api: "GetPublicAccessBlock",
        permission: "s3:GetAccountPublicAccessBlock",
        resource: IamResource::None,
        implies: &[],
    };
    pub const GET_TAGS: Operation = Operation {
        service: "s3",
        api: "GetBucketTagging",
        permission: "s3:GetBucketTagging",
        resource: IamResource::Arn("arn:{partition}:s3:::*"),
        implies: &[],
    };
    pub const PUT_ACCOUNT: Operation = Operation {
        service: "s3control",
        api: "PutPublicAccessBlock",
        permission: "s3:PutAccountPublicAccessBlock",
        resource: IamResource::None,
        implies: &[],
    };
}
use operations::*;

// --- bucket level ---------------------------------------------------------------------------

/// Bucket-level Block Public Access.
pub static BUCKET_SPEC: ControlSpec = ControlSpec {
    id: "s3-bucket-public-access-block",
    resource_type: "AWS::S3::Bucket",
    asff_type: "AwsS3Bucket",
    event_source: "s3.amazonaws.com",
    cloudtrail_events: &[
        "CreateBucket",
        "DeleteBucketPublicAccessBlock",
        "PutBucketPublicAccessBlock",
        "PutBucketPolicy",
        "PutBucketAcl",
    ],
    state_change_events: &[],
    config_rules: &[ManagedRule::on_change(
        "s3-bucket-level-public-access-prohibited",
        "S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED",
    )],
    custom_config_rule: None,
    security_hub_controls: &["S3.2", "S3.3", "S3.8"],
    actions: &["remediate"],
    operations: &[GET_BUCKET, PUT_BUCKET, LIST_BUCKETS],
    tag_operation: Some(GET_TAGS),
    resource: parse_bucket,
    cloudtrail_targets: bucket_cloudtrail_targets,
};

/// Bucket-level Block Public Access on every bucket of the region.
///
/// A bucket named by an event may live in another region: S3 then answers `301 PermanentRedirect`
/// with the bucket's region in `x-amz-bucket-region`, which the SDK does not follow. The control
/// follows it — the same call, signed for the bucket's region — and remembers the region for the
/// bucket's write and verification read (one extra call per such bucket).
pub struct BucketPublicAccessBlock {
    s3: aws_sdk_s3::Client,
    regions: BucketRegions,
}

impl BucketPublicAccessBlock {
    pub fn new(s3: aws_sdk_s3::Client) -> Self {
        Self {
            s3,
            regions: Default::default(),
        }
    }

    async fn get(
        &self,
        bucket: &Resource,
        scope: &Scope,
    ) -> Result<
        aws_sdk_s3::operation::get_public_access_block::GetPublicAccessBlockOutput,
        SdkError<
            aws_sdk_s3::operation::get_public_access_block::GetPublicAccessBlockError,
            HttpResponse,
        >,
    > {
        self.regions
            .route(
                &bucket.id,
                self.s3
                    .get_public_access_block()
                    .bucket(&bucket.id)
                    .expected_bucket_owner(&scope.account)
                    .customize(),
            )
            .send()
            .await
    }

    async fn put(
        &self,
        bucket: &Resource,
        plan: &PublicAccessBlock,
        scope: &Scope,
    ) -> Result<
        aws_sdk_s3::operation::put_public_access_block::PutPublicAccessBlockOutput,
        SdkError<
            aws_sdk_s3::operation::put_public_access_block::PutPublicAccessBlockError,
            HttpResponse,
        >,
    > {
        let config = configuration!(BucketConfiguration, plan);
        self.regions
            .route(
                &bucket.id,
                self.s3
                    .put_public_access_block()
                    .bucket(&bucket.id)
                    .expected_bucket_owner(&scope.account)
                    .public_access_block_configuration(config)
                    .customize(),
            )
            .send()
            .await
    }
}

impl Control for BucketPublicAccessBlock {
    type State = PublicAccessBlock;
    type Plan = PublicAccessBlock;

    fn spec(&self) -> &'static ControlSpec {
        &BUCKET_SPEC
    }

    async fn list(&self, scope: &Scope) -> Result<Vec<Resource>, AwsError> {
        list_buckets(&self.s3, scope, LIST_BUCKETS.permission).await
    }

    async fn inspect(
        &self,
        bucket: &Resource,
        _action: &str,
        scope: &Scope,
    ) -> Result<Option<PublicAccessBlock>, AwsError> {
        let result = match self.get(bucket, scope).await {
            Err(e) if self.regions.redirected(&bucket.id, &e) => self.get(bucket, scope).await,
            other => other,
        };
        match result {
            Ok(out) => Ok(Some(flags!(out.public_access_block_configuration()))),
            Err(e) if e.code() == Some(NO_CONFIGURATION) => Ok(Some(PublicAccessBlock::default())),
            Err(e) if e.code() == Some("NoSuchBucket") => Ok(None),
            Err(e) => Err(AwsError::from_sdk(GET_BUCKET.permission, e)),
        }
    }

    fn decide(&self, state: &PublicAccessBlock, _action: &str) -> Decision<PublicAccessBlock> {
        state.decide()
    }

    async fn tags(
        &self,
        bucket: &Resource,
        _: &PublicAccessBlock,
    ) -> Result<Option<Vec<(String, String)>>, AwsError> {
        bucket_tags(
            &self.s3,
            &self.regions,
            &bucket.id,
            None,
            GET_TAGS.permission,
        )
        .await
        .map(Some)
    }

    async fn apply(
        &self,
        bucket: &Resource,
        plan: &PublicAccessBlock,
        scope: &Scope,
    ) -> Result<(), AwsError> {
        match self.put(bucket, plan, scope).await {
            Err(e) if self.regions.redirected(&bucket.id, &e) => {
                self.put(bucket, plan, scope).await
            }
            other => other,
        }
        .map_err(|e| AwsError::from_sdk(PUT_BUCKET.permission, e))?;
        Ok(())
    }
}

// --- account level --------------------------------------------------------------------------

/// Account-level Block Public Access.
pub static ACCOUNT_SPEC: ControlSpec = ControlSpec {
    id: "s3-account-public-access-block",
    resource_type: "AWS::::Account",
    asff_type: "AwsAccount",
    event_source: "s3.amazonaws.com",
    cloudtrail_events: &[
        "DeleteAccountPublicAccessBlock",
        "PutAccountPublicAccessBlock",
    ],
    state_change_events: &[],
    config_rules: &[ManagedRule::periodic(
        "s3-account-level-public-access-blocks",
        "S3_ACCOUNT_LEVEL_PUBLIC_ACCESS_BLOCKS_PERIODIC",
    )],
    custom_config_rule: None,
    security_hub_controls: &["S3.1"],
    actions: &["remediate"],
    operations: &[GET_ACCOUNT, PUT_ACCOUNT],
    tag_operation: None,
    resource: parse_account,
    cloudtrail_targets: account_cloudtrail_targets,
};

/// Account-level Block Public Access (one setting per account).
pub struct AccountPublicAccessBlock {
    s3control: aws_sdk_s3control::Client,
}

impl AccountPublicAccessBlock {
    pub fn new(s3control: aws_sdk_s3control::Client) -> Self {
        Self { s3control }
    }

    /// The identifier records use for the account setting: `arn:<partition>:s3::<account>:account`.
    pub fn arn(scope: &Scope, account: &str) -> String {
        format!("arn:{}:s3::{account}:account", scope.partition)
    }
}

/// The resource an identifier names (a name, id or ARN from any trigger).
fn parse_account(id: &str, scope: &Scope) -> Result<Resource, IntakeError> {
    let Some((_, account)) = account_setting(id, scope, "s3", "account") else {
        return Err(IntakeError::InvalidResourceId {
            id: id.to_owned(),
            reason: "not an account id (12 digits), AWS::::Account:ID, or arn:aws:s3::ID:account"
                .to_owned(),
        });
    };
    Ok(Resource {
        arn: AccountPublicAccessBlock::arn(scope, account),
        id: account.to_owned(),
        resource_type: ACCOUNT_SPEC.resource_type,
    })
}

/// Resource identifiers a CloudTrail record of the spec names.
fn account_cloudtrail_targets(
    record: &CloudTrailRecord,
    scope: &Scope,
) -> Result<Vec<String>, IntakeError> {
    Ok(vec![record.recipient_account(scope)])
}

impl Control for AccountPublicAccessBlock {
    type State = PublicAccessBlock;
    type Plan = PublicAccessBlock;

    fn spec(&self) -> &'static ControlSpec {
        &ACCOUNT_SPEC
    }

    /// `123456789012`, `AWS::::Account:123456789012` (Security Hub), or `arn:aws:s3::123456789012:account`.
    async fn list(&self, scope: &Scope) -> Result<Vec<Resource>, AwsError> {
        Ok(vec![Resource {
            arn: Self::arn(scope, &scope.account),
            id: scope.account.clone(),
            resource_type: ACCOUNT_SPEC.resource_type,
        }])
    }

    async fn inspect(
        &self,
        account: &Resource,
        _action: &str,
        _: &Scope,
    ) -> Result<Option<PublicAccessBlock>, AwsError> {
        let result = self
            .s3control
            .get_public_access_block()
            .account_id(&account.id)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(flags!(out.public_access_block_configuration()))),
            Err(e) if e.code() == Some(NO_CONFIGURATION) => Ok(Some(PublicAccessBlock::default())),
            Err(e) => Err(AwsError::from_sdk(GET_ACCOUNT.permission, e)),
        }
    }

    fn decide(&self, state: &PublicAccessBlock, _action: &str) -> Decision<PublicAccessBlock> {
        state.decide()
    }

    async fn apply(
        &self,
        account: &Resource,
        plan: &PublicAccessBlock,
        _: &Scope,
    ) -> Result<(), AwsError> {
        let config = configuration!(AccountConfiguration, plan);
        self.s3control
            .put_public_access_block()
            .account_id(&account.id)
            .public_access_block_configuration(config)
            .send()
            .await
            .map_err(|e| organization_managed(AwsError::from_sdk(PUT_ACCOUNT.permission, e)))?;
        Ok(())
    }
}

/// An account-level write refused because an AWS Organizations S3 policy manages the account's
/// Block Public Access, explained as such. Such a policy overrides the account-level setting and
/// S3 Control refuses account-level writes with `403 AccessDenied` (S3 Control API reference,
/// PutPublicAccessBlock; AWS Organizations user guide, "Amazon S3 policies"); what
/// `GetPublicAccessBlock` returns then is the effective setting, so an account the organization
/// keeps blocked is compliant without a write. A refusal by IAM (or an SCP) says which action the
/// caller "is not authorized to perform" (S3 user guide, "Troubleshoot access denied (403
/// Forbidden) errors": the messages of same-account requests name the policy type and action):
/// that one keeps naming the missing permission.
fn organization_managed(err: AwsError) -> AwsError {
    if err.kind != AwsErrorKind::AccessDenied || err.message.contains("not authorized to perform") {
        return err;
    }
    AwsError {
        kind: AwsErrorKind::Other,
        message: format!(
            "{} — the account's Block Public Access is managed by the organization: an AWS Organizations S3 policy overrides the account-level setting and S3 Control refuses account-level writes; change it in the organization's S3 policy (an IAM denial would say the role is not authorized to perform {})",
            err.message, PUT_ACCOUNT.permission
        ),
        ..err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        assert!(matches!(
            PublicAccessBlock::ALL_ON.decide(),
            Decision::Compliant(_)
        ));
        match PublicAccessBlock::default().decide() {
            Decision::Remediate {
                plan,
                actions,
                reason,
            } => {
                assert_eq!(plan, PublicAccessBlock::ALL_ON);
                assert_eq!(actions, vec!["PutPublicAccessBlock"]);
                assert_eq!(reason, "no Block Public Access configuration");
            }
            other => panic!("{other:?}"),
        }
        let weakened = PublicAccessBlock {
            block_public_policy: false,
            restrict_public_buckets: false,
            ..PublicAccessBlock::ALL_ON
        };
        match weakened.decide() {
            Decision::Remediate { reason, .. } => {
                assert_eq!(
                    reason,
                    "Block Public Access flags off: BlockPublicPolicy, RestrictPublicBuckets"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_organization_managed_account_is_told_from_a_missing_permission() {
        let denied = |message: &str| {
            organization_managed(AwsError::from_code(
                PUT_ACCOUNT.permission,
                Some("AccessDenied".to_owned()),
                message.to_owned(),
            ))
            .to_string()
        };
        let managed = denied("Access Denied");
        assert!(managed.contains("managed by the organization"), "{managed}");
        assert!(!managed.contains("missing permission"), "{managed}");
        let iam = denied("User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized to perform: s3:PutAccountPublicAccessBlock because no identity-based policy allows the s3:PutAccountPublicAccessBlock action");
        assert!(
            iam.contains("missing permission s3:PutAccountPublicAccessBlock"),
            "{iam}"
        );
        let throttled = organization_managed(AwsError::from_code(
            PUT_ACCOUNT.permission,
            Some("SlowDown".to_owned()),
            "Please reduce your request rate.".to_owned(),
        ));
        assert_eq!(throttled.kind, AwsErrorKind::Throttled);
    }

    #[test]
    fn bucket_names() {
        use crate::controls::s3_buckets::valid_bucket_name;
        assert!(valid_bucket_name("my.training-data_01"));
        assert!(!valid_bucket_name("ab"));
        assert!(!valid_bucket_name("a/b/c"));
        assert!(!valid_bucket_name("has space"));
    }
}
