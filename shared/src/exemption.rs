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
    fn blanks_ignored_and_non_arns_refused() {
        assert!(Exemptions::parse(" , ").unwrap().is_empty());
        assert!(Exemptions::parse("arn:aws:s3:::a,bucket")
            .unwrap_err()
            .contains("`bucket`"));
    }
}
