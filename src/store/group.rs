//! Group commit: requests that arrive while a transaction commits wait in a queue; the next
//! leader takes them all into ONE transaction, and each is answered only after that commit.
//! With synchronous=FULL every commit is an fsync; sharing it keeps the promise (nothing is
//! acknowledged before it is durable) and divides the cost by the group size.
//!
//! It belongs to the store because it follows from SQLite's single writer: one transaction
//! at a time, so the queue costs nothing in concurrency. The caller supplies what a job
//! does inside the shared [`WriteTx`](super::WriteTx); the store decides how jobs share
//! transactions. A backend with concurrent writers may commit each job on its own here.

use std::future::Future;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// The most jobs one transaction takes, so a burst cannot hold the writer for long.
pub const MAX_GROUP: usize = 64;

pub struct Group<J> {
    queue: Mutex<Vec<J>>,
    /// Held while a group commits; whoever gets it next commits everything queued.
    leader: tokio::sync::Mutex<()>,
}

impl<J: Send + 'static> Group<J> {
    pub fn new() -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            leader: tokio::sync::Mutex::new(()),
        }
    }

    /// Queues the job `make` builds around its reply channel and waits for the answer.
    /// While no group is committing, the caller leads: `commit` gets the queue (its own
    /// job first among them, unless an earlier leader took it). `commit` runs in its own
    /// task, so a caller that goes away (a client disconnect) never abandons a group
    /// half-written: the others in it are still committed and answered.
    pub async fn submit<R, F, Fut>(
        &self,
        make: impl FnOnce(oneshot::Sender<R>) -> J,
        commit: F,
    ) -> Result<R, oneshot::error::RecvError>
    where
        F: Fn(Vec<J>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (reply, mut answer) = oneshot::channel();
        self.lock_queue().push(make(reply));
        loop {
            tokio::select! {
                biased;
                result = &mut answer => return result,
                leading = self.leader.lock() => {
                    let jobs = {
                        let mut queue = self.lock_queue();
                        let n = queue.len().min(MAX_GROUP);
                        queue.drain(..n).collect::<Vec<_>>()
                    };
                    if jobs.is_empty() {
                        // Ours is already in a group (one whose leader went away while
                        // its task commits): wait for that, not for the lock again.
                        drop(leading);
                        return answer.await;
                    }
                    // A failed task drops its reply senders; their callers see the error.
                    let _ = tokio::spawn(commit(jobs)).await;
                }
            }
        }
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<J>> {
        // A panic while holding this lock cannot leave the Vec inconsistent.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<J: Send + 'static> Default for Group<J> {
    fn default() -> Self {
        Self::new()
    }
}
