//! Per-channel generation of Twitch chat lines: PRIVMSGs (plain, cheers, replies, `/me`),
//! USERNOTICEs (sub, resub, subgift, submysterygift, raid, announcement), CLEARCHAT (timeouts
//! and bans) and CLEARMSG, with tags modelled on captured Twitch traffic.
//!
//! Each channel has its own generator seeded from `(seed, channel)`, so a channel's stream
//! depends only on the seed and on how many lines were asked of it, never on how generation
//! for different channels interleaves. Lines are rendered straight into a shared byte buffer.
//!
//! This file holds the generator, its chatter/text choices and PRIVMSG rendering; the event
//! lines live in `events.rs`.

mod events;

use std::fmt::Write as _;

use bytes::BytesMut;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use super::chatters::{Chatter, build_pool};
use super::ids::{channel_seed, hex32, twitch_id_for, uuid_bytes};
use super::record::{EventKind, Record, RecordedPrivmsg};
use super::tags::push_escaped;
use super::text::{
    CHEERMOTES, EN_PHRASES, EN_QUESTIONS, EmoteDef, GLOBAL_EMOTES, LAUGHS, PT_PHRASES,
    PT_QUESTIONS, SUB_EMOTE_SUFFIXES, THIRD_PARTY_EMOTES, TextBuilder, write_emotes_tag,
};

/// What one generated line should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A chat message without bits.
    Privmsg,
    /// A chat message with a `bits` tag and matching cheermotes in the text.
    Cheer,
    /// A USERNOTICE, CLEARCHAT or CLEARMSG.
    Event(EventKind),
}

impl MessageKind {
    /// Every kind: plain, cheer and each event.
    pub fn all() -> Vec<MessageKind> {
        let mut v = vec![MessageKind::Privmsg, MessageKind::Cheer];
        v.extend(EventKind::ALL.iter().map(|&k| MessageKind::Event(k)));
        v
    }
}

/// Knobs of a channel generator.
#[derive(Debug, Clone)]
pub(crate) struct GenSettings {
    pub(crate) seed: u64,
    pub(crate) bits_fraction: f64,
    pub(crate) event_fraction: f64,
    pub(crate) chatters: usize,
    /// Share of generated chat that asks the bot a question (`!ask …`); 0 draws nothing, so
    /// seeded traffic is unchanged.
    pub(crate) ask_fraction: f64,
}

/// What a rendered line was, for counters.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LineClass {
    Privmsg { bits: u64 },
    Event,
}

/// Relative weights of event kinds in mixed traffic, aligned with [`EventKind::ALL`].
const EVENT_WEIGHTS: [u32; 9] = [15, 25, 15, 5, 3, 5, 12, 5, 15];
const CHEER_AMOUNTS: [(u64, u32); 8] = [
    (1, 10),
    (10, 10),
    (50, 10),
    (100, 30),
    (500, 15),
    (1000, 15),
    (5000, 5),
    (10000, 2),
];
const RECENT_CAPACITY: usize = 64;

/// A message kept for CLEARMSG targets and reply parents.
#[derive(Debug)]
struct Recent {
    id: [u8; 36],
    chatter: usize,
    text: String,
    deleted: bool,
}

/// Generator state of one channel.
pub(crate) struct ChannelGen {
    channel: String,
    room_id: String,
    rng: SmallRng,
    chatters: Vec<Chatter>,
    emotes: Vec<EmoteDef>,
    sub_plan_name: String,
    recent: Vec<Recent>,
    recent_next: usize,
    last_clearchat_ts: i64,
    bits_fraction: f64,
    event_fraction: f64,
    ask_fraction: f64,
    tb: TextBuilder,
}

impl std::fmt::Debug for ChannelGen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelGen")
            .field("channel", &self.channel)
            .field("chatters", &self.chatters.len())
            .finish_non_exhaustive()
    }
}

fn weighted<T: Copy>(rng: &mut SmallRng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total.max(1));
    for &(item, w) in items {
        if roll < w {
            return item;
        }
        roll -= w;
    }
    items[0].0
}

fn put_num(out: &mut BytesMut, n: impl std::fmt::Display) {
    let _ = write!(out, "{n}");
}

impl ChannelGen {
    pub(crate) fn new(channel: &str, settings: &GenSettings) -> Self {
        let mut rng = SmallRng::seed_from_u64(channel_seed(settings.seed, channel));
        let mut chatters = build_pool(channel, settings.chatters, &mut rng);
        for c in &mut chatters {
            c.prepare(channel);
        }
        let mut emotes: Vec<EmoteDef> = GLOBAL_EMOTES
            .iter()
            .map(|&(code, id)| EmoteDef {
                code: code.into(),
                id: id.into(),
            })
            .collect();
        let prefix: String = channel
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(4)
            .collect();
        let prefix = if prefix.len() < 3 {
            format!("{prefix}sub")
        } else {
            prefix
        };
        for suffix in SUB_EMOTE_SUFFIXES {
            emotes.push(EmoteDef {
                code: format!("{prefix}{suffix}"),
                id: format!("emotesv2_{}", hex32(rng.random())),
            });
        }
        // Most channels keep the default plan name; a few custom ones exercise escaping of `;`
        // and `\` inside USERNOTICE tags.
        let sub_plan_name = match rng.random_range(0..10u8) {
            0 => "Tier 1; Best Fans".to_owned(),
            1 => "\\o/ Crew".to_owned(),
            2 => format!("Família {channel}"),
            _ => format!("Channel Subscription ({channel})"),
        };
        ChannelGen {
            channel: channel.to_owned(),
            room_id: twitch_id_for(channel).to_string(),
            rng,
            chatters,
            emotes,
            sub_plan_name,
            recent: Vec::with_capacity(RECENT_CAPACITY),
            recent_next: 0,
            last_clearchat_ts: 0,
            bits_fraction: settings.bits_fraction,
            event_fraction: settings.event_fraction,
            ask_fraction: settings.ask_fraction,
            tb: TextBuilder::default(),
        }
    }

    /// A kind for mixed traffic: events at `event_fraction`, cheers at `bits_fraction` of the
    /// remaining PRIVMSGs.
    pub(crate) fn mixed_kind(&mut self) -> MessageKind {
        if self.event_fraction > 0.0 && self.rng.random_bool(self.event_fraction) {
            let weights: Vec<(EventKind, u32)> =
                EventKind::ALL.iter().copied().zip(EVENT_WEIGHTS).collect();
            MessageKind::Event(weighted(&mut self.rng, &weights))
        } else {
            self.chat_kind()
        }
    }

    /// A PRIVMSG kind: a cheer at `bits_fraction`.
    pub(crate) fn chat_kind(&mut self) -> MessageKind {
        if self.bits_fraction > 0.0 && self.rng.random_bool(self.bits_fraction) {
            MessageKind::Cheer
        } else {
            MessageKind::Privmsg
        }
    }

    /// Renders one line (with `\r\n`) into `out`; pushes its record when `records` is given.
    pub(crate) fn render(
        &mut self,
        kind: MessageKind,
        now_ms: i64,
        out: &mut BytesMut,
        records: Option<&mut Vec<Record>>,
    ) -> LineClass {
        match kind {
            MessageKind::Privmsg => self.render_privmsg(false, now_ms, out, records),
            MessageKind::Cheer => self.render_privmsg(true, now_ms, out, records),
            MessageKind::Event(ev) => {
                match ev {
                    EventKind::Timeout | EventKind::Ban => {
                        self.render_clearchat(ev == EventKind::Timeout, now_ms, out, records);
                    }
                    EventKind::ClearMsg => self.render_clearmsg(now_ms, out, records),
                    _ => self.render_usernotice(ev, now_ms, out, records),
                }
                LineClass::Event
            }
        }
    }

    /// Regulars talk far more than the long tail; the broadcaster rarely.
    fn pick_chatter(&mut self) -> usize {
        let n = self.chatters.len();
        let r: f64 = self.rng.random();
        if r < 0.005 {
            0
        } else if r < 0.6 {
            1 + self.rng.random_range(0..((n - 1) / 5).max(1))
        } else {
            self.rng.random_range(1..n)
        }
    }

    /// A viewer (never the broadcaster, never `exclude`) satisfying `pred`, or any such viewer
    /// after a few tries.
    fn pick_viewer(&mut self, exclude: Option<usize>, pred: impl Fn(&Chatter) -> bool) -> usize {
        let n = self.chatters.len();
        for _ in 0..16 {
            let i = self.rng.random_range(1..n);
            if Some(i) != exclude && pred(&self.chatters[i]) {
                return i;
            }
        }
        let i = self.rng.random_range(1..n);
        if Some(i) == exclude {
            // The pool always has at least two viewers.
            if i + 1 < n { i + 1 } else { 1 }
        } else {
            i
        }
    }

    fn push_emote(&mut self, allow_sub: bool) {
        let n_global = GLOBAL_EMOTES.len();
        let idx = if allow_sub && self.rng.random_bool(0.3) {
            n_global + self.rng.random_range(0..SUB_EMOTE_SUFFIXES.len())
        } else {
            self.rng.random_range(0..n_global)
        };
        let code = &self.emotes[idx].code;
        self.tb.emote(idx as u16, code);
    }

    fn push_pick(&mut self, pool: &'static [&'static str]) {
        let s = pool.choose(&mut self.rng).copied().unwrap_or("gg");
        self.tb.word(s);
    }

    /// Appends a message body to the text builder.
    fn compose_body(&mut self, chatter: usize) {
        if self.ask_fraction > 0.0 && self.rng.random_bool(self.ask_fraction.min(1.0)) {
            self.tb.word("!ask");
            self.push_pick(EN_QUESTIONS);
            return;
        }
        let c = &self.chatters[chatter];
        let allow_sub = c.is_subscriber() || c.is_broadcaster;
        let style = self.rng.random_range(0..100u8);
        match style {
            0..30 => {
                self.push_pick(EN_PHRASES);
                if self.rng.random_bool(0.4) {
                    self.push_emote(allow_sub);
                }
            }
            30..55 => {
                self.push_pick(PT_PHRASES);
                if self.rng.random_bool(0.4) {
                    self.push_emote(allow_sub);
                }
            }
            55..63 => self.push_pick(EN_QUESTIONS),
            63..70 => self.push_pick(PT_QUESTIONS),
            70..80 => {
                let target = if self.rng.random_bool(0.4) {
                    0
                } else {
                    self.rng.random_range(1..self.chatters.len())
                };
                self.tb.word("@");
                self.tb.glue(self.chatters[target].mention_name());
                let pool = match self.rng.random_range(0..4u8) {
                    0 => EN_QUESTIONS,
                    1 => PT_QUESTIONS,
                    2 => EN_PHRASES,
                    _ => PT_PHRASES,
                };
                self.push_pick(pool);
            }
            80..88 => {
                let repeat = self.rng.random_range(1..=4);
                if self.rng.random_bool(0.5) {
                    self.push_emote(allow_sub);
                    let last = *self.tb.spans.last().map(|s| &s.emote).unwrap_or(&0);
                    for _ in 1..repeat {
                        let code = &self.emotes[last as usize].code;
                        self.tb.emote(last, code);
                    }
                } else {
                    for _ in 0..repeat {
                        self.push_emote(allow_sub);
                    }
                }
            }
            88..93 => {
                self.push_emote(allow_sub);
                let pool = if self.rng.random_bool(0.5) {
                    EN_PHRASES
                } else {
                    PT_PHRASES
                };
                self.push_pick(pool);
                self.push_emote(allow_sub);
            }
            93..97 => {
                self.push_pick(LAUGHS);
                if self.rng.random_bool(0.5) {
                    self.push_pick(THIRD_PARTY_EMOTES);
                }
            }
            _ => {
                self.push_pick(THIRD_PARTY_EMOTES);
                self.push_pick(EN_PHRASES);
            }
        }
    }

    fn remember(&mut self, id: [u8; 36], chatter: usize) {
        if self.recent.len() < RECENT_CAPACITY {
            self.recent.push(Recent {
                id,
                chatter,
                text: self.tb.text.clone(),
                deleted: false,
            });
        } else {
            let slot = &mut self.recent[self.recent_next];
            slot.id = id;
            slot.chatter = chatter;
            slot.text.clear();
            slot.text.push_str(&self.tb.text);
            slot.deleted = false;
            self.recent_next = (self.recent_next + 1) % RECENT_CAPACITY;
        }
    }

    fn render_privmsg(
        &mut self,
        cheer: bool,
        now_ms: i64,
        out: &mut BytesMut,
        records: Option<&mut Vec<Record>>,
    ) -> LineClass {
        let ci = self.pick_chatter();
        self.tb.clear();
        let mut bits = 0;
        if cheer {
            let amount = weighted(&mut self.rng, &CHEER_AMOUNTS);
            let mote = CHEERMOTES.choose(&mut self.rng).copied().unwrap_or("Cheer");
            // Two cheermotes now and then; the `bits` tag is their sum, as on Twitch.
            let split = amount >= 100 && self.rng.random_bool(0.2);
            let parts = if split {
                [amount / 2, amount - amount / 2]
            } else {
                [amount, 0]
            };
            for part in parts.into_iter().filter(|&p| p > 0) {
                self.tb.word(mote);
                self.tb.glue(&part.to_string());
            }
            bits = amount;
        }
        let parent = if !cheer && !self.recent.is_empty() && self.rng.random_bool(0.03) {
            Some(self.rng.random_range(0..self.recent.len()))
        } else {
            None
        };
        if let Some(p) = parent {
            let pc = self.recent[p].chatter;
            self.tb.word("@");
            self.tb.glue(self.chatters[pc].mention_name());
        }
        self.compose_body(ci);
        let is_action = self.rng.random_bool(0.01);
        let first_msg = self.rng.random_bool(0.01);
        let id = uuid_bytes(self.rng.random());

        let c = &self.chatters[ci];
        out.extend_from_slice(b"@");
        out.extend_from_slice(&c.seg_badges);
        if bits > 0 {
            out.extend_from_slice(b"bits=");
            put_num(out, bits);
            out.extend_from_slice(b";");
        }
        out.extend_from_slice(&c.seg_color);
        out.extend_from_slice(b"emotes=");
        write_emotes_tag(out, &self.tb.spans, &self.emotes);
        out.extend_from_slice(if first_msg {
            b";first-msg=1;flags=;id="
        } else {
            b";first-msg=0;flags=;id="
        });
        out.extend_from_slice(&id);
        out.extend_from_slice(if c.is_mod { b";mod=1;" } else { b";mod=0;" });
        if let Some(p) = parent {
            let r = &self.recent[p];
            let pc = &self.chatters[r.chatter];
            for thread in [false, true] {
                let head: &[u8] = if thread {
                    b"reply-thread-parent-"
                } else {
                    b"reply-parent-"
                };
                out.extend_from_slice(head);
                out.extend_from_slice(b"display-name=");
                push_escaped(out, &pc.display_name);
                if !thread {
                    out.extend_from_slice(b";reply-parent-msg-body=");
                    push_escaped(out, &r.text);
                }
                out.extend_from_slice(b";");
                out.extend_from_slice(head);
                out.extend_from_slice(b"msg-id=");
                out.extend_from_slice(&r.id);
                out.extend_from_slice(b";");
                out.extend_from_slice(head);
                out.extend_from_slice(b"user-id=");
                put_num(out, pc.user_id);
                out.extend_from_slice(b";");
                out.extend_from_slice(head);
                out.extend_from_slice(b"user-login=");
                out.extend_from_slice(pc.login.as_bytes());
                out.extend_from_slice(b";");
            }
        }
        out.extend_from_slice(b"returning-chatter=0;room-id=");
        out.extend_from_slice(self.room_id.as_bytes());
        out.extend_from_slice(if c.is_subscriber() {
            b";subscriber=1;tmi-sent-ts="
        } else {
            b";subscriber=0;tmi-sent-ts="
        });
        put_num(out, now_ms);
        out.extend_from_slice(&c.seg_privmsg_tail);
        if is_action {
            out.extend_from_slice(b"\x01ACTION ");
        }
        out.extend_from_slice(self.tb.text.as_bytes());
        if is_action {
            out.extend_from_slice(b"\x01");
        }
        out.extend_from_slice(b"\r\n");

        if let Some(records) = records {
            records.push(Record::Privmsg(RecordedPrivmsg {
                channel: self.channel.clone(),
                id: String::from_utf8_lossy(&id).into_owned(),
                user_login: c.login.clone(),
                user_id: c.user_id.to_string(),
                text: self.tb.text.clone(),
                is_action,
                bits: (bits > 0).then_some(bits),
                reply_parent_id: parent
                    .map(|p| String::from_utf8_lossy(&self.recent[p].id).into_owned()),
                tmi_sent_ts: now_ms,
            }));
        }
        self.remember(id, ci);
        LineClass::Privmsg { bits }
    }
}
