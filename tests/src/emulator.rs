//! The local AWS emulator: moto's standalone server with the harness's extensions
//! (`tests/emulator/moto_server.py`), run from the project's virtualenv (`.venv`, made by
//! `scripts/setup`), each on a free 127.0.0.1 port.
//!
//! The integration tests are one test binary whose modules (one per former test binary) run in
//! one process concurrently. Each module gets its own emulator ([`emulator!`](crate::emulator)):
//! account and region singletons (Bedrock invocation logging, GuardDuty detectors, Security Hub,
//! account-level Block Public Access, the organization, the fault hooks) stay private to a module.
//! Their clients are given the emulator's endpoint, region and credentials explicitly
//! ([`Emulator::clients`], [`Emulator::aws`]); nothing is read from or written to the process
//! environment, which all modules share.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use aws_sdk_s3::config::Credentials;
use remediation::clients::AwsClients;
use remediation::Settings;

use crate::Recorder;

pub struct Emulator {
    pub endpoint: String,
    pub port: u16,
    _child: Child,
}

/// The emulator of the calling test module (the top-level module of the test target: its
/// emulator is shared by that module's tests, and no other module's).
#[macro_export]
macro_rules! emulator {
    () => {
        $crate::Emulator::for_module(::std::module_path!())
    };
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The emulator's test credentials (moto accepts any; these map to its default account).
const ACCESS_KEY: &str = "testing";
const SECRET_KEY: &str = "testing";

impl Emulator {
    /// The emulator of the test module `module_path` (`module_path!()` of any item in it; the
    /// emulator is keyed by its first two segments, the crate and its top-level module), started
    /// on first use. Use [`emulator!`](crate::emulator).
    pub fn for_module(module_path: &str) -> &'static Emulator {
        static EMULATORS: OnceLock<Mutex<HashMap<String, &'static OnceLock<Emulator>>>> =
            OnceLock::new();
        let key: String = module_path
            .split("::")
            .take(2)
            .collect::<Vec<_>>()
            .join("::");
        let cell: &'static OnceLock<Emulator> = {
            let mut all = EMULATORS
                .get_or_init(Default::default)
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            all.entry(key)
                .or_insert_with(|| Box::leak(Box::new(OnceLock::new())))
        };
        // Started outside the registry's lock: modules start theirs concurrently.
        cell.get_or_init(Self::start)
    }

    /// The emulator of a test binary that has only one (not the integration tests, whose
    /// modules each have their own: [`emulator!`](crate::emulator)), started on first use. It
    /// also points the process's AWS configuration at it (`AWS_ENDPOINT_URL`, test credentials,
    /// region), for code (and child processes) that configure themselves from the environment.
    pub fn get() -> &'static Emulator {
        static EMULATOR: OnceLock<&'static Emulator> = OnceLock::new();
        EMULATOR.get_or_init(|| {
            let emulator = Self::for_module("<process>");
            std::env::set_var("AWS_ENDPOINT_URL", &emulator.endpoint);
            std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
            std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
            std::env::set_var("AWS_REGION", crate::REGION);
            std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
            emulator
        })
    }

    fn start() -> Emulator {
        let root = workspace_root();
        let python = std::env::var("EMULATOR_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join(".venv/bin/python"));
        assert!(
            python.exists(),
            "{} not found: run `scripts/test` (it creates the virtualenv with the emulator)",
            python.display()
        );
        let mut child = Command::new(&python)
            .arg(root.join("tests/emulator/moto_server.py"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the emulator with {}: {e}", python.display()));
        let stdout = child.stdout.take().expect("emulator stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("emulator output");
        let port: u16 = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("emulator did not start: {line:?}"));
        Emulator {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            _child: child,
        }
    }

    /// Clients as the functions load them ([`AwsClients::load`]: the SDK's configuration chain,
    /// the retry policy of `settings`), but with this emulator's endpoint, the test credentials
    /// and [`REGION`](crate::REGION) given explicitly rather than taken from the environment.
    /// Clients derived from them ([`AwsClients::acting_in`], roles assumed with their
    /// `sdk_config()`) keep the endpoint.
    pub async fn clients(&self, settings: &Settings) -> AwsClients {
        let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_types::region::Region::new(crate::REGION))
            .credentials_provider(Credentials::new(
                ACCESS_KEY, SECRET_KEY, None, None, "emulator",
            ));
        AwsClients::load_from(loader, settings).await
    }

    /// [`Self::clients`], recording every operation sent into `recorder`.
    pub async fn aws(&self, settings: &Settings, recorder: &Recorder) -> AwsClients {
        self.clients(settings)
            .await
            .with_interceptor(recorder.interceptor())
    }

    /// Create Bedrock log destinations in the emulator as a user would (buckets, log groups,
    /// delivery roles trusting Bedrock): the emulator, like AWS, validates them when logging is
    /// configured.
    pub fn bedrock_destinations(&self, buckets: &[&str], log_groups: &[&str], roles: &[&str]) {
        let query: Vec<String> = buckets
            .iter()
            .map(|b| format!("bucket={b}"))
            .chain(log_groups.iter().map(|g| format!("logGroup={g}")))
            .chain(roles.iter().map(|r| format!("role={r}")))
            .collect();
        self.harness_get(&format!(
            "/_harness/bedrock/destinations?{}",
            query.join("&")
        ));
    }

    /// GET a harness path (`/_harness/...`) and parse its JSON.
    pub fn harness_get(&self, path: &str) -> serde_json::Value {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to emulator");
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
        write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or("");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("harness {path}: {e}: {response}"))
    }

    /// The evaluations the emulator's AWS Config received with `result_token`.
    pub fn config_evaluations(&self, result_token: &str) -> Vec<serde_json::Value> {
        let token: String = result_token
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        match self.harness_get(&format!("/_harness/config/evaluations?resultToken={token}")) {
            serde_json::Value::Array(items) => {
                items.into_iter().map(|i| i["evaluation"].clone()).collect()
            }
            other => panic!("unexpected harness answer {other}"),
        }
    }
}
