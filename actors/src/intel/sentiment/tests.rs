//! Behaviour tests for the sentiment engine: sign and strength in English, pt-BR and emote
//! vocabulary; negation, intensifiers and emphasis; toxicity hits and misses; odd input;
//! the shipped lexicon's validity. Speed is measured outside the test suite.

use std::sync::LazyLock;

use super::{LexiconError, Sentiment, SentimentEngine};

/// One engine for the whole suite, as in production.
static ENGINE: LazyLock<SentimentEngine> = LazyLock::new(SentimentEngine::new);

fn s(text: &str) -> Sentiment {
    ENGINE.analyze(text, &[])
}

fn score(text: &str) -> f32 {
    s(text).score
}

#[track_caller]
fn pos(text: &str) {
    let r = s(text);
    assert!(r.score > 0.05, "expected positive for {text:?}, got {r:?}");
}

#[track_caller]
fn neg(text: &str) {
    let r = s(text);
    assert!(r.score < -0.05, "expected negative for {text:?}, got {r:?}");
}

#[track_caller]
fn neutral(text: &str) {
    let r = s(text);
    assert!(r.score.abs() < 1e-6, "expected 0 for {text:?}, got {r:?}");
}

#[track_caller]
fn stronger(a: &str, b: &str) {
    let (x, y) = (score(a), score(b));
    assert!(
        x.abs() > y.abs() && x.signum() == y.signum(),
        "{a:?} ({x}) should beat {b:?} ({y})"
    );
}

#[track_caller]
fn toxic(text: &str) {
    assert!(s(text).toxic, "expected toxic: {text:?}");
}

#[track_caller]
fn clean(text: &str) {
    assert!(
        !s(text).toxic,
        "expected not toxic: {text:?} ({:?})",
        s(text)
    );
}

#[test]
fn shipped_lexicon_parses_every_line() {
    let engine = SentimentEngine::from_tsv(super::lexicon::SHIPPED)
        .unwrap_or_else(|e| panic!("shipped lexicon is invalid: {e}"));
    // Every non-comment line becomes exactly one entry (nothing silently merged).
    let rows = super::lexicon::SHIPPED
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .count();
    let emote_and_suffix = super::lexicon::SHIPPED
        .lines()
        .filter(|l| l.ends_with("emote,suffix") || l.ends_with("emote,sarcasm,suffix"))
        .count();
    // Rows tagged both emote and suffix live in two maps. Phrase parts add zero-valence
    // words, so the total is at least rows + those.
    assert!(
        engine.lexicon_entries() >= rows + emote_and_suffix,
        "{} < {rows}",
        engine.lexicon_entries()
    );
}

#[test]
fn malformed_lexicon_lines_are_rejected_with_line_numbers() {
    let bad = |src: &str, line: usize| {
        let e: LexiconError = SentimentEngine::from_tsv(src).expect_err(src);
        assert_eq!(e.line, line, "{src:?}: {e}");
    };
    bad("# c\ngood\t1.9", 2);
    bad("good\tx\ten", 1);
    bad("good\t9\ten", 1);
    bad("good\t1\tnope", 1);
    bad("good\t1\ten\ngood\t2\ten", 2);
    bad("GOOD\t1\ten\ngöód\t2\ten", 2);
    bad("goood\t1\ten", 1);
    bad("a b c d e\t1\t-", 1);
    bad("kappa\t0\temote", 1);
    bad("😂😂\t1\temoji", 1);
    bad("love\t1\tsuffix", 1);
    bad("hello!\t1\t-", 1);
    assert!(SentimentEngine::from_tsv("# only comments\n\n").is_ok());
}

#[test]
fn english_polarity() {
    for t in [
        "good stream",
        "this is awesome",
        "love this",
        "W chat",
        "gg",
        "based",
        "that was clutch",
    ] {
        pos(t);
    }
    for t in [
        "boring",
        "this is so bad",
        "worst stream ever",
        "L",
        "cringe",
        "trash game",
        "ratio",
    ] {
        neg(t);
    }
    neutral("the quick brown fox");
    neutral("what time is it");
}

#[test]
fn portuguese_polarity_and_accents() {
    for t in [
        "muito bom",
        "que jogada linda",
        "top demais",
        "brabo",
        "daora",
        "ótimo",
        "mitou",
        "show de bola",
        "adorei a live",
    ] {
        pos(t);
    }
    for t in [
        "que chato",
        "péssimo",
        "horrível",
        "lixo",
        "que tédio",
        "live fraca",
    ] {
        neg(t);
    }
    // Accents and case are folded: pt-BR chat drops accents all the time.
    assert_eq!(score("ótimo"), score("otimo"));
    assert_eq!(score("péssimo"), score("pessimo"));
    assert_eq!(score("HORRIVEL"), score("HORRÍVEL"));
    // Decomposed accents (NFD) read the same as composed ones.
    assert_eq!(score("o\u{301}timo"), score("ótimo"));
}

#[test]
fn emotes_have_considered_valence() {
    for t in [
        "LUL",
        "KEKW",
        "OMEGALUL",
        "PogChamp",
        "Pog",
        "PogU",
        "POGGERS",
        "FeelsGoodMan",
        "FeelsStrongMan",
        "widepeepoHappy",
        "catJAM",
        "EZ",
        "Kreygasm",
        "4Head",
        "SeemsGood",
        "<3",
        ":)",
        ":D",
    ] {
        pos(t);
    }
    for t in [
        "monkaS",
        "FeelsBadMan",
        "NotLikeThis",
        "ResidentSleeper",
        "BibleThump",
        "PepeHands",
        "Sadge",
        "WutFace",
        "DansGame",
        ":(",
        "D:",
    ] {
        neg(t);
    }
    // Kappa is sarcasm, not sentiment: neutral alone, and it halves what it rides on.
    neutral("Kappa");
    assert!(score("great stream Kappa") < score("great stream"));
    assert!(score("great stream Kappa") > 0.0);
    assert!(score("great stream /s") < score("great stream"));
    // Boredom is bad for the stream.
    assert!(score("ResidentSleeper") < -0.3);
}

#[test]
fn emotes_are_case_sensitive_tokens() {
    // "Kappa" the emote vs "kappa" the word (a Greek letter): only the emote counts.
    assert_eq!(s("kappa").emotes, 0);
    assert_eq!(s("Kappa").emotes, 1);
    // D: is shock; "d:" is nothing.
    neg("D:");
    neutral("d:");
    // monkaS vs the word "monkas" typed in lowercase: both read, but only one is an emote.
    assert_eq!(s("monkaS").emotes, 1);
    assert_eq!(s("monkas").emotes, 0);
    // Stretched emotes are still emotes.
    assert_eq!(score("LULLLL"), score("LUL"));
    assert_eq!(score(":DDDD"), score(":D"));
    assert_eq!(score("<333"), score("<3"));
}

#[test]
fn tagged_emotes_are_not_double_counted() {
    let plain = ENGINE.analyze("LUL that was great", &[]);
    let tagged = ENGINE.analyze("LUL that was great", &["LUL"]);
    assert_eq!(plain, tagged);
    // Names may repeat in the tag list, once per occurrence.
    let twice = ENGINE.analyze("LUL LUL", &["LUL", "LUL"]);
    assert_eq!(twice, ENGINE.analyze("LUL LUL", &[]));
    assert_eq!(twice.emotes, 2);
    // Callers that strip emotes from the text still get them scored, once.
    let stripped = ENGINE.analyze("that was great", &["LUL"]);
    assert_eq!(stripped.score, plain.score);
    assert_eq!(stripped.matched, plain.matched);
    // An unknown channel emote is an emote, never a word: its code is read when it names
    // a feeling, otherwise it is neutral.
    let love = ENGINE.analyze("pokiLove", &["pokiLove"]);
    assert!(love.score > 0.3 && love.emotes == 1, "{love:?}");
    let lul = ENGINE.analyze("xqcLUL", &["xqcLUL"]);
    assert_eq!(lul.score, score("LUL"));
    let odd = ENGINE.analyze("streamerTrash", &["streamerTrash"]);
    assert_eq!((odd.score, odd.emotes, odd.toxic), (0.0, 1, false));
    // Suffix reading needs the tag: untagged, "pokiLove" is just an unknown word.
    neutral("pokiLove");
    // "L" as a code means love (xqcL); as a word it is a loss.
    assert!(ENGINE.analyze("xqcL", &["xqcL"]).score > 0.0);
    neg("L");
}

#[test]
fn negation_flips_sign() {
    pos("good");
    neg("not good");
    neg("this is not good at all");
    neg("don't like... no, I don't love it");
    pos("not bad");
    pos("not bad at all");
    neg("não é bom");
    neg("nao gostei");
    neg("nem é bom");
    pos("nada mal");
    pos("não é ruim");
    neg("sem graça");
    // Negative concord in Portuguese: "não ... nada" is one negation, not two.
    neg("não foi nada bom");
    // Punctuation ends the reach of a negator.
    pos("não, é muito bom");
    // Emotes are reactions and are never negated.
    assert!(score("not good LUL") > score("not good"));
    // English "no" negates; Portuguese "no" is "in the" and must not.
    neg("no good");
    neg("isso vai no lixo");
    neg("joga isso no lixo");
    // Flipped words keep 74% of their strength (VADER): "not good" is milder than "bad".
    assert!(score("not good").abs() < score("good").abs());
}

#[test]
fn intensifiers_and_emphasis_raise_magnitude() {
    stronger("very good", "good");
    stronger("so good", "good");
    stronger("muito bom", "bom");
    stronger("mt bom", "bom");
    stronger("bom demais", "bom");
    stronger("bom pra caralho", "bom");
    stronger("good af", "good");
    stronger("very bad", "bad");
    stronger("muito chato", "chato");
    stronger("good", "kinda good");
    stronger("chato", "meio chato");
    // ALL CAPS, stretched letters, "!!!".
    stronger("GOOD", "good");
    stronger("goooood", "good");
    stronger("soooo goood", "good");
    stronger("lindoooo", "lindo");
    stronger("good!!!", "good");
    stronger("good!!!!", "good!");
    // More than four "!" adds nothing (VADER).
    assert_eq!(score("good!!!!"), score("good!!!!!!!!"));
    // "demais" alone means "awesome".
    pos("isso é demais");
    // "but"/"mas": what comes after weighs more.
    neg("good but boring");
    pos("chato mas engraçado");
}

#[test]
fn laughter_is_positive() {
    for t in [
        "kkkkkk",
        "KKKKKKKK",
        "kk",
        "hahaha",
        "HAHAHA",
        "hehe",
        "rsrs",
        "rsrsrs",
        "huehue",
        "ahsuahsuahsu",
        "lol",
        "lmao",
    ] {
        pos(t);
    }
    stronger("kkkkkkkkkk", "kk");
    // Words that only look like laughter.
    for t in ["hash", "sushi", "huh", "k", "shush"] {
        neutral(t);
    }
    // A laugh far longer than the word buffer is still a laugh.
    pos(&"ha".repeat(200));
}

#[test]
fn slang_and_phrases() {
    pos("lets gooooo");
    pos("LET'S GO");
    pos("well played");
    pos("vamoooo");
    pos("de boa");
    pos("ggwp");
    // "gg ez" is a taunt, in any case, but not a toxicity flag.
    neg("gg ez");
    neg("GG EZ");
    clean("gg ez");
    // EZ alone after a win is celebration.
    pos("EZ Clap");
    // "foda" is praise; "foda-se" is a dismissal.
    pos("muito foda");
    neg("foda-se");
    // "show" is praise only in Portuguese context.
    pos("que show");
    neutral("when is the show");
    // "só" (only) is not "so" (very).
    assert_eq!(score("só bom"), score("bom"));
}

#[test]
fn emoji_are_read_even_when_glued() {
    pos("😂");
    pos("❤️");
    pos("lindo😍");
    neg("😡😡");
    stronger("😂😂😂", "😂");
    assert_eq!(s("😂").emotes, 0);
}

#[test]
fn toxic_when_aimed_at_someone() {
    toxic("you are trash");
    toxic("ur trash");
    toxic("you're an idiot");
    toxic("u r so dumb");
    toxic("vc é lixo");
    toxic("você é um lixo");
    toxic("seu lixo");
    toxic("sua burra");
    toxic("lixo de streamer");
    toxic("streamer lixo");
    toxic("@someone idiot");
    toxic("idiota @fulano");
    toxic("vc é um macaco");
    // Aimed insults score at least as badly as an outright "bad".
    assert!(score("vc é um macaco") < -0.5);
}

#[test]
fn toxic_always() {
    for t in [
        "kys",
        "KYS",
        "stfu",
        "vsf",
        "VTNC",
        "fdp",
        "vai se foder",
        "vai tomar no cu",
        "kill yourself",
        "fuck you",
        "se mata",
        "retardado",
        "viado",
    ] {
        toxic(t);
    }
    // Obfuscation: stretched letters, doubled letters, leetspeak, accents dropped.
    toxic("kyssss");
    toxic("vai se fuderrrr");
    toxic("you 1d10t");
    toxic("you idiiiiot");
    toxic("vc é um l1x0");
    toxic("k1ll yourself");
    toxic("seu otario");
}

#[test]
fn not_toxic() {
    for t in [
        "this game is trash",
        "esse jogo é lixo",
        "I'm trash at this game",
        "sou um lixo nesse jogo",
        "you are not trash",
        "vc não é lixo",
        "classic",
        "assessment",
        "Scunthorpe",
        "cocktail",
        "spicy food",
        "Niger and Nigeria",
        "flame retardant",
        "therapist",
        "shitake mushrooms",
        "puta jogada",
        "que puta sorte",
        "macaco no zoológico",
        "piranha é um peixe",
        "foda-se",
        "gg ez",
        "your game is trash",
        "you played badly",
        "good game you guys",
        "ele é burro",
    ] {
        clean(t);
    }
    // Untargeted words that double as insults still read as negative.
    neg("this game is trash");
}

#[test]
fn odd_input_is_safe() {
    for t in [
        "",
        " ",
        "\n\t ",
        "!!!",
        "???",
        "@",
        "@@@@",
        "😂🔥💀",
        "👍🏽👍🏿",
        "❤\u{fe0f}\u{200d}🔥",
        "\u{0}\u{1}\u{7f}",
        "ЗдравствуйтеПривет",
        "日本語のテキスト",
        "مرحبا بالعالم",
        "Z̸̡̛͓a̷͚͝l̶̢̛g̴̣͌o̸̲̓",
        "https://example.com/very/good",
        "!uptime",
        "'''",
        "a'b'c'd",
        "\u{2019}",
        "…",
    ] {
        let r = s(t);
        assert!(
            (-1.0..=1.0).contains(&r.score) && r.score.is_finite(),
            "{t:?} -> {r:?}"
        );
    }
    assert_eq!(s(""), Sentiment::default());
    assert_eq!(s("https://example.com/good"), Sentiment::default());
    // Commands are for bots, not feelings.
    assert_eq!(s("!love"), Sentiment::default());
}

#[test]
fn very_long_input_is_bounded_and_chunked() {
    let long = "good ".repeat(70_000);
    let r = s(&long);
    assert!(r.score > 0.99 && r.score <= 1.0, "{r:?}");
    assert_eq!(r.matched, u16::MAX, "matched saturates");
    let bad = "lixo ".repeat(5_000) + "seu lixo";
    let r = s(&bad);
    assert!(r.score < -0.99 && r.toxic, "{r:?}");
    // One enormous word.
    let r = s(&"a".repeat(100_000));
    assert_eq!(r.score, 0.0);
    // Phrases across the 64-token chunk edge are lost, but nothing breaks.
    let mut edge = "x ".repeat(63);
    edge.push_str("vai se foder");
    assert!(s(&edge).score.is_finite());
}

#[test]
fn deterministic() {
    let t = "KEKW muito bom demais não é ruim kkkkk @fulano";
    assert_eq!(s(t), s(t));
    assert_eq!(SentimentEngine::new().analyze(t, &[]), s(t));
}

/// SplitMix64: a tiny deterministic PRNG, so the property test needs no extra crate and
/// the same seed always explores the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn score_is_always_in_range() {
    // Pieces that hit every rule: sentiment words, modifiers, emotes, phrases, emoji,
    // punctuation, targets, laughter, abuse, junk and non-Latin script.
    const POOL: &[&str] = &[
        "good",
        "bad",
        "not",
        "no",
        "very",
        "muito",
        "demais",
        "bom",
        "ruim",
        "lixo",
        "vc",
        "you",
        "trash",
        "but",
        "mas",
        "KEKW",
        "LUL",
        "Kappa",
        "ResidentSleeper",
        "<3",
        ":)",
        "D:",
        "!",
        "!!!",
        "?",
        ",",
        ".",
        "kkkkk",
        "hahaha",
        "GOOD",
        "goooood",
        "vai",
        "se",
        "foder",
        "gg",
        "ez",
        "EZ",
        "@x",
        "seu",
        "streamer",
        "😂",
        "😡",
        "❤️",
        "pra",
        "caralho",
        "nem",
        "nada",
        "mal",
        "kys",
        "idiot",
        "1d10t",
        "é",
        "não",
        "af",
        "so",
        "kinda",
        "meio",
        "/s",
        "zz",
        "Привет",
        "日本",
        "\u{301}",
        "'",
        "-",
        "lets",
        "go",
        "xqcL",
        "pokiLove",
    ];
    let mut rng = Rng(0x5EED);
    for _ in 0..20_000 {
        let n = rng.below(40);
        let mut text = String::new();
        let mut tagged = Vec::new();
        for _ in 0..n {
            let piece = POOL[rng.below(POOL.len())];
            match rng.below(10) {
                0 => {} // glue to the previous piece
                1 => text.push('\u{a0}'),
                _ => text.push(' '),
            }
            text.push_str(piece);
            if rng.below(8) == 0 {
                tagged.push(piece);
            }
            if rng.below(12) == 0 {
                // A random code point, valid or unusual.
                if let Some(c) = char::from_u32(rng.below(0x1F_FFFF) as u32) {
                    text.push(c);
                }
            }
        }
        let r = ENGINE.analyze(&text, &tagged);
        assert!(
            r.score.is_finite() && (-1.0..=1.0).contains(&r.score),
            "{text:?} {tagged:?} -> {r:?}"
        );
        if r.matched == 0 {
            assert_eq!(r.score, 0.0, "{text:?}");
        }
    }
}

#[test]
fn ascii_fast_path_folds_like_the_general_path() {
    use super::text::Word;
    let cases = [
        "good",
        "GOOD",
        "Good",
        "goooood",
        "don't",
        "KKKKKKKK",
        "1d10t",
        "l1x0",
        "a",
        "'",
        "''x''",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        "zzz",
        "aaabbbccc",
    ];
    let mut rng = Rng(7);
    let alphabet = b"aAbBkKzZ019'";
    let mut generated = Vec::new();
    for _ in 0..2_000 {
        let n = rng.below(50);
        generated.push(
            (0..n)
                .map(|_| char::from(alphabet[rng.below(alphabet.len())]))
                .collect::<String>(),
        );
    }
    for src in cases.iter().map(|s| s.to_string()).chain(generated) {
        let slow = Word::new(&src);
        let (fast, used) = Word::scan_ascii(src.as_bytes());
        assert_eq!(used, src.len(), "{src:?}");
        assert_eq!(fast.bytes(), slow.bytes(), "{src:?}");
        assert_eq!(fast.key(), slow.key(), "{src:?}: padding must match too");
        assert_eq!(
            (
                fast.is_caps(),
                fast.stretched,
                fast.overflow,
                fast.digits,
                fast.laughter()
            ),
            (
                slow.is_caps(),
                slow.stretched,
                slow.overflow,
                slow.digits,
                slow.laughter()
            ),
            "{src:?}"
        );
    }
    // The fast scan stops at the first byte that ends a word.
    assert_eq!(Word::scan_ascii(b"good!!").1, 4);
}

#[test]
fn packed_lexicon_keys_round_trip() {
    // Short (packed) and long keys, emotes with symbols, and a 15/16-byte boundary.
    let src = "abcdefghijklmno\t1\t-\nabcdefghijklmnop\t-1\t-\nx\t2\t-\n:)\t1\temote\n";
    let engine = SentimentEngine::from_tsv(src).expect("valid");
    assert!(engine.analyze("abcdefghijklmno", &[]).score > 0.0);
    assert!(engine.analyze("abcdefghijklmnop", &[]).score < 0.0);
    assert_eq!(engine.analyze("abcdefghijklmn", &[]).matched, 0);
    assert!(engine.analyze("x", &[]).score > 0.0);
    assert!(engine.analyze(":)", &[]).score > 0.0);
    // Enough entries to make the table grow several times. Keys avoid runs of three
    // (which the loader rejects as unreachable).
    let key = |i: usize| format!("q{}z{}", i / 100, i % 100);
    let many: String = (0..5_000).map(|i| format!("{}\t1\t-\n", key(i))).collect();
    let engine = SentimentEngine::from_tsv(&many).expect("valid");
    for i in (0..5_000).step_by(97) {
        assert_eq!(engine.analyze(&key(i), &[]).matched, 1, "{}", key(i));
    }
    assert_eq!(engine.analyze(&key(5_000), &[]).matched, 0);
}
