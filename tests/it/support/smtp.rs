//! A real SMTP server for the tests: Python's `aiosmtpd` (`.ci/run` installs it) in a child
//! process, saving every message it accepts as a `.eml` file; and the MIME view of one message.

use mail_parser::MessageParser;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The handler: each message is written to `NNNNNN.eml` (renamed into place, so a
/// reader never sees half of one) next to its envelope in `NNNNNN.json`.
const SERVER_PY: &str = r#"
import json, os, sys, threading
from aiosmtpd.controller import Controller

class Store:
    def __init__(self, directory):
        self.directory, self.count, self.lock = directory, 0, threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            base = os.path.join(self.directory, "%06d" % self.count)
        with open(base + ".json", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(base + ".tmp", base + ".eml")
        return "250 OK: message accepted"

controller = Controller(Store(sys.argv[2]), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
threading.Event().wait()
"#;

pub struct SmtpServer {
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl SmtpServer {
    /// A running server on a fresh port.
    pub async fn start() -> Self {
        let mut server = Self::reserve();
        server.run().await;
        server
    }

    /// A port for a server that is not running yet: SMTP to it is refused until [`run`](Self::run).
    pub fn reserve() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self {
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        }
    }

    /// Starts `aiosmtpd` and waits for its "ready" line (it has accepted a test connection by then).
    pub async fn run(&mut self) {
        let script = self.dir.path().join("smtp_server.py");
        std::fs::write(&script, SERVER_PY).expect("write the server script");
        let inbox = self.inbox();
        std::fs::create_dir_all(&inbox).expect("inbox dir");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(self.port.to_string())
            .arg(&inbox)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 must be installed to run the SMTP test server");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        match ready {
            Ok(Ok(Some(line))) if line.trim() == "ready" => {}
            other => panic!(
                "the aiosmtpd test server did not start ({other:?}); \
                 install it with `pip install aiosmtpd` (see .ci/run)"
            ),
        }
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn inbox(&self) -> PathBuf {
        self.dir.path().join("inbox")
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Vec<Mail> {
        read_eml_dir(&self.inbox())
    }

    /// Messages received for one address, in arrival order.
    pub fn to(&self, address: &str) -> Vec<Mail> {
        self.messages()
            .into_iter()
            .filter(|m| {
                m.envelope_to
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(address))
            })
            .collect()
    }
}

/// Every `.eml` in `dir`, sorted by file name, with its envelope when one was saved beside it.
pub fn read_eml_dir(dir: &Path) -> Vec<Mail> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let raw = std::fs::read(p).expect("read .eml");
            let envelope: Option<serde_json::Value> = std::fs::read(p.with_extension("json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let mut mail = Mail::parse(raw);
            if let Some(env) = envelope {
                mail.envelope_to = env["rcpt_tos"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
            }
            mail
        })
        .collect()
}

/// What a mail client sees of one message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub raw: String,
    /// RCPT TO of the SMTP envelope (empty for .eml files): where it was really delivered.
    pub envelope_to: Vec<String>,
    pub to: String,
    pub from: String,
    pub subject: String,
    /// With angle brackets, as written.
    pub message_id: String,
    pub in_reply_to: String,
    pub references: String,
    pub content_type: String,
    pub text_parts: usize,
    pub html_parts: usize,
    pub text: String,
    pub html: String,
}

impl Mail {
    pub fn parse(raw: Vec<u8>) -> Self {
        let message = MessageParser::default()
            .parse(&raw)
            .expect("the message parses as MIME");
        let header = |name: &str| {
            message
                .header_raw(name)
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        let address = |a: Option<&mail_parser::Address>| {
            a.and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_owned()
        };
        Self {
            envelope_to: Vec::new(),
            to: address(message.to()),
            from: address(message.from()),
            subject: message.subject().unwrap_or_default().to_owned(),
            message_id: header("Message-ID"),
            in_reply_to: header("In-Reply-To"),
            references: header("References"),
            content_type: header("Content-Type"),
            text_parts: message.text_body_count(),
            html_parts: message.html_body_count(),
            text: message.body_text(0).unwrap_or_default().into_owned(),
            html: message.body_html(0).unwrap_or_default().into_owned(),
            raw: String::from_utf8_lossy(&raw).into_owned(),
        }
    }

    /// The confirmation links in the text part, in order.
    pub fn links(&self) -> Vec<String> {
        self.text
            .split_whitespace()
            .filter(|w| w.starts_with("http") && w.contains("/links/"))
            .map(str::to_owned)
            .collect()
    }

    /// The link under a label in the text part ("Approve:", "Deny …:").
    pub fn link(&self, label: &str) -> String {
        let mut lines = self.text.lines();
        while let Some(line) = lines.next() {
            if line.trim_end().starts_with(label)
                && let Some(url) = lines.next()
            {
                return url.trim().to_owned();
            }
        }
        panic!("no `{label}` link in:\n{}", self.text)
    }
}
