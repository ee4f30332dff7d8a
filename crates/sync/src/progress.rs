//! A sync's progress, from the sync that makes it to whoever persists it.
//!
//! Results are published as they change, and persisted when the reader
//! likes (the controller: at most once a second). At a checkpoint the sync
//! waits until the reader has persisted them: before it creates hooks, and
//! once they have completed, so that a restarted controller knows which
//! hooks ran and never runs one twice.

use driftless_api::ResourceResult;
use tokio::sync::{mpsc, oneshot, watch};

/// Creates the two ends of a sync's progress.
pub fn channel() -> (Progress, ProgressReader) {
    let (results, latest) = watch::channel(Vec::new());
    let (checkpoints, requests) = mpsc::unbounded_channel();
    (Progress { results, checkpoints }, ProgressReader { latest, requests })
}

/// The sync's end.
pub struct Progress {
    results: watch::Sender<Vec<ResourceResult>>,
    checkpoints: mpsc::UnboundedSender<Checkpoint>,
}

impl Progress {
    /// Publishes every result so far.
    pub fn publish(&self, results: &[ResourceResult]) {
        self.results.send_replace(results.to_vec());
    }

    /// Waits until the reader has persisted what was published. Without a
    /// reader, there is nothing to wait for.
    pub async fn checkpoint(&self) {
        let (done, persisted) = oneshot::channel();
        if self.checkpoints.send(Checkpoint(done)).is_ok() {
            // An error is the reader dropping the checkpoint: done.
            let _ = persisted.await;
        }
    }
}

/// The end that persists what the sync publishes.
pub struct ProgressReader {
    latest: watch::Receiver<Vec<ResourceResult>>,
    requests: mpsc::UnboundedReceiver<Checkpoint>,
}

impl ProgressReader {
    /// Whether results were published since [`Self::latest`] last read them.
    pub fn has_changed(&self) -> bool {
        self.latest.has_changed().unwrap_or(false)
    }

    /// Every result so far.
    pub fn latest(&mut self) -> Vec<ResourceResult> {
        self.latest.borrow_and_update().clone()
    }

    /// The next checkpoint the sync waits at; None once the sync is gone.
    pub async fn checkpoint(&mut self) -> Option<Checkpoint> {
        self.requests.recv().await
    }
}

/// A sync waiting for its results to be persisted. It goes on once they
/// are, or once this is dropped (persisting failed: the sync is not held
/// up by an unreachable API server).
pub struct Checkpoint(oneshot::Sender<()>);

impl Checkpoint {
    /// The results are persisted: the sync goes on.
    pub fn persisted(self) {
        let _ = self.0.send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_checkpoint_holds_the_sync_until_the_reader_is_done_with_it() {
        let (progress, mut reader) = channel();
        let sync = async {
            progress.publish(&[]);
            progress.checkpoint().await;
            "went on"
        };
        let persist = async {
            let checkpoint = reader.checkpoint().await.expect("the sync waits");
            assert!(reader.has_changed(), "what to persist was published first");
            reader.latest();
            checkpoint.persisted();
        };
        let (went_on, ()) = tokio::join!(sync, persist);
        assert_eq!(went_on, "went on");
    }

    #[tokio::test]
    async fn without_a_reader_a_checkpoint_does_not_wait() {
        let (progress, reader) = channel();
        drop(reader);
        progress.checkpoint().await;
    }
}
