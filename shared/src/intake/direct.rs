//! A direct or SSM Automation payload → one resource, run through the control the payload names
//! (`control`), else through every control of the function for that resource: those of
//! `resourceType`, else those whose identifiers the id fits (among several, those with the
//! payload's `action`) — one record each, as a CloudTrail event for the resource gets. A bare
//! account id names the account-level setting. An id that fits resources of different types is an
//! error that says what to add — never a guess by list order.

use serde_json::Value;

use super::{given, Intake, Router, Work};
use crate::control::ControlSpec;
use crate::error::IntakeError;
use crate::event::decode;
use crate::event::direct::DirectPayload;
use crate::outcome::Trigger;
use crate::resource::{is_account_id, Arn};

/// The longest approver name a payload may give (it is stored with the proposal).
const APPROVER_MAX: usize = 256;

impl Router<'_> {
    fn specs_for(&self, p: &DirectPayload) -> Result<Vec<&'static ControlSpec>, IntakeError> {
        let ids = || {
            self.specs
                .iter()
                .map(|s| s.id)
                .collect::<Vec<_>>()
                .join(", ")
        };
        // An empty `control` (an SSM document's unset parameter) names none.
        if let Some(control) = p.control.as_ref().filter(|c| !c.is_empty()) {
            let spec = self
                .specs
                .iter()
                .copied()
                .find(|s| s.id == control)
                .ok_or_else(|| IntakeError::UnknownControl {
                    control: control.clone(),
                    valid: ids(),
                })?;
            if let Some(t) = p
                .resource_type
                .as_ref()
                .filter(|t| *t != spec.resource_type)
            {
                return Err(IntakeError::UnsupportedResourceType(
                    t.clone(),
                    format!("{} handles {}", spec.id, spec.resource_type),
                ));
            }
            return Ok(vec![spec]);
        }
        let candidates: Vec<&'static ControlSpec> = match &p.resource_type {
            Some(t) => {
                let of_type: Vec<_> = self
                    .specs
                    .iter()
                    .copied()
                    .filter(|s| s.resource_type == t)
                    .collect();
                if of_type.is_empty() {
                    return Err(IntakeError::UnsupportedResourceType(
                        t.clone(),
                        self.handled_types(),
                    ));
                }
                of_type
            }
            None => {
                let mut reasons = Vec::new();
                let fits: Vec<_> = self
                    .specs
                    .iter()
                    .copied()
                    .filter(|s| match s.resource(&p.resource_id, &self.scope) {
                        Ok(_) => true,
                        Err(e) => {
                            reasons.push(format!("{}: {e}", s.resource_type));
                            false
                        }
                    })
                    .collect();
                if fits.is_empty() {
                    return Err(IntakeError::InvalidResourceId {
                        id: p.resource_id.clone(),
                        reason: format!("not a resource of this function ({})", reasons.join("; ")),
                    });
                }
                // A bare account id names the account-level setting (a bucket whose name is 12
                // digits needs its type or ARN).
                let account_level: Vec<_> = fits
                    .iter()
                    .copied()
                    .filter(|s| s.resource_type == "AWS::::Account")
                    .collect();
                if is_account_id(&p.resource_id) && account_level.len() == 1 {
                    account_level
                } else {
                    fits
                }
            }
        };
        // Several controls for the identifier: the payload's action may narrow them (none having
        // it: the action check names each one's actions).
        let candidates = match &p.action {
            Some(action) if candidates.len() > 1 => {
                let with: Vec<_> = candidates
                    .iter()
                    .copied()
                    .filter(|s| s.action(action).is_some())
                    .collect();
                if with.is_empty() {
                    candidates
                } else {
                    with
                }
            }
            _ => candidates,
        };
        // One resource with several controls (a key's rotation and deletion guard): all of them.
        match candidates.as_slice() {
            [first, rest @ ..] if rest.iter().all(|s| s.resource_type == first.resource_type) => {
                Ok(candidates)
            }
            many => Err(IntakeError::AmbiguousControl {
                id: p.resource_id.clone(),
                candidates: many
                    .iter()
                    .map(|s| format!("{} ({})", s.id, s.resource_type))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    pub(super) fn direct(&self, event: &Value) -> Result<Intake, IntakeError> {
        let payload: DirectPayload = decode(event, "direct payload")?;
        if let Some(account) = payload.account_id.as_ref().filter(|a| !a.is_empty()) {
            if !is_account_id(account) {
                return Err(IntakeError::Malformed(format!(
                    "accountId `{account}` is not a 12-digit account id"
                )));
            }
        }
        // Where the payload says the resource is, else where its ARN does, else the function's
        // own: the dispatcher refuses a place it cannot act in.
        let arn = Arn::parse(&payload.resource_id);
        let from_arn = |part: Option<&str>| part.filter(|s| !s.is_empty()).map(str::to_owned);
        let place = self.place(
            given(payload.account_id.as_ref())
                .or_else(|| from_arn(arn.as_ref().map(|a| a.account)))
                .as_ref(),
            given(payload.region.as_ref())
                .or_else(|| from_arn(arn.as_ref().map(|a| a.region)))
                .as_ref(),
        );
        let at = self.at(&place);
        at.direct_at(&payload)
    }

    fn direct_at(&self, payload: &DirectPayload) -> Result<Intake, IntakeError> {
        let mut targets = Vec::new();
        let mut names = Vec::new();
        for spec in self.specs_for(payload)? {
            let action = match &payload.action {
                None => spec.default_action(),
                Some(name) => spec
                    .action(name)
                    .ok_or_else(|| IntakeError::UnknownAction {
                        action: name.clone(),
                        control: spec.id.to_owned(),
                        valid: spec.actions.join(", "),
                    })?,
            };
            if !names.contains(&action) {
                names.push(action);
            }
            targets.push(self.target(spec, &payload.resource_id, action)?);
        }
        Ok(Intake {
            dry_run: payload.dry_run.unwrap_or(false),
            request: true,
            approved_by: match payload.approved_by.as_deref().map(str::trim) {
                Some(by) if by.chars().count() > APPROVER_MAX => {
                    return Err(IntakeError::Malformed(format!(
                        "approvedBy is longer than {APPROVER_MAX} characters"
                    )))
                }
                Some(by) if !by.is_empty() => Some(by.to_owned()),
                _ => None,
            },
            ..self.intake(
                Trigger {
                    source: "direct",
                    name: names.join(","),
                    ..Trigger::default()
                },
                Work::Targets(targets),
            )
        })
    }
}
