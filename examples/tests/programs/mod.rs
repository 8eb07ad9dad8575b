//! Where the servers and tools that tests and benches start are installed (the fault suite
//! and the bench crate include this file).

use std::path::{Path, PathBuf};

/// The first of `candidates` that exists, else `name` on the `PATH`; panics naming what to
/// install.
pub(crate) fn program(name: &str, candidates: &[PathBuf]) -> PathBuf {
    candidates
        .iter()
        .find(|path| path.exists())
        .cloned()
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|path| path.exists())
            })
        })
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed (scripts/test installs tansu; nats-server, redis-server \
                 and wrk come from Debian's packages)"
            )
        })
}

/// tansu: `SB_TANSU` (set by scripts/test), else `~/.cargo/bin/tansu`, else the `PATH`.
pub(crate) fn tansu_program() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_default();
    let candidates: Vec<PathBuf> = std::env::var("SB_TANSU")
        .into_iter()
        .map(PathBuf::from)
        .chain([Path::new(&home).join(".cargo/bin/tansu")])
        .collect();
    program("tansu", &candidates)
}
