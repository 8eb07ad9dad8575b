//! Migrations against live PostgreSQL: round trips, idempotence, the `sb-migrate` tool, and
//! the rule that no SQL of this crate uses OFFSET.

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use common::{TestDatabase, TestSchema, events_has_column, table_exists};
use switchboard_postgres::{MIGRATOR, applied_migrations, migrate, revert_last};

fn versions(infos: &[switchboard_postgres::MigrationInfo]) -> Vec<i64> {
    infos.iter().map(|m| m.version).collect()
}

fn all_versions() -> Vec<i64> {
    let mut v: Vec<i64> = MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .collect();
    v.sort_unstable();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_up_down_up_in_a_schema() {
    let schema = TestSchema::new().await;
    let pool = &schema.pool;
    assert_eq!(versions(&migrate(pool).await.unwrap()), all_versions());
    assert!(table_exists(pool, "events").await);
    assert!(events_has_column(pool, "idempotency_key").await);

    let reverted = revert_last(pool).await.unwrap().expect("one to revert");
    assert_eq!(reverted.version, 2);
    assert_eq!(reverted.description, "add idempotency key");
    assert!(
        table_exists(pool, "events").await,
        "only the last is reverted"
    );
    assert!(!events_has_column(pool, "idempotency_key").await);

    assert_eq!(revert_last(pool).await.unwrap().map(|m| m.version), Some(1));
    assert!(!table_exists(pool, "events").await);
    assert_eq!(revert_last(pool).await.unwrap(), None, "nothing left");
    assert!(applied_migrations(pool).await.unwrap().is_empty());

    assert_eq!(versions(&migrate(pool).await.unwrap()), all_versions());
    assert!(events_has_column(pool, "idempotency_key").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applying_twice_is_a_no_op() {
    let schema = TestSchema::migrated().await;
    let pool = &schema.pool;
    sqlx::query("INSERT INTO events (source, topic) VALUES ('test', 'kept')")
        .execute(pool)
        .await
        .unwrap();
    let before: Vec<(i64, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT version, installed_on FROM _sqlx_migrations ORDER BY version")
            .fetch_all(pool)
            .await
            .unwrap();
    assert!(migrate(pool).await.unwrap().is_empty(), "nothing pending");
    let after: Vec<(i64, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT version, installed_on FROM _sqlx_migrations ORDER BY version")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(before, after);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(rows, 1, "data survives a second run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_of_one_schema_apply_once() {
    let schema = TestSchema::new().await;
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let pool = schema.pool.clone();
            tokio::spawn(async move { migrate(&pool).await })
        })
        .collect();
    let mut applied = Vec::new();
    for run in runs {
        applied.extend(versions(&run.await.unwrap().unwrap()));
    }
    applied.sort_unstable();
    assert_eq!(
        applied,
        all_versions(),
        "each migration applied exactly once"
    );
}

fn sb_migrate(args: &[&str], database_url: &str, dir: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sb-migrate"));
    cmd.args(args).env("DATABASE_URL", database_url);
    cmd.env_remove("DATABASE_SCHEMA");
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    cmd.output().expect("run sb-migrate")
}

fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "sb-migrate failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs sb-migrate on `url` off the async threads; its stdout, after asserting success.
async fn run_tool(args: &'static [&'static str], url: String) -> String {
    tokio::task::spawn_blocking(move || stdout_of(&sb_migrate(args, &url, None)))
        .await
        .unwrap()
}

/// The "done when": the tool round-trips up → down → up on a fresh database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_round_trips_on_a_fresh_database() {
    let db = TestDatabase::new().await;
    let url = db.url.clone();
    let run = |args: &'static [&'static str]| run_tool(args, url.clone());
    let up = run(&["up"]).await;
    assert!(up.contains("applied 0001 create events"), "{up}");
    assert!(up.contains("applied 0002 add idempotency key"), "{up}");
    let again = run(&["up"]).await;
    assert!(again.contains("nothing to apply"), "{again}");

    let pool = db.pool().await;
    assert!(events_has_column(&pool, "idempotency_key").await);
    let down = run(&["down"]).await;
    assert!(down.contains("reverted 0002 add idempotency key"), "{down}");
    assert!(table_exists(&pool, "events").await);
    assert!(!events_has_column(&pool, "idempotency_key").await);
    let down = run(&["down"]).await;
    assert!(down.contains("reverted 0001 create events"), "{down}");
    assert!(!table_exists(&pool, "events").await);
    let down = run(&["down"]).await;
    assert!(down.contains("nothing to revert"), "{down}");

    let up = run(&["up"]).await;
    assert!(
        up.contains("applied 0001") && up.contains("applied 0002"),
        "{up}"
    );
    assert!(events_has_column(&pool, "idempotency_key").await);
    let status = run(&["status"]).await;
    assert!(
        status.contains("applied 0002 add idempotency key"),
        "{status}"
    );
    pool.close().await;
}

/// `reset` reverts every migration (the rows go with the tables), then applies them all again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_resets_every_migration() {
    let db = TestDatabase::new().await;
    let url = db.url.clone();
    let run = |args: &'static [&'static str]| run_tool(args, url.clone());
    run(&["up"]).await;
    let pool = db.pool().await;
    sqlx::query("INSERT INTO events (source, topic) VALUES ('test', 'reset')")
        .execute(&pool)
        .await
        .unwrap();

    let reset = run(&["reset"]).await;
    for version in all_versions() {
        for verb in ["reverted", "applied"] {
            let line = format!("{verb} {version:04} ");
            assert!(reset.contains(&line), "no `{line}` in: {reset}");
        }
    }
    let reverts_first = reset.find("reverted").unwrap() < reset.find("applied").unwrap();
    assert!(
        reverts_first,
        "every revert comes before the applies: {reset}"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "the reset kept old rows");
    assert_eq!(
        versions(&applied_migrations(&pool).await.unwrap()),
        all_versions()
    );
    pool.close().await;
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(common::unique_name());
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn tool_creates_the_next_numbered_pair() {
    let dir = temp_dir();
    let migrations = dir.join("migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    for file in std::fs::read_dir(repo_migrations()).unwrap() {
        let path = file.unwrap().path();
        std::fs::copy(&path, migrations.join(path.file_name().unwrap())).unwrap();
    }
    let next = all_versions().last().copied().unwrap_or(0) + 1;

    // The default directory is ./migrations.
    let out = stdout_of(&sb_migrate(&["create", "add_users"], "unused", Some(&dir)));
    let up = format!("{next:04}_add_users.up.sql");
    let down = format!("{next:04}_add_users.down.sql");
    assert!(out.contains(&up) && out.contains(&down), "{out}");
    assert!(migrations.join(&up).is_file() && migrations.join(&down).is_file());

    let other = dir.join("elsewhere");
    let out = stdout_of(&sb_migrate(
        &["create", "first", "--dir", other.to_str().unwrap()],
        "unused",
        None,
    ));
    assert!(out.contains("0001_first.up.sql"), "{out}");
    assert!(other.join("0001_first.down.sql").is_file());

    let bad = sb_migrate(&["create", "Bad-Name"], "unused", Some(&dir));
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("invalid migration name"), "{err}");

    let usage = sb_migrate(&["sideways"], "unused", None);
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("usage: sb-migrate"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tool_says_what_to_start_when_the_server_is_down() {
    let out = sb_migrate(&["up"], "postgres://postgres@127.0.0.1:1/test", None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("scripts/test"), "{err}");
}

fn repo_migrations() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations")
}

/// Keyset pagination only: no SQL in this crate or its migrations skips rows with OFFSET.
#[test]
fn no_sql_uses_offset() {
    let crate_src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect_files(&crate_src, &mut files);
    collect_files(&repo_migrations(), &mut files);
    let sql_files = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "sql"))
        .count();
    assert!(sql_files >= 2, "found no migrations to check");
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let words = line
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .filter(|w| !w.is_empty());
            for word in words {
                assert!(
                    !word.eq_ignore_ascii_case("offset"),
                    "{}:{} mentions OFFSET; page with `WHERE id < $cursor` instead: {line}",
                    file.display(),
                    n + 1
                );
            }
        }
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs" || e == "sql") {
            out.push(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_works_in_the_schema_it_is_given() {
    let schema = TestSchema::new().await;
    let (url, name) = (common::database_url(), schema.name.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_sb-migrate"))
            .arg("up")
            .env("DATABASE_URL", url)
            .env("DATABASE_SCHEMA", name)
            .output()
            .expect("run sb-migrate")
    })
    .await
    .unwrap();
    assert!(stdout_of(&out).contains("applied 0002"));
    assert!(table_exists(&schema.pool, "events").await);
    assert_eq!(
        versions(&applied_migrations(&schema.pool).await.unwrap()),
        all_versions()
    );
}
