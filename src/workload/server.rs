//! Workloads for echo servers: payloads across buffer boundaries, write
//! chunkings and client counts.
//!
//! A [`Payload`] is a length and a seed rather than a byte vector, so that
//! proptest shrinks it by length (the smallest failing prefix) and a
//! counterexample prints in one line instead of a MiB of bytes.
//!
//! Guarantees:
//! - NUL bytes appear only in [`Payload::binary`] payloads (about one byte in
//!   256), which only the rule about them (`server.echo.byte-exact`) uses:
//!   the lecture's `strlen` echo loses everything after a NUL, and every
//!   other property then checks its own rule instead of failing on that one;
//! - [`Seeds`] hands each client of a property its own seed, so no two
//!   clients of a run send the same bytes, nor one a prefix of another's.

use std::fmt;

use proptest::prelude::*;

/// Bytes of a given length, generated from a seed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    /// How many bytes.
    pub len: usize,
    /// What they are.
    pub seed: u64,
    /// Whether NUL bytes may occur (about one byte in 256).
    pub nul: bool,
}

impl Payload {
    /// `len` bytes from `seed`, NUL bytes included.
    pub fn binary(len: usize, seed: u64) -> Payload {
        Payload {
            len,
            seed,
            nul: true,
        }
    }

    /// `len` bytes from `seed`, none of them NUL.
    pub fn text(len: usize, seed: u64) -> Payload {
        Payload {
            len,
            seed,
            nul: false,
        }
    }

    /// The bytes themselves, deterministic in `seed`.
    pub fn bytes(&self) -> Vec<u8> {
        match self.nul {
            true => super::seeded(self.len, self.seed),
            false => super::seeded_words(self.len, self.seed, without_nul),
        }
    }

    /// The same length with the seed of client number `client` derived from
    /// this one: proptest may shrink several clients' seeds to one value.
    pub fn for_client(&self, client: usize) -> Payload {
        Payload {
            seed: self.seed ^ (client as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ..*self
        }
    }
}

/// `word` with each zero byte made 0x80.
fn without_nul(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    // Non-zero exactly when some byte of `word` is zero: most words have none.
    if word.wrapping_sub(ONES) & !word & HIGH_BITS == 0 {
        return word;
    }
    let mut bytes = word.to_le_bytes();
    for b in &mut bytes {
        if *b == 0 {
            *b = 0x80;
        }
    }
    u64::from_le_bytes(bytes)
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

/// A distinct seed for each client of one property's run, all derived from
/// the run's seed.
#[derive(Clone, Debug)]
pub struct Seeds {
    next: u64,
}

impl Seeds {
    /// The seeds of a run seeded `seed`.
    pub fn new(seed: u64) -> Seeds {
        Seeds { next: seed }
    }

    /// A seed no earlier call returned (distinct seeds give distinct bytes,
    /// see [`super::seeded`]).
    pub fn next_seed(&mut self) -> u64 {
        let seed = self.next;
        self.next = self.next.wrapping_add(1);
        seed
    }

    /// A NUL-free payload of `len` bytes with the next seed.
    pub fn text(&mut self, len: usize) -> Payload {
        Payload::text(len, self.next_seed())
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

/// A payload of [`length`] bytes, NUL bytes included.
pub fn payload() -> impl Strategy<Value = Payload> {
    (length(), any::<u64>()).prop_map(|(len, seed)| Payload::binary(len, seed))
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

/// NUL-free payloads for `2..=max` concurrent clients, each large enough
/// that their transfers overlap in time.
pub fn concurrent_payloads(max: usize) -> impl Strategy<Value = Vec<Payload>> {
    prop::collection::vec(
        (16_384usize..300_000, any::<u64>()).prop_map(|(len, seed)| Payload::text(len, seed)),
        2..=max.max(2),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_payloads_have_no_nul_and_binary_ones_do() {
        assert!(!Payload::text(1 << 16, 7).bytes().contains(&0));
        assert!(Payload::binary(1 << 16, 7).bytes().contains(&0));
    }

    #[test]
    fn a_text_payload_is_the_binary_one_with_each_nul_made_0x80() {
        for seed in 0..32 {
            let binary = Payload::binary(4099, seed).bytes();
            let made: Vec<u8> = binary
                .iter()
                .map(|&b| if b == 0 { 0x80 } else { b })
                .collect();
            assert_eq!(Payload::text(4099, seed).bytes(), made, "seed {seed}");
        }
    }

    #[test]
    fn seeds_give_every_client_its_own_bytes_not_a_prefix_of_another() {
        let mut seeds = Seeds::new(42);
        let short = seeds.text(100).bytes();
        let long = seeds.text(101).bytes();
        assert_ne!(short[..], long[..100]);
    }
}
