//! Resources and the scope (account, region, partition) a function acts in.

use serde::Serialize;

/// Where something is, or where an engine acts: an account and a region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Place {
    pub account: String,
    pub region: String,
}

impl Place {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            account: account.into(),
            region: region.into(),
        }
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.account, self.region)
    }
}

/// Where a function runs: it acts on this account and region only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub account: String,
    pub region: String,
    pub partition: String,
    /// The function's own role (`OWN_ROLE_ARN`): events it caused are not acted on.
    pub own_role: Option<String>,
}

impl Scope {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Self {
        let region = region.into();
        let partition = partition_of(&region).to_owned();
        Self {
            account: account.into(),
            region,
            partition,
            own_role: None,
        }
    }

    pub fn with_own_role(mut self, role_arn: Option<String>) -> Self {
        self.own_role = role_arn;
        self
    }

    /// The account and region of this scope.
    pub fn place(&self) -> Place {
        Place::new(&self.account, &self.region)
    }
}

/// The AWS partition a region belongs to.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else {
        "aws"
    }
}

/// (account, role name) of an IAM role ARN (the path is not part of the identity).
pub fn role_of(arn: &str) -> Option<(String, String)> {
    let arn = Arn::parse(arn)?;
    let name = arn.resource.strip_prefix("role/")?.rsplit('/').next()?;
    (arn.service == "iam").then(|| (arn.account.to_owned(), name.to_owned()))
}

/// One resource a control acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    /// The ARN, used in records and exemptions.
    pub arn: String,
    /// The identifier the service API and AWS Config use (bucket name, account id, key id, …).
    pub id: String,
    /// The CloudFormation / AWS Config resource type, e.g. `AWS::S3::Bucket`.
    #[serde(rename = "type")]
    pub resource_type: &'static str,
}

/// The parts of an ARN: `arn:partition:service:region:account:resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Split an ARN; `None` when `s` is not one.
    pub fn parse(s: &'a str) -> Option<Self> {
        let mut parts = s.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let arn = Arn {
            partition: parts.next()?,
            service: parts.next()?,
            region: parts.next()?,
            account: parts.next()?,
            resource: parts.next()?,
        };
        (!arn.partition.is_empty() && !arn.service.is_empty()).then_some(arn)
    }
}

/// The region and account an account-level setting's identifier names: a bare account id or
/// Security Hub's `AWS::::Account:<id>` (the region is `scope`'s), or an ARN of `service` whose
/// resource is `resource` (the region is the ARN's, so the engine can refuse another region's).
/// `None` for anything else.
pub fn account_setting<'a>(
    id: &'a str,
    scope: &'a Scope,
    service: &str,
    resource: &str,
) -> Option<(&'a str, &'a str)> {
    let (region, account) = match Arn::parse(id) {
        Some(arn) if arn.service == service && arn.resource == resource => {
            (arn.region, arn.account)
        }
        Some(_) => return None,
        None => ("", id.strip_prefix("AWS::::Account:").unwrap_or(id)),
    };
    let region = if region.is_empty() {
        scope.region.as_str()
    } else {
        region
    };
    is_account_id(account).then_some((region, account))
}

/// A region name: `us-east-1`, `ap-southeast-2`, `us-gov-west-1`.
pub fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// `ou-xxxx-yyyyyyyy` or a root `r-xxxx` (Organizations API reference, `ParentId`).
pub fn is_parent_id(id: &str) -> bool {
    let ok = |s: &str, min: usize| {
        s.len() >= min
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if let Some(rest) = id.strip_prefix("ou-") {
        rest.split_once('-')
            .is_some_and(|(root, ou)| ok(root, 4) && ok(ou, 8))
    } else if let Some(root) = id.strip_prefix("r-") {
        ok(root, 4)
    } else {
        false
    }
}

/// A 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_split() {
        let a = Arn::parse("arn:aws:kms:us-east-1:123456789012:key/ab:cd").unwrap();
        assert_eq!(
            (a.service, a.region, a.account, a.resource),
            ("kms", "us-east-1", "123456789012", "key/ab:cd")
        );
        let b = Arn::parse("arn:aws:s3:::bucket").unwrap();
        assert_eq!((b.account, b.resource), ("", "bucket"));
        assert!(Arn::parse("bucket").is_none());
        assert!(Arn::parse("arn:aws").is_none());
    }

    #[test]
    fn partitions() {
        assert_eq!(Scope::new("1", "cn-north-1").partition, "aws-cn");
        assert_eq!(Scope::new("1", "us-gov-west-1").partition, "aws-us-gov");
        assert_eq!(Scope::new("1", "eu-west-1").partition, "aws");
    }

    #[test]
    fn account_ids() {
        assert!(is_account_id("123456789012"));
        assert!(!is_account_id("12345678901"));
        assert!(!is_account_id("12345678901a"));
    }
}
