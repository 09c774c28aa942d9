//! Proptest strategies for workloads: payloads, chunkings, schedules.

pub mod pipe;
pub mod relay;
pub mod server;
pub mod socket;

/// `seeded()`—`len` pseudo-random bytes determined by `seed` (xorshift64*):
/// a workload drawn as (length, seed) stays cheap to generate, shrink and print.
pub fn seeded(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}
