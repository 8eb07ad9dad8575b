//! No key can read, write or delete an entry of another namespace or another key prefix,
//! whatever separators, glob characters or namespace names it holds.

mod common;

use bytes::Bytes;
use switchboard_core::{Error, Key, KeyValue, testkit::Names};
use switchboard_redis::{Redis, RedisKeyValue};

fn key(k: &str) -> Key {
    Key::new(k).expect("valid test key")
}

async fn raw_get(redis: &Redis, redis_key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET")
        .arg(redis_key)
        .query_async(&mut redis.connection())
        .await
        .expect("raw GET")
}

/// Every Redis key under `<prefix>:<namespace>:`, found with a server-side `SCAN`.
async fn stored_keys(redis: &Redis, kv: &RedisKeyValue) -> Vec<String> {
    let pattern = kv.redis_key(&key("*"));
    let mut conn = redis.connection();
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .expect("SCAN");
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys
}

#[tokio::test]
async fn keys_are_stored_under_prefix_and_namespace() {
    let redis = common::connect().await;
    let names = Names::unique();
    let ns = names.namespace("layout");
    let kv = redis.key_value(ns.clone());
    let k = key("a:b*?[c]");
    assert_eq!(kv.redis_key(&k), format!("sbtest:{ns}:a:b*?[c]"));
    kv.set(&k, Bytes::from_static(b"v"), None)
        .await
        .expect("set");
    assert_eq!(
        raw_get(&redis, &kv.redis_key(&k)).await.as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(stored_keys(&redis, &kv).await, [kv.redis_key(&k)]);
    assert!(kv.del(&k).await.expect("cleanup"));
}

#[tokio::test]
async fn a_key_naming_another_namespace_stays_in_its_own() {
    let redis = common::connect().await;
    let names = Names::unique();
    let (ns_a, ns_b) = (names.namespace("a"), names.namespace("b"));
    let (a, b) = (redis.key_value(ns_a.clone()), redis.key_value(ns_b.clone()));
    b.set(&key("secret"), Bytes::from_static(b"b's secret"), None)
        .await
        .expect("set in b");
    // Spelled the way b's entry is stored, with and without the prefix.
    let forged = [
        key(&format!("{ns_b}:secret")),
        key(&format!("sbtest:{ns_b}:secret")),
        key(&format!(":{ns_b}:secret")),
        key(&format!("../{ns_b}:secret")),
    ];
    for k in &forged {
        assert_eq!(a.get(k).await.expect("get"), None, "{k} read b's entry");
        assert_eq!(a.ttl(k).await.expect("ttl"), None, "{k} saw b's entry");
        assert!(!a.del(k).await.expect("del"), "{k} deleted b's entry");
        a.set(k, Bytes::from_static(b"a's write"), None)
            .await
            .expect("set");
    }
    assert_eq!(
        b.get(&key("secret")).await.expect("get").as_deref(),
        Some(&b"b's secret"[..]),
        "a write in a reached b"
    );
    assert_eq!(stored_keys(&redis, &b).await, [b.redis_key(&key("secret"))]);
    assert_eq!(stored_keys(&redis, &a).await.len(), forged.len());
    for k in &forged {
        assert!(a.del(k).await.expect("cleanup"));
    }
    assert!(b.del(&key("secret")).await.expect("cleanup"));
}

#[tokio::test]
async fn glob_characters_are_plain_text() {
    let redis = common::connect().await;
    let names = Names::unique();
    let (a, b) = (
        redis.key_value(names.namespace("a")),
        redis.key_value(names.namespace("b")),
    );
    for k in ["x1", "x2", "y"] {
        a.set(&key(k), Bytes::from_static(b"v"), None)
            .await
            .expect("set");
    }
    for glob in ["*", "x*", "x?", "x[12]", "[a-z]*", "\\*"] {
        let g = key(glob);
        assert_eq!(a.get(&g).await.expect("get"), None, "{glob} matched a key");
        assert!(!a.del(&g).await.expect("del"), "{glob} deleted a key");
        assert!(!b.del(&g).await.expect("del"), "{glob} in b deleted a key");
    }
    a.set(&key("*"), Bytes::from_static(b"star"), None)
        .await
        .expect("set *");
    assert_eq!(b.get(&key("*")).await.expect("get"), None);
    assert_eq!(
        a.get(&key("x1")).await.expect("get").as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(stored_keys(&redis, &a).await.len(), 4, "x1, x2, y and *");
    assert!(stored_keys(&redis, &b).await.is_empty());
    for k in ["x1", "x2", "y", "*"] {
        assert!(a.del(&key(k)).await.expect("cleanup"));
    }
}

#[tokio::test]
async fn key_prefixes_are_isolated() {
    let names = Names::unique();
    let ns = names.namespace("shared");
    let one = common::connect().await;
    let other = common::connect_with(common::config().with_key_prefix(names.id())).await;
    let (kv_one, kv_other) = (one.key_value(ns.clone()), other.key_value(ns.clone()));
    kv_one
        .set(&key("k"), Bytes::from_static(b"one"), None)
        .await
        .expect("set");
    assert_eq!(kv_other.get(&key("k")).await.expect("get"), None);
    // `sbtest:<ns>:k` spelled as a key of the other prefix.
    let forged = key(&format!("sbtest:{ns}:k"));
    assert_eq!(
        kv_other.get(&key(&format!("{ns}:k"))).await.expect("get"),
        None
    );
    assert!(!kv_other.del(&forged).await.expect("del"));
    assert!(kv_one.del(&key("k")).await.expect("cleanup"));
}

#[test]
fn control_characters_never_become_keys() {
    for bad in ["a\nb", "a\r\nb", "\u{0}", "tab\there"] {
        let err = Error::from(Key::new(bad).expect_err("control characters are rejected"));
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
        assert!(!err.is_transient());
    }
}

#[tokio::test]
async fn bad_prefix_is_rejected_at_connect() {
    let err = switchboard_redis::Redis::connect(common::config().with_key_prefix("a:b"))
        .await
        .expect_err("a prefix with the separator");
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert!(err.to_string().contains("key prefix"), "{err}");
}
