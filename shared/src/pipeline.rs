//! The driver of one control on one resource: inspect → decide → apply → verify, and the one
//! place for per-resource policy (exemptions by name and by canonical identity, the exemption tag,
//! dry run, contested resources). Dry run stops before apply; every write is followed by a read,
//! and the outcome is `failed` unless that read verifies the change. Also [`DynControl`]: a
//! control with its types erased, so one function can host several.

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
    /// AWS Config reports the resource deleted or out of its rule's scope: not applicable, no call.
    pub left_scope: bool,
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
    /// Contested: fixed again and again in the window (and, with `KEEP_FIXING_CONTESTED=false`,
    /// left alone for a human).
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

/// Run one resource through the control — every step named below, in this order, for every
/// control: a resource AWS Config says left its rule's scope (not applicable, no call), the
/// per-resource policy that needs no call ([`exempt_by_name`]), **inspect**, the
/// policy on what inspection revealed ([`Inspected::exempt_as`]), **decide**, the policy before a
/// write ([`held_back`]: the exemption tag, dry run, contested resources), **apply** (a refusal
/// judged by [`refused`]) and **verify** ([`verified`]).
pub async fn evaluate<C: Control>(control: &C, request: &Request<'_>) -> Evaluation {
    if request.left_scope {
        return Evaluation::new(
            Outcome::NotApplicable,
            "AWS Config reports the resource deleted or out of scope",
        );
    }
    if let Some(exempt) = exempt_by_name(request.exemptions, &request.resource.arn) {
        return exempt;
    }
    let before = match control
        .inspect(request.resource, request.action, request.scope)
        .await
    {
        Ok(Some(state)) => state,
        Ok(None) => return Evaluation::new(Outcome::Gone, "the resource does not exist"),
        Err(e) => return Evaluation::from_error(&e, ""),
    };
    let inspected = Inspected {
        canonical: control.canonical(request.resource, &before),
        before: snapshot(&before),
    };
    if let Some(exempt) = inspected.exempt_as(request.exemptions) {
        return exempt;
    }
    let (plan, actions, reason) = match control.decide(&before, request.action) {
        Decision::Remediate {
            plan,
            actions,
            reason,
        } => (plan, actions, reason),
        settled => return inspected.settled(settled, ""),
    };
    if let Some(held) = held_back(control, request, &inspected, &before, &actions, &reason).await {
        return held;
    }
    if let Err(e) = control.apply(request.resource, &plan, request.scope).await {
        return refused(control, request, &inspected, e, &reason).await;
    }
    let fixed = verified(
        control, request, &inspected, &before, &plan, actions, reason,
    )
    .await;
    counted(control, request, fixed).await
}

/// A verified fix is counted; one fixed more often than the threshold in the window is marked
/// contested (something keeps undoing it: the record, the log and the notification say so).
async fn counted<C: Control>(
    control: &C,
    request: &Request<'_>,
    mut evaluation: Evaluation,
) -> Evaluation {
    let Some(tracker) = request.contested else {
        return evaluation;
    };
    if evaluation.outcome != Outcome::Remediated {
        return evaluation;
    }
    let arn = evaluation
        .resource
        .as_ref()
        .unwrap_or(request.resource)
        .arn
        .clone();
    let subject = Subject {
        control: control.spec().id,
        account: &request.scope.account,
        region: &request.scope.region,
        resource: &arn,
    };
    match tracker.record_fix(subject).await {
        Ok(fixes) if tracker.is_contested(fixes) => {
            evaluation.contested = true;
            evaluation.detail = format!(
                "{}; contested: fixed {fixes} times in the last {} minutes",
                evaluation.detail,
                tracker.policy.window_secs / 60
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, resource = %arn, "could not count the fix"),
    }
    evaluation
}

/// `EXEMPT_RESOURCES` naming the resource as the event did: exempt, before any call.
fn exempt_by_name(exemptions: &Exemptions, arn: &str) -> Option<Evaluation> {
    exemptions.matching(arn).map(|pattern| {
        Evaluation::new(
            Outcome::Exempt,
            format!("exempt by EXEMPT_RESOURCES pattern {pattern}"),
        )
    })
}

/// What the first read established: the resource's canonical identity (when it was named
/// indirectly, e.g. a key by an alias) and its state before any change, for the record.
struct Inspected {
    canonical: Option<Resource>,
    before: Option<serde_json::Value>,
}

impl Inspected {
    /// An outcome with no write: the canonical identity and the state before.
    fn outcome(&self, outcome: Outcome, detail: String) -> Evaluation {
        Evaluation {
            resource: self.canonical.clone(),
            before: self.before.clone(),
            ..Evaluation::new(outcome, detail)
        }
    }

    /// Named indirectly (an alias), the resource is checked against the exemptions once more.
    fn exempt_as(&self, exemptions: &Exemptions) -> Option<Evaluation> {
        let pattern = self
            .canonical
            .as_ref()
            .and_then(|c| exemptions.matching(&c.arn))?;
        Some(self.outcome(
            Outcome::Exempt,
            format!("exempt by EXEMPT_RESOURCES pattern {pattern}"),
        ))
    }

    /// A decision that needs no write, as its outcome (`prefix` before its text).
    fn settled<P>(&self, decision: Decision<P>, prefix: &str) -> Evaluation {
        let (outcome, detail) = match decision {
            Decision::Compliant(d) => (Outcome::Compliant, d),
            Decision::NotApplicable(d) => (Outcome::NotApplicable, d),
            Decision::Deferred(d) => (Outcome::Deferred, d),
            Decision::Unsafe(d) => (Outcome::Failed, format!("not changed: {d}")),
            Decision::Remediate { reason, .. } => (Outcome::Failed, reason),
        };
        self.outcome(outcome, format!("{prefix}{detail}"))
    }
}

/// The per-resource policy before a write, in order: the opt-in exemption tag (read only for a
/// resource about to change; unreadable tags fail closed — never change what might be exempt),
/// dry run, and a resource others keep undoing when `KEEP_FIXING_CONTESTED=false`. `None`: write.
async fn held_back<C: Control>(
    control: &C,
    request: &Request<'_>,
    inspected: &Inspected,
    before: &C::State,
    actions: &[&'static str],
    reason: &str,
) -> Option<Evaluation> {
    if let Some(tag) = request.exempt_tag {
        match control.tags(request.resource, before).await {
            Ok(Some(tags)) if tag.matches(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) => {
                return Some(inspected.outcome(
                    Outcome::Exempt,
                    format!("exempt by tag {tag} (EXEMPT_TAG); would fix: {reason}"),
                ));
            }
            Ok(_) => {}
            Err(e) => {
                return Some(inspected.outcome(
                    Outcome::Failed,
                    format!("cannot check EXEMPT_TAG, not changed: {e}"),
                ))
            }
        }
    }
    if request.dry_run {
        return Some(Evaluation {
            actions: actions.to_vec(),
            ..inspected.outcome(
                Outcome::WouldRemediate,
                format!("dry run: would fix: {reason}"),
            )
        });
    }
    let tracker = request.contested.filter(|t| !t.policy.keep_fixing)?;
    let arn = inspected
        .canonical
        .as_ref()
        .unwrap_or(request.resource)
        .arn
        .clone();
    let subject = Subject {
        control: control.spec().id,
        account: &request.scope.account,
        region: &request.scope.region,
        resource: &arn,
    };
    match tracker.fixes(subject).await {
        Ok(fixes) if tracker.is_contested(fixes) => Some(Evaluation {
            contested: true,
            ..inspected.outcome(
                Outcome::Failed,
                format!(
                    "contested: fixed {fixes} times in the last {} minutes and undone each time; \
                     KEEP_FIXING_CONTESTED=false leaves it for a human ({reason})",
                    tracker.policy.window_secs / 60
                ),
            )
        }),
        Ok(_) => None,
        // Unknown: fix it (the safer side for a security control), and say so.
        Err(e) => {
            tracing::warn!(error = %e, resource = %arn, "contested count unavailable; fixing");
            None
        }
    }
}

/// A write the service refused. Refused because of the resource's state, it may have changed
/// between our read and our write (a key scheduled for deletion meanwhile): judged again as it is
/// now, and recorded so instead of as a failure when it needs no fix.
async fn refused<C: Control>(
    control: &C,
    request: &Request<'_>,
    inspected: &Inspected,
    err: AwsError,
    reason: &str,
) -> Evaluation {
    if err.is_state_conflict() {
        if let Ok(Some(now)) = control
            .inspect(request.resource, request.action, request.scope)
            .await
        {
            let decision = control.decide(&now, request.action);
            if matches!(
                decision,
                Decision::Compliant(_) | Decision::NotApplicable(_) | Decision::Deferred(_)
            ) {
                let settled = inspected.settled(decision, "changed while being fixed: ");
                return Evaluation {
                    after: snapshot(&now),
                    detail: format!("{} (the write was refused: {err})", settled.detail),
                    ..settled
                };
            }
        }
    }
    Evaluation {
        resource: inspected.canonical.clone(),
        before: inspected.before.clone(),
        ..Evaluation::from_error(&err, &format!("{reason}; "))
    }
}

/// The write read back: `remediated` only when the control verifies it. A read right after a
/// write may still return the old state (KMS, S3 and IAM are eventually consistent): a mismatch is
/// read again, a bounded number of times ([`VERIFY_BACKOFF`]), before it is called failed.
async fn verified<C: Control>(
    control: &C,
    request: &Request<'_>,
    inspected: &Inspected,
    before: &C::State,
    plan: &C::Plan,
    actions: Vec<&'static str>,
    reason: String,
) -> Evaluation {
    let mut backoff = VERIFY_BACKOFF.iter();
    let (outcome, detail, after) = loop {
        let read = control
            .reinspect(request.resource, before, request.action, request.scope)
            .await;
        if let Ok(Some(after)) = &read {
            if control.verify(plan, after).is_err() {
                if let Some(wait) = backoff.next() {
                    tokio::time::sleep(*wait).await;
                    continue;
                }
            }
        }
        break match read {
            Ok(Some(after)) => match control.verify(plan, &after) {
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
        resource: inspected.canonical.clone(),
        outcome,
        actions,
        detail,
        before: inspected.before.clone(),
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
