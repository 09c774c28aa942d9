//! Each reference server variant is rejected when claimed as a variant whose
//! semantics differ. (That every variant passes every property that applies
//! to it, over TCP and Unix, is checked once, in `tests/conformance.rs`.)

mod server_support;
mod support;

use rstest::rstest;
use server_support::{assert_rejected_by, check};
use support::refs;

#[rstest]
#[case::thread_as_sequential("thread", "sequential", "server.concurrency.one-at-a-time")]
#[case::fork_as_sequential("fork", "sequential", "server.concurrency.one-at-a-time")]
#[case::fork_as_thread("fork", "thread", "server.process.connection-owner")]
#[case::thread_as_pool("thread", "pool:4", "server.pool.bounded")]
#[case::sequential_as_thread("sequential", "thread", "server.concurrency.serves-while-busy")]
#[case::sequential_as_fork_wait("sequential", "fork-wait", "server.process.connection-owner")]
#[case::fork_wait_as_sequential("fork-wait", "sequential", "server.process.connection-owner")]
fn server_reference_wrong_claim_is_rejected(
    #[case] real: &str,
    #[case] claimed: &str,
    #[case] id: &str,
) {
    let bin = refs().bin.to_string_lossy().into_owned();
    let report = check(
        &[&bin, "serve", "--variant", real, "--port", "{port}"],
        claimed,
        &[id],
    );
    assert_rejected_by(&report, id);
}
