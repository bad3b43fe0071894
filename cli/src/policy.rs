//! `remediate policy show|validate`, `remediate exceptions` and `remediate approve`.

use std::process::ExitCode;
use std::sync::Arc;

use remediation::clients::AwsClients;
use remediation::dispatch::{self, Answer, Reach};
use remediation::env::ProcessEnv;
use remediation::functions::{CONTROL_IDS, FUNCTIONS};
use remediation::governance::{self, Current, Governance};
use remediation::policy::Policy;
use remediation::settings::Settings;

use crate::{engines, Cli, Runner};

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string_pretty(value).map_err(|e| e.to_string())
}

/// Check a document file; exit 1 when it is refused (the error names the place).
pub fn validate(file: &std::path::Path, json: bool) -> Result<ExitCode, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let result = Policy::parse(&text, CONTROL_IDS);
    if json {
        let value = match &result {
            Ok(_) => serde_json::json!({"valid": true}),
            Err(e) => serde_json::json!({"valid": false, "path": e.path, "reason": e.reason}),
        };
        println!("{}", to_json(&value)?);
    }
    match result {
        Ok(policy) => {
            if !json {
                println!(
                    "{}: valid ({} rules, {} exceptions, default {})",
                    file.display(),
                    policy.rules.len(),
                    policy.exceptions.len(),
                    policy.default_mode
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if !json {
                eprintln!("{}: {e}", file.display());
            }
            Ok(ExitCode::from(1))
        }
    }
}

/// The document in force, read as the functions read it.
async fn current() -> Result<Arc<Current>, String> {
    let settings = Settings::from_lookup(&ProcessEnv).map_err(|e| e.to_string())?;
    let aws = AwsClients::load(&settings).await;
    let governance = Governance::new(
        settings.governance.clone(),
        CONTROL_IDS.to_vec(),
        aws.ssm(),
        aws.dynamodb(),
        aws.organizations(),
    );
    governance.current().await.map_err(|e| e.to_string())
}

pub async fn show(json: bool) -> Result<ExitCode, String> {
    let current = current().await?;
    if json {
        let value = serde_json::json!({
            "source": current.source,
            "refused": current.refused,
            "policy": current.policy,
        });
        println!("{}", to_json(&value)?);
    } else {
        println!("# {}", current.source);
        if let Some(refused) = &current.refused {
            println!("# REFUSED: {refused}");
        }
        println!("{}", to_json(&current.policy)?);
    }
    Ok(if current.refused.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn exceptions(json: bool) -> Result<ExitCode, String> {
    let current = current().await?;
    let now = governance::now();
    let rows: Vec<serde_json::Value> = current
        .policy
        .exceptions
        .iter()
        .enumerate()
        .map(|(i, e)| {
            serde_json::json!({
                "index": i,
                "status": if e.expired(now) { "expired" } else { "active" },
                "accounts": e.accounts,
                "resources": e.resources,
                "controls": e.controls,
                "reason": e.reason,
                "owner": e.owner,
                "expires": e.expires,
            })
        })
        .collect();
    if json {
        println!("{}", to_json(&rows)?);
    } else {
        println!("#\tSTATUS\tEXPIRES\tOWNER\tACCOUNTS\tRESOURCES\tCONTROLS\tREASON");
        for (i, e) in current.policy.exceptions.iter().enumerate() {
            println!(
                "{i}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                if e.expired(now) { "expired" } else { "active" },
                e.expires,
                e.owner,
                e.accounts.join(","),
                e.resources.join(","),
                if e.controls.is_empty() {
                    "all".to_owned()
                } else {
                    e.controls.join(",")
                },
                e.reason
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Approve proposal `id` through the function that hosts its control, as the deployed function
/// would (`{"approve": id}`), acting with the caller's credentials.
pub async fn approve(
    cli: &Cli,
    aws: &AwsClients,
    account: &str,
    id: &str,
    approved_by: &str,
) -> Result<ExitCode, String> {
    if !governance::is_proposal_id(id) {
        return Err(format!(
            "`{id}` is not a proposal id (16 hexadecimal digits)"
        ));
    }
    let runners = engines(cli, aws)?;
    // The proposal names its control: the function hosting it approves.
    let governance = runners
        .iter()
        .find_map(|(_, r)| r.reach().governance())
        .ok_or("no proposals table: set APPROVALS_TABLE or --approvals-table")?;
    let proposals = governance
        .proposals()
        .ok_or("no proposals table: set APPROVALS_TABLE or --approvals-table")?;
    let proposal = proposals
        .get(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no proposal `{id}`"))?;
    let function = FUNCTIONS
        .iter()
        .find(|f| f.has_control(&proposal.control))
        .ok_or_else(|| format!("no function hosts control `{}`", proposal.control))?;
    let (_, runner) = runners
        .iter()
        .find(|(name, _)| *name == function.name)
        .ok_or_else(|| format!("{} is not selected (--control)", function.name))?;
    let event = serde_json::json!({"approve": id, "approvedBy": approved_by});
    let records = match dispatch::handle(runner.reach(), &event, account).await {
        Ok(Answer::Records(response)) => response.results,
        Ok(other) => other.records().to_vec(),
        Err(remediation::EngineError::Unresolved { response, .. }) => response.results,
        Err(e) => return Err(e.to_string()),
    };
    if cli.json {
        println!("{}", to_json(&records)?);
    } else {
        for r in &records {
            println!("{}\t{}\t{}\t{}", r.control, r.resource, r.outcome, r.detail);
        }
    }
    Ok(
        if records
            .iter()
            .all(|r| r.outcome == remediation::Outcome::Remediated)
        {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

/// Run the event in `file` through each selected function (one `--control`: that one).
pub async fn handle(
    cli: &Cli,
    aws: &AwsClients,
    account: &str,
    file: &std::path::Path,
) -> Result<ExitCode, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let event: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut records = Vec::new();
    let mut failed = false;
    for (name, runner) in engines(cli, aws)? {
        match dispatch::handle(runner.reach(), &event, account).await {
            Ok(answer) => records.extend(answer.records().iter().cloned()),
            Err(remediation::EngineError::Unresolved { response, .. }) => {
                failed = true;
                records.extend(response.results);
            }
            Err(e) => return Err(format!("{name}: {e}")),
        }
    }
    if cli.json {
        println!("{}", to_json(&records)?);
    } else {
        for r in &records {
            println!(
                "{}\t{}\t{}\t{}\t{}",
                r.account, r.control, r.resource, r.outcome, r.detail
            );
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

impl Runner {
    fn reach(&self) -> &dyn Reach {
        match self {
            Runner::Engine(e) => e.as_ref(),
            Runner::Hub(h) => h.as_ref(),
        }
    }
}
