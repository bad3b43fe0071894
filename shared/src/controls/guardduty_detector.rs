//! GuardDuty detector: the region has an enabled detector with the features in
//! `GUARDDUTY_FEATURES` (default the guide's `CLOUD_TRAIL` and `S3_DATA_EVENTS`). Deleted →
//! `CreateDetector`; disabled → `UpdateDetector` to enable it; a feature turned off → on again.
//! An attacker who has turned off Bedrock invocation logging turns detection off next.
//!
//! The resource is the region's detector setting (one per account and region, as AWS Config's
//! `guardduty-enabled-centralized` and Security Hub's `GuardDuty.1` see it). `CLOUD_TRAIL`,
//! `DNS_LOGS` and `FLOW_LOGS` are foundational data sources: on whenever the detector is (GuardDuty
//! user guide, "Foundational data sources"), never sent in a request. A detector whose account is
//! managed by a GuardDuty administrator is reported, not fought: the administrator owns it.

use aws_sdk_guardduty::types::{
    DetectorFeature, DetectorFeatureConfiguration, DetectorStatus, FeatureStatus,
};
use serde::Serialize;

use crate::aws::{AwsError, IamResource, Implied, Operation};
use crate::control::{Control, ControlSpec, Decision};
use crate::env::{optional, Lookup};
use crate::error::{IntakeError, SettingsError};
use crate::event::cloudtrail::CloudTrailRecord;
use crate::resource::{account_setting, Resource, Scope};

pub const LIST: Operation = Operation {
    service: "guardduty",
    api: "ListDetectors",
    permission: "guardduty:ListDetectors",
    resource: IamResource::None,
    implies: &[],
};
pub const GET: Operation = Operation {
    service: "guardduty",
    api: "GetDetector",
    permission: "guardduty:GetDetector",
    resource: IamResource::Arn("arn:{partition}:guardduty:{region}:{account}:detector/*"),
    implies: &[],
};
pub const ADMINISTRATOR: Operation = Operation {
    service: "guardduty",
    api: "GetAdministratorAccount",
    permission: "guardduty:GetAdministratorAccount",
    resource: IamResource::None,
    implies: &[],
};
pub const CREATE: Operation = Operation {
    service: "guardduty",
    api: "CreateDetector",
    permission: "guardduty:CreateDetector",
    resource: IamResource::None,
    implies: &[Implied {
        permission: "iam:CreateServiceLinkedRole",
        resource: "arn:{partition}:iam::{account}:role/aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty",
        condition: ("iam:AWSServiceName", "guardduty.amazonaws.com"),
        why: "CreateDetector creates GuardDuty's service-linked role the first time (GuardDuty user guide, service-linked role permissions)",
    }],
};
pub const UPDATE: Operation = Operation {
    service: "guardduty",
    api: "UpdateDetector",
    permission: "guardduty:UpdateDetector",
    resource: IamResource::Arn("arn:{partition}:guardduty:{region}:{account}:detector/*"),
    implies: &[],
};

pub static SPEC: ControlSpec = ControlSpec {
    id: "guardduty-detector",
    resource_type: "AWS::::Account",
    asff_type: "AwsAccount",
    event_source: "guardduty.amazonaws.com",
    cloudtrail_events: &["DeleteDetector", "UpdateDetector"],
    state_change_events: &[],
    config_rules: &[],
    custom_config_rule: None,
    security_hub_controls: &["GuardDuty.1"],
    actions: &["remediate"],
    operations: &[LIST, GET, ADMINISTRATOR, CREATE, UPDATE],
    tag_operation: None,
    resource: parse_detector,
    cloudtrail_targets: detector_cloudtrail_targets,
};

/// Data sources GuardDuty runs whenever a detector is enabled; not settable features.
pub const FOUNDATIONAL: &[&str] = &["CLOUD_TRAIL", "DNS_LOGS", "FLOW_LOGS"];

/// Features `UpdateDetector`/`CreateDetector` accept (GuardDuty API reference, `DetectorFeature`).
pub const SETTABLE: &[&str] = &[
    "S3_DATA_EVENTS",
    "EKS_AUDIT_LOGS",
    "EBS_MALWARE_PROTECTION",
    "RDS_LOGIN_EVENTS",
    "EKS_RUNTIME_MONITORING",
    "LAMBDA_NETWORK_LOGS",
    "RUNTIME_MONITORING",
];

/// `GUARDDUTY_FEATURES`: what an enabled detector must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectorSettings {
    pub features: Vec<String>,
}

impl DetectorSettings {
    pub const DEFAULT: &'static str = "CLOUD_TRAIL,S3_DATA_EVENTS";

    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, SettingsError> {
        let value = optional(env, "GUARDDUTY_FEATURES").unwrap_or_else(|| Self::DEFAULT.to_owned());
        let mut features = Vec::new();
        for f in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            if !FOUNDATIONAL.contains(&f) && !SETTABLE.contains(&f) {
                return Err(SettingsError::new(
                    "GUARDDUTY_FEATURES",
                    f,
                    format!(
                        "expected GuardDuty features: {}",
                        FOUNDATIONAL
                            .iter()
                            .chain(SETTABLE)
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if !features.iter().any(|x| x == f) {
                features.push(f.to_owned());
            }
        }
        // GuardDuty refuses every CreateDetector/UpdateDetector naming both (API reference,
        // UpdateDetector: Runtime Monitoring already includes EKS): every fix would fail.
        let both = ["EKS_RUNTIME_MONITORING", "RUNTIME_MONITORING"];
        if both.iter().all(|b| features.iter().any(|f| f == b)) {
            return Err(SettingsError::new(
                "GUARDDUTY_FEATURES",
                &value,
                "EKS_RUNTIME_MONITORING and RUNTIME_MONITORING exclude each other (GuardDuty refuses \
                 any request naming both; RUNTIME_MONITORING already covers EKS): keep one",
            ));
        }
        Ok(Self { features })
    }

    /// The settable features among them (what a request names).
    fn settable(&self) -> Vec<&str> {
        self.features
            .iter()
            .map(String::as_str)
            .filter(|f| SETTABLE.contains(f))
            .collect()
    }
}

/// The region's detector as inspected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DetectorState {
    pub detector_id: Option<String>,
    pub enabled: bool,
    /// Settable features and their status (`ENABLED`/`DISABLED`).
    pub features: Vec<(String, String)>,
    /// The GuardDuty administrator managing this account (read only when something is wrong).
    pub administrator: Option<String>,
}

impl DetectorState {
    fn feature_on(&self, name: &str) -> bool {
        self.features
            .iter()
            .any(|(n, s)| n == name && s == FeatureStatus::Enabled.as_str())
    }
}

/// What a fix writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectorPlan {
    Create {
        features: Vec<String>,
    },
    Update {
        detector_id: String,
        enable: bool,
        features: Vec<String>,
    },
}

/// The control.
pub struct DetectorGuard {
    guardduty: aws_sdk_guardduty::Client,
    settings: DetectorSettings,
}

impl DetectorGuard {
    pub fn new(guardduty: aws_sdk_guardduty::Client, settings: DetectorSettings) -> Self {
        Self {
            guardduty,
            settings,
        }
    }

    fn missing(&self, state: &DetectorState) -> Vec<String> {
        self.settings
            .settable()
            .into_iter()
            .filter(|f| !state.feature_on(f))
            .map(str::to_owned)
            .collect()
    }

    fn requested(features: &[String]) -> Vec<DetectorFeatureConfiguration> {
        features
            .iter()
            .map(|f| {
                DetectorFeatureConfiguration::builder()
                    .name(DetectorFeature::from(f.as_str()))
                    .status(FeatureStatus::Enabled)
                    .build()
            })
            .collect()
    }
}

/// The region's detector setting: `arn:<partition>:guardduty:<region>:<account>:detector`.
fn detector_resource(scope: &Scope, region: &str, account: &str) -> Resource {
    Resource {
        arn: format!(
            "arn:{}:guardduty:{region}:{account}:detector",
            scope.partition
        ),
        id: account.to_owned(),
        resource_type: SPEC.resource_type,
    }
}

/// An account id, Security Hub's `AWS::::Account:<id>`, or the setting's ARN.
fn parse_detector(id: &str, scope: &Scope) -> Result<Resource, IntakeError> {
    match account_setting(id, scope, "guardduty", "detector") {
        Some((region, account)) => Ok(detector_resource(scope, region, account)),
        None => Err(IntakeError::InvalidResourceId {
            id: id.to_owned(),
            reason: "not an account id, AWS::::Account:ID, or arn:aws:guardduty:REGION:ID:detector"
                .to_owned(),
        }),
    }
}

/// A detector call names the account's (only) detector of the region.
fn detector_cloudtrail_targets(
    record: &CloudTrailRecord,
    scope: &Scope,
) -> Result<Vec<String>, IntakeError> {
    Ok(vec![record.recipient_account(scope)])
}

impl Control for DetectorGuard {
    type State = DetectorState;
    type Plan = DetectorPlan;

    fn spec(&self) -> &'static ControlSpec {
        &SPEC
    }

    async fn list(&self, scope: &Scope) -> Result<Vec<Resource>, AwsError> {
        Ok(vec![detector_resource(
            scope,
            &scope.region,
            &scope.account,
        )])
    }

    async fn inspect(
        &self,
        _: &Resource,
        _: &str,
        _: &Scope,
    ) -> Result<Option<DetectorState>, AwsError> {
        let listed = self
            .guardduty
            .list_detectors()
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(LIST.permission, e))?;
        // One detector per account and region (GuardDuty API reference, CreateDetector).
        let Some(id) = listed.detector_ids().first().cloned() else {
            return Ok(Some(DetectorState::default()));
        };
        let detector = self
            .guardduty
            .get_detector()
            .detector_id(&id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(GET.permission, e))?;
        let mut state = DetectorState {
            enabled: detector.status() == Some(&DetectorStatus::Enabled),
            features: detector
                .features()
                .iter()
                .filter_map(|f| {
                    Some((
                        f.name()?.as_str().to_owned(),
                        f.status()?.as_str().to_owned(),
                    ))
                })
                .collect(),
            detector_id: Some(id.clone()),
            administrator: None,
        };
        if !state.enabled || !self.missing(&state).is_empty() {
            let admin = self
                .guardduty
                .get_administrator_account()
                .detector_id(&id)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(ADMINISTRATOR.permission, e))?;
            state.administrator = admin
                .administrator()
                .filter(|a| {
                    a.relationship_status()
                        .is_some_and(|s| s.eq_ignore_ascii_case("enabled"))
                })
                .and_then(|a| a.account_id().map(str::to_owned));
        }
        Ok(Some(state))
    }

    fn decide(&self, state: &DetectorState, _: &str) -> Decision<DetectorPlan> {
        let missing = self.missing(state);
        let Some(id) = &state.detector_id else {
            return Decision::Remediate {
                plan: DetectorPlan::Create {
                    features: self
                        .settings
                        .settable()
                        .iter()
                        .map(|f| f.to_string())
                        .collect(),
                },
                actions: vec![CREATE.api],
                reason: "no GuardDuty detector in this region".to_owned(),
            };
        };
        if state.enabled && missing.is_empty() {
            return Decision::Compliant(format!(
                "detector enabled with {}",
                self.settings.features.join(", ")
            ));
        }
        let problem = if state.enabled {
            format!("features off: {}", missing.join(", "))
        } else {
            "detector disabled".to_owned()
        };
        if let Some(admin) = &state.administrator {
            return Decision::Unsafe(format!(
                "{problem}, but this account's detector is managed by GuardDuty administrator \
                 {admin}: not fought, ask the administrator"
            ));
        }
        Decision::Remediate {
            plan: DetectorPlan::Update {
                detector_id: id.clone(),
                enable: !state.enabled,
                features: missing,
            },
            actions: vec![UPDATE.api],
            reason: problem,
        }
    }

    async fn apply(&self, _: &Resource, plan: &DetectorPlan, _: &Scope) -> Result<(), AwsError> {
        match plan {
            DetectorPlan::Create { features } => {
                self.guardduty
                    .create_detector()
                    .enable(true)
                    .set_features(Some(Self::requested(features)).filter(|f| !f.is_empty()))
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(CREATE.permission, e))?;
            }
            DetectorPlan::Update {
                detector_id,
                enable,
                features,
            } => {
                self.guardduty
                    .update_detector()
                    .detector_id(detector_id)
                    .set_enable(enable.then_some(true))
                    .set_features(Some(Self::requested(features)).filter(|f| !f.is_empty()))
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(UPDATE.permission, e))?;
            }
        }
        Ok(())
    }

    fn verify(&self, _: &DetectorPlan, after: &DetectorState) -> Result<(), String> {
        let missing = self.missing(after);
        match (&after.detector_id, after.enabled, missing.is_empty()) {
            (Some(_), true, true) => Ok(()),
            (None, _, _) => Err("no detector after the fix".to_owned()),
            (_, false, _) => Err("detector still disabled".to_owned()),
            _ => Err(format!("features still off: {}", missing.join(", "))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(features: &str) -> DetectorGuard {
        let f = features.to_owned();
        DetectorGuard {
            guardduty: aws_sdk_guardduty::Client::from_conf(
                aws_sdk_guardduty::Config::builder()
                    .behavior_version(aws_sdk_guardduty::config::BehaviorVersion::latest())
                    .build(),
            ),
            settings: DetectorSettings::from_lookup(&move |k: &str| {
                (k == "GUARDDUTY_FEATURES").then(|| f.clone())
            })
            .unwrap(),
        }
    }

    fn detector(enabled: bool, s3: &str) -> DetectorState {
        DetectorState {
            detector_id: Some("d".into()),
            enabled,
            features: vec![
                ("CLOUD_TRAIL".into(), "ENABLED".into()),
                ("S3_DATA_EVENTS".into(), s3.into()),
            ],
            administrator: None,
        }
    }

    #[test]
    fn settings_default_and_refuse_unknown_features() {
        let d = DetectorSettings::from_lookup(&|_: &str| None).unwrap();
        assert_eq!(d.features, ["CLOUD_TRAIL", "S3_DATA_EVENTS"]);
        assert_eq!(d.settable(), ["S3_DATA_EVENTS"]);
        let err = DetectorSettings::from_lookup(&|k: &str| {
            (k == "GUARDDUTY_FEATURES").then(|| "S3_DATA_EVENTS,MAGIC".to_owned())
        })
        .unwrap_err();
        assert!(err.to_string().contains("MAGIC"), "{err}");
        let err = DetectorSettings::from_lookup(&|k: &str| {
            (k == "GUARDDUTY_FEATURES")
                .then(|| "S3_DATA_EVENTS,EKS_RUNTIME_MONITORING, RUNTIME_MONITORING".to_owned())
        })
        .unwrap_err();
        assert!(err.to_string().contains("exclude each other"), "{err}");
        for one in ["EKS_RUNTIME_MONITORING", "RUNTIME_MONITORING"] {
            assert!(DetectorSettings::from_lookup(&|k: &str| {
                (k == "GUARDDUTY_FEATURES").then(|| format!("S3_DATA_EVENTS,{one}"))
            })
            .is_ok());
        }
    }

    #[test]
    fn decisions() {
        let g = guard("CLOUD_TRAIL,S3_DATA_EVENTS");
        assert!(matches!(
            g.decide(&detector(true, "ENABLED"), "remediate"),
            Decision::Compliant(_)
        ));
        match g.decide(&DetectorState::default(), "remediate") {
            Decision::Remediate {
                plan: DetectorPlan::Create { features },
                ..
            } => {
                assert_eq!(features, ["S3_DATA_EVENTS"]);
            }
            other => panic!("{other:?}"),
        }
        match g.decide(&detector(false, "ENABLED"), "remediate") {
            Decision::Remediate {
                plan:
                    DetectorPlan::Update {
                        enable, features, ..
                    },
                ..
            } => {
                assert!(enable);
                assert!(features.is_empty());
            }
            other => panic!("{other:?}"),
        }
        match g.decide(&detector(true, "DISABLED"), "remediate") {
            Decision::Remediate {
                plan:
                    DetectorPlan::Update {
                        enable, features, ..
                    },
                reason,
                ..
            } => {
                assert!(!enable);
                assert_eq!(features, ["S3_DATA_EVENTS"]);
                assert!(reason.contains("S3_DATA_EVENTS"));
            }
            other => panic!("{other:?}"),
        }
        let managed = DetectorState {
            administrator: Some("999999999999".into()),
            ..detector(false, "ENABLED")
        };
        match g.decide(&managed, "remediate") {
            Decision::Unsafe(why) => assert!(why.contains("999999999999"), "{why}"),
            other => panic!("{other:?}"),
        }
        // Foundational only: an enabled detector is enough.
        let g = guard("CLOUD_TRAIL");
        assert!(matches!(
            g.decide(&detector(true, "DISABLED"), "remediate"),
            Decision::Compliant(_)
        ));
    }
}
