//! Chat text material: global Twitch emotes with their real ids, English and pt-BR phrase pools,
//! and [`TextBuilder`], which assembles a message while tracking emote positions.
//!
//! Twitch reports emote positions in the `emotes` tag as inclusive *character* (code point)
//! ranges, not byte ranges, which matters for pt-BR text with accents; the builder counts chars.

/// A Twitch emote: its code as typed in chat and the id Twitch reports in the `emotes` tag.
/// Subscriber emotes (`emotesv2_` ids) are only used by subscribers and the broadcaster.
#[derive(Debug, Clone)]
pub(crate) struct EmoteDef {
    pub(crate) code: String,
    pub(crate) id: String,
}

/// Global emotes with their real Twitch ids.
pub(crate) const GLOBAL_EMOTES: &[(&str, &str)] = &[
    ("Kappa", "25"),
    ("Keepo", "1902"),
    ("LUL", "425618"),
    ("PogChamp", "305954156"),
    ("4Head", "354"),
    ("BibleThump", "86"),
    ("Kreygasm", "41"),
    ("ResidentSleeper", "245"),
    ("SeemsGood", "64138"),
    ("NotLikeThis", "58765"),
    ("HeyGuys", "30259"),
    ("VoHiYo", "81274"),
    ("DansGame", "33"),
    ("BabyRage", "22639"),
    ("WutFace", "28087"),
    ("CoolStoryBob", "123171"),
    ("Jebaited", "114836"),
    ("FailFish", "360"),
    ("SMOrc", "52"),
    ("TwitchUnity", "196892"),
    (":)", "1"),
    (":D", "3"),
    ("<3", "9"),
];

/// Names of BTTV/FFZ/7TV emotes. Chatters type them constantly, but Twitch itself does not know
/// them, so real lines carry them as plain words with no `emotes` tag entry, and so do ours.
pub(crate) const THIRD_PARTY_EMOTES: &[&str] = &[
    "KEKW",
    "OMEGALUL",
    "monkaS",
    "Pog",
    "PepeLaugh",
    "Sadge",
    "catJAM",
    "EZ",
];

/// Suffixes of the per-channel subscriber emotes (`<prefix><suffix>`).
pub(crate) const SUB_EMOTE_SUFFIXES: &[&str] = &["Hype", "Love", "GG", "Wave", "Rage", "Cozy"];

pub(crate) const EN_PHRASES: &[&str] = &[
    "hello chat",
    "gg",
    "that was insane",
    "nice play",
    "what a clutch",
    "lets gooo",
    "no way",
    "W stream",
    "this song slaps",
    "first time here, love the vibe",
    "chat is wild today",
    "unlucky",
    "he's cooking",
    "clip it",
    "that's actually crazy",
    "good morning from Germany",
    "big brain move",
    "rip",
    "5 more minutes then sleep",
    "\\o/ we did it",
    "gg; next game",
    "I was here",
    "lmao",
    "true",
    "that boss is brutal",
    "can't believe that worked",
    "hydrate chat",
    "bro really said that",
    "the comeback is real",
    "mods asleep, post frogs",
];

pub(crate) const PT_PHRASES: &[&str] = &[
    "boa noite chat",
    "que jogada incrível",
    "salve salve",
    "mano que isso",
    "tá muito bom o stream hoje",
    "chegueiii",
    "que delícia de gameplay",
    "caraca",
    "não acredito nisso",
    "partiu mais uma",
    "é hoje que sai a vitória",
    "tô de olho",
    "boa tarde família",
    "que situação",
    "ai sim hein",
    "mó brisa",
    "falou tudo",
    "eita",
    "muito bom, parabéns",
    "ganhou o dia",
    "tmj",
    "saudades da live",
    "o chat tá pegando fogo",
    "coração na mão",
    "atenção: próxima rodada é decisiva",
];

pub(crate) const EN_QUESTIONS: &[&str] = &[
    "what rank is this?",
    "how long have you been streaming?",
    "what game is next?",
    "is this a new build?",
    "what are your settings?",
    "when is the next stream?",
    "what keyboard is that?",
    "can you explain that last play?",
    "how do you get that item?",
    "is the giveaway still on?",
];

pub(crate) const PT_QUESTIONS: &[&str] = &[
    "qual é a build?",
    "que horas acaba a live?",
    "qual o rank atual?",
    "qual a config do pc?",
    "vai jogar o que depois?",
    "como faz pra pegar esse item?",
    "tem sorteio hoje?",
    "você joga com controle ou teclado?",
    "onde compra essa cadeira?",
    "amanhã tem live?",
];

pub(crate) const LAUGHS: &[&str] = &[
    "kkkkkkk",
    "hahaha",
    "rsrsrs",
    "lmao",
    "kkkkk",
    "LMAO",
    "ksksks",
    "hahahahaha",
];

pub(crate) const CHEERMOTES: &[&str] = &["Cheer", "cheer", "Party", "ShowLove", "uni", "Pride"];

/// One emote occurrence: index into the channel's emote table and inclusive char range.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EmoteSpan {
    pub(crate) emote: u16,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Builds a message text word by word, recording where emotes land.
#[derive(Debug, Default)]
pub(crate) struct TextBuilder {
    pub(crate) text: String,
    chars: usize,
    pub(crate) spans: Vec<EmoteSpan>,
}

impl TextBuilder {
    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.chars = 0;
        self.spans.clear();
    }

    fn separate(&mut self) {
        if !self.text.is_empty() {
            self.text.push(' ');
            self.chars += 1;
        }
    }

    /// Appends a plain word or phrase, space separated.
    pub(crate) fn word(&mut self, word: &str) {
        self.separate();
        self.text.push_str(word);
        self.chars += word.chars().count();
    }

    /// Appends to the last word without a separating space (`@` + name, `Cheer` + amount).
    pub(crate) fn glue(&mut self, part: &str) {
        self.text.push_str(part);
        self.chars += part.chars().count();
    }

    /// Appends an emote code as its own word and records its span.
    pub(crate) fn emote(&mut self, index: u16, code: &str) {
        self.separate();
        let len = code.chars().count();
        self.spans.push(EmoteSpan {
            emote: index,
            start: self.chars,
            end: self.chars + len - 1,
        });
        self.text.push_str(code);
        self.chars += len;
    }
}

/// Writes the `emotes` tag value (`id:s-e,s-e/id:s-e`), grouping ranges by emote in order of
/// first appearance as Twitch does.
pub(crate) fn write_emotes_tag(out: &mut bytes::BytesMut, spans: &[EmoteSpan], table: &[EmoteDef]) {
    use std::fmt::Write as _;
    let mut first_group = true;
    for (i, span) in spans.iter().enumerate() {
        if spans[..i].iter().any(|s| s.emote == span.emote) {
            continue;
        }
        if !first_group {
            out.extend_from_slice(b"/");
        }
        first_group = false;
        out.extend_from_slice(table[span.emote as usize].id.as_bytes());
        out.extend_from_slice(b":");
        let mut first_range = true;
        for s in spans[i..].iter().filter(|s| s.emote == span.emote) {
            if !first_range {
                out.extend_from_slice(b",");
            }
            first_range = false;
            let _ = write!(out, "{}-{}", s.start, s.end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_count_chars_not_bytes() {
        let table = vec![
            EmoteDef {
                code: "Kappa".into(),
                id: "25".into(),
            },
            EmoteDef {
                code: "LUL".into(),
                id: "425618".into(),
            },
        ];
        let mut tb = TextBuilder::default();
        tb.word("não é");
        tb.emote(0, "Kappa");
        tb.emote(1, "LUL");
        tb.emote(0, "Kappa");
        assert_eq!(tb.text, "não é Kappa LUL Kappa");
        let mut out = bytes::BytesMut::new();
        write_emotes_tag(&mut out, &tb.spans, &table);
        assert_eq!(&out[..], b"25:6-10,16-20/425618:12-14");
    }
}
