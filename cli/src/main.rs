//! `remediate`: run the ai-guard controls against an AWS account from a workstation or a CI job.
//!
//! `remediate scan` is read-only and lists what every control finds; `remediate fix` applies the
//! fixes (asking first, unless `--yes`). It uses the normal AWS credentials, profile and region,
//! and runs exactly the controls the Lambda functions run. Exit code: 0 when nothing is left to
//! fix, 1 when findings remain, 2 when it could not run.

mod report;

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use remediation::clients::AwsClients;
use remediation::env::{Lookup, ProcessEnv};
use remediation::settings::Settings;
use remediation::{functions, Engine, EngineError, OutcomeRecord};

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
    /// Only these controls (repeatable; default: all).
    #[arg(long = "control", value_enum, global = true)]
    controls: Vec<ControlName>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
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
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ControlName {
    S3,
    Bedrock,
    Sagemaker,
    Kms,
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

/// The engines of the selected functions, all in dry run or all live.
fn engines(
    cli: &Cli,
    aws: &AwsClients,
    dry_run: bool,
) -> Result<Vec<(&'static str, Engine)>, String> {
    let wanted = |c: ControlName| cli.controls.is_empty() || cli.controls.contains(&c);
    let env = DryRunEnv(dry_run);
    let settings = Settings::from_lookup(&env).map_err(|e| e.to_string())?;
    let mut engines = Vec::new();
    if wanted(ControlName::S3) {
        engines.push((
            "s3-public-access-block",
            functions::s3_public_access_block(settings.clone(), aws),
        ));
    }
    if wanted(ControlName::Bedrock) {
        match functions::bedrock_invocation_logging(settings.clone(), &env, aws) {
            Ok(engine) => engines.push(("bedrock-invocation-logging", Ok(engine))),
            // Without a known-good configuration there is nothing to compare with.
            Err(e) if !cli.controls.contains(&ControlName::Bedrock) => {
                eprintln!("remediate: skipping bedrock-invocation-logging: {e}");
            }
            Err(e) => engines.push(("bedrock-invocation-logging", Err(e))),
        }
    }
    if wanted(ControlName::Sagemaker) {
        engines.push((
            "sagemaker-notebook-guard",
            functions::sagemaker_notebook_guard(settings.clone(), &env, aws),
        ));
    }
    if wanted(ControlName::Kms) {
        engines.push((
            "kms-key-rotation",
            functions::kms_key_rotation(settings, &env, aws),
        ));
    }
    engines
        .into_iter()
        .map(|(name, engine)| {
            engine
                .map(|e| (name, e))
                .map_err(|e| format!("{name}: {e}"))
        })
        .collect()
}

/// The process environment, with `DRY_RUN` decided by the command.
struct DryRunEnv(bool);

impl Lookup for DryRunEnv {
    fn get(&self, name: &str) -> Option<String> {
        match name {
            "DRY_RUN" => Some(self.0.to_string()),
            _ => ProcessEnv.get(name),
        }
    }
}

async fn sweep_all(
    engines: &[(&'static str, Engine)],
    account: &str,
) -> Result<Vec<OutcomeRecord>, String> {
    let mut records = Vec::new();
    for (_, engine) in engines {
        let response = match engine.sweep(account, "remediate").await {
            Ok(response) => response,
            // Failed or deferred resources are results to show, not a reason to stop.
            Err(EngineError::Unresolved { response, .. }) => response,
            Err(e) => return Err(e.to_string()),
        };
        records.extend(response.results);
    }
    Ok(records)
}

async fn run(cli: &Cli) -> Result<ExitCode, String> {
    let probe = Settings::from_lookup(&DryRunEnv(true)).map_err(|e| e.to_string())?;
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

    let scan = sweep_all(&engines(cli, &aws, true)?, &account).await?;
    let findings = report::findings(&scan);
    let fixed = match cli.command {
        Command::Scan => None,
        Command::Fix { yes } => {
            if findings == 0 {
                None
            } else if yes || confirm(findings, &account, &region)? {
                Some(sweep_all(&engines(cli, &aws, false)?, &account).await?)
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
        eprintln!("{}", report::summary(&rows, &account, &region));
    }
    Ok(if rows.iter().any(|r| r.open) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
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
