//! Real-time delivery for `switchboard bench ingest --agents N`: N agent sockets subscribed to the
//! whole tenant, each timing every `message.created` it receives from the moment that message's
//! request was sent (the send time travels in the message text, and client and server share this
//! process's monotonic clock). The figure is an upper bound of commit-to-socket delay: it also
//! contains the request's own handling up to its commit.

use anyhow::Context;
use futures::StreamExt;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// Delivery figures of one phase.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// `message.created` frames received over all sockets.
    pub frames: u64,
    /// Messages accepted × sockets.
    pub expected: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Connected agent sockets and what they measured.
#[derive(Debug)]
pub struct Agents {
    count: usize,
    samples: Vec<Arc<Mutex<Vec<u64>>>>,
    received: Arc<AtomicU64>,
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Connecting this many sockets at once keeps the accept queue short.
const CONNECT_BATCH: usize = 100;

impl Agents {
    /// Opens `n` sockets with `key` and waits until each is live (`ready` received).
    pub async fn connect(
        addr: SocketAddr,
        key: &str,
        n: usize,
        epoch: Instant,
    ) -> anyhow::Result<Self> {
        let received = Arc::new(AtomicU64::new(0));
        let stop = CancellationToken::new();
        let mut samples = Vec::with_capacity(n);
        let mut tasks = Vec::with_capacity(n);
        let mut started = 0;
        while started < n {
            let batch = CONNECT_BATCH.min(n - started);
            let mut opening = Vec::with_capacity(batch);
            for _ in 0..batch {
                let mut req =
                    format!("ws://{addr}/v1/realtime?topics=tenant").into_client_request()?;
                req.headers_mut()
                    .insert("authorization", format!("Bearer {key}").parse()?);
                opening.push(tokio_tungstenite::connect_async(req));
            }
            for opened in futures::future::join_all(opening).await {
                let (mut ws, _) = opened.context("agent socket")?;
                // Wait for `ready`: from then on this socket receives every new event.
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Text(t))) if t.as_str().contains(r#""type":"ready""#) => {
                            break
                        }
                        Some(Ok(_)) => {}
                        _ => anyhow::bail!("agent socket closed before it was ready"),
                    }
                }
                let mine = Arc::new(Mutex::new(Vec::with_capacity(4096)));
                samples.push(mine.clone());
                let (received, stop) = (received.clone(), stop.clone());
                tasks.push(tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            () = stop.cancelled() => break,
                            msg = ws.next() => match msg {
                                Some(Ok(Message::Text(t))) => {
                                    if let Some(sent) = sent_us(t.as_str()) {
                                        let now = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
                                        mine.lock().unwrap_or_else(PoisonError::into_inner).push(now.saturating_sub(sent));
                                        received.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                                Some(Ok(_)) => {}
                                _ => break,
                            },
                        }
                    }
                    let _ = ws.close(None).await;
                }));
            }
            started += batch;
        }
        Ok(Self {
            count: n,
            samples,
            received,
            stop,
            tasks,
        })
    }

    /// Waits for the frames of `messages` accepted messages (until no more arrive for 3 s),
    /// then takes the samples measured so far.
    pub async fn take(&self, messages: u64) -> Delivery {
        let expected = messages * self.count as u64;
        let mut last = self.received.load(Ordering::Relaxed);
        let mut quiet = Duration::ZERO;
        while last < expected && quiet < Duration::from_secs(3) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.received.load(Ordering::Relaxed);
            quiet = if now == last {
                quiet + Duration::from_millis(100)
            } else {
                Duration::ZERO
            };
            last = now;
        }
        self.received.store(0, Ordering::Relaxed);
        let mut all = Vec::new();
        for s in &self.samples {
            all.append(&mut s.lock().unwrap_or_else(PoisonError::into_inner));
        }
        all.sort_unstable();
        Delivery {
            frames: all.len() as u64,
            expected,
            p50_ms: super::percentile(&all, 0.50),
            p99_ms: super::percentile(&all, 0.99),
            max_ms: all.last().map_or(0.0, |m| *m as f64 / 1000.0),
        }
    }

    pub async fn close(self) {
        self.stop.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// The `sent_us=` stamp of a `message.created` frame.
fn sent_us(frame: &str) -> Option<u64> {
    if !frame.contains(r#""type":"message.created""#) {
        return None;
    }
    let at = frame.find("sent_us=")? + "sent_us=".len();
    let digits: &str = &frame[at..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// One sender posting `rate` messages a second for `duration`; how many were accepted.
pub async fn paced_sender(
    url: &str,
    auth: &str,
    rate: u32,
    duration: Duration,
    body_for: &(dyn Fn(u64, u64) -> String + Send + Sync),
) -> u64 {
    let client = reqwest::Client::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    #[allow(clippy::disallowed_methods)] // measuring wall time is the point of a benchmark
    let started = Instant::now();
    let mut accepted = 0;
    let mut n = 0u64;
    while started.elapsed() < duration {
        tick.tick().await;
        // A client id no ingest client uses, so these messages open their own conversations.
        let res = client
            .post(url)
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(body_for(u64::from(u32::MAX), n))
            .send()
            .await;
        n += 1;
        if res.is_ok_and(|r| r.status().as_u16() == 201) {
            accepted += 1;
        }
    }
    accepted
}

#[cfg(test)]
mod tests {
    use super::sent_us;

    #[test]
    fn reads_the_stamp_of_message_events_only() {
        let f = r#"{"type":"event","cursor":3,"event":{"type":"message.created","data":{"content":"Message 1 sent_us=12345"}}}"#;
        assert_eq!(sent_us(f), Some(12345));
        let other =
            r#"{"type":"event","event":{"type":"conversation.created","data":{"x":"sent_us=1"}}}"#;
        assert_eq!(sent_us(other), None);
        assert_eq!(
            sent_us(r#"{"type":"message.created","x":"no stamp"}"#),
            None
        );
    }
}
