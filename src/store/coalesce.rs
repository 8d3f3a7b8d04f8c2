//! Coalesced reads: many callers asking the same kind of question at once get one query.
//!
//! At start-up every channel actor restores itself (its snapshot, then the rows after it)
//! and loads its autonomy configuration. One query per channel is 100,000 round trips at
//! 100,000 channels, while one query for a few hundred channels costs little more than
//! one for a single channel. A [`Coalescer`] queues the callers' keys; each of its workers
//! takes whatever is waiting (up to a batch's size) and answers it with one batched call.
//! A lone caller is answered at once, never held back to wait for company: batches form
//! only while a worker is busy, so they grow with the load (as group commit does).

use std::future::Future;
use std::sync::Arc;

use byte_actors::ports::StoreError;
use tokio::sync::{Mutex, mpsc, oneshot};

type Job<K, V> = (K, oneshot::Sender<Result<V, StoreError>>);

/// Batches concurrent calls of one kind into one call per batch.
pub(crate) struct Coalescer<K, V> {
    tx: mpsc::UnboundedSender<Job<K, V>>,
}

impl<K, V> std::fmt::Debug for Coalescer<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer").finish_non_exhaustive()
    }
}

impl<K: Send + 'static, V: Send + 'static> Coalescer<K, V> {
    /// Starts `workers` workers that answer up to `max_batch` keys per call of `run`, which
    /// must return one answer per key, in the keys' order. Needs a Tokio runtime; the
    /// workers end when the coalescer is dropped.
    pub(crate) fn spawn<F, Fut>(workers: usize, max_batch: usize, run: F) -> Self
    where
        F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<V>, StoreError>> + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel::<Job<K, V>>();
        let rx = Arc::new(Mutex::new(rx));
        let run = Arc::new(run);
        for _ in 0..workers.max(1) {
            let (rx, run) = (rx.clone(), run.clone());
            tokio::spawn(async move {
                loop {
                    let jobs = {
                        let mut rx = rx.lock().await;
                        let Some(first) = rx.recv().await else {
                            return;
                        };
                        let mut jobs = vec![first];
                        while jobs.len() < max_batch.max(1) {
                            match rx.try_recv() {
                                Ok(job) => jobs.push(job),
                                Err(_) => break,
                            }
                        }
                        jobs
                    };
                    let (keys, replies): (Vec<K>, Vec<_>) = jobs.into_iter().unzip();
                    let n = keys.len();
                    match run(keys).await {
                        Ok(values) if values.len() == n => {
                            for (reply, v) in replies.into_iter().zip(values) {
                                let _ = reply.send(Ok(v));
                            }
                        }
                        Ok(values) => {
                            let err = StoreError::Unavailable(format!(
                                "batched read answered {} of {n} keys",
                                values.len()
                            ));
                            for reply in replies {
                                let _ = reply.send(Err(err.clone()));
                            }
                        }
                        Err(err) => {
                            for reply in replies {
                                let _ = reply.send(Err(err.clone()));
                            }
                        }
                    }
                }
            });
        }
        Self { tx }
    }

    /// Asks for one key; answered by the batch it lands in.
    pub(crate) async fn call(&self, key: K) -> Result<V, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((key, reply))
            .map_err(|_| StoreError::Unavailable("the store is closing".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the batched read was dropped".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // On the current-thread runtime the worker cannot run while the 100 calls are first
    // polled, so all of them are queued before it takes a batch: 64, then the other 36.
    #[tokio::test(flavor = "current_thread")]
    async fn concurrent_callers_share_batches_and_each_gets_its_own_answer() {
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let c = {
            let sizes = sizes.clone();
            Coalescer::spawn(1, 64, move |keys: Vec<u32>| {
                sizes.lock().unwrap().push(keys.len());
                async move { Ok(keys.into_iter().map(|k| k * 10).collect()) }
            })
        };
        let answers = futures::future::join_all((0..100u32).map(|k| c.call(k))).await;
        for (k, v) in answers.into_iter().enumerate() {
            assert_eq!(v.unwrap(), k as u32 * 10);
        }
        assert_eq!(*sizes.lock().unwrap(), vec![64, 36]);
    }

    #[tokio::test]
    async fn a_failed_batch_fails_each_caller_with_its_error() {
        let c = Coalescer::spawn(2, 8, |_keys: Vec<u32>| async {
            Err::<Vec<u32>, _>(StoreError::Unavailable("down".into()))
        });
        let err = c.call(1).await.unwrap_err();
        assert_eq!(err, StoreError::Unavailable("down".into()));
    }

    #[tokio::test]
    async fn a_short_answer_is_an_error_not_a_wrong_value() {
        let c = Coalescer::spawn(1, 8, |_keys: Vec<u32>| async { Ok(Vec::<u32>::new()) });
        assert!(matches!(c.call(1).await, Err(StoreError::Unavailable(_))));
    }
}
