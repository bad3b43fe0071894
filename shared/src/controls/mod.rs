//! The controls. Each module is one control (or a family sharing a resource model) implementing
//! [`crate::Control`]; a function binary picks the controls it hosts.

pub mod bedrock_invocation_logging;
pub mod kms_key_rotation;
pub mod s3_public_access;
pub mod sagemaker_notebook;
