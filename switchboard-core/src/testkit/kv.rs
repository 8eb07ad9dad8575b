//! Key/value cases.

use std::time::Duration;

use bytes::Bytes;

use super::{KeyValueFixture, Names};
use crate::{Key, KeyValue};

fn key(k: &str) -> Key {
    Key::new(k).expect("valid test key")
}

/// Set, get, overwrite; a missing key reads as `None`.
pub async fn set_get_overwrite<F: KeyValueFixture>(f: &F) {
    let names = Names::unique();
    let kv = f.namespace(names.namespace("kv"));
    let k = key("greeting");
    assert_eq!(kv.get(&k).await.expect("get"), None);
    kv.set(&k, Bytes::from_static(b"hello"), None)
        .await
        .expect("set");
    assert_eq!(
        kv.get(&k).await.expect("get").as_deref(),
        Some(&b"hello"[..])
    );
    kv.set(&k, Bytes::from_static(b"bye"), None)
        .await
        .expect("overwrite");
    assert_eq!(kv.get(&k).await.expect("get").as_deref(), Some(&b"bye"[..]));
    let binary: Vec<u8> = (0..=255u8).collect();
    kv.set(&key("binary"), binary.clone().into(), None)
        .await
        .expect("set binary");
    assert_eq!(
        kv.get(&key("binary")).await.expect("get").as_deref(),
        Some(&binary[..])
    );
    kv.del(&k).await.expect("cleanup");
    kv.del(&key("binary")).await.expect("cleanup");
}

/// An entry with a TTL reports the time left and is gone once it passes; one without a TTL
/// reports none.
pub async fn ttl_expires<F: KeyValueFixture>(f: &F) {
    let names = Names::unique();
    let kv = f.namespace(names.namespace("ttl"));
    let (short, forever) = (key("short"), key("forever"));
    kv.set(
        &short,
        Bytes::from_static(b"v"),
        Some(Duration::from_millis(1200)),
    )
    .await
    .expect("set with ttl");
    kv.set(&forever, Bytes::from_static(b"v"), None)
        .await
        .expect("set");
    let left = kv
        .ttl(&short)
        .await
        .expect("ttl")
        .expect("key exists")
        .expect("has a ttl");
    assert!(
        left > Duration::ZERO && left <= Duration::from_millis(1200),
        "ttl left {left:?}"
    );
    assert_eq!(kv.ttl(&forever).await.expect("ttl"), Some(None));
    let too_long = crate::kv::MAX_TTL + Duration::from_secs(1);
    let err = kv
        .set(&key("too-long"), Bytes::from_static(b"v"), Some(too_long))
        .await
        .expect_err("ttl over MAX_TTL");
    assert!(
        matches!(err, crate::Error::InvalidInput(_)),
        "a ttl over MAX_TTL is bad input, got {err:?}"
    );
    assert_eq!(
        kv.get(&key("too-long")).await.expect("get"),
        None,
        "a rejected set writes nothing"
    );
    assert_eq!(kv.ttl(&key("missing")).await.expect("ttl"), None);
    tokio::time::sleep(Duration::from_millis(1700)).await;
    assert_eq!(
        kv.get(&short).await.expect("get"),
        None,
        "expired key still readable"
    );
    assert_eq!(kv.ttl(&short).await.expect("ttl"), None);
    assert!(kv.get(&forever).await.expect("get").is_some());
    kv.set(
        &forever,
        Bytes::from_static(b"v"),
        Some(Duration::from_secs(60)),
    )
    .await
    .expect("set ttl");
    kv.set(&forever, Bytes::from_static(b"w"), None)
        .await
        .expect("set without ttl");
    assert_eq!(
        kv.ttl(&forever).await.expect("ttl"),
        Some(None),
        "a set without ttl clears the old one"
    );
    kv.del(&forever).await.expect("cleanup");
}

/// `del` reports whether the key existed, and the key is gone afterwards.
pub async fn del_removes<F: KeyValueFixture>(f: &F) {
    let names = Names::unique();
    let kv = f.namespace(names.namespace("del"));
    let k = key("doomed");
    kv.set(&k, Bytes::from_static(b"v"), None)
        .await
        .expect("set");
    assert!(kv.del(&k).await.expect("del"));
    assert_eq!(kv.get(&k).await.expect("get"), None);
    assert!(!kv.del(&k).await.expect("second del"));
}

/// The same key in two namespaces names two entries, whatever characters the key holds.
pub async fn namespaces_are_isolated<F: KeyValueFixture>(f: &F) {
    let names = Names::unique();
    let (one, two) = (
        f.namespace(names.namespace("one")),
        f.namespace(names.namespace("two")),
    );
    let tricky = [
        key("shared"),
        key("a:b"),
        key("*"),
        key("one:x"),
        key("two:shared"),
        key("?[ab]\\"),
    ];
    for k in &tricky {
        one.set(k, Bytes::from(format!("one {k}")), None)
            .await
            .expect("set in one");
    }
    for k in &tricky {
        assert_eq!(
            two.get(k).await.expect("get in two"),
            None,
            "key {k} of namespace one visible in two"
        );
    }
    two.set(&key("shared"), Bytes::from_static(b"two"), None)
        .await
        .expect("set in two");
    assert_eq!(
        one.get(&key("shared")).await.expect("get").as_deref(),
        Some(&b"one shared"[..])
    );
    assert!(two.del(&key("shared")).await.expect("del in two"));
    assert!(
        one.get(&key("shared")).await.expect("get").is_some(),
        "a del in two removed the key of one"
    );
    assert!(
        !two.del(&key("a:b")).await.expect("del"),
        "namespace two deleted a key of one"
    );
    for k in &tricky {
        one.del(k).await.expect("cleanup");
    }
}
