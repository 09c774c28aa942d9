//! Every integration test but the conformance harness, in one binary with
//! one module per area of `src/`: `cargo test --test testsuite -- server::`
//! runs one area.

mod cli;
mod client;
mod grade;
mod http;
mod pipe;
mod relay;
mod report;
mod sandbox;
mod serve;
mod server;
mod shell;
mod socket;
#[path = "../support/mod.rs"]
mod support;
