//! AWS SDK clients, configured once at init for every function.
//!
//! The SDK's own configuration chain is used as is (credentials, region, `AWS_ENDPOINT_URL` and the
//! per-service `AWS_ENDPOINT_URL_<SERVICE>`), with the retry policy from [`Settings`] and bounded
//! timeouts. Two adjustments make a custom endpoint (a local emulator, a VPC endpoint proxy) work
//! for S3: path-style addressing, and S3 Control without its account-id host prefix.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
#[cfg(feature = "s3")]
use aws_smithy_runtime_api::client::endpoint::EndpointFuture;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
#[cfg(feature = "s3")]
use aws_smithy_types::endpoint::Endpoint;
use aws_types::region::Region;
use aws_types::sdk_config::SharedCredentialsProvider;

use crate::error::SettingsError;
use crate::settings::Settings;

/// The shared SDK configuration, from which every service client of a function is built.
#[derive(Clone, Debug)]
pub struct AwsClients {
    sdk: SdkConfig,
    /// The function's own configuration when `sdk` acts elsewhere (a hub's member account or
    /// another region): what the function keeps for itself — notifications, contested counts,
    /// Security Hub updates, the organization's accounts, the sweep queue — is reached with it.
    home: Option<SdkConfig>,
    interceptors: Vec<SharedInterceptor>,
}

impl AwsClients {
    /// Load the SDK configuration with the retry policy from `settings`.
    pub async fn load(settings: &Settings) -> Self {
        Self::load_from(aws_config::defaults(BehaviorVersion::latest()), settings).await
    }

    /// [`Self::load`] from `loader` (for example one given an endpoint, region and credentials
    /// explicitly, rather than from the process environment) with the same retry policy and
    /// timeouts.
    pub async fn load_from(loader: aws_config::ConfigLoader, settings: &Settings) -> Self {
        let sdk = loader
            .retry_config(settings.retry.clone())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            )
            .load()
            .await;
        Self {
            sdk,
            home: None,
            interceptors: Vec::new(),
        }
    }

    /// Clients acting in `region` with `credentials` (`None`: the function's own), whose home
    /// stays this configuration's.
    pub fn acting_in(&self, region: &str, credentials: Option<SharedCredentialsProvider>) -> Self {
        let mut builder = self
            .sdk
            .clone()
            .into_builder()
            .region(Region::new(region.to_owned()));
        if let Some(c) = credentials {
            builder = builder.credentials_provider(c);
        }
        Self {
            sdk: builder.build(),
            home: Some(self.home().clone()),
            interceptors: self.interceptors.clone(),
        }
    }

    fn home(&self) -> &SdkConfig {
        self.home.as_ref().unwrap_or(&self.sdk)
    }

    /// Add an interceptor to every client built from now on (tests record operations this way).
    pub fn with_interceptor(mut self, interceptor: SharedInterceptor) -> Self {
        self.interceptors.push(interceptor);
        self
    }

    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk
    }

    /// The region the function acts in; required.
    pub fn region(&self) -> Result<String, SettingsError> {
        self.sdk
            .region()
            .map(|r| r.as_ref().to_owned())
            .ok_or_else(|| SettingsError::new("AWS_REGION", "", "no region configured"))
    }

    #[cfg(any(feature = "s3", feature = "s3-data"))]
    /// S3, path-style when a custom endpoint is configured.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let builder = aws_sdk_s3::config::Builder::from(&self.sdk)
            .force_path_style(custom_endpoint(&self.sdk, "S3").is_some());
        aws_sdk_s3::Client::from_conf(self.intercepted(builder).build())
    }

    #[cfg(feature = "s3")]
    /// S3 Control. With a custom endpoint, requests go to that endpoint as given: the SDK would
    /// otherwise put the account id in front of its host (`123456789012.localhost`), which only
    /// resolves on AWS.
    pub fn s3control(&self) -> aws_sdk_s3control::Client {
        let mut builder = aws_sdk_s3control::config::Builder::from(&self.sdk);
        if let Some(url) = custom_endpoint(&self.sdk, "S3_CONTROL") {
            builder = builder.endpoint_resolver(FixedEndpoint(url));
        }
        aws_sdk_s3control::Client::from_conf(self.intercepted(builder).build())
    }

    /// AWS Config, for answering custom-rule invocations.
    pub fn config(&self) -> aws_sdk_config::Client {
        aws_sdk_config::Client::from_conf(
            self.intercepted(aws_sdk_config::config::Builder::from(&self.sdk))
                .build(),
        )
    }

    #[cfg(feature = "bedrock")]
    /// Amazon Bedrock (control plane).
    pub fn bedrock(&self) -> aws_sdk_bedrock::Client {
        aws_sdk_bedrock::Client::from_conf(
            self.intercepted(aws_sdk_bedrock::config::Builder::from(&self.sdk))
                .build(),
        )
    }

    #[cfg(any(feature = "kms", feature = "s3-data"))]
    /// AWS KMS.
    pub fn kms(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::from_conf(
            self.intercepted(aws_sdk_kms::config::Builder::from(&self.sdk))
                .build(),
        )
    }

    #[cfg(feature = "guardduty")]
    /// Amazon GuardDuty.
    pub fn guardduty(&self) -> aws_sdk_guardduty::Client {
        aws_sdk_guardduty::Client::from_conf(
            self.intercepted(aws_sdk_guardduty::config::Builder::from(&self.sdk))
                .build(),
        )
    }

    #[cfg(feature = "cloudtrail")]
    /// AWS CloudTrail.
    pub fn cloudtrail(&self) -> aws_sdk_cloudtrail::Client {
        aws_sdk_cloudtrail::Client::from_conf(
            self.intercepted(aws_sdk_cloudtrail::config::Builder::from(&self.sdk))
                .build(),
        )
    }

    #[cfg(feature = "sagemaker")]
    /// Amazon SageMaker.
    pub fn sagemaker(&self) -> aws_sdk_sagemaker::Client {
        aws_sdk_sagemaker::Client::from_conf(
            self.intercepted(aws_sdk_sagemaker::config::Builder::from(&self.sdk))
                .build(),
        )
    }

    /// Amazon SNS, for notifications.
    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::from_conf(
            self.intercepted(aws_sdk_sns::config::Builder::from(self.home()))
                .build(),
        )
    }

    /// AWS Security Hub, for closing findings.
    #[cfg(feature = "securityhub")]
    pub fn securityhub(&self) -> aws_sdk_securityhub::Client {
        aws_sdk_securityhub::Client::from_conf(
            self.intercepted(aws_sdk_securityhub::config::Builder::from(self.home()))
                .build(),
        )
    }

    /// AWS Organizations (home), for a hub's accounts.
    pub fn organizations(&self) -> aws_sdk_organizations::Client {
        aws_sdk_organizations::Client::from_conf(
            self.intercepted(aws_sdk_organizations::config::Builder::from(self.home()))
                .build(),
        )
    }

    /// Amazon SQS (home), for a hub's sweep queue.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::from_conf(
            self.intercepted(aws_sdk_sqs::config::Builder::from(self.home()))
                .build(),
        )
    }

    /// AWS Systems Manager Parameter Store (home), for the remediation policy.
    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::from_conf(
            self.intercepted(aws_sdk_ssm::config::Builder::from(self.home()))
                .build(),
        )
    }

    /// Amazon DynamoDB, for contested-resource counts.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(
            self.intercepted(aws_sdk_dynamodb::config::Builder::from(self.home()))
                .build(),
        )
    }

    fn intercepted<B: PushInterceptor>(&self, mut builder: B) -> B {
        for i in &self.interceptors {
            builder.push(i.clone());
        }
        builder
    }
}

/// The one thing every service's config builder is asked for here.
trait PushInterceptor {
    fn push(&mut self, interceptor: SharedInterceptor);
}

macro_rules! push_interceptor {
    ($($builder:ty),*) => {$(
        impl PushInterceptor for $builder {
            fn push(&mut self, interceptor: SharedInterceptor) {
                self.push_interceptor(interceptor);
            }
        }
    )*};
}

push_interceptor!(
    aws_sdk_config::config::Builder,
    aws_sdk_sns::config::Builder,
    aws_sdk_dynamodb::config::Builder,
    aws_sdk_organizations::config::Builder,
    aws_sdk_sqs::config::Builder,
    aws_sdk_ssm::config::Builder
);
#[cfg(any(feature = "s3", feature = "s3-data"))]
push_interceptor!(aws_sdk_s3::config::Builder);
#[cfg(feature = "s3")]
push_interceptor!(aws_sdk_s3control::config::Builder);
#[cfg(feature = "bedrock")]
push_interceptor!(aws_sdk_bedrock::config::Builder);
#[cfg(feature = "securityhub")]
push_interceptor!(aws_sdk_securityhub::config::Builder);
#[cfg(any(feature = "kms", feature = "s3-data"))]
push_interceptor!(aws_sdk_kms::config::Builder);
#[cfg(feature = "sagemaker")]
push_interceptor!(aws_sdk_sagemaker::config::Builder);
#[cfg(feature = "guardduty")]
push_interceptor!(aws_sdk_guardduty::config::Builder);
#[cfg(feature = "cloudtrail")]
push_interceptor!(aws_sdk_cloudtrail::config::Builder);

/// The custom endpoint for a service: `AWS_ENDPOINT_URL_<SERVICE>`, else the global one.
#[cfg(any(feature = "s3", feature = "s3-data"))]
fn custom_endpoint(sdk: &SdkConfig, service_env: &str) -> Option<String> {
    std::env::var(format!("AWS_ENDPOINT_URL_{service_env}"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| sdk.endpoint_url().map(str::to_owned))
}

#[cfg(feature = "s3")]
#[derive(Debug)]
struct FixedEndpoint(String);

#[cfg(feature = "s3")]
impl aws_sdk_s3control::config::endpoint::ResolveEndpoint for FixedEndpoint {
    fn resolve_endpoint<'a>(
        &'a self,
        _: &'a aws_sdk_s3control::config::endpoint::Params,
    ) -> EndpointFuture<'a> {
        EndpointFuture::ready(Ok(Endpoint::builder().url(self.0.clone()).build()))
    }
}
