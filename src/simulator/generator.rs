//! Per-channel generation of Twitch chat lines: PRIVMSGs (plain, cheers, replies, `/me`),
//! USERNOTICEs (sub, resub, subgift, submysterygift, raid, announcement), CLEARCHAT (timeouts
//! and bans) and CLEARMSG, with tags modelled on captured Twitch traffic.
//!
//! Each channel has its own generator seeded from `(seed, channel)`, so a channel's stream
//! depends only on the seed and on how many lines were asked of it, never on how generation
//! for different channels interleaves. Lines are rendered straight into a shared byte buffer.

use std::fmt::Write as _;

use bytes::BytesMut;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use super::chatters::{Chatter, build_pool};
use super::ids::{channel_seed, hex32, twitch_id_for, uuid_bytes};
use super::record::{EventKind, Record, RecordedEvent, RecordedPrivmsg};
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
const TIMEOUTS: [u64; 8] = [1, 10, 60, 300, 600, 1800, 3600, 86400];
const RAIDERS: &[&str] = &[
    "gaules",
    "casimiro",
    "alanzoka",
    "loud_coringa",
    "nobru",
    "baiano",
    "shroud",
    "pokimane",
    "sodapoppin",
    "lirik",
    "cellbit",
    "velhovamp",
];
const ANNOUNCEMENTS: &[&str] = &[
    "new video is up, link in the description",
    "giveaway starts in 10 minutes!",
    "be nice in chat please",
    "sigam no instagram pra não perder nada!",
    "sorteio às 21h, fiquem ligados",
    "lembrem de hidratar, família",
];
const ANNOUNCEMENT_COLORS: &[&str] = &["PRIMARY", "BLUE", "GREEN", "ORANGE", "PURPLE"];
const RECENT_CAPACITY: usize = 64;
const ANON_GIFTER_ID: u64 = 274_598_607;

/// A message kept for CLEARMSG targets and reply parents.
#[derive(Debug)]
struct Recent {
    id: [u8; 36],
    chatter: usize,
    text: String,
    deleted: bool,
}

/// The identity tags of a USERNOTICE sender.
struct Sender<'a> {
    login: &'a str,
    display: &'a str,
    user_id: u64,
    badge_info: &'a str,
    badges: &'a str,
    color: &'a str,
    is_mod: bool,
    subscriber: bool,
    vip: bool,
    user_type: &'a str,
}

impl<'a> Sender<'a> {
    fn of(c: &'a Chatter) -> Self {
        Sender {
            login: &c.login,
            display: &c.display_name,
            user_id: c.user_id,
            badge_info: &c.badge_info,
            badges: &c.badges,
            color: c.color,
            is_mod: c.is_mod,
            subscriber: c.is_subscriber(),
            vip: c.is_vip,
            user_type: c.user_type,
        }
    }
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

/// Twenty random bytes as space-separated hex, the odd shape of `msg-param-origin-id`.
fn origin_id(rng: &mut SmallRng) -> String {
    let mut s = String::with_capacity(60);
    for i in 0..20 {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{:02x}", rng.random::<u8>());
    }
    s
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

    #[allow(clippy::too_many_arguments)]
    fn write_usernotice(
        &self,
        out: &mut BytesMut,
        sender: &Sender<'_>,
        id: &[u8; 36],
        msg_id: &str,
        params: &[(&str, String)],
        system_msg: &str,
        with_text: bool,
        now_ms: i64,
    ) {
        out.extend_from_slice(b"@badge-info=");
        out.extend_from_slice(sender.badge_info.as_bytes());
        out.extend_from_slice(b";badges=");
        out.extend_from_slice(sender.badges.as_bytes());
        out.extend_from_slice(b";color=");
        out.extend_from_slice(sender.color.as_bytes());
        out.extend_from_slice(b";display-name=");
        push_escaped(out, sender.display);
        out.extend_from_slice(b";emotes=");
        if with_text {
            write_emotes_tag(out, &self.tb.spans, &self.emotes);
        }
        out.extend_from_slice(b";flags=;id=");
        out.extend_from_slice(id);
        out.extend_from_slice(b";login=");
        out.extend_from_slice(sender.login.as_bytes());
        out.extend_from_slice(if sender.is_mod { b";mod=1" } else { b";mod=0" });
        out.extend_from_slice(b";msg-id=");
        out.extend_from_slice(msg_id.as_bytes());
        for (key, value) in params {
            out.extend_from_slice(b";msg-param-");
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"=");
            push_escaped(out, value);
        }
        out.extend_from_slice(b";room-id=");
        out.extend_from_slice(self.room_id.as_bytes());
        out.extend_from_slice(if sender.subscriber {
            b";subscriber=1"
        } else {
            b";subscriber=0"
        });
        out.extend_from_slice(b";system-msg=");
        push_escaped(out, system_msg);
        out.extend_from_slice(b";tmi-sent-ts=");
        put_num(out, now_ms);
        out.extend_from_slice(b";user-id=");
        put_num(out, sender.user_id);
        out.extend_from_slice(b";user-type=");
        out.extend_from_slice(sender.user_type.as_bytes());
        out.extend_from_slice(if sender.vip { b";vip=1" } else { b";vip=0" });
        out.extend_from_slice(b" :tmi.twitch.tv USERNOTICE #");
        out.extend_from_slice(self.channel.as_bytes());
        if with_text {
            out.extend_from_slice(b" :");
            out.extend_from_slice(self.tb.text.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }

    fn sub_plan(&mut self) -> (&'static str, &'static str) {
        match self.rng.random_range(0..20u8) {
            0..6 => ("Prime", "Prime"),
            6..17 => ("1000", "1"),
            17..19 => ("2000", "2"),
            _ => ("3000", "3"),
        }
    }

    fn render_usernotice(
        &mut self,
        kind: EventKind,
        now_ms: i64,
        out: &mut BytesMut,
        records: Option<&mut Vec<Record>>,
    ) {
        let id = uuid_bytes(self.rng.random());
        self.tb.clear();
        let mut with_text = false;
        let sender_login: String;
        match kind {
            EventKind::Sub => {
                let ci = self.pick_viewer(None, |c| !c.is_subscriber());
                let (plan, tier) = self.sub_plan();
                let c = &self.chatters[ci];
                let system = if plan == "Prime" {
                    format!("{} subscribed with Prime.", c.display_name)
                } else {
                    format!("{} subscribed at Tier {tier}.", c.display_name)
                };
                let badges = if plan == "Prime" {
                    "subscriber/0,premium/1"
                } else {
                    "subscriber/0"
                };
                let sender = Sender {
                    badge_info: "subscriber/1",
                    badges,
                    subscriber: true,
                    ..Sender::of(c)
                };
                let params = [
                    ("cumulative-months", "1".to_owned()),
                    ("months", "0".to_owned()),
                    ("multimonth-duration", "1".to_owned()),
                    ("multimonth-tenure", "0".to_owned()),
                    ("should-share-streak", "0".to_owned()),
                    ("sub-plan-name", self.sub_plan_name.clone()),
                    ("sub-plan", plan.to_owned()),
                    ("was-gifted", "false".to_owned()),
                ];
                self.write_usernotice(out, &sender, &id, "sub", &params, &system, false, now_ms);
                sender_login = c.login.clone();
            }
            EventKind::Resub => {
                let ci = self.pick_viewer(None, Chatter::is_subscriber);
                let (plan, tier) = self.sub_plan();
                let months = self.chatters[ci].sub_months.max(2);
                let streak = self
                    .rng
                    .random_bool(0.5)
                    .then(|| self.rng.random_range(1..=months));
                if self.rng.random_bool(0.7) {
                    self.compose_body(ci);
                    with_text = true;
                }
                let c = &self.chatters[ci];
                let mut system = if plan == "Prime" {
                    format!("{} subscribed with Prime.", c.display_name)
                } else {
                    format!("{} subscribed at Tier {tier}.", c.display_name)
                };
                let _ = write!(system, " They've subscribed for {months} months");
                match streak {
                    Some(s) => {
                        let _ = write!(system, ", currently on a {s} month streak!");
                    }
                    None => system.push('!'),
                }
                let badge_info = format!("subscriber/{months}");
                let sender = Sender {
                    badge_info: &badge_info,
                    subscriber: true,
                    ..Sender::of(c)
                };
                let mut params = vec![
                    ("cumulative-months", months.to_string()),
                    ("months", "0".to_owned()),
                    ("multimonth-duration", "1".to_owned()),
                    ("multimonth-tenure", "0".to_owned()),
                    (
                        "should-share-streak",
                        u8::from(streak.is_some()).to_string(),
                    ),
                ];
                if let Some(s) = streak {
                    params.push(("streak-months", s.to_string()));
                }
                params.push(("sub-plan-name", self.sub_plan_name.clone()));
                params.push(("sub-plan", plan.to_owned()));
                params.push(("was-gifted", "false".to_owned()));
                self.write_usernotice(
                    out, &sender, &id, "resub", &params, &system, with_text, now_ms,
                );
                sender_login = c.login.clone();
            }
            EventKind::SubGift => {
                let anonymous = self.rng.random_bool(0.1);
                let gifter = self.pick_viewer(None, |_| true);
                let recipient = self.pick_viewer(Some(gifter), |c| !c.is_subscriber());
                let sender_count = if anonymous {
                    0
                } else {
                    self.rng.random_range(1..300u32)
                };
                let origin = origin_id(&mut self.rng);
                let r = &self.chatters[recipient];
                let g = &self.chatters[gifter];
                let (sender, system) = if anonymous {
                    (
                        Sender {
                            login: "ananonymousgifter",
                            display: "AnAnonymousGifter",
                            user_id: ANON_GIFTER_ID,
                            badge_info: "",
                            badges: "",
                            color: "",
                            is_mod: false,
                            subscriber: false,
                            vip: false,
                            user_type: "",
                        },
                        format!(
                            "An anonymous user gifted a Tier 1 sub to {}! ",
                            r.display_name
                        ),
                    )
                } else {
                    (
                        Sender::of(g),
                        format!(
                            "{} gifted a Tier 1 sub to {}! They have given {sender_count} Gift Subs in the channel!",
                            g.display_name, r.display_name
                        ),
                    )
                };
                let params = [
                    ("gift-months", "1".to_owned()),
                    ("months", (r.sub_months + 1).to_string()),
                    ("origin-id", origin),
                    ("recipient-display-name", r.display_name.clone()),
                    ("recipient-id", r.user_id.to_string()),
                    ("recipient-user-name", r.login.clone()),
                    ("sender-count", sender_count.to_string()),
                    ("sub-plan-name", self.sub_plan_name.clone()),
                    ("sub-plan", "1000".to_owned()),
                ];
                self.write_usernotice(
                    out, &sender, &id, "subgift", &params, &system, false, now_ms,
                );
                sender_login = sender.login.to_owned();
            }
            EventKind::SubMysteryGift => {
                let gifter = self.pick_viewer(None, |_| true);
                let mass = [1u32, 5, 5, 10, 10, 20, 50, 100][self.rng.random_range(0..8)];
                let total = mass + self.rng.random_range(0..200u32);
                let origin = origin_id(&mut self.rng);
                let g = &self.chatters[gifter];
                let system = format!(
                    "{} is gifting {mass} Tier 1 Subs to {}'s community! They've gifted a total of {total} in the channel!",
                    g.display_name, self.chatters[0].display_name
                );
                let params = [
                    ("mass-gift-count", mass.to_string()),
                    ("origin-id", origin),
                    ("sender-count", total.to_string()),
                    ("sub-plan", "1000".to_owned()),
                ];
                self.write_usernotice(
                    out,
                    &Sender::of(g),
                    &id,
                    "submysterygift",
                    &params,
                    &system,
                    false,
                    now_ms,
                );
                sender_login = g.login.clone();
            }
            EventKind::Raid => {
                let base = RAIDERS.choose(&mut self.rng).copied().unwrap_or("raider");
                let login = if self.rng.random_bool(0.5) {
                    base.to_owned()
                } else {
                    format!("{base}{}", self.rng.random_range(1..100u32))
                };
                let display = {
                    let mut d = String::with_capacity(login.len());
                    let mut chars = login.chars();
                    if let Some(f) = chars.next() {
                        d.extend(f.to_uppercase());
                    }
                    d.push_str(chars.as_str());
                    d
                };
                let r: f64 = self.rng.random();
                let viewers = 1 + (r * r * r * 5000.0) as u64;
                let picture = uuid_bytes(self.rng.random());
                let color = ["#FF69B4", "#1E90FF", ""][self.rng.random_range(0..3)];
                let sender = Sender {
                    login: &login,
                    display: &display,
                    user_id: twitch_id_for(&login),
                    badge_info: "",
                    badges: "partner/1",
                    color,
                    is_mod: false,
                    subscriber: false,
                    vip: false,
                    user_type: "",
                };
                let params = [
                    ("displayName", display.clone()),
                    ("login", login.clone()),
                    (
                        "profileImageURL",
                        format!(
                            "https://static-cdn.jtvnw.net/jtv_user_pictures/{}-profile_image-70x70.png",
                            String::from_utf8_lossy(&picture)
                        ),
                    ),
                    ("viewerCount", viewers.to_string()),
                ];
                let system = format!("{viewers} raiders from {display} have joined!");
                self.write_usernotice(out, &sender, &id, "raid", &params, &system, false, now_ms);
                sender_login = login.clone();
            }
            _ => {
                // Announcement: the broadcaster or a moderator.
                let ci = if self.rng.random_bool(0.5) {
                    0
                } else {
                    self.pick_viewer(None, |c| c.is_mod)
                };
                self.push_pick(ANNOUNCEMENTS);
                if self.rng.random_bool(0.5) {
                    self.push_emote(true);
                }
                with_text = true;
                let color = ANNOUNCEMENT_COLORS
                    .choose(&mut self.rng)
                    .copied()
                    .unwrap_or("PRIMARY");
                let c = &self.chatters[ci];
                let params = [("color", color.to_owned())];
                self.write_usernotice(
                    out,
                    &Sender::of(c),
                    &id,
                    "announcement",
                    &params,
                    "",
                    true,
                    now_ms,
                );
                sender_login = c.login.clone();
            }
        }
        if let Some(records) = records {
            records.push(Record::Event(RecordedEvent {
                channel: self.channel.clone(),
                kind,
                key: String::from_utf8_lossy(&id).into_owned(),
                user_login: sender_login,
                text: with_text.then(|| self.tb.text.clone()),
                tmi_sent_ts: now_ms,
            }));
        }
    }

    fn render_clearchat(
        &mut self,
        timeout: bool,
        now_ms: i64,
        out: &mut BytesMut,
        records: Option<&mut Vec<Record>>,
    ) {
        let ci = self.pick_viewer(None, |c| !c.is_mod);
        let duration = TIMEOUTS[self.rng.random_range(0..TIMEOUTS.len())];
        // Strictly increasing per channel so `<target-user-id>:<ts>` identifies the event.
        let ts = now_ms.max(self.last_clearchat_ts + 1);
        self.last_clearchat_ts = ts;
        let c = &self.chatters[ci];
        out.extend_from_slice(b"@");
        if timeout {
            out.extend_from_slice(b"ban-duration=");
            put_num(out, duration);
            out.extend_from_slice(b";");
        }
        out.extend_from_slice(b"room-id=");
        out.extend_from_slice(self.room_id.as_bytes());
        out.extend_from_slice(b";target-user-id=");
        put_num(out, c.user_id);
        out.extend_from_slice(b";tmi-sent-ts=");
        put_num(out, ts);
        out.extend_from_slice(b" :tmi.twitch.tv CLEARCHAT #");
        out.extend_from_slice(self.channel.as_bytes());
        out.extend_from_slice(b" :");
        out.extend_from_slice(c.login.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(records) = records {
            records.push(Record::Event(RecordedEvent {
                channel: self.channel.clone(),
                kind: if timeout {
                    EventKind::Timeout
                } else {
                    EventKind::Ban
                },
                key: format!("{}:{ts}", c.user_id),
                user_login: c.login.clone(),
                text: None,
                tmi_sent_ts: ts,
            }));
        }
    }

    fn render_clearmsg(
        &mut self,
        now_ms: i64,
        out: &mut BytesMut,
        records: Option<&mut Vec<Record>>,
    ) {
        // Delete a message this channel really sent when there is one, so a consumer can
        // match CLEARMSG against its history.
        let start = if self.recent.is_empty() {
            0
        } else {
            self.rng.random_range(0..self.recent.len())
        };
        let n = self.recent.len();
        let found = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| !self.recent[i].deleted);
        let (id, chatter) = match found {
            Some(i) => {
                self.recent[i].deleted = true;
                self.tb.clear();
                self.tb.word(&self.recent[i].text.clone());
                (self.recent[i].id, self.recent[i].chatter)
            }
            None => {
                let ci = self.pick_chatter();
                self.tb.clear();
                self.compose_body(ci);
                (uuid_bytes(self.rng.random()), ci)
            }
        };
        let c = &self.chatters[chatter];
        // Twitch leaves `room-id` empty on CLEARMSG (twitchdev/issues#163); so do we.
        out.extend_from_slice(b"@login=");
        out.extend_from_slice(c.login.as_bytes());
        out.extend_from_slice(b";room-id=;target-msg-id=");
        out.extend_from_slice(&id);
        out.extend_from_slice(b";tmi-sent-ts=");
        put_num(out, now_ms);
        out.extend_from_slice(b" :tmi.twitch.tv CLEARMSG #");
        out.extend_from_slice(self.channel.as_bytes());
        out.extend_from_slice(b" :");
        out.extend_from_slice(self.tb.text.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(records) = records {
            records.push(Record::Event(RecordedEvent {
                channel: self.channel.clone(),
                kind: EventKind::ClearMsg,
                key: String::from_utf8_lossy(&id).into_owned(),
                user_login: c.login.clone(),
                text: Some(self.tb.text.clone()),
                tmi_sent_ts: now_ms,
            }));
        }
    }
}
