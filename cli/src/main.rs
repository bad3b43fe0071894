//! `remediate`: run the ai-guard controls against an AWS account from a workstation or a CI job.
//!
//! `remediate scan` is read-only and lists what every control finds; `remediate fix` applies the
//! fixes (asking first, unless `--yes`). It uses the normal AWS credentials, profile and region,
//! and runs exactly the controls the Lambda functions run. Exit code: 0 when nothing is left to
//! fix, 1 when findings remain, 2 when it could not run.

mod policy;
mod report;

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::builder::PossibleValuesParser;
use clap::{Parser, Subcommand};
use remediation::clients::AwsClients;
use remediation::env::ProcessEnv;
use remediation::functions::{Function, FUNCTIONS};
use remediation::hub::{Hub, HubSettings};
use remediation::settings::Settings;
use remediation::{Engine, EngineError, OutcomeRecord, Response};

#[derive(Parser)]
#[command(
    name = "remediate",
    version,
    about = "Scan an AWS account with the ai-guard controls, or fix what they find."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// AWS profile (default: the usual AWS_PROFILE / default chain).
    #[arg(long, global = true)]
    profile: Option<String>,
    /// AWS region (default: the profile's or AWS_REGION).
    #[arg(long, global = true)]
    region: Option<String>,
    /// Only these functions' controls, by short or full name (repeatable; default: all).
    #[arg(long = "control", global = true, value_parser = function_names())]
    controls: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// Organization: the prefix of the roles (name, path/name or /path/name) to assume in member
    /// accounts, the templates' MemberRoleName: each function assumes `<prefix>-<function>` (its
    /// short name, as `list` shows). Every ACTIVE account of the organization is in scope but the
    /// management account, unless the caller is in it (the caller must be allowed to list them and
    /// describe the organization).
    #[arg(long, global = true)]
    member_role: Option<String>,
    /// Regions to act in, comma-separated (default: --region's).
    #[arg(long, global = true)]
    regions: Option<String>,
    /// Organization: only the accounts under these OU or root ids, comma-separated.
    #[arg(long, global = true)]
    organizational_units: Option<String>,
    /// Organization: never these accounts, comma-separated.
    #[arg(long, global = true)]
    excluded_accounts: Option<String>,
    /// The SSM parameter holding the remediation policy (default: POLICY_PARAMETER; none: every
    /// control enforces).
    #[arg(long, global = true)]
    policy_parameter: Option<String>,
    /// The DynamoDB table of approval proposals (default: APPROVALS_TABLE).
    #[arg(long, global = true)]
    approvals_table: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// List findings; changes nothing.
    Scan,
    /// Fix findings (after a scan and a confirmation).
    Fix {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// List the product's functions and their controls (the registry); needs no AWS access.
    Functions,
    /// The remediation policy: the document in force, or check one before it is stored.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Approve a proposed fix by its id (as announced): the resource is read again and fixed only
    /// if it is still as proposed. Needs read access to the proposals table and the fix's own
    /// permissions (or invoke the deployed function with `{"approve": "<id>"}`).
    Approve {
        /// The proposal's id (16 hexadecimal digits).
        id: String,
        /// Who approves (default: the caller's ARN).
        #[arg(long)]
        approved_by: Option<String>,
    },
    /// The policy's exceptions, active and expired.
    Exceptions,
    /// Run one event (a file: EventBridge, AWS Config, direct payload, approval) through the
    /// function that hosts its controls, here with the caller's credentials, as the deployed
    /// function would; prints its records. Pick the function with `--control`.
    Handle {
        /// The event's JSON file.
        event: std::path::PathBuf,
    },
    /// Rewrite the templates' generated parts from the registry (between their
    /// `# BEGIN GENERATED` and `# END GENERATED` lines); needs no AWS access.
    Generate {
        /// The repository's root.
        #[arg(long, default_value = ".")]
        root: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum PolicyAction {
    /// The document in force (from the parameter; its version; a refused newer version).
    Show,
    /// Check a document file as the functions would; needs no AWS access.
    Validate {
        /// The JSON document.
        file: std::path::PathBuf,
    },
}

/// Every name `--control` accepts, from the registry.
fn function_names() -> PossibleValuesParser {
    PossibleValuesParser::new(FUNCTIONS.iter().flat_map(|f| [f.short, f.name]))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any thread exists: the SDK's configuration chain reads these.
    if let Some(profile) = &cli.profile {
        std::env::set_var("AWS_PROFILE", profile);
    }
    if let Some(region) = &cli.region {
        std::env::set_var("AWS_REGION", region);
    }
    if let Some(parameter) = &cli.policy_parameter {
        std::env::set_var("POLICY_PARAMETER", parameter);
    }
    if let Some(table) = &cli.approvals_table {
        std::env::set_var("APPROVALS_TABLE", table);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("remediate: cannot start: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("remediate: {message}");
            ExitCode::from(2)
        }
    }
}

/// What sweeps for one function: its engine, or (organization, regions) its hub of engines.
enum Runner {
    Engine(Box<Engine>),
    Hub(Box<Hub>),
}

impl Runner {
    async fn sweep(&self, account: &str, dry_run: bool) -> Result<Response, EngineError> {
        match self {
            Runner::Engine(e) => e.sweep(account, "remediate", dry_run).await,
            Runner::Hub(h) => h.sweep(account, dry_run).await,
        }
    }
}

/// The hub settings of `function` from the organization options (the same as the functions'
/// variables; the member role is the function's own).
fn hub_settings(cli: &Cli, function: &Function) -> Result<Option<HubSettings>, String> {
    let member_role = cli.member_role.as_deref().map(|p| function.member_role(p));
    let options = [
        ("MEMBER_ROLE_NAME", &member_role),
        ("REGIONS", &cli.regions),
        ("ORGANIZATIONAL_UNITS", &cli.organizational_units),
        ("EXCLUDED_ACCOUNTS", &cli.excluded_accounts),
    ];
    let lookup = |name: &str| {
        options
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| (*v).clone())
    };
    HubSettings::from_lookup(&lookup).map_err(|e| e.to_string())
}

/// The runners of the selected functions, built once (the scan and the fix share them).
fn engines(cli: &Cli, aws: &AwsClients) -> Result<Vec<(&'static str, Runner)>, String> {
    let settings = Settings::from_lookup(&ProcessEnv).map_err(|e| e.to_string())?;
    let chosen = |f: &Function| {
        cli.controls.is_empty() || cli.controls.iter().any(|c| c == f.short || c == f.name)
    };
    let mut engines = Vec::new();
    for function in FUNCTIONS.iter().copied().filter(|f| chosen(f)) {
        let built = match &hub_settings(cli, function)? {
            None => (function.build)(settings.clone(), &ProcessEnv, aws)
                .map(|e| Runner::Engine(Box::new(e))),
            Some(h) => function
                .hub(
                    "remediate",
                    settings.clone(),
                    h.clone(),
                    aws.clone(),
                    ProcessEnv,
                )
                .map(|hub| Runner::Hub(Box::new(hub))),
        };
        match built {
            Ok(runner) => engines.push((function.name, runner)),
            // A function whose own settings are missing (Bedrock's known-good configuration) has
            // nothing to compare with: skipped with a note unless asked for by name.
            Err(e) if cli.controls.is_empty() => {
                eprintln!("remediate: skipping {}: {e}", function.name);
            }
            Err(e) => return Err(format!("{}: {e}", function.name)),
        }
    }
    Ok(engines)
}

async fn sweep_all(
    engines: &[(&'static str, Runner)],
    account: &str,
    dry_run: bool,
) -> Result<Vec<OutcomeRecord>, String> {
    let mut records = Vec::new();
    for (_, engine) in engines {
        let response = match engine.sweep(account, dry_run).await {
            Ok(response) => response,
            // Failed or deferred resources are results to show, not a reason to stop.
            Err(EngineError::Unresolved { response, .. }) => response,
            Err(e) => return Err(e.to_string()),
        };
        records.extend(response.results);
    }
    Ok(records)
}

fn list_functions(json: bool) -> Result<ExitCode, String> {
    if json {
        let list: Vec<serde_json::Value> = FUNCTIONS
            .iter()
            .map(|f| {
                serde_json::json!({"name": f.name, "short": f.short, "summary": f.summary,
                    "controls": f.specs.iter().map(|s| s.id).collect::<Vec<_>>()})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&list).map_err(|e| e.to_string())?
        );
    } else {
        for f in FUNCTIONS {
            let controls: Vec<&str> = f.specs.iter().map(|s| s.id).collect();
            println!(
                "{}\t{}\t{}\t{}",
                f.name,
                f.short,
                controls.join(","),
                f.summary
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn run(cli: &Cli) -> Result<ExitCode, String> {
    match &cli.command {
        Command::Functions => return list_functions(cli.json),
        Command::Generate { root } => return generate(root),
        Command::Policy {
            action: PolicyAction::Validate { file },
        } => return policy::validate(file, cli.json),
        Command::Policy {
            action: PolicyAction::Show,
        } => return policy::show(cli.json).await,
        Command::Exceptions => return policy::exceptions(cli.json).await,
        Command::Scan | Command::Fix { .. } | Command::Approve { .. } | Command::Handle { .. } => {}
    }
    let probe = Settings::from_lookup(&ProcessEnv).map_err(|e| e.to_string())?;
    let aws = AwsClients::load(&probe).await;
    let identity = aws_sdk_sts::Client::new(aws.sdk_config())
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot identify the account (credentials?): {}",
                remediation::AwsError::from_sdk("sts:GetCallerIdentity", e)
            )
        })?;
    let account = identity
        .account()
        .ok_or("STS returned no account")?
        .to_owned();
    let region = aws.region().map_err(|e| e.to_string())?;

    if let Command::Approve { id, approved_by } = &cli.command {
        let by = approved_by
            .clone()
            .or_else(|| identity.arn().map(str::to_owned))
            .unwrap_or_else(|| "remediate approve".to_owned());
        return policy::approve(cli, &aws, &account, id, &by).await;
    }
    if let Command::Handle { event } = &cli.command {
        return policy::handle(cli, &aws, &account, event).await;
    }
    let engines = engines(cli, &aws)?;
    let scan = sweep_all(&engines, &account, true).await?;
    let findings = report::findings(&scan);
    let fixed = match cli.command {
        Command::Scan
        | Command::Functions
        | Command::Generate { .. }
        | Command::Policy { .. }
        | Command::Approve { .. }
        | Command::Handle { .. }
        | Command::Exceptions => None,
        Command::Fix { yes } => {
            if findings == 0 {
                None
            } else if yes || confirm(findings, &account, &region)? {
                Some(sweep_all(&engines, &account, false).await?)
            } else {
                eprintln!("remediate: nothing changed");
                None
            }
        }
    };
    let rows = report::rows(&scan, fixed.as_deref());
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", report::table(&rows));
        eprint!("{}", report::summary(&rows));
    }
    Ok(if rows.iter().any(|r| r.open) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Rewrites the templates' generated blocks; says which changed.
fn generate(root: &std::path::Path) -> Result<ExitCode, String> {
    for (file, blocks) in remediation::deploy::generated() {
        let path = root.join(file);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let generated = remediation::deploy::with_blocks(&text, &blocks)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if generated == text {
            eprintln!("remediate: {} is up to date", path.display());
        } else {
            std::fs::write(&path, generated).map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!("remediate: {} rewritten", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn confirm(findings: usize, account: &str, region: &str) -> Result<bool, String> {
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "{findings} findings in {account}/{region}: refusing to fix without a terminal to confirm; pass --yes"
        ));
    }
    eprint!("Fix {findings} findings in account {account}, region {region}? [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| e.to_string())?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
