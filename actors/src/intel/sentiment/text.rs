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

/// One chat word after folding. Runs of three or more of a letter have already been cut
/// to two ("goooood" -> "good", "kkkkkk" -> "kk"). That keeps the word short and lets
/// one lexicon key cover every stretched spelling.
#[derive(Clone, Copy)]
pub(super) struct Word {
    buf: [u8; WORD_CAP],
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
    /// It had letters.
    pub(super) letters: bool,
    upper: u8,
    lower: u8,
}

impl Word {
    /// Folds `src`: lowercase, accents removed, apostrophes dropped ("don't" -> "dont"),
    /// stretched runs cut to two letters.
    pub(super) fn new(src: &str) -> Self {
        let mut w = Word {
            buf: [0; WORD_CAP],
            len: 0,
            overflow: false,
            stretched: false,
            accented: false,
            pt_accent: false,
            foreign: false,
            digits: false,
            letters: false,
            upper: 0,
            lower: 0,
        };
        for c in src.chars() {
            if c == '\'' || c == '\u{2019}' {
                continue;
            }
            // Combining marks: decomposed input ("nao" followed by U+0303) must not split
            // the word. U+0303 (tilde) and U+0327 (cedilla) are the Portuguese ones.
            if ('\u{300}'..='\u{36f}').contains(&c) {
                w.accented = true;
                w.pt_accent |= c == '\u{303}' || c == '\u{327}';
                continue;
            }
            let Some((b, accent)) = fold(c) else {
                w.foreign |= c.is_alphabetic();
                continue;
            };
            match accent {
                Accent::None => {}
                Accent::Generic => w.accented = true,
                Accent::Portuguese => {
                    w.accented = true;
                    w.pt_accent = true;
                }
            }
            if b.is_ascii_digit() {
                w.digits = true;
            } else {
                w.letters = true;
                if c.is_uppercase() {
                    w.upper = w.upper.saturating_add(1);
                } else {
                    w.lower = w.lower.saturating_add(1);
                }
            }
            let n = usize::from(w.len);
            if n >= 2 && w.buf[n - 1] == b && w.buf[n - 2] == b {
                w.stretched = true;
                continue;
            }
            if n == WORD_CAP {
                w.overflow = true;
                break;
            }
            w.buf[n] = b;
            w.len += 1;
        }
        w
    }

    /// The folded bytes (always ASCII).
    pub(super) fn bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// True when the word is shouted: at least three letters, all upper case. Shorter
    /// ones ("GG", "W") are written in capitals anyway, so capitals add nothing there.
    pub(super) fn is_caps(&self) -> bool {
        self.upper >= 3 && self.lower == 0
    }

    /// The leetspeak reading ("1d10t" -> "idiot", "l1x0" -> "lixo"), if any digit maps.
    pub(super) fn unleet(&self) -> Option<([u8; WORD_CAP], usize)> {
        if !(self.digits && self.letters) {
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
    None,
    Generic,
    Portuguese,
}

/// Folds one character to a lowercase ASCII letter or digit. Returns `None` for
/// characters we never look up. Only Latin-1 letters are covered: they are all that
/// English and Portuguese need, and a small table beats a Unicode normaliser on the
/// hot path.
fn fold(c: char) -> Option<(u8, Accent)> {
    if c.is_ascii_alphanumeric() {
        return Some((c.to_ascii_lowercase() as u8, Accent::None));
    }
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

/// True for characters that belong inside a word: letters and digits of any script,
/// apostrophes ("don't") and combining marks (decomposed accents).
pub(super) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '\'' || c == '\u{2019}' || ('\u{300}'..='\u{36f}').contains(&c)
}

/// True when some letter is doubled ("good", "lixoo"). Only such words can have a
/// spelling that differs from the lexicon's by doubled letters alone.
pub(super) fn has_double(w: &[u8]) -> bool {
    w.windows(2).any(|p| p[0] == p[1])
}

/// Writes `w` with every run of a letter cut to one ("niice" -> "nice").
pub(super) fn squeeze(w: &[u8], out: &mut [u8; WORD_CAP]) -> usize {
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
/// narrow so that real words ("hash", "sushi", "huh") do not pass: only `k` (at least
/// two), repeated "rs", or a mix of h/j, vowels and s/k with at least two h/j and at
/// least two vowels.
pub(super) fn laughter(w: &[u8]) -> Laugh {
    let n = w.len();
    if n >= 2 && w.iter().all(|&b| b == b'k') {
        return Laugh::Portuguese;
    }
    if n >= 4 && n.is_multiple_of(2) && w.chunks(2).all(|p| p == b"rs") {
        return Laugh::Portuguese;
    }
    if n < 4 {
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
