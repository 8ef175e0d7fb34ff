//! Test data: snapshot-like byte strings (also used by the benchmark).

/// Snapshot-like bytes: structured and compressible (a few times, like V8 heaps),
/// different per seed.
pub fn snapshot(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|i| {
            if i % 8 == 0 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
            }
            // A random byte every 8, small structured values between them.
            if i % 8 == 0 {
                x as u8
            } else {
                ((i / 8) % 16) as u8
            }
        })
        .collect()
}
