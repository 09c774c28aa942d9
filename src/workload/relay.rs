//! Workloads for relays and shell pipelines: payloads named by a seed and a
//! length (so a shell probe can regenerate them from its command line), and
//! the chunkings a check writes them in.
//!
//! A payload is about one byte in eight NUL, so a program that treats its
//! input as C strings loses bytes visibly.

use proptest::prelude::*;

/// The bytes of payload `seed` of `len` bytes; the same on every call: the
/// crate's one generator ([`super::seeded`]), with every byte below 32 made
/// NUL (about one in eight).
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut bytes = super::seeded(len, seed);
    for b in bytes.iter_mut().filter(|b| **b < 32) {
        *b = 0;
    }
    bytes
}

/// `len` bytes for checks about flow rather than content (backpressure,
/// SIGPIPE, shape): printable, without NUL, so that a relay that mangles
/// content still moves them all and is judged on its flow alone.
pub fn filler(len: usize) -> Vec<u8> {
    b"relay-me ".iter().copied().cycle().take(len).collect()
}

/// A payload and the sizes of the writes that deliver it.
#[derive(Clone, Debug)]
pub struct Feed {
    /// The payload's seed.
    pub seed: u64,
    /// Its length in bytes.
    pub len: usize,
    /// Write sizes, used in turn and cycled until the payload is written.
    pub chunks: Vec<usize>,
}

impl Feed {
    /// The payload's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        payload(self.seed, self.len)
    }
}

/// Lengths from empty to `max`, small ones as likely as pipe-sized and large ones.
pub fn length(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![0usize..=64, 1usize..=(1 << 17).min(max), 1usize..=max]
}

/// Feeds of up to `max` bytes in random write sizes (1 byte to 128 KiB).
pub fn feed(max: usize) -> impl Strategy<Value = Feed> {
    (
        any::<u64>(),
        length(max),
        prop::collection::vec(prop_oneof![1usize..=16, 1usize..=(128 << 10)], 1..6),
    )
        .prop_map(|(seed, len, chunks)| Feed { seed, len, chunks })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_repeat_and_hold_nul_bytes() {
        let a = payload(7, 10_000);
        assert_eq!(a, payload(7, 10_000));
        assert_ne!(a, payload(8, 10_000));
        assert_eq!(&payload(7, 100)[..], &a[..100]);
        assert!(a.iter().filter(|&&b| b == 0).count() > 500);
    }
}
