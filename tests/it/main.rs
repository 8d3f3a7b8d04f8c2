//! Integration tests: one binary, so the crate links once. Each module covers one feature
//! through real parts (Postgres, sockets, the HTTP server).

mod common;
mod store;
mod support;

mod access;
mod api;
mod browser;
mod chaos;
mod control;
mod crash;
mod ingest;
mod irc;
mod llm;
mod observability;
mod outage;
mod parity;
mod restore;
mod scenarios;
mod simulator;
