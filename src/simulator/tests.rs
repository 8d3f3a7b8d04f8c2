//! Unit tests of line generation against the `twitch-irc` parser: every generated line must
//! parse and convert into the specific `ServerMessage` variant with the recorded values.

use std::collections::{HashMap, HashSet};

use bytes::BytesMut;
use twitch_irc::message::{
    ClearChatAction, IRCMessage, ServerMessage, UserNoticeEvent, UserNoticeMessage,
};

use super::generator::{ChannelGen, GenSettings, MessageKind};
use super::ids::{room_id_for, twitch_id_for};
use super::record::{EventKind, Record};
use super::text::{GLOBAL_EMOTES, SUB_EMOTE_SUFFIXES};

fn settings(seed: u64) -> GenSettings {
    GenSettings {
        seed,
        bits_fraction: 0.05,
        event_fraction: 0.1,
        chatters: 120,
        ask_fraction: 0.0,
    }
}

/// Renders `count` lines of `kind` (or mixed traffic when `None`) and returns them with records.
fn render(
    generator: &mut ChannelGen,
    kind: Option<MessageKind>,
    count: usize,
    now_ms: i64,
) -> (Vec<String>, Vec<Record>) {
    let mut buf = BytesMut::new();
    let mut records = Vec::new();
    for _ in 0..count {
        let k = kind.unwrap_or_else(|| generator.mixed_kind());
        generator.render(k, now_ms, &mut buf, Some(&mut records));
    }
    let text = String::from_utf8(buf.to_vec()).expect("lines are UTF-8");
    assert!(text.ends_with("\r\n"));
    let lines: Vec<String> = text
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), count, "one line per message, CRLF terminated");
    assert_eq!(records.len(), count, "one record per message");
    (lines, records)
}

fn parse(line: &str) -> ServerMessage {
    let irc = IRCMessage::parse(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    ServerMessage::try_from(irc).unwrap_or_else(|e| panic!("{e}"))
}

/// Emote codes twitch-irc cut out of the text must be real codes for their id.
fn check_emotes(emotes: &[twitch_irc::message::Emote], line: &str) {
    let global: HashMap<&str, &str> = GLOBAL_EMOTES.iter().map(|&(c, i)| (i, c)).collect();
    for e in emotes {
        match global.get(e.id.as_str()) {
            Some(code) => assert_eq!(e.code, *code, "emote range off in {line}"),
            None => {
                assert!(e.id.starts_with("emotesv2_"), "unknown emote id in {line}");
                assert!(
                    SUB_EMOTE_SUFFIXES.iter().any(|s| e.code.ends_with(s)),
                    "subscriber emote range off in {line}"
                );
            }
        }
    }
}

#[test]
fn every_kind_parses_into_its_server_message_variant() {
    let channels = ["pajlada", "xqcow", "gaules", "a_b"];
    let now = 1_700_000_000_000;
    let mut seen_ids = HashSet::new();
    let mut total = 0;
    for (n, channel) in channels.iter().enumerate() {
        let mut generator = ChannelGen::new(channel, &settings(42 + n as u64));
        let room_id = room_id_for(channel).to_string();
        for kind in MessageKind::all() {
            let (lines, records) = render(&mut generator, Some(kind), 400, now);
            for (line, record) in lines.iter().zip(&records) {
                total += 1;
                match (kind, parse(line), record) {
                    (
                        MessageKind::Privmsg | MessageKind::Cheer,
                        ServerMessage::Privmsg(m),
                        Record::Privmsg(r),
                    ) => {
                        assert_eq!(m.channel_login, *channel);
                        assert_eq!(m.channel_id, room_id);
                        assert_eq!(m.message_id, r.id);
                        assert_eq!(m.sender.login, r.user_login);
                        assert_eq!(m.sender.id, r.user_id);
                        assert_eq!(m.sender.id, twitch_id_for(&r.user_login).to_string());
                        assert_eq!(m.message_text, r.text);
                        assert_eq!(m.is_action, r.is_action);
                        assert_eq!(m.bits, r.bits);
                        assert_eq!(m.server_timestamp.timestamp_millis(), r.tmi_sent_ts);
                        assert_eq!(
                            m.reply_parent.as_ref().map(|p| p.message_id.clone()),
                            r.reply_parent_id
                        );
                        assert_eq!(kind == MessageKind::Cheer, m.bits.is_some());
                        if let Some(bits) = m.bits {
                            // The cheermotes in the text add up to the bits tag.
                            let sum: u64 = m
                                .message_text
                                .split(' ')
                                .filter_map(|w| {
                                    let digits = w.trim_start_matches(|c: char| c.is_alphabetic());
                                    (digits.len() < w.len()).then(|| digits.parse::<u64>().ok())?
                                })
                                .sum();
                            assert_eq!(sum, bits, "{line}");
                        }
                        check_emotes(&m.emotes, line);
                        assert!(seen_ids.insert(m.message_id.clone()), "duplicate id");
                    }
                    (MessageKind::Event(ev), msg, Record::Event(r)) => {
                        assert_eq!(r.kind, ev);
                        assert_eq!(r.channel, *channel);
                        check_event(ev, msg, r, &room_id, line);
                    }
                    (kind, other, _) => panic!("{kind:?} parsed as {other:?}: {line}"),
                }
            }
        }
    }
    assert_eq!(total, channels.len() * MessageKind::all().len() * 400);
}

fn check_event(
    ev: EventKind,
    msg: ServerMessage,
    r: &super::record::RecordedEvent,
    room_id: &str,
    line: &str,
) {
    match (ev, msg) {
        (EventKind::Timeout, ServerMessage::ClearChat(m)) => {
            assert_eq!(m.channel_id, room_id);
            let ClearChatAction::UserTimedOut {
                user_login,
                user_id,
                timeout_length,
            } = m.action
            else {
                panic!("not a timeout: {line}");
            };
            assert_eq!(user_login, r.user_login);
            assert!(timeout_length.as_secs() >= 1);
            assert_eq!(
                r.key,
                format!("{user_id}:{}", m.server_timestamp.timestamp_millis())
            );
        }
        (EventKind::Ban, ServerMessage::ClearChat(m)) => {
            let ClearChatAction::UserBanned {
                user_login,
                user_id,
            } = m.action
            else {
                panic!("not a ban: {line}");
            };
            assert_eq!(user_login, r.user_login);
            assert_eq!(
                r.key,
                format!("{user_id}:{}", m.server_timestamp.timestamp_millis())
            );
        }
        (EventKind::ClearMsg, ServerMessage::ClearMsg(m)) => {
            assert_eq!(m.message_id, r.key);
            assert_eq!(m.sender_login, r.user_login);
            assert_eq!(Some(m.message_text), r.text);
        }
        (_, ServerMessage::UserNotice(m)) => check_usernotice(ev, m, r, room_id, line),
        (ev, other) => panic!("{ev:?} parsed as {other:?}: {line}"),
    }
}

fn check_usernotice(
    ev: EventKind,
    m: UserNoticeMessage,
    r: &super::record::RecordedEvent,
    room_id: &str,
    line: &str,
) {
    assert_eq!(m.event_id, ev.as_str());
    assert_eq!(m.message_id, r.key);
    assert_eq!(m.channel_id, room_id);
    assert_eq!(m.sender.login, r.user_login);
    assert_eq!(m.message_text, r.text);
    check_emotes(&m.emotes, line);
    match (ev, &m.event) {
        (
            EventKind::Sub,
            UserNoticeEvent::SubOrResub {
                is_resub: false,
                cumulative_months: 1,
                sub_plan_name,
                ..
            },
        ) => assert!(!sub_plan_name.is_empty()),
        (
            EventKind::Resub,
            UserNoticeEvent::SubOrResub {
                is_resub: true,
                cumulative_months,
                streak_months,
                ..
            },
        ) => {
            assert!(*cumulative_months >= 2);
            if let Some(s) = streak_months {
                assert!(s <= cumulative_months);
            }
            assert!(m.system_message.contains("subscribed"));
        }
        (EventKind::SubGift, UserNoticeEvent::SubGift { recipient, .. }) => {
            assert_eq!(recipient.id, twitch_id_for(&recipient.login).to_string());
            assert_ne!(recipient.login, m.sender.login);
        }
        (
            EventKind::SubMysteryGift,
            UserNoticeEvent::SubMysteryGift {
                mass_gift_count,
                sender_total_gifts,
                ..
            },
        ) => {
            assert!(sender_total_gifts.is_some_and(|t| t >= *mass_gift_count));
        }
        (
            EventKind::Raid,
            UserNoticeEvent::Raid {
                viewer_count,
                profile_image_url,
            },
        ) => {
            assert!(*viewer_count >= 1);
            assert!(profile_image_url.starts_with("https://"));
            let tags = &m.source.tags.0;
            assert_eq!(tags.get("msg-param-login"), Some(&m.sender.login));
            assert_eq!(tags.get("msg-param-displayName"), Some(&m.sender.name));
            assert_eq!(
                tags.get("msg-param-viewerCount"),
                Some(&viewer_count.to_string())
            );
            assert_eq!(
                m.system_message,
                format!("{viewer_count} raiders from {} have joined!", m.sender.name)
            );
        }
        (EventKind::Announcement, UserNoticeEvent::Announcement { color }) => {
            assert!(color.is_some());
            assert!(m.message_text.is_some());
        }
        (ev, event) => panic!("{ev:?} parsed as {event:?}: {line}"),
    }
}

#[test]
fn mixed_traffic_parses_and_has_every_feature() {
    let mut generator = ChannelGen::new("forsen", &settings(9));
    let (lines, records) = render(&mut generator, None, 20_000, 1_600_000_000_000);
    let mut kinds = HashSet::new();
    let mut privmsg_text: HashMap<String, String> = HashMap::new();
    let (mut replies, mut actions, mut cheers, mut pt) = (0, 0, 0, 0);
    for (line, record) in lines.iter().zip(&records) {
        match (parse(line), record) {
            (ServerMessage::Privmsg(m), Record::Privmsg(_)) => {
                kinds.insert("privmsg");
                if let Some(parent) = &m.reply_parent {
                    replies += 1;
                    // The parent body went through tag escaping (spaces, `;`, `\`) and back.
                    if let Some(text) = privmsg_text.get(&parent.message_id) {
                        assert_eq!(&parent.message_text, text, "{line}");
                    }
                    assert!(m.message_text.starts_with('@'));
                }
                actions += usize::from(m.is_action);
                cheers += usize::from(m.bits.is_some());
                pt += usize::from(m.message_text.chars().any(|c| "ãéçêóáí".contains(c)));
                privmsg_text.insert(m.message_id.clone(), m.message_text.clone());
            }
            (ServerMessage::UserNotice(_), Record::Event(e))
            | (ServerMessage::ClearChat(_), Record::Event(e))
            | (ServerMessage::ClearMsg(_), Record::Event(e)) => {
                kinds.insert(e.kind.as_str());
            }
            (other, _) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(kinds.len(), 1 + EventKind::ALL.len(), "{kinds:?}");
    assert!(replies > 100, "replies: {replies}");
    assert!(actions > 50, "actions: {actions}");
    assert!(cheers > 300, "cheers: {cheers}");
    assert!(pt > 1_000, "pt-BR with accents: {pt}");
}

#[test]
fn display_names_with_spaces_are_escaped_on_the_wire() {
    let mut found = 0;
    for n in 0..20 {
        if found > 0 {
            break;
        }
        let mut generator = ChannelGen::new(&format!("chan{n}"), &settings(n));
        let (lines, _) = render(&mut generator, Some(MessageKind::Privmsg), 3_000, 1);
        for line in &lines {
            let ServerMessage::Privmsg(m) = parse(line) else {
                panic!("{line}");
            };
            if m.sender.name.contains(' ') {
                found += 1;
                let wire = m.sender.name.replace(' ', "\\s");
                assert!(line.contains(&format!("display-name={wire};")), "{line}");
            }
            assert!(!m.sender.name.contains('\\'), "undecoded escape in {line}");
        }
    }
    assert!(found > 0, "no legacy display name with a space was drawn");
}

#[test]
fn same_seed_same_lines_other_seed_other_lines() {
    let now = 1_650_000_000_000;
    let mut a = ChannelGen::new("pajlada", &settings(1));
    let mut b = ChannelGen::new("pajlada", &settings(1));
    let mut c = ChannelGen::new("pajlada", &settings(2));
    let (la, _) = render(&mut a, None, 3_000, now);
    let (lb, _) = render(&mut b, None, 3_000, now);
    let (lc, _) = render(&mut c, None, 3_000, now);
    assert_eq!(la, lb);
    assert_ne!(la, lc);
    // Channels differ even with one seed, so ids never collide across channels.
    let mut d = ChannelGen::new("forsen", &settings(1));
    let (ld, _) = render(&mut d, None, 3_000, now);
    assert_ne!(la, ld);
}

#[test]
fn clearmsg_targets_messages_the_channel_sent() {
    let mut generator = ChannelGen::new("pajlada", &settings(3));
    let (_, sent) = render(&mut generator, Some(MessageKind::Privmsg), 50, 1);
    let ids: HashSet<String> = sent
        .iter()
        .filter_map(|r| match r {
            Record::Privmsg(p) => Some(p.id.clone()),
            Record::Event(_) => None,
        })
        .collect();
    let (_, deleted) = render(
        &mut generator,
        Some(MessageKind::Event(EventKind::ClearMsg)),
        20,
        2,
    );
    let mut keys = HashSet::new();
    for r in deleted {
        let Record::Event(e) = r else { panic!() };
        assert!(
            ids.contains(&e.key),
            "CLEARMSG must target an earlier message"
        );
        assert!(keys.insert(e.key), "a message is deleted only once");
    }
}

#[test]
fn clearchat_keys_are_unique_within_one_millisecond() {
    let mut generator = ChannelGen::new("pajlada", &settings(4));
    let (_, records) = render(
        &mut generator,
        Some(MessageKind::Event(EventKind::Timeout)),
        500,
        1_000,
    );
    let keys: HashSet<String> = records
        .into_iter()
        .map(|r| match r {
            Record::Event(e) => e.key,
            Record::Privmsg(_) => panic!(),
        })
        .collect();
    assert_eq!(keys.len(), 500);
}
