//! The bot's voice on IRC: sends chat lines through the same twitch-irc client that reads
//! chat (so a logged-in bot needs one pool of connections, not two), and tracks the bot's
//! moderator status per channel from the `USERSTATE` lines Twitch sends after every JOIN and
//! every message the bot sends.
//!
//! This is only the wire. What may be sent, and when (sanitising, Twitch's send limits,
//! pause and suspend), is decided by the co-pilot's sender (`crate::copilot::sender`) right
//! before it calls [`IrcOutbox::say`].

use std::collections::HashMap;
use std::sync::RwLock;

use byte_actors::model::ChannelLogin;
use twitch_irc::message::UserStateMessage;

use super::Client;

/// Why a line could not be written.
#[derive(Debug, thiserror::Error)]
pub enum IrcSendError {
    /// The bot reads anonymously (no bot login configured): Twitch refuses PRIVMSG.
    #[error("no bot login configured: chat is read anonymously and cannot be written")]
    Anonymous,
    /// Ingest is not running (starting up or shutting down).
    #[error("the IRC client is not running")]
    NotRunning,
    /// twitch-irc could not write the line.
    #[error("IRC write failed: {0}")]
    Write(String),
}

/// The sending half of the IRC client and the bot's moderator status per channel.
#[derive(Default)]
pub struct IrcOutbox {
    client: RwLock<Option<Client>>,
    logged_in: std::sync::atomic::AtomicBool,
    moderator: RwLock<HashMap<ChannelLogin, bool>>,
}

impl std::fmt::Debug for IrcOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IrcOutbox")
            .field("logged_in", &self.logged_in())
            .finish_non_exhaustive()
    }
}

impl IrcOutbox {
    pub(super) fn attach(&self, client: Client, logged_in: bool) {
        self.logged_in
            .store(logged_in, std::sync::atomic::Ordering::Relaxed);
        *self.client.write().unwrap_or_else(|e| e.into_inner()) = Some(client);
    }

    pub(super) fn detach(&self) {
        *self.client.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Whether the bot reads with a login (and so may write).
    pub fn logged_in(&self) -> bool {
        self.logged_in.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the bot is a moderator (or the broadcaster) in `channel`, as Twitch last said.
    /// Unknown counts as not: the lower send limit is the safe one.
    pub fn is_moderator(&self, channel: &ChannelLogin) -> bool {
        self.moderator
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(channel)
            .copied()
            .unwrap_or(false)
    }

    /// Records the status a `USERSTATE` carries.
    pub(super) fn on_user_state(&self, msg: &UserStateMessage) {
        let is_mod = msg
            .badges
            .iter()
            .any(|b| b.name == "moderator" || b.name == "broadcaster");
        let channel = ChannelLogin::from_twitch(&msg.channel_login);
        let mut map = self.moderator.write().unwrap_or_else(|e| e.into_inner());
        if map.insert(channel.clone(), is_mod) != Some(is_mod) {
            tracing::info!(%channel, moderator = is_mod, "bot's chat status in channel");
        }
    }

    /// Forgets a parted channel's status.
    pub(super) fn forget(&self, channel: &ChannelLogin) {
        self.moderator
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(channel);
    }

    /// Writes `text` to `channel`, as a threaded reply when `reply_to` (a message id) is given.
    /// The text must already be safe for chat.
    pub async fn say(
        &self,
        channel: &ChannelLogin,
        text: &str,
        reply_to: Option<&str>,
    ) -> Result<(), IrcSendError> {
        if !self.logged_in() {
            return Err(IrcSendError::Anonymous);
        }
        let client = self
            .client
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(IrcSendError::NotRunning)?;
        client
            .say(channel.as_str(), text, reply_to)
            .await
            .map_err(IrcSendError::Write)
    }
}
