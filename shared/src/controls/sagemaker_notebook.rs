//! SageMaker notebook guard: notebooks with root access or direct internet access are stopped;
//! once stopped, root access is disabled.
//!
//! Always acts on the notebook as described now, never on an event's copy. By state:
//! `InService` → stop (and tag why); `Stopped`/`Failed` with root access → `RootAccess=Disabled`;
//! `Pending`/`Stopping`/`Updating` → deferred (the state-change event, or Lambda's retry, brings
//! it back). Direct internet access cannot be changed after creation: such a notebook is stopped
//! every time it starts.

use aws_sdk_sagemaker::types::{DirectInternetAccess, NotebookInstanceStatus, RootAccess, Tag};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;

use crate::aws::{AwsError, IamResource, Operation};
use crate::control::{Control, ControlSpec, Decision, ManagedRule, StateChangeEvent};
use crate::env::{parse_bool, Lookup};
use crate::error::{IntakeError, SettingsError};
use crate::event::cloudtrail::CloudTrailRecord;
use crate::resource::{Arn, Resource, Scope};

pub const DESCRIBE: Operation = Operation {
    service: "sagemaker",
    api: "DescribeNotebookInstance",
    permission: "sagemaker:DescribeNotebookInstance",
    resource: IamResource::Arn("arn:{partition}:sagemaker:{region}:{account}:notebook-instance/*"),
    implies: &[],
};
pub const LIST: Operation = Operation {
    service: "sagemaker",
    api: "ListNotebookInstances",
    permission: "sagemaker:ListNotebookInstances",
    resource: IamResource::None,
    implies: &[],
};
pub const STOP: Operation = Operation {
    service: "sagemaker",
    api: "StopNotebookInstance",
    permission: "sagemaker:StopNotebookInstance",
    resource: IamResource::Arn("arn:{partition}:sagemaker:{region}:{account}:notebook-instance/*"),
    implies: &[],
};
pub const UPDATE: Operation = Operation {
    service: "sagemaker",
    api: "UpdateNotebookInstance",
    permission: "sagemaker:UpdateNotebookInstance",
    resource: IamResource::Arn("arn:{partition}:sagemaker:{region}:{account}:notebook-instance/*"),
    implies: &[],
};
pub const TAGS: Operation = Operation {
    service: "sagemaker",
    api: "ListTags",
    permission: "sagemaker:ListTags",
    resource: IamResource::Arn("arn:{partition}:sagemaker:{region}:{account}:notebook-instance/*"),
    implies: &[],
};
pub const TAG: Operation = Operation {
    service: "sagemaker",
    api: "AddTags",
    permission: "sagemaker:AddTags",
    resource: IamResource::Arn("arn:{partition}:sagemaker:{region}:{account}:notebook-instance/*"),
    implies: &[],
};

/// The tag a stopped notebook gets, saying why (its owner sees it in the console).
pub const STOPPED_REASON_TAG: &str = "ai-guard:stopped-reason";

pub static SPEC: ControlSpec = ControlSpec {
    id: "sagemaker-notebook-guard",
    resource_type: "AWS::SageMaker::NotebookInstance",
    asff_type: "AwsSageMakerNotebookInstance",
    event_source: "sagemaker.amazonaws.com",
    cloudtrail_events: &[
        "CreateNotebookInstance",
        "StartNotebookInstance",
        "UpdateNotebookInstance",
    ],
    state_change_events: &[StateChangeEvent {
        detail_type: "SageMaker Notebook Instance State Change",
        resource_id_field: "NotebookInstanceName",
        // Running (to stop), or stopped or failed (root access can be disabled now).
        states: Some((
            "NotebookInstanceStatus",
            &["InService", "Stopped", "Failed"],
        )),
    }],
    config_rules: &[
        ManagedRule::on_change(
            "sagemaker-notebook-instance-root-access-check",
            "SAGEMAKER_NOTEBOOK_INSTANCE_ROOT_ACCESS_CHECK",
        ),
        ManagedRule::periodic(
            "sagemaker-notebook-no-direct-internet-access",
            "SAGEMAKER_NOTEBOOK_NO_DIRECT_INTERNET_ACCESS",
        ),
    ],
    custom_config_rule: None,
    security_hub_controls: &["SageMaker.1", "SageMaker.3"],
    actions: &["remediate"],
    operations: &[DESCRIBE, LIST, STOP, UPDATE, TAG],
    tag_operation: Some(TAGS),
    resource: parse_notebook,
    cloudtrail_targets: notebook_cloudtrail_targets,
};

/// `DISABLE_ROOT_ACCESS` (default true): disable root access on stopped notebooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardSettings {
    pub disable_root_access: bool,
}

impl GuardSettings {
    pub fn from_lookup(env: &dyn Lookup) -> Result<Self, SettingsError> {
        Ok(Self {
            disable_root_access: parse_bool(env, "DISABLE_ROOT_ACCESS", true)?,
        })
    }
}

/// A notebook as described.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notebook {
    pub name: String,
    pub arn: String,
    pub status: String,
    /// `RootAccess`, with AWS's default (`Enabled`) when absent.
    pub root_access: bool,
    /// `DirectInternetAccess`, with AWS's default (`Enabled`) when absent.
    pub direct_internet_access: bool,
}

impl Notebook {
    fn findings(&self) -> Vec<&'static str> {
        let mut f = Vec::new();
        if self.root_access {
            f.push("RootAccess=Enabled");
        }
        if self.direct_internet_access {
            f.push("DirectInternetAccess=Enabled");
        }
        f
    }
}

/// What a fix does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotebookPlan {
    /// Stop it, and tag it with the reason.
    Stop {
        name: String,
        arn: String,
        reason: String,
    },
    /// Disable root access (it is stopped).
    DisableRootAccess { name: String },
}

/// The control.
pub struct NotebookGuard {
    sagemaker: aws_sdk_sagemaker::Client,
    settings: GuardSettings,
}

impl NotebookGuard {
    pub fn new(sagemaker: aws_sdk_sagemaker::Client, settings: GuardSettings) -> Self {
        Self {
            sagemaker,
            settings,
        }
    }
}

/// Notebook names as SageMaker accepts them.
fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

fn notebook_named(scope: &Scope, region: &str, account: &str, name: &str) -> Resource {
    Resource {
        // SageMaker writes notebook ARNs in lower case.
        arn: format!(
            "arn:{}:sagemaker:{region}:{account}:notebook-instance/{}",
            scope.partition,
            name.to_ascii_lowercase()
        ),
        id: name.to_owned(),
        resource_type: SPEC.resource_type,
    }
}

/// The resource an identifier names (a name, id or ARN from any trigger).
fn parse_notebook(id: &str, scope: &Scope) -> Result<Resource, IntakeError> {
    let (region, account, name) = match Arn::parse(id) {
        Some(arn) if arn.service == "sagemaker" => {
            match arn.resource.strip_prefix("notebook-instance/") {
                Some(name) => (arn.region, arn.account, name),
                None => {
                    return Err(IntakeError::InvalidResourceId {
                        id: id.to_owned(),
                        reason: "not a notebook-instance ARN".to_owned(),
                    })
                }
            }
        }
        Some(_) => ("", "", ""),
        None => (scope.region.as_str(), scope.account.as_str(), id),
    };
    if !valid_name(name) {
        return Err(IntakeError::InvalidResourceId {
            id: id.to_owned(),
            reason: "not a SageMaker notebook instance name or ARN".to_owned(),
        });
    }
    Ok(notebook_named(scope, region, account, name))
}

/// Resource identifiers a CloudTrail record of the spec names.
fn notebook_cloudtrail_targets(
    record: &CloudTrailRecord,
    _: &Scope,
) -> Result<Vec<String>, IntakeError> {
    Ok(vec![record
        .request_str(&["notebookInstanceName"])?
        .to_owned()])
}

impl Control for NotebookGuard {
    type State = Notebook;
    type Plan = NotebookPlan;

    fn spec(&self) -> &'static ControlSpec {
        &SPEC
    }

    /// A notebook name, or its ARN.
    async fn list(&self, scope: &Scope) -> Result<Vec<Resource>, AwsError> {
        let mut pages = self
            .sagemaker
            .list_notebook_instances()
            .max_results(100)
            .into_paginator()
            .send();
        let mut notebooks = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(LIST.permission, e))?;
            notebooks.extend(
                page.notebook_instances()
                    .iter()
                    .filter_map(|n| n.notebook_instance_name())
                    .map(|name| notebook_named(scope, &scope.region, &scope.account, name)),
            );
        }
        Ok(notebooks)
    }

    async fn inspect(
        &self,
        notebook: &Resource,
        _action: &str,
        _: &Scope,
    ) -> Result<Option<Notebook>, AwsError> {
        let result = self
            .sagemaker
            .describe_notebook_instance()
            .notebook_instance_name(&notebook.id)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            // SageMaker answers a missing notebook with a ValidationException "RecordNotFound".
            Err(e) if e.message().is_some_and(|m| m.contains("RecordNotFound")) => return Ok(None),
            Err(e) => return Err(AwsError::from_sdk(DESCRIBE.permission, e)),
        };
        Ok(Some(Notebook {
            name: out
                .notebook_instance_name()
                .unwrap_or(&notebook.id)
                .to_owned(),
            arn: out
                .notebook_instance_arn()
                .unwrap_or(&notebook.arn)
                .to_owned(),
            status: out
                .notebook_instance_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| "Unknown".to_owned()),
            root_access: out.root_access() != Some(&RootAccess::Disabled),
            direct_internet_access: out.direct_internet_access()
                != Some(&DirectInternetAccess::Disabled),
        }))
    }

    fn decide(&self, nb: &Notebook, _action: &str) -> Decision<NotebookPlan> {
        let findings = nb.findings();
        if findings.is_empty() {
            return Decision::Compliant(
                "root access and direct internet access are disabled".to_owned(),
            );
        }
        let why = findings.join(" + ");
        let status = NotebookInstanceStatus::from(nb.status.as_str());
        match status {
            NotebookInstanceStatus::InService => Decision::Remediate {
                plan: NotebookPlan::Stop {
                    name: nb.name.clone(),
                    arn: nb.arn.clone(),
                    reason: why.clone(),
                },
                actions: vec![STOP.api, TAG.api],
                reason: format!("running with {why}: stopped"),
            },
            NotebookInstanceStatus::Stopped | NotebookInstanceStatus::Failed if nb.root_access => {
                if self.settings.disable_root_access {
                    Decision::Remediate {
                        plan: NotebookPlan::DisableRootAccess {
                            name: nb.name.clone(),
                        },
                        actions: vec![UPDATE.api],
                        reason: format!(
                            "{} with RootAccess=Enabled: root access disabled",
                            nb.status
                        ),
                    }
                } else {
                    Decision::NotApplicable(format!(
                        "{} with {why}; DISABLE_ROOT_ACCESS=false leaves root access as is",
                        nb.status
                    ))
                }
            }
            NotebookInstanceStatus::Stopped | NotebookInstanceStatus::Failed => {
                Decision::NotApplicable(format!(
                    "{} with {why}: direct internet access cannot be changed after creation; \
                 the notebook is stopped again whenever it starts",
                    nb.status
                ))
            }
            NotebookInstanceStatus::Pending
            | NotebookInstanceStatus::Stopping
            | NotebookInstanceStatus::Updating => Decision::Deferred(format!(
                "{} with {why}: cannot act until it settles",
                nb.status
            )),
            _ => Decision::NotApplicable(format!(
                "{} with {why}: nothing to do in this state",
                nb.status
            )),
        }
    }

    async fn tags(
        &self,
        _: &Resource,
        nb: &Notebook,
    ) -> Result<Option<Vec<(String, String)>>, AwsError> {
        let out = self
            .sagemaker
            .list_tags()
            .resource_arn(&nb.arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(TAGS.permission, e))?;
        Ok(Some(
            out.tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
        ))
    }

    async fn apply(&self, _: &Resource, plan: &NotebookPlan, _: &Scope) -> Result<(), AwsError> {
        match plan {
            NotebookPlan::Stop { name, arn, reason } => {
                self.sagemaker
                    .stop_notebook_instance()
                    .notebook_instance_name(name)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(STOP.permission, e))?;
                // The stop is what matters; the tag tells the owner why.
                let tag = Tag::builder()
                    .key(STOPPED_REASON_TAG)
                    .value(format!("{reason} stopped by ai-guard"))
                    .build();
                self.sagemaker
                    .add_tags()
                    .resource_arn(arn)
                    .tags(tag)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(TAG.permission, e))?;
            }
            NotebookPlan::DisableRootAccess { name } => {
                self.sagemaker
                    .update_notebook_instance()
                    .notebook_instance_name(name)
                    .root_access(RootAccess::Disabled)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(UPDATE.permission, e))?;
            }
        }
        Ok(())
    }

    fn verify(&self, plan: &NotebookPlan, after: &Notebook) -> Result<(), String> {
        match plan {
            NotebookPlan::Stop { .. } => match after.status.as_str() {
                "Stopping" | "Stopped" => Ok(()),
                other => Err(format!("notebook is {other}, expected Stopping or Stopped")),
            },
            NotebookPlan::DisableRootAccess { .. } if !after.root_access => Ok(()),
            NotebookPlan::DisableRootAccess { .. } => {
                Err("root access is still enabled".to_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("llm-finetune-01"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a_b"));
        assert!(!valid_name(&"a".repeat(64)));
    }
}
