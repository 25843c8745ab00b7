//! Group commit: requests that arrive while a transaction commits wait in a queue; the next
//! leader takes them all into ONE transaction, and each is answered only after that commit.
//! With synchronous=FULL every commit is an fsync; sharing it keeps the promise (nothing is
//! acknowledged before it is durable) and divides the cost by the group size.
//!
//! It belongs to the store because it follows from SQLite's single writer: one transaction
//! at a time, so the queue costs nothing in concurrency. The caller supplies what a job
//! does inside the shared [`WriteTx`](super::WriteTx); the store decides how jobs share
//! transactions. A backend with concurrent writers may commit each job on its own here.

use super::StoreError;
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

/// Writes a group's items in one transaction with `write`, which answers one result per
/// item, in order. If that transaction fails nothing of it was written, so: a storage
/// condition (full disk, I/O error) fails every item at once, as retrying each would only
/// fail each again; any other error is one item's fault, so each item is written again
/// alone and only the bad one fails.
pub async fn write_shared<'a, T, A, F, Fut>(items: &'a [T], write: F) -> Vec<Result<A, StoreError>>
where
    F: Fn(&'a [T]) -> Fut,
    Fut: Future<Output = Result<Vec<A>, StoreError>>,
{
    let e = match write(items).await {
        Ok(done) => return done.into_iter().map(Ok).collect(),
        Err(e) => e,
    };
    if items.len() == 1 {
        return vec![Err(e)];
    }
    if e.repeat().is_some() {
        return items
            .iter()
            .map(|_| Err(e.repeat().unwrap_or(StoreError::Interrupted)))
            .collect();
    }
    let mut answers = Vec::with_capacity(items.len());
    for item in items {
        answers.push(match write(std::slice::from_ref(item)).await {
            Ok(mut one) => one.pop().ok_or(StoreError::Interrupted),
            Err(e) => Err(e),
        });
    }
    answers
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A write that fails any batch holding a 3 with `fail`, and counts its transactions.
    async fn run(fail: fn() -> StoreError) -> (Vec<Result<u8, StoreError>>, usize) {
        let calls = Cell::new(0);
        let items = [1u8, 2, 3, 4];
        let answers = write_shared(&items, |batch: &[u8]| {
            calls.set(calls.get() + 1);
            let result = if batch.contains(&3) {
                Err(fail())
            } else {
                Ok(batch.iter().map(|n| n * 10).collect())
            };
            async move { result }
        })
        .await;
        (answers, calls.get())
    }

    #[tokio::test]
    async fn a_bad_item_fails_alone_and_the_others_are_written_again_one_by_one() {
        let (answers, calls) = run(|| StoreError::Corrupt("bad row".into())).await;
        assert_eq!(calls, 1 + 4);
        let ok: Vec<Option<u8>> = answers.iter().map(|a| a.as_ref().ok().copied()).collect();
        assert_eq!(ok, vec![Some(10), Some(20), None, Some(40)]);
        assert!(matches!(answers[2], Err(StoreError::Corrupt(_))));
    }

    #[tokio::test]
    async fn a_storage_condition_fails_every_item_without_retrying_each() {
        let (answers, calls) = run(|| StoreError::Unavailable("disk full".into())).await;
        assert_eq!(calls, 1);
        assert_eq!(answers.len(), 4);
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Err(e) if e.is_unavailable()))
        );
    }
}
