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
use crate::governance::{proposal_id, Current, Proposal, Proposals, Status};
use crate::outcome::Outcome;
use crate::policy::{Mode, Subject as PolicySubject};
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
    /// The remediation policy of this run; `None`: every control enforces, without limits.
    pub governed: Option<&'a Governed<'a>>,
}

/// The remediation policy in force for one run (one invocation in one account and region).
#[derive(Debug)]
pub struct Governed<'a> {
    pub current: &'a Current,
    pub proposals: Option<&'a Proposals>,
    /// The account's organizational units, the nearest first (`Err`: needed but unreadable).
    pub organizational_units: &'a Result<Vec<String>, String>,
    /// The run is in the function's own account (where the exemption tag is honoured unless the
    /// document says where).
    pub own_account: bool,
    /// A human approved the fixes of this run (who, how): proposals that still hold are applied.
    pub approved_by: Option<&'a str>,
    /// Writes made so far in this run, per control.
    pub writes: &'a WriteBudget,
    /// Seconds since the epoch.
    pub now: i64,
}

/// Writes per control in one run, against the document's limits.
#[derive(Debug, Default)]
pub struct WriteBudget(std::sync::Mutex<std::collections::HashMap<&'static str, u32>>);

impl WriteBudget {
    /// Take one write of `control` if fewer than `limit` were taken.
    fn take(&self, control: &'static str, limit: u32) -> bool {
        let Ok(mut taken) = self.0.lock() else {
            return false;
        };
        let n = taken.entry(control).or_default();
        if *n >= limit {
            return false;
        }
        *n += 1;
        true
    }
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
    /// The mode the policy chose, when a fix was due.
    pub mode: Option<Mode>,
    /// Held back by a blast-radius limit.
    pub limited: bool,
    /// Nothing new to announce (a proposal already announced, still waiting).
    pub quiet: bool,
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
            mode: None,
            limited: false,
            quiet: false,
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
    let spec = control.spec();
    let mut expired_exception = None;
    if let Some(g) = request.governed {
        match excepted(g, spec.id, request, &request.resource.arn) {
            Err(exempt) => return *exempt,
            Ok(note) => expired_exception = note,
        }
        if let Some(off) = off_without_a_call(g, spec.id, request) {
            return off;
        }
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
    if let (Some(g), Some(canonical)) = (request.governed, &inspected.canonical) {
        match excepted(g, spec.id, request, &canonical.arn) {
            Err(exempt) => {
                return Evaluation {
                    resource: inspected.canonical.clone(),
                    before: inspected.before.clone(),
                    ..*exempt
                }
            }
            Ok(note) => expired_exception = expired_exception.or(note),
        }
    }
    let (plan, actions, reason) = match control.decide(&before, request.action) {
        Decision::Remediate {
            plan,
            actions,
            reason,
        } => (plan, actions, reason),
        settled => return inspected.settled(settled, ""),
    };
    let evaluation = match held_back(control, request, &inspected, &before, &actions, &reason).await
    {
        Err(held) => held,
        Ok(mode) => match control.apply(request.resource, &plan, request.scope).await {
            Err(e) => Evaluation {
                mode,
                ..refused(control, request, &inspected, e, &reason).await
            },
            Ok(()) => {
                let fixed = verified(
                    control, request, &inspected, &before, &plan, actions, reason,
                )
                .await;
                Evaluation {
                    mode,
                    ..counted(control, request, fixed).await
                }
            }
        },
    };
    match expired_exception {
        Some(note) => Evaluation {
            detail: format!("{}; {note}", evaluation.detail),
            ..evaluation
        },
        None => evaluation,
    }
}

/// An active exception of the policy document covering `arn`: `Err(exempt)`; an expired one:
/// `Ok(Some(note))`, for the record (it no longer applies, and that is reported).
fn excepted(
    g: &Governed<'_>,
    control: &str,
    request: &Request<'_>,
    arn: &str,
) -> Result<Option<String>, Box<Evaluation>> {
    match g
        .current
        .policy
        .exception(control, &request.scope.account, arn, g.now)
    {
        None => Ok(None),
        Some((i, e, false)) => Err(Box::new(Evaluation::new(
            Outcome::Exempt,
            format!(
                "exception {i} of the remediation policy: {} (owner {}, until {})",
                e.reason, e.owner, e.expires
            ),
        ))),
        Some((i, e, true)) => Ok(Some(format!(
            "exception {i} of the remediation policy ({}, owner {}) expired at {} and no longer applies",
            e.reason, e.owner, e.expires
        ))),
    }
}

/// The policy's subject for this request (`tags`: the resource's, when read).
fn subject<'a>(
    g: &'a Governed<'_>,
    control: &'a str,
    request: &'a Request<'_>,
    tags: &'a std::collections::BTreeMap<String, String>,
) -> PolicySubject<'a> {
    PolicySubject {
        control,
        account: &request.scope.account,
        organizational_units: g.organizational_units.as_deref().unwrap_or(&[]),
        region: &request.scope.region,
        tags,
    }
}

/// `off` decided without any call: when no rule names tags (so the resource's own cannot change
/// the mode) and the organizational units are known.
fn off_without_a_call(
    g: &Governed<'_>,
    control: &str,
    request: &Request<'_>,
) -> Option<Evaluation> {
    let policy = &g.current.policy;
    if policy.reads_tags() || g.organizational_units.is_err() {
        return None;
    }
    let none = Default::default();
    let chosen = policy.mode(&subject(g, control, request, &none));
    (chosen.mode == Mode::Off).then(|| Evaluation {
        mode: Some(Mode::Off),
        ..Evaluation::new(
            Outcome::Off,
            format!("off by the remediation policy ({})", rule_name(chosen.rule)),
        )
    })
}

fn rule_name(rule: Option<usize>) -> String {
    match rule {
        Some(i) => format!("rule {i}"),
        None => "its default mode".to_owned(),
    }
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
/// resource about to change, where the remediation policy honours it; unreadable tags fail closed
/// — never change what might be exempt), dry run, the remediation policy's mode and limits
/// ([`governed`]), and a resource others keep undoing when `KEEP_FIXING_CONTESTED=false`.
/// `Ok(mode)`: write (in that mode, when governed); `Err`: the record instead.
async fn held_back<C: Control>(
    control: &C,
    request: &Request<'_>,
    inspected: &Inspected,
    before: &C::State,
    actions: &[&'static str],
    reason: &str,
) -> Result<Option<Mode>, Evaluation> {
    let g = request.governed;
    let tag_honoured = g.is_none_or(|g| {
        g.current.policy.honours_exemption_tag(
            &request.scope.account,
            g.organizational_units.as_deref().unwrap_or(&[]),
            g.own_account,
        )
    });
    // The resource's tags, read once: for the exemption tag and for rules that name tags.
    let wants_tags = (request.exempt_tag.is_some() && tag_honoured)
        || g.is_some_and(|g| g.current.policy.reads_tags());
    let tags = if wants_tags {
        match control.tags(request.resource, before).await {
            Ok(tags) => tags.unwrap_or_default(),
            Err(e) => {
                let what = if request.exempt_tag.is_some() && tag_honoured {
                    "check EXEMPT_TAG"
                } else {
                    "read the tags the remediation policy's rules name"
                };
                return Err(
                    inspected.outcome(Outcome::Failed, format!("cannot {what}, not changed: {e}"))
                );
            }
        }
    } else {
        Vec::new()
    };
    if let Some(tag) = request.exempt_tag.filter(|_| tag_honoured) {
        if tag.matches(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            return Err(inspected.outcome(
                Outcome::Exempt,
                format!("exempt by tag {tag} (EXEMPT_TAG); would fix: {reason}"),
            ));
        }
    }
    if request.dry_run {
        return Err(Evaluation {
            actions: actions.to_vec(),
            ..inspected.outcome(
                Outcome::WouldRemediate,
                format!("dry run: would fix: {reason}"),
            )
        });
    }
    let mode = match g {
        Some(g) => Some(governed(control, request, g, inspected, &tags, actions, reason).await?),
        None => None,
    };
    let Some(tracker) = request.contested.filter(|t| !t.policy.keep_fixing) else {
        return Ok(mode);
    };
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
        Ok(fixes) if tracker.is_contested(fixes) => Err(Evaluation {
            contested: true,
            mode,
            ..inspected.outcome(
                Outcome::Failed,
                format!(
                    "contested: fixed {fixes} times in the last {} minutes and undone each time; \
                     KEEP_FIXING_CONTESTED=false leaves it for a human ({reason})",
                    tracker.policy.window_secs / 60
                ),
            )
        }),
        Ok(_) => Ok(mode),
        // Unknown: fix it (the safer side for a security control), and say so.
        Err(e) => {
            tracing::warn!(error = %e, resource = %arn, "contested count unavailable; fixing");
            Ok(mode)
        }
    }
}

/// The policy's mode for a resource about to change, then its blast-radius limit, then (in
/// `approve` mode with a human's approval) the proposal. `Ok(mode)`: write.
async fn governed<C: Control>(
    control: &C,
    request: &Request<'_>,
    g: &Governed<'_>,
    inspected: &Inspected,
    tags: &[(String, String)],
    actions: &[&'static str],
    reason: &str,
) -> Result<Mode, Evaluation> {
    let spec = control.spec();
    let held = |outcome: Outcome, mode: Mode, detail: String| Evaluation {
        actions: actions.to_vec(),
        mode: Some(mode),
        ..inspected.outcome(outcome, detail)
    };
    if let Err(why) = g.organizational_units {
        return Err(held(
            Outcome::WouldRemediate,
            Mode::Notify,
            format!(
                "the account's organizational units are unknown ({why}), so its mode is too: \
                 only notified; would fix: {reason}"
            ),
        ));
    }
    let tags: std::collections::BTreeMap<String, String> = tags.iter().cloned().collect();
    let chosen = g.current.policy.mode(&subject(g, spec.id, request, &tags));
    let by = rule_name(chosen.rule);
    match chosen.mode {
        Mode::Off => {
            return Err(held(
                Outcome::Off,
                Mode::Off,
                format!("off by the remediation policy ({by}); would fix: {reason}"),
            ))
        }
        Mode::Notify => {
            return Err(held(
                Outcome::WouldRemediate,
                Mode::Notify,
                format!("notify by the remediation policy ({by}): would fix: {reason}"),
            ))
        }
        // Not approved: proposed (or still waiting), no write.
        Mode::Approve if g.approved_by.is_none() => {
            return Err(approve_held(control, request, g, inspected, actions, reason).await)
        }
        Mode::Approve | Mode::Enforce => {}
    }
    // An approval takes its write from the limit only when its proposal holds (inside).
    if chosen.mode == Mode::Approve {
        return match approval(control, request, g, inspected, actions, reason).await {
            Some(held) => Err(Evaluation {
                mode: held.mode.or(Some(Mode::Approve)),
                ..held
            }),
            None => Ok(Mode::Approve),
        };
    }
    match limited(control, g, inspected, actions, reason) {
        Some(held) => Err(held),
        None => Ok(chosen.mode),
    }
}

/// Past the control's blast-radius limit in this run: the record of a fix only notified.
/// `None`: one write taken from the limit.
fn limited<C: Control>(
    control: &C,
    g: &Governed<'_>,
    inspected: &Inspected,
    actions: &[&'static str],
    reason: &str,
) -> Option<Evaluation> {
    let id = control.spec().id;
    let limit = g.current.policy.limits.writes(id);
    if g.writes.take(id, limit) {
        return None;
    }
    Some(Evaluation {
        limited: true,
        actions: actions.to_vec(),
        mode: Some(Mode::Notify),
        ..inspected.outcome(
            Outcome::WouldRemediate,
            format!(
                "blast-radius limit: {limit} writes of {id} in one invocation reached, so only \
                 notified; would fix: {reason}"
            ),
        )
    })
}

/// A proposal (new, or one still waiting), recorded in `approve` mode.
async fn approve_held<C: Control>(
    control: &C,
    request: &Request<'_>,
    g: &Governed<'_>,
    inspected: &Inspected,
    actions: &[&'static str],
    reason: &str,
) -> Evaluation {
    let held = approval(control, request, g, inspected, actions, reason)
        .await
        .unwrap_or_else(|| inspected.outcome(Outcome::Failed, "no proposal recorded".to_owned()));
    Evaluation {
        mode: Some(Mode::Approve),
        ..held
    }
}

/// `approve`: a fix a human approved (this run's `approved_by`) is applied when its proposal is
/// still pending, unexpired, and the resource is in the state that was approved (`None`: write).
/// Anything else proposes the fix (again), recorded as `pending` with why.
async fn approval<C: Control>(
    control: &C,
    request: &Request<'_>,
    g: &Governed<'_>,
    inspected: &Inspected,
    actions: &[&'static str],
    reason: &str,
) -> Option<Evaluation> {
    let spec = control.spec();
    let resource = inspected.canonical.as_ref().unwrap_or(request.resource);
    let failed = |detail: String| Some(inspected.outcome(Outcome::Failed, detail));
    let Some(store) = g.proposals else {
        return failed(format!(
            "approve mode needs a proposals table (APPROVALS_TABLE); not changed: {reason}"
        ));
    };
    let id = proposal_id(
        spec.id,
        &request.scope.account,
        &request.scope.region,
        &resource.arn,
    );
    let before = inspected
        .before
        .as_ref()
        .map(|b| b.to_string())
        .unwrap_or_default();
    let existing = match store.get(&id).await {
        Ok(p) => p,
        Err(e) => return failed(format!("cannot read proposal {id}, not changed: {e}")),
    };
    let live = existing
        .as_ref()
        .filter(|p| p.status == Status::Pending && g.now < p.expires_at);
    let why_again = match (g.approved_by, &existing, live) {
        (Some(by), _, Some(p)) if p.before == before => {
            // Held back by the limit, the proposal stays pending for the next run.
            if let Some(held) = limited(control, g, inspected, actions, reason) {
                return Some(Evaluation {
                    detail: format!("approved, but {}", held.detail),
                    ..held
                });
            }
            let approved = Proposal {
                status: Status::Approved,
                approved_by: Some(by.to_owned()),
                ..p.clone()
            };
            return match store.approve(&approved).await {
                Ok(true) => None,
                Ok(false) => Some(inspected.outcome(
                    Outcome::NotApplicable,
                    format!("proposal {id} was decided by another approval at the same time"),
                )),
                Err(e) => failed(format!(
                    "cannot record the approval of {id}, not changed: {e}"
                )),
            };
        }
        (Some(_), _, Some(_)) => {
            let superseded = Proposal {
                status: Status::Superseded,
                ..existing.clone()?
            };
            let _ = store.put(&superseded).await;
            "the resource changed since it was proposed, so the approval was not applied; "
                .to_owned()
        }
        // A pending proposal past its expiry, found by an approval or by the next event or
        // sweep: recorded as expired, and proposed again.
        (_, Some(p), None) if p.status == Status::Pending => {
            let expired = Proposal {
                status: Status::Expired,
                ..p.clone()
            };
            let _ = store.put(&expired).await;
            format!(
                "proposal {id} expired at {} without approval; ",
                crate::governance::rfc3339(p.expires_at)
            )
        }
        (Some(_), _, None) => "nothing pending was proposed for it; ".to_owned(),
        (None, _, Some(p)) if p.before == before => {
            return Some(Evaluation {
                actions: actions.to_vec(),
                quiet: true,
                ..inspected.outcome(
                    Outcome::Pending,
                    format!(
                        "waiting for approval: proposal {id} (expires {}): {reason}",
                        crate::governance::rfc3339(p.expires_at)
                    ),
                )
            });
        }
        (None, _, _) => String::new(),
    };
    let expires_at = g.now + i64::from(g.current.policy.approval.expires_after_hours) * 3600;
    let proposal = Proposal {
        id: id.clone(),
        control: spec.id.to_owned(),
        account: request.scope.account.clone(),
        region: request.scope.region.clone(),
        resource: resource.arn.clone(),
        resource_type: resource.resource_type.to_owned(),
        action: request.action.to_owned(),
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        reason: reason.to_owned(),
        before,
        status: Status::Pending,
        created_at: g.now,
        expires_at,
        approved_by: None,
    };
    if let Err(e) = store.put(&proposal).await {
        return failed(format!("cannot record proposal {id}, not changed: {e}"));
    }
    Some(Evaluation {
        actions: actions.to_vec(),
        ..inspected.outcome(
            Outcome::Pending,
            format!(
                "{why_again}proposed as {id}, waiting for approval until {}: {reason}",
                crate::governance::rfc3339(expires_at)
            ),
        )
    })
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
        mode: None,
        limited: false,
        quiet: false,
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
