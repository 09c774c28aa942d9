//! Workloads for sockets, servers and clients: binary payloads rich in NUL
//! bytes, the chunkings they are written in, and text lines for line clients.

use std::fmt;

use proptest::collection::vec;
use proptest::prelude::*;

/// A byte string that prints as an escaped, shortened literal with its length,
/// so a counterexample reads `b"ab\\0c…" (70000 bytes)`, not a column of numbers.
#[derive(Clone, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 48;
        let escaped: String = self.0[..self.0.len().min(SHOWN)]
            .iter()
            .flat_map(|&b| std::ascii::escape_default(b))
            .map(char::from)
            .collect();
        let more = if self.0.len() > SHOWN { "…" } else { "" };
        write!(f, "b\"{escaped}{more}\" ({} bytes)", self.0.len())
    }
}

/// Bytes of any value, about one in four a NUL, so `strlen`-based code truncates early.
///
/// Drawn as a length and a seed, expanded by `expand`: a 256 KiB payload
/// costs one value tree, not 256 Ki of them, and shrinks by length and seed.
pub fn payload(max_len: usize) -> impl Strategy<Value = Bytes> {
    (0..=max_len, any::<u64>()).prop_map(|(len, seed)| {
        Bytes(expand(len, seed, |r| {
            if r % 4 == 0 {
                0
            } else {
                (r >> 8) as u8
            }
        }))
    })
}

/// `len` bytes from a xorshift stream seeded by `seed`, each made by `byte` from one draw.
fn expand(len: usize, seed: u64, byte: impl Fn(u64) -> u8) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            byte(state)
        })
        .collect()
}

/// Sizes to cut a stream into, used cyclically: from single bytes to large writes.
pub fn chunking() -> impl Strategy<Value = Vec<usize>> {
    vec(
        prop_oneof![1 => 1usize..=16, 3 => 17usize..=4096, 3 => 4097usize..=65_536],
        1..6,
    )
}

/// `bytes` cut into pieces of the sizes `chunks` gives, in turn (an empty list: one piece).
pub fn pieces<'a>(bytes: &'a [u8], chunks: &'a [usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = bytes;
    let mut sizes = chunks.iter().copied().filter(|&n| n > 0).cycle();
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        Some(piece)
    })
}

/// Text lines, each ending in `\n`, NUL-free: mostly short, some longer than
/// 64 KiB, so a reply can never fit one read of a line-sized buffer.
pub fn lines() -> impl Strategy<Value = Vec<Bytes>> {
    let len = prop_oneof![6 => 0usize..80, 2 => 80usize..5000, 1 => 65_537usize..70_000];
    let line = (len, any::<u64>()).prop_map(|(len, seed)| {
        // Printable ASCII, 0x20..0x7e: never a NUL, never a newline inside the line.
        let mut line = expand(len, seed, |r| 0x20 + (r % 95) as u8);
        line.push(b'\n');
        Bytes(line)
    });
    vec(line, 1..8)
}

/// The bytes of `lines`, one after the other: what a client is fed on stdin.
pub fn concat(lines: &[Bytes]) -> Vec<u8> {
    lines.iter().flat_map(|l| l.0.iter().copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_print_short_and_escaped() {
        let long = Bytes([b'a', 0, b'\n'].repeat(30));
        assert_eq!(
            format!("{long:?}"),
            format!("b\"{}…\" (90 bytes)", r"a\x00\n".repeat(16))
        );
    }

    #[test]
    fn pieces_cover_the_stream_in_order() {
        let bytes: Vec<u8> = (0..10).collect();
        let cut: Vec<&[u8]> = pieces(&bytes, &[3, 1]).collect();
        assert_eq!(cut, [&[0, 1, 2][..], &[3], &[4, 5, 6], &[7], &[8, 9]]);
        assert_eq!(pieces(&bytes, &[]).count(), 1);
    }
}
