//! The real `countersign serve` binary as a separate process, for what only a process
//! shows: CPU time (`/proc/PID/stat` utime + stime) and peak RSS (`/proc/PID/status` VmHWM).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The binary cargo built for this bench run (same profile).
pub const BIN: &str = env!("CARGO_BIN_EXE_countersign");

pub struct Proc {
    child: Child,
    pub base: String,
}

impl Proc {
    /// Starts `countersign serve --config FILE` and waits until `/healthz` answers.
    pub async fn serve(config: &Path, log: &Path) -> Self {
        let port = free_port();
        let log = std::fs::File::create(log).expect("log file");
        let child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn countersign");
        let proc = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = crate::stack::client();
        for _ in 0..600 {
            if let Ok(r) = client.get(format!("{}/healthz", proc.base)).send().await
                && r.status().is_success()
            {
                return proc;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        proc.kill9();
        panic!("countersign did not become healthy within 30 s");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// user + system CPU time consumed so far.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("stat");
        // Fields after the command name (which may contain spaces) start at field 3.
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime");
        Duration::from_secs_f64(ticks as f64 / clock_ticks())
    }

    /// A `/proc/PID/status` field in KiB (VmHWM = peak RSS, VmRSS = now).
    pub fn status_kib(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// SIGKILL: no shutdown, no flush — what a crash looks like.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    /// A panicking bench must not leave a server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// USER_HZ; 100 on every Linux we know of, but ask.
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Cores and memory of this machine, from /proc.
pub fn machine() -> (usize, u64, String) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    (cores, mem_kib, model)
}
