//! Word normalisation for the sentiment engine. It folds a word to lowercase ASCII without
//! accents in a fixed stack buffer, shortens stretched letters, spots laughter and undoes
//! simple leetspeak. Everything works on borrowed slices and fixed buffers, so the
//! per-message path never allocates.
//!
//! The lexicon loader runs the same [`Word::new`] over its keys. A key in the data file
//! and a word in chat therefore always meet in the same form: "Não", "nao", "NÃO" and
//! "naõ" all become `nao`.

/// The longest normalised word we look up. Longer words are never lexicon entries, so
/// a fixed buffer is enough. Laughter is the only long "word" we care about, and its
/// prefix is enough to spot it.
pub(super) const WORD_CAP: usize = 32;

/// A folded key in a zero-padded buffer. The padding lets a lookup pack a short key into
/// an integer with two loads (see the lexicon's `ByteMap`).
pub(super) type KeyBuf = [u8; WORD_CAP];

/// Letters that written laughter is made of (k, rs, h/j + vowels + s). A word using any
/// other letter cannot be laughter, so most words skip the laughter check.
const LAUGH_LETTERS: u32 = letter_mask(b"aehijkrsu");

const fn letter_mask(letters: &[u8]) -> u32 {
    let mut m = 0;
    let mut i = 0;
    while i < letters.len() {
        m |= 1 << (letters[i] - b'a');
        i += 1;
    }
    m
}

/// One chat word after folding. Runs of three or more of a letter have already been cut
/// to two ("goooood" -> "good", "kkkkkk" -> "kk"). That keeps the word short and lets
/// one lexicon key cover every stretched spelling.
#[derive(Clone, Copy)]
pub(super) struct Word {
    /// Folded bytes; everything past `len` is zero.
    buf: KeyBuf,
    len: u8,
    /// The word had more than [`WORD_CAP`] folded bytes. Only the prefix is kept.
    pub(super) overflow: bool,
    /// A letter ran three or more times (emphasis).
    pub(super) stretched: bool,
    /// Some letter carried a diacritic.
    pub(super) accented: bool,
    /// A diacritic that marks Portuguese rather than English or Spanish (ã, õ, ç).
    pub(super) pt_accent: bool,
    /// It had letters outside Latin-1 (Cyrillic, CJK, ...). Such a word is never looked up.
    pub(super) foreign: bool,
    /// It had ASCII digits (so leetspeak is possible).
    pub(super) digits: bool,
    upper: u8,
    lower: u8,
    /// Bit i: folded letter `b'a' + i` occurs.
    letters: u32,
}

impl Word {
    /// An empty word, ready for [`Word::push`].
    pub(super) const EMPTY: Word = Word {
        buf: [0; WORD_CAP],
        len: 0,
        overflow: false,
        stretched: false,
        accented: false,
        pt_accent: false,
        foreign: false,
        digits: false,
        upper: 0,
        lower: 0,
        letters: 0,
    };

    /// Folds `src`: lowercase, accents removed, apostrophes dropped ("don't" -> "dont"),
    /// stretched runs cut to two letters.
    pub(super) fn new(src: &str) -> Self {
        let mut w = Word::EMPTY;
        for c in src.chars() {
            w.push(c);
        }
        w
    }

    /// Folds the ASCII word at the start of `src` and returns it with the number of bytes
    /// it spans. The word ends at the first byte that is not a letter, digit or
    /// apostrophe. This is the fast path: most chat is ASCII, and working on locals
    /// rather than through `&mut self` keeps the loop in registers. It folds exactly as
    /// [`Word::new`] does.
    #[inline]
    pub(super) fn scan_ascii(src: &[u8]) -> (Self, usize) {
        let mut buf = [0u8; WORD_CAP];
        let (mut len, mut upper, mut lower, mut letters) = (0usize, 0u8, 0u8, 0u32);
        let (mut digits, mut stretched, mut overflow) = (false, false, false);
        let mut used = 0;
        for &b in src {
            let c = match b {
                b'a'..=b'z' => {
                    lower = lower.saturating_add(1);
                    b
                }
                b'A'..=b'Z' => {
                    upper = upper.saturating_add(1);
                    b | 0x20
                }
                b'0'..=b'9' => {
                    digits = true;
                    b
                }
                b'\'' => {
                    used += 1;
                    continue;
                }
                _ => break,
            };
            used += 1;
            if c.is_ascii_lowercase() {
                letters |= 1 << (c - b'a');
            }
            if len >= 2 && buf[len - 1] == c && buf[len - 2] == c {
                stretched = true;
            } else if len == WORD_CAP {
                overflow = true;
            } else {
                buf[len] = c;
                len += 1;
            }
        }
        let w = Word {
            buf,
            len: len as u8,
            overflow,
            stretched,
            accented: false,
            pt_accent: false,
            foreign: false,
            digits,
            upper,
            lower,
            letters,
        };
        (w, used)
    }

    /// Appends one character of any script. Characters that do not belong in a word
    /// (see [`is_word_char`]) are ignored, apostrophes included.
    pub(super) fn push(&mut self, c: char) {
        if c.is_ascii() {
            let b = c as u8;
            if b.is_ascii_digit() {
                self.digits = true;
            } else if b.is_ascii_uppercase() {
                self.upper = self.upper.saturating_add(1);
            } else if b.is_ascii_lowercase() {
                self.lower = self.lower.saturating_add(1);
            } else {
                return;
            }
            self.put(b.to_ascii_lowercase());
            return;
        }
        // Combining marks: decomposed input ("nao" followed by U+0303) must not split
        // the word. U+0303 (tilde) and U+0327 (cedilla) are the Portuguese ones.
        if is_combining(c) {
            self.accented = true;
            self.pt_accent |= c == '\u{303}' || c == '\u{327}';
            return;
        }
        let Some((b, accent)) = fold_latin1(c) else {
            self.foreign |= c.is_alphabetic();
            return;
        };
        self.accented = true;
        self.pt_accent |= accent == Accent::Portuguese;
        if c.is_uppercase() {
            self.upper = self.upper.saturating_add(1);
        } else {
            self.lower = self.lower.saturating_add(1);
        }
        self.put(b);
    }

    /// Stores one folded byte, cutting runs of three or more to two.
    fn put(&mut self, b: u8) {
        if b.is_ascii_lowercase() {
            self.letters |= 1 << (b - b'a');
        }
        let n = usize::from(self.len);
        if n >= 2 && self.buf[n - 1] == b && self.buf[n - 2] == b {
            self.stretched = true;
            return;
        }
        if n == WORD_CAP {
            self.overflow = true;
            return;
        }
        self.buf[n] = b;
        self.len += 1;
    }

    /// The folded bytes (always ASCII).
    pub(super) fn bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// The folded bytes in their zero-padded buffer, with their length.
    pub(super) fn key(&self) -> (&KeyBuf, usize) {
        (&self.buf, usize::from(self.len))
    }

    /// True when the word is shouted: at least three letters, all upper case. Shorter
    /// ones ("GG", "W") are written in capitals anyway, so capitals add nothing there.
    pub(super) fn is_caps(&self) -> bool {
        self.upper >= 3 && self.lower == 0
    }

    /// True when the word might be a doubled-letter spelling of a lexicon word: it was
    /// stretched, or its last letter is doubled ("lixoo", "topp", "poggerss"). Plain
    /// words with doubles ("essa", "really") skip the extra lookups.
    pub(super) fn maybe_doubled(&self) -> bool {
        let b = self.bytes();
        self.stretched || (b.len() >= 3 && b[b.len() - 1] == b[b.len() - 2])
    }

    /// Which laugh this word is, if any (see [`laughter`]).
    pub(super) fn laughter(&self) -> Laugh {
        if self.digits || self.foreign || self.letters & !LAUGH_LETTERS != 0 {
            return Laugh::No;
        }
        laughter(self.bytes())
    }

    /// The leetspeak reading ("1d10t" -> "idiot", "l1x0" -> "lixo"), if the word mixes
    /// letters and digits. The result is zero-padded like [`Word::key`].
    pub(super) fn unleet(&self) -> Option<(KeyBuf, usize)> {
        if !(self.digits && self.letters != 0) {
            return None;
        }
        let mut out = [0u8; WORD_CAP];
        let src = self.bytes();
        for (o, &b) in out.iter_mut().zip(src) {
            *o = match b {
                b'0' => b'o',
                b'1' => b'i',
                b'3' => b'e',
                b'4' => b'a',
                b'5' => b's',
                b'7' => b't',
                other => other,
            };
        }
        Some((out, src.len()))
    }
}

/// Which kind of diacritic a folded character carried.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Accent {
    Generic,
    Portuguese,
}

/// Folds one non-ASCII Latin-1 letter to its lowercase ASCII base letter. Returns
/// `None` for anything else. Only Latin-1 letters are covered: they are all that English
/// and Portuguese need, and a small table beats a Unicode normaliser on the hot path.
fn fold_latin1(c: char) -> Option<(u8, Accent)> {
    let (b, accent) = match c {
        'ã' | 'Ã' => (b'a', Accent::Portuguese),
        'õ' | 'Õ' => (b'o', Accent::Portuguese),
        'ç' | 'Ç' => (b'c', Accent::Portuguese),
        'à' | 'á' | 'â' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ä' | 'Å' => {
            (b'a', Accent::Generic)
        }
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => (b'e', Accent::Generic),
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => (b'i', Accent::Generic),
        'ò' | 'ó' | 'ô' | 'ö' | 'Ò' | 'Ó' | 'Ô' | 'Ö' => (b'o', Accent::Generic),
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => (b'u', Accent::Generic),
        'ñ' | 'Ñ' => (b'n', Accent::Generic),
        'ý' | 'ÿ' | 'Ý' => (b'y', Accent::Generic),
        _ => return None,
    };
    Some((b, accent))
}

/// Combining diacritical marks (U+0300..U+036F), as in decomposed (NFD) text.
fn is_combining(c: char) -> bool {
    ('\u{300}'..='\u{36f}').contains(&c)
}

/// True for characters that belong inside a word: letters and digits of any script,
/// apostrophes ("don't") and combining marks (decomposed accents).
pub(super) fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '\'';
    }
    // Latin-1 letters first: they are the common non-ASCII case and skip the Unicode
    // table lookup.
    fold_latin1(c).is_some() || c == '\u{2019}' || is_combining(c) || c.is_alphanumeric()
}

/// True when some letter is doubled ("good", "lixoo"). Only such words can have a
/// spelling that differs from the lexicon's by doubled letters alone.
pub(super) fn has_double(w: &[u8]) -> bool {
    w.windows(2).any(|p| p[0] == p[1])
}

/// Writes `w` with every run of a letter cut to one ("niice" -> "nice"). The rest of
/// `out` is left as it was (zero, for a fresh buffer).
pub(super) fn squeeze(w: &[u8], out: &mut KeyBuf) -> usize {
    let mut n = 0;
    for &b in w.iter().take(WORD_CAP) {
        if n > 0 && out[n - 1] == b {
            continue;
        }
        out[n] = b;
        n += 1;
    }
    n
}

/// Which written laugh a word is, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Laugh {
    /// Not laughter.
    No,
    /// Portuguese laughter ("kkkk", "rsrs"). It is also a pt-BR marker.
    Portuguese,
    /// Other laughter ("haha", "hehe", "huehue", "ahsuahsu", "jaja").
    Other,
}

/// Spots laughter in a folded word, which has runs already cut to two. The rules are
/// narrow so that real words ("hash", "sushi", "huh", "sheesh") do not pass: only `k`
/// (at least two), repeated "rs", or a word starting with h, j, a or e, made only of
/// h/j, vowels and s/k, with at least two h/j and at least two vowels.
pub(super) fn laughter(w: &[u8]) -> Laugh {
    let n = w.len();
    if n >= 2 && w.iter().all(|&b| b == b'k') {
        return Laugh::Portuguese;
    }
    if n >= 4 && n.is_multiple_of(2) && w.chunks(2).all(|p| p == b"rs") {
        return Laugh::Portuguese;
    }
    // The third kind starts like a laugh: "ha", "he", "ja", "ah", "as(uh)".
    if n < 4 || !matches!(w[0], b'h' | b'j' | b'a' | b'e') {
        return Laugh::No;
    }
    let (mut h, mut vowels) = (0, 0);
    for &b in w {
        match b {
            b'h' | b'j' => h += 1,
            b'a' | b'e' | b'i' | b'u' => vowels += 1,
            b's' | b'k' => {}
            _ => return Laugh::No,
        }
    }
    if h >= 2 && vowels >= 2 {
        Laugh::Other
    } else {
        Laugh::No
    }
}
