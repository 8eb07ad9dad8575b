//! Keyed records through `POST /kafka/produce` from concurrent clients, and the count of the
//! rows they became, by the sequence number each payload carries.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use sqlx::{Connection, PgConnection, Row};
use tokio::{task::JoinHandle, time::Instant};

use crate::live::Http;

/// The clients sending at once.
pub(crate) const CLIENTS: usize = 16;
/// Keys the records spread over (each key stays on one partition).
const KEYS: u64 = 64;

/// What one request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A complete HTTP answer with this status.
    Answered(u16),
    /// The connection was refused: nothing listens.
    Refused,
    /// Connected, but the connection ended without an answer.
    NoAnswer,
}

/// Which request each record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mix {
    /// Every record through `POST /kafka/produce`.
    Produce,
    /// Even records through `POST /kafka/produce`, odd ones through `POST /events`.
    ProduceAndInsert,
}

/// What the gateway answered.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    /// Sequence numbers answered 200.
    pub(crate) ok: BTreeSet<u64>,
    /// Sequence numbers answered otherwise.
    pub(crate) refused: BTreeMap<u64, Outcome>,
    /// When each request was sent, and when its outcome was known.
    pub(crate) timing: BTreeMap<u64, (Instant, Instant)>,
}

/// A run of `total` records tagged `run`, in flight.
pub(crate) struct Load {
    pub(crate) run: String,
    pub(crate) total: u64,
    next: Arc<AtomicU64>,
    sent: Arc<Mutex<Sent>>,
    clients: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts [`CLIENTS`] clients producing records 0..total through the gateway on `port`.
    pub(crate) fn start(port: u16, csrf: &str, total: u64) -> Load {
        Self::start_mix(port, csrf, total, Mix::Produce)
    }

    /// Like [`Load::start`], with a choice of requests. A client stops at its first refused
    /// connection (the gateway is gone).
    pub(crate) fn start_mix(port: u16, csrf: &str, total: u64, mix: Mix) -> Load {
        let run = format!("r{}", uuid::Uuid::new_v4().simple());
        let next = Arc::new(AtomicU64::new(0));
        let sent = Arc::new(Mutex::new(Sent::default()));
        let clients = (0..CLIENTS)
            .map(|_| {
                let (next, sent, run, csrf) =
                    (next.clone(), sent.clone(), run.clone(), csrf.to_owned());
                tokio::spawn(async move {
                    let http = Http::new(port);
                    loop {
                        let seq = next.fetch_add(1, Ordering::Relaxed);
                        if seq >= total {
                            break;
                        }
                        let at = Instant::now();
                        let outcome = send(&http, &csrf, &run, seq, mix).await;
                        let mut sent = sent.lock().unwrap();
                        sent.timing.insert(seq, (at, Instant::now()));
                        if outcome == Outcome::Answered(200) {
                            sent.ok.insert(seq);
                        } else {
                            sent.refused.insert(seq, outcome);
                        }
                        if outcome == Outcome::Refused {
                            break;
                        }
                    }
                })
            })
            .collect();
        Load {
            run,
            total,
            next,
            sent,
            clients,
        }
    }

    /// Records handed to a client so far.
    pub(crate) fn started(&self) -> u64 {
        self.next.load(Ordering::Relaxed).min(self.total)
    }

    /// Waits for every client to finish (bounded) and returns what the gateway answered.
    pub(crate) async fn finish(self, within: Duration) -> Sent {
        let deadline = Instant::now() + within;
        for client in self.clients {
            tokio::time::timeout_at(deadline, client)
                .await
                .unwrap_or_else(|_| panic!("the load did not finish within {within:?}"))
                .unwrap();
        }
        Arc::try_unwrap(self.sent)
            .expect("clients are done")
            .into_inner()
            .unwrap()
    }
}

/// One request carrying `{"run": run, "seq": seq}`.
async fn send(http: &Http, csrf: &str, run: &str, seq: u64, mix: Mix) -> Outcome {
    let payload = format!("%7B%22run%22%3A%22{run}%22%2C%22seq%22%3A{seq}%7D");
    let answer = if mix == Mix::Produce || seq.is_multiple_of(2) {
        let key = seq % KEYS;
        let form = format!("topic=switchboard.events&key=k{key}&payload={payload}");
        http.try_post("/kafka/produce", csrf, &form).await
    } else {
        let form = format!("source=faults&topic=drain&payload={payload}");
        http.try_post("/events", csrf, &form).await
    };
    match answer {
        Ok(answer) if answer.status != 0 => Outcome::Answered(answer.status),
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => Outcome::Refused,
        _ => Outcome::NoAnswer,
    }
}

/// The rows of one run in the `events` table, counted per sequence number.
pub(crate) struct Rows {
    conn: PgConnection,
    run: String,
}

/// How the rows compare with the records answered 200.
#[derive(Debug)]
pub(crate) struct Tally {
    pub(crate) rows: u64,
    pub(crate) missing: Vec<u64>,
    pub(crate) duplicated: Vec<u64>,
    pub(crate) unexpected: Vec<u64>,
}

impl Rows {
    pub(crate) async fn connect(database_url: &str, run: &str) -> Rows {
        Rows {
            conn: PgConnection::connect(database_url).await.unwrap(),
            run: run.to_owned(),
        }
    }

    /// Rows of the run, or `None` while the database cannot be read.
    pub(crate) async fn try_count(&mut self) -> Option<u64> {
        let row = sqlx::query("SELECT count(*) FROM events WHERE payload->>'run' = $1")
            .bind(&self.run)
            .fetch_one(&mut self.conn)
            .await
            .ok()?;
        Some(row.get::<i64, _>(0) as u64)
    }

    pub(crate) async fn count(&mut self) -> u64 {
        self.try_count()
            .await
            .expect("the events table is readable")
    }

    /// Waits until at least `n` rows exist; fails saying how many came.
    pub(crate) async fn wait_for(&mut self, n: u64, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            let rows = self.count().await;
            if rows >= n {
                return rows;
            }
            assert!(
                Instant::now() < deadline,
                "only {rows} of {n} rows within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the rows stop short of nothing (every `ok` record stored) or `within`
    /// passes, then compares them with `ok`.
    pub(crate) async fn settle(&mut self, ok: &BTreeSet<u64>, within: Duration) -> Tally {
        let deadline = Instant::now() + within;
        while self.count().await < ok.len() as u64 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.tally(ok).await
    }

    /// Compares the rows with `ok` by sequence number.
    pub(crate) async fn tally(&mut self, ok: &BTreeSet<u64>) -> Tally {
        let per_seq: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT (payload->>'seq')::bigint, count(*) FROM events \
             WHERE payload->>'run' = $1 GROUP BY 1",
        )
        .bind(&self.run)
        .fetch_all(&mut self.conn)
        .await
        .unwrap();
        let stored: BTreeMap<u64, i64> = per_seq
            .into_iter()
            .map(|(seq, n)| (seq as u64, n))
            .collect();
        Tally {
            rows: stored.values().sum::<i64>() as u64,
            missing: ok
                .iter()
                .filter(|seq| !stored.contains_key(seq))
                .copied()
                .collect(),
            duplicated: stored
                .iter()
                .filter(|(_, n)| **n > 1)
                .map(|(seq, _)| *seq)
                .collect(),
            unexpected: stored
                .keys()
                .filter(|seq| !ok.contains(seq))
                .copied()
                .collect(),
        }
    }
}

impl Tally {
    /// One line of figures: what was answered and what was stored.
    pub(crate) fn summary(&self, sent: &Sent) -> String {
        format!(
            "records answered 200: {}, not: {}; rows: {}, missing: {}, duplicated: {}, stored though not answered 200: {}",
            sent.ok.len(),
            sent.refused.len(),
            self.rows,
            self.missing.len(),
            self.duplicated.len(),
            self.unexpected.len()
        )
    }

    /// Fails unless every record answered 200 is exactly one row.
    pub(crate) fn assert_exactly_once(&self, scenario: &str) {
        assert!(
            self.missing.is_empty() && self.duplicated.is_empty(),
            "{scenario}: {} missing (first {:?}), {} duplicated (first {:?})",
            self.missing.len(),
            &self.missing[..self.missing.len().min(10)],
            self.duplicated.len(),
            &self.duplicated[..self.duplicated.len().min(10)],
        );
    }
}
