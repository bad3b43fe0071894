//! Exemptions: resources the functions must never touch, as ARN patterns with `*` and `?` globs.

use wildmatch::WildMatch;

/// The list from `EXEMPT_RESOURCES`.
#[derive(Debug, Clone, Default)]
pub struct Exemptions {
    patterns: Vec<(String, WildMatch)>,
}

impl Exemptions {
    /// Comma-separated ARN patterns; blanks are ignored; every entry must be an ARN (`arn:…`), so a
    /// typo such as a bare bucket name is an error rather than an exemption that silently never matches.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut patterns = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if !entry.starts_with("arn:") {
                return Err(format!(
                    "`{entry}` is not an ARN pattern (expected `arn:…`, `*` allowed)"
                ));
            }
            patterns.push((entry.to_owned(), WildMatch::new(entry)));
        }
        Ok(Self { patterns })
    }

    /// The first pattern matching `arn`, if any.
    pub fn matching(&self, arn: &str) -> Option<&str> {
        self.patterns
            .iter()
            .find(|(_, m)| m.matches(arn))
            .map(|(p, _)| p.as_str())
    }

    pub fn matches(&self, arn: &str) -> bool {
        self.matching(arn).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// `EXEMPT_TAG`: a resource carrying this tag (`key`, or `key=value`) is left alone. Opt-in, and
/// a trade-off: whoever may tag a resource may exempt it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExemptTag {
    pub key: String,
    pub value: Option<String>,
}

impl ExemptTag {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (key, value) = match spec.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim().to_owned())),
            None => (spec.trim(), None),
        };
        if key.is_empty() || key.len() > 128 {
            return Err("expected `key` or `key=value` (key 1-128 characters)".to_owned());
        }
        Ok(Self {
            key: key.to_owned(),
            value,
        })
    }

    /// Whether `tags` carry the exemption.
    pub fn matches<'a>(&self, mut tags: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
        tags.any(|(k, v)| k == self.key && self.value.as_deref().is_none_or(|want| want == v))
    }
}

impl std::fmt::Display for ExemptTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={v}", self.key),
            None => f.write_str(&self.key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_arns() {
        let e = Exemptions::parse("arn:aws:s3:::shared-*,arn:aws:kms:*:*:key/abc").unwrap();
        assert_eq!(
            e.matching("arn:aws:s3:::shared-data"),
            Some("arn:aws:s3:::shared-*")
        );
        assert!(e.matches("arn:aws:kms:us-east-1:123456789012:key/abc"));
        assert!(!e.matches("arn:aws:s3:::private"));
        assert!(!e.matches("arn:aws:s3:::shared")); // no prefix match beyond the glob
    }

    #[test]
    fn exempt_tags() {
        let any = ExemptTag::parse("ai-guard:exempt").unwrap();
        assert!(any.matches([("ai-guard:exempt", "")].into_iter()));
        let exact = ExemptTag::parse("ai-guard:exempt=true").unwrap();
        assert!(exact.matches([("team", "x"), ("ai-guard:exempt", "true")].into_iter()));
        assert!(!exact.matches([("ai-guard:exempt", "false")].into_iter()));
        assert!(ExemptTag::parse("=x").is_err());
    }

    #[test]
    fn blanks_ignored_and_non_arns_refused() {
        assert!(Exemptions::parse(" , ").unwrap().is_empty());
        assert!(Exemptions::parse("arn:aws:s3:::a,bucket")
            .unwrap_err()
            .contains("`bucket`"));
    }
}
