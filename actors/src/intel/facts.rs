//! Derives [`ChatFacts`] from one chat row: sentiment and toxicity (lexicon), question and
//! mention detection, emote count, staff and first-time flags. Runs once per message on the
//! hot path, so it allocates only for messages that carry emotes.

use chrono::{DateTime, Utc};

use super::sentiment::SentimentEngine;
use super::signals::ChatFacts;
use crate::model::ChatRecord;

/// Bytes of a message that sentiment scores.
pub const SENTIMENT_BYTES: usize = 200;

/// Words that open a question in English and Brazilian Portuguese.
const QUESTION_OPENERS: [&str; 28] = [
    "what", "why", "how", "when", "where", "who", "which", "is", "are", "can", "could", "do",
    "does", "did", "will", "should", "que", "qual", "quais", "quando", "onde", "quem", "como",
    "porque", "pq", "cadê", "cade", "quanto",
];

/// Whether `text` reads as a question: it ends with `?` (ignoring trailing emotes and
/// spaces), or opens with a question word and is addressed to someone.
pub fn is_question(text: &str) -> bool {
    let trimmed = text.trim_end();
    if trimmed.contains('?') {
        return true;
    }
    let mut words = trimmed.split_whitespace();
    let first = words.next().unwrap_or("").trim_start_matches('@');
    // Case-insensitive without allocating: only "cadê" is non-ASCII among the openers.
    let opener = QUESTION_OPENERS.iter().any(|o| {
        first.eq_ignore_ascii_case(o) || (!first.is_ascii() && first.to_lowercase() == *o)
    });
    opener && words.nth(1).is_some()
}

/// Whether `text` names `login` as a whole word (with or without `@`), case-insensitively.
pub fn mentions(text: &str, login: &str) -> bool {
    if login.is_empty() || text.len() < login.len() {
        return false;
    }
    let bytes = text.as_bytes();
    let n = login.len();
    (0..=bytes.len() - n).any(|i| {
        bytes[i..i + n].eq_ignore_ascii_case(login.as_bytes())
            && (i == 0 || !is_word(bytes[i - 1]))
            && (i + n == bytes.len() || !is_word(bytes[i + n]))
    })
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Emote names from Twitch's `emotes` tag (`id:start-end,start-end/id:...`, char ranges).
pub fn tagged_emotes<'a>(text: &'a str, tag: &str) -> Vec<&'a str> {
    if tag.is_empty() {
        return Vec::new();
    }
    // The ranges count chars; in an ASCII line (most of chat) a char is a byte, so the
    // table of char offsets is only built for a line that needs it.
    let offsets: Option<Vec<usize>> = (!text.is_ascii()).then(|| {
        text.char_indices()
            .map(|(i, _)| i)
            .chain([text.len()])
            .collect()
    });
    let byte_at = |char_index: usize| match &offsets {
        Some(o) => o.get(char_index).copied(),
        None => (char_index <= text.len()).then_some(char_index),
    };
    tag.split('/')
        .filter_map(|group| group.split_once(':'))
        .flat_map(|(_, ranges)| ranges.split(','))
        .filter_map(|r| {
            let (a, b) = r.split_once('-')?;
            let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
            let (start, end) = (byte_at(a)?, byte_at(b.checked_add(1)?)?);
            text.get(start..end)
        })
        .collect()
}

/// Derives the facts for one message.
pub fn derive(
    sentiment: &SentimentEngine,
    chat: &ChatRecord,
    bot_login: Option<&str>,
    first_time: bool,
    at: DateTime<Utc>,
) -> ChatFacts {
    let emotes = tagged_emotes(&chat.text, &chat.emotes);
    // Sentiment reads the first 200 bytes: enough for any real chat line's feeling, and it
    // bounds a 500-character copypasta's cost (about 8 µs scored in full) on the hot path.
    let mut end = chat.text.len().min(SENTIMENT_BYTES);
    while !chat.text.is_char_boundary(end) {
        end -= 1;
    }
    let s = sentiment.analyze(&chat.text[..end], &emotes);
    let channel = chat.channel.as_str();
    let is_broadcaster = chat.user_login == channel;
    ChatFacts {
        login: chat.user_login.clone(),
        at,
        sentiment: s.score,
        toxic: s.toxic,
        is_question: is_question(&chat.text),
        mentions_streamer: mentions(&chat.text, channel)
            || bot_login.is_some_and(|b| mentions(&chat.text, b)),
        // The lexicon also knows BTTV/FFZ/7TV emote words, which Twitch never tags.
        emotes: u32::from(s.emotes).max(emotes.len() as u32),
        is_staff: is_broadcaster || chat.is_moderator,
        first_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_in_english_and_portuguese() {
        assert!(is_question("what game is this?"));
        assert!(is_question("qual o nome do jogo mano"));
        assert!(is_question("how do you do that"));
        assert!(!is_question("LUL"));
        assert!(!is_question("what"));
        assert!(!is_question("nice play"));
    }

    #[test]
    fn mentions_are_whole_words() {
        assert!(mentions("@Pajlada hi", "pajlada"));
        assert!(mentions("hi pajlada!", "pajlada"));
        assert!(!mentions("pajladas fan", "pajlada"));
        assert!(!mentions("xpajlada", "pajlada"));
    }

    #[test]
    fn emote_names_come_from_tag_ranges_in_chars() {
        let text = "Kappa Keepo Kappa";
        assert_eq!(
            tagged_emotes(text, "25:0-4,12-16/1902:6-10"),
            ["Kappa", "Kappa", "Keepo"]
        );
        // Ranges count characters, not bytes: the accent must not shift the emote.
        assert_eq!(tagged_emotes("ótimo LUL", "425618:6-8"), ["LUL"]);
        assert!(
            tagged_emotes("short", "1:10-20").is_empty(),
            "out-of-range tags are ignored"
        );
        for text in ["Kappa", "ótimo"] {
            assert!(
                tagged_emotes(text, "25:0-18446744073709551615").is_empty(),
                "a range ending at the largest number is ignored, not an overflow"
            );
        }
    }
}
