//! Every pipe property holds on the kernel's pipe (the oracle) and on the
//! reference pipe. One test per property ID, one case per implementation.

use std::sync::Arc;

use ipcspec::reference::pipe::{Bounded, Kernel, PipeImpl};
use ipcspec::spec::pipe::{suite, PROPERTIES};
use ipcspec::spec::{Ctx, Verdict};
use rstest::rstest;

/// The implementations every property must hold on.
#[derive(Clone, Copy, Debug)]
enum Impl {
    Kernel,
    Reference,
}

impl Impl {
    fn pipe(self) -> Arc<dyn PipeImpl> {
        match self {
            Impl::Kernel => Arc::new(Kernel),
            Impl::Reference => Arc::new(Bounded),
        }
    }
}

/// Checks property `id` on `which`; it must pass (the signal property is
/// skipped, with its reason, on the user-space reference).
fn holds(which: Impl, id: &str) {
    let suite = suite(format!("{which:?}"), which.pipe());
    let check = suite
        .checks
        .iter()
        .find(|c| c.meta.id == id)
        .expect("property in the suite");
    if let Some(why) = &check.not_applicable {
        assert!(
            id == "pipe.sigpipe.default-kills-writer" && matches!(which, Impl::Reference),
            "{id} declared inapplicable on {which:?}: {why}"
        );
        return;
    }
    match Verdict::from(check.check(&Ctx::default())) {
        Verdict::Pass => {}
        other => panic!("{id} on {which:?}: {other:#?}"),
    }
}

const TESTED: &[&str] = &[
    "pipe.order.lossless",
    "pipe.read.partial",
    "pipe.block.read-on-empty",
    "pipe.block.write-after-capacity",
    "pipe.wake.reader-on-data",
    "pipe.wake.reader-on-last-writer-close",
    "pipe.wake.writer-on-space",
    "pipe.wake.writer-on-reader-close",
    "pipe.eof.after-last-writer",
    "pipe.epipe.no-reader",
    "pipe.sigpipe.default-kills-writer",
    "pipe.atomic.up-to-pipe-buf",
    "pipe.nonblock.would-block",
];

/// `pipe.epipe.no-reader` relies on it: with SIGPIPE at its default, a
/// write with no reader would kill the test process instead of failing.
#[test]
fn this_process_ignores_sigpipe_as_the_rust_runtime_arranges() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let ignored = status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .map(|mask| u64::from_str_radix(mask.trim(), 16).unwrap())
        .unwrap();
    assert_ne!(
        ignored & (1 << (libc::SIGPIPE - 1)),
        0,
        "SigIgn: {ignored:x}"
    );
}

#[test]
fn every_pipe_property_has_a_test() {
    let ids: Vec<&str> = PROPERTIES.iter().map(|p| p.meta.id).collect();
    assert_eq!(ids, TESTED);
}

#[rstest]
fn pipe_order_lossless(#[values(Impl::Kernel, Impl::Reference)] which: Impl) {
    holds(which, "pipe.order.lossless");
}

#[rstest]
fn pipe_read_partial(#[values(Impl::Kernel, Impl::Reference)] which: Impl) {
    holds(which, "pipe.read.partial");
}

#[rstest]
fn pipe_block_read_on_empty(#[values(Impl::Kernel, Impl::Reference)] which: Impl) {
    holds(which, "pipe.block.read-on-empty");
}

#[rstest]
fn pipe_block_write_after_capacity(#[values(Impl::Kernel, Impl::Reference)] which: Impl) {
    holds(which, "pipe.block.write-after-capacity");
}

#[rstest]
fn pipe_wake_reader_on_data(#[values(Impl::Kernel, Impl::Reference)] which: Impl) {
    holds(which, "pipe.wake.reader-on-data");
}

#[rstest]
fn pipe_wake_reader_on_last_writer_close(#[values(Impl::Kernel, Impl::Reference)] which: Impl) {
    holds(which, "pipe.wake.reader-on-last-writer-close");
}

#[rstest]
fn pipe_wake_writer_on_space(#[values(Impl::Kernel, Impl::Reference)] which: Impl) {
    holds(which, "pipe.wake.writer-on-space");
}

#[rstest]
fn pipe_wake_writer_on_reader_close(#[values(Impl::Kernel, Impl::Reference)] which: Impl) {
    holds(which, "pipe.wake.writer-on-reader-close");
}

#[rstest]
fn pipe_eof_after_last_writer(#[values(Impl::Kernel, Impl::Reference)] which: Impl) {
    holds(which, "pipe.eof.after-last-writer");
}

#[rstest]
fn pipe_epipe_no_reader(#[values(Impl::Kernel, Impl::Reference)] which: Impl) {
    holds(which, "pipe.epipe.no-reader");
}

#[rstest]
fn pipe_sigpipe_default_kills_writer(#[values(Impl::Kernel, Impl::Reference)] which: Impl) {
    holds(which, "pipe.sigpipe.default-kills-writer");
}

#[rstest]
fn pipe_atomic_up_to_pipe_buf(#[values(Impl::Kernel, Impl::Reference)] which: Impl) {
    holds(which, "pipe.atomic.up-to-pipe-buf");
}

#[rstest]
fn pipe_nonblock_would_block(#[values(Impl::Kernel, Impl::Reference)] which: Impl) {
    holds(which, "pipe.nonblock.would-block");
}
