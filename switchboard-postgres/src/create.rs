//! Writing the next numbered pair of migration files (the seed's `make migrate-create`).

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use crate::PgError;

/// The up and down files of a new migration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMigration {
    /// Its number: one more than the highest in the directory.
    pub version: i64,
    /// `<version>_<name>.up.sql`.
    pub up: PathBuf,
    /// `<version>_<name>.down.sql`.
    pub down: PathBuf,
}

/// Creates `NNNN_<name>.up.sql` and `NNNN_<name>.down.sql` in `dir`, numbered one above the
/// highest migration there (zero-padded to 4 digits), and returns their paths.
///
/// `name` must be 1 to 64 lowercase letters, digits and underscores. Existing files are never
/// overwritten. New files are embedded by [`MIGRATOR`](crate::MIGRATOR) at the next build.
pub fn create_migration(dir: &Path, name: &str) -> Result<NewMigration, PgError> {
    check_migration_name(name)?;
    let dir_error = |source| PgError::MigrationsDir {
        path: dir.to_owned(),
        source,
    };
    fs::create_dir_all(dir).map_err(dir_error)?;
    let version = highest_version(dir).map_err(dir_error)? + 1;
    let stem = format!("{version:04}_{name}");
    let up = dir.join(format!("{stem}.up.sql"));
    let down = dir.join(format!("{stem}.down.sql"));
    write_new(&up, &format!("-- {stem}: apply\n")).map_err(dir_error)?;
    if let Err(err) = write_new(&down, &format!("-- {stem}: revert what the up file did\n")) {
        let _ = fs::remove_file(&up);
        return Err(dir_error(err));
    }
    Ok(NewMigration { version, up, down })
}

fn check_migration_name(name: &str) -> Result<(), PgError> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(PgError::InvalidMigrationName {
            name: name.escape_debug().take(120).collect(),
        })
    }
}

/// The highest `<version>` among `<version>_<description>.sql` files in `dir`, or 0.
fn highest_version(dir: &Path) -> io::Result<i64> {
    let mut highest = 0;
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((version, rest)) = name.split_once('_') else {
            continue;
        };
        if let (true, Ok(version)) = (rest.ends_with(".sql"), version.parse::<i64>()) {
            highest = highest.max(version);
        }
    }
    Ok(highest)
}

fn write_new(path: &Path, contents: &str) -> io::Result<()> {
    use io::Write;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?
        .write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sb-migrations-{tag}-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn numbers_follow_the_highest_existing() {
        let dir = temp_dir("next");
        fs::write(dir.join("0001_create_events.up.sql"), "").unwrap();
        fs::write(dir.join("0001_create_events.down.sql"), "").unwrap();
        fs::write(dir.join("0007_later.up.sql"), "").unwrap();
        fs::write(dir.join("README.md"), "").unwrap();
        let created = create_migration(&dir, "add_users").unwrap();
        assert_eq!(created.version, 8);
        assert_eq!(created.up, dir.join("0008_add_users.up.sql"));
        assert_eq!(created.down, dir.join("0008_add_users.down.sql"));
        assert!(created.up.is_file() && created.down.is_file());
        assert_eq!(create_migration(&dir, "next").unwrap().version, 9);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn empty_directory_starts_at_one() {
        let dir = temp_dir("empty").join("migrations");
        let created = create_migration(&dir, "init").unwrap();
        assert_eq!(created.version, 1);
        assert!(dir.join("0001_init.up.sql").is_file());
        fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn bad_names_are_refused_and_write_nothing() {
        let dir = temp_dir("bad");
        for bad in ["", "Add", "a-b", "../x", "a b", "x.sql", &"a".repeat(65)] {
            assert!(
                matches!(
                    create_migration(&dir, bad),
                    Err(PgError::InvalidMigrationName { .. })
                ),
                "{bad:?}"
            );
        }
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }
}
