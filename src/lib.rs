//! Byte: a runtime that sits in many Twitch channels at once as an AI co-pilot per streamer.
//!
//! This crate holds the edges around the I/O-free core in `byte-actors`.
//!
//! # Layout
//! - [`config`]: flags and environment variables.
//! - [`app`]: wiring — starts and stops the whole runtime.
//! - [`ingest`]: twitch-irc client, transports, and conversion to rows.
//! - [`simulator`]: the TMI-compatible IRC server for demo, tests and load.
//! - [`copilot`]: the co-pilot's edge: model calls, chat sending, control-plane stores.
//! - [`llm`]: the OpenAI-compatible LLM adapter: retries, circuit breaker, fallback.
//! - [`memory`]: semantic memory: local/endpoint embeddings, worker pool, pgvector search.
//! - [`store`]: Postgres (embedded or external), migrations, the batch writer.
//! - [`http`]: the axum API, probes, metrics and dashboard files.
//! - [`telemetry`]: tracing and the Prometheus recorder.
//! - [`bench`]: benchmarks with same-run baselines.

pub mod app;
pub mod bench;
pub mod config;
pub mod copilot;
pub mod http;
pub mod ingest;
pub mod llm;
pub mod memory;
pub mod priority;
pub mod simulator;
pub mod store;
pub mod telemetry;
