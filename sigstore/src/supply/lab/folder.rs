//! The lab folder is trustswap's own, and nothing else is ever deleted.
//!
//! A lab is built in a sibling temporary folder, then swapped in by rename, so a
//! failure leaves the previous lab intact. The folder carries a marker,
//! [`MARKER`], that lists every path the build wrote; a folder is replaced only
//! when it is empty or when every path in it is one the marker lists (so a file a
//! user dropped into a lab is never deleted either). The current folder, a parent
//! of it, a repository root and the home folder are refused outright.
//!
//! A lock file beside the folder (`.<name>.lock`) serialises users of one lab:
//! builders take it exclusively, readers (`lab push`, `verify`) shared. Stale
//! temporary folders of runs that died are removed under the exclusive lock, so
//! private keys are never left behind for long; an interrupt during a build
//! removes the temporary folder at once (see `crate::interrupt`).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::owned::{Owner, name_of, parent_of};

/// The marker file inside every lab folder.
pub const MARKER: &str = crate::owned::LAB_MARKER;

/// How long a second user of the same lab folder waits for the first (seconds);
/// `TRUSTSWAP_LAB_LOCK_WAIT` overrides it.
pub const DEFAULT_LOCK_WAIT_SECS: u64 = 300;

/// How a command uses the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads it (`lab push`, `verify`): several at once.
    Shared,
    /// Builds or replaces it (`lab init`, `run`): alone.
    Exclusive,
}

/// A held lock on a lab folder; released on drop (and by the OS when the process dies).
#[derive(Debug)]
pub struct LabLock {
    _file: File,
    dir: PathBuf,
    access: Access,
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// The lock file of `dir`: beside it, so that it survives the folder's swap.
pub fn lock_path(dir: &Path) -> Result<PathBuf> {
    Ok(parent_of(dir).join(format!(".{}.lock", name_of(dir, "--lab")?)))
}

/// Take the lab's lock, waiting (with a message) while another trustswap holds it.
pub fn lock(dir: &Path, access: Access) -> Result<LabLock> {
    let wait = std::env::var("TRUSTSWAP_LAB_LOCK_WAIT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_LOCK_WAIT_SECS);
    lock_with_wait(dir, access, Duration::from_secs(wait))
}

pub fn lock_with_wait(dir: &Path, access: Access, wait: Duration) -> Result<LabLock> {
    let path = lock_path(dir)?;
    let parent = parent_of(dir);
    if access == Access::Exclusive {
        std::fs::create_dir_all(parent).map_err(write_err(parent))?;
    } else if !parent.is_dir() {
        return Err(no_lab(dir));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(write_err(&path))?;
    let try_lock = |f: &File| match access {
        Access::Shared => f.try_lock_shared(),
        Access::Exclusive => f.try_lock(),
    };
    let start = Instant::now();
    let mut told = false;
    loop {
        match try_lock(&file) {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                if start.elapsed() >= wait {
                    return Err(Error::Internal {
                        message: format!(
                            "another trustswap is still using the lab folder {} after {} s (lock {})",
                            dir.display(),
                            wait.as_secs(),
                            path.display()
                        ),
                    });
                }
                if !told {
                    eprintln!(
                        "waiting for another trustswap using the lab folder {} (lock {}; give each run its own --lab to run them side by side)",
                        dir.display(),
                        path.display()
                    );
                    told = true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(Error::Write { path, source });
            }
        }
    }
    Ok(LabLock {
        _file: file,
        dir: dir.to_path_buf(),
        access,
    })
}

fn no_lab(dir: &Path) -> Error {
    Error::Usage {
        message: format!("no lab in {}", dir.display()),
        hint: "run `trustswap lab init` first (or pass the lab folder it built)".into(),
    }
}

/// Remove temporary and old folders of earlier runs that died (`.<name>.tmp-*`,
/// `.<name>.old-*`): under the exclusive lock nobody else is building this lab.
fn remove_stale(dir: &Path, lock: &LabLock) -> Result<()> {
    debug_assert_eq!(lock.access, Access::Exclusive);
    let name = name_of(dir, "--lab")?;
    let Ok(entries) = std::fs::read_dir(parent_of(dir)) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let stale = [".tmp-", ".old-"]
            .iter()
            .any(|k| file_name.starts_with(&format!(".{name}{k}")));
        if stale && entry.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(entry.path()).map_err(write_err(&entry.path()))?;
        }
    }
    Ok(())
}

/// Build a new lab into a temporary folder with `build`, then swap it in for
/// `dir`. `dir` must be new, empty, or a lab trustswap wrote; the lock must be
/// exclusive. On any failure the previous lab is left as it was.
pub fn replace_with<T>(
    dir: &Path,
    lock: &LabLock,
    seed: u64,
    build: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    if lock.access != Access::Exclusive || lock.dir != dir {
        return Err(Error::Internal {
            message: format!(
                "the lab folder {} is replaced without its exclusive lock",
                dir.display()
            ),
        });
    }
    let owner = Owner::lab(seed);
    owner.check_replaceable(dir, false)?;
    remove_stale(dir, lock)?;
    owner.replace_with(dir, false, build)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build_ok(dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir.join("private")).unwrap();
        std::fs::write(dir.join("private/a.key"), "secret").unwrap();
        std::fs::write(dir.join("catalogue.json"), "{}").unwrap();
        Ok(())
    }

    fn init(dir: &Path) -> Result<()> {
        let l = lock(dir, Access::Exclusive)?;
        replace_with(dir, &l, 0, build_ok)
    }

    #[test]
    fn new_empty_and_own_folders_are_replaced() {
        let t = tempfile::tempdir().unwrap();
        let lab = t.path().join("lab");
        init(&lab).unwrap();
        assert!(lab.join(MARKER).is_file());
        init(&lab).unwrap();
        let empty = t.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        init(&empty).unwrap();
        // Nothing but the two labs and their locks is left beside them.
        let mut names: Vec<String> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".empty.lock", ".lab.lock", "empty", "lab"]);
    }

    #[test]
    fn a_user_file_is_never_deleted() {
        let t = tempfile::tempdir().unwrap();
        let user = t.path().join("mine");
        std::fs::create_dir(&user).unwrap();
        std::fs::write(user.join("notes.txt"), "keep me").unwrap();
        let err = init(&user).unwrap_err();
        assert_eq!(err.exit_code(), crate::exit::USAGE, "{err}");
        assert!(err.to_string().contains("notes.txt"), "{err}");
        assert_eq!(
            std::fs::read_to_string(user.join("notes.txt")).unwrap(),
            "keep me"
        );

        // A file dropped into a real lab is not deleted either.
        let lab = t.path().join("lab");
        init(&lab).unwrap();
        std::fs::write(lab.join("private/mine.txt"), "keep").unwrap();
        let err = init(&lab).unwrap_err();
        assert!(err.to_string().contains("private/mine.txt"), "{err}");
        assert!(lab.join("private/mine.txt").is_file());
    }

    #[test]
    fn a_file_where_the_folder_should_be_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("lab");
        std::fs::write(&f, "x").unwrap();
        assert_eq!(init(&f).unwrap_err().exit_code(), crate::exit::USAGE);
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "x");
    }

    #[test]
    fn a_failed_build_leaves_the_previous_lab_and_no_temp_folder() {
        let t = tempfile::tempdir().unwrap();
        let lab = t.path().join("lab");
        init(&lab).unwrap();
        let before = std::fs::read(lab.join(MARKER)).unwrap();
        let l = lock(&lab, Access::Exclusive).unwrap();
        let err = replace_with(&lab, &l, 1, |d| -> Result<()> {
            std::fs::write(d.join("half"), "x").unwrap();
            Err(Error::Internal {
                message: "boom".into(),
            })
        })
        .unwrap_err();
        assert!(err.to_string().contains("boom"));
        assert_eq!(std::fs::read(lab.join(MARKER)).unwrap(), before);
        let leftovers: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .filter_map(|e| {
                let n = e.unwrap().file_name().to_string_lossy().into_owned();
                n.contains(".tmp-").then_some(n)
            })
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn stale_temp_folders_of_dead_runs_are_removed() {
        let t = tempfile::tempdir().unwrap();
        let lab = t.path().join("lab");
        let stale = t.path().join(".lab.tmp-999999");
        std::fs::create_dir_all(stale.join("private")).unwrap();
        std::fs::write(stale.join("private/ca.key"), "secret").unwrap();
        init(&lab).unwrap();
        assert!(!stale.exists());
    }

    #[test]
    fn a_second_builder_waits_then_gives_up() {
        let t = tempfile::tempdir().unwrap();
        let lab = t.path().join("lab");
        let held = lock(&lab, Access::Exclusive).unwrap();
        let err = lock_with_wait(&lab, Access::Exclusive, Duration::from_millis(300)).unwrap_err();
        assert_eq!(err.exit_code(), crate::exit::UNDECIDED);
        assert!(err.to_string().contains("another trustswap"), "{err}");
        // Readers wait for a builder too; two readers do not wait for each other.
        assert!(lock_with_wait(&lab, Access::Shared, Duration::from_millis(100)).is_err());
        drop(held);
        let r1 = lock_with_wait(&lab, Access::Shared, Duration::ZERO).unwrap();
        let _r2 = lock_with_wait(&lab, Access::Shared, Duration::ZERO).unwrap();
        drop(r1);
    }
}
