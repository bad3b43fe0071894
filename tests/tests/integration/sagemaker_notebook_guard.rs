//! `sagemaker-notebook-guard` against the emulator (extended with `UpdateNotebookInstance`, AWS's
//! state rules for stop and update, and a hook for the transient states moto skips): every state,
//! every trigger, the tag, the root-access fix, dry run, exemptions and sweeps.

use aws_sdk_sagemaker::types::{DirectInternetAccess, RootAccess};
use integration_tests::{emulator, env, events, settings, unique, Recorder, ACCOUNT};
use remediation::{functions, Engine, EngineError, Outcome, Response};
use serde_json::{json, Value};

const SAMPLE: &str = "llm-finetune-notebook";
const DESCRIBE: &str = "sagemaker:DescribeNotebookInstance";
const STOP: &str = "sagemaker:StopNotebookInstance";
const TAG: &str = "sagemaker:AddTags";
const UPDATE: &str = "sagemaker:UpdateNotebookInstance";

static SWEEP: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

struct Fixture {
    engine: Engine,
    calls: Recorder,
    sm: aws_sdk_sagemaker::Client,
}

async fn fixture(pairs: &[(&str, &str)]) -> Fixture {
    let calls = Recorder::new();
    let s = settings(pairs);
    let engine = functions::sagemaker_notebook_guard(
        s.clone(),
        &env(pairs),
        &emulator!().aws(&s, &calls).await,
    )
    .expect("engine");
    Fixture {
        engine,
        calls,
        sm: emulator!().clients(&settings(&[])).await.sagemaker(),
    }
}

/// A notebook's (status, root access, direct internet access) as SageMaker describes it.
type Described = (String, Option<RootAccess>, Option<DirectInternetAccess>);

impl Fixture {
    /// A new InService notebook; `None` leaves a setting to AWS's default (Enabled).
    async fn notebook(
        &self,
        root: Option<RootAccess>,
        internet: Option<DirectInternetAccess>,
    ) -> String {
        let name = unique("nb");
        self.sm
            .create_notebook_instance()
            .notebook_instance_name(&name)
            .instance_type(aws_sdk_sagemaker::types::InstanceType::MlT3Medium)
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/SageMakerExecution"))
            .set_root_access(root)
            .set_direct_internet_access(internet)
            .send()
            .await
            .expect("create notebook");
        name
    }

    async fn describe(&self, name: &str) -> Described {
        let d = self
            .sm
            .describe_notebook_instance()
            .notebook_instance_name(name)
            .send()
            .await
            .expect("describe");
        (
            d.notebook_instance_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            d.root_access().cloned(),
            d.direct_internet_access().cloned(),
        )
    }

    async fn tags(&self, name: &str) -> Vec<(String, String)> {
        let arn = format!("arn:aws:sagemaker:us-east-1:{ACCOUNT}:notebook-instance/{name}");
        let out = self
            .sm
            .list_tags()
            .resource_arn(arn)
            .send()
            .await
            .expect("tags");
        out.tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    async fn handle(&self, event: &Value) -> Result<Response, EngineError> {
        integration_tests::handle(&self.engine, &self.calls, event).await
    }

    async fn ok(&self, event: &Value) -> Response {
        integration_tests::handled(&self.engine, &self.calls, event).await
    }
}

fn set_status(name: &str, status: &str) {
    let answer = emulator!().harness_get(&format!(
        "/_harness/sagemaker/notebook-status?name={name}&status={status}"
    ));
    assert_eq!(answer["updated"], json!(true));
}

fn event(file: &str, name: &str) -> Value {
    events::load(
        &format!("sagemaker-notebook-guard/{file}"),
        &[(SAMPLE, name)],
    )
}

fn only(r: &Response) -> &remediation::OutcomeRecord {
    assert_eq!(r.results.len(), 1, "{r:?}");
    &r.results[0]
}

#[tokio::test]
async fn a_root_enabled_notebook_is_stopped_tagged_then_root_access_disabled() {
    let _shared = SWEEP.read().await;
    let f = fixture(&[]).await;
    let name = f.notebook(None, Some(DirectInternetAccess::Disabled)).await;

    let response = f
        .ok(&event("cloudtrail-create-notebook-instance.json", &name))
        .await;
    let r = only(&response);
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert_eq!(
        r.resource,
        format!("arn:aws:sagemaker:us-east-1:{ACCOUNT}:notebook-instance/{name}")
    );
    assert_eq!(r.actions, vec!["StopNotebookInstance", "AddTags"]);
    assert_eq!(r.detail, "fixed: running with RootAccess=Enabled: stopped");
    assert_eq!(f.calls.calls(), vec![DESCRIBE, STOP, TAG, DESCRIBE]);
    assert_eq!(f.describe(&name).await.0, "Stopped");
    assert_eq!(
        f.tags(&name).await,
        vec![(
            "ai-guard:stopped-reason".to_owned(),
            "RootAccess=Enabled stopped by ai-guard".to_owned()
        )]
    );

    // The Stopped state-change event: now root access is disabled.
    let mut stopped = event("state-change-in-service.json", &name);
    stopped["detail"]["NotebookInstanceStatus"] = json!("Stopped");
    let response = f.ok(&stopped).await;
    let r = only(&response);
    assert_eq!(r.outcome, Outcome::Remediated, "{r:?}");
    assert_eq!(r.actions, vec!["UpdateNotebookInstance"]);
    assert_eq!(
        r.trigger,
        "state-change:SageMaker Notebook Instance State Change"
    );
    assert_eq!(f.calls.calls(), vec![DESCRIBE, UPDATE, DESCRIBE]);
    assert_eq!(
        f.describe(&name).await,
        (
            "Stopped".to_owned(),
            Some(RootAccess::Disabled),
            Some(DirectInternetAccess::Disabled)
        )
    );

    // Nothing left: one read.
    let response = f.ok(&event("direct.json", &name)).await;
    assert_eq!(only(&response).outcome, Outcome::Compliant);
    assert_eq!(f.calls.calls(), vec![DESCRIBE]);
}

#[tokio::test]
async fn direct_internet_access_means_stopped_whenever_started() {
    let _shared = SWEEP.read().await;
    let f = fixture(&[]).await;
    let name = f.notebook(Some(RootAccess::Disabled), None).await;
    let response = f.ok(&event("state-change-in-service.json", &name)).await;
    assert_eq!(only(&response).outcome, Outcome::Remediated);
    assert_eq!(f.describe(&name).await.0, "Stopped");

    // Stopped with only direct internet access: left stopped, nothing else possible.
    let response = f.ok(&event("direct.json", &name)).await;
    let r = only(&response);
    assert_eq!(r.outcome, Outcome::NotApplicable);
    assert!(
        r.detail
            .contains("direct internet access cannot be changed after creation"),
        "{}",
        r.detail
    );
    assert_eq!(f.calls.calls(), vec![DESCRIBE]);

    // Someone starts it again: stopped again.
    f.sm.start_notebook_instance()
        .notebook_instance_name(&name)
        .send()
        .await
        .expect("start");
    let response = f
        .ok(&event("cloudtrail-start-notebook-instance.json", &name))
        .await;
    let r = only(&response);
    assert_eq!(r.outcome, Outcome::Remediated);
    assert_eq!(
        r.detail,
        "fixed: running with DirectInternetAccess=Enabled: stopped"
    );
    assert_eq!(f.describe(&name).await.0, "Stopped");
}

#[tokio::test]
async fn a_fresh_notebook_is_deferred_until_in_service_then_stopped_without_a_human() {
    let _shared = SWEEP.read().await;
    let f = fixture(&[]).await;
    let name = f.notebook(None, None).await;
    set_status(&name, "Pending");
    // CreateNotebookInstance arrives while it is Pending: deferred, recorded, and not an
    // invocation error — Lambda's retries (about 1 and 2 minutes later) would end long before the
    // notebook leaves Pending, in the dead-letter queue. The state-change event follows up.
    let response = f
        .ok(&event("cloudtrail-create-notebook-instance.json", &name))
        .await;
    assert_eq!(only(&response).outcome, Outcome::Deferred);
    assert_eq!(f.calls.calls(), vec![DESCRIBE]);
    // It comes into service; its state-change event stops it.
    set_status(&name, "InService");
    let response = f.ok(&event("state-change-in-service.json", &name)).await;
    assert_eq!(only(&response).outcome, Outcome::Remediated);
    // The Stopped event disables root access.
    let response = f.ok(&event("direct.json", &name)).await;
    assert_eq!(only(&response).outcome, Outcome::Remediated);
    assert_eq!(f.describe(&name).await.1, Some(RootAccess::Disabled));
}

#[tokio::test]
async fn transient_states_are_deferred_and_failed_notebooks_are_fixed() {
    let _shared = SWEEP.read().await;
    let f = fixture(&[]).await;
    for status in ["Pending", "Stopping", "Updating"] {
        let name = f.notebook(None, None).await;
        set_status(&name, status);
        let response = f.ok(&event("direct.json", &name)).await;
        let r = only(&response);
        assert_eq!(r.outcome, Outcome::Deferred, "{status}");
        assert!(r.detail.starts_with(status), "{}", r.detail);
        assert_eq!(f.calls.calls(), vec![DESCRIBE], "{status}: no write");
    }
    let name = f.notebook(None, Some(DirectInternetAccess::Disabled)).await;
    set_status(&name, "Failed");
    let response = f.ok(&event("direct.json", &name)).await;
    assert_eq!(only(&response).outcome, Outcome::Remediated);
    assert_eq!(f.calls.calls(), vec![DESCRIBE, UPDATE, DESCRIBE]);
}

#[tokio::test]
async fn the_emulator_refuses_updates_and_stops_in_the_wrong_state_as_aws_does() {
    let f = fixture(&[]).await;
    let name = f.notebook(None, None).await;
    let err =
        f.sm.update_notebook_instance()
            .notebook_instance_name(&name)
            .root_access(RootAccess::Disabled)
            .send()
            .await
            .expect_err("InService cannot be updated");
    let text = format!("{:?}", err);
    assert!(
        text.contains("ValidationException")
            && text.contains("Status (InService) not in ([Stopped, Failed])"),
        "{text}"
    );
    f.sm.stop_notebook_instance()
        .notebook_instance_name(&name)
        .send()
        .await
        .expect("stop");
    assert!(f
        .sm
        .stop_notebook_instance()
        .notebook_instance_name(&name)
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn compliant_exempt_dry_run_setting_and_gone() {
    let _shared = SWEEP.read().await;
    let f = fixture(&[]).await;
    let safe = f
        .notebook(
            Some(RootAccess::Disabled),
            Some(DirectInternetAccess::Disabled),
        )
        .await;
    let response = f.ok(&event("direct.json", &safe)).await;
    assert_eq!(only(&response).outcome, Outcome::Compliant);
    assert_eq!(f.calls.calls(), vec![DESCRIBE]);

    let risky = f.notebook(None, None).await;
    let dry = fixture(&[("DRY_RUN", "true")]).await;
    let response = dry.ok(&event("direct.json", &risky)).await;
    assert_eq!(only(&response).outcome, Outcome::WouldRemediate);
    assert_eq!(f.describe(&risky).await.0, "InService");

    let exempt = fixture(&[(
        "EXEMPT_RESOURCES",
        &format!("arn:aws:sagemaker:*:*:notebook-instance/{risky}"),
    )])
    .await;
    let response = exempt
        .ok(&event("cloudtrail-start-notebook-instance.json", &risky))
        .await;
    assert_eq!(only(&response).outcome, Outcome::Exempt);
    assert!(exempt.calls.calls().is_empty());
    assert_eq!(f.describe(&risky).await.0, "InService");

    let keep_root = fixture(&[("DISABLE_ROOT_ACCESS", "false")]).await;
    let response = keep_root.ok(&event("direct.json", &risky)).await;
    assert_eq!(
        only(&response).outcome,
        Outcome::Remediated,
        "still stopped"
    );
    let response = keep_root.ok(&event("direct.json", &risky)).await;
    let r = only(&response);
    assert_eq!(r.outcome, Outcome::NotApplicable);
    assert!(
        r.detail.contains("DISABLE_ROOT_ACCESS=false"),
        "{}",
        r.detail
    );
    assert_eq!(
        f.describe(&risky).await.1,
        None,
        "root access left as it was"
    );

    let response = f.ok(&event("direct.json", "no-such-notebook")).await;
    assert_eq!(only(&response).outcome, Outcome::Gone);

    let err = functions::sagemaker_notebook_guard(
        settings(&[]),
        &env(&[("DISABLE_ROOT_ACCESS", "maybe")]),
        &emulator!().aws(&settings(&[]), &Recorder::new()).await,
    )
    .err()
    .expect("refused");
    assert_eq!(err.name, "DISABLE_ROOT_ACCESS");
}

#[tokio::test]
async fn config_security_hub_ssm_and_update_triggers() {
    let _shared = SWEEP.read().await;
    let f = fixture(&[]).await;
    for (file, trigger) in [
        (
            "config-compliance-change-root-access.json",
            "config-rule:sagemaker-notebook-instance-root-access-check",
        ),
        (
            "config-compliance-change-direct-internet-access.json",
            "config-rule:sagemaker-notebook-no-direct-internet-access",
        ),
        ("securityhub-sagemaker-3.json", "security-hub:SageMaker.3"),
        ("ssm-automation.json", "direct:remediate"),
        (
            "cloudtrail-update-notebook-instance.json",
            "cloudtrail:UpdateNotebookInstance",
        ),
    ] {
        let name = f.notebook(None, None).await;
        let response = f.ok(&event(file, &name)).await;
        let r = only(&response);
        assert_eq!(
            (r.outcome, r.trigger.as_str()),
            (Outcome::Remediated, trigger),
            "{file}"
        );
        assert_eq!(f.describe(&name).await.0, "Stopped", "{file}");
    }
    for (e, expected) in [
        (
            json!({"resourceId": "bad_name"}),
            "invalid resource id `bad_name`",
        ),
        (
            json!({"resourceId": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/x"}),
            "not a notebook-instance ARN",
        ),
    ] {
        let err = f.handle(&e).await.expect_err("refused");
        assert!(err.to_string().contains(expected), "{err}");
    }
    let mut no_name = event("state-change-in-service.json", "x");
    no_name["detail"]
        .as_object_mut()
        .map(|d| d.remove("NotebookInstanceName"));
    let err = f.handle(&no_name).await.expect_err("refused");
    assert!(
        err.to_string().contains("detail.NotebookInstanceName"),
        "{err}"
    );
}

#[tokio::test]
async fn sweep_lists_then_describes_every_notebook() {
    let _alone = SWEEP.write().await;
    let f = fixture(&[("SWEEP_CONCURRENCY", "4")]).await;
    let mut risky = Vec::new();
    for _ in 0..6 {
        risky.push(f.notebook(None, None).await);
    }
    let safe = f
        .notebook(
            Some(RootAccess::Disabled),
            Some(DirectInternetAccess::Disabled),
        )
        .await;
    let response = f
        .ok(&events::load(
            "sagemaker-notebook-guard/scheduled-sweep.json",
            &[],
        ))
        .await;
    let calls = f.calls.calls();
    assert_eq!(
        calls
            .iter()
            .filter(|c| *c == "sagemaker:ListNotebookInstances")
            .count(),
        1
    );
    for name in &risky {
        assert_eq!(f.describe(name).await.0, "Stopped", "{name}");
    }
    let outcome = |name: &str| {
        response
            .results
            .iter()
            .find(|r| r.resource.ends_with(&format!("/{name}")))
            .map(|r| r.outcome)
    };
    assert_eq!(outcome(&safe), Some(Outcome::Compliant));
    assert_eq!(outcome(&risky[0]), Some(Outcome::Remediated));
}
