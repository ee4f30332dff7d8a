//! What the parsers' fuzz tests share: a deterministic xorshift generator,
//! so that a failure replays.

/// Numbers from `seed` (non-zero), the same run after run.
pub fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}
