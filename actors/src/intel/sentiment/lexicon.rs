//! The sentiment lexicon: it parses `actors/data/sentiment_lexicon.tsv` (compiled in)
//! into hash maps built once, and answers the few lookups the scorer makes per token.
//! Parsing is strict. Each malformed line is an error that names its line number, and a
//! unit test loads the shipped file, so a bad edit fails CI rather than quietly dropping
//! a word.
//!
//! Lookups take the word straight from a stack buffer, with no allocation. Short keys are
//! packed into integers (see `ByteMap`). FxHash is used because keys are short, trusted,
//! and built once from our own file, so a DoS-resistant hasher buys nothing here.

use rustc_hash::FxHashMap;

use super::LexiconError;
use super::text::{KeyBuf, Laugh, WORD_CAP, Word, has_double, laughter, squeeze};

/// The shipped lexicon file.
pub(super) const SHIPPED: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/sentiment_lexicon.tsv"
));

/// The longest phrase, in words. The scorer keeps this many minus one previous words.
pub(super) const MAX_PHRASE_WORDS: usize = 4;

/// Bit flags on an [`Entry`]. Each one is a tag in the data file unless noted.
pub(super) mod flag {
    /// Negator ("not", "não", "nem"): flips the next sentiment word within 3 words.
    pub(crate) const NEG: u32 = 1 << 0;
    /// Negator only when the message shows no pt-BR marker. This is for English "no",
    /// which in Portuguese is "in the" ("no lixo").
    pub(crate) const NEG_EN: u32 = 1 << 1;
    /// Intensifier before the word ("very", "muito").
    pub(crate) const BOOST: u32 = 1 << 2;
    /// Softener before the word ("kinda", "meio").
    pub(crate) const DAMP: u32 = 1 << 3;
    /// Intensifier right after the word ("demais", "af", "pra caralho").
    pub(crate) const POSTBOOST: u32 = 1 << 4;
    /// "but"/"mas": the part before counts half, the part after one and a half.
    pub(crate) const CONTRAST: u32 = 1 << 5;
    /// Second-person target ("you", "vc") up to 3 words before an insult.
    pub(crate) const TARGET: u32 = 1 << 6;
    /// Possessive target ("seu", "your"): counts only right before the insult.
    pub(crate) const TARGET_ADJ: u32 = 1 << 7;
    /// A person named by role ("streamer", "mod"): counts before or after.
    pub(crate) const TARGET_NOUN: u32 = 1 << 8;
    /// Insult: toxic only when aimed at someone.
    pub(crate) const INSULT: u32 = 1 << 9;
    /// Abuse ("kys", "vsf"): always toxic.
    pub(crate) const ABUSE: u32 = 1 << 10;
    /// Slur: always toxic.
    pub(crate) const SLUR: u32 = 1 << 11;
    /// Portuguese word: counts as a pt-BR marker for the message.
    pub(crate) const PT: u32 = 1 << 12;
    /// Scored only in messages with a pt-BR marker ("show").
    pub(crate) const PT_CTX: u32 = 1 << 13;
    /// English-only word: ignored when written with an accent ("só" is not "so").
    pub(crate) const EN: u32 = 1 << 14;
    /// Marks the message as sarcastic (Kappa): the total is halved.
    pub(crate) const SARCASM: u32 = 1 << 15;
    /// A named emote (Twitch, BTTV, FFZ, 7TV) or an emoticon, matched case-sensitively.
    pub(crate) const EMOTE: u32 = 1 << 16;
    /// A single emoji code point, looked up even when glued to a word.
    pub(crate) const EMOJI: u32 = 1 << 17;
    /// An emote code that also scores as the suffix of a tagged channel emote
    /// ("pokiLUL" reads as "LUL", "xqcL" reads as "L").
    pub(crate) const SUFFIX: u32 = 1 << 18;
    /// Article ("a", "um"): transparent between a possessive target and an insult.
    pub(crate) const ARTICLE: u32 = 1 << 19;
    /// Internal: the last word of some phrase, so the scorer tries phrases here.
    pub(crate) const PHRASE_END: u32 = 1 << 20;
    /// Internal: some phrase uses this word.
    pub(crate) const PART: u32 = 1 << 21;

    /// Any flag that makes a hit count toward toxicity.
    pub(crate) const TOXIC: u32 = INSULT | ABUSE | SLUR;
}

/// Tag names as written in the data file.
const TAGS: &[(&str, u32)] = &[
    ("neg", flag::NEG),
    ("neg_en", flag::NEG_EN),
    ("boost", flag::BOOST),
    ("damp", flag::DAMP),
    ("postboost", flag::POSTBOOST),
    ("contrast", flag::CONTRAST),
    ("target", flag::TARGET),
    ("target_adj", flag::TARGET_ADJ),
    ("target_noun", flag::TARGET_NOUN),
    ("insult", flag::INSULT),
    ("abuse", flag::ABUSE),
    ("slur", flag::SLUR),
    ("pt", flag::PT),
    ("pt_ctx", flag::PT_CTX),
    ("en", flag::EN),
    ("sarcasm", flag::SARCASM),
    ("emote", flag::EMOTE),
    ("emoji", flag::EMOJI),
    ("suffix", flag::SUFFIX),
    ("article", flag::ARTICLE),
];

/// What the lexicon knows about one token.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Entry {
    /// Valence on VADER's scale, -4 (extremely negative) to +4 (extremely positive).
    pub(super) valence: f32,
    /// [`flag`] bits.
    pub(super) flags: u32,
}

impl Entry {
    /// True when any of the bits in `f` is set.
    pub(super) fn has(self, f: u32) -> bool {
        self.flags & f != 0
    }
}

/// A word the lexicon resolved: its canonical key (borrowed from the map, so phrase
/// matching can join keys without copying the chat text), its entry, and whether it
/// took the doubled-letter fallback.
pub(super) struct Resolved<'l> {
    pub(super) key: &'l [u8],
    pub(super) entry: Entry,
    pub(super) squeezed: bool,
}

/// The loaded lexicon.
#[derive(Debug)]
pub(super) struct Lexicon {
    /// Folded single words: canonical key and entry. Maps below point into this list, so
    /// a resolved word can lend its key to phrase matching.
    word_list: Vec<(Box<[u8]>, Entry)>,
    /// Folded word -> index in `word_list`.
    words: ByteMap<u32>,
    /// A word with every doubled letter cut to one -> index in `word_list`, for keys
    /// that have doubles ("poggers" -> "pogers"). Ambiguous squeezes are left out.
    squeezed: ByteMap<u32>,
    /// Folded phrases, words joined by one space.
    phrases: ByteMap<Entry>,
    /// Emotes, emoticons and emoji, exactly as typed.
    emotes: ByteMap<Entry>,
    /// Emote codes that can end a channel emote.
    suffixes: ByteMap<Entry>,
}

/// A map from short byte strings, tuned for lexicon keys. A key of up to 15 bytes is
/// packed with its length into one `u128` and kept in a [`PackedTable`], so a lookup is
/// one multiply, a probe or two, and an integer compare. There is no slice hashing and
/// no `memcmp`, which were most of the lookup cost when profiled. Longer keys (phrases,
/// a few long words) use an ordinary boxed map.
#[derive(Debug)]
struct ByteMap<V: Copy> {
    short: PackedTable<V>,
    long: FxHashMap<Box<[u8]>, V>,
}

impl<V: Copy> ByteMap<V> {
    fn new() -> Self {
        Self {
            short: PackedTable::new(),
            long: FxHashMap::default(),
        }
    }

    /// Packs 1 to 15 bytes with their length. The length keeps "a" and "a\0" apart and
    /// makes every packed key non-zero, which is the table's empty-slot marker.
    #[inline]
    fn pack(k: &[u8]) -> Option<u128> {
        if k.is_empty() || k.len() > 15 {
            return None;
        }
        let mut a = [0u8; 16];
        a[..k.len()].copy_from_slice(k);
        a[15] = k.len() as u8;
        Some(u128::from_le_bytes(a))
    }

    /// [`ByteMap::get`] for a key held zero-padded in a word buffer: packing is then
    /// two loads, with no per-byte copy.
    #[inline]
    fn get_padded(&self, buf: &KeyBuf, len: usize) -> Option<V> {
        if len > 15 {
            return self.get_long(&buf[..len]);
        }
        if len == 0 {
            return None;
        }
        let mut a = [0u8; 16];
        a.copy_from_slice(&buf[..16]);
        a[15] = len as u8;
        self.short.get(u128::from_le_bytes(a))
    }

    #[inline]
    fn get(&self, k: &[u8]) -> Option<V> {
        match Self::pack(k) {
            Some(p) => self.short.get(p),
            None => self.get_long(k),
        }
    }

    /// Kept out of line so the common short-key path stays small.
    #[cold]
    #[inline(never)]
    fn get_long(&self, k: &[u8]) -> Option<V> {
        self.long.get(k).copied()
    }

    fn contains(&self, k: &[u8]) -> bool {
        self.get(k).is_some()
    }

    /// Inserts, returning the value it replaced. Empty keys are never stored; the loader
    /// rejects them before they get here.
    fn insert(&mut self, k: &[u8], v: V) -> Option<V> {
        match Self::pack(k) {
            Some(p) => self.short.insert(p, v),
            None => self.long.insert(k.into(), v),
        }
    }

    fn remove(&mut self, k: &[u8]) {
        match Self::pack(k) {
            Some(p) => self.short.remove(p),
            None => {
                self.long.remove(k);
            }
        }
    }

    fn len(&self) -> usize {
        self.short.len + self.long.len()
    }
}

/// An open-addressing hash table from non-zero `u128` keys, with linear probing, kept
/// at most half full. It is tiny and read-mostly: built once at start-up, then probed
/// on every chat word.
#[derive(Debug)]
struct PackedTable<V: Copy> {
    /// Key 0 marks an empty slot. The length is a power of two.
    slots: Vec<(u128, Option<V>)>,
    /// Live entries.
    len: usize,
    /// Occupied slots, tombstones included. Kept at most half the slots, so every probe
    /// chain ends at an empty slot.
    used: usize,
}

impl<V: Copy> PackedTable<V> {
    fn new() -> Self {
        Self {
            slots: vec![(0, None); 64],
            len: 0,
            used: 0,
        }
    }

    #[inline]
    fn slot(&self, k: u128) -> usize {
        // Fold the halves, then a Fibonacci multiply: the top bits are well mixed.
        let x = (k as u64) ^ ((k >> 64) as u64).rotate_left(29);
        let h = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 32) as usize & (self.slots.len() - 1)
    }

    #[inline]
    fn get(&self, k: u128) -> Option<V> {
        let mask = self.slots.len() - 1;
        let mut i = self.slot(k);
        loop {
            let (key, v) = self.slots[i];
            if key == k {
                return v;
            }
            if key == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    fn insert(&mut self, k: u128, v: V) -> Option<V> {
        debug_assert_ne!(k, 0, "packed keys are never zero");
        if (self.used + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.slot(k);
        loop {
            let (key, old) = self.slots[i];
            if key == k {
                self.slots[i].1 = Some(v);
                self.len += usize::from(old.is_none());
                return old;
            }
            if key == 0 {
                self.slots[i] = (k, Some(v));
                self.len += 1;
                self.used += 1;
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Removal keeps the key as a tombstone (value `None`), so probe chains stay intact.
    /// It is only used while loading.
    fn remove(&mut self, k: u128) {
        let mask = self.slots.len() - 1;
        let mut i = self.slot(k);
        loop {
            let (key, old) = self.slots[i];
            if key == k {
                if old.is_some() {
                    self.slots[i].1 = None;
                    self.len -= 1;
                }
                return;
            }
            if key == 0 {
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let bigger = vec![(0, None); self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, bigger);
        self.len = 0;
        self.used = 0;
        for (k, v) in old {
            if let (true, Some(v)) = (k != 0, v) {
                self.insert(k, v);
            }
        }
    }
}

/// One parsed data line, kept until every plain word is in. Phrase parts are added
/// afterwards and must not clash with a word defined later in the file.
struct Row<'a> {
    line: usize,
    token: &'a str,
    entry: Entry,
}

impl Lexicon {
    /// Parses a lexicon in the data-file format described in `actors/data/README.md`.
    pub(super) fn parse(src: &str) -> Result<Self, LexiconError> {
        let mut lex = Lexicon {
            word_list: Vec::new(),
            words: ByteMap::new(),
            squeezed: ByteMap::new(),
            phrases: ByteMap::new(),
            emotes: ByteMap::new(),
            suffixes: ByteMap::new(),
        };
        let mut phrase_rows = Vec::new();
        for (i, raw) in src.lines().enumerate() {
            let line = i + 1;
            let text = raw.trim_end_matches('\r');
            if text.trim().is_empty() || text.starts_with('#') {
                continue;
            }
            let row = parse_row(line, text)?;
            let e = row.entry;
            if e.has(flag::EMOTE | flag::EMOJI | flag::SUFFIX) {
                lex.add_emote_row(&row)?;
            } else if row.token.contains(' ') {
                phrase_rows.push(row);
            } else {
                let key = fold_key(line, row.token)?;
                if lex.words.contains(&key) {
                    return Err(err(line, format!("duplicate word {:?}", row.token)));
                }
                lex.push_word(key, e);
            }
        }
        for row in &phrase_rows {
            lex.add_phrase_row(row)?;
        }
        lex.build_squeezed();
        Ok(lex)
    }

    fn add_emote_row(&mut self, row: &Row<'_>) -> Result<(), LexiconError> {
        let (line, token, e) = (row.line, row.token, row.entry);
        if token.chars().any(char::is_whitespace) {
            return Err(err(line, "emote with whitespace".into()));
        }
        if e.has(flag::EMOJI) {
            let mut cs = token.chars();
            let single = matches!((cs.next(), cs.next()), (Some(c), None) if !c.is_ascii());
            if !single || e.has(flag::EMOTE | flag::SUFFIX) {
                return Err(err(line, "emoji rows are one non-ASCII code point".into()));
            }
        }
        // The scorer skips the emote map for all-lowercase ASCII words (most of chat).
        // That is only sound if no emote looks like one.
        if token.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(err(line, "emote names must not be all lowercase".into()));
        }
        if e.has(flag::EMOTE | flag::EMOJI) && self.emotes.insert(token.as_bytes(), e).is_some() {
            return Err(err(line, format!("duplicate emote {token:?}")));
        }
        if e.has(flag::SUFFIX) {
            if !token.starts_with(|c: char| c.is_ascii_uppercase()) {
                return Err(err(line, "suffix codes start upper case".into()));
            }
            if self.suffixes.insert(token.as_bytes(), e).is_some() {
                return Err(err(line, format!("duplicate suffix {token:?}")));
            }
        }
        Ok(())
    }

    fn add_phrase_row(&mut self, row: &Row<'_>) -> Result<(), LexiconError> {
        let line = row.line;
        let parts: Vec<&str> = row.token.split(' ').collect();
        if !(2..=MAX_PHRASE_WORDS).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(err(
                line,
                "phrases have 2 to 4 words, one space apart".into(),
            ));
        }
        let mut key = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let folded = fold_key(line, part)?;
            if i > 0 {
                key.push(b' ');
            }
            key.extend_from_slice(&folded);
            let last = i + 1 == parts.len();
            let bits = flag::PART | if last { flag::PHRASE_END } else { 0 };
            let idx = match self.words.get(&folded) {
                Some(idx) => idx,
                None => self.push_word(folded, Entry::default()),
            };
            self.word_list[idx as usize].1.flags |= bits;
        }
        if self.phrases.insert(&key, row.entry).is_some() {
            return Err(err(line, format!("duplicate phrase {:?}", row.token)));
        }
        Ok(())
    }

    /// Appends a word to the list and indexes it.
    fn push_word(&mut self, key: Box<[u8]>, entry: Entry) -> u32 {
        let idx = u32::try_from(self.word_list.len()).expect("fewer than 2^32 words");
        self.words.insert(&key, idx);
        self.word_list.push((key, entry));
        idx
    }

    fn build_squeezed(&mut self) {
        let mut ambiguous: Vec<Box<[u8]>> = Vec::new();
        for (idx, (key, _)) in self.word_list.iter().enumerate() {
            if !has_double(key) {
                continue;
            }
            let mut buf = [0u8; WORD_CAP];
            let n = squeeze(key, &mut buf);
            let short = &buf[..n];
            if self.words.contains(short) {
                continue;
            }
            let idx = u32::try_from(idx).expect("fewer than 2^32 words");
            if self.squeezed.insert(short, idx).is_some() {
                ambiguous.push(short.into());
            }
        }
        for k in ambiguous {
            self.squeezed.remove(&k);
        }
    }

    fn resolved(&self, idx: u32, squeezed: bool) -> Resolved<'_> {
        let (key, entry) = &self.word_list[idx as usize];
        Resolved {
            key,
            entry: *entry,
            squeezed,
        }
    }

    /// Resolves a folded word, given zero-padded in `buf`. The exact form comes first.
    /// When `doubled` is set (the word was stretched or ends in a doubled letter), the
    /// squeezed form is tried next, as a word ("lixoo" -> "lixo") and through the
    /// squeezed index ("poggerss" -> "poggers"). The fallback needs a doubled letter in
    /// the word, so "god" can never turn into "good".
    #[inline]
    pub(super) fn word(&self, buf: &KeyBuf, len: usize, doubled: bool) -> Option<Resolved<'_>> {
        debug_assert!(
            buf[len..].iter().all(|&b| b == 0),
            "key buffer must be zero-padded"
        );
        if let Some(idx) = self.words.get_padded(buf, len) {
            return Some(self.resolved(idx, false));
        }
        let w = &buf[..len];
        if !doubled || !has_double(w) {
            return None;
        }
        let mut short = [0u8; WORD_CAP];
        let n = squeeze(w, &mut short);
        let idx = self
            .words
            .get_padded(&short, n)
            .or_else(|| self.squeezed.get_padded(&short, n))?;
        Some(self.resolved(idx, true))
    }

    /// A phrase by its folded key ("vai se foder").
    pub(super) fn phrase(&self, key: &[u8]) -> Option<Entry> {
        self.phrases.get(key)
    }

    /// An emote, emoticon or emoji, exactly as typed.
    #[inline]
    pub(super) fn emote(&self, token: &str) -> Option<Entry> {
        self.emotes.get(token.as_bytes())
    }

    /// Reads a tagged channel emote by its code. Twitch sub-emote names are a lowercase
    /// channel prefix plus a capitalised code ("pokiLove", "xqcL"), and the code usually
    /// names a stock feeling.
    pub(super) fn channel_emote(&self, name: &str) -> Option<Entry> {
        let split = name.find(|c: char| c.is_ascii_uppercase())?;
        let prefix = &name.as_bytes()[..split];
        if prefix.len() < 2
            || !prefix
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return None;
        }
        self.suffixes.get(&name.as_bytes()[split..])
    }

    /// Number of entries of every kind, for tests and start-up logs.
    pub(super) fn len(&self) -> usize {
        self.words.len() + self.phrases.len() + self.emotes.len() + self.suffixes.len()
    }
}

fn err(line: usize, reason: String) -> LexiconError {
    LexiconError { line, reason }
}

fn parse_row(line: usize, text: &str) -> Result<Row<'_>, LexiconError> {
    let cols: Vec<&str> = text.split('\t').collect();
    let &[token, valence, tags] = cols.as_slice() else {
        return Err(err(
            line,
            format!("expected 3 tab-separated columns, got {}", cols.len()),
        ));
    };
    if token.is_empty() || token.trim() != token {
        return Err(err(line, "empty token or stray spaces around it".into()));
    }
    let valence: f32 = valence
        .trim()
        .parse()
        .map_err(|_| err(line, format!("valence {valence:?} is not a number")))?;
    if !(-4.0..=4.0).contains(&valence) {
        return Err(err(line, format!("valence {valence} outside [-4, 4]")));
    }
    let mut flags = 0;
    let tags = tags.trim();
    if tags != "-" {
        for tag in tags.split(',') {
            let Some(&(_, bit)) = TAGS.iter().find(|(name, _)| *name == tag.trim()) else {
                return Err(err(line, format!("unknown tag {tag:?}")));
            };
            flags |= bit;
        }
    }
    Ok(Row {
        line,
        token,
        entry: Entry { valence, flags },
    })
}

/// Folds a data-file word exactly as chat words are folded. A key that folding would
/// change in shape (over-long, stretched, non-Latin) could never be hit, so it is an
/// error rather than a dead row.
fn fold_key(line: usize, token: &str) -> Result<Box<[u8]>, LexiconError> {
    let w = Word::new(token);
    if w.bytes().is_empty() || w.overflow || w.stretched || w.foreign {
        return Err(err(
            line,
            format!("word {token:?} cannot be matched after folding"),
        ));
    }
    // The scorer checks for laughter before the lexicon, so such a key would be dead.
    if laughter(w.bytes()) != Laugh::No {
        return Err(err(line, format!("word {token:?} reads as laughter")));
    }
    if token.chars().any(|c| !super::text::is_word_char(c)) {
        return Err(err(
            line,
            format!("word {token:?} has a character that splits words"),
        ));
    }
    Ok(w.bytes().into())
}
