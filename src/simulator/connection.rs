//! One client connection: a reader that splits lines and feeds the protocol session, and a
//! writer that drains the outbound queue in large coalesced writes.
//!
//! Both halves run as two futures of the same task over a borrowed split of the socket, so the
//! task keeps ownership of the `TcpStream` and can choose at the end between a clean close
//! (FIN) and a reset (RST, for `drop_connections`).

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval, MissedTickBehavior, interval_at};

use super::delivery::{Control, Outbound};
use super::protocol::{End, Flow, Session};
use super::registry::ConnEntry;
use super::state::Shared;
use super::stats::add;

/// Upper bound of one coalesced write.
const MAX_WRITE: usize = 256 * 1024;

/// Serves a connection until it ends, then unregisters it.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    conn: Arc<ConnEntry>,
    data_rx: mpsc::Receiver<Outbound>,
    ctl_rx: mpsc::UnboundedReceiver<Control>,
) {
    let _ = stream.set_nodelay(true);
    let end = {
        let (rd, wr) = stream.split();
        let mut session = Session::new(Arc::clone(&shared), Arc::clone(&conn));
        tokio::select! {
            end = read_loop(&shared, &mut session, rd) => end,
            end = write_loop(&shared, &conn, wr, data_rx, ctl_rx) => end,
            () = conn.cancel.cancelled() => End::Killed,
        }
    };
    if conn.is_abrupt() || end == End::SlowConsumer {
        // RST instead of FIN: the peer sees a connection reset, as with a crashed server.
        let _ = stream.set_zero_linger();
    } else {
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
    }
    drop(stream);
    shared.registry.remove_connection(&conn);
    shared
        .counters
        .connections_open
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    tracing::debug!(conn = conn.id, peer = %conn.peer, ?end, "connection closed");
}

async fn read_loop(shared: &Shared, session: &mut Session, mut rd: ReadHalf<'_>) -> End {
    let max = shared.config.max_line_len;
    let mut buf = BytesMut::with_capacity(8 * 1024);
    // Bytes of `buf` already known to hold no newline.
    let mut scanned = 0;
    // Inside an over-long line: drop everything up to the next newline.
    let mut discarding = false;
    loop {
        while let Some(offset) = buf[scanned..].iter().position(|&b| b == b'\n') {
            let line = buf.split_to(scanned + offset + 1);
            scanned = 0;
            if std::mem::take(&mut discarding) {
                continue;
            }
            let mut body = &line[..line.len() - 1];
            if let Some(stripped) = body.strip_suffix(b"\r") {
                body = stripped;
            }
            if body.len() > max {
                tracing::debug!(len = body.len(), "discarding over-long client line");
                continue;
            }
            if body.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let text = String::from_utf8_lossy(body);
            if let Flow::Close(end) = session.handle_line(&text).await {
                return end;
            }
        }
        scanned = buf.len();
        if buf.len() > max {
            tracing::debug!(len = buf.len(), "discarding over-long client line");
            buf.clear();
            scanned = 0;
            discarding = true;
        }
        buf.reserve(4096);
        match rd.read_buf(&mut buf).await {
            Ok(0) => return End::Eof,
            Ok(_) => {}
            Err(_) => return End::ReadError,
        }
    }
}

async fn tick(ping: &mut Option<Interval>) {
    match ping {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn write_loop(
    shared: &Shared,
    conn: &ConnEntry,
    mut wr: WriteHalf<'_>,
    mut data_rx: mpsc::Receiver<Outbound>,
    mut ctl_rx: mpsc::UnboundedReceiver<Control>,
) -> End {
    let every = shared.config.ping_interval;
    let mut ping = (!every.is_zero()).then(|| {
        let mut i = interval_at(Instant::now() + every, every);
        i.set_missed_tick_behavior(MissedTickBehavior::Delay);
        i
    });
    let stall = shared.config.slow_consumer_timeout;
    let mut batch: Vec<Outbound> = Vec::with_capacity(64);
    let mut scratch: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        tokio::select! {
            // Control first: RECONNECT and injected lines must not wait behind a full queue.
            biased;
            ctl = ctl_rx.recv() => match ctl {
                Some(Control::Raw(bytes)) => {
                    if !shared.is_silent() {
                        if let Err(end) = write(&mut wr, &bytes, stall).await {
                            return end;
                        }
                        add(&shared.counters.bytes_written, bytes.len() as u64);
                    }
                }
                Some(Control::Reconnect) => {
                    let line = b":tmi.twitch.tv RECONNECT\r\n";
                    if write(&mut wr, line, stall).await.is_ok() {
                        add(&shared.counters.bytes_written, line.len() as u64);
                    }
                    return End::Reconnect;
                }
                None => return End::Killed,
            },
            () = tick(&mut ping) => {
                if !shared.is_silent() {
                    let line = b"PING :tmi.twitch.tv\r\n";
                    if let Err(end) = write(&mut wr, line, stall).await {
                        return end;
                    }
                    add(&shared.counters.bytes_written, line.len() as u64);
                }
            }
            item = data_rx.recv() => {
                let Some(item) = item else { return End::Killed };
                let mut size = item.bytes.len();
                batch.push(item);
                while size < MAX_WRITE {
                    match data_rx.try_recv() {
                        Ok(more) => {
                            size += more.bytes.len();
                            batch.push(more);
                        }
                        Err(_) => break,
                    }
                }
                if shared.is_silent() {
                    // Dropped unwritten: their deliveries report "not written".
                    batch.clear();
                    continue;
                }
                let res = if let [single] = batch.as_slice() {
                    write(&mut wr, &single.bytes, stall).await
                } else {
                    scratch.clear();
                    for b in &batch {
                        scratch.extend_from_slice(&b.bytes);
                    }
                    write(&mut wr, &scratch, stall).await
                };
                if let Err(end) = res {
                    if end == End::SlowConsumer {
                        add(&shared.counters.slow_consumers_dropped, 1);
                        tracing::warn!(conn = conn.id, peer = %conn.peer, "dropping slow consumer");
                    }
                    return end;
                }
                add(&shared.counters.bytes_written, size as u64);
                for b in batch.drain(..) {
                    if let Some(d) = &b.delivery {
                        d.mark_written();
                    }
                }
                if scratch.capacity() > 4 * MAX_WRITE {
                    scratch = Vec::with_capacity(64 * 1024);
                }
            }
        }
    }
}

/// Writes all of `bytes`, giving up on a peer that has not read anything for `stall`.
async fn write(wr: &mut WriteHalf<'_>, bytes: &[u8], stall: Duration) -> Result<(), End> {
    match tokio::time::timeout(stall, wr.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::WriteError),
        Err(_) => Err(End::SlowConsumer),
    }
}
