//! Records every AWS operation the SDK clients send (one entry per call, not per retry), so
//! tests can assert the exact calls a remediation costs.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The operations sent, as `service:Operation` (e.g. `s3:PutPublicAccessBlock`).
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    calls: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn interceptor(&self) -> SharedInterceptor {
        SharedInterceptor::new(RecordingInterceptor {
            calls: self.calls.clone(),
        })
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Calls that `engine` does not declare among its operations (least privilege: the template
    /// grants only what is declared, so an undeclared call would fail with AccessDenied on AWS).
    pub fn undeclared(&self, engine: &remediation::Engine) -> Vec<String> {
        let declared: Vec<String> = engine.operations().iter().map(|o| o.call()).collect();
        self.calls()
            .into_iter()
            .filter(|c| !declared.contains(c))
            .collect()
    }

    /// Forget the calls so far.
    pub fn clear(&self) {
        if let Ok(mut c) = self.calls.lock() {
            c.clear();
        }
    }
}

#[derive(Debug)]
struct RecordingInterceptor {
    calls: Arc<Mutex<Vec<String>>>,
}

impl Intercept for RecordingInterceptor {
    fn name(&self) -> &'static str {
        "RecordingInterceptor"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(meta) = cfg.load::<Metadata>() {
            let service = meta.service().to_ascii_lowercase().replace(' ', "");
            if let Ok(mut calls) = self.calls.lock() {
                calls.push(format!("{service}:{}", meta.name()));
            }
        }
        Ok(())
    }
}
