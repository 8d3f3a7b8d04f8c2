//! Byte: a runtime that sits in many Twitch channels at once as an AI co-pilot per streamer.
//!
//! This crate holds the edges around the I/O-free core in `byte-actors`: configuration,
//! Twitch ingest, the TMI-compatible simulator, Postgres storage, HTTP, telemetry and wiring.

pub mod simulator;
pub mod store;
