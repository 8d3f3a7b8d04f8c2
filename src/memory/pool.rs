//! The bounded embeddings worker pool: at most `workers` embeddings run at once (each local
//! one on tokio's blocking pool, so async workers and actors never compute a forward pass),
//! and at most `queue` jobs wait or run in all; beyond that a job is refused at once with
//! [`EmbedError::Overloaded`] instead of piling up behind a slow model.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use byte_actors::memory::{EmbedError, Embedder};
use byte_actors::metrics as m;
use tokio::sync::Semaphore;
use tracing::Instrument;

/// A shared, bounded front to one [`Embedder`].
#[derive(Clone)]
pub struct EmbedPool {
    embedder: Arc<dyn Embedder>,
    workers: Arc<Semaphore>,
    jobs: Arc<AtomicUsize>,
    queue: usize,
}

impl std::fmt::Debug for EmbedPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbedPool")
            .field("engine", &self.embedder.engine())
            .field("model", &self.embedder.model())
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

/// Decrements the job count when a job ends, however it ends (a cancelled request too).
struct JobGuard(Arc<AtomicUsize>);

impl Drop for JobGuard {
    fn drop(&mut self) {
        let left = self.0.fetch_sub(1, Ordering::AcqRel) - 1;
        metrics::gauge!(m::MEMORY_EMBED_QUEUE).set(left as f64);
    }
}

impl EmbedPool {
    /// A pool running at most `workers` jobs at once and holding at most `queue` in all.
    pub fn new(embedder: Arc<dyn Embedder>, workers: usize, queue: usize) -> Self {
        Self {
            embedder,
            workers: Arc::new(Semaphore::new(workers.max(1))),
            jobs: Arc::new(AtomicUsize::new(0)),
            queue: queue.max(workers.max(1)),
        }
    }

    /// The engine behind the pool (`local` or `endpoint`).
    pub fn engine(&self) -> &'static str {
        self.embedder.engine()
    }

    /// The model's name.
    pub fn model(&self) -> &str {
        self.embedder.model()
    }

    /// Jobs waiting or running now.
    pub fn depth(&self) -> usize {
        self.jobs.load(Ordering::Acquire)
    }

    /// Embeds `texts` on a worker; refuses at once when the queue is full.
    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let taken = self.jobs.fetch_add(1, Ordering::AcqRel);
        let guard = JobGuard(self.jobs.clone());
        if taken >= self.queue {
            drop(guard);
            metrics::counter!(m::MEMORY_EMBED_REJECTED).increment(1);
            return Err(EmbedError::Overloaded(taken));
        }
        metrics::gauge!(m::MEMORY_EMBED_QUEUE).set((taken + 1) as f64);
        let engine = self.embedder.engine();
        let span = tracing::debug_span!("memory.embed", engine, texts = texts.len());
        async {
            let _permit = self
                .workers
                .acquire()
                .await
                .map_err(|_| EmbedError::Unavailable("the embeddings pool is closed".into()))?;
            let started = Instant::now();
            let result = self.embedder.embed(texts).await;
            metrics::histogram!(m::MEMORY_EMBED_SECONDS, "engine" => engine)
                .record(started.elapsed().as_secs_f64());
            if result.is_ok() {
                metrics::counter!(m::MEMORY_EMBED_TEXTS, "engine" => engine)
                    .increment(texts.len() as u64);
            }
            drop(guard);
            result
        }
        .instrument(span)
        .await
    }
}
