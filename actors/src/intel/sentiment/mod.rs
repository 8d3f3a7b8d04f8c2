//! Sentiment and toxicity of one chat message. It is a pure, allocation-free scorer for
//! English, Brazilian Portuguese and Twitch/BTTV/FFZ/7TV emote vocabulary, and it fills
//! [`super::signals::ChatFacts::sentiment`] and [`super::signals::ChatFacts::toxic`].
//!
//! # What the score means
//! [`Sentiment::score`] runs from -1 (hostile, upset, bored) to +1 (delighted, hyped).
//! The engine adds up the valence of every word, phrase, emote, emoji and written laugh
//! it recognises. Each is adjusted for negation ("not good", "não é bom"), intensifiers
//! ("very", "muito", "bom demais"), ALL CAPS, stretched letters ("goooood") and "!!!".
//! The total is then squashed into [-1, 1] with `x / sqrt(x² + 15)`, as VADER does. 0
//! means neutral, mixed, or nothing recognised (check [`Sentiment::matched`] to tell
//! these apart). One clearly positive word ("good", "bom", `PogChamp`) lands around
//! +0.4 to +0.55, and strong or piled-up feeling goes past ±0.7. It is a lexicon
//! reading, not understanding: irony, context and unknown slang are missed, and Kappa
//! only halves the total.
//!
//! # Toxicity
//! [`Sentiment::toxic`] is separate from the score and deliberately conservative. It is
//! set by:
//! - a short list of slurs, in any context;
//! - explicit abuse ("kys", "vsf", "fdp", "vai se foder", "fuck you"), in any context;
//! - insults ("trash", "idiot", "lixo", "burro", "otário") only when aimed at someone: a
//!   second-person word up to three words before ("you are trash", "vc é lixo"), a
//!   possessive right before ("seu lixo", "ur trash"), an @mention, or "streamer"/"mod"
//!   on either side ("lixo de streamer"). A negated insult ("you're not trash") does not
//!   count. Nor does self-talk ("I'm trash", "sou um lixo") or talk about things ("this
//!   game is trash").
//!
//! Matching is on whole folded words, never substrings, so "classic", "assessment" and
//! "Scunthorpe" are safe. Stretched letters ("idiiiota"), doubled letters and simple
//! leetspeak ("1d10t") are undone before matching. Spaced-out or symbol-censored
//! spellings ("i d i o t", "f*ck") are not caught.
//!
//! # Why our own lexicon
//! The only Rust VADER port, `vader_sentiment` 0.1.1 (MIT), is English-only. It has no
//! pt-BR or emote vocabulary. It also runs a regex and builds joined `String`s for each
//! word, which is exactly the per-message work a hot path must avoid. Its latest
//! release is still 0.1.1.
//! We borrow VADER's *method* (published constants, named in `scan.rs`) and write a
//! small lexicon of our own that we can test and extend: `actors/data/sentiment_lexicon.tsv`,
//! whose provenance is in `actors/data/README.md`.
//!
//! # Cost
//! This runs on every chat message. There is one byte pass to split and fold words into
//! a fixed stack array (ASCII fast path), and one pass over only the tokens that carry
//! something. Each word costs usually one lookup in an open-addressing table keyed by
//! the folded word packed into a `u128`. There is no regex and no heap allocation per
//! message. Measured with a throwaway harness, not kept in the tree: a mix of typical
//! 20-byte chat messages averaged about 2,300 instructions each (callgrind), which is
//! about 350-400 ns per message on the project's 2-core VM when it is otherwise idle.

mod lexicon;
mod scan;
#[cfg(test)]
mod tests;
mod text;

/// The sentiment of one message. See the module docs for what each field means.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sentiment {
    /// Valence in [-1, 1]. 0 when neutral, mixed, or nothing was recognised.
    pub score: f32,
    /// Slur, explicit abuse, or an insult aimed at someone.
    pub toxic: bool,
    /// How many recognised items (words, phrases, emotes, emoji, laughs) carried a
    /// non-zero valence into the score. Modifiers such as "not" and "very" are not
    /// counted. 0 with score 0 means "nothing to go on", not "neutral".
    pub matched: u16,
    /// Emote occurrences: tagged Twitch emotes, plus named emotes and emoticons the
    /// lexicon knows (BTTV/FFZ/7TV words are never tagged by Twitch). Emoji are not
    /// counted.
    pub emotes: u16,
}

/// A malformed line in a sentiment lexicon.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sentiment lexicon line {line}: {reason}")]
pub struct LexiconError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// The scorer. Build it once (it parses the lexicon) and share it. `analyze` takes
/// `&self` and is pure, so one engine serves every channel.
#[derive(Debug)]
pub struct SentimentEngine {
    lex: lexicon::Lexicon,
}

impl SentimentEngine {
    /// Loads the lexicon compiled into the binary.
    ///
    /// # Panics
    /// Never in practice. The shipped file is parsed by a unit test, so a bad edit fails
    /// CI before it can ship.
    pub fn new() -> Self {
        Self::from_tsv(lexicon::SHIPPED).expect("shipped sentiment lexicon is valid (tested)")
    }

    /// Loads a lexicon in the data-file format (see `actors/data/README.md`). For tests
    /// and experiments; production uses [`SentimentEngine::new`].
    pub fn from_tsv(src: &str) -> Result<Self, LexiconError> {
        Ok(Self {
            lex: lexicon::Lexicon::parse(src)?,
        })
    }

    /// Scores one chat message.
    ///
    /// `tagged_emotes` are the emote names from Twitch's `emotes` tag. They tell the
    /// engine that those tokens are emotes, so a channel emote such as `pokiLove` is read
    /// by its code (`Love`) and never as a word. Emotes are scored where they occur in
    /// `text`. A tagged name that does not occur in `text` (the caller stripped it) is
    /// scored once per listing. Nothing is counted twice.
    pub fn analyze(&self, text: &str, tagged_emotes: &[&str]) -> Sentiment {
        scan::analyze(&self.lex, text, tagged_emotes)
    }

    /// Number of lexicon entries (words, phrases, emotes, emote codes), for start-up
    /// logs.
    pub fn lexicon_entries(&self) -> usize {
        self.lex.len()
    }
}

impl Default for SentimentEngine {
    fn default() -> Self {
        Self::new()
    }
}
