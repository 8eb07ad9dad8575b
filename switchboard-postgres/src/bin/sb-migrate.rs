//! `sb-migrate`: applies, reverts and creates the numbered migrations of `migrations/`.
//!
//! ```text
//! sb-migrate up                       apply every pending migration
//! sb-migrate down                     revert the last applied migration
//! sb-migrate status                   list the applied migrations
//! sb-migrate reset                    revert every applied migration, then apply them all
//! sb-migrate create NAME [--dir DIR]  write the next numbered up/down pair (default: migrations)
//! ```
//!
//! `up`, `down` and `status` connect to `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); set `DATABASE_SCHEMA` to work in a schema.

use std::{path::PathBuf, process::ExitCode};

use switchboard_postgres::{PgConfig, PgError};

const USAGE: &str = "usage: sb-migrate up | down | status | reset | create NAME [--dir DIR]
  up       apply every pending migration (applying twice is a no-op)
  down     revert the last applied migration
  status   list the applied migrations
  reset    revert every applied migration (the data goes with them), then apply them all
  create   write NNNN_NAME.up.sql and NNNN_NAME.down.sql into DIR (default: migrations)
environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), DATABASE_SCHEMA";

enum Command {
    Up,
    Down,
    Status,
    Reset,
    Create { name: String, dir: PathBuf },
}

fn parse(args: &[String]) -> Option<Command> {
    match args {
        [cmd] if cmd == "up" => Some(Command::Up),
        [cmd] if cmd == "down" => Some(Command::Down),
        [cmd] if cmd == "status" => Some(Command::Status),
        [cmd] if cmd == "reset" => Some(Command::Reset),
        [cmd, name] if cmd == "create" => Some(Command::Create {
            name: name.clone(),
            dir: PathBuf::from("migrations"),
        }),
        [cmd, name, flag, dir] if cmd == "create" && flag == "--dir" => Some(Command::Create {
            name: name.clone(),
            dir: PathBuf::from(dir),
        }),
        _ => None,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = parse(&args) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match run(command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprint!("error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprint!(": {cause}");
                source = cause.source();
            }
            eprintln!();
            if err.is_transient() {
                eprintln!("is PostgreSQL running at DATABASE_URL? `scripts/test` starts it");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), PgError> {
    if let Command::Create { name, dir } = &command {
        let created = switchboard_postgres::create_migration(dir, name)?;
        println!("created {}", created.up.display());
        println!("created {}", created.down.display());
        return Ok(());
    }
    let mut config = PgConfig::from_env().max_connections(1);
    if let Ok(schema) = std::env::var("DATABASE_SCHEMA") {
        config = config.schema(&schema)?;
    }
    let pool = config.connect().await?;
    match command {
        Command::Up => up(&pool).await?,
        Command::Down => match switchboard_postgres::revert_last(&pool).await? {
            Some(m) => println!("reverted {:04} {}", m.version, m.description),
            None => println!("nothing to revert: no migration is applied"),
        },
        Command::Status => {
            let applied = switchboard_postgres::applied_migrations(&pool).await?;
            if applied.is_empty() {
                println!("no migration is applied");
            }
            for m in applied {
                println!("applied {:04} {}", m.version, m.description);
            }
        }
        Command::Reset => {
            while let Some(m) = switchboard_postgres::revert_last(&pool).await? {
                println!("reverted {:04} {}", m.version, m.description);
            }
            up(&pool).await?;
        }
        Command::Create { .. } => unreachable!("handled above"),
    }
    pool.close().await;
    Ok(())
}

async fn up(pool: &sqlx::PgPool) -> Result<(), PgError> {
    let applied = switchboard_postgres::migrate(pool).await?;
    if applied.is_empty() {
        println!("nothing to apply: the database is up to date");
    }
    for m in applied {
        println!("applied {:04} {}", m.version, m.description);
    }
    Ok(())
}
