//! The harness's settings, from the environment.

/// The variable `name`, or `default` when unset.
pub fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The variable `name` as a number, or `default` when unset; a value that is not a number
/// stops the bench naming the variable.
pub fn number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value}: expected a number")),
        Err(_) => default,
    }
}

/// Rounds per comparison: `SB_BENCH_ROUNDS`, at least 3 (a median and a spread need them).
pub fn rounds() -> usize {
    number("SB_BENCH_ROUNDS", 3).max(3)
}
