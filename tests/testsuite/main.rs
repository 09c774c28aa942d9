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

/// Runs before `main`, while the test process has one thread: libtest
/// gives no hook of its own there, and reads `RUST_TEST_THREADS` after it.
extern "C" fn before_any_test() {
    support::python_without_shims();
    support::private_network_if_root();
    std::env::set_var("RUST_TEST_THREADS", support::test_threads().to_string());
}

#[used]
#[link_section = ".init_array"]
static BEFORE_ANY_TEST: extern "C" fn() = before_any_test;
