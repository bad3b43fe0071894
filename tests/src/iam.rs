//! An IAM policy evaluator for the template tests: does this policy set allow this principal this
//! action on this concrete resource, in this request context?
//!
//! It follows AWS's documented policy evaluation logic (IAM user guide, "Policy evaluation logic")
//! for one account: an explicit `Deny` in any policy wins; otherwise the request is allowed when an
//! identity policy or the resource's policy allows it; otherwise it is implicitly denied. A
//! resource policy whose principal is the account (`arn:aws:iam::<account>:root` or the bare id)
//! delegates to the identity policies. KMS is stricter: a key policy must allow the request, directly
//! or by that delegation (KMS developer guide, "Key policies"). Matching: actions case-insensitively
//! with `*`/`?`; resources case-sensitively with `*`/`?`; `Principal` (`*`, `AWS`, `Service`);
//! conditions with the operators the template uses (String*, Arn*, Bool; `IfExists`), a missing
//! context key failing a positive operator and passing a negated one. Anything else panics: a test
//! must never pass on an operator this evaluator does not understand.

use serde_json::Value;
use wildmatch::WildMatch;

/// Who makes the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    /// An IAM role (its ARN).
    Role(&'a str),
    /// An AWS service principal, e.g. `bedrock.amazonaws.com`.
    Service(&'a str),
}

/// One request to evaluate.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub principal: Principal<'a>,
    pub action: &'a str,
    pub resource: &'a str,
    /// Condition keys and their values, e.g. `("aws:SourceAccount", "123456789012")`.
    pub context: Vec<(&'a str, String)>,
}

/// The evaluation's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Denied by a `Deny` statement (its Sid).
    ExplicitDeny(String),
    /// Nothing allows it.
    ImplicitDeny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    /// Allowed to the account: the identity policies decide.
    Delegate,
    Deny,
    None,
}

fn list(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        None => Vec::new(),
        Some(other) => panic!("expected a string or a list, got {other}"),
    }
}

fn glob(pattern: &str, value: &str) -> bool {
    WildMatch::new(pattern).matches(value)
}

fn action_matches(patterns: &[&str], action: &str) -> bool {
    let action = action.to_ascii_lowercase();
    patterns
        .iter()
        .any(|p| glob(&p.to_ascii_lowercase(), &action))
}

/// `Some(delegated)` when the statement's principal covers the request's.
fn principal_matches(principal: Option<&Value>, req: &Request, account: &str) -> Option<bool> {
    let Some(principal) = principal else {
        return Some(false); // identity policy: no Principal element
    };
    if principal == "*" {
        return Some(false);
    }
    let obj = principal
        .as_object()
        .unwrap_or_else(|| panic!("unsupported Principal {principal}"));
    for (kind, values) in obj {
        for value in list(Some(values)) {
            match (kind.as_str(), req.principal) {
                ("AWS", _) if value == "*" => return Some(false),
                ("AWS", _)
                    if value == account || value.ends_with(&format!(":iam::{account}:root")) =>
                {
                    if matches!(req.principal, Principal::Role(_)) {
                        return Some(true);
                    }
                }
                ("AWS", Principal::Role(role)) if value == role => return Some(false),
                ("Service", Principal::Service(service)) if value == service => return Some(false),
                ("AWS" | "Service", _) => {}
                (other, _) => panic!("unsupported principal type {other}"),
            }
        }
    }
    None
}

fn context_values<'a>(req: &'a Request, key: &str) -> Vec<&'a str> {
    req.context
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
        .collect()
}

fn condition_holds(condition: Option<&Value>, req: &Request) -> bool {
    let Some(condition) = condition else {
        return true;
    };
    let operators = condition.as_object().expect("Condition is an object");
    operators.iter().all(|(operator, keys)| {
        let (base, if_exists) = match operator.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (operator.as_str(), false),
        };
        let negated = base.contains("Not");
        let compare: fn(&str, &str) -> bool = match base {
            "StringEquals" | "StringNotEquals" | "ArnEquals" | "ArnNotEquals" => |p, v| p == v,
            "StringLike" | "StringNotLike" | "ArnLike" | "ArnNotLike" => glob,
            "Bool" => |p, v| p.eq_ignore_ascii_case(v),
            other => panic!("condition operator {other} is not supported by tests/src/iam.rs"),
        };
        keys.as_object()
            .expect("condition keys")
            .iter()
            .all(|(key, wanted)| {
                let wanted: Vec<String> = match wanted {
                    Value::Array(a) => a.iter().map(value_string).collect(),
                    v => vec![value_string(v)],
                };
                let actual = context_values(req, key);
                if actual.is_empty() {
                    return if_exists || negated;
                }
                let any = actual.iter().any(|a| wanted.iter().any(|w| compare(w, a)));
                any != negated
            })
    })
}

fn value_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn statements(policy: &Value) -> Vec<&Value> {
    match policy.get("Statement") {
        Some(Value::Array(s)) => s.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        other => panic!("policy without statements: {other:?}"),
    }
}

/// The effect of one policy on `req` (`resource_based`: it has `Principal` elements).
fn policy_effect(policy: &Value, req: &Request, account: &str, resource_based: bool) -> Effect {
    let mut effect = Effect::None;
    for s in statements(policy) {
        let actions_match = match (s.get("Action"), s.get("NotAction")) {
            (Some(a), None) => action_matches(&list(Some(a)), req.action),
            (None, Some(n)) => !action_matches(&list(Some(n)), req.action),
            _ => panic!("statement needs Action or NotAction: {s}"),
        };
        let resource_matches = match (s.get("Resource"), s.get("NotResource")) {
            (Some(r), None) => list(Some(r)).iter().any(|p| glob(p, req.resource)),
            (None, Some(n)) => !list(Some(n)).iter().any(|p| glob(p, req.resource)),
            (None, None) if resource_based => true, // trust policies
            _ => panic!("statement needs Resource or NotResource: {s}"),
        };
        if !(actions_match && resource_matches && condition_holds(s.get("Condition"), req)) {
            continue;
        }
        let delegated = if resource_based {
            match principal_matches(s.get("Principal"), req, account) {
                Some(d) => d,
                None => continue,
            }
        } else {
            false
        };
        match s.get("Effect").and_then(Value::as_str) {
            Some("Deny") => return Effect::Deny,
            Some("Allow") if delegated => {
                if effect == Effect::None {
                    effect = Effect::Delegate
                }
            }
            Some("Allow") => effect = Effect::Allow,
            other => panic!("unsupported Effect {other:?}"),
        }
    }
    effect
}

fn sid_of_deny(policies: &[&Value], req: &Request, account: &str, resource_based: bool) -> String {
    for p in policies {
        for s in statements(p) {
            if s.get("Effect").and_then(Value::as_str) == Some("Deny")
                && policy_effect(
                    &serde_json::json!({"Statement": [s]}),
                    req,
                    account,
                    resource_based,
                ) == Effect::Deny
            {
                return s
                    .get("Sid")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
            }
        }
    }
    String::new()
}

/// Evaluate a request in `account` against the principal's identity policies and, when the
/// resource has one, its resource policy. `kms` makes the resource policy (the key policy) required.
pub fn evaluate(
    identity: &[&Value],
    resource_policy: Option<&Value>,
    req: &Request,
    account: &str,
    kms: bool,
) -> Decision {
    let identity_effects: Vec<Effect> = identity
        .iter()
        .map(|p| policy_effect(p, req, account, false))
        .collect();
    let resource_effect = resource_policy
        .map(|p| policy_effect(p, req, account, true))
        .unwrap_or(Effect::None);
    if identity_effects.contains(&Effect::Deny) {
        return Decision::ExplicitDeny(sid_of_deny(identity, req, account, false));
    }
    if resource_effect == Effect::Deny {
        let policies: Vec<&Value> = resource_policy.into_iter().collect();
        return Decision::ExplicitDeny(sid_of_deny(&policies, req, account, true));
    }
    let identity_allows = identity_effects.contains(&Effect::Allow);
    let allowed = match resource_effect {
        Effect::Allow => true,
        Effect::Delegate => identity_allows,
        _ => !kms && identity_allows,
    };
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// A request across accounts (IAM user guide, "Cross-account policy evaluation logic"): the
/// principal's identity policies, in its own account, and the resource's policy, naming the
/// principal, must both allow it; an explicit deny in either wins.
pub fn evaluate_cross_account(
    identity: &[&Value],
    resource_policy: &Value,
    req: &Request,
    principal_account: &str,
    resource_account: &str,
) -> Decision {
    let own = evaluate(identity, None, req, principal_account, false);
    let resource = policy_effect(resource_policy, req, resource_account, true);
    if resource == Effect::Deny {
        return Decision::ExplicitDeny(sid_of_deny(
            &[resource_policy],
            req,
            resource_account,
            true,
        ));
    }
    match (own, resource) {
        (Decision::Allow, Effect::Allow) => Decision::Allow,
        (Decision::Allow, _) => Decision::ImplicitDeny,
        (other, _) => other,
    }
}

/// Whether IAM evaluates the operation's action on `*` (it takes no resource type, or its
/// resources' ARNs cannot be known when deploying): from the operation's own declaration, which
/// `least_privilege.rs` checks against AWS's Service Authorization Reference.
pub fn on_any_resource(op: &remediation::aws::Operation) -> bool {
    matches!(
        op.resource,
        remediation::aws::IamResource::None | remediation::aws::IamResource::Unknowable(_)
    )
}

/// An operation's declared ARN pattern where it acts (`{partition}`, `{region}`, `{account}`
/// filled in), if it declares one.
pub fn declared_arn(
    op: &remediation::aws::Operation,
    account: &str,
    region: &str,
) -> Option<String> {
    match op.resource {
        remediation::aws::IamResource::Arn(pattern) => Some(fill(pattern, account, region)),
        _ => None,
    }
}

/// An ARN pattern of a declaration with `{partition}`, `{region}`, `{account}` filled in.
pub fn fill(pattern: &str, account: &str, region: &str) -> String {
    pattern
        .replace("{partition}", "aws")
        .replace("{region}", region)
        .replace("{account}", account)
}

/// Whether `arn` is one of the resources `pattern` (IAM's `*` and `?` wildcards) names.
pub fn names(pattern: &str, arn: &str) -> bool {
    glob(pattern, arn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ACCOUNT: &str = "123456789012";
    const ROLE: &str = "arn:aws:iam::123456789012:role/fn";

    fn req<'a>(action: &'a str, resource: &'a str) -> Request<'a> {
        Request {
            principal: Principal::Role(ROLE),
            action,
            resource,
            context: vec![],
        }
    }

    #[test]
    fn wildcards_and_implicit_deny() {
        let p = json!({"Statement": [{"Effect": "Allow", "Action": "s3:Get*",
            "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:g:*"}]});
        let stream = "arn:aws:logs:us-east-1:123456789012:log-group:g:log-stream:s";
        assert_eq!(
            evaluate(&[&p], None, &req("S3:GetObject", stream), ACCOUNT, false),
            Decision::Allow
        );
        assert_eq!(
            evaluate(&[&p], None, &req("s3:PutObject", stream), ACCOUNT, false),
            Decision::ImplicitDeny
        );
        // The defect this evaluator exists for: a GetAtt Arn (":*") with ":log-stream:*" appended.
        let wrong = json!({"Statement": [{"Effect": "Allow", "Action": "logs:PutLogEvents",
            "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:g:*:log-stream:*"}]});
        assert_eq!(
            evaluate(
                &[&wrong],
                None,
                &req("logs:PutLogEvents", stream),
                ACCOUNT,
                false
            ),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn conditions_and_explicit_deny() {
        let p = json!({"Statement": [
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
             "Condition": {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}},
            {"Sid": "TlsOnly", "Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]});
        let mut r = req("iam:PassRole", "arn:aws:iam::123456789012:role/x");
        assert_eq!(
            evaluate(&[&p], None, &r, ACCOUNT, false),
            Decision::ImplicitDeny,
            "missing key"
        );
        r.context = vec![("iam:PassedToService", "bedrock.amazonaws.com".into())];
        assert_eq!(evaluate(&[&p], None, &r, ACCOUNT, false), Decision::Allow);
        r.context.push(("aws:SecureTransport", "false".into()));
        assert_eq!(
            evaluate(&[&p], None, &r, ACCOUNT, false),
            Decision::ExplicitDeny("TlsOnly".into())
        );
    }

    #[test]
    fn key_policies_must_allow() {
        let identity =
            json!({"Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]});
        let only_service = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "kms:Decrypt", "Resource": "*"}]});
        let delegating = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "kms:*", "Resource": "*"}]});
        let key = "arn:aws:kms:us-east-1:123456789012:key/k";
        let r = req("kms:Decrypt", key);
        assert_eq!(
            evaluate(&[&identity], Some(&only_service), &r, ACCOUNT, true),
            Decision::ImplicitDeny
        );
        assert_eq!(
            evaluate(&[&identity], Some(&delegating), &r, ACCOUNT, true),
            Decision::Allow
        );
        assert_eq!(
            evaluate(&[], Some(&delegating), &r, ACCOUNT, true),
            Decision::ImplicitDeny
        );
        let cw = Request {
            principal: Principal::Service("cloudwatch.amazonaws.com"),
            ..r
        };
        assert_eq!(
            evaluate(&[], Some(&only_service), &cw, ACCOUNT, true),
            Decision::Allow
        );
    }
}
