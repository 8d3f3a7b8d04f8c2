//! The listener: binds, accepts, and runs one task per connection until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::connection;
use super::registry::ConnEntry;
use super::state::Shared;
use super::stats::add;

/// Accepts connections until the simulator is cancelled, then waits for them to close.
pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            () = shared.cancel.cancelled() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            res = listener.accept() => match res {
                Ok((stream, peer)) => spawn_connection(&shared, &mut tasks, stream, peer),
                Err(error) => {
                    // Usually EMFILE; back off instead of spinning on the error.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    // Connection tokens are children of the simulator's token, so every task is ending.
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
    }
}

fn spawn_connection(
    shared: &Arc<Shared>,
    tasks: &mut JoinSet<()>,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let id = shared.registry.next_conn_id();
    let (data_tx, data_rx) = mpsc::channel(shared.config.queue_capacity);
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
    let conn = Arc::new(ConnEntry::new(
        id,
        peer,
        data_tx,
        ctl_tx,
        shared.cancel.child_token(),
    ));
    add(&shared.counters.connections_accepted, 1);
    add(&shared.counters.connections_open, 1);
    shared.registry.add_connection(Arc::clone(&conn));
    tracing::debug!(conn = id, %peer, "connection accepted");
    tasks.spawn(connection::serve(
        Arc::clone(shared),
        stream,
        conn,
        data_rx,
        ctl_rx,
    ));
}
