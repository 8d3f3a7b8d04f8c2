//! The bounded embeddings worker pool: at most `workers` embedder calls run at once (each
//! local one on tokio's blocking pool, so async workers and actors never compute a forward
//! pass), and at most `queue` jobs wait or run in all; beyond that a job is refused at once
//! with [`EmbedError::Overloaded`] instead of piling up behind a slow model.
//!
//! # Coalescing
//! Jobs that are waiting when a worker becomes free are taken together (up to
//! [`MAX_BATCH_TEXTS`] texts; a larger job still runs alone, whole) and embedded by ONE call
//! of the engine, and each job gets back its own vectors, in order. Searches and API writes
//! send one-text jobs (enrichment gathers its own batches first, see `Memory::enrichment`),
//! and a forward pass of batch size 1 is the least efficient way to run
//! the model's matrix products: on this project's benchmark machine the local model embeds
//! 39.2 texts/s one at a time against 62.5 texts/s in batches of 32 (`bench memory`,
//! docs/benchmarks.md), and an endpoint answers several inputs per request for about the
//! price of one. During the full-speed ingest benchmark the batch-1 forward passes were ~23%
//! of the process's CPU.
//!
//! A lone job is never held back to wait for company (no timer, no linger): only what is
//! already queued is coalesced, so batches form only while every worker is busy and grow
//! with the load, as the store's `Coalescer` (src/store/coalesce.rs) does for reads. That
//! one is not reused here: it caps a batch by its count of keys and answers with the
//! store's error type, while this pool caps by texts (a job holds several) and keeps its
//! own bound and metrics.
//!
//! The workers are tasks spawned on the runtime of the first job (so a pool can be built
//! outside one) and end when the last handle to the pool is dropped.
//!
//! A failed call fails every job of its batch with the same error. A job whose caller gave
//! up (its future was dropped) keeps its place in the bound until a worker discards it
//! unembedded, or, if its batch had already started, until the batch ends; its neighbours
//! in the batch are answered as usual.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::Instant;

use byte_actors::memory::{EmbedError, Embedder};
use byte_actors::metrics as m;
use futures::FutureExt;
use tokio::sync::{Notify, oneshot};
use tracing::Instrument;

/// Texts per embedder call at most, when jobs are coalesced: the batch size `bench memory`
/// measures the local model at, and a bound on how long a job waits for the others of its
/// batch (every row is padded to the longest text).
pub const MAX_BATCH_TEXTS: usize = 32;

type Reply = oneshot::Sender<Result<Vec<Vec<f32>>, EmbedError>>;

/// One caller's texts, waiting for a worker.
struct Job {
    texts: Vec<String>,
    reply: Reply,
    /// The job's place in the bound, released when the job is answered or discarded.
    _place: JobGuard,
}

/// What the pool's handles and its workers share.
struct Shared {
    embedder: Arc<dyn Embedder>,
    waiting: Mutex<VecDeque<Job>>,
    /// Signalled when a job is queued, when a worker leaves jobs behind, and on close.
    ready: Notify,
    closed: AtomicBool,
    jobs: Arc<AtomicUsize>,
    workers: usize,
    queue: usize,
    max_batch: usize,
    /// Set when the workers have been spawned (by the first job).
    started: Once,
}

/// A shared, bounded front to one [`Embedder`].
#[derive(Clone)]
pub struct EmbedPool {
    shared: Arc<Shared>,
    _open: Arc<Open>,
}

/// Held by every clone of the pool; when the last one goes, the workers end.
struct Open(Arc<Shared>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
        self.0.ready.notify_waiters();
    }
}

impl std::fmt::Debug for EmbedPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbedPool")
            .field("engine", &self.shared.embedder.engine())
            .field("model", &self.shared.embedder.model())
            .field("queue", &self.shared.queue)
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
    /// A pool running at most `workers` embedder calls at once and holding at most `queue`
    /// jobs in all, coalescing waiting jobs up to [`MAX_BATCH_TEXTS`] texts per call.
    pub fn new(embedder: Arc<dyn Embedder>, workers: usize, queue: usize) -> Self {
        Self::with_max_batch(embedder, workers, queue, MAX_BATCH_TEXTS)
    }

    fn with_max_batch(
        embedder: Arc<dyn Embedder>,
        workers: usize,
        queue: usize,
        max_batch: usize,
    ) -> Self {
        let workers = workers.max(1);
        let shared = Arc::new(Shared {
            embedder,
            waiting: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            closed: AtomicBool::new(false),
            jobs: Arc::new(AtomicUsize::new(0)),
            workers,
            queue: queue.max(workers),
            max_batch: max_batch.max(1),
            started: Once::new(),
        });
        Self {
            _open: Arc::new(Open(shared.clone())),
            shared,
        }
    }

    /// The engine behind the pool (`local` or `endpoint`).
    pub fn engine(&self) -> &'static str {
        self.shared.embedder.engine()
    }

    /// The model's name.
    pub fn model(&self) -> &str {
        self.shared.embedder.model()
    }

    /// Jobs waiting or running now.
    pub fn depth(&self) -> usize {
        self.shared.jobs.load(Ordering::Acquire)
    }

    /// Embeds `texts` on a worker, possibly in one call with other waiting jobs; refuses at
    /// once when the queue is full.
    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let shared = &self.shared;
        let taken = shared.jobs.fetch_add(1, Ordering::AcqRel);
        let place = JobGuard(shared.jobs.clone());
        if taken >= shared.queue {
            drop(place);
            metrics::counter!(m::MEMORY_EMBED_REJECTED).increment(1);
            return Err(EmbedError::Overloaded(taken));
        }
        metrics::gauge!(m::MEMORY_EMBED_QUEUE).set((taken + 1) as f64);
        shared.started.call_once(|| {
            for _ in 0..shared.workers {
                tokio::spawn(work(shared.clone()));
            }
        });
        let engine = shared.embedder.engine();
        let span = tracing::debug_span!("memory.embed", engine, texts = texts.len());
        async {
            let (reply, answer) = oneshot::channel();
            shared.lock().push_back(Job {
                texts: texts.to_vec(),
                reply,
                _place: place,
            });
            shared.ready.notify_one();
            answer.await.unwrap_or_else(|_| {
                Err(EmbedError::Unavailable(
                    "the embeddings pool closed before answering".into(),
                ))
            })
        }
        .instrument(span)
        .await
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Job>> {
        // The queue is only pushed to and popped from; a panic elsewhere cannot leave it
        // half-changed.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The waiting jobs, oldest first, up to `max_batch` texts (at least one job, whatever
    /// its size). Jobs whose caller is gone are dropped here, unembedded.
    fn take_batch(&self) -> Vec<Job> {
        let mut gone = Vec::new();
        let mut batch = Vec::new();
        let mut texts = 0;
        let mut waiting = self.lock();
        while let Some(job) = waiting.front() {
            if job.reply.is_closed() {
                gone.extend(waiting.pop_front());
                continue;
            }
            if !batch.is_empty() && texts + job.texts.len() > self.max_batch {
                break;
            }
            texts += job.texts.len();
            batch.extend(waiting.pop_front());
        }
        if !waiting.is_empty() {
            // Left behind by the cap: another idle worker may take them now.
            self.ready.notify_one();
        }
        drop(waiting);
        drop(gone);
        batch
    }

    /// One embedder call for the whole batch; each job is answered with its own vectors.
    async fn run(&self, mut batch: Vec<Job>) {
        let engine = self.embedder.engine();
        let counts: Vec<usize> = batch.iter().map(|j| j.texts.len()).collect();
        let texts: Vec<String> = batch
            .iter_mut()
            .flat_map(|j| std::mem::take(&mut j.texts))
            .collect();
        let n = texts.len();
        let span =
            tracing::debug_span!("memory.embed_batch", engine, jobs = batch.len(), texts = n);
        let started = Instant::now();
        // A panicking engine fails its batch, not the worker (which would shrink the pool).
        let call = AssertUnwindSafe(self.embedder.embed(&texts)).catch_unwind();
        let result = match call.instrument(span).await {
            Ok(result) => result,
            Err(_) => Err(EmbedError::Invalid("the embeddings engine panicked".into())),
        };
        metrics::histogram!(m::MEMORY_EMBED_SECONDS, "engine" => engine)
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!(m::MEMORY_EMBED_BATCH_TEXTS, "engine" => engine).record(n as f64);
        let result = result.and_then(|vectors| {
            if vectors.len() == n {
                Ok(vectors)
            } else {
                Err(EmbedError::Invalid(format!(
                    "{} vectors for {n} inputs",
                    vectors.len()
                )))
            }
        });
        // Places are freed before the answers go out, so a caller that has its answer never
        // sees its own job still counted.
        let replies: Vec<(Reply, usize)> = batch.into_iter().map(|j| j.reply).zip(counts).collect();
        match result {
            Ok(vectors) => {
                metrics::counter!(m::MEMORY_EMBED_TEXTS, "engine" => engine).increment(n as u64);
                let mut vectors = vectors.into_iter();
                for (reply, count) in replies {
                    // A caller that gave up no longer listens; the others are unaffected.
                    let _ = reply.send(Ok(vectors.by_ref().take(count).collect()));
                }
            }
            Err(e) => {
                for (reply, _) in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// A worker: takes whatever is waiting, runs it as one call, repeats; ends when the pool is
/// dropped.
async fn work(shared: Arc<Shared>) {
    loop {
        let batch = shared.take_batch();
        if !batch.is_empty() {
            shared.run(batch).await;
            continue;
        }
        // Registered before the checks, so a job queued or a close in between still wakes
        // this worker.
        let notified = shared.ready.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if shared.closed.load(Ordering::Acquire) {
            return;
        }
        if !shared.lock().is_empty() {
            continue;
        }
        notified.await;
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use tokio::sync::Semaphore;

    use super::*;

    /// An engine that records the size of every call, answers `[len, index in call, 0…]`
    /// per text (deterministic, derived from the text), and, when gated, holds each call
    /// until the test releases it.
    struct Recording {
        sizes: Mutex<Vec<usize>>,
        /// Calls that have started (for the test to wait on, not to sleep).
        entered: Semaphore,
        gate: Option<Semaphore>,
        fail: bool,
    }

    impl Recording {
        fn new(gated: bool, fail: bool) -> Arc<Self> {
            Arc::new(Self {
                sizes: Mutex::new(Vec::new()),
                entered: Semaphore::new(0),
                gate: gated.then(|| Semaphore::new(0)),
                fail,
            })
        }

        fn sizes(&self) -> Vec<usize> {
            self.sizes.lock().unwrap().clone()
        }

        /// Waits until a call has started (each call counted once).
        async fn started(&self) {
            self.entered.acquire().await.unwrap().forget();
        }

        /// Lets `n` calls (waiting or future) finish.
        fn release(&self, n: usize) {
            self.gate.as_ref().unwrap().add_permits(n);
        }
    }

    fn vector(text: &str) -> Vec<f32> {
        vec![text.len() as f32, text.bytes().map(f32::from).sum()]
    }

    #[async_trait]
    impl Embedder for Recording {
        fn engine(&self) -> &'static str {
            "local"
        }

        fn model(&self) -> &str {
            "recording"
        }

        async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
            self.sizes.lock().unwrap().push(texts.len());
            self.entered.add_permits(1);
            if let Some(gate) = &self.gate {
                gate.acquire().await.unwrap().forget();
            }
            if self.fail {
                return Err(EmbedError::Unavailable("engine down".into()));
            }
            Ok(texts.iter().map(|t| vector(t)).collect())
        }
    }

    fn texts(prefix: &str, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("{prefix}-{}", "x".repeat(i)))
            .collect()
    }

    fn expected(texts: &[String]) -> Vec<Vec<f32>> {
        texts.iter().map(|t| vector(t)).collect()
    }

    type Answer = tokio::task::JoinHandle<Result<Vec<Vec<f32>>, EmbedError>>;

    /// Spawns a job; returns its texts and its answer.
    fn spawn_job(pool: &EmbedPool, texts: Vec<String>) -> (Vec<String>, Answer) {
        let p = pool.clone();
        let t = texts.clone();
        (texts, tokio::spawn(async move { p.embed(&t).await }))
    }

    /// Waits until `n` jobs are queued behind the running call (polling the pool's own
    /// count, yielding to the runtime in between: no sleeps).
    async fn queued(pool: &EmbedPool, n: usize) {
        while pool.shared.lock().len() < n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn jobs_waiting_behind_a_busy_worker_run_as_one_call_and_each_gets_its_own_vectors() {
        let engine = Recording::new(true, false);
        let pool = EmbedPool::new(engine.clone(), 1, 64);
        let (first_texts, first) = spawn_job(&pool, texts("first", 1));
        engine.started().await;
        // Five callers of different sizes queue while the worker is busy.
        let jobs: Vec<_> = (0..5)
            .map(|i| spawn_job(&pool, texts(&format!("job{i}"), i + 1)))
            .collect();
        queued(&pool, 5).await;
        assert_eq!(pool.depth(), 6);
        engine.release(2);
        assert_eq!(first.await.unwrap().unwrap(), expected(&first_texts));
        for (texts, answer) in jobs {
            assert_eq!(answer.await.unwrap().unwrap(), expected(&texts));
        }
        assert_eq!(engine.sizes(), vec![1, 1 + 2 + 3 + 4 + 5]);
        assert_eq!(pool.depth(), 0);
    }

    #[tokio::test]
    async fn a_lone_job_runs_at_once_as_a_batch_of_its_own() {
        let engine = Recording::new(false, false);
        let pool = EmbedPool::new(engine.clone(), 2, 8);
        let t = texts("alone", 1);
        assert_eq!(pool.embed(&t).await.unwrap(), expected(&t));
        let t = texts("again", 3);
        assert_eq!(pool.embed(&t).await.unwrap(), expected(&t));
        assert_eq!(engine.sizes(), vec![1, 3]);
        assert_eq!(pool.depth(), 0);
    }

    #[tokio::test]
    async fn the_cap_splits_batches_and_a_larger_job_runs_alone_and_whole() {
        let engine = Recording::new(true, false);
        let pool = EmbedPool::with_max_batch(engine.clone(), 1, 64, 4);
        let (_, first) = spawn_job(&pool, texts("first", 1));
        engine.started().await;
        // Queued in this order: 3 + 1 fit the cap of 4; 2 does not fit with them; 6 is
        // larger than the cap and runs alone; then 1 + 1.
        let mut jobs = Vec::new();
        for (i, n) in [3, 1, 2, 6, 1, 1].into_iter().enumerate() {
            jobs.push(spawn_job(&pool, texts(&format!("job{i}"), n)));
            queued(&pool, i + 1).await;
        }
        engine.release(10);
        first.await.unwrap().unwrap();
        for (texts, answer) in jobs {
            assert_eq!(answer.await.unwrap().unwrap(), expected(&texts));
        }
        assert_eq!(engine.sizes(), vec![1, 4, 2, 6, 2]);
    }

    #[tokio::test]
    async fn a_failed_call_fails_every_job_of_its_batch() {
        let engine = Recording::new(true, true);
        let pool = EmbedPool::new(engine.clone(), 1, 64);
        let (_, first) = spawn_job(&pool, texts("first", 1));
        engine.started().await;
        let jobs: Vec<_> = (0..3)
            .map(|i| spawn_job(&pool, texts(&format!("job{i}"), 2)))
            .collect();
        queued(&pool, 3).await;
        engine.release(2);
        let down = EmbedError::Unavailable("engine down".into());
        assert_eq!(first.await.unwrap().unwrap_err(), down);
        for (_, answer) in jobs {
            assert_eq!(answer.await.unwrap().unwrap_err(), down);
        }
        assert_eq!(engine.sizes(), vec![1, 6]);
        assert_eq!(pool.depth(), 0);
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_does_not_hurt_the_others() {
        let engine = Recording::new(true, false);
        let pool = EmbedPool::new(engine.clone(), 1, 64);
        let (_, first) = spawn_job(&pool, texts("first", 1));
        engine.started().await;
        let (a_texts, a) = spawn_job(&pool, texts("a", 2));
        queued(&pool, 1).await;
        let (_, quitter) = spawn_job(&pool, texts("quitter", 3));
        queued(&pool, 2).await;
        let (c_texts, c) = spawn_job(&pool, texts("c", 1));
        queued(&pool, 3).await;
        // Gone while queued: its job is discarded unembedded and its place freed.
        quitter.abort();
        assert!(quitter.await.unwrap_err().is_cancelled());
        engine.release(1);
        first.await.unwrap().unwrap();
        engine.started().await;
        assert_eq!(pool.depth(), 2, "a and c run; the quitter's place is free");
        // Gone while its batch runs: the others of the batch still get their answers.
        let (b_texts, b) = spawn_job(&pool, texts("b", 2));
        queued(&pool, 1).await;
        let (_, gone) = spawn_job(&pool, texts("gone", 2));
        queued(&pool, 2).await;
        engine.release(1);
        assert_eq!(a.await.unwrap().unwrap(), expected(&a_texts));
        assert_eq!(c.await.unwrap().unwrap(), expected(&c_texts));
        engine.started().await;
        gone.abort();
        assert!(gone.await.unwrap_err().is_cancelled());
        engine.release(1);
        assert_eq!(b.await.unwrap().unwrap(), expected(&b_texts));
        assert_eq!(engine.sizes(), vec![1, 2 + 1, 2 + 2]);
        assert_eq!(pool.depth(), 0);
    }

    #[tokio::test]
    async fn past_the_bound_a_job_is_refused_at_once() {
        let engine = Recording::new(true, false);
        let pool = EmbedPool::new(engine.clone(), 1, 3);
        let (_, first) = spawn_job(&pool, texts("first", 1));
        engine.started().await;
        let (_, second) = spawn_job(&pool, texts("second", 1));
        let (_, third) = spawn_job(&pool, texts("third", 1));
        queued(&pool, 2).await;
        assert_eq!(pool.depth(), 3);
        let refused = pool.embed(&texts("fourth", 1)).await;
        assert_eq!(refused.unwrap_err(), EmbedError::Overloaded(3));
        assert_eq!(pool.depth(), 3);
        engine.release(2);
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
        third.await.unwrap().unwrap();
        assert_eq!(engine.sizes(), vec![1, 2]);
        assert_eq!(pool.depth(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_callers_on_several_workers_each_get_their_own_vectors() {
        let engine = Recording::new(false, false);
        let pool = EmbedPool::with_max_batch(engine.clone(), 2, 1000, 8);
        let jobs: Vec<_> = (0..300)
            .map(|i| spawn_job(&pool, texts(&format!("job{i}"), 1 + i % 3)))
            .collect();
        let total: usize = (0..300).map(|i| 1 + i % 3).sum();
        for (texts, answer) in jobs {
            assert_eq!(answer.await.unwrap().unwrap(), expected(&texts));
        }
        let sizes = engine.sizes();
        assert_eq!(sizes.iter().sum::<usize>(), total);
        assert!(sizes.iter().all(|&n| (1..=8).contains(&n)), "{sizes:?}");
        assert_eq!(pool.depth(), 0);
    }

    #[tokio::test]
    async fn the_workers_end_when_the_last_handle_is_dropped() {
        let engine = Recording::new(false, false);
        let pool = EmbedPool::new(engine.clone(), 3, 8);
        pool.embed(&texts("start the workers", 1)).await.unwrap();
        let shared = Arc::downgrade(&pool.shared);
        let clone = pool.clone();
        drop(pool);
        clone.embed(&texts("still open", 1)).await.unwrap();
        drop(clone);
        // The workers hold the shared state; it goes when all three have returned.
        while shared.strong_count() > 0 {
            tokio::task::yield_now().await;
        }
    }

    /// The real local model (`scripts/setup.sh` installs it).
    mod local_model {
        use std::path::PathBuf;

        use super::*;
        use crate::memory::local::LocalEmbedder;

        /// The local engine, with the size of every call recorded.
        struct Counted {
            inner: LocalEmbedder,
            sizes: Mutex<Vec<usize>>,
        }

        #[async_trait]
        impl Embedder for Counted {
            fn engine(&self) -> &'static str {
                self.inner.engine()
            }

            fn model(&self) -> &str {
                self.inner.model()
            }

            async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
                self.sizes.lock().unwrap().push(texts.len());
                self.inner.embed(texts).await
            }
        }

        fn engine() -> Arc<Counted> {
            let dir =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(crate::memory::DEFAULT_MODEL_DIR);
            Arc::new(Counted {
                inner: LocalEmbedder::lazy(dir, 1, 0).unwrap(),
                sizes: Mutex::new(Vec::new()),
            })
        }

        /// Chat lines of different lengths, so a batch pads the shorter ones.
        fn lines(n: usize) -> Vec<String> {
            (0..n)
                .map(|i| {
                    let line = format!(
                        "chatter{} says the fight at level {} was {} and asks about the {} build",
                        i % 37,
                        i % 11,
                        ["insane", "easy", "unfair", "hilarious"][i % 4],
                        ["speedrun", "stealth", "tank", "glass cannon"][i % 4]
                    );
                    line.split(' ')
                        .take(3 + i % 12)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect()
        }

        fn cosine(a: &[f32], b: &[f32]) -> f32 {
            a.iter().zip(b).map(|(x, y)| x * y).sum()
        }

        /// Runs one single-text job per line, all at once; returns each job's vector.
        async fn concurrently(pool: &EmbedPool, lines: &[String]) -> Vec<Vec<f32>> {
            let jobs: Vec<_> = lines
                .iter()
                .map(|l| spawn_job(pool, vec![l.clone()]).1)
                .collect();
            let mut out = Vec::new();
            for job in jobs {
                out.extend(job.await.unwrap().unwrap());
            }
            out
        }

        // Current-thread runtime: the 16 callers all queue before the worker first runs, so
        // they make one call of 16 (the forward pass itself runs on the blocking pool).
        #[tokio::test(flavor = "current_thread")]
        async fn coalesced_jobs_get_the_vectors_each_gets_alone() {
            let engine = engine();
            let pool = EmbedPool::new(engine.clone(), 1, 64);
            let lines = lines(16);
            let together = concurrently(&pool, &lines).await;
            assert_eq!(engine.sizes.lock().unwrap().clone(), vec![16]);
            for (line, batched) in lines.iter().zip(&together) {
                let alone = pool
                    .embed(std::slice::from_ref(line))
                    .await
                    .unwrap()
                    .remove(0);
                let max_diff = alone
                    .iter()
                    .zip(batched)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                let cos = cosine(&alone, batched);
                assert!(max_diff <= 1e-4, "{line:?}: max |diff| {max_diff}");
                assert!(cos > 0.9999, "{line:?}: cosine {cos}");
            }
            assert_eq!(engine.sizes.lock().unwrap().len(), 1 + 16);
        }
    }
}
