//! Reading settings from the environment: the source (the process, or a map in tests) and the
//! parsers every setting uses. A leaf: it knows no setting by name.

use crate::error::SettingsError;

/// A source of settings: the process environment, or a map in tests.
pub trait Lookup {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Lookup for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// A function's own settings as one account and region of a hub sees them: `{account}` and
/// `{region}` in a value become that account's id and that region (so, for example, a Bedrock log
/// bucket can be named per account: `ai-guard-bedrock-logs-{account}-{region}`).
pub struct Placed<'a> {
    pub env: &'a dyn Lookup,
    pub account: &'a str,
    pub region: &'a str,
}

impl Lookup for Placed<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.env.get(name).map(|v| {
            v.replace("{account}", self.account)
                .replace("{region}", self.region)
        })
    }
}

/// `true`/`false` (any case); absent means `default`; anything else is an error.
pub fn parse_bool(env: &dyn Lookup, name: &str, default: bool) -> Result<bool, SettingsError> {
    match env.get(name) {
        None => Ok(default),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(SettingsError::new(name, &v, "expected `true` or `false`")),
        },
    }
}

/// A whole number in `range`; absent means `default`.
pub fn parse_number(
    env: &dyn Lookup,
    name: &str,
    range: std::ops::RangeInclusive<u32>,
    default: u32,
) -> Result<u32, SettingsError> {
    match env.get(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u32>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(SettingsError::new(
                name,
                &v,
                format!(
                    "expected a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )),
        },
    }
}

/// A required, non-empty setting.
pub fn required(env: &dyn Lookup, name: &str) -> Result<String, SettingsError> {
    optional(env, name).ok_or_else(|| SettingsError::new(name, "", "required"))
}

/// An optional setting; empty counts as absent.
pub fn optional(env: &dyn Lookup, name: &str) -> Option<String> {
    env.get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placed_settings_name_their_account_and_region() {
        let env = |name: &str| (name == "B").then(|| "logs-{account}-{region}".to_owned());
        let placed = Placed {
            env: &env,
            account: "210987654321",
            region: "eu-west-1",
        };
        assert_eq!(
            placed.get("B").as_deref(),
            Some("logs-210987654321-eu-west-1")
        );
        assert_eq!(placed.get("C"), None);
    }
}
