//! The client side of Twitch's IRC dialect as the simulator answers it: capability negotiation,
//! login (anonymous `justinfan*` or `PASS oauth:` + `NICK`), JOIN/PART, PING/PONG and client
//! PRIVMSGs.
//!
//! Replies follow what `irc.chat.twitch.tv` sends, line for line, so `twitch-irc` and other real
//! clients need no special casing. The PASS token is kept only long enough to compare it and is
//! never logged: unparseable lines are logged by length, not content.

use std::sync::Arc;

use twitch_irc::message::IRCMessage;

use super::delivery::{Delivery, Outbound, Tally};
use super::registry::{ConnEntry, normalize_channel};
use super::state::Shared;
use super::stats::{ClientMessage, add};

/// Why a connection ended, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Eof,
    ReadError,
    WriteError,
    SlowConsumer,
    Quit,
    AuthFailed,
    Reconnect,
    Killed,
}

/// What the reader should do after a line.
pub(crate) enum Flow {
    Continue,
    Close(End),
}

const CAPS: [&str; 3] = [
    "twitch.tv/tags",
    "twitch.tv/commands",
    "twitch.tv/membership",
];

/// Per-connection protocol state.
pub(crate) struct Session {
    shared: Arc<Shared>,
    conn: Arc<ConnEntry>,
    nick: Option<String>,
    pass: Option<String>,
    registered: bool,
    anonymous: bool,
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, conn: Arc<ConnEntry>) -> Self {
        Session {
            shared,
            conn,
            nick: None,
            pass: None,
            registered: false,
            anonymous: true,
        }
    }

    fn nick(&self) -> &str {
        self.nick.as_deref().unwrap_or("*")
    }

    /// Queues a reply; nothing is sent while the server plays dead.
    async fn reply(&self, text: String) {
        if self.shared.is_silent() {
            return;
        }
        let _ = self.conn.data_tx.send(Outbound::plain(text)).await;
    }

    /// Queues a reply and waits until the socket took it (or the connection is gone).
    async fn reply_and_wait(&self, text: String) {
        if self.shared.is_silent() {
            return;
        }
        let (delivery, rx) =
            Delivery::new(Arc::clone(&self.shared), None, Tally::default(), None, true);
        let item = Outbound {
            bytes: text.into(),
            delivery: Some(delivery),
        };
        if self.conn.data_tx.send(item).await.is_ok()
            && let Some(rx) = rx
        {
            let _ = rx.await;
        }
    }

    pub(crate) async fn handle_line(&mut self, line: &str) -> Flow {
        let msg = match IRCMessage::parse(line) {
            Ok(msg) => msg,
            Err(error) => {
                tracing::debug!(conn = self.conn.id, len = line.len(), %error, "ignoring unparseable client line");
                return Flow::Continue;
            }
        };
        match msg.command.as_str() {
            "CAP" => self.on_cap(&msg).await,
            "PASS" => {
                // Twitch only looks at PASS before NICK.
                if !self.registered {
                    self.pass = msg.params.first().cloned();
                }
            }
            "NICK" => return self.on_nick(&msg).await,
            "USER" => {}
            "JOIN" => self.on_join(&msg).await,
            "PART" => self.on_part(&msg).await,
            "PING" => self.on_ping(&msg).await,
            "PONG" => add(&self.shared.counters.pongs_from_clients, 1),
            "PRIVMSG" => self.on_privmsg(msg).await,
            "QUIT" => return Flow::Close(End::Quit),
            other => {
                let reply = format!(
                    ":tmi.twitch.tv 421 {} {other} :Unknown command\r\n",
                    self.nick()
                );
                self.reply(reply).await;
            }
        }
        Flow::Continue
    }

    async fn on_cap(&mut self, msg: &IRCMessage) {
        // Clients send `CAP REQ :caps`; tolerate a `*` target before the subcommand too.
        let params: Vec<&str> = msg
            .params
            .iter()
            .map(String::as_str)
            .skip_while(|p| *p == "*")
            .collect();
        let sub = params.first().map(|s| s.to_ascii_uppercase());
        match sub.as_deref() {
            Some("LS") => {
                self.reply(format!(":tmi.twitch.tv CAP * LS :{}\r\n", CAPS.join(" ")))
                    .await;
            }
            Some("REQ") => {
                let requested = params.get(1).copied().unwrap_or("");
                let all_known = requested
                    .split_whitespace()
                    .all(|c| CAPS.contains(&c.trim_start_matches('-')));
                let verdict = if all_known { "ACK" } else { "NAK" };
                self.reply(format!(":tmi.twitch.tv CAP * {verdict} :{requested}\r\n"))
                    .await;
            }
            _ => {}
        }
    }

    async fn on_nick(&mut self, msg: &IRCMessage) -> Flow {
        if self.registered {
            return Flow::Continue;
        }
        let Some(nick) = msg.params.first().map(|n| n.to_ascii_lowercase()) else {
            return Flow::Continue;
        };
        self.anonymous = nick.starts_with("justinfan");
        if !self.anonymous {
            let token = self
                .pass
                .as_deref()
                .and_then(|p| p.strip_prefix("oauth:"))
                .filter(|t| !t.is_empty());
            let notice = match (token, self.shared.config.auth_token.as_deref()) {
                (None, _) => Some("Improperly formatted auth"),
                (Some(got), Some(want)) if got != want.trim_start_matches("oauth:") => {
                    Some("Login authentication failed")
                }
                _ => None,
            };
            self.pass = None;
            if let Some(notice) = notice {
                tracing::info!(conn = self.conn.id, login = %nick, notice, "rejecting login");
                self.reply_and_wait(format!(":tmi.twitch.tv NOTICE * :{notice}\r\n"))
                    .await;
                return Flow::Close(End::AuthFailed);
            }
        }
        self.pass = None;
        tracing::debug!(conn = self.conn.id, login = %nick, "client logged in");
        let mut out = String::with_capacity(512);
        for (code, text) in [
            ("001", "Welcome, GLHF!"),
            ("002", "Your host is tmi.twitch.tv"),
            ("003", "This server is rather new"),
            ("004", "-"),
            ("375", "-"),
            ("372", "You are in a maze of twisty passages, all alike."),
            ("376", ">"),
        ] {
            out.push_str(&format!(":tmi.twitch.tv {code} {nick} :{text}\r\n"));
        }
        if !self.anonymous {
            out.push_str(&format!(
                "@badge-info=;badges=;color=;display-name={};emote-sets=0;user-id={};user-type= :tmi.twitch.tv GLOBALUSERSTATE\r\n",
                super::tags::escape_tag_value(&nick),
                super::ids::twitch_id_for(&nick)
            ));
        }
        self.nick = Some(nick);
        self.registered = true;
        self.reply(out).await;
        Flow::Continue
    }

    async fn on_join(&mut self, msg: &IRCMessage) {
        if !self.registered {
            self.reply(":tmi.twitch.tv 451 * :You have not registered\r\n".to_owned())
                .await;
            return;
        }
        let nick = self.nick().to_owned();
        let names: Vec<String> = msg
            .params
            .first()
            .map(|p| p.split(',').filter_map(normalize_channel).collect())
            .unwrap_or_default();
        if names.is_empty() {
            return;
        }
        let registry = &self.shared.registry;
        let mut out = String::with_capacity(names.len() * 400);
        let channels: Vec<_> = names.iter().map(|n| registry.channel(n)).collect();
        for ch in &channels {
            let name = &ch.name;
            out.push_str(&format!(
                ":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN #{name}\r\n\
                 :{nick}.tmi.twitch.tv 353 {nick} = #{name} :{nick}\r\n\
                 :{nick}.tmi.twitch.tv 366 {nick} #{name} :End of /NAMES list\r\n"
            ));
            if !self.anonymous {
                out.push_str(&userstate(&nick, name, self.is_moderator(name)));
            }
            out.push_str(&format!(
                "@emote-only=0;followers-only=-1;r9k=0;room-id={};slow=0;subs-only=0 :tmi.twitch.tv ROOMSTATE #{name}\r\n",
                ch.room_id
            ));
        }
        // Subscribe only once the JOIN echo is on the wire, so channel traffic can never reach
        // the client before the JOIN that explains it.
        self.reply_and_wait(out).await;
        for ch in &channels {
            registry.join(&self.conn, ch);
            add(&ch.counters.joins, 1);
            add(&self.shared.counters.joins, 1);
            tracing::debug!(conn = self.conn.id, channel = %ch.name, "joined");
        }
    }

    async fn on_part(&mut self, msg: &IRCMessage) {
        let nick = self.nick().to_owned();
        let names: Vec<String> = msg
            .params
            .first()
            .map(|p| p.split(',').filter_map(normalize_channel).collect())
            .unwrap_or_default();
        let mut out = String::new();
        for name in names {
            if let Some(ch) = self.shared.registry.existing_channel(&name) {
                self.shared.registry.part(&self.conn, &ch);
                add(&ch.counters.parts, 1);
            }
            add(&self.shared.counters.parts, 1);
            out.push_str(&format!(
                ":{nick}!{nick}@{nick}.tmi.twitch.tv PART #{name}\r\n"
            ));
        }
        if !out.is_empty() {
            self.reply(out).await;
        }
    }

    async fn on_ping(&mut self, msg: &IRCMessage) {
        let arg = msg
            .params
            .last()
            .map(String::as_str)
            .unwrap_or("tmi.twitch.tv");
        // Decide before counting: tests wait on the counter to know the silent-mode decision
        // for this PING has been taken.
        self.reply(format!(":tmi.twitch.tv PONG tmi.twitch.tv :{arg}\r\n"))
            .await;
        add(&self.shared.counters.pings_from_clients, 1);
    }

    async fn on_privmsg(&mut self, msg: IRCMessage) {
        let Some(name) = msg.params.first().and_then(|c| normalize_channel(c)) else {
            return;
        };
        let text = msg.params.get(1).cloned().unwrap_or_default();
        let ch = self.shared.registry.channel(&name);
        ch.log_client_message(
            ClientMessage {
                channel: name.clone(),
                login: self.nick().to_owned(),
                text,
                reply_parent_msg_id: msg.tags.0.get("reply-parent-msg-id").cloned(),
                received_at: chrono::Utc::now(),
            },
            self.shared.config.client_log_capacity,
        );
        add(&ch.counters.privmsgs_from_clients, 1);
        add(&self.shared.counters.privmsgs_from_clients, 1);
        if self.registered && !self.anonymous {
            let is_mod = self.is_moderator(&name);
            self.check_send_limits(&name, msg.params.get(1).map_or("", String::as_str), is_mod);
            // Twitch confirms every message a logged-in user sends with a USERSTATE.
            self.reply(userstate(self.nick(), &name, is_mod)).await;
        }
    }

    fn is_moderator(&self, channel: &str) -> bool {
        self.shared
            .config
            .moderator_in
            .iter()
            .filter_map(|c| normalize_channel(c))
            .any(|c| c.as_str() == channel)
    }

    /// Counts a send that Twitch would refuse: the login's messages of the last 30 s across
    /// every channel already at the destination's limit, or the same text to the same channel.
    fn check_send_limits(&self, channel: &str, text: &str, is_mod: bool) {
        const WINDOW: std::time::Duration = std::time::Duration::from_secs(30);
        let now = std::time::Instant::now();
        let normalized = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        let mut sends = self.shared.sends.lock().unwrap_or_else(|e| e.into_inner());
        let log = sends.entry(self.nick().to_owned()).or_default();
        while log
            .front()
            .is_some_and(|(at, _, _)| now.duration_since(*at) >= WINDOW)
        {
            log.pop_front();
        }
        let limit = if is_mod { 100 } else { 20 };
        if log.len() >= limit {
            add(&self.shared.counters.client_rate_violations, 1);
        }
        if log.iter().any(|(_, c, t)| c == channel && *t == normalized) {
            add(&self.shared.counters.client_duplicates, 1);
        }
        log.push_back((now, channel.to_owned(), normalized));
    }
}

fn userstate(nick: &str, channel: &str, is_mod: bool) -> String {
    let (badges, flag) = if is_mod { ("moderator/1", 1) } else { ("", 0) };
    format!(
        "@badge-info=;badges={badges};color=;display-name={};emote-sets=0;mod={flag};subscriber=0;user-type= :tmi.twitch.tv USERSTATE #{channel}\r\n",
        super::tags::escape_tag_value(nick)
    )
}
