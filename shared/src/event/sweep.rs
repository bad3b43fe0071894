//! A sweep job: the body of one message of a fanned-out sweep (an SQS FIFO queue), every resource
//! of one control in one account and region.

use serde::{Deserialize, Serialize};

/// One message of a fanned-out sweep: every resource of one control in one account and region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SweepJob {
    pub account_id: String,
    pub region: String,
    pub control: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_camel_case_and_nothing_else() {
        let job = SweepJob {
            account_id: "222222222222".into(),
            region: "eu-west-1".into(),
            control: "c".into(),
        };
        let text = serde_json::to_string(&job).unwrap();
        assert_eq!(
            text,
            r#"{"accountId":"222222222222","region":"eu-west-1","control":"c"}"#
        );
        assert_eq!(serde_json::from_str::<SweepJob>(&text).unwrap(), job);
        assert!(serde_json::from_str::<SweepJob>(
            r#"{"accountId":"1","region":"r","control":"c","x":1}"#
        )
        .is_err());
    }
}
