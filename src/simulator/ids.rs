//! Deterministic identifiers: room ids and user ids derived from logins, per-channel seeds and
//! UUID-shaped message ids.
//!
//! Everything here is a pure function of its input so that the same channel gets the same
//! `room-id` on every run and in every process (tests compute the expected value independently).

/// FNV-1a over bytes: tiny, stable across Rust versions (unlike `std`'s `DefaultHasher`).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// SplitMix64 finaliser: spreads the poorly mixed low bits of FNV over the whole word.
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The numeric Twitch id the simulator assigns to a login (user or channel).
///
/// Real Twitch uses the broadcaster's user id as the channel's `room-id`, so both are derived by
/// the same function: a chatter whose login equals the channel name gets `user-id == room-id`.
/// Values fall in 10_000_000..1_000_000_000, the range of real ids of that era.
pub fn twitch_id_for(login: &str) -> u64 {
    let lower = login.trim_start_matches('#').to_ascii_lowercase();
    10_000_000 + splitmix64(fnv1a(lower.as_bytes())) % 990_000_000
}

/// The `room-id` the simulator reports for a channel (with or without the leading `#`).
pub fn room_id_for(channel: &str) -> u64 {
    twitch_id_for(channel)
}

/// Seed of one channel's generator: distinct per channel so ids never repeat across channels,
/// yet fixed for a given `(seed, channel)` so each channel's stream is reproducible on its own.
pub(crate) fn channel_seed(seed: u64, channel: &str) -> u64 {
    splitmix64(seed ^ splitmix64(fnv1a(channel.as_bytes())))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The 36 ASCII bytes of a version-4-shaped UUID (`xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`) built
/// from `v`, the shape of Twitch message ids.
pub(crate) fn uuid_bytes(v: u128) -> [u8; 36] {
    // Force the version nibble to 4 and the variant bits to 10xx like a real v4 UUID.
    let v = (v & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let mut buf = [0u8; 36];
    let mut nibble = 0;
    for (i, slot) in buf.iter_mut().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            *slot = b'-';
            continue;
        }
        let shift = 124 - 4 * nibble;
        *slot = HEX[((v >> shift) & 0xf) as usize];
        nibble += 1;
    }
    buf
}

/// Lowercase hex of a 128-bit value without dashes (the shape of `emotesv2_` ids and nonces).
pub(crate) fn hex32(v: u128) -> String {
    format!("{v:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_are_stable_and_ignore_hash_and_case() {
        assert_eq!(room_id_for("#Pajlada"), room_id_for("pajlada"));
        assert_eq!(room_id_for("pajlada"), room_id_for("pajlada"));
        assert_ne!(room_id_for("pajlada"), room_id_for("forsen"));
        let id = room_id_for("xqcow");
        assert!((10_000_000..1_000_000_000).contains(&id));
        // Pinned: a change of the derivation would silently change every room id that other
        // components or stored data may rely on.
        assert_eq!(id, 128_645_516);
        assert_eq!(room_id_for("pajlada"), 105_159_869);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn uuid_shape() {
        let s = uuid_bytes(u128::MAX);
        let s = std::str::from_utf8(&s).unwrap();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"));
        let zero = uuid_bytes(0);
        assert_eq!(
            std::str::from_utf8(&zero).unwrap(),
            "00000000-0000-4000-8000-000000000000"
        );
    }
}
