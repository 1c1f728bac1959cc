//! The delivery client against real local receivers: what arrives, what is refused before any
//! connection, and that hostile receivers cost a bounded time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_webhooks::signing::{signature_header, verify};
use switchboard_webhooks::{AddressPolicy, ClientConfig, Deliverer, Lookup, Outgoing, Secret};

/// Answers each lookup with the next list of addresses (the last one repeats).
#[derive(Debug)]
struct ScriptedLookup {
    answers: Mutex<VecDeque<Vec<IpAddr>>>,
    calls: AtomicUsize,
}

impl ScriptedLookup {
    fn new(answers: &[&[&str]]) -> Arc<Self> {
        Arc::new(Self {
            answers: Mutex::new(
                answers
                    .iter()
                    .map(|a| a.iter().map(|ip| ip.parse().unwrap()).collect())
                    .collect(),
            ),
            calls: AtomicUsize::new(0),
        })
    }
}

#[async_trait::async_trait]
impl Lookup for ScriptedLookup {
    async fn lookup(&self, _host: &str) -> std::io::Result<Vec<IpAddr>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut answers = self.answers.lock().unwrap();
        let next = if answers.len() > 1 {
            answers.pop_front().unwrap()
        } else {
            answers.front().cloned().unwrap_or_default()
        };
        Ok(next)
    }
}

#[derive(Clone, Default)]
struct Seen {
    requests: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

async fn receiver(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn recording_receiver(status: StatusCode) -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let s = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let s = s.clone();
            async move {
                s.requests.lock().unwrap().push((headers, body));
                (status, [("retry-after", "120")], "thanks")
            }
        }),
    );
    (receiver(app).await, seen)
}

fn local_allowed() -> ClientConfig {
    ClientConfig {
        policy: AddressPolicy::with_allow_list(vec!["127.0.0.1".parse().unwrap()]),
        ..ClientConfig::default()
    }
}

fn outgoing<'a>(
    url: &'a url::Url,
    signature: &'a str,
    headers: &'a [(String, String)],
) -> Outgoing<'a> {
    Outgoing {
        url,
        msg_id: "evt_1",
        timestamp: 1_700_000_000,
        signature,
        body: Bytes::from_static(br#"{"type":"message.created"}"#),
        headers,
    }
}

#[tokio::test]
async fn a_signed_delivery_arrives_with_the_endpoint_headers() {
    let (addr, seen) = recording_receiver(StatusCode::NO_CONTENT).await;
    let lookup = ScriptedLookup::new(&[&["127.0.0.1"]]);
    let client = Deliverer::new(local_allowed(), lookup.clone()).unwrap();
    let secret = Secret::generate();
    let body = br#"{"type":"message.created"}"#;
    let sig = signature_header(&[&secret], "evt_1", 1_700_000_000, body);
    let url: url::Url = format!("http://hooks.example.test:{}/hook", addr.port())
        .parse()
        .unwrap();
    let headers = vec![
        ("x-team".to_owned(), "support".to_owned()),
        // An endpoint header cannot replace ours.
        ("webhook-id".to_owned(), "forged".to_owned()),
    ];
    let outcome = client.send(outgoing(&url, &sig, &headers)).await;
    assert_eq!(outcome.status, Some(204), "{outcome:?}");
    assert_eq!(outcome.error, None);
    assert_eq!(lookup.calls.load(Ordering::SeqCst), 1);
    let requests = seen.requests.lock().unwrap();
    let (h, b) = &requests[0];
    assert_eq!(h["webhook-id"], "evt_1");
    assert_eq!(h.get_all("webhook-id").iter().count(), 1);
    assert_eq!(h["x-team"], "support");
    assert_eq!(h["content-type"], "application/json");
    let ts: i64 = h["webhook-timestamp"].to_str().unwrap().parse().unwrap();
    verify(
        &secret,
        "evt_1",
        ts,
        h["webhook-signature"].to_str().unwrap(),
        b,
        ts,
    )
    .unwrap();
}

#[tokio::test]
async fn blocked_addresses_are_refused_before_connecting() {
    let (addr, seen) = recording_receiver(StatusCode::OK).await;
    let sig = "v1,x";
    // A literal loopback address with no allow-list.
    let client = Deliverer::new(ClientConfig::default(), ScriptedLookup::new(&[&[]])).unwrap();
    let url: url::Url = format!("http://127.0.0.1:{}/hook", addr.port())
        .parse()
        .unwrap();
    let o = client.send(outgoing(&url, sig, &[])).await;
    assert_eq!(o.status, None);
    assert!(o.error.as_deref().unwrap().contains("loopback"), "{o:?}");

    // A name whose answer includes one private address is refused whole.
    let lookup = ScriptedLookup::new(&[&["93.184.216.34", "10.0.0.7"]]);
    let client = Deliverer::new(ClientConfig::default(), lookup).unwrap();
    let url: url::Url = "http://mixed.example.test/hook".parse().unwrap();
    let o = client.send(outgoing(&url, sig, &[])).await;
    assert!(o.error.as_deref().unwrap().contains("private"), "{o:?}");

    // Public at the first lookup (say, when the endpoint was registered), loopback at delivery:
    // the delivery's own lookup is the one vetted and the one connected to.
    let lookup = ScriptedLookup::new(&[&["93.184.216.34"], &["127.0.0.1"]]);
    assert_eq!(
        lookup.lookup("rebind.example.test").await.unwrap(),
        vec!["93.184.216.34".parse::<IpAddr>().unwrap()]
    );
    let client = Deliverer::new(ClientConfig::default(), lookup.clone()).unwrap();
    let url: url::Url = format!("http://rebind.example.test:{}/hook", addr.port())
        .parse()
        .unwrap();
    let o = client.send(outgoing(&url, sig, &[])).await;
    assert!(o.error.as_deref().unwrap().contains("loopback"), "{o:?}");
    assert_eq!(lookup.calls.load(Ordering::SeqCst), 2);

    // The metadata service through an IPv4-mapped IPv6 literal.
    let url: url::Url = "http://[::ffff:169.254.169.254]/latest/meta-data/"
        .parse()
        .unwrap();
    let o = client.send(outgoing(&url, sig, &[])).await;
    assert!(o.error.as_deref().unwrap().contains("link-local"), "{o:?}");

    assert!(seen.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn redirects_are_not_followed() {
    // Even to an allowed receiver, and never to the metadata service.
    let (target, seen) = recording_receiver(StatusCode::OK).await;
    for location in [
        format!("http://127.0.0.1:{}/hook", target.port()),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let app = Router::new().route(
            "/hook",
            post(move || {
                let location = location.clone();
                async move { (StatusCode::TEMPORARY_REDIRECT, [("location", location)]) }
            }),
        );
        let addr = receiver(app).await;
        let client = Deliverer::new(local_allowed(), ScriptedLookup::new(&[&[]])).unwrap();
        let url: url::Url = format!("http://127.0.0.1:{}/hook", addr.port())
            .parse()
            .unwrap();
        let o = client.send(outgoing(&url, "v1,x", &[])).await;
        assert_eq!(o.status, Some(307));
    }
    assert!(seen.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_receiver_streaming_gigabytes_costs_twenty_kilobytes() {
    let app = Router::new().route(
        "/hook",
        post(|| async {
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            // 5 GB if anyone read it all.
            let stream = futures::stream::iter(
                std::iter::repeat_n(chunk, 80_000).map(Ok::<_, std::io::Error>),
            );
            Response::builder()
                .status(200)
                .body(Body::from_stream(stream))
                .unwrap()
        }),
    );
    let addr = receiver(app).await;
    let client = Deliverer::new(local_allowed(), ScriptedLookup::new(&[&[]])).unwrap();
    let url: url::Url = format!("http://127.0.0.1:{}/hook", addr.port())
        .parse()
        .unwrap();
    let started = std::time::Instant::now();
    let o = client.send(outgoing(&url, "v1,x", &[])).await;
    assert_eq!(o.status, Some(200));
    assert_eq!(o.response_body.len(), 20 * 1024);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_hanging_receiver_times_out() {
    let app = Router::new().route(
        "/hook",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            "late".into_response()
        }),
    );
    let addr = receiver(app).await;
    let config = ClientConfig {
        timeout: Duration::from_millis(300),
        ..local_allowed()
    };
    let client = Deliverer::new(config, ScriptedLookup::new(&[&[]])).unwrap();
    let url: url::Url = format!("http://127.0.0.1:{}/hook", addr.port())
        .parse()
        .unwrap();
    let o = client.send(outgoing(&url, "v1,x", &[])).await;
    assert_eq!(o.status, None);
    assert_eq!(o.error.as_deref(), Some("timed out"));
}

#[tokio::test]
async fn retry_after_is_read_from_throttling_responses() {
    let (addr, _seen) = recording_receiver(StatusCode::TOO_MANY_REQUESTS).await;
    let client = Deliverer::new(local_allowed(), ScriptedLookup::new(&[&[]])).unwrap();
    let url: url::Url = format!("http://127.0.0.1:{}/hook", addr.port())
        .parse()
        .unwrap();
    let o = client.send(outgoing(&url, "v1,x", &[])).await;
    assert_eq!(o.status, Some(429));
    assert_eq!(o.retry_after_ms, Some(120_000));
    assert_eq!(o.response_body, "thanks");
}
