//! The local AWS emulator: moto's standalone server with the harness's extensions
//! (`tests/emulator/moto_server.py`), run from the project's virtualenv (`.venv`, made by
//! `scripts/setup`), one server per test binary on a free 127.0.0.1 port.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

pub struct Emulator {
    pub endpoint: String,
    pub port: u16,
    _child: Child,
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

impl Emulator {
    /// The emulator of this test binary, started on first use. It also points the process's AWS
    /// configuration at it (`AWS_ENDPOINT_URL`, test credentials, region), which is how the
    /// functions find it: the same variables work against any endpoint.
    pub fn get() -> &'static Emulator {
        static EMULATOR: OnceLock<Emulator> = OnceLock::new();
        EMULATOR.get_or_init(Self::start)
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
        let endpoint = format!("http://127.0.0.1:{port}");
        std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_REGION", crate::REGION);
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        Emulator {
            endpoint,
            port,
            _child: child,
        }
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
