//! `sb-kafka-topics`: lists the brokers' topics with their partition counts, through the admin
//! client.
//!
//! ```text
//! sb-kafka-topics         the topics, internal ones (`__…`) left out
//! sb-kafka-topics --all   every topic
//! ```
//!
//! Connects to `KAFKA_BROKERS` (default `127.0.0.1:9092`).

use std::process::ExitCode;

use switchboard_kafka::{KafkaAdmin, KafkaConfig};

const USAGE: &str = "usage: sb-kafka-topics [--all]
  lists the topics on KAFKA_BROKERS (default 127.0.0.1:9092) with their partition counts;
  --all also lists the internal topics (__consumer_offsets, …)";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let all = match args.as_slice() {
        [] => false,
        [flag] if flag == "--all" => true,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = KafkaConfig::from_env();
    let topics = match KafkaAdmin::new(&config) {
        Ok(admin) => admin.topics().await,
        Err(err) => Err(err),
    };
    match topics {
        Ok(topics) => {
            let shown: Vec<_> = topics
                .iter()
                .filter(|(name, _)| all || !name.starts_with("__"))
                .collect();
            if shown.is_empty() {
                println!("no topics on {}", config.brokers());
            }
            let width = shown.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
            for (name, partitions) in shown {
                let unit = if *partitions == 1 {
                    "partition"
                } else {
                    "partitions"
                };
                println!("{name:<width$}  {partitions} {unit}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprint!("error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprint!(": {cause}");
                source = cause.source();
            }
            eprintln!(
                "\nis a Kafka broker listening on KAFKA_BROKERS={}?",
                config.brokers()
            );
            ExitCode::FAILURE
        }
    }
}
