//! Folders trustswap owns: the lab, report folders, rendered policy sets.
//!
//! Whatever trustswap writes as a folder is written whole into a sibling
//! temporary folder, then swapped in by rename: a failure leaves what was
//! there before intact and never leaves half a report (a `result.json` saying
//! "holds" from a run that failed). The folder carries a marker file that lists
//! every path trustswap wrote; a folder is replaced only when it is empty, or
//! when every path in it is one its marker lists, so a file a user put there is
//! never deleted. `--force` replaces a folder of other files, but never the
//! current folder, a parent of it, a repository root, the home folder or the
//! root.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Marker of report folders and rendered policy sets. No extension, so that
/// `kubectl apply -f DIR` passes over it.
pub const OUTPUT_MARKER: &str = ".trustswap-output";
/// Marker of lab folders.
pub const LAB_MARKER: &str = ".trustswap-lab.json";

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Marker {
    trustswap: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    /// Every path written, relative, `/`-separated: `d` folder, `f` file.
    entries: BTreeMap<String, char>,
}

/// What kind of folder, and how to say so in errors.
#[derive(Debug, Clone)]
pub struct Owner {
    kind: &'static str,
    marker: &'static str,
    seed: Option<u64>,
    flag: &'static str,
}

impl Owner {
    /// A lab folder (`lab init --dir`, `run --lab`). Never replaced by force.
    pub fn lab(seed: u64) -> Self {
        Owner {
            kind: "lab",
            marker: LAB_MARKER,
            seed: Some(seed),
            flag: "--lab / --dir",
        }
    }

    /// A report folder or rendered policy set (`--out`).
    pub fn output() -> Self {
        Owner {
            kind: "output",
            marker: OUTPUT_MARKER,
            seed: None,
            flag: "--out",
        }
    }

    fn refuse(&self, dir: &Path, message: String, forcible: bool) -> Error {
        let hint = if forcible {
            format!(
                "trustswap replaces only a folder it wrote (marked by {}) or an empty one: name a new folder with {}, or pass --force to replace this one",
                self.marker, self.flag
            )
        } else {
            format!(
                "trustswap replaces only a {} folder it wrote (marked by {}) or an empty one: name a new or empty folder with {}, or move the files away yourself",
                self.kind, self.marker, self.flag
            )
        };
        Error::Output {
            path: dir.to_path_buf(),
            message,
            hint,
        }
    }

    /// Whether `dir` may be replaced; refuses with the reason otherwise.
    /// `Ok(false)`: nothing is there yet.
    pub fn check_replaceable(&self, dir: &Path, force: bool) -> Result<bool> {
        let meta = match std::fs::symlink_metadata(dir) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(source) => {
                return Err(Error::Read {
                    path: dir.to_path_buf(),
                    source,
                });
            }
        };
        let never = |m: &str| {
            let mut e = self.refuse(dir, m.to_owned(), false);
            if let Error::Output { hint, .. } = &mut e {
                *hint = format!("name another folder with {}", self.flag);
            }
            e
        };
        if meta.file_type().is_symlink() {
            return Err(never(
                "is a symbolic link; trustswap replaces neither a link nor what it points to",
            ));
        }
        if !meta.is_dir() {
            return Err(never("exists and is not a folder"));
        }
        refuse_precious(dir).map_err(|m| never(&m))?;
        let actual = tree(dir)?;
        if actual.is_empty() {
            return Ok(true);
        }
        let forcible = force && self.kind != "lab";
        if forcible {
            return Ok(true);
        }
        let marker_path = dir.join(self.marker);
        let marker: Marker = match crate::input::read_capped(&marker_path, 64 << 20) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                self.refuse(
                    dir,
                    format!(
                        "has a marker that is not trustswap's ({}: {e})",
                        self.marker
                    ),
                    self.kind != "lab",
                )
            })?,
            Err(_) => {
                let sample: Vec<&str> = actual.keys().take(3).map(String::as_str).collect();
                // A lab built before labs carried a marker: say so, never guess.
                let older_lab = self.kind == "lab"
                    && actual.contains_key("catalogue.json")
                    && actual.contains_key("layout");
                return Err(self.refuse(
                    dir,
                    format!(
                        "is not empty and trustswap did not write it (no {}; it holds {}){}",
                        self.marker,
                        sample.join(", "),
                        if older_lab {
                            format!("; it looks like a lab from an older trustswap, which carried no marker: if it is, remove it once (rm -r {})", dir.display())
                        } else {
                            String::new()
                        }
                    ),
                    self.kind != "lab",
                ));
            }
        };
        let foreign: Vec<&str> = actual
            .iter()
            .filter(|(p, k)| p.as_str() != self.marker && marker.entries.get(*p) != Some(k))
            .map(|(p, _)| p.as_str())
            .collect();
        if !foreign.is_empty() {
            return Err(self.refuse(
                dir,
                format!(
                    "holds {} path(s) trustswap did not write ({}{})",
                    foreign.len(),
                    foreign
                        .iter()
                        .take(3)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", "),
                    if foreign.len() > 3 { ", ..." } else { "" }
                ),
                self.kind != "lab",
            ));
        }
        Ok(true)
    }

    /// Write a new folder with `build` into a sibling temporary folder, mark it,
    /// and swap it in for `dir` (checked with [`Owner::check_replaceable`]).
    pub fn replace_with<T>(
        &self,
        dir: &Path,
        force: bool,
        build: impl FnOnce(&Path) -> Result<T>,
    ) -> Result<T> {
        self.check_replaceable(dir, force)?;
        let name = name_of(dir, self.flag)?;
        let parent = parent_of(dir);
        std::fs::create_dir_all(parent).map_err(|e| self.cannot_create(parent, &e))?;
        let pid = std::process::id();
        let tmp_path = parent.join(format!(".{name}.tmp-{pid}"));
        if tmp_path.exists() {
            let _ = std::fs::remove_dir_all(&tmp_path);
        }
        // Registered before it exists: an interrupt at any moment removes it.
        let on_interrupt = crate::interrupt::remove_on_interrupt(tmp_path.clone());
        std::fs::create_dir(&tmp_path).map_err(|e| self.cannot_create(&tmp_path, &e))?;
        let mut tmp = TempDir {
            _on_interrupt: on_interrupt,
            path: tmp_path,
            armed: true,
        };
        let value = build(&tmp.path)?;
        let marker = Marker {
            trustswap: self.kind.to_owned(),
            seed: self.seed,
            entries: tree(&tmp.path)?,
        };
        let json = serde_json::to_vec_pretty(&marker).map_err(|e| Error::Internal {
            message: format!("failed to serialise the folder marker: {e}"),
        })?;
        crate::yaml::write_atomic(&tmp.path.join(self.marker), &json)?;

        // Checked again now: files may have appeared while the folder was written.
        if self.check_replaceable(dir, force)? {
            let old = parent.join(format!(".{name}.old-{pid}"));
            std::fs::rename(dir, &old).map_err(|source| Error::Write {
                path: dir.to_path_buf(),
                source,
            })?;
            if let Err(source) = std::fs::rename(&tmp.path, dir) {
                // Put the previous folder back; the new one is removed by the guard.
                let _ = std::fs::rename(&old, dir);
                return Err(Error::Write {
                    path: dir.to_path_buf(),
                    source,
                });
            }
            tmp.armed = false;
            if let Err(e) = std::fs::remove_dir_all(&old) {
                eprintln!(
                    "warning: the previous folder was left in {} ({e})",
                    old.display()
                );
            }
        } else {
            std::fs::rename(&tmp.path, dir).map_err(|source| Error::Write {
                path: dir.to_path_buf(),
                source,
            })?;
            tmp.armed = false;
        }
        Ok(value)
    }

    fn cannot_create(&self, path: &Path, e: &std::io::Error) -> Error {
        Error::Output {
            path: path.to_path_buf(),
            message: format!("cannot create a folder there ({e})"),
            hint: format!("name a folder you can write to with {}", self.flag),
        }
    }
}

/// Refuses the folders no command may ever replace: the current folder, a
/// parent of it, the root, the home folder, a repository root.
fn refuse_precious(dir: &Path) -> std::result::Result<(), String> {
    let canon = dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve the path ({e})"))?;
    if let Ok(cwd) = std::env::current_dir().and_then(|c| c.canonicalize())
        && cwd.starts_with(&canon)
    {
        return Err(if cwd == canon {
            "is the current folder".into()
        } else {
            "is a parent of the current folder".into()
        });
    }
    let home = std::env::var_os("HOME").and_then(|h| PathBuf::from(h).canonicalize().ok());
    if canon.parent().is_none() || home.as_deref() == Some(canon.as_path()) {
        return Err("is the root or the home folder".into());
    }
    if canon.join(".git").exists() {
        return Err("is a repository root (it holds .git)".into());
    }
    Ok(())
}

pub fn parent_of(dir: &Path) -> &Path {
    dir.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

pub fn name_of(dir: &Path, flag: &str) -> Result<String> {
    match dir.components().next_back() {
        Some(Component::Normal(n)) => Ok(n.to_string_lossy().into_owned()),
        _ => Err(Error::Output {
            path: dir.to_path_buf(),
            message: "is not a folder trustswap can own (`.`, `..` or a root)".into(),
            hint: format!("name a new or empty folder with {flag}"),
        }),
    }
}

/// Every path below `dir`, relative: `d` folder, `f` regular file, `l` link or other.
fn tree(dir: &Path) -> Result<BTreeMap<String, char>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let here = dir.join(&rel);
        let read_err = |path: PathBuf| move |source| Error::Read { path, source };
        for entry in std::fs::read_dir(&here).map_err(read_err(here.clone()))? {
            let entry = entry.map_err(read_err(here.clone()))?;
            let ft = entry.file_type().map_err(read_err(entry.path()))?;
            let r = rel.join(entry.file_name());
            let key = r.to_string_lossy().replace('\\', "/");
            let kind = if ft.is_dir() {
                stack.push(r);
                'd'
            } else if ft.is_file() {
                'f'
            } else {
                'l'
            };
            out.insert(key, kind);
        }
    }
    Ok(out)
}

/// Removes a folder when dropped, unless disarmed (every early return and panic),
/// and on an interrupt while it lives.
struct TempDir {
    path: PathBuf,
    armed: bool,
    _on_interrupt: crate::interrupt::CleanupGuard,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_report(dir: &Path) -> Result<()> {
        std::fs::write(dir.join("result.json"), "{}").unwrap();
        Ok(())
    }

    #[test]
    fn an_output_folder_is_replaced_whole_and_user_files_need_force() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        let o = Owner::output();
        o.replace_with(&out, false, write_report).unwrap();
        o.replace_with(&out, false, write_report).unwrap();
        std::fs::write(out.join("stale.yaml"), "x").unwrap();
        let err = o.replace_with(&out, false, write_report).unwrap_err();
        assert_eq!(err.exit_code(), crate::exit::USAGE);
        assert!(err.to_string().contains("stale.yaml"), "{err}");
        assert!(out.join("stale.yaml").exists());
        o.replace_with(&out, true, write_report).unwrap();
        assert!(
            !out.join("stale.yaml").exists(),
            "--force leaves no stale file"
        );
    }

    #[test]
    fn a_failed_write_leaves_no_verdict_behind() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        let err = Owner::output()
            .replace_with(&out, false, |d| -> Result<()> {
                std::fs::write(d.join("result.json"), "{\"verdict\":\"holds\"}").unwrap();
                Err(Error::Internal {
                    message: "disk full".into(),
                })
            })
            .unwrap_err();
        assert!(err.to_string().contains("disk full"));
        assert!(!out.exists());
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_lab_from_before_the_marker_is_named_as_such_and_kept() {
        let t = tempfile::tempdir().unwrap();
        let lab = t.path().join("lab");
        std::fs::create_dir_all(lab.join("layout")).unwrap();
        std::fs::write(lab.join("catalogue.json"), "{}").unwrap();
        let err = Owner::lab(0)
            .replace_with(&lab, false, |_| Ok(()))
            .unwrap_err();
        assert!(err.to_string().contains("older trustswap"), "{err}");
        assert!(lab.join("catalogue.json").is_file());
    }

    #[test]
    fn force_never_replaces_the_current_folder_or_a_repository() {
        let t = tempfile::tempdir().unwrap();
        let repo = t.path().join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        let err = Owner::output()
            .replace_with(&repo, true, write_report)
            .unwrap_err();
        assert!(err.to_string().contains("repository root"), "{err}");
        assert!(repo.join(".git").is_dir());
        let err = Owner::output()
            .replace_with(Path::new("."), true, write_report)
            .unwrap_err();
        assert_eq!(err.exit_code(), crate::exit::USAGE);
    }
}
