//! IRCv3 tag value escaping, as Twitch applies it (`\s` space, `\:` semicolon, `\\` backslash,
//! `\r`, `\n`).
//!
//! Generated lines are written straight into byte buffers, so [`push_escaped`] escapes while
//! copying instead of building an intermediate `String` per tag.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};

fn needs_escape(b: u8) -> bool {
    matches!(b, b';' | b' ' | b'\\' | b'\r' | b'\n')
}

fn escape_of(b: u8) -> &'static [u8] {
    match b {
        b';' => b"\\:",
        b' ' => b"\\s",
        b'\\' => b"\\\\",
        b'\r' => b"\\r",
        _ => b"\\n",
    }
}

/// Escapes a raw tag value for the wire. Borrows when nothing needs escaping.
pub fn escape_tag_value(raw: &str) -> Cow<'_, str> {
    if !raw.bytes().any(needs_escape) {
        return Cow::Borrowed(raw);
    }
    let mut out = BytesMut::with_capacity(raw.len() + 8);
    push_escaped(&mut out, raw);
    // Only ASCII bytes were replaced by ASCII sequences, so the result is still UTF-8.
    Cow::Owned(String::from_utf8(out.to_vec()).unwrap_or_default())
}

/// Decodes a wire tag value. Mirrors `twitch-irc`: an unknown escape such as `\b` yields the
/// character itself and a dangling trailing backslash is dropped.
pub fn unescape_tag_value(wire: &str) -> Cow<'_, str> {
    if !wire.contains('\\') {
        return Cow::Borrowed(wire);
    }
    let mut out = String::with_capacity(wire.len());
    let mut chars = wire.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

/// Appends `raw` escaped to `out`, copying unescaped runs in one go.
pub(crate) fn push_escaped(out: &mut BytesMut, raw: &str) {
    let bytes = raw.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if needs_escape(b) {
            out.put_slice(&bytes[start..i]);
            out.put_slice(escape_of(b));
            start = i + 1;
        }
    }
    out.put_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::SmallRng};
    use twitch_irc::message::IRCMessage;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(escape_tag_value("a b;c\\d\re\nf"), "a\\sb\\:c\\\\d\\re\\nf");
        assert!(matches!(escape_tag_value("plain"), Cow::Borrowed("plain")));
        assert_eq!(
            unescape_tag_value("a\\sb\\:c\\\\d\\re\\nf"),
            "a b;c\\d\re\nf"
        );
        // twitch-irc's lenient rules for malformed escapes.
        assert_eq!(unescape_tag_value("a\\bc\\"), "abc");
    }

    #[test]
    fn round_trips_random_strings_through_twitch_irc() {
        let alphabet: Vec<char> = "ab ;\\\r\n:=@#sé😀".chars().collect();
        let mut rng = SmallRng::seed_from_u64(7);
        for _ in 0..2_000 {
            let len = rng.random_range(0..24);
            let raw: String = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let escaped = escape_tag_value(&raw);
            assert!(!escaped.contains([' ', ';', '\r', '\n']));
            assert_eq!(unescape_tag_value(&escaped), raw);

            let mut buf = BytesMut::new();
            push_escaped(&mut buf, &raw);
            assert_eq!(&buf[..], escaped.as_bytes());

            // The decoder that matters is the client's.
            let line = format!("@k={escaped};z=1 :tmi.twitch.tv NOTICE #c :x");
            let parsed = IRCMessage::parse(&line).expect("escaped tag must parse");
            let value = parsed.tags.0.get("k").cloned().unwrap_or_default();
            assert_eq!(value, raw);
        }
    }
}
