//! Making model output safe to post in Twitch chat.
//!
//! The model's text is untrusted output: it may have been steered by a viewer. Before it
//! reaches chat it must be:
//!
//! - **one line**: CR/LF would end the IRC line and let the rest be read as a new IRC command;
//!   control characters and invisible format characters (zero-width, bidi overrides) are
//!   removed, other whitespace collapsed to single spaces;
//! - **not a command**: a chat message starting with `/` or `.` is a Twitch command
//!   (`/ban`, `.timeout`); such leading characters are stripped from every part;
//! - **free of foreign links**: any token holding a host-like segment (`evil.com/x`,
//!   `HTTPS://EVIL.COM`, `user@evil.com`, `evil。com`, `1.2.3.4`) whose host is not on the
//!   allow-list (or a subdomain of an entry) is removed. Unicode full stops are folded to `.`
//!   first so they cannot smuggle a domain past the check. This errs on the safe side: text
//!   like `Node.js` reads as a host and is removed unless allowed;
//! - **free of the canary**: a secret string planted in the system prompt; if it shows up,
//!   the model was talked into leaking its instructions, and it is cut out (ASCII
//!   case-insensitively, repeatedly, so removal cannot splice a new occurrence together);
//! - **at most 500 characters per message** (Twitch's limit, counted in characters), long
//!   answers split at sentence ends, else at spaces, else hard, into at most `max_parts`
//!   messages, the last one ending with `…` when text was dropped.
//!
//! Each final part is re-checked until nothing changes (every step only removes text, so this
//! ends), which makes the guarantees hold by construction rather than by careful ordering.

/// Twitch's per-message limit, in characters.
pub const TWITCH_MAX_CHARS: usize = 500;

/// What replaces a removed link in the first pass (kept short; dropped where it would not fit).
const LINK_PLACEHOLDER: &str = "[link removed]";

/// What is allowed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SanitizeConfig {
    /// Hosts links may point to (lowercase); subdomains are allowed too.
    pub allowed_hosts: Vec<String>,
    /// Longest message, in characters (at most [`TWITCH_MAX_CHARS`]).
    pub max_chars: usize,
    /// Most messages one answer may be split into.
    pub max_parts: usize,
    /// A secret that must never reach chat (empty: none).
    pub canary: String,
}

impl Default for SanitizeConfig {
    fn default() -> Self {
        Self {
            allowed_hosts: vec!["twitch.tv".into()],
            max_chars: TWITCH_MAX_CHARS,
            max_parts: 3,
            canary: String::new(),
        }
    }
}

impl SanitizeConfig {
    fn max_chars(&self) -> usize {
        self.max_chars.clamp(1, TWITCH_MAX_CHARS)
    }
}

/// Turns model output into at most `max_parts` chat messages, each safe to send. Returns no
/// message when nothing safe is left.
pub fn sanitize(text: &str, config: &SanitizeConfig) -> Vec<String> {
    let flat = collapse_whitespace(&normalise_chars(text));
    let flat = strip_canary(&flat, &config.canary);
    let flat = filter_links(&flat, &config.allowed_hosts, Some(LINK_PLACEHOLDER));
    let flat = strip_canary(&collapse_whitespace(&flat), &config.canary);
    let max = config.max_chars();
    let mut parts = Vec::new();
    let mut rest = flat.as_str();
    while !rest.trim().is_empty() && parts.len() < config.max_parts {
        let last = parts.len() + 1 == config.max_parts;
        let (head, tail) = split_once(rest.trim_start(), max);
        let dropping = last && !tail.trim().is_empty();
        let head = if dropping {
            // Room for the ellipsis: cut again one character shorter.
            let (short, _) = split_once(head, max.saturating_sub(1).max(1));
            format!("{}…", short.trim_end())
        } else {
            head.to_owned()
        };
        let part = finish(&head, config);
        if !part.is_empty() {
            parts.push(part);
        }
        rest = tail;
    }
    parts
}

/// Re-applies every rule to one part until it is stable.
fn finish(part: &str, config: &SanitizeConfig) -> String {
    let mut current = part.to_owned();
    loop {
        let next = strip_canary(&current, &config.canary);
        let next = filter_links(&next, &config.allowed_hosts, None);
        let next = collapse_whitespace(&next);
        let next = next.trim_start_matches(['/', '.', ' ']).to_owned();
        let next = truncate_chars(&next, config.max_chars());
        if next == current {
            return next;
        }
        current = next;
    }
}

fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Folds look-alike full stops to `.`, whitespace to spaces, and drops control and invisible
/// format characters.
fn normalise_chars(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            // Ideographic, fullwidth, halfwidth and small full stops, one-dot leader.
            '\u{3002}' | '\u{FF0E}' | '\u{FF61}' | '\u{FE52}' | '\u{2024}' => Some('.'),
            '\u{2028}' | '\u{2029}' => Some(' '),
            c if c.is_whitespace() => Some(' '),
            c if c.is_control() => None,
            '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFF}'
            | '\u{E0000}'..='\u{E007F}' => None,
            c => Some(c),
        })
        .collect()
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Removes every occurrence of `canary`, ASCII case-insensitively, until none is left.
fn strip_canary(text: &str, canary: &str) -> String {
    if canary.is_empty() {
        return text.to_owned();
    }
    let needle = canary.to_ascii_lowercase();
    let mut current = text.to_owned();
    loop {
        let folded = current.to_ascii_lowercase();
        let Some(pos) = folded.find(&needle) else {
            return current;
        };
        // ASCII folding keeps byte offsets, and the match starts and ends on char boundaries
        // of `folded`, hence of `current`.
        current.replace_range(pos..pos + needle.len(), "");
    }
}

/// Replaces (or drops) every whitespace-separated token carrying a host that is not allowed.
fn filter_links(text: &str, allowed: &[String], placeholder: Option<&str>) -> String {
    let mut out: Vec<&str> = Vec::new();
    for token in text.split(' ') {
        if token_is_safe(token, allowed) {
            out.push(token);
        } else if let Some(p) = placeholder {
            out.push(p);
        }
    }
    out.join(" ")
}

/// Whether every host-like part of `token` is allowed.
pub fn token_is_safe(token: &str, allowed: &[String]) -> bool {
    token
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '.'))
        .flat_map(hosts_in)
        .all(|host| host_allowed(&host, allowed))
}

/// The hosts a segment (letters, digits, `-`, `.`) names. Runs of non-empty dot-separated
/// labels are read as a host up to the last label that starts with two or more letters (the
/// top-level domain, cut at its first non-letter: `evil.com7` names `evil.com`), or as an IPv4
/// address. Deliberately generous: a false positive only removes a word.
fn hosts_in(segment: &str) -> Vec<String> {
    let lower = segment.to_lowercase();
    let mut hosts = Vec::new();
    let labels: Vec<&str> = lower.split('.').collect();
    for run in labels.split(|l| l.is_empty()) {
        if run.len() < 2 {
            continue;
        }
        if run
            .windows(4)
            .any(|w| w.iter().all(|l| l.chars().all(|c| c.is_ascii_digit())))
        {
            hosts.push(run.join("."));
            continue;
        }
        let tld = run.iter().enumerate().skip(1).rev().find_map(|(k, label)| {
            let letters: String = label.chars().take_while(|c| c.is_alphabetic()).collect();
            if label.starts_with("xn--") {
                Some((k, (*label).to_owned()))
            } else {
                (letters.chars().count() >= 2).then_some((k, letters))
            }
        });
        if let Some((k, tld)) = tld {
            hosts.push(format!("{}.{tld}", run[..k].join(".")));
        }
    }
    hosts
}

fn host_allowed(host: &str, allowed: &[String]) -> bool {
    allowed.iter().any(|a| {
        let a = a.trim().trim_matches('.').to_lowercase();
        !a.is_empty()
            && (host == a
                || host
                    .strip_suffix(a.as_str())
                    .is_some_and(|p| p.ends_with('.')))
    })
}

/// Splits `text` so the head has at most `max` characters: at the last sentence end within
/// the limit if it is not too early, else at the last space, else hard.
fn split_once(text: &str, max: usize) -> (&str, &str) {
    let Some((limit, _)) = text.char_indices().nth(max) else {
        return (text, "");
    };
    let window = &text[..limit];
    let sentence = window
        .char_indices()
        .filter(|&(i, c)| {
            matches!(c, '.' | '!' | '?' | '…') && text[i + c.len_utf8()..].starts_with(' ')
        })
        .map(|(i, c)| i + c.len_utf8())
        .next_back()
        .filter(|&end| end >= window.len() / 2);
    let cut = sentence
        .or_else(|| window.rfind(' ').filter(|&i| i > 0))
        .unwrap_or(limit);
    (text[..cut].trim_end(), &text[cut..])
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn config() -> SanitizeConfig {
        SanitizeConfig {
            allowed_hosts: vec!["twitch.tv".into(), "example.org".into()],
            max_chars: 500,
            max_parts: 3,
            canary: "CANARY-7f3a".into(),
        }
    }

    fn one(text: &str) -> String {
        sanitize(text, &config()).join(" | ")
    }

    #[test]
    fn output_is_one_clean_line() {
        assert_eq!(
            one("hello\r\nPRIVMSG #x :pwned\n  there\t!"),
            "hello PRIVMSG #x :pwned there !"
        );
        assert_eq!(one("a\u{200B}b\u{202E}c\u{0007}d"), "abcd");
        assert_eq!(one("   \n\r "), "");
    }

    #[test]
    fn commands_are_neutralised() {
        assert_eq!(one("/ban streamer"), "ban streamer");
        assert_eq!(one(".timeout someone 600"), "timeout someone 600");
        assert_eq!(one("  ./. /me hi"), "me hi");
        assert_eq!(one("\n/ban x"), "ban x");
        assert_eq!(one("///"), "");
    }

    #[test]
    fn foreign_links_are_removed_allowed_ones_kept() {
        assert_eq!(one("see evil.com/x now"), "see [link removed] now");
        assert_eq!(one("see HTTPS://EVIL.COM/path?q=1"), "see [link removed]");
        assert_eq!(one("go www.evil.co.uk."), "go [link removed]");
        assert_eq!(one("mail me@evil.com"), "mail [link removed]");
        assert_eq!(
            one("evil。com and evil．com"),
            "[link removed] and [link removed]"
        );
        assert_eq!(one("ip 10.0.0.1:8080/x"), "ip [link removed]");
        assert_eq!(one("(https://evil.com)"), "[link removed]");
        assert_eq!(one("https://twitch.tv.evil.com"), "[link removed]");
        assert_eq!(one("https://twitch.tv/x?r=evil.com"), "[link removed]");
        assert_eq!(one("e\u{200B}vil.c\u{200B}om"), "[link removed]");
        assert_eq!(one("ｅｖｉｌ．ｃｏｍ"), "[link removed]");
        assert_eq!(
            one("tw\u{0456}tch.tv"),
            "[link removed]",
            "a Cyrillic look-alike"
        );
        assert_eq!(
            one("clip: https://clips.twitch.tv/abc and twitch.tv/streamer, example.org."),
            "clip: https://clips.twitch.tv/abc and twitch.tv/streamer, example.org."
        );
        assert_eq!(
            one("e.g. pi is 3.14, version 1.2.3"),
            "e.g. pi is 3.14, version 1.2.3"
        );
    }

    #[test]
    fn the_canary_never_survives() {
        assert_eq!(one("my secret is CANARY-7f3a ok"), "my secret is ok");
        assert_eq!(one("canary-7F3A"), "");
        assert_eq!(one("CANARY-CANARY-7f3a7f3a"), "");
        assert_eq!(one("CANARY\u{200B}-7f3a"), "");
        assert_eq!(one("/CANARY-7f3a/ban x"), "ban x");
    }

    #[test]
    fn long_answers_split_at_sentences_then_words() {
        let sentence = "This is a sentence of some length. ";
        let text = sentence.repeat(30);
        let parts = sanitize(&text, &config());
        assert_eq!(parts.len(), 3);
        for p in &parts {
            assert!(p.chars().count() <= 500);
            assert!(p.ends_with('.'), "cut at a sentence end: {p:?}");
        }

        let words = "word ".repeat(400);
        let parts = sanitize(&words, &config());
        assert_eq!(parts.len(), 3);
        assert!(parts[0].ends_with("word"));
        assert!(parts[2].ends_with('…'), "text was dropped: {}", parts[2]);
        assert!(parts.iter().all(|p| p.chars().count() <= 500));

        let blob = "x".repeat(1200);
        let parts = sanitize(&blob, &config());
        assert_eq!(
            parts.iter().map(|p| p.chars().count()).collect::<Vec<_>>(),
            [500, 500, 200]
        );

        let short = SanitizeConfig {
            max_parts: 1,
            ..config()
        };
        let parts = sanitize(&"é".repeat(600), &short);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].chars().count(), 500);
        assert!(parts[0].ends_with('…'));
    }

    fn nasty() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("\r\n".to_owned()),
            Just("\n".to_owned()),
            Just("/".to_owned()),
            Just(".".to_owned()),
            Just(" ".to_owned()),
            Just("\u{200B}".to_owned()),
            Just("。".to_owned()),
            Just("evil.com".to_owned()),
            Just("https://".to_owned()),
            Just("twitch.tv".to_owned()),
            Just("CANARY-7f3a".to_owned()),
            Just("canary-".to_owned()),
            Just("7F3A".to_owned()),
            Just("@".to_owned()),
            Just("x".repeat(120)),
            "[a-zA-Z ]{1,12}".prop_map(|s| s),
            "\\PC{1,6}".prop_map(|s| s),
            any::<char>().prop_map(|c| c.to_string()),
        ];
        proptest::collection::vec(piece, 0..80).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn every_part_is_safe(text in nasty(), max_parts in 1usize..5, max_chars in 1usize..600) {
            let config = SanitizeConfig { max_parts, max_chars, ..config() };
            let parts = sanitize(&text, &config);
            prop_assert!(parts.len() <= max_parts);
            for p in &parts {
                prop_assert!(!p.is_empty());
                prop_assert!(!p.contains(['\r', '\n']), "{:?}", p);
                prop_assert!(!p.chars().any(char::is_control), "{:?}", p);
                prop_assert!(!p.starts_with(['/', '.', ' ']), "{:?}", p);
                prop_assert!(p.chars().count() <= max_chars.min(500), "{:?}", p);
                prop_assert!(!p.to_ascii_lowercase().contains("canary-7f3a"), "{:?}", p);
                for token in p.split(' ') {
                    prop_assert!(token_is_safe(token, &config.allowed_hosts), "{:?}", p);
                    let lower = token.to_lowercase();
                    if lower.contains("evil.com") {
                        prop_assert!(
                            lower.contains(".twitch.tv") || lower.contains(".example.org"),
                            "{:?}", p
                        );
                    }
                }
            }
        }
    }
}
