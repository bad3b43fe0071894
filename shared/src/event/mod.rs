//! Wire types of the inbound events, one module per shape, and the decoder every shape uses. The
//! bottom floor: these know nothing of controls or routing ([`crate::intake`] does that).

pub mod cloudtrail;
pub mod config;
pub mod direct;
pub mod securityhub;
pub mod sweep;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::IntakeError;

/// Deserialize with the path of the offending field in the error.
pub fn decode<T: DeserializeOwned>(v: &Value, what: &str) -> Result<T, IntakeError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!(" at `{path}`")
        };
        IntakeError::Malformed(format!("{what}{at}: {}", e.into_inner()))
    })
}
