//! Workloads for echo servers: payloads across buffer boundaries (NUL bytes
//! included), write chunkings and client counts.
//!
//! A [`Payload`] is a length and a seed rather than a byte vector, so that
//! proptest shrinks it by length (the smallest failing prefix) and a
//! counterexample prints in one line instead of a MiB of bytes.

use std::fmt;

use proptest::prelude::*;

/// Bytes of a given length, generated from a seed; about one byte in 256 is NUL.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    /// How many bytes.
    pub len: usize,
    /// What they are.
    pub seed: u64,
}

impl Payload {
    /// The bytes themselves, deterministic in `seed`.
    pub fn bytes(&self) -> Vec<u8> {
        super::seeded(self.len, self.seed)
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.bytes();
        write!(f, "{} bytes (seed {:#x}", self.len, self.seed)?;
        match bytes.iter().position(|&b| b == 0) {
            Some(at) => write!(f, ", first NUL at offset {at})"),
            None => write!(f, ", no NUL)"),
        }
    }
}

/// Lengths that straddle the usual buffer sizes (a student's 1 KiB or 4 KiB
/// buffer, a pipe's 64 KiB) and reach past a socket's buffering (MiB).
pub fn length() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..64,
        1000usize..1100,
        4090usize..4110,
        65_530usize..65_550,
        100_000usize..400_000,
        1usize << 20..(1 << 20) + 64,
    ]
}

/// A payload of [`length`] bytes.
pub fn payload() -> impl Strategy<Value = Payload> {
    (length(), any::<u64>()).prop_map(|(len, seed)| Payload { len, seed })
}

/// Sizes of the client's `write`s: one byte at a time up to large blocks.
pub fn chunk() -> impl Strategy<Value = usize> {
    prop_oneof![
        1usize..8,
        100usize..5000,
        60_000usize..70_000,
        Just(1usize << 20)
    ]
}

/// Payloads for `2..=max` concurrent clients, each large enough that their
/// transfers overlap in time.
pub fn concurrent_payloads(max: usize) -> impl Strategy<Value = Vec<Payload>> {
    prop::collection::vec(
        (16_384usize..300_000, any::<u64>()).prop_map(|(len, seed)| Payload { len, seed }),
        2..=max.max(2),
    )
}
