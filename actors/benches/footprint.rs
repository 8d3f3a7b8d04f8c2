//! Footprint: the live heap one channel's [`ChannelIntel`] holds after 20 simulated minutes
//! of chat, in total and per engine, at 0 (idle), 0.1, 1 and 5 messages/s per channel.
//!
//! Run: `cargo bench -p byte-actors --bench footprint` (optional arguments: channels per
//! rate, default 200; simulated minutes, default 20).
//!
//! What it measures: a counting global allocator (`stats_alloc` around the system allocator)
//! tracks the bytes *requested* by live allocations and the number of live blocks. The
//! figure per channel is the growth of live bytes while N states are built and fed, divided
//! by N; the states sit in one `Vec`, so their inline size (`size_of::<ChannelIntel>()`) is
//! part of it. Per engine: each state is then dropped part by part
//! ([`ChannelIntel::drop_part_by_part`]) and the bytes each drop frees are that part's. Not
//! in it: allocator slack and per-block headers (production uses mimalloc, whose size classes
//! round small blocks up; the live-block count is printed so that overhead can be estimated),
//! the actor, its task and mailbox, `StreamContext`, and anything else outside the state. It
//! is not RSS.
//!
//! The stream: each channel has its own pool of chatters (`300 × rate`, 30 to 2,000) drawn
//! with a Zipf skew (exponent 1), so a few regulars say most of it; messages arrive with
//! exponential gaps at the rate; the text mixes English and Portuguese phrases, Twitch
//! emotes (with `emotes` tag ranges) and third-party emote words, questions (~12 %),
//! mentions of the streamer (~3 %), moderators answering (~2 %) and a few long
//! copypastas; a sub every 5 minutes and cheers every 10. The clock is manual: a tick every
//! second, as the channel actor runs it, messages stamped in between.
//! Baselines in the same run: a fresh `ChannelIntel::new` (never ticked) and a `Vec` of one
//! `u64` per channel (which must read 8 bytes: the counter's own check).
//! Also printed per rate: the mean wall time of one tick plus the vitals and summary the
//! actor publishes after it (indicative only: wall time on a shared machine).

use std::alloc::System;

use byte_actors::channel::ChannelIntel;
use byte_actors::intel::sentiment::SentimentEngine;
use byte_actors::model::{ChannelLogin, ChatRecord, EventKind, EventRecord};
use chrono::{DateTime, Duration, TimeZone, Utc};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// (live bytes requested, live blocks) right now.
fn live() -> (i64, i64) {
    let s = GLOBAL.stats();
    (
        s.bytes_allocated as i64 - s.bytes_deallocated as i64,
        s.allocations as i64 - s.deallocations as i64,
    )
}

/// A small deterministic generator (xorshift64*): the same stream every run, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

const HEADS: &[&str] = &[
    "dark", "pixel", "gamer", "lucas", "ana", "joao", "mari", "fox", "neo", "bia", "rafa", "zeca",
    "lil", "big", "kiwi", "sun", "moon", "bruno", "carla", "felipe", "night", "ghost", "turbo",
    "coffee", "taco", "panda", "ninja", "shadow", "storm", "frost", "julia", "alex", "emily",
];
const TAILS: &[&str] = &[
    "wolf", "king", "queen", "master", "player", "br", "tv", "gamer", "lord", "cat", "rider",
    "hunter", "zinho", "plays", "live", "fps", "_",
];
const PHRASES: &[&str] = &[
    "hello chat",
    "gg",
    "that was insane",
    "nice play",
    "lets goooo",
    "this song is a banger",
    "im back",
    "lmao",
    "no way",
    "chat is so fast today",
    "first time catching the stream live",
    "the boss fight was clean",
    "kkkkkkk",
    "boa noite galera",
    "que jogada mano",
    "to chegando agora",
    "essa musica e muito boa",
    "ele nao viu",
    "cade o chat",
    "vai dar certo",
    "that aim though",
    "love this community",
    "brb food",
    "streamer is cracked",
    "this is boring",
    "ugh that was terrible",
];
const QUESTIONS: &[&str] = &[
    "what game is this?",
    "how long have you been streaming today?",
    "when is the next stream?",
    "qual o nome do jogo?",
    "what rank are you",
    "is this the new update?",
    "what keyboard do you use?",
    "como faz pra entrar no discord?",
];
/// Global Twitch emotes and their ids (for the `emotes` tag).
const EMOTES: &[(&str, &str)] = &[
    ("Kappa", "25"),
    ("LUL", "425618"),
    ("PogChamp", "305954156"),
    ("Kreygasm", "41"),
    ("BibleThump", "86"),
    ("ResidentSleeper", "245"),
    ("NotLikeThis", "58765"),
    ("HeyGuys", "30259"),
];
const THIRD_PARTY: &[&str] = &["KEKW", "OMEGALUL", "monkaS", "Pog", "Sadge", "catJAM", "EZ"];
const COPYPASTA: &str = "I am not a robot, I am a real person watching this stream every single \
day since 2019 and I just want to say that this is the best content on the whole platform, \
nobody plays like this, nobody talks to chat like this, absolute legend of a streamer KEKW";

/// One channel's stream: its chatter pool with a Zipf CDF, and the message clock.
struct Stream {
    channel: ChannelLogin,
    pool: Vec<String>,
    /// Cumulative Zipf weights over `pool`, normalised to end at 1.
    cdf: Vec<f64>,
    rng: Rng,
    rate: f64,
    next_at_ms: i64,
    seq: u64,
    asked: Vec<String>,
}

impl Stream {
    fn new(index: usize, rate: f64) -> Self {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(7919));
        let size = ((300.0 * rate) as usize).clamp(30, 2_000);
        let pool: Vec<String> = (0..size)
            .map(|i| {
                let (h, t) = (rng.pick(HEADS), rng.pick(TAILS));
                match rng.below(3) {
                    0 => format!("{h}{t}{i}"),
                    1 => format!("{h}_{t}{}", i * 7 % 1000),
                    _ => format!("x{h}{t}x{i}"),
                }
            })
            .collect();
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=size)
            .map(|k| {
                acc += 1.0 / k as f64;
                acc
            })
            .collect();
        cdf.iter_mut().for_each(|c| *c /= acc);
        let mut s = Self {
            channel: ChannelLogin::parse(&format!("channel_{index}")).expect("valid login"),
            pool,
            cdf,
            rng,
            rate,
            next_at_ms: 0,
            seq: 0,
            asked: Vec::new(),
        };
        s.next_at_ms = s.gap_ms();
        s
    }

    fn gap_ms(&mut self) -> i64 {
        // Exponential inter-arrival times: a Poisson stream at `rate`.
        let u = self.rng.unit().max(1e-12);
        (-u.ln() / self.rate * 1000.0).ceil() as i64
    }

    fn chatter(&mut self) -> String {
        let u = self.rng.unit();
        let i = self
            .cdf
            .partition_point(|c| *c < u)
            .min(self.pool.len() - 1);
        self.pool[i].clone()
    }

    /// The messages due at or before `until_ms` (simulated milliseconds since the start).
    fn messages_until(&mut self, until_ms: i64, start: DateTime<Utc>) -> Vec<(ChatRecord, i64)> {
        let mut out = Vec::new();
        if self.rate <= 0.0 {
            return out;
        }
        while self.next_at_ms <= until_ms {
            let at_ms = self.next_at_ms;
            out.push((self.message(start + Duration::milliseconds(at_ms)), at_ms));
            self.next_at_ms += self.gap_ms();
        }
        out
    }

    fn message(&mut self, at: DateTime<Utc>) -> ChatRecord {
        let mut user = self.chatter();
        let mut moderator = false;
        let roll = self.rng.below(100);
        let mut emote_ranges: Vec<(String, usize, usize)> = Vec::new();
        let text = match roll {
            0..=11 => {
                self.asked.push(user.clone());
                if self.asked.len() > 16 {
                    self.asked.remove(0);
                }
                self.rng.pick(QUESTIONS).to_owned()
            }
            12..=14 => format!("@{} {}", self.channel, self.rng.pick(PHRASES)),
            15..=16 => {
                // A moderator answers someone who asked.
                moderator = true;
                user = "the_mod_squad".to_owned();
                match self.asked.pop() {
                    Some(who) => format!("@{who} check the panels below the stream"),
                    None => "remember to follow the rules chat".to_owned(),
                }
            }
            17..=19 => COPYPASTA.to_owned(),
            _ => {
                let mut t = self.rng.pick(PHRASES).to_owned();
                match self.rng.below(4) {
                    0 | 1 => {
                        let (code, id) = EMOTES[self.rng.below(EMOTES.len())];
                        let start = t.chars().count() + 1;
                        t.push(' ');
                        t.push_str(code);
                        let end = start + code.chars().count() - 1;
                        emote_ranges.push((id.to_owned(), start, end));
                    }
                    2 => {
                        t.push(' ');
                        t.push_str(self.rng.pick(THIRD_PARTY));
                    }
                    _ => {}
                }
                t
            }
        };
        let emotes = emote_ranges
            .iter()
            .map(|(id, a, b)| format!("{id}:{a}-{b}"))
            .collect::<Vec<_>>()
            .join("/");
        self.seq += 1;
        ChatRecord {
            message_id: format!("{}-{}", self.channel, self.seq),
            channel: self.channel.clone(),
            room_id: Some("12345".into()),
            user_id: format!("{}", user.len() * 7919),
            user_login: user.clone(),
            display_name: user,
            text,
            bits: None,
            badges: String::new(),
            emotes,
            is_moderator: moderator,
            is_subscriber: false,
            sent_at: at,
            received_at: at,
            seq: at.timestamp_micros(),
        }
    }

    fn event(&mut self, kind: EventKind, amount: i64, at: DateTime<Utc>) -> EventRecord {
        self.seq += 1;
        EventRecord {
            event_id: format!("{}-e{}", self.channel, self.seq),
            channel: self.channel.clone(),
            kind,
            user_login: Some(self.chatter()),
            amount: Some(amount),
            details: serde_json::Value::Null,
            occurred_at: at,
            seq: at.timestamp_micros(),
        }
    }
}

/// Builds one channel's state and feeds it `minutes` of its stream, ticking every second;
/// also returns the time its ticks took.
fn fed_state(
    sentiment: &SentimentEngine,
    index: usize,
    rate: f64,
    minutes: i64,
    start: DateTime<Utc>,
) -> (ChannelIntel, std::time::Duration) {
    let mut ticking = std::time::Duration::ZERO;
    let mut stream = Stream::new(index, rate);
    let mut intel = ChannelIntel::new(stream.channel.clone());
    for sec in 1..=minutes * 60 {
        for (chat, at_ms) in stream.messages_until(sec * 1000, start) {
            intel.on_chat(
                sentiment,
                &chat,
                None,
                start + Duration::milliseconds(at_ms),
            );
        }
        let now = start + Duration::seconds(sec);
        if rate > 0.0 && sec % 300 == 150 {
            let e = stream.event(EventKind::Sub, 1, now);
            intel.on_event(&e, now);
        }
        if rate > 0.0 && sec % 600 == 420 {
            let e = stream.event(EventKind::Bits, 100, now);
            intel.on_event(&e, now);
        }
        let t0 = std::time::Instant::now();
        // What the channel actor does every second: tick, then publish vitals and summary.
        std::hint::black_box(intel.tick(now));
        std::hint::black_box((intel.vitals(), intel.summary(false)));
        ticking += t0.elapsed();
    }
    (intel, ticking)
}

/// Per-part totals, kept in a vector allocated up front so recording allocates nothing.
struct Parts {
    rows: Vec<(&'static str, i64, i64)>,
    mark: (i64, i64),
}

impl Parts {
    fn record(&mut self, name: &'static str) {
        let now = live();
        let (bytes, blocks) = (self.mark.0 - now.0, self.mark.1 - now.1);
        self.mark = now;
        match self.rows.iter_mut().find(|r| r.0 == name) {
            Some(r) => {
                r.1 += bytes;
                r.2 += blocks;
            }
            None => {
                assert!(self.rows.len() < self.rows.capacity(), "room reserved");
                self.rows.push((name, bytes, blocks));
            }
        }
    }
}

fn kib(bytes: f64) -> String {
    format!("{:.1} KiB", bytes / 1024.0)
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let minutes: i64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let start = Utc.timestamp_opt(1_800_000_000, 0).single().expect("valid");
    // Process-wide, shared by every channel: built before any measurement.
    let sentiment = SentimentEngine::new();

    println!("footprint: {n} channels per rate, {minutes} simulated minutes, ticks every second");
    println!(
        "size_of::<ChannelIntel>() = {} bytes (inline; counted below, the states sit in a Vec)",
        std::mem::size_of::<ChannelIntel>()
    );

    {
        use byte_actors::intel::{
            churn::{ChurnEngine, ChurnReport},
            clips::ClipDetector,
            coach::{Coach, Hint},
            health::{HealthEngine, HealthScore},
            session::SessionTracker,
            signals::Signals,
            windows::StreamWindows,
        };
        use std::mem::size_of;
        println!(
            "inline sizes (bytes): windows {}, churn {}, health {}, coach {}, clips {}, session {}, Signals {}, HealthScore {}, ChurnReport {}, Hint {}",
            size_of::<StreamWindows>(),
            size_of::<ChurnEngine>(),
            size_of::<HealthEngine>(),
            size_of::<Coach>(),
            size_of::<ClipDetector>(),
            size_of::<SessionTracker>(),
            size_of::<Signals>(),
            size_of::<HealthScore>(),
            size_of::<ChurnReport>(),
            size_of::<Hint>(),
        );
    }

    // Baselines, same run.
    let before = live();
    let words: Vec<u64> = (0..n as u64).collect();
    let after = live();
    println!(
        "baseline Vec<u64> × {n}: {:.1} bytes/channel (the counter's check: 8)",
        (after.0 - before.0) as f64 / n as f64
    );
    drop(words);
    let before = live();
    let fresh: Vec<ChannelIntel> = (0..n)
        .map(|i| ChannelIntel::new(ChannelLogin::parse(&format!("channel_{i}")).expect("valid")))
        .collect();
    let after = live();
    let fresh_per = (after.0 - before.0) as f64 / n as f64;
    println!(
        "baseline ChannelIntel::new (never ticked): {} / channel, {:.1} live blocks",
        kib(fresh_per),
        (after.1 - before.1) as f64 / n as f64
    );
    drop(fresh);

    let mut summary = Vec::new();
    for rate in [0.0, 0.1, 1.0, 5.0] {
        let started = std::time::Instant::now();
        let before = live();
        let mut states = Vec::with_capacity(n);
        let mut ticking = std::time::Duration::ZERO;
        for i in 0..n {
            let (state, t) = fed_state(&sentiment, i, rate, minutes, start);
            states.push(state);
            ticking += t;
        }
        let after = live();
        let per = (after.0 - before.0) as f64 / n as f64;
        let blocks = (after.1 - before.1) as f64 / n as f64;
        let mut parts = Parts {
            rows: Vec::with_capacity(64),
            mark: live(),
        };
        while let Some(state) = states.pop() {
            state.drop_part_by_part(|name| parts.record(name));
        }
        drop(states);
        parts.record("inline struct (size_of)");
        let freed: i64 = parts.rows.iter().map(|r| r.1).sum();
        println!();
        println!(
            "## {rate} msg/s per channel: {} / channel ({:.1}× a fresh state), {blocks:.1} live blocks / channel  [{:.1} s]",
            kib(per),
            per / fresh_per,
            started.elapsed().as_secs_f64()
        );
        // Wall time of tick + vitals + summary: only indicative on a busy machine.
        println!(
            "tick: {:.2} µs mean over {} ticks",
            ticking.as_secs_f64() * 1e6 / (n as f64 * minutes as f64 * 60.0),
            n as i64 * minutes * 60
        );
        println!("| part | bytes / channel | blocks / channel | share |");
        println!("| --- | ---: | ---: | ---: |");
        for (name, bytes, blocks) in &parts.rows {
            println!(
                "| {name} | {:.0} | {:.1} | {:.1} % |",
                *bytes as f64 / n as f64,
                *blocks as f64 / n as f64,
                100.0 * *bytes as f64 / freed.max(1) as f64
            );
        }
        // Whatever was built and not freed part by part (should be ~0: nothing leaks).
        println!(
            "| (not attributed) | {:.0} | | |",
            (after.0 - before.0 - freed) as f64 / n as f64
        );
        summary.push((rate, per, blocks));
    }
    println!();
    println!("| rate (msg/s/channel) | live heap / channel | live blocks / channel |");
    println!("| ---: | ---: | ---: |");
    for (rate, per, blocks) in summary {
        println!("| {rate} | {} | {blocks:.1} |", kib(per));
    }
}
