//! A Redis outage longer than the reconnection budget: subscriptions come back by themselves,
//! nothing published meanwhile is replayed, and commands fail with a transient error until the
//! server is back.

mod common;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use switchboard_core::{
    Envelope, Key, KeyValue, Publisher, Subscriber,
    testkit::{Names, next_ok, within},
};
use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

const WAIT: Duration = Duration::from_secs(20);

/// A TCP proxy in front of Redis that the test can cut (every connection closed, new ones
/// dropped at once) and restore.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (up, links) = (up.clone(), links.clone());
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue;
                    }
                    let upstream = upstream.clone();
                    links.lock().unwrap().push(tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    }));
                }
            }
        });
        Proxy {
            port,
            up,
            links,
            accept,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// `REDIS_URL` split around its `host:port`.
fn split_url(url: &str) -> (String, String, String) {
    let (scheme, rest) = url.split_once("://").expect("REDIS_URL with a scheme");
    let (userinfo, rest) = match rest.rsplit_once('@') {
        Some((userinfo, rest)) => (format!("{userinfo}@"), rest),
        None => (String::new(), rest),
    };
    let (host_port, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    (
        format!("{scheme}://{userinfo}"),
        host_port.to_owned(),
        path.to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_and_commands_recover_from_a_long_outage() {
    let direct = common::connect().await;
    let (head, upstream, path) = split_url(&common::redis_url());
    let proxy = Proxy::start(upstream).await;
    let mut config = common::config().with_reconnect_attempts(1);
    config.url = format!("{head}127.0.0.1:{}{path}", proxy.port);
    config.max_reconnect_delay = Duration::from_millis(200);
    config.heartbeat = Duration::from_millis(300);
    let proxied = common::connect_with(config).await;
    let subscriber = proxied.subscriber().await.expect("subscriber");
    let names = Names::unique();
    let subject = names.subject("outage");
    let mut sub = subscriber
        .subscribe(&subject.clone().into())
        .await
        .expect("subscribe");
    let publisher = direct.publisher();
    publisher
        .publish(Envelope::new(subject.clone(), "before"))
        .await
        .expect("publish");
    assert_eq!(
        next_ok(&mut sub, WAIT, "a message before the outage")
            .await
            .payload()
            .as_ref(),
        b"before"
    );

    proxy.cut();
    let kv = proxied.key_value(names.namespace("outage"));
    let key = Key::new("k").expect("key");
    let err = within(WAIT, "a command to fail during the outage", async {
        loop {
            if let Err(err) = kv.get(&key).await {
                return err;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(err.is_transient(), "{err:?}");
    let receivers = publisher
        .publish_and_count(Envelope::new(subject.clone(), "lost"))
        .await
        .expect("publish during the outage");
    assert_eq!(receivers, 0, "the subscriber is disconnected");
    // Longer than the reconnection budget of one attempt, so only the heartbeat brings it back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore();

    let first = within(WAIT, "delivery to resume after the outage", async {
        for i in 0.. {
            publisher
                .publish(Envelope::new(subject.clone(), format!("after-{i}")))
                .await
                .expect("publish");
            match tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
                Ok(Some(Ok(msg))) => return msg,
                Ok(other) => panic!("expected a message, got {other:?}"),
                Err(_) => continue,
            }
        }
        unreachable!()
    })
    .await;
    assert!(
        first.payload().starts_with(b"after-"),
        "a message published during the outage was replayed"
    );
    assert!(subscriber.disconnects() >= 1);
    within(WAIT, "commands to work again", async {
        while kv.get(&key).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}
