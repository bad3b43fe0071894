//! The controls. Each module is one control (or a family sharing a resource model) implementing
//! [`crate::Control`]; a function binary picks the controls it hosts,
//! and compiles only those (one Cargo feature per function).

#[cfg(feature = "bedrock")]
pub mod bedrock_invocation_logging;
#[cfg(feature = "cloudtrail")]
pub mod cloudtrail_logging;
#[cfg(feature = "guardduty")]
pub mod guardduty_detector;
#[cfg(feature = "kms")]
pub mod kms_key_deletion;
#[cfg(feature = "kms")]
pub mod kms_key_rotation;
#[cfg(feature = "kms")]
pub mod kms_keys;
#[cfg(any(feature = "s3", feature = "s3-data"))]
pub mod s3_buckets;
#[cfg(feature = "s3-data")]
pub mod s3_data_protection;
#[cfg(feature = "s3")]
pub mod s3_public_access;
#[cfg(feature = "sagemaker")]
pub mod sagemaker_notebook;
