//! SQS records → a hub's sweep jobs ([`SweepJob`] bodies), each with its account, region and
//! control. A record from another source is not a sweep job: the event is refused. A body that is
//! not one, or names a control this function does not have, is that message's error (the rest of
//! the batch still runs).

use std::collections::HashMap;

use aws_lambda_events::sqs::SqsEvent;
use serde_json::Value;

use crate::control::ControlSpec;
use crate::error::IntakeError;
use crate::event::decode;
use crate::event::sweep::SweepJob;
use crate::resource::Place;

/// One message of a sweep queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub message_id: String,
    /// Its FIFO message group (one per account).
    pub group: String,
    /// Where to sweep, and which control; or why the message is not a job of this function.
    pub work: Result<(Place, &'static str), IntakeError>,
}

pub(super) fn jobs(event: &Value, specs: &[&'static ControlSpec]) -> Result<Vec<Job>, IntakeError> {
    let sqs: SqsEvent = decode(event, "SQS event")?;
    if let Some(other) = sqs
        .records
        .iter()
        .find_map(|r| r.event_source.as_deref().filter(|s| *s != "aws:sqs"))
    {
        return Err(IntakeError::UnrecognisedShape(format!(
            "records from `{other}`: only SQS sweep jobs are accepted"
        )));
    }
    Ok(sqs
        .records
        .into_iter()
        .map(|m| Job {
            message_id: m.message_id.clone().unwrap_or_default(),
            group: group(&m.attributes),
            work: job(m.body.as_deref().unwrap_or_default(), specs),
        })
        .collect())
}

fn group(attributes: &HashMap<String, String>) -> String {
    attributes
        .get("MessageGroupId")
        .cloned()
        .unwrap_or_default()
}

fn job(body: &str, specs: &[&'static ControlSpec]) -> Result<(Place, &'static str), IntakeError> {
    let job: SweepJob = serde_json::from_str(body)
        .map_err(|e| IntakeError::Malformed(format!("not a sweep job: {e}")))?;
    let control = specs
        .iter()
        .map(|s| s.id)
        .find(|id| *id == job.control)
        .ok_or_else(|| IntakeError::UnknownControl {
            control: job.control.clone(),
            valid: specs.iter().map(|s| s.id).collect::<Vec<_>>().join(", "),
        })?;
    Ok((Place::new(job.account_id, job.region), control))
}
