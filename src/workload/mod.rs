//! Proptest strategies for workloads: payloads, chunkings, schedules; and
//! the generated document root of the `http` check ([`http::Site`]).

pub mod http;
pub mod pipe;
pub mod relay;
pub mod server;
pub mod socket;

/// `seeded()`—`len` pseudo-random bytes determined by `seed` (xorshift64*):
/// a workload drawn as (length, seed) stays cheap to generate, shrink and print.
/// Distinct seeds give distinct bytes, neighbours included (`seed + i` is how
/// concurrent clients get their own streams): the seed is scrambled first.
pub fn seeded(len: usize, seed: u64) -> Vec<u8> {
    seeded_words(len, seed, |word| word)
}

/// [`seeded`]'s bytes with each 8-byte word passed through `map` first:
/// work per word, not per byte, for payloads of tens of MiB (a test build
/// is unoptimised, and there a loop per byte is what a check spends its
/// time on). Words are stored whole into zeroed memory and the vector
/// flattened, not appended: an unoptimised append checks its
/// preconditions per word, three times the cost.
pub(crate) fn seeded_words(len: usize, seed: u64, map: impl Fn(u64) -> u64) -> Vec<u8> {
    let mut state = splitmix64(seed);
    let mut words = vec![[0u8; 8]; len.div_ceil(8)];
    for word in words.iter_mut() {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        *word = map(state.wrapping_mul(0x2545_f491_4f6c_dd1d)).to_le_bytes();
    }
    let mut bytes = words.into_flattened();
    bytes.truncate(len);
    bytes
}

/// A bijective scramble of `seed` (SplitMix64's finalizer), never zero so
/// that xorshift never sticks.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    match z ^ (z >> 31) {
        0 => 0x2545_f491_4f6c_dd1d,
        state => state,
    }
}

#[cfg(test)]
mod tests {
    use super::seeded;

    #[test]
    fn a_word_map_sees_the_words_seeded_gives() {
        let words = super::seeded_words(1001, 7, |w| !w);
        let inverted: Vec<u8> = seeded(1001, 7).iter().map(|b| !b).collect();
        assert_eq!(words, inverted);
    }

    #[test]
    fn neighbouring_seeds_give_different_bytes() {
        for seed in 0..64 {
            assert_ne!(
                seeded(64, seed),
                seeded(64, seed + 1),
                "seeds {seed} and {}",
                seed + 1
            );
        }
    }
}
