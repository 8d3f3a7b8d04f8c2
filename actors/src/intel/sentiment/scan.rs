//! The per-message scorer, in two passes over a fixed stack array of tokens.
//!
//! Pass 1 walks the text once. It splits on whitespace, then splits words from
//! punctuation. It resolves each piece against the lexicon (emote, word, phrase,
//! laughter, @mention) and records the result as a small `Tok`. Phrases are found here:
//! when a word ends a known phrase, the previous words are marked consumed.
//!
//! Pass 2 scores each token with look-behind (negators, intensifiers, targets) and
//! look-ahead (postfix intensifiers such as "demais", targets such as "de streamer"). It
//! runs on the array, so neither pass allocates. A message longer than the array (64
//! tokens: nearly all chat, though a full 500-character message can need two) is scored
//! in consecutive chunks. Only context across a chunk edge is lost (a negator or
//! phrase split by the edge).
//!
//! The adjustment constants follow the published VADER heuristics (Hutto & Gilbert,
//! ICWSM 2014): booster +0.293, ALL CAPS +0.733, negation x -0.74, "but" weighting
//! 0.5 / 1.5, "!" +0.292 up to four, normalisation x / sqrt(x^2 + 15). The others are
//! our own and are marked as such.

use super::Sentiment;
use super::lexicon::{Entry, Lexicon, MAX_PHRASE_WORDS, flag};
use super::text::{Laugh, WORD_CAP, Word, is_word_char};

/// VADER: added to a word's magnitude by an intensifier right before it.
const B_INCR: f32 = 0.293;
/// VADER: added for a shouted (ALL CAPS) word.
const C_INCR: f32 = 0.733;
/// VADER: a negated word keeps 74% of its strength with the sign flipped ("not bad" is
/// mildly good, not as good as "good").
const N_SCALAR: f32 = -0.74;
/// VADER: added per "!" (at most [`MAX_BANGS`]) toward the message's sign.
const BANG_INCR: f32 = 0.292;
/// VADER: beyond four, more "!" adds nothing.
const MAX_BANGS: u32 = 4;
/// VADER: the normalisation constant. One "good" (1.9) scores about 0.44.
const ALPHA: f32 = 15.0;
/// VADER: weight of sentiment before the last "but"/"mas".
const BEFORE_CONTRAST: f32 = 0.5;
/// VADER: weight of sentiment after it ("good but boring" leans negative).
const AFTER_CONTRAST: f32 = 1.5;
/// VADER: an intensifier two or three words back counts a little less.
const DECAY: [f32; WINDOW] = [1.0, 0.95, 0.9];
/// VADER: how many words back a negator or intensifier reaches.
const WINDOW: usize = 3;
/// Ours: a postfix intensifier ("bom demais", "good af") is emphatic, so it is worth
/// more than a prefix one.
const POST_INCR: f32 = 0.44;
/// Ours: a stretched word ("goooood", "lindoooo") is emphasis, a bit under CAPS.
const STRETCH_INCR: f32 = 0.3;
/// Ours: Kappa / "/s" halve the total, because the literal words may mean the opposite.
const SARCASM_SCALE: f32 = 0.5;
/// Ours: an insult aimed at someone scores at least this negative, even if the word is
/// mild or neutral on its own ("macaco", "puta").
const TARGETED_INSULT: f32 = -2.5;
/// Ours: written laughter ("kkkk", "haha") is mildly positive, like "lol".
const LAUGH_VALENCE: f32 = 1.5;
/// Tokens per chunk. It is also the width of the `u64` mask of used postfix
/// intensifiers.
const CHUNK: usize = 64;
/// Only this many tagged emote names are tracked for de-duplication. Names past it
/// are taken to be in the text, so they are never scored twice.
const TAG_BITS: usize = 64;
/// The previous words kept for phrase matching.
const RING: usize = MAX_PHRASE_WORDS - 1;
/// Room for a joined phrase key.
const PHRASE_CAP: usize = MAX_PHRASE_WORDS * (WORD_CAP + 1);

/// What a token is, for the look-behind and look-ahead rules.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Swallowed by a phrase, or an empty slot. Skipped as if absent.
    Consumed,
    /// Clause punctuation (. , ; : ! ?). Ends the reach of negators and intensifiers.
    Boundary,
    /// A word, known or not. Unknown words still count toward distances.
    Word,
    /// An emote, emoji or laugh. It is a reaction, not a claim, so it is never negated
    /// or intensified ("not good LUL" does not negate LUL).
    Reaction,
    /// An @mention. Aims a nearby insult at someone.
    Mention,
}

#[derive(Clone, Copy)]
struct Tok {
    entry: Entry,
    kind: Kind,
    caps: bool,
    stretched: bool,
}

const EMPTY: Tok = Tok {
    entry: Entry {
        valence: 0.0,
        flags: 0,
    },
    kind: Kind::Consumed,
    caps: false,
    stretched: false,
};

/// Running totals for the whole message, across chunks.
#[derive(Default)]
struct Acc {
    sum: f32,
    matched: u16,
    emotes: u16,
    toxic: bool,
    sarcasm: bool,
    bangs: u32,
    /// A pt-BR marker was seen. It is sticky across chunks, since a message does not
    /// switch language halfway.
    pt: bool,
}

impl Acc {
    fn finish(&self) -> Sentiment {
        let mut s = self.sum;
        let score = if s == 0.0 || !s.is_finite() {
            0.0
        } else {
            s += s.signum() * self.bangs.min(MAX_BANGS) as f32 * BANG_INCR;
            if self.sarcasm {
                s *= SARCASM_SCALE;
            }
            // Past this the squash is 1 to f32 precision anyway. The guard keeps s*s
            // finite for absurd inputs.
            if s.abs() > 1.0e4 {
                s.signum()
            } else {
                (s / (s * s + ALPHA).sqrt()).clamp(-1.0, 1.0)
            }
        };
        Sentiment {
            score,
            toxic: self.toxic,
            matched: self.matched,
            emotes: self.emotes,
        }
    }
}

/// Scores one message. This is the body of [`super::SentimentEngine::analyze`].
pub(super) fn analyze(lex: &Lexicon, text: &str, tagged: &[&str]) -> Sentiment {
    let mut s = Scan {
        lex,
        tagged,
        seen: 0,
        toks: [EMPTY; CHUNK],
        len: 0,
        scoring: 0,
        contrast: None,
        ring: [(0, &[]); RING],
        ring_len: 0,
        acc: Acc::default(),
    };
    // Split on ASCII whitespace by byte. It is much cheaper than `split_whitespace`,
    // which decodes every char. Other Unicode spaces (NBSP, ...) are still word
    // separators inside a piece; see `Scan::split`.
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        // Learn, in the same pass, what `raw` needs to know about the piece.
        let (mut high, mut lower) = (0u8, true);
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            high |= bytes[i];
            lower &= bytes[i].is_ascii_lowercase();
            i += 1;
        }
        let piece = Piece {
            ascii: high < 0x80,
            lowercase: lower,
        };
        // Both ends sit next to ASCII bytes (or the text's ends), so they are char
        // boundaries.
        s.raw(&text[start..i], piece);
    }
    s.unseen_tagged();
    s.flush();
    s.acc.finish()
}

/// What the whitespace scan learned about a piece.
#[derive(Clone, Copy)]
struct Piece {
    /// Only ASCII bytes.
    ascii: bool,
    /// Only ASCII lowercase letters, so it cannot be an emote.
    lowercase: bool,
}

struct Scan<'l, 't> {
    lex: &'l Lexicon,
    tagged: &'t [&'t str],
    /// Bit k: `tagged[k]` occurred in the text, so it is already scored.
    seen: u64,
    toks: [Tok; CHUNK],
    len: usize,
    /// Bit i: token i may contribute (it has a valence or a toxicity flag). Pass 2
    /// visits only these, and most tokens in chat carry nothing.
    scoring: u64,
    /// Index of the last "but"/"mas" in the chunk.
    contrast: Option<usize>,
    /// The last few words (token index, canonical key), for phrase matching. Cleared
    /// by anything that is not a resolved word.
    ring: [(usize, &'l [u8]); RING],
    ring_len: usize,
    acc: Acc,
}

impl<'l> Scan<'l, '_> {
    /// One whitespace-separated piece of the message, as typed.
    fn raw(&mut self, raw: &str, piece: Piece) {
        let b = raw.as_bytes();
        match b[0] {
            b'@' => {
                if b.len() > 1 {
                    self.push(Tok {
                        kind: Kind::Mention,
                        ..EMPTY
                    });
                }
                return;
            }
            // Chat commands ("!uptime") are addressed to bots, not feelings.
            b'!' if b.len() > 1 && b[1].is_ascii_alphabetic() => return,
            b'h' | b'w' if is_link(raw) => return,
            b'/' if raw == "/s" => {
                self.acc.sarcasm = true;
                return;
            }
            _ => {}
        }
        if !self.tagged.is_empty() && self.mark_tagged(raw) {
            // Twitch says it is an emote. Trust that even if we do not know it, so a
            // channel emote is never read as a word.
            let e = self.lex.emote(raw).or_else(|| self.lex.channel_emote(raw));
            self.emote(raw, e.unwrap_or_default());
            return;
        }
        // Every emote name has a capital, digit or symbol (the loader enforces it), so
        // plain lowercase words, most of chat, skip this lookup.
        if !piece.lowercase {
            let hit = self
                .lex
                .emote(raw)
                .or_else(|| trim_tail_run(raw).and_then(|t| self.lex.emote(t)));
            if let Some(e) = hit {
                self.emote(raw, e);
                return;
            }
        }
        if piece.ascii {
            self.split_ascii(b);
        } else {
            self.split(raw);
        }
    }

    /// Marks every tagged name equal to `raw` as seen, and says whether there was one.
    fn mark_tagged(&mut self, raw: &str) -> bool {
        let mut hit = false;
        for (k, name) in self.tagged.iter().enumerate() {
            if *name == raw {
                hit = true;
                if k < TAG_BITS {
                    self.seen |= 1 << k;
                }
            }
        }
        hit
    }

    /// Scores tagged emotes that never occurred in the text. This serves callers that
    /// strip emotes from the text. Each such listing is scored once.
    fn unseen_tagged(&mut self) {
        self.ring_len = 0;
        let tagged = self.tagged;
        for (k, name) in tagged.iter().enumerate().take(TAG_BITS) {
            if self.seen & (1 << k) == 0 && !name.is_empty() {
                let e = self
                    .lex
                    .emote(name)
                    .or_else(|| self.lex.channel_emote(name));
                self.emote(name, e.unwrap_or_default());
            }
        }
    }

    fn emote(&mut self, raw: &str, e: Entry) {
        if e.has(flag::SARCASM) {
            self.acc.sarcasm = true;
        }
        if !e.has(flag::EMOJI) {
            self.acc.emotes = self.acc.emotes.saturating_add(1);
        }
        // "GG EZ": EZ is an emote, but after "gg" it is the taunt phrase.
        if self.ring_len > 0 && raw.is_ascii() {
            let w = Word::new(raw);
            let (buf, len) = w.key();
            if let Some(r) = self.lex.word(buf, len, false)
                && r.entry.has(flag::PHRASE_END)
                && self.match_phrase(r.key).is_some()
            {
                self.push_word(r.key, r.entry, false, false);
                return;
            }
        }
        self.push(Tok {
            kind: Kind::Reaction,
            entry: e,
            ..EMPTY
        });
    }

    /// [`Scan::split`] for ASCII pieces: each word is found and folded in one loop.
    fn split_ascii(&mut self, b: &[u8]) {
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c.is_ascii_alphanumeric() || c == b'\'' {
                let (w, used) = Word::scan_ascii(&b[i..]);
                i += used;
                self.word(&w);
            } else {
                self.symbol(char::from(c));
                i += 1;
            }
        }
    }

    /// Splits one whitespace piece into words, punctuation and glued emoji, folding
    /// each word as it goes (one pass over the chars).
    fn split(&mut self, raw: &str) {
        let mut w = Word::EMPTY;
        let mut in_word = false;
        for c in raw.chars() {
            if is_word_char(c) {
                w.push(c);
                in_word = true;
                continue;
            }
            if in_word {
                self.word(&w);
                w = Word::EMPTY;
                in_word = false;
            }
            self.symbol(c);
        }
        if in_word {
            self.word(&w);
        }
    }

    fn symbol(&mut self, c: char) {
        match c {
            '!' => {
                self.acc.bangs += 1;
                self.boundary();
            }
            '.' | ',' | ';' | ':' | '?' | '¡' | '¿' | '…' => self.boundary(),
            // Emoji and other symbols. Lower code points are ASCII/Latin punctuation
            // (and spaces such as NBSP), which separate words with no lookup.
            c if u32::from(c) >= 0x2000 => {
                let mut buf = [0u8; 4];
                let s: &str = c.encode_utf8(&mut buf);
                if let Some(e) = self.lex.emote(s) {
                    self.emote(s, e);
                }
            }
            _ => {}
        }
    }

    fn word(&mut self, w: &Word) {
        if w.bytes().is_empty() || w.foreign {
            // Non-Latin script (or only apostrophes): never looked up, but a real word
            // still counts toward negation and intensifier distances.
            if w.foreign {
                self.push(Tok {
                    kind: Kind::Word,
                    ..EMPTY
                });
            }
            return;
        }
        self.acc.pt |= w.pt_accent;
        // Laughter first: it is common ("kkkkkk") and cheap to rule out, and the loader
        // guarantees no lexicon word looks like laughter, so the order changes nothing.
        let laugh = w.laughter();
        if laugh != Laugh::No {
            self.acc.pt |= laugh == Laugh::Portuguese;
            let long = w.stretched || w.overflow;
            let valence = LAUGH_VALENCE + if long { STRETCH_INCR } else { 0.0 };
            self.push(Tok {
                kind: Kind::Reaction,
                entry: Entry { valence, flags: 0 },
                ..EMPTY
            });
            return;
        }
        if !w.overflow {
            let lex = self.lex;
            let doubled = w.maybe_doubled();
            let (buf, len) = w.key();
            let hit = lex
                .word(buf, len, doubled)
                .filter(|r| !(r.entry.has(flag::EN) && w.accented))
                .or_else(|| {
                    // Leetspeak is read only to catch disguised abuse, and the phrase
                    // words that abuse is built from ("k1ll yourself").
                    let (buf, n) = w.unleet()?;
                    lex.word(&buf, n, doubled)
                        .filter(|r| r.entry.has(flag::TOXIC | flag::PART))
                });
            if let Some(r) = hit {
                self.acc.pt |= r.entry.has(flag::PT);
                let stretched = w.stretched || (r.squeezed && len > r.key.len());
                self.push_word(r.key, r.entry, w.is_caps(), stretched);
                return;
            }
        }
        self.push(Tok {
            kind: Kind::Word,
            ..EMPTY
        });
    }

    fn boundary(&mut self) {
        self.ring_len = 0;
        if self.len > 0 && self.toks[self.len - 1].kind != Kind::Boundary {
            self.push(Tok {
                kind: Kind::Boundary,
                ..EMPTY
            });
        }
    }

    /// Appends a token that is not a resolved word. It ends any phrase in progress.
    fn push(&mut self, tok: Tok) {
        if self.len == CHUNK {
            self.flush();
        }
        if tok.kind == Kind::Reaction && tok.entry.valence != 0.0 {
            self.scoring |= 1 << self.len;
        }
        self.toks[self.len] = tok;
        self.len += 1;
        self.ring_len = 0;
    }

    /// Appends a resolved word. If it ends a phrase made with the previous words, the
    /// phrase replaces them all.
    fn push_word(&mut self, key: &'l [u8], mut entry: Entry, caps: bool, stretched: bool) {
        if self.len == CHUNK {
            self.flush();
        }
        if entry.has(flag::PHRASE_END)
            && let Some((phrase, n)) = self.match_phrase(key)
        {
            for &(idx, _) in &self.ring[self.ring_len - n..self.ring_len] {
                self.toks[idx].kind = Kind::Consumed;
                self.scoring &= !(1 << idx);
                if self.contrast == Some(idx) {
                    self.contrast = None;
                }
            }
            entry = phrase;
            self.acc.pt |= phrase.has(flag::PT);
            self.ring_len = 0;
        }
        let idx = self.len;
        if entry.valence != 0.0 || entry.has(flag::TOXIC) {
            self.scoring |= 1 << idx;
        }
        if entry.has(flag::CONTRAST) {
            self.contrast = Some(idx);
        }
        self.toks[idx] = Tok {
            entry,
            kind: Kind::Word,
            caps,
            stretched,
        };
        self.len += 1;
        if self.ring_len == RING {
            self.ring.copy_within(1.., 0);
            self.ring_len -= 1;
        }
        self.ring[self.ring_len] = (idx, key);
        self.ring_len += 1;
    }

    /// The longest phrase ending in `key` made with the words just before it, and how
    /// many of those words it takes.
    fn match_phrase(&self, key: &[u8]) -> Option<(Entry, usize)> {
        let ring = &self.ring[..self.ring_len];
        for n in (1..=ring.len()).rev() {
            let mut buf = [0u8; PHRASE_CAP];
            let mut len = 0;
            for &(_, k) in &ring[ring.len() - n..] {
                buf[len..len + k.len()].copy_from_slice(k);
                len += k.len();
                buf[len] = b' ';
                len += 1;
            }
            buf[len..len + key.len()].copy_from_slice(key);
            len += key.len();
            if let Some(e) = self.lex.phrase(&buf[..len]) {
                return Some((e, n));
            }
        }
        None
    }

    /// Pass 2: scores the tokens gathered so far into the running totals, then empties
    /// the array.
    fn flush(&mut self) {
        let toks = &self.toks[..self.len];
        let pt = self.acc.pt;
        let mut used_post = 0u64;
        // Ascending order matters: a postfix intensifier is marked used by the word
        // before it, before its own turn comes.
        let mut todo = self.scoring;
        while todo != 0 {
            let i = todo.trailing_zeros() as usize;
            todo &= todo - 1;
            let tok = &toks[i];
            let v = match tok.kind {
                Kind::Reaction => tok.entry.valence,
                Kind::Word => word_valence(toks, i, pt, &mut used_post, &mut self.acc.toxic),
                _ => 0.0,
            };
            if v == 0.0 {
                continue;
            }
            let weight = match self.contrast {
                Some(c) if i < c => BEFORE_CONTRAST,
                Some(c) if i > c => AFTER_CONTRAST,
                _ => 1.0,
            };
            self.acc.sum += v * weight;
            self.acc.matched = self.acc.matched.saturating_add(1);
        }
        self.len = 0;
        self.scoring = 0;
        self.contrast = None;
        self.ring_len = 0;
    }
}

/// The signed contribution of word `i`. It also sets `toxic` when the word is abuse, a
/// slur, or an insult aimed at someone.
fn word_valence(toks: &[Tok], i: usize, pt: bool, used_post: &mut u64, toxic: &mut bool) -> f32 {
    let tok = toks[i];
    let e = tok.entry;
    // A postfix intensifier that already boosted the word before it adds nothing itself.
    if e.has(flag::POSTBOOST) && *used_post & (1 << i) != 0 {
        return 0.0;
    }
    let mut v = if e.has(flag::PT_CTX) && !pt {
        0.0
    } else {
        e.valence
    };
    let always_toxic = e.has(flag::ABUSE | flag::SLUR);
    if v == 0.0 && !e.has(flag::TOXIC) {
        return 0.0;
    }

    let (mut negated, mut boost, mut target) = (false, 0.0f32, false);
    // Look behind: up to WINDOW tokens within the clause.
    let mut d = 0;
    let mut adjacent = true;
    for p in toks[..i].iter().rev() {
        match p.kind {
            Kind::Consumed => continue,
            Kind::Boundary => break,
            Kind::Mention => target = true,
            Kind::Reaction => {}
            Kind::Word => {
                let f = p.entry;
                if f.has(flag::CONTRAST) {
                    break;
                }
                negated |= f.has(flag::NEG) || (f.has(flag::NEG_EN) && !pt);
                if f.has(flag::BOOST) {
                    boost += B_INCR * DECAY[d];
                }
                if f.has(flag::DAMP) {
                    boost -= B_INCR * DECAY[d];
                }
                target |= f.has(flag::TARGET | flag::TARGET_NOUN)
                    || (adjacent && f.has(flag::TARGET_ADJ));
            }
        }
        // A possessive ("seu", "your") aims only at the word right after it, but
        // intensifiers and articles may sit between ("seu grande lixo" is rare; "ur so
        // trash", "your an idiot" are not).
        adjacent &= p.kind == Kind::Word && p.entry.has(flag::BOOST | flag::ARTICLE);
        d += 1;
        if d == WINDOW {
            break;
        }
    }
    // Look ahead: a postfix intensifier right after, or a target within two tokens
    // ("lixo de streamer").
    let mut d = 0;
    for (j, p) in toks.iter().enumerate().skip(i + 1) {
        match p.kind {
            Kind::Consumed => continue,
            Kind::Boundary => break,
            Kind::Mention => target = true,
            Kind::Reaction => {}
            Kind::Word => {
                if p.entry.has(flag::CONTRAST) {
                    break;
                }
                if d == 0 && p.entry.has(flag::POSTBOOST) {
                    boost += POST_INCR;
                    *used_post |= 1 << j;
                }
                target |= p.entry.has(flag::TARGET_NOUN);
            }
        }
        d += 1;
        if d == 2 {
            break;
        }
    }

    if v != 0.0 {
        let mut mag = v.abs() + boost;
        if tok.caps {
            mag += C_INCR;
        }
        if tok.stretched {
            mag += STRETCH_INCR;
        }
        v = v.signum() * mag.max(0.0);
    }
    if e.has(flag::INSULT) && target && !negated {
        *toxic = true;
        v = v.min(TARGETED_INSULT);
    }
    if always_toxic {
        // A slur stays a slur under "not"; its valence is not flipped to praise either.
        *toxic = true;
    } else if negated {
        v *= N_SCALAR;
    }
    v
}

/// Links are neither words nor sentiment. A prefix check is enough for chat, and it is
/// far cheaper than a substring search on every token.
fn is_link(raw: &str) -> bool {
    raw.starts_with("http://") || raw.starts_with("https://") || raw.starts_with("www.")
}

/// `raw` with a trailing run of one ASCII character cut to one ("LULLL" -> "LUL",
/// ":DDD" -> ":D", "<333" -> "<3"), if it had such a run.
fn trim_tail_run(raw: &str) -> Option<&str> {
    let b = raw.as_bytes();
    let last = *b.last()?;
    if !last.is_ascii() {
        return None;
    }
    let mut end = b.len();
    while end >= 2 && b[end - 2] == last {
        end -= 1;
    }
    // `last` is ASCII, so `end` is on a char boundary.
    (end < b.len()).then(|| &raw[..end])
}
