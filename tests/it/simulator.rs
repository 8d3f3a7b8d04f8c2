//! The TMI simulator over real loopback sockets: a `twitch-irc` client receives exactly what the
//! simulator says it delivered, reconnects on RECONNECT and on dropped connections, and raw
//! clients see Twitch's protocol lines, silent mode, replay and unthrottled traffic.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use async_trait::async_trait;
use bytebot::simulator::{
    self, Emission, EventKind, MessageKind, RecordedEvent, SimulatorConfig, SimulatorHandle,
    room_id_for, twitch_id_for,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc::UnboundedReceiver;
use twitch_irc::login::StaticLoginCredentials;
use twitch_irc::message::{ClearChatAction, IRCMessage, ServerMessage};
use twitch_irc::transport::tcp::{MakeConnection, TCPTransport, TCPTransportConnectError};
use twitch_irc::{ClientConfig, TwitchIRCClient};

const WAIT: Duration = Duration::from_secs(15);

// twitch-irc's `MakeConnection::new_socket()` takes no arguments, so the simulator's address
// has to live in a global. Tests run in parallel in one process under `cargo test`, so each
// test that uses the client gets its own slot (and its own `SimConn<SLOT>` type).
static ADDRS: [Mutex<Option<SocketAddr>>; 4] = [const { Mutex::new(None) }; 4];

struct SimConn<const SLOT: usize>;

#[async_trait]
impl<const SLOT: usize> MakeConnection for SimConn<SLOT> {
    type Socket = TcpStream;

    async fn new_socket() -> Result<TcpStream, TCPTransportConnectError> {
        let addr = ADDRS[SLOT]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .expect("simulator address set before connecting");
        Ok(TcpStream::connect(addr).await?)
    }
}

type Client<const SLOT: usize> =
    TwitchIRCClient<TCPTransport<SimConn<SLOT>>, StaticLoginCredentials>;

fn client<const SLOT: usize>(
    sim: &SimulatorHandle,
) -> (UnboundedReceiver<ServerMessage>, Client<SLOT>) {
    *ADDRS[SLOT].lock().unwrap_or_else(|p| p.into_inner()) = Some(sim.local_addr());
    let mut config = ClientConfig::new_simple(StaticLoginCredentials::anonymous());
    // Reconnect right away instead of twitch-irc's default 2 s connection pacing.
    config.new_connection_every = Duration::from_millis(10);
    config.connect_timeout = Duration::from_secs(5);
    TwitchIRCClient::new(config)
}

fn is_chat(msg: &ServerMessage) -> bool {
    matches!(
        msg,
        ServerMessage::Privmsg(_)
            | ServerMessage::UserNotice(_)
            | ServerMessage::ClearChat(_)
            | ServerMessage::ClearMsg(_)
    )
}

/// Receives client messages until `n` chat messages arrived; also returns everything else seen.
async fn recv_chat(
    rx: &mut UnboundedReceiver<ServerMessage>,
    n: usize,
) -> Result<(Vec<ServerMessage>, Vec<ServerMessage>)> {
    let mut chat = Vec::new();
    let mut other = Vec::new();
    tokio::time::timeout(WAIT, async {
        while chat.len() < n {
            match rx.recv().await {
                Some(m) if is_chat(&m) => chat.push(m),
                Some(m) => other.push(m),
                None => break,
            }
        }
    })
    .await
    .with_context(|| format!("received {} of {n} chat messages", chat.len()))?;
    ensure!(
        chat.len() == n,
        "client stream ended after {} messages",
        chat.len()
    );
    Ok((chat, other))
}

/// Identifies a received event the way the recording keys it.
fn event_key(msg: &ServerMessage) -> Option<(String, String, String)> {
    match msg {
        ServerMessage::UserNotice(m) => Some((
            m.channel_login.clone(),
            m.event_id.clone(),
            m.message_id.clone(),
        )),
        ServerMessage::ClearChat(m) => {
            let (kind, id) = match &m.action {
                ClearChatAction::UserTimedOut { user_id, .. } => ("timeout", user_id),
                ClearChatAction::UserBanned { user_id, .. } => ("ban", user_id),
                ClearChatAction::ChatCleared => return None,
            };
            Some((
                m.channel_login.clone(),
                kind.to_owned(),
                format!("{id}:{}", m.server_timestamp.timestamp_millis()),
            ))
        }
        ServerMessage::ClearMsg(m) => Some((
            m.channel_login.clone(),
            "clearmsg".to_owned(),
            m.message_id.clone(),
        )),
        _ => None,
    }
}

fn recorded_key(e: &RecordedEvent) -> (String, String, String) {
    (e.channel.clone(), e.kind.as_str().to_owned(), e.key.clone())
}

#[tokio::test]
async fn twitch_irc_client_receives_exactly_the_emitted_messages() -> Result<()> {
    let sim = simulator::start(SimulatorConfig {
        record: true,
        ..SimulatorConfig::default()
    })
    .await?;
    let (mut rx, client) = client::<0>(&sim);
    let channels = ["alpha", "beta", "gamma"];
    for c in channels {
        client.join(c.to_owned())?;
    }
    sim.wait_for_joins(&channels, WAIT).await?;

    let kinds = MessageKind::all();
    let rounds = 6;
    for c in channels {
        let out = sim
            .emit(Emission::cycle(c, kinds.len() * rounds, kinds.clone()))
            .await?;
        assert_eq!(out.connections, 1);
        assert_eq!(out.generated, kinds.len() * rounds);
        assert_eq!(out.written, kinds.len() * rounds);
        assert_eq!(out.privmsgs, 2 * rounds, "Privmsg and Cheer per round");
        assert_eq!(out.events, EventKind::ALL.len() * rounds);
    }
    let total = channels.len() * kinds.len() * rounds;
    let (chat, other) = recv_chat(&mut rx, total).await?;

    // The JOIN echoes and ROOMSTATEs came first, with the derived room ids.
    for c in channels {
        assert!(
            other
                .iter()
                .any(|m| matches!(m, ServerMessage::Join(j) if j.channel_login == c))
        );
        let room = other.iter().find_map(|m| match m {
            ServerMessage::RoomState(r) if r.channel_login == c => Some(r.channel_id.clone()),
            _ => None,
        });
        assert_eq!(room, Some(room_id_for(c).to_string()));
    }

    let recorded = sim.recorded();
    assert_eq!(recorded.privmsgs.len(), channels.len() * 2 * rounds);
    assert_eq!(
        recorded.events.len(),
        channels.len() * EventKind::ALL.len() * rounds
    );
    for c in channels {
        // Same messages, same order, same content, per channel.
        let got: Vec<_> = chat
            .iter()
            .filter_map(|m| match m {
                ServerMessage::Privmsg(p) if p.channel_login == c => Some(p),
                _ => None,
            })
            .collect();
        let want = recorded.privmsgs_in(c);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.message_id, w.id);
            assert_eq!(g.sender.login, w.user_login);
            assert_eq!(g.sender.id, w.user_id);
            assert_eq!(g.message_text, w.text);
            assert_eq!(g.bits, w.bits);
            assert_eq!(g.is_action, w.is_action);
            assert_eq!(g.server_timestamp.timestamp_millis(), w.tmi_sent_ts);
            assert_eq!(g.channel_id, room_id_for(c).to_string());
        }
        let got_events: Vec<_> = chat
            .iter()
            .filter_map(event_key)
            .filter(|k| k.0 == c)
            .collect();
        let want_events: Vec<_> = recorded
            .events_in(c)
            .into_iter()
            .map(recorded_key)
            .collect();
        assert_eq!(got_events, want_events);
    }

    // Nothing else is in flight: the next chat message is the one emitted now.
    let out = sim.emit(Emission::chat("beta", 1)).await?;
    assert_eq!(out.written, 1);
    let (sentinel, _) = recv_chat(&mut rx, 1).await?;
    let last = sim
        .recorded()
        .privmsgs
        .last()
        .cloned()
        .context("sentinel recorded")?;
    match &sentinel[0] {
        ServerMessage::Privmsg(p) => assert_eq!(p.message_id, last.id),
        other => bail!("expected the sentinel PRIVMSG, got {other:?}"),
    }

    // After PART the channel gets nothing, and nothing is generated or recorded for it.
    client.part("gamma".to_owned());
    sim.wait_for_stats(WAIT, |s| s.channel("gamma").subscribers == 0)
        .await?;
    let before = sim.recorded();
    let out = sim.emit(Emission::chat("gamma", 5)).await?;
    assert_eq!((out.generated, out.written, out.connections), (0, 0, 0));
    assert_eq!(sim.recorded(), before);

    sim.shutdown().await;
    Ok(())
}

async fn assert_client_gets(
    sim: &SimulatorHandle,
    rx: &mut UnboundedReceiver<ServerMessage>,
    channel: &str,
) -> Result<()> {
    sim.take_recorded();
    let out = sim.emit(Emission::chat(channel, 3)).await?;
    assert_eq!(out.written, 3);
    let (chat, _) = recv_chat(rx, 3).await?;
    let ids: Vec<String> = chat
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Privmsg(p) => Some(p.message_id.clone()),
            _ => None,
        })
        .collect();
    let want: Vec<String> = sim.recorded().privmsgs.into_iter().map(|p| p.id).collect();
    assert_eq!(ids, want);
    Ok(())
}

#[tokio::test]
async fn reconnect_makes_twitch_irc_reconnect_and_rejoin() -> Result<()> {
    let sim = simulator::start(SimulatorConfig {
        record: true,
        ..SimulatorConfig::default()
    })
    .await?;
    let (mut rx, client) = client::<1>(&sim);
    client.join("one".to_owned())?;
    client.join("two".to_owned())?;
    sim.wait_for_joins(&["one", "two"], WAIT).await?;
    let before = sim.stats();
    assert_eq!(before.connections_open, 1);

    assert_eq!(sim.send_reconnect(), 1);
    sim.wait_for_stats(WAIT, |s| {
        s.connections_accepted > before.connections_accepted
            && s.connections_open == 1
            && s.joins >= before.joins + 2
            && s.channel("one").subscribers == 1
            && s.channel("two").subscribers == 1
    })
    .await?;
    let saw_reconnect = tokio::time::timeout(WAIT, async {
        while let Some(m) = rx.recv().await {
            if matches!(m, ServerMessage::Reconnect(_)) {
                return true;
            }
        }
        false
    })
    .await?;
    assert!(saw_reconnect, "the client was told to reconnect");
    assert_client_gets(&sim, &mut rx, "two").await?;
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn dropped_connections_make_twitch_irc_reconnect_and_rejoin() -> Result<()> {
    let sim = simulator::start(SimulatorConfig {
        record: true,
        ..SimulatorConfig::default()
    })
    .await?;
    let (mut rx, client) = client::<2>(&sim);
    client.join("dropped".to_owned())?;
    sim.wait_for_joins(&["dropped"], WAIT).await?;
    let before = sim.stats();

    assert_eq!(sim.drop_connections(), 1);
    sim.wait_for_stats(WAIT, |s| {
        s.connections_accepted > before.connections_accepted
            && s.connections_open == 1
            && s.channel("dropped").joins > before.channel("dropped").joins
            && s.channel("dropped").subscribers == 1
    })
    .await?;
    assert_client_gets(&sim, &mut rx, "dropped").await?;
    sim.shutdown().await;
    Ok(())
}

/// A hand-driven client, to check exact protocol lines.
struct Raw {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Raw {
    async fn connect(sim: &SimulatorHandle) -> Result<Raw> {
        let (r, w) = TcpStream::connect(sim.local_addr()).await?.into_split();
        Ok(Raw {
            reader: BufReader::new(r),
            writer: w,
        })
    }

    async fn send(&mut self, text: &str) -> Result<()> {
        self.writer.write_all(text.as_bytes()).await?;
        Ok(())
    }

    /// The next line, without `\r\n`; it must end in `\r\n` and be valid for twitch-irc.
    async fn line(&mut self) -> Result<String> {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, self.reader.read_line(&mut line)).await??;
        ensure!(n > 0, "connection closed");
        let line = line
            .strip_suffix("\r\n")
            .with_context(|| format!("line not CRLF terminated: {line:?}"))?
            .to_owned();
        Ok(line)
    }

    /// The bare socket plus whatever the line reader had already buffered from it.
    fn into_stream(self) -> Result<(TcpStream, Vec<u8>)> {
        let buffered = self.reader.buffer().to_vec();
        Ok((self.reader.into_inner().reunite(self.writer)?, buffered))
    }

    async fn expect(&mut self, want: &str) -> Result<()> {
        let got = self.line().await?;
        ensure!(got == want, "expected {want:?}, got {got:?}");
        Ok(())
    }

    async fn expect_eof(&mut self) -> Result<()> {
        let mut rest = String::new();
        let n = tokio::time::timeout(WAIT, self.reader.read_line(&mut rest)).await??;
        ensure!(n == 0, "expected EOF, got {rest:?}");
        Ok(())
    }

    async fn expect_welcome(&mut self, nick: &str) -> Result<()> {
        for (code, text) in [
            ("001", "Welcome, GLHF!"),
            ("002", "Your host is tmi.twitch.tv"),
            ("003", "This server is rather new"),
            ("004", "-"),
            ("375", "-"),
            ("372", "You are in a maze of twisty passages, all alike."),
            ("376", ">"),
        ] {
            self.expect(&format!(":tmi.twitch.tv {code} {nick} :{text}"))
                .await?;
        }
        Ok(())
    }

    async fn login_anonymous(&mut self, nick: &str) -> Result<()> {
        self.send(&format!(
            "CAP REQ :twitch.tv/tags twitch.tv/commands\r\nNICK {nick}\r\n"
        ))
        .await?;
        self.expect(":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands")
            .await?;
        self.expect_welcome(nick).await
    }

    /// JOINs as an anonymous user and consumes the JOIN/353/366/ROOMSTATE replies.
    async fn join_anonymous(&mut self, nick: &str, channel: &str) -> Result<()> {
        self.send(&format!("JOIN #{channel}\r\n")).await?;
        self.expect(&format!(
            ":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN #{channel}"
        ))
        .await?;
        self.line().await?;
        self.line().await?;
        let roomstate = self.line().await?;
        ensure!(
            roomstate.ends_with(&format!("ROOMSTATE #{channel}")),
            "{roomstate}"
        );
        Ok(())
    }
}

fn parse_server(line: &str) -> Result<ServerMessage> {
    let irc = IRCMessage::parse(line).map_err(|e| anyhow!("{e}: {line}"))?;
    ServerMessage::try_from(irc).map_err(|e| anyhow!("{e}"))
}

#[tokio::test]
async fn raw_protocol_lines_match_twitch() -> Result<()> {
    let sim = simulator::start(SimulatorConfig::default()).await?;
    let mut c = Raw::connect(&sim).await?;
    c.send("CAP REQ :twitch.tv/tags twitch.tv/commands\r\nPASS oauth:whatever\r\nNICK BotUser\r\n")
        .await?;
    c.expect(":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands")
        .await?;
    c.expect_welcome("botuser").await?;
    let global = c.line().await?;
    match parse_server(&global)? {
        ServerMessage::GlobalUserState(g) => {
            assert_eq!(g.user_id, twitch_id_for("botuser").to_string());
            assert_eq!(g.user_name, "botuser");
        }
        other => bail!("expected GLOBALUSERSTATE, got {other:?}"),
    }

    // Comma lists, mixed case, bare LF line endings and empty lines are all fine.
    c.send("\r\n\nJOIN #Foo,#bar\n").await?;
    for channel in ["foo", "bar"] {
        c.expect(&format!(
            ":botuser!botuser@botuser.tmi.twitch.tv JOIN #{channel}"
        ))
        .await?;
        c.expect(&format!(
            ":botuser.tmi.twitch.tv 353 botuser = #{channel} :botuser"
        ))
        .await?;
        c.expect(&format!(
            ":botuser.tmi.twitch.tv 366 botuser #{channel} :End of /NAMES list"
        ))
        .await?;
        assert!(
            matches!(parse_server(&c.line().await?)?, ServerMessage::UserState(u) if u.channel_login == channel)
        );
        let roomstate = c.line().await?;
        assert_eq!(
            roomstate,
            format!(
                "@emote-only=0;followers-only=-1;r9k=0;room-id={};slow=0;subs-only=0 :tmi.twitch.tv ROOMSTATE #{channel}",
                room_id_for(channel)
            )
        );
        assert!(matches!(
            parse_server(&roomstate)?,
            ServerMessage::RoomState(_)
        ));
    }
    let stats = sim.stats();
    assert_eq!(stats.joins, 2);
    assert_eq!(stats.channel("foo").subscribers, 1);

    c.send("PING :tmi.twitch.tv\r\n").await?;
    c.expect(":tmi.twitch.tv PONG tmi.twitch.tv :tmi.twitch.tv")
        .await?;

    // An over-long line is dropped whole; the connection carries on.
    let long = format!("PRIVMSG #foo :{}\r\n", "a".repeat(20_000));
    c.send(&long).await?;
    c.send("PRIVMSG #foo :hi there @someone\r\n").await?;
    assert!(
        matches!(parse_server(&c.line().await?)?, ServerMessage::UserState(u) if u.channel_login == "foo")
    );
    let said = sim.client_messages("#foo");
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(said[0].text, "hi there @someone");
    assert_eq!(said[0].login, "botuser");
    assert_eq!(sim.stats().channel("foo").privmsgs_from_clients, 1);

    c.send("PART #bar\r\nFROB x\r\n").await?;
    c.expect(":botuser!botuser@botuser.tmi.twitch.tv PART #bar")
        .await?;
    c.expect(":tmi.twitch.tv 421 botuser FROB :Unknown command")
        .await?;
    sim.wait_for_stats(WAIT, |s| s.channel("bar").subscribers == 0)
        .await?;

    // Raw injection follows the line's channel.
    assert_eq!(
        sim.inject_raw("@room-id=1 :tmi.twitch.tv ROOMSTATE #bar"),
        0
    );
    assert_eq!(
        sim.inject_raw("@slow=5;room-id=1 :tmi.twitch.tv ROOMSTATE #foo"),
        1
    );
    c.expect("@slow=5;room-id=1 :tmi.twitch.tv ROOMSTATE #foo")
        .await?;
    assert_eq!(sim.inject_raw(":tmi.twitch.tv NOTICE * :hello all"), 1);
    c.expect(":tmi.twitch.tv NOTICE * :hello all").await?;

    c.send("QUIT\r\n").await?;
    c.expect_eof().await?;
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn logins_are_checked_like_twitch() -> Result<()> {
    let sim = simulator::start(SimulatorConfig {
        auth_token: Some("oauth:right".into()),
        ..SimulatorConfig::default()
    })
    .await?;

    let mut wrong = Raw::connect(&sim).await?;
    wrong.send("PASS oauth:wrong\r\nNICK somebot\r\n").await?;
    wrong
        .expect(":tmi.twitch.tv NOTICE * :Login authentication failed")
        .await?;
    wrong.expect_eof().await?;

    let mut missing = Raw::connect(&sim).await?;
    missing.send("NICK somebot\r\n").await?;
    missing
        .expect(":tmi.twitch.tv NOTICE * :Improperly formatted auth")
        .await?;
    missing.expect_eof().await?;

    let mut right = Raw::connect(&sim).await?;
    right.send("PASS oauth:right\r\nNICK somebot\r\n").await?;
    right.expect_welcome("somebot").await?;
    assert!(right.line().await?.ends_with("GLOBALUSERSTATE"));

    // Anonymous logins need no PASS and get no GLOBALUSERSTATE: the PONG comes right after.
    let mut anon = Raw::connect(&sim).await?;
    anon.send("NICK justinfan4242\r\n").await?;
    anon.expect_welcome("justinfan4242").await?;
    anon.send("PING :x\r\n").await?;
    anon.expect(":tmi.twitch.tv PONG tmi.twitch.tv :x").await?;
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn server_pings_and_counts_pongs() -> Result<()> {
    let sim = simulator::start(SimulatorConfig {
        ping_interval: Duration::from_millis(50),
        ..SimulatorConfig::default()
    })
    .await?;
    let mut c = Raw::connect(&sim).await?;
    c.login_anonymous("justinfan7").await?;
    c.expect("PING :tmi.twitch.tv").await?;
    c.send("PONG :tmi.twitch.tv\r\n").await?;
    sim.wait_for_stats(WAIT, |s| s.pongs_from_clients >= 1)
        .await?;
    c.expect("PING :tmi.twitch.tv").await?;
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn silent_mode_answers_nothing_but_keeps_the_socket() -> Result<()> {
    let sim = simulator::start(SimulatorConfig {
        record: true,
        ..SimulatorConfig::default()
    })
    .await?;
    let mut c = Raw::connect(&sim).await?;
    c.login_anonymous("justinfan1").await?;
    c.join_anonymous("justinfan1", "quiet").await?;

    sim.set_silent(true);
    c.send("PING :one\r\n").await?;
    sim.wait_for_stats(WAIT, |s| s.pings_from_clients >= 1)
        .await?;
    let out = sim.emit(Emission::chat("quiet", 5)).await?;
    assert_eq!((out.generated, out.written), (5, 0));
    assert!(
        sim.recorded().privmsgs.is_empty(),
        "nothing delivered, nothing recorded"
    );
    assert_eq!(sim.stats().connections_open, 1);

    sim.set_silent(false);
    c.send("PING :two\r\n").await?;
    // Neither the first PONG nor the five messages ever arrive.
    c.expect(":tmi.twitch.tv PONG tmi.twitch.tv :two").await?;
    let out = sim.emit(Emission::chat("quiet", 1)).await?;
    assert_eq!(out.written, 1);
    let line = c.line().await?;
    assert!(matches!(parse_server(&line)?, ServerMessage::Privmsg(_)));
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn replaying_the_fixtures_delivers_every_valid_line() -> Result<()> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/twitch-irc-samples.txt"
    );
    let text = std::fs::read_to_string(path)?;
    let sim = simulator::start(SimulatorConfig::default()).await?;
    let mut c = Raw::connect(&sim).await?;
    c.login_anonymous("justinfan2").await?;
    let channels = [
        "pajlada",
        "forsen",
        "riotgames",
        "mocbka34",
        "queenqarro",
        "randers",
        "xqcow",
        "seventoes",
    ];
    for ch in channels {
        c.join_anonymous("justinfan2", ch).await?;
    }

    let report = sim.replay_file(path).await?;
    // 37 lines: six do not parse (`PØNG`, four malformed PINGs, `@{host}`).
    assert_eq!(report.invalid, 6);
    assert_eq!(report.sent, 31);
    assert_eq!(report.no_listener, 0);
    let valid: Vec<&str> = text
        .lines()
        .filter(|l| IRCMessage::parse(l).is_ok())
        .collect();
    assert_eq!(valid.len(), 31);
    for want in valid {
        c.expect(want).await?;
    }
    assert_eq!(sim.stats().raw_lines_written, 31);
    assert_eq!(sim.stats().channel("xqcow").raw_lines_written, 10);

    // A channel nobody joined gets nothing.
    let report = sim
        .replay_lines(["@room-id=1 :tmi.twitch.tv ROOMSTATE #nobody"])
        .await;
    assert_eq!((report.sent, report.no_listener), (0, 1));
    sim.shutdown().await;
    Ok(())
}

/// Reads until `target` lines arrived (counting those in `buffered`, bytes already read off
/// `stream`), returning the count and the first complete lines as a sample.
async fn count_lines(
    stream: &mut TcpStream,
    buffered: Vec<u8>,
    target: u64,
) -> Result<(u64, Vec<String>)> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut lines = buffered.iter().filter(|&&b| b == b'\n').count() as u64;
    let mut carry = buffered;
    let mut sample = Vec::new();
    loop {
        while sample.len() < 200
            && let Some(pos) = carry.iter().position(|&b| b == b'\n')
        {
            let line: Vec<u8> = carry.drain(..=pos).collect();
            sample.push(String::from_utf8(line)?.trim_end().to_owned());
        }
        if lines >= target {
            return Ok((lines, sample));
        }
        let n = stream.read(&mut buf).await?;
        ensure!(n > 0, "closed after {lines} lines");
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        if sample.len() < 200 {
            carry.extend_from_slice(&buf[..n]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unthrottled_traffic_floods_without_starving_the_server() -> Result<()> {
    let sim = simulator::start(SimulatorConfig {
        channels: vec!["load1".into(), "load2".into()],
        unthrottled: true,
        ..SimulatorConfig::default()
    })
    .await?;
    let mut c = Raw::connect(&sim).await?;
    c.login_anonymous("justinfan3").await?;
    c.join_anonymous("justinfan3", "load1").await?;
    let (mut stream, buffered) = c.into_stream()?;
    // A second connection logs in and gets PONGs while the first is flooded.
    let flood = tokio::spawn(async move { count_lines(&mut stream, buffered, 50_000).await });
    let mut other = Raw::connect(&sim).await?;
    other.login_anonymous("justinfan4").await?;
    other.send("PING :alive\r\n").await?;
    other
        .expect(":tmi.twitch.tv PONG tmi.twitch.tv :alive")
        .await?;

    let (lines, sample) = tokio::time::timeout(Duration::from_secs(60), flood).await???;
    assert!(lines >= 50_000);
    for line in sample.iter().filter(|l| !l.is_empty()) {
        assert!(
            is_chat(&parse_server(line)?) || line.contains("ROOMSTATE"),
            "{line}"
        );
    }
    // Only the joined channel got traffic.
    let stats = sim.stats();
    assert!(stats.channel("load1").privmsgs_written > 0);
    assert_eq!(stats.channel("load2").privmsgs_written, 0);
    sim.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn paced_traffic_keeps_to_its_rate() -> Result<()> {
    let rate = 200.0;
    let sim = simulator::start(SimulatorConfig {
        rate_per_sec: Some(rate),
        ..SimulatorConfig::default()
    })
    .await?;
    let mut c = Raw::connect(&sim).await?;
    c.login_anonymous("justinfan5").await?;
    c.join_anonymous("justinfan5", "paced").await?;
    let started = Instant::now();
    let stats = sim
        .wait_for_stats(WAIT, |s| s.channel("paced").privmsgs_written >= 100)
        .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let written = stats.privmsgs_written + stats.events_written;
    // Never more than the rate allows (plus one tick of slack).
    assert!(
        (written as f64) <= rate * (elapsed + 0.05) + 5.0,
        "{written} lines in {elapsed:.2}s at {rate}/s"
    );
    sim.shutdown().await;
    Ok(())
}
