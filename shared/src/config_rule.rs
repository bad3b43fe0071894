//! Answering AWS Config when it invokes a function as a custom rule: one evaluation per record,
//! sent with the invocation's result token.

use aws_sdk_config::types::{ComplianceType, Evaluation};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;

use crate::aws::{AwsError, IamResource, Operation};
use crate::intake::ConfigRuleInvocation;
use crate::outcome::{Outcome, OutcomeRecord};

/// The one call an engine makes itself.
pub const PUT_EVALUATIONS: Operation = Operation {
    service: "configservice",
    api: "PutEvaluations",
    permission: "config:PutEvaluations",
    resource: IamResource::None,
    implies: &[],
};

/// AWS Config accepts at most this many evaluations per call.
const BATCH: usize = 100;
/// And annotations of at most this many characters.
const ANNOTATION_MAX: usize = 256;

/// The compliance AWS Config should record for an outcome.
pub fn compliance(outcome: Outcome) -> ComplianceType {
    match outcome {
        Outcome::Compliant | Outcome::Remediated => ComplianceType::Compliant,
        Outcome::NotApplicable | Outcome::Gone | Outcome::Exempt | Outcome::Off => {
            ComplianceType::NotApplicable
        }
        Outcome::WouldRemediate | Outcome::Deferred | Outcome::Failed | Outcome::Pending => {
            ComplianceType::NonCompliant
        }
    }
}

fn annotation(r: &OutcomeRecord) -> String {
    let text = format!("{}: {}", r.outcome, r.detail);
    match text.char_indices().nth(ANNOTATION_MAX) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text,
    }
}

/// The evaluations for `records` (records without a Config identity are skipped).
pub fn evaluations(
    invocation: &ConfigRuleInvocation,
    records: &[OutcomeRecord],
) -> Result<Vec<Evaluation>, String> {
    let ordering = invocation
        .ordering_time
        .as_deref()
        .and_then(|t| DateTime::from_str(t, Format::DateTime).ok())
        .unwrap_or_else(|| DateTime::from(std::time::SystemTime::now()));
    records
        .iter()
        .filter(|r| !r.config_identity.1.is_empty())
        .map(|r| {
            Evaluation::builder()
                .compliance_resource_type(r.config_identity.0)
                .compliance_resource_id(&r.config_identity.1)
                .compliance_type(compliance(r.outcome))
                .annotation(annotation(r))
                .ordering_timestamp(ordering)
                .build()
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Send the evaluations for `records`.
pub async fn report(
    client: &aws_sdk_config::Client,
    invocation: &ConfigRuleInvocation,
    records: &[OutcomeRecord],
) -> Result<(), AwsError> {
    let evaluations = evaluations(invocation, records).map_err(|e| {
        AwsError::new(
            crate::aws::AwsErrorKind::Other,
            PUT_EVALUATIONS.permission,
            e,
        )
    })?;
    for batch in evaluations.chunks(BATCH) {
        let out = client
            .put_evaluations()
            .result_token(&invocation.result_token)
            .set_evaluations(Some(batch.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(PUT_EVALUATIONS.permission, e))?;
        if !out.failed_evaluations().is_empty() {
            return Err(AwsError::new(
                crate::aws::AwsErrorKind::Other,
                PUT_EVALUATIONS.permission,
                format!(
                    "{} evaluations were not accepted",
                    out.failed_evaluations().len()
                ),
            ));
        }
    }
    tracing::info!(rule = %invocation.rule_name, evaluations = evaluations.len(), "reported to AWS Config");
    Ok(())
}
