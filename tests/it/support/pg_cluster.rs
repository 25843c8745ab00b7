//! A throwaway PostgreSQL cluster of this process's own: initdb on a temp dir, a free
//! loopback port, the `postgres` user when run as root. Shared by the integration tests
//! (`database.rs`) and the benchmark (`benches/countersign`, through `#[path]`).

use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A PostgreSQL server of our own: its data directory under the temp dir, its socket in
/// it, TCP on a free loopback port. It dies with this process (the kernel sends it SIGINT,
/// a fast shutdown, when we exit; see `pre_exec`), and the next run removes what is left.
pub struct Cluster {
    port: u16,
    dir: PathBuf,
    server: Child,
    next: AtomicU32,
}

impl Cluster {
    /// Starts a cluster with these `-c name=value` settings (besides the loopback
    /// address): the tests turn durability off, the benchmark keeps PostgreSQL's defaults.
    pub fn start(settings: &[(&str, &str)]) -> Self {
        let bin = bin_dir();
        sweep_stale();
        let dir = std::env::temp_dir().join(format!("countersign-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cluster dir");
        let user = Runner::detect();
        user.own(&dir);
        let data = dir.join("data");
        let out = user
            .command(&bin.join("initdb"))
            .args(["-D", &data.display().to_string()])
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
            .args(["--locale", "C"])
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.join("server.log")).expect("server log");
        let mut command = user.command(&bin.join("postgres"));
        command
            .args(["-D", &data.display().to_string()])
            .args(["-p", &port.to_string()])
            .args(["-k", &dir.display().to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"]);
        for (name, value) in settings {
            command.args(["-c", &format!("{name}={value}")]);
        }
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let server = spawn_for_good(command);
        let cluster = Self {
            port,
            dir: dir.clone(),
            server,
            next: AtomicU32::new(0),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start: see {}",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    /// The URL of database `name` as the superuser.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// A new empty database; its URL.
    pub async fn create_database(&self) -> String {
        let name = format!("t{}", self.next.fetch_add(1, Ordering::Relaxed));
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut admin = loop {
            // The server may still be starting up (the port opens before it accepts).
            match sqlx::PgConnection::connect(&self.url("postgres")).await {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("connect to the test cluster: {e}"),
            }
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;
        self.url(&name)
    }
}

impl Drop for Cluster {
    /// A cluster that goes out of scope shuts down fast (SIGINT) and leaves nothing behind;
    /// the tests' cluster lives in a static and ends with the process instead.
    fn drop(&mut self) {
        // SAFETY: kill has no preconditions; the pid is our child's, not yet reaped.
        unsafe { libc::kill(self.server.id() as libc::pid_t, libc::SIGINT) };
        let _ = self.server.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where PostgreSQL's programs are: `$PG_BIN`, else the newest of Debian's
/// `/usr/lib/postgresql/<version>/bin`, else the PATH.
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("postgres").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .unwrap_or_else(|| PathBuf::from(""))
}

/// Removes the clusters of test processes that are gone.
fn sweep_stale() {
    let tmp = std::env::temp_dir();
    for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("countersign-pg-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// PostgreSQL refuses to run as root: as root, its programs run as the `postgres` user
/// (Debian's package creates it).
enum Runner {
    Me,
    Postgres { uid: u32, gid: u32 },
}

impl Runner {
    fn detect() -> Self {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Runner::Me;
        }
        let out = Command::new("id")
            .args(["-u", "postgres"])
            .output()
            .expect("id");
        let uid = String::from_utf8_lossy(&out.stdout).trim().parse().expect(
            "running as root: PostgreSQL needs the `postgres` user (apt-get install postgresql)",
        );
        let out = Command::new("id")
            .args(["-g", "postgres"])
            .output()
            .expect("id");
        let gid = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("postgres gid");
        Runner::Postgres { uid, gid }
    }

    fn own(&self, dir: &Path) {
        if let Runner::Postgres { uid, gid } = self {
            std::os::unix::fs::chown(dir, Some(*uid), Some(*gid)).expect("chown cluster dir");
        }
    }

    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        if let Runner::Postgres { uid, gid } = self {
            use std::os::unix::process::CommandExt;
            c.uid(*uid).gid(*gid).env("HOME", "/tmp");
        }
        c
    }
}

/// Spawns `command` so that it gets SIGINT (PostgreSQL's fast shutdown) when this process
/// ends, however it ends. The kernel sends that signal when the *thread* that spawned the
/// child exits, so it is spawned from a thread that lives as long as the process.
fn spawn_for_good(mut command: Command) -> Child {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe, which is all pre_exec requires.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("postgres-parent".into())
        .spawn(move || {
            let _ = tx.send(command.spawn());
            loop {
                std::thread::park();
            }
        })
        .expect("thread");
    rx.recv().expect("spawned").expect("postgres starts")
}
