//! Integration tests: one binary, so the crate links once. Each module covers one feature
//! through real parts (Postgres, sockets, the HTTP server).

mod common;
mod store;
mod support;

mod access;
mod api;
mod autonomy;
mod browser;
mod chaos;
mod control;
mod copilot;
mod copilot_reports;
mod crash;
mod ingest;
mod irc;
mod llm;
mod memory;
mod observability;
mod outage;
mod parity;
mod prompt_studio;
mod restore;
mod scenarios;
mod simulator;
