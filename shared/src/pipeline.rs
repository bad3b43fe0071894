//! The per-resource path: inspect → decide → apply → verify. Dry run stops before apply; every
//! write is followed by a read, and the outcome is `failed` unless that read verifies the change.

use serde::Serialize;

use crate::control::{Control, Decision};
use crate::error::{AwsError, AwsErrorKind};
use crate::outcome::Outcome;
use crate::resource::{Resource, Scope};

/// The result of one resource's pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub outcome: Outcome,
    pub actions: Vec<&'static str>,
    pub detail: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl Evaluation {
    pub fn new(outcome: Outcome, detail: impl Into<String>) -> Self {
        Self {
            outcome,
            actions: Vec::new(),
            detail: detail.into(),
            before: None,
            after: None,
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
pub async fn evaluate<C: Control>(
    control: &C,
    resource: &Resource,
    action: &str,
    dry_run: bool,
    scope: &Scope,
) -> Evaluation {
    let before = match control.inspect(resource, scope).await {
        Ok(Some(state)) => state,
        Ok(None) => return Evaluation::new(Outcome::Gone, "the resource does not exist"),
        Err(e) => return Evaluation::from_error(&e, ""),
    };
    let before_json = snapshot(&before);
    let settled = |outcome, detail: String| Evaluation {
        before: before_json.clone(),
        ..Evaluation::new(outcome, detail)
    };
    let (plan, actions, reason) = match control.decide(&before, action) {
        Decision::Remediate {
            plan,
            actions,
            reason,
        } => (plan, actions, reason),
        Decision::Compliant(d) => return settled(Outcome::Compliant, d),
        Decision::NotApplicable(d) => return settled(Outcome::NotApplicable, d),
        Decision::Deferred(d) => return settled(Outcome::Deferred, d),
    };
    if dry_run {
        return Evaluation {
            actions,
            before: before_json,
            ..Evaluation::new(
                Outcome::WouldRemediate,
                format!("dry run: would fix: {reason}"),
            )
        };
    }
    if let Err(e) = control.apply(resource, &plan, scope).await {
        return Evaluation {
            before: before_json,
            ..Evaluation::from_error(&e, &format!("{reason}; "))
        };
    }
    let (outcome, detail, after) = match control.inspect(resource, scope).await {
        Ok(Some(after)) => match control.verify(&plan, &after) {
            Ok(()) => (
                Outcome::Remediated,
                format!("fixed: {reason}"),
                snapshot(&after),
            ),
            Err(why) => (
                Outcome::Failed,
                format!("verification failed after {}: {why}", actions.join(", ")),
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
    Evaluation {
        outcome,
        actions,
        detail,
        before: before_json,
        after,
    }
}
