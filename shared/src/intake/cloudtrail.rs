//! "AWS API Call via CloudTrail" → the resources the call named, for the controls that listen to it.

use serde_json::Value;

use super::{Intake, Router, Work};
use crate::error::IntakeError;
use crate::event::cloudtrail::{CloudTrailRecord, UserIdentity};
use crate::event::decode;
use crate::outcome::Trigger;
use crate::resource::role_of;

impl Router<'_> {
    pub(super) fn cloudtrail(&self, detail: &Value) -> Result<Intake, IntakeError> {
        let record: CloudTrailRecord = decode(detail, "CloudTrail record in `detail`")?;
        let trigger = Trigger {
            source: "cloudtrail",
            name: record.event_name.clone(),
            principal: record.user_identity.as_ref().and_then(|u| u.arn.clone()),
            source_ip: record.source_ip_address.clone(),
        };
        if let Some(reason) = self.elsewhere(
            record.recipient_account_id.as_deref(),
            record.aws_region.as_deref(),
        ) {
            return Ok(self.intake(trigger, Work::Ignore(reason)));
        }
        if let Some(code) = &record.error_code {
            return Ok(self.intake(
                trigger,
                Work::Ignore(format!("the call failed ({code}): nothing changed")),
            ));
        }
        // The loop breaker: our own fix, recorded by CloudTrail, comes back as an event.
        let caller = record.user_identity.as_ref().and_then(UserIdentity::role);
        if caller.is_some() && caller == self.scope.own_role.as_deref().and_then(role_of) {
            return Ok(self.intake(
                trigger,
                Work::Ignore("caused by this function's own role: nothing to do".to_owned()),
            ));
        }
        let mut targets = Vec::new();
        for spec in self.specs {
            if spec.event_source == record.event_source
                && spec.cloudtrail_events.contains(&record.event_name.as_str())
            {
                for id in (spec.cloudtrail_targets)(&record, &self.scope)? {
                    targets.extend(self.event_target(spec, &id)?);
                }
            }
        }
        let work = if targets.is_empty() {
            Work::Ignore(format!(
                "{} {} is not an event this function acts on",
                record.event_source, record.event_name
            ))
        } else {
            Work::Targets(targets)
        };
        Ok(self.intake(trigger, work))
    }
}
