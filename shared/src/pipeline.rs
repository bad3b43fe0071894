//! The driver of one control on one resource: inspect → decide → apply → verify. Dry run stops
//! before apply; every write is followed by a read, and the outcome is `failed` unless that read
//! verifies the change. Also [`DynControl`]: a control with its types erased, so one function can
//! host several.

use futures::future::BoxFuture;
use serde::Serialize;

use crate::aws::{AwsError, AwsErrorKind};
use crate::contested::{ContestedTracker, Subject};
use crate::control::{Control, ControlSpec, Decision};
use crate::exemption::{ExemptTag, Exemptions};
use crate::outcome::Outcome;
use crate::resource::{Resource, Scope};

/// Waits before reading a write back again when the first read still shows the old state
/// (bounded: at most four reads, 1.4 s in all; only a mismatch is read again).
pub const VERIFY_BACKOFF: [std::time::Duration; 3] = [
    std::time::Duration::from_millis(200),
    std::time::Duration::from_millis(400),
    std::time::Duration::from_millis(800),
];

/// One resource to run through a control.
#[derive(Debug)]
pub struct Request<'a> {
    pub resource: &'a Resource,
    pub action: &'a str,
    pub dry_run: bool,
    pub scope: &'a Scope,
    pub exemptions: &'a Exemptions,
    /// Contested-resource tracking, when configured.
    pub contested: Option<&'a ContestedTracker>,
    /// The opt-in exemption tag, when configured.
    pub exempt_tag: Option<&'a ExemptTag>,
}

/// The result of one resource's pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The resource's canonical identity, when inspection revealed a different one.
    pub resource: Option<Resource>,
    pub outcome: Outcome,
    pub actions: Vec<&'static str>,
    pub detail: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    /// Left alone because it is contested (`KEEP_FIXING_CONTESTED=false`).
    pub contested: bool,
}

impl Evaluation {
    pub fn new(outcome: Outcome, detail: impl Into<String>) -> Self {
        Self {
            resource: None,
            outcome,
            actions: Vec::new(),
            detail: detail.into(),
            before: None,
            after: None,
            contested: false,
        }
    }

    fn from_error(err: &AwsError, context: &str) -> Self {
        let outcome = match err.kind {
            AwsErrorKind::NotFound => Outcome::Gone,
            _ => Outcome::Failed,
        };
        Self::new(outcome, format!("{context}{err}"))
    }
}

fn snapshot<S: Serialize>(state: &S) -> Option<serde_json::Value> {
    serde_json::to_value(state).ok()
}

/// Run one resource through the control.
pub async fn evaluate<C: Control>(control: &C, request: &Request<'_>) -> Evaluation {
    let Request {
        resource,
        action,
        dry_run,
        scope,
        exemptions,
        contested,
        exempt_tag,
    } = *request;
    let before = match control.inspect(resource, action, scope).await {
        Ok(Some(state)) => state,
        Ok(None) => return Evaluation::new(Outcome::Gone, "the resource does not exist"),
        Err(e) => return Evaluation::from_error(&e, ""),
    };
    let canonical = control.canonical(resource, &before);
    let before_json = snapshot(&before);
    let settled = |outcome, detail: String| Evaluation {
        resource: canonical.clone(),
        before: before_json.clone(),
        ..Evaluation::new(outcome, detail)
    };
    // Named indirectly (an alias), the resource is checked against the exemptions once more.
    if let Some(pattern) = canonical.as_ref().and_then(|c| exemptions.matching(&c.arn)) {
        return settled(
            Outcome::Exempt,
            format!("exempt by EXEMPT_RESOURCES pattern {pattern}"),
        );
    }
    let (plan, actions, reason) = match control.decide(&before, action) {
        Decision::Remediate {
            plan,
            actions,
            reason,
        } => (plan, actions, reason),
        Decision::Compliant(d) => return settled(Outcome::Compliant, d),
        Decision::NotApplicable(d) => return settled(Outcome::NotApplicable, d),
        Decision::Deferred(d) => return settled(Outcome::Deferred, d),
        Decision::Unsafe(d) => return settled(Outcome::Failed, format!("not changed: {d}")),
    };
    // The opt-in exemption tag, read only for a resource about to change. Unreadable tags fail
    // closed: never change what might be exempt.
    if let Some(tag) = exempt_tag {
        match control.tags(resource, &before).await {
            Ok(Some(tags)) if tag.matches(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) => {
                return settled(
                    Outcome::Exempt,
                    format!("exempt by tag {tag} (EXEMPT_TAG); would fix: {reason}"),
                );
            }
            Ok(_) => {}
            Err(e) => {
                return settled(
                    Outcome::Failed,
                    format!("cannot check EXEMPT_TAG, not changed: {e}"),
                )
            }
        }
    }
    if dry_run {
        return Evaluation {
            resource: canonical,
            actions,
            before: before_json,
            ..Evaluation::new(
                Outcome::WouldRemediate,
                format!("dry run: would fix: {reason}"),
            )
        };
    }
    // A resource others keep undoing: left for a human when so configured.
    if let Some(tracker) = contested.filter(|t| !t.policy.keep_fixing) {
        let arn = canonical.as_ref().unwrap_or(resource).arn.clone();
        let subject = Subject {
            control: control.spec().id,
            account: &scope.account,
            region: &scope.region,
            resource: &arn,
        };
        match tracker.fixes(subject).await {
            Ok(fixes) if tracker.is_contested(fixes) => {
                return Evaluation {
                    resource: canonical,
                    before: before_json,
                    contested: true,
                    ..Evaluation::new(
                        Outcome::Failed,
                        format!(
                            "contested: fixed {fixes} times in the last {} minutes and undone each time; \
                             KEEP_FIXING_CONTESTED=false leaves it for a human ({reason})",
                            tracker.policy.window_secs / 60
                        ),
                    )
                };
            }
            Ok(_) => {}
            // Unknown: fix it (the safer side for a security control), and say so.
            Err(e) => {
                tracing::warn!(error = %e, resource = %arn, "contested count unavailable; fixing")
            }
        }
    }
    if let Err(e) = control.apply(resource, &plan, scope).await {
        // A service refusing the write because of the resource's state may mean it changed
        // between our read and our write (a key scheduled for deletion meanwhile): judge it again
        // as it is now, and record that instead of a failure when it needs no fix.
        if e.is_state_conflict() {
            if let Ok(Some(now)) = control.inspect(resource, action, scope).await {
                let settled_now = |outcome, d: String| Evaluation {
                    resource: canonical.clone(),
                    before: before_json.clone(),
                    after: snapshot(&now),
                    ..Evaluation::new(
                        outcome,
                        format!("changed while being fixed: {d} (the write was refused: {e})"),
                    )
                };
                match control.decide(&now, action) {
                    Decision::Compliant(d) => return settled_now(Outcome::Compliant, d),
                    Decision::NotApplicable(d) => return settled_now(Outcome::NotApplicable, d),
                    Decision::Deferred(d) => return settled_now(Outcome::Deferred, d),
                    Decision::Remediate { .. } | Decision::Unsafe(_) => {}
                }
            }
        }
        return Evaluation {
            resource: canonical,
            before: before_json,
            ..Evaluation::from_error(&e, &format!("{reason}; "))
        };
    }
    let mut backoff = VERIFY_BACKOFF.iter();
    let (outcome, detail, after) = loop {
        let read = control.reinspect(resource, &before, action, scope).await;
        // A read right after a write may still return the old state (KMS, S3 and IAM are
        // eventually consistent): read again, a bounded number of times, before calling it failed.
        if let Ok(Some(after)) = &read {
            if control.verify(&plan, after).is_err() {
                if let Some(wait) = backoff.next() {
                    tokio::time::sleep(*wait).await;
                    continue;
                }
            }
        }
        break match read {
            Ok(Some(after)) => match control.verify(&plan, &after) {
                Ok(()) => (
                    Outcome::Remediated,
                    format!("fixed: {reason}"),
                    snapshot(&after),
                ),
                Err(why) => (
                    Outcome::Failed,
                    format!(
                        "verification failed after {} ({} reads over {} ms): {why}",
                        actions.join(", "),
                        VERIFY_BACKOFF.len() + 1,
                        VERIFY_BACKOFF.iter().map(|d| d.as_millis()).sum::<u128>()
                    ),
                    snapshot(&after),
                ),
            },
            Ok(None) => (
                Outcome::Gone,
                "the resource disappeared during remediation".to_owned(),
                None,
            ),
            Err(e) => (
                Outcome::Failed,
                format!("verification read failed: {e}"),
                None,
            ),
        };
    };
    Evaluation {
        resource: canonical,
        outcome,
        actions,
        detail,
        before: before_json,
        after,
        contested: false,
    }
}

/// A control with its state and plan types erased, so one function can host several.
pub trait DynControl: Send + Sync {
    fn spec(&self) -> &'static ControlSpec;
    fn list<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, Result<Vec<Resource>, AwsError>>;
    /// Inspect → decide → (apply → verify) one resource.
    fn evaluate<'a>(&'a self, request: &'a Request<'a>) -> BoxFuture<'a, Evaluation>;
}

impl<C: Control> DynControl for C {
    fn spec(&self) -> &'static ControlSpec {
        Control::spec(self)
    }

    fn list<'a>(&'a self, scope: &'a Scope) -> BoxFuture<'a, Result<Vec<Resource>, AwsError>> {
        Box::pin(Control::list(self, scope))
    }

    fn evaluate<'a>(&'a self, request: &'a Request<'a>) -> BoxFuture<'a, Evaluation> {
        Box::pin(evaluate(self, request))
    }
}
