//! Turns twitch-irc's parsed messages into Byte's rows. Pure: no I/O, one function per
//! command, tested on the real captured lines in the shared fixtures.
//!
//! Event ids make every row idempotent on replay: Twitch's own message id where the line has
//! one, otherwise an id derived only from the line's content (CLEARCHAT carries no id).

use std::sync::Arc;

use byte_actors::model::{ChannelLogin, ChatRecord, EventKind, EventRecord, IngestSeq};
use chrono::{DateTime, Utc};
use serde_json::json;
use twitch_irc::message::{
    ClearChatAction, ClearChatMessage, ClearMsgMessage, PrivmsgMessage, RoomStateMessage,
    ServerMessage, UserNoticeEvent, UserNoticeMessage,
};

/// What one IRC message becomes.
#[derive(Debug, Default)]
pub struct Converted {
    /// The chat row, for PRIVMSG.
    pub chat: Option<Arc<ChatRecord>>,
    /// Event rows (a cheer yields both a chat row and a bits event).
    pub events: Vec<Arc<EventRecord>>,
}

/// The metric label for a message's command, from a fixed set (bounded cardinality).
pub fn kind_label(msg: &ServerMessage) -> &'static str {
    match msg {
        ServerMessage::Privmsg(_) => "privmsg",
        ServerMessage::UserNotice(_) => "usernotice",
        ServerMessage::ClearChat(_) => "clearchat",
        ServerMessage::ClearMsg(_) => "clearmsg",
        ServerMessage::RoomState(_) => "roomstate",
        ServerMessage::Join(_) => "join",
        ServerMessage::Part(_) => "part",
        ServerMessage::Reconnect(_) => "reconnect",
        ServerMessage::Ping(_) | ServerMessage::Pong(_) => "ping",
        ServerMessage::Notice(_) => "notice",
        _ => "other",
    }
}

/// Converts one message received at `received_at`, giving each row the next ingest position
/// from `seq`; commands that carry no row (PING, JOIN, ...) give an empty result. Takes the
/// message by value so a chat row's strings are moved out of it, not copied.
pub fn convert(msg: ServerMessage, received_at: DateTime<Utc>, seq: &mut IngestSeq) -> Converted {
    let at = received_at;
    match msg {
        ServerMessage::Privmsg(m) => privmsg(m, received_at, seq),
        ServerMessage::UserNotice(m) => one(usernotice(&m), seq, at),
        ServerMessage::ClearChat(m) => one(clearchat(&m), seq, at),
        ServerMessage::ClearMsg(m) => one(clearmsg(&m), seq, at),
        ServerMessage::RoomState(m) => one(roomstate(&m, received_at), seq, at),
        _ => Converted::default(),
    }
}

fn one(event: Option<EventRecord>, seq: &mut IngestSeq, at: DateTime<Utc>) -> Converted {
    Converted {
        chat: None,
        events: event
            .map(|mut e| {
                e.seq = seq.next(at);
                Arc::new(e)
            })
            .into_iter()
            .collect(),
    }
}

/// Postgres text cannot hold NUL; a hostile line must not be able to poison a batch.
fn clean(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s.to_owned()
    }
}

/// [`clean`] for a string we own: the common case (no NUL) keeps the allocation.
fn clean_owned(s: String) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s
    }
}

fn privmsg(mut m: PrivmsgMessage, received_at: DateTime<Utc>, seq: &mut IngestSeq) -> Converted {
    let channel = ChannelLogin::from_twitch(&m.channel_login);
    let mut badges = String::new();
    for b in &m.badges {
        if !badges.is_empty() {
            badges.push(',');
        }
        badges.push_str(&b.name);
        badges.push('/');
        badges.push_str(&b.version);
    }
    let has_badge = |name: &str| m.badges.iter().any(|b| b.name == name);
    let is_moderator = has_badge("moderator") || has_badge("broadcaster");
    let is_subscriber = has_badge("subscriber") || has_badge("founder");
    let bits = m.bits.map(|b| i64::try_from(b).unwrap_or(i64::MAX));
    let emotes = m.source.tags.0.remove("emotes").unwrap_or_default();
    let chat = ChatRecord {
        message_id: clean_owned(m.message_id),
        channel: channel.clone(),
        room_id: Some(m.channel_id).filter(|s| !s.is_empty()),
        user_id: clean_owned(m.sender.id),
        user_login: clean_owned(m.sender.login),
        display_name: clean_owned(m.sender.name),
        text: clean_owned(m.message_text),
        bits,
        badges: clean_owned(badges),
        emotes: clean_owned(emotes),
        is_moderator,
        is_subscriber,
        sent_at: m.server_timestamp,
        received_at,
        seq: seq.next(received_at),
    };
    let events = bits
        .map(|amount| {
            Arc::new(EventRecord {
                event_id: format!("bits:{}", chat.message_id),
                channel,
                kind: EventKind::Bits,
                user_login: Some(chat.user_login.clone()),
                amount: Some(amount),
                details: json!({ "message_id": chat.message_id }),
                occurred_at: chat.sent_at,
                seq: seq.next(received_at),
            })
        })
        .into_iter()
        .collect();
    Converted {
        chat: Some(Arc::new(chat)),
        events,
    }
}

fn usernotice(m: &UserNoticeMessage) -> Option<EventRecord> {
    let n = |v: u64| Some(i64::try_from(v).unwrap_or(i64::MAX));
    let (kind, user, amount) = match &m.event {
        UserNoticeEvent::SubOrResub {
            is_resub,
            cumulative_months,
            ..
        } => (
            if *is_resub {
                EventKind::Resub
            } else {
                EventKind::Sub
            },
            Some(m.sender.login.clone()),
            n(*cumulative_months),
        ),
        UserNoticeEvent::Raid { viewer_count, .. } => (
            EventKind::Raid,
            Some(m.sender.login.clone()),
            n(*viewer_count),
        ),
        UserNoticeEvent::SubGift {
            is_sender_anonymous,
            num_gifted_months,
            ..
        } => (
            EventKind::SubGift,
            (!is_sender_anonymous).then(|| m.sender.login.clone()),
            n(*num_gifted_months),
        ),
        UserNoticeEvent::SubMysteryGift {
            mass_gift_count, ..
        } => (
            EventKind::SubMysteryGift,
            Some(m.sender.login.clone()),
            n(*mass_gift_count),
        ),
        UserNoticeEvent::AnonSubMysteryGift {
            mass_gift_count, ..
        } => (EventKind::SubMysteryGift, None, n(*mass_gift_count)),
        UserNoticeEvent::GiftPaidUpgrade { .. } | UserNoticeEvent::AnonGiftPaidUpgrade { .. } => (
            EventKind::GiftPaidUpgrade,
            Some(m.sender.login.clone()),
            None,
        ),
        UserNoticeEvent::Announcement { .. } => {
            (EventKind::Announcement, Some(m.sender.login.clone()), None)
        }
        _ => (EventKind::OtherNotice, Some(m.sender.login.clone()), None),
    };
    let msg_id = m.source.tags.0.get("msg-id").cloned().unwrap_or_default();
    Some(EventRecord {
        event_id: clean(&m.message_id),
        channel: ChannelLogin::from_twitch(&m.channel_login),
        kind,
        user_login: user.map(|u| clean(&u)),
        amount,
        details: json!({
            "msg_id": clean(&msg_id),
            "system_message": clean(&m.system_message),
            "text": m.message_text.as_deref().map(clean),
            "event": serde_json::to_value(&m.event).unwrap_or_default(),
        }),
        occurred_at: m.server_timestamp,
        seq: 0,
    })
}

fn clearchat(m: &ClearChatMessage) -> Option<EventRecord> {
    let ts = m.server_timestamp.timestamp_millis();
    let (kind, user, amount, target) = match &m.action {
        ClearChatAction::ChatCleared => (EventKind::ChatCleared, None, None, "all".to_owned()),
        ClearChatAction::UserBanned {
            user_login,
            user_id,
        } => (
            EventKind::Ban,
            Some(user_login.clone()),
            None,
            user_id.clone(),
        ),
        ClearChatAction::UserTimedOut {
            user_login,
            user_id,
            timeout_length,
        } => (
            EventKind::Timeout,
            Some(user_login.clone()),
            Some(timeout_length.as_secs() as i64),
            user_id.clone(),
        ),
    };
    Some(EventRecord {
        event_id: clean(&format!("clearchat:{}:{}:{}", m.channel_id, target, ts)),
        channel: ChannelLogin::from_twitch(&m.channel_login),
        kind,
        user_login: user.map(|u| clean(&u)),
        amount,
        details: json!({ "target_user_id": clean(&target) }),
        occurred_at: m.server_timestamp,
        seq: 0,
    })
}

fn clearmsg(m: &ClearMsgMessage) -> Option<EventRecord> {
    Some(EventRecord {
        event_id: clean(&format!("clearmsg:{}", m.message_id)),
        channel: ChannelLogin::from_twitch(&m.channel_login),
        kind: EventKind::MessageDeleted,
        user_login: Some(clean(&m.sender_login)),
        amount: None,
        details: json!({ "target_message_id": clean(&m.message_id), "text": clean(&m.message_text) }),
        occurred_at: m.server_timestamp,
        seq: 0,
    })
}

/// Only partial ROOMSTATEs are changes; the full one Twitch sends on every JOIN is not an
/// event. A change has no id or timestamp of its own, so it is keyed by arrival time.
fn roomstate(m: &RoomStateMessage, received_at: DateTime<Utc>) -> Option<EventRecord> {
    let fields = [
        m.emote_only.is_some(),
        m.followers_only.is_some(),
        m.r9k.is_some(),
        m.slow_mode.is_some(),
        m.subscribers_only.is_some(),
    ];
    if fields.iter().all(|f| *f) {
        return None;
    }
    let details = json!({
        "emote_only": m.emote_only,
        "r9k": m.r9k,
        "slow_mode_secs": m.slow_mode.map(|d| d.as_secs()),
        "subscribers_only": m.subscribers_only,
        "followers_only": m.followers_only.as_ref().map(|f| format!("{f:?}")),
    });
    Some(EventRecord {
        event_id: format!(
            "roomstate:{}:{}:{}",
            m.channel_id,
            received_at.timestamp_micros(),
            details
        ),
        channel: ChannelLogin::from_twitch(&m.channel_login),
        kind: EventKind::RoomState,
        user_login: None,
        amount: None,
        details,
        occurred_at: received_at,
        seq: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use twitch_irc::message::IRCMessage;

    const FIXTURES: &str = include_str!("../../tests/fixtures/twitch-irc-samples.txt");

    fn parse(line: &str) -> Option<ServerMessage> {
        let irc = IRCMessage::parse(line).ok()?;
        ServerMessage::try_from(irc).ok()
    }

    fn convert_line(line: &str) -> Converted {
        convert(
            parse(line).expect("parses"),
            Utc::now(),
            &mut IngestSeq::default(),
        )
    }

    #[test]
    fn every_fixture_line_converts_without_panicking() {
        let mut chats = 0;
        let mut kinds = std::collections::HashSet::new();
        for line in FIXTURES.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(msg) = parse(line) {
                let c = convert(msg, Utc::now(), &mut IngestSeq::default());
                chats += usize::from(c.chat.is_some());
                kinds.extend(c.events.iter().map(|e| e.kind));
            }
        }
        assert!(chats >= 8, "fixture PRIVMSGs become chat rows, got {chats}");
        for k in [
            EventKind::Sub,
            EventKind::Resub,
            EventKind::Raid,
            EventKind::SubMysteryGift,
            EventKind::GiftPaidUpgrade,
            EventKind::Timeout,
            EventKind::Bits,
            EventKind::OtherNotice,
        ] {
            assert!(kinds.contains(&k), "fixtures yield a {k:?} event");
        }
    }

    #[test]
    fn cheer_becomes_chat_row_and_bits_event() {
        let line = FIXTURES.lines().find(|l| l.contains("bits=1;")).unwrap();
        let c = convert_line(line);
        let chat = c.chat.unwrap();
        assert_eq!(chat.bits, Some(1));
        assert_eq!(chat.user_login, "tetyys");
        assert_eq!(chat.channel.as_str(), "pajlada");
        assert_eq!(c.events.len(), 1);
        assert_eq!(c.events[0].kind, EventKind::Bits);
        assert_eq!(c.events[0].event_id, format!("bits:{}", chat.message_id));
    }

    #[test]
    fn privmsg_keeps_tags_and_timestamp() {
        let line = FIXTURES
            .lines()
            .find(|l| l.contains("Kappa Keepo Kappa"))
            .unwrap();
        let chat = convert_line(line).chat.unwrap();
        assert_eq!(chat.message_id, "f9c5774b-faa7-4378-b1af-c4e08b532dc2");
        assert!(chat.is_moderator && chat.is_subscriber);
        assert_eq!(chat.room_id.as_deref(), Some("11148817"));
        assert!(chat.emotes.starts_with("1902:6-10"));
        assert_eq!(chat.sent_at.timestamp_millis(), 1594556065407);
    }

    #[test]
    fn raid_carries_viewer_count_and_timeout_its_length() {
        let raid = FIXTURES
            .lines()
            .find(|l| l.contains("msg-id=raid"))
            .unwrap();
        let e = &convert_line(raid).events[0];
        assert_eq!((e.kind, e.amount), (EventKind::Raid, Some(430)));
        let timeout = FIXTURES
            .lines()
            .find(|l| l.contains("ban-duration=1;"))
            .unwrap();
        let e = &convert_line(timeout).events[0];
        assert_eq!((e.kind, e.amount), (EventKind::Timeout, Some(1)));
        assert_eq!(e.user_login.as_deref(), Some("fabzeef"));
    }

    #[test]
    fn ids_are_stable_across_replays_and_nul_is_stripped() {
        let line = FIXTURES
            .lines()
            .find(|l| l.contains("ban-duration=1;"))
            .unwrap();
        assert_eq!(
            convert_line(line).events[0].event_id,
            convert_line(line).events[0].event_id
        );
        let hostile = "@badge-info=;badges=;color=;display-name=x;emotes=;id=abc;mod=0;room-id=1;subscriber=0;tmi-sent-ts=1;turbo=0;user-id=2;user-type= :x!x@x.tmi.twitch.tv PRIVMSG #chan :a\0b";
        if let Some(msg) = parse(hostile) {
            assert!(
                !convert(msg, Utc::now(), &mut IngestSeq::default())
                    .chat
                    .unwrap()
                    .text
                    .contains('\0')
            );
        }
    }

    #[test]
    fn full_roomstate_is_not_an_event_but_a_change_is() {
        let full = "@emote-only=0;followers-only=-1;r9k=0;room-id=40286300;slow=0;subs-only=0 :tmi.twitch.tv ROOMSTATE #randers";
        assert!(convert_line(full).events.is_empty());
        let change = FIXTURES.lines().find(|l| l.contains("slow=5")).unwrap();
        assert_eq!(convert_line(change).events[0].kind, EventKind::RoomState);
    }
}
