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
/// gives no hook of its own there.
///
/// Run as root, the process moves into a network namespace of its own
/// (loopback alone, a TCP table of its own): the checks the tests run in
/// this process parse `/proc/net/tcp` at every look, and the machine's
/// table is walked whole at every read, however few sockets are in it
/// (`sys::enter_private_network`). Refused (a container without
/// `CAP_SYS_ADMIN`), the tests share the machine's.
extern "C" fn before_any_test() {
    support::python_without_shims();
    if nix::unistd::Uid::effective().is_root() {
        let _ = ipcspec::sys::enter_private_network();
    }
}

#[used]
#[link_section = ".init_array"]
static BEFORE_ANY_TEST: extern "C" fn() = before_any_test;
