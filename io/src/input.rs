//! Bounded file input. Every file a user names (profiles, contract, policies,
//! keys, bundles, trusted roots, drift states, scenario files) is read through
//! here: it must be a regular file (a FIFO, a device, or a link to one is
//! refused before anything is read, so `/dev/zero` cannot grow memory and a
//! FIFO cannot hang the process) and at most [`max_bytes`] long. Artifacts,
//! which may legitimately be large, are hashed as a stream instead.
//!
//! The cap is a process-wide setting: the CLI sets it once from
//! `--max-input-size` before any command runs; library callers keep the default.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Default cap on one input file: 256 MiB (a drift state of a million pods is
/// about 150 MB of JSON).
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

static MAX_BYTES: AtomicU64 = AtomicU64::new(DEFAULT_MAX_BYTES);

/// The cap in force.
pub fn max_bytes() -> u64 {
    MAX_BYTES.load(Ordering::Relaxed)
}

/// Set the cap (the CLI's `--max-input-size`).
pub fn set_max_bytes(n: u64) {
    MAX_BYTES.store(n, Ordering::Relaxed);
}

/// Parse a size such as `1048576`, `64KiB`, `16MiB`, `2GiB` (also `K`, `M`, `G`,
/// `KB`, `MB`, `GB`, all binary multiples).
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. 64MiB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit `{other}` (use KiB, MiB or GiB)")),
    };
    n.checked_mul(mult)
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a usable size"))
}

fn refuse(path: &Path, message: impl Into<String>, hint: impl Into<String>) -> Error {
    Error::Input {
        path: path.to_path_buf(),
        message: message.into(),
        hint: hint.into(),
    }
}

/// Open `path` for reading if (after following links) it is a regular file.
/// Returns the file and its length.
pub fn open_regular(path: &Path) -> Result<(std::fs::File, u64)> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let what = if ft.is_dir() {
            "a folder"
        } else {
            kind_of_special(&ft)
        };
        return Err(refuse(
            path,
            format!("is {what}, not a regular file"),
            "give the path of a regular file (FIFOs, devices and links to them are refused)",
        ));
    }
    let file = std::fs::File::open(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // Re-check on the open handle: the path may have been swapped in between.
    let meta = file.metadata().map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(refuse(
            path,
            "changed into a non-regular file while being opened",
            "give the path of a regular file",
        ));
    }
    Ok((file, meta.len()))
}

#[cfg(unix)]
fn kind_of_special(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(not(unix))]
fn kind_of_special(_: &std::fs::FileType) -> &'static str {
    "not a regular file"
}

/// Read a whole regular file of at most `cap` bytes.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>> {
    let (file, len) = open_regular(path)?;
    let too_large = |n: String| {
        refuse(
            path,
            format!("is {n} bytes, over the input limit of {cap} bytes"),
            "raise the limit with --max-input-size (e.g. --max-input-size 1GiB) if the file is legitimate",
        )
    };
    if len > cap {
        return Err(too_large(len.to_string()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // `take` guards against a file that grows while it is read.
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > cap {
        return Err(too_large(format!("more than {cap}")));
    }
    Ok(bytes)
}

/// Read a whole regular file under the process-wide cap.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    read_capped(path, max_bytes())
}

/// Read a whole regular UTF-8 text file under the process-wide cap.
pub fn read_to_string(path: &Path) -> Result<String> {
    let bytes = read(path)?;
    String::from_utf8(bytes).map_err(|e| {
        refuse(
            path,
            format!(
                "is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            "give a UTF-8 text file",
        )
    })
}

/// SHA-256 of a regular file, read as a stream (no size cap: artifacts may be large,
/// and memory stays constant).
pub fn sha256_file(path: &Path) -> Result<[u8; 32]> {
    use sha2::Digest as _;
    let (mut file, _) = open_regular(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("10").unwrap(), 10);
        assert_eq!(parse_size("64KiB").unwrap(), 64 << 10);
        assert_eq!(parse_size("16M").unwrap(), 16 << 20);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn a_file_over_the_cap_is_refused_without_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        std::fs::write(&p, vec![b'x'; 100]).unwrap();
        let err = read_capped(&p, 99).unwrap_err();
        assert!(matches!(err, Error::Input { .. }), "{err:?}");
        assert_eq!(read_capped(&p, 100).unwrap().len(), 100);
    }

    #[cfg(unix)]
    #[test]
    fn devices_folders_and_links_to_them_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        for p in [Path::new("/dev/zero"), link.as_path(), dir.path()] {
            let err = read(p).unwrap_err();
            assert!(matches!(err, Error::Input { .. }), "{p:?}: {err:?}");
            assert_eq!(err.exit_code(), crate::exit::USAGE);
            assert!(sha256_file(p).is_err());
        }
    }

    #[test]
    fn streaming_hash_matches_the_one_shot_hash() {
        use sha2::Digest as _;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let want: [u8; 32] = sha2::Sha256::digest(&data).into();
        assert_eq!(sha256_file(&p).unwrap(), want);
    }
}
