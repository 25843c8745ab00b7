//! The binary as its own process: a config file written from a [`TestConfig`], and a server
//! started on a free loopback port that tests can signal (SIGTERM, kill -9) and restart.

use super::{AGENT_KEY, TestConfig, TestDb};
use reqwest::Client;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_countersign");

/// Runs the binary with `args` to completion (plain output, no colours).
pub fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run countersign")
}

/// What a run printed, stdout then stderr.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Writes `config` as `countersign.yml` in `dir` with a fresh database (on SQLite a file
/// beside it); returns the file's path (for `--config`) and the database.
pub async fn write_config(dir: &Path, config: &TestConfig) -> (String, TestDb) {
    let db = TestDb::fresh(dir).await;
    let path = dir.join("countersign.yml");
    std::fs::write(&path, config.render_url(&db.url())).unwrap();
    (path.display().to_string(), db)
}

/// Writes `config` as `countersign.yml` in `dir`, its database a SQLite file beside it, for
/// commands that never open the database (`check-config`); returns the file's path.
pub fn config_file(dir: &Path, config: &TestConfig) -> String {
    let path = dir.join("countersign.yml");
    std::fs::write(&path, config.render(&dir.join("countersign.db"))).unwrap();
    path.display().to_string()
}

/// A server process on a free loopback port.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    pub async fn start(config: &str) -> Self {
        Self::start_with_log(config, None).await
    }

    /// Like [`Server::start`], with everything the process writes (its log included,
    /// at `debug`) appended to `log`.
    pub async fn start_logging(config: &str, log: &Path) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        Self::start_with_log(config, Some(file)).await
    }

    async fn start_with_log(config: &str, log: Option<std::fs::File>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(BIN);
        command.env("NO_COLOR", "1");
        match log {
            Some(file) => {
                let err = file.try_clone().expect("log file");
                command.env("RUST_LOG", "debug").stdout(file).stderr(err);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let child = command
            .args([
                "serve",
                "--config",
                config,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .spawn()
            .expect("spawn server");
        let base = format!("http://127.0.0.1:{port}");
        let client = crate::support::client();
        crate::support::eventually(Duration::from_secs(20), || async {
            client
                .get(format!("{base}/readyz"))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
        })
        .await;
        Self { child, base }
    }

    /// `POST /v1/escalations` as the test agent, which must succeed; returns the id.
    pub async fn escalate_id(&self, client: &Client, body: Value) -> String {
        let r = client
            .post(format!("{}/v1/escalations", self.base))
            .bearer_auth(AGENT_KEY)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 201, "create failed");
        r.json::<Value>().await.expect("json")["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// Sends a signal by name (`TERM`, `KILL`) with `kill(1)`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The process id, to find what the process holds (its sockets, say).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn wait(mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
