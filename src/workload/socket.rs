//! Workloads for sockets, servers and clients: binary payloads rich in NUL
//! bytes, the chunkings they are written in, and text lines for line clients.

use proptest::collection::vec;
use proptest::prelude::*;

/// Bytes of any value, one in four a NUL, so `strlen`-based code truncates early.
pub fn payload(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(prop_oneof![1 => Just(0u8), 3 => any::<u8>()], 0..=max_len)
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
pub fn lines() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let line = prop_oneof![
        6 => vec(0x20u8..0x7f, 0..80),
        2 => vec(0x20u8..0x7f, 80..5000),
        1 => vec(0x20u8..0x7f, 65_537..70_000),
    ]
    .prop_map(|mut line| {
        line.push(b'\n');
        line
    });
    vec(line, 1..8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_stream_in_order() {
        let bytes: Vec<u8> = (0..10).collect();
        let cut: Vec<&[u8]> = pieces(&bytes, &[3, 1]).collect();
        assert_eq!(cut, [&[0, 1, 2][..], &[3], &[4, 5, 6], &[7], &[8, 9]]);
        assert_eq!(pieces(&bytes, &[]).count(), 1);
    }
}
