//! What the agents' and the visitors' sockets share: writing frames, catching up from the
//! outbox, and delivering what the feed broadcasts in bursts with one flush. Each kind of socket
//! decides what it sees through [`Viewer`].

use super::hub::{Ephemeral, Feed, Hub, Published, Signal, READ_BATCH};
use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures::SinkExt;
use std::time::Duration;
use tokio::sync::broadcast;

pub(super) type Sink = futures::stream::SplitSink<WebSocket, Message>;

/// A send that takes longer than this means the client stopped reading: close it.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Most frames written before one flush.
const BURST: usize = 256;

/// What one socket sees of its tenant's feed.
pub(super) trait Viewer {
    /// The frame an event puts on this socket, if any.
    fn event_frame(&mut self, event: &Published) -> Option<Utf8Bytes>;
    /// The frame an ephemeral signal puts on this socket, if any.
    fn ephemeral_frame(&self, signal: &Ephemeral) -> Option<Utf8Bytes>;
}

/// Sends one frame now; false when the client is gone or stopped reading.
pub(super) async fn send(sink: &mut Sink, text: &Utf8Bytes) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Text(text.clone()))).await,
        Ok(Ok(()))
    )
}

/// Queues a frame without flushing, so a burst goes out in few writes.
async fn queue(sink: &mut Sink, text: &Utf8Bytes) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, sink.feed(Message::Text(text.clone()))).await,
        Ok(Ok(()))
    )
}

async fn flush(sink: &mut Sink) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, sink.flush()).await,
        Ok(Ok(()))
    )
}

/// Sends every stored event after `*last` that the viewer sees, advancing `*last`.
pub(super) async fn catch_up(
    sink: &mut Sink,
    hub: &Hub,
    feed: &Feed,
    viewer: &mut impl Viewer,
    last: &mut i64,
) -> bool {
    loop {
        let events = match hub.core().events_after(feed.ctx(), *last, READ_BATCH).await {
            Ok(events) => events,
            Err(err) => {
                tracing::warn!(error = %err, "real-time catch-up failed");
                return false;
            }
        };
        let full = events.len() as i64 == READ_BATCH;
        for e in &events {
            *last = e.seq;
            if let Some(frame) = viewer.event_frame(&Published::from_event(e)) {
                if !send(sink, &frame).await {
                    return false;
                }
            }
        }
        if !full {
            return true;
        }
    }
}

/// Delivers `first` and whatever else the feed already holds, with one flush; a socket that fell
/// behind the feed reads what it missed from the outbox instead. False closes the socket.
pub(super) async fn deliver(
    sink: &mut Sink,
    hub: &Hub,
    feed: &Feed,
    rx: &mut broadcast::Receiver<Signal>,
    viewer: &mut impl Viewer,
    last: &mut i64,
    first: Result<Signal, broadcast::error::RecvError>,
) -> bool {
    let mut next = Some(first);
    let mut queued = 0;
    while let Some(signal) = next.take() {
        let open = match signal {
            Ok(Signal::Event(p)) if p.seq > *last => {
                *last = p.seq;
                match viewer.event_frame(&p) {
                    Some(frame) => {
                        queued += 1;
                        queue(sink, &frame).await
                    }
                    None => true,
                }
            }
            Ok(Signal::Event(_)) => true,
            Ok(Signal::Ephemeral(e)) => match viewer.ephemeral_frame(&e) {
                Some(frame) => {
                    queued += 1;
                    queue(sink, &frame).await
                }
                None => true,
            },
            Err(broadcast::error::RecvError::Lagged(_)) => {
                *rx = feed.subscribe();
                queued = 0;
                flush(sink).await && catch_up(sink, hub, feed, viewer, last).await
            }
            Err(broadcast::error::RecvError::Closed) => false,
        };
        if !open {
            return false;
        }
        if queued >= BURST {
            break;
        }
        next = match rx.try_recv() {
            Ok(s) => Some(Ok(s)),
            Err(broadcast::error::TryRecvError::Empty) => None,
            Err(broadcast::error::TryRecvError::Lagged(n)) => {
                Some(Err(broadcast::error::RecvError::Lagged(n)))
            }
            Err(broadcast::error::TryRecvError::Closed) => {
                Some(Err(broadcast::error::RecvError::Closed))
            }
        };
    }
    queued == 0 || flush(sink).await
}
