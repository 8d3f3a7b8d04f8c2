//! Rendering of the event lines: USERNOTICE (sub, resub, subgift, submysterygift, raid,
//! announcement), CLEARCHAT (timeouts and bans) and CLEARMSG, with the tags and `msg-param-*`
//! sets Twitch sends for each.

use std::fmt::Write as _;

use bytes::BytesMut;
use rand::Rng;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;

use super::{ChannelGen, put_num};
use crate::simulator::chatters::Chatter;
use crate::simulator::ids::{twitch_id_for, uuid_bytes};
use crate::simulator::record::{EventKind, Record, RecordedEvent};
use crate::simulator::tags::push_escaped;
use crate::simulator::text::write_emotes_tag;

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
/// Twitch's `AnAnonymousGifter` account; `twitch-irc` reports gifts from it as anonymous.
const ANON_GIFTER_ID: u64 = 274_598_607;

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

/// Who sent a rendered USERNOTICE and whether it carries the text builder's text.
struct Notice {
    sender_login: String,
    with_text: bool,
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

impl ChannelGen {
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

    pub(super) fn render_usernotice(
        &mut self,
        kind: EventKind,
        now_ms: i64,
        out: &mut BytesMut,
        records: Option<&mut Vec<Record>>,
    ) {
        let id = uuid_bytes(self.rng.random());
        self.tb.clear();
        let notice = match kind {
            EventKind::Sub => self.notice_sub(&id, now_ms, out),
            EventKind::Resub => self.notice_resub(&id, now_ms, out),
            EventKind::SubGift => self.notice_subgift(&id, now_ms, out),
            EventKind::SubMysteryGift => self.notice_submysterygift(&id, now_ms, out),
            EventKind::Raid => self.notice_raid(&id, now_ms, out),
            _ => self.notice_announcement(&id, now_ms, out),
        };
        if let Some(records) = records {
            records.push(Record::Event(RecordedEvent {
                channel: self.channel.clone(),
                kind,
                key: String::from_utf8_lossy(&id).into_owned(),
                user_login: notice.sender_login,
                text: notice.with_text.then(|| self.tb.text.clone()),
                tmi_sent_ts: now_ms,
            }));
        }
    }

    /// A first-time subscription.
    fn notice_sub(&mut self, id: &[u8; 36], now_ms: i64, out: &mut BytesMut) -> Notice {
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
        self.write_usernotice(out, &sender, id, "sub", &params, &system, false, now_ms);
        Notice {
            sender_login: c.login.clone(),
            with_text: false,
        }
    }

    /// A resubscription, often with a shared message.
    fn notice_resub(&mut self, id: &[u8; 36], now_ms: i64, out: &mut BytesMut) -> Notice {
        let ci = self.pick_viewer(None, Chatter::is_subscriber);
        let (plan, tier) = self.sub_plan();
        let months = self.chatters[ci].sub_months.max(2);
        let streak = self
            .rng
            .random_bool(0.5)
            .then(|| self.rng.random_range(1..=months));
        let with_text = self.rng.random_bool(0.7);
        if with_text {
            self.compose_body(ci);
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
            out, &sender, id, "resub", &params, &system, with_text, now_ms,
        );
        Notice {
            sender_login: c.login.clone(),
            with_text,
        }
    }

    /// One gifted sub (now and then from `AnAnonymousGifter`).
    fn notice_subgift(&mut self, id: &[u8; 36], now_ms: i64, out: &mut BytesMut) -> Notice {
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
        self.write_usernotice(out, &sender, id, "subgift", &params, &system, false, now_ms);
        Notice {
            sender_login: sender.login.to_owned(),
            with_text: false,
        }
    }

    /// A community gift announcement.
    fn notice_submysterygift(&mut self, id: &[u8; 36], now_ms: i64, out: &mut BytesMut) -> Notice {
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
            id,
            "submysterygift",
            &params,
            &system,
            false,
            now_ms,
        );
        Notice {
            sender_login: g.login.clone(),
            with_text: false,
        }
    }

    /// An incoming raid from a channel outside the pool.
    fn notice_raid(&mut self, id: &[u8; 36], now_ms: i64, out: &mut BytesMut) -> Notice {
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
        self.write_usernotice(out, &sender, id, "raid", &params, &system, false, now_ms);
        Notice {
            sender_login: login.clone(),
            with_text: false,
        }
    }

    /// A `/announcement` by the broadcaster or a moderator.
    fn notice_announcement(&mut self, id: &[u8; 36], now_ms: i64, out: &mut BytesMut) -> Notice {
        let ci = if self.rng.random_bool(0.5) {
            0
        } else {
            self.pick_viewer(None, |c| c.is_mod)
        };
        self.push_pick(ANNOUNCEMENTS);
        if self.rng.random_bool(0.5) {
            self.push_emote(true);
        }
        let color = ANNOUNCEMENT_COLORS
            .choose(&mut self.rng)
            .copied()
            .unwrap_or("PRIMARY");
        let c = &self.chatters[ci];
        let params = [("color", color.to_owned())];
        self.write_usernotice(
            out,
            &Sender::of(c),
            id,
            "announcement",
            &params,
            "",
            true,
            now_ms,
        );
        Notice {
            sender_login: c.login.clone(),
            with_text: true,
        }
    }

    pub(super) fn render_clearchat(
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

    pub(super) fn render_clearmsg(
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
