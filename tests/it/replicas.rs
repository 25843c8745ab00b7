//! Several `countersign serve` processes on one PostgreSQL database, as behind a load
//! balancer (design.md §10): racing votes sent to different replicas, a long-poll woken by
//! another replica's commit, kill -9 of one replica mid-load with nothing acknowledged
//! lost, and a dead replica's callback taken over by a survivor.

use crate::support::callbacks::{Received, Receiver};
use crate::support::process::{Server, run, text, write_config};
use crate::support::{
    AGENT_KEY, AGENT_SECRET, Stage, TestConfig, TestDb, Workflow, eventually, postgres_only,
};
use countersign::store::db;
use futures_util::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Replicas sharing one database and one config file, the agent's callback receiver, and
/// the test's own connections to the database.
struct Replicas {
    servers: Vec<Server>,
    alive: Vec<AtomicBool>,
    /// Round-robin position, as a load balancer keeps it.
    next: AtomicUsize,
    /// Requests that got no answer (sent to a replica as it died), each sent again.
    unanswered: AtomicUsize,
    client: Client,
    db: TestDb,
    pool: db::Pool,
    receiver: Receiver,
    _dir: tempfile::TempDir,
}

/// A refused vote's answer, or the accepted vote's status document.
struct Answer {
    status: StatusCode,
    body: Value,
    /// The first replica asked gave no answer (it died); this one came from another.
    retried: bool,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

impl Replicas {
    /// `n` replicas of `config` (its agent calling back to a fresh receiver), started at
    /// once as a deployment starts them: migrations and generated keys are settled by the
    /// database, whichever replica comes first.
    async fn start(n: usize, config: TestConfig) -> Arc<Self> {
        let receiver = Receiver::start(AGENT_SECRET).await;
        let config = config.agent(|a| a.callback_url(&receiver.url));
        let dir = tempfile::tempdir().unwrap();
        let (path, db) = write_config(dir.path(), &config).await;
        let started = Instant::now();
        let servers = futures_util::future::join_all((0..n).map(|_| Server::start(&path))).await;
        eprintln!("{n} replicas ready in {:?}", started.elapsed());
        let pool = db.pool().await;
        Arc::new(Self {
            alive: (0..n).map(|_| AtomicBool::new(true)).collect(),
            servers,
            next: AtomicUsize::new(0),
            unanswered: AtomicUsize::new(0),
            client: crate::support::client(),
            db,
            pool,
            receiver,
            _dir: dir,
        })
    }

    fn url(&self, replica: usize, path: &str) -> String {
        format!("{}{path}", self.servers[replica].base)
    }

    /// The next live replica in turn, other than `avoid` while another is alive.
    fn pick(&self, avoid: Option<usize>) -> usize {
        let n = self.servers.len();
        for _ in 0..2 * n {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % n;
            if self.alive[i].load(Ordering::Relaxed) && Some(i) != avoid {
                return i;
            }
        }
        (0..n)
            .find(|i| self.alive[*i].load(Ordering::Relaxed))
            .expect("a live replica")
    }

    /// kill -9; the load balancer takes the replica out of rotation only afterwards, so
    /// requests in flight to it, and a few more, get no answer.
    fn kill(&self, replica: usize) {
        self.servers[replica].signal("KILL");
        self.alive[replica].store(false, Ordering::Relaxed);
    }

    /// `POST /v1/escalations` on one replica, which must answer 201; the id.
    async fn create_on(&self, replica: usize, body: Value) -> String {
        self.servers[replica].escalate_id(&self.client, body).await
    }

    /// `POST /v1/escalations` as an agent behind the load balancer: a request that gets no
    /// answer (its replica died) is sent again to another replica under the same
    /// `Idempotency-Key`. The id once acknowledged (201, or 200 for the repeat of one that
    /// committed); `None` when no replica answered.
    async fn create(&self, key: &str, body: &Value) -> Option<String> {
        let mut avoid = None;
        for _ in 0..3 {
            let i = self.pick(avoid);
            let sent = self
                .client
                .post(self.url(i, "/v1/escalations"))
                .bearer_auth(AGENT_KEY)
                .header("Idempotency-Key", key)
                .json(body)
                .send()
                .await;
            // No answer, or one cut off mid-body: not acknowledged.
            let answer = match sent {
                Ok(r) => {
                    let status = r.status();
                    r.text().await.ok().map(|text| (status, text))
                }
                Err(_) => None,
            };
            let Some((status, text)) = answer else {
                self.unanswered.fetch_add(1, Ordering::Relaxed);
                avoid = Some(i);
                continue;
            };
            assert!(
                status == StatusCode::CREATED || (status == StatusCode::OK && avoid.is_some()),
                "create {key} on replica {i}: {status} {text}"
            );
            let doc: Value = serde_json::from_str(&text).expect("status document");
            return Some(doc["id"].as_str().expect("id").to_owned());
        }
        None
    }

    /// `POST /v1/escalations/{id}/votes` as `reviewer`, first on replica `first`, then
    /// (when it gives no answer) on others; `None` when no replica answered.
    async fn vote(&self, first: usize, id: &str, reviewer: &str, body: &Value) -> Option<Answer> {
        let mut i = first;
        for attempt in 0..3 {
            let sent = self
                .client
                .post(self.url(i, &format!("/v1/escalations/{id}/votes")))
                .bearer_auth(format!("{reviewer}-key"))
                .json(body)
                .send()
                .await;
            if let Ok(r) = sent {
                let status = r.status();
                if let Ok(body) = r.json::<Value>().await {
                    return Some(Answer {
                        status,
                        body,
                        retried: attempt > 0,
                    });
                }
            }
            self.unanswered.fetch_add(1, Ordering::Relaxed);
            i = self.pick(Some(i));
        }
        None
    }

    /// The status document, read on a live replica.
    async fn status(&self, id: &str) -> Value {
        let r = self
            .client
            .get(self.url(self.pick(None), &format!("/v1/escalations/{id}")))
            .bearer_auth(AGENT_KEY)
            .send()
            .await
            .expect("a live replica answers");
        assert_eq!(r.status(), StatusCode::OK, "escalation {id}");
        r.json().await.expect("json")
    }

    /// Waits until every callback the outbox holds is delivered (none open: nothing more
    /// will arrive) and each of `ids` has been called back; the deliveries by escalation.
    async fn settled_callbacks(&self, ids: &HashSet<String>) -> HashMap<String, Vec<Received>> {
        eventually(Duration::from_secs(40), || async {
            let open: i64 = db::query_scalar(
                "SELECT COUNT(*) FROM outbox
                 WHERE channel = 'callback' AND delivered_at IS NULL AND failed_at IS NULL",
            )
            .fetch_one(&self.pool)
            .await
            .expect("open callbacks");
            let by_id = callbacks_by_escalation(&self.receiver.received());
            (open == 0 && ids.iter().all(|id| by_id.contains_key(id))).then_some(by_id)
        })
        .await
    }

    /// How many `decided` audit events each escalation has.
    async fn decided_events(&self) -> HashMap<String, i64> {
        db::query_as::<(String, i64)>(
            "SELECT escalation_id, COUNT(*) FROM audit_events
             WHERE kind = 'decided' GROUP BY escalation_id",
        )
        .fetch_all(&self.pool)
        .await
        .expect("decided events")
        .into_iter()
        .collect()
    }

    /// `countersign audit verify` on the shared database passes (one chain, intact).
    fn assert_audit_intact(&self) {
        let out = run(&["audit", "verify", "--database", &self.db.url()]);
        assert!(out.status.success(), "{}", text(&out));
    }

    /// The replica whose leases carry `owner`: its connections' `application_name` names
    /// the owner, and their client ports are sockets of the replica's process.
    async fn replica_of(&self, owner: &str) -> usize {
        let ports: Vec<i64> = db::query_scalar(
            "SELECT CAST(client_port AS BIGINT) FROM pg_stat_activity WHERE application_name = ?",
        )
        .bind(format!("countersign {owner}"))
        .fetch_all(&self.pool)
        .await
        .expect("connections of the owner");
        assert!(!ports.is_empty(), "no connection of lease owner {owner}");
        self.servers
            .iter()
            .position(|s| local_ports(s.pid()).iter().any(|p| ports.contains(p)))
            .unwrap_or_else(|| panic!("no replica holds the connections of {owner}"))
    }
}

/// The local TCP ports of process `pid`'s sockets (from /proc: its descriptors' socket
/// inodes, looked up in the kernel's TCP tables).
fn local_ports(pid: u32) -> Vec<i64> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(inode)) = (fields.get(1), fields.get(9)) else {
                continue;
            };
            if !inodes.contains(*inode) {
                continue;
            }
            if let Some(port) = local.rsplit(':').next() {
                ports.extend(i64::from_str_radix(port, 16).ok());
            }
        }
    }
    ports
}

/// The receiver's deliveries grouped by the escalation they report.
fn callbacks_by_escalation(received: &[Received]) -> HashMap<String, Vec<Received>> {
    let mut by_id: HashMap<String, Vec<Received>> = HashMap::new();
    for r in received {
        let id = r.body["data"]["id"].as_str().unwrap_or_default().to_owned();
        by_id.entry(id).or_default().push(r.clone());
    }
    by_id
}

/// The escalation was called back once: every delivery verified, reporting its final
/// status, and all under one webhook-id (repeats are retries of the same event).
fn assert_one_callback(id: &str, deliveries: &[Received], status: &Value) {
    let ids: HashSet<&str> = deliveries.iter().map(|r| r.webhook_id.as_str()).collect();
    assert_eq!(
        ids.len(),
        1,
        "{id}: callbacks under several webhook-ids: {ids:?}"
    );
    for r in deliveries {
        assert!(r.verified, "{id}: unsigned callback");
        assert_eq!(r.body["type"], "escalation.decided", "{id}");
        assert_eq!(&r.body["data"]["status"], status, "{id}: {}", r.body);
    }
}

/// The reviewers whose votes the escalation holds (its single stage).
fn voters(doc: &Value) -> Vec<String> {
    doc["stages"][0]["votes"]
        .as_array()
        .expect("votes")
        .iter()
        .map(|v| v["reviewer"].as_str().expect("reviewer").to_owned())
        .collect()
}

fn approve() -> Value {
    json!({"decision": "approve"})
}

fn deny() -> Value {
    json!({"decision": "deny", "comment": "Not now"})
}

/// Votes sent at the same instant to different replicas give exactly one decision and one
/// callback: first past the post on `race` (any one of six), and a two-of-three quorum
/// where the third vote comes too late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_votes_on_different_replicas_decide_once_and_call_back_once() {
    if postgres_only("replicas share one database") {
        return;
    }
    let r = Replicas::start(3, TestConfig::default()).await;
    const ROUNDS: usize = 20;
    let mut finals = HashMap::new();
    for round in 0..ROUNDS {
        let race = round % 2 == 0;
        let (intent, reviewers): (&str, &[&str]) = if race {
            (
                "test.race",
                &["alice", "bob", "carol", "dave", "erin", "frank"],
            )
        } else {
            ("test.quorum", &["alice", "bob", "carol"])
        };
        let id = r
            .create_on(
                round % 3,
                json!({"intent": intent, "summary": format!("Race {round}")}),
            )
            .await;
        // Each vote to another replica, all released together.
        let start = Arc::new(tokio::sync::Barrier::new(reviewers.len()));
        let mut votes = tokio::task::JoinSet::new();
        for (k, reviewer) in reviewers.iter().enumerate() {
            let (r, id, start) = (r.clone(), id.clone(), start.clone());
            let reviewer = reviewer.to_string();
            // On `race` half of them deny: whichever lands first decides either way.
            let body = if race && k % 2 == 1 {
                deny()
            } else {
                approve()
            };
            votes.spawn(async move {
                start.wait().await;
                let answer = r.vote((round + k) % 3, &id, &reviewer, &body).await;
                let answer = answer.expect("every replica is up");
                assert!(!answer.retried, "a live replica gave no answer");
                (reviewer, body, answer)
            });
        }
        let answers = votes.join_all().await;
        let accepted: Vec<&(String, Value, Answer)> = answers
            .iter()
            .filter(|(_, _, a)| a.status == StatusCode::OK)
            .collect();
        for (reviewer, _, a) in answers
            .iter()
            .filter(|(_, _, a)| a.status != StatusCode::OK)
        {
            assert_eq!(
                (a.status, a.code()),
                (StatusCode::CONFLICT, "already_decided"),
                "round {round}: {reviewer}'s late vote: {}",
                a.body
            );
        }
        let doc = r.status(&id).await;
        let mut counted: Vec<String> = accepted.iter().map(|(who, _, _)| who.clone()).collect();
        let mut recorded = voters(&doc);
        counted.sort();
        recorded.sort();
        assert_eq!(counted, recorded, "round {round}: the votes answered 200");
        if race {
            assert_eq!(accepted.len(), 1, "round {round}: one vote decides");
            let (_, body, answer) = accepted[0];
            let outcome = if body["decision"] == "deny" {
                "denied"
            } else {
                "approved"
            };
            assert_eq!(answer.body["status"], outcome, "round {round}");
            assert_eq!(doc["status"], outcome, "round {round}");
        } else {
            assert_eq!(accepted.len(), 2, "round {round}: the quorum is two");
            assert_eq!(doc["status"], "approved", "round {round}");
        }
        finals.insert(id, doc["status"].clone());
    }

    let ids: HashSet<String> = finals.keys().cloned().collect();
    let callbacks = r.settled_callbacks(&ids).await;
    let decided = r.decided_events().await;
    for (id, status) in &finals {
        assert_eq!(decided.get(id), Some(&1), "{id}: decided events");
        // Nobody failed or died here: a second delivery would be a double claim.
        assert_eq!(callbacks[id].len(), 1, "{id}: deliveries");
        assert_one_callback(id, &callbacks[id], status);
    }
    assert_eq!(
        r.receiver.received().len(),
        ROUNDS,
        "callbacks of other ids"
    );
    r.assert_audit_intact();
}

/// A long-poll on one replica answers as soon as the deciding vote commits on another:
/// the decision is announced with NOTIFY, not found by the poll's own timer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_on_one_replica_hears_a_vote_on_another() {
    if postgres_only("replicas share one database") {
        return;
    }
    let r = Replicas::start(2, TestConfig::default()).await;
    for (poll_on, vote_on) in [(0, 1), (1, 0)] {
        let id = r
            .create_on(
                poll_on,
                json!({"intent": "test.single", "summary": "Long-poll"}),
            )
            .await;
        let poll = r
            .client
            .get(r.url(poll_on, &format!("/v1/escalations/{id}?wait=30")))
            .bearer_auth(AGENT_KEY)
            .send();
        let poll = tokio::spawn(poll);
        // This pause only orders the two requests: a pending escalation's poll has nothing
        // to answer, so once it is still open it is waiting, and the vote comes after.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !poll.is_finished(),
            "the poll answered a pending escalation"
        );
        let answer = r.vote(vote_on, &id, "bob", &approve()).await.unwrap();
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let voted = Instant::now();
        let doc: Value = poll.await.unwrap().expect("poll").json().await.unwrap();
        let heard = voted.elapsed();
        assert_eq!(doc["status"], "approved", "{doc}");
        assert!(
            heard < Duration::from_secs(10),
            "the poll on replica {poll_on} answered {heard:?} after the vote on {vote_on} (wait=30)"
        );
    }
}

/// What one escalation of the load was, and what became of its requests.
struct Job {
    id: String,
    kind: Kind,
    /// Votes answered 200.
    counted: Vec<&'static str>,
    /// Every vote got an answer: 200, or (sent again after its replica died) the refusal
    /// saying the first one had counted.
    answered: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// `test.single`: bob approves.
    Single,
    /// `test.quorum`: alice and bob approve at once, on two replicas.
    Quorum,
    /// `test.short`: nobody votes; its 3 s timeout expires it, mostly while a replica is dead.
    Short,
}

/// The standard config and `test.short`, which expires 3 s after it is created.
fn short_timeouts() -> TestConfig {
    TestConfig::default().workflow(
        Workflow::new("short")
            .intents(["test.short"])
            .timeout("3s")
            .stage(Stage::new("Approval").approvers(["user:bob"])),
    )
}

const LOAD: usize = 240;
const SENDERS: usize = 12;

/// One escalation of the load: created, then voted on, through the load balancer.
async fn run_job(r: &Replicas, n: usize) -> Option<Job> {
    let kind = [Kind::Single, Kind::Quorum, Kind::Short][n % 3];
    let intent = match kind {
        Kind::Single => "test.single",
        Kind::Quorum => "test.quorum",
        Kind::Short => "test.short",
    };
    let body = json!({"intent": intent, "summary": format!("Load {n}")});
    let id = r.create(&format!("load-{n}"), &body).await?;
    let reviewers: &[&'static str] = match kind {
        Kind::Single => &["bob"],
        Kind::Quorum => &["alice", "bob"],
        Kind::Short => &[],
    };
    let answers = futures_util::future::join_all(
        reviewers
            .iter()
            .map(|who| async { (*who, r.vote(r.pick(None), &id, who, &approve()).await) }),
    )
    .await;
    let mut job = Job {
        id,
        kind,
        counted: Vec::new(),
        answered: true,
    };
    for (who, answer) in answers {
        let Some(a) = answer else {
            job.answered = false;
            continue;
        };
        if a.status == StatusCode::OK {
            job.counted.push(who);
        } else {
            // Only a repeat may be refused, and only because its first sending counted.
            assert!(
                a.retried && ["already_voted", "already_decided"].contains(&a.code()),
                "{}: {who}'s vote: {} {}",
                job.id,
                a.status,
                a.body
            );
        }
    }
    Some(job)
}

/// The item 3: three replicas under concurrent intake and votes, one killed with
/// kill -9 mid-load, the load going on on the other two. Then every acknowledged
/// escalation and vote is there, every timer that came due fired once, and every decision
/// was called back once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_killed_mid_load_loses_nothing_acknowledged() {
    if postgres_only("replicas share one database") {
        return;
    }
    let r = Replicas::start(3, short_timeouts()).await;
    let next = Arc::new(AtomicUsize::new(0));
    let jobs = Arc::new(Mutex::new(Vec::<Job>::new()));
    let unacknowledged = Arc::new(AtomicUsize::new(0));
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..SENDERS {
        let (r, next, jobs, unacked) = (
            r.clone(),
            next.clone(),
            jobs.clone(),
            unacknowledged.clone(),
        );
        senders.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= LOAD {
                    return;
                }
                match run_job(&r, n).await {
                    Some(job) => jobs.lock().unwrap().push(job),
                    None => {
                        unacked.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    // A third of the way in, replica 0 dies with its requests, leases and connections.
    eventually(Duration::from_secs(30), || async {
        (jobs.lock().unwrap().len() >= LOAD / 3).then_some(())
    })
    .await;
    r.kill(0);
    let done_at_kill = jobs.lock().unwrap().len();
    let killed = Instant::now();
    while let Some(sender) = senders.join_next().await {
        sender.expect("a sender failed");
    }
    let jobs = std::mem::take(&mut *jobs.lock().unwrap());
    eprintln!(
        "{} escalations acknowledged ({done_at_kill} before the kill), {} not; {} requests \
         sent again after no answer; load ended {:?} after the kill",
        jobs.len(),
        unacknowledged.load(Ordering::Relaxed),
        r.unanswered.load(Ordering::Relaxed),
        killed.elapsed()
    );
    assert!(
        done_at_kill < LOAD - SENDERS,
        "the kill came after the load"
    );
    assert!(
        jobs.iter().all(|j| j.answered),
        "two live replicas answer every vote"
    );

    // Everything acknowledged ends decided: votes approve, timeouts expire.
    let ids: HashSet<String> = jobs.iter().map(|j| j.id.clone()).collect();
    assert_eq!(ids.len(), jobs.len(), "one escalation per idempotency key");
    eventually(Duration::from_secs(30), || async {
        let open: Vec<String> =
            db::query_scalar("SELECT id FROM escalations WHERE decided_at IS NULL")
                .fetch_all(&r.pool)
                .await
                .expect("open escalations");
        (!open.iter().any(|id| ids.contains(id))).then_some(())
    })
    .await;
    let docs: HashMap<String, Value> = futures_util::stream::iter(&ids)
        .map(|id| async { (id.clone(), r.status(id).await) })
        .buffer_unordered(16)
        .collect()
        .await;
    let callbacks = r.settled_callbacks(&ids).await;
    let decided = r.decided_events().await;
    for job in &jobs {
        let doc = &docs[&job.id];
        let expected = match job.kind {
            Kind::Single | Kind::Quorum => "approved",
            Kind::Short => "expired",
        };
        assert_eq!(doc["status"], expected, "{}: {doc}", job.id);
        let recorded = voters(doc);
        for who in &job.counted {
            assert!(
                recorded.iter().any(|v| v == who),
                "{}: {who}'s vote answered 200 is missing: {doc}",
                job.id
            );
        }
        assert_eq!(decided.get(&job.id), Some(&1), "{}: decided events", job.id);
        assert_one_callback(&job.id, &callbacks[&job.id], &doc["status"]);
    }
    let expired = jobs.iter().filter(|j| j.kind == Kind::Short).count();
    assert!(expired >= LOAD / 3 - SENDERS, "{expired} timeouts fired");
    r.assert_audit_intact();
}

/// A replica killed while its callback attempt hangs leaves the item leased to it; a
/// survivor sees the owner has no connection left, releases the lease and delivers the
/// callback (same webhook-id) in seconds, not after the lease's two minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_callback_is_taken_over_by_a_survivor() {
    if postgres_only("replicas share one database") {
        return;
    }
    let r = Replicas::start(2, TestConfig::default()).await;
    r.receiver.hold_next(1);
    let id = r
        .create_on(0, json!({"intent": "test.single", "summary": "Held"}))
        .await;
    let answer = r.vote(1, &id, "bob", &approve()).await.unwrap();
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // The first attempt hangs at the receiver: the replica making it holds the lease.
    eventually(Duration::from_secs(10), || async {
        (!r.receiver.received().is_empty()).then_some(())
    })
    .await;
    let owner: String = db::query_scalar(
        "SELECT leased_by FROM outbox WHERE escalation_id = ? AND channel = 'callback'",
    )
    .bind(id.as_str())
    .fetch_one(&r.pool)
    .await
    .expect("the callback's lease");
    let holder = r.replica_of(&owner).await;
    r.kill(holder);
    let killed = Instant::now();

    // Only the survivor is left to deliver it.
    let attempts = eventually(Duration::from_secs(30), || async {
        db::query_as::<(Option<i64>, i64)>(
            "SELECT delivered_at, attempts FROM outbox WHERE escalation_id = ? AND channel = 'callback'",
        )
        .bind(id.as_str())
        .fetch_one(&r.pool)
        .await
        .ok()
        .and_then(|(at, attempts)| at.map(|_| attempts))
    })
    .await;
    let took = killed.elapsed();
    assert_eq!(attempts, 2, "the held attempt and the survivor's");
    assert!(
        took < Duration::from_secs(20),
        "taken over {took:?} after the kill: the lease ran out instead of being released"
    );
    let received = r.receiver.received();
    assert_eq!(received.len(), 2, "the held attempt and the survivor's");
    let status = r.status(&id).await["status"].clone();
    assert_one_callback(&id, &received, &status);
    r.assert_audit_intact();
}

/// A timer leased by a replica that died mid-tick (an owner with no connection left) is
/// released by a live replica and fires, once, within seconds of coming due rather than
/// when the lease runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replicas_timer_lease_is_released_and_the_timer_fires_once() {
    if postgres_only("replicas share one database") {
        return;
    }
    let r = Replicas::start(2, short_timeouts()).await;
    let id = r
        .create_on(0, json!({"intent": "test.short", "summary": "Leased"}))
        .await;
    let created = Instant::now();
    // What kill -9 in the middle of a tick leaves, before the timer is due: its row leased
    // for ten minutes to a replica whose connections are gone.
    let leased =
        db::query("UPDATE timers SET leased_by = ?, lease_until = ? WHERE escalation_id = ?")
            .bind("01DEADREPL1CA0000000000000")
            .bind(chrono::Utc::now().timestamp_millis() + 600_000)
            .bind(id.as_str())
            .execute(&r.pool)
            .await
            .expect("lease the timer");
    assert_eq!(leased, 1, "the escalation's timeout timer");
    let doc: Value = r
        .client
        .get(r.url(1, &format!("/v1/escalations/{id}?wait=30")))
        .bearer_auth(AGENT_KEY)
        .send()
        .await
        .expect("poll")
        .json()
        .await
        .expect("json");
    let took = created.elapsed();
    assert_eq!(doc["status"], "expired", "{doc}");
    // Due at 3 s; the release runs every 5 s on each replica (room for a loaded machine:
    // the lease alone would hold it ten minutes).
    assert!(
        took < Duration::from_secs(20),
        "expired {took:?} after creation"
    );
    let ids = HashSet::from([id.clone()]);
    let callbacks = r.settled_callbacks(&ids).await;
    assert_eq!(r.decided_events().await.get(&id), Some(&1), "fired once");
    assert_eq!(callbacks[&id].len(), 1);
    assert_one_callback(&id, &callbacks[&id], &doc["status"]);
    r.assert_audit_intact();
}
