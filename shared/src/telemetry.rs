//! Logging: one JSON object per line on stdout, as CloudWatch Logs and Logs Insights expect.
//! The level comes from Lambda's advanced logging controls (`AWS_LAMBDA_LOG_LEVEL`, set from the
//! function's `ApplicationLogLevel`), else `RUST_LOG`, else `info` — the order
//! aws-lambda-rust-runtime's own subscriber uses.

use tracing_subscriber::EnvFilter;

/// The filter for `AWS_LAMBDA_LOG_LEVEL` / `RUST_LOG` as given.
fn filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> EnvFilter {
    let lambda = lambda_level.and_then(|l| match l.trim().to_ascii_uppercase().as_str() {
        "TRACE" => Some("trace"),
        "DEBUG" => Some("debug"),
        "INFO" => Some("info"),
        "WARN" => Some("warn"),
        // Lambda's FATAL has no tracing level of its own: errors are the most severe there is.
        "ERROR" | "FATAL" => Some("error"),
        _ => None,
    });
    lambda
        .map(EnvFilter::new)
        .or_else(|| rust_log.and_then(|r| EnvFilter::try_new(r).ok()))
        .unwrap_or_else(|| EnvFilter::new("info"))
}

/// Install the JSON subscriber. Safe to call more than once (later calls do nothing).
pub fn init() {
    let filter = filter(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(true)
        .with_env_filter(filter)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::filter;

    #[test]
    fn lambdas_log_level_wins_then_rust_log_then_info() {
        let level = |l: Option<&str>, r: Option<&str>| filter(l, r).to_string();
        assert_eq!(level(Some("WARN"), Some("debug")), "warn");
        assert_eq!(level(Some("FATAL"), None), "error");
        assert_eq!(level(Some("nonsense"), Some("debug")), "debug");
        assert_eq!(level(None, Some("remediation=trace")), "remediation=trace");
        assert_eq!(level(None, None), "info");
    }
}
