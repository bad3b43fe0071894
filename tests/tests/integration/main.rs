//! The integration tests, one test binary: each module was a test binary of its own, and keeps
//! what that gave it — its own emulator (`integration_tests::emulator!()`), so account and region
//! singletons one module changes are never another's — while the AWS SDKs are linked once.

mod bedrock_invocation_logging;
mod cloudtrail_logging;
mod config_remediation;
mod escalation;
mod faults;
mod governance;
mod guardduty_detector;
mod hub_destinations;
mod kms_key_deletion;
mod kms_key_rotation;
mod least_privilege;
mod member_template;
mod organization;
mod registry;
mod s3_data_protection;
mod s3_public_access_block;
mod s3_sweep;
mod sagemaker_notebook_guard;
mod security_hub;
mod template;
