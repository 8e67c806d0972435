//! The local control plane's processes: each started with its output in a log
//! file of the run's private folder, killed with the parent where the platform
//! allows (`setpriv --pdeathsig`), stopped and reaped on drop. Readiness waits
//! are bounded and, when they fail, say which process and show its last log lines.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::LocalError;
use super::error::Wait;

/// A started process.
pub struct Proc {
    pub name: &'static str,
    child: Option<Child>,
    pub log: PathBuf,
    /// Killed first if trustswap is interrupted (its folder is removed next).
    _on_interrupt: Option<crate::interrupt::CleanupGuard>,
}

impl Proc {
    /// Start `program` with `args` and `env` (added to a clean base: PATH and
    /// HOME only), its output appended to `<dir>/<name>.log`. Unless it must
    /// `outlive` trustswap (`--keep`), the kernel kills it when trustswap dies.
    pub fn spawn(
        name: &'static str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        dir: &Path,
        outlive: bool,
    ) -> Result<Proc, LocalError> {
        if !program.is_file() {
            return Err(LocalError::Spawn {
                name,
                program: program.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).map_err(LocalError::io(&log))?;
        let err = out.try_clone().map_err(LocalError::io(&log))?;
        // With setpriv the kernel kills the process when trustswap dies, even by
        // SIGKILL: no control plane outlives the run.
        let mut cmd = if outlive {
            std::process::Command::new(program)
        } else {
            crate::interrupt::command_dying_with_us(program)
        };
        // Each process its own HOME, as each pod has its own filesystem: no
        // cache (TUF, registry credentials) is shared between two processes.
        let home = dir.join(format!("home-{name}"));
        std::fs::create_dir_all(&home).map_err(LocalError::io(&home))?;
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().map_err(|source| LocalError::Spawn {
            name,
            program: program.to_path_buf(),
            source,
        })?;
        let guard = crate::interrupt::kill_on_interrupt(child.id());
        Ok(Proc {
            name,
            child: Some(child),
            log,
            _on_interrupt: Some(guard),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// [`LocalError::Ended`] with the exit status when the process has ended.
    pub fn check_alive(&mut self) -> Result<(), LocalError> {
        let status = match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => return Ok(()),
            Some(Ok(Some(status))) => {
                // Reaped: its pid may be reused, never signal it again.
                self._on_interrupt = None;
                format!("exited ({status})")
            }
            Some(Err(e)) => format!("cannot be waited for ({e})"),
            None => "was stopped".to_owned(),
        };
        Err(LocalError::Ended {
            name: self.name,
            status,
        })
    }

    /// The last `n` lines of the log.
    pub fn tail(&self, n: usize) -> String {
        tail(&self.log, n)
    }

    /// Kill and reap.
    pub fn stop(&mut self) {
        // Unregistered before it is reaped: an interrupt never signals a reused pid.
        self._on_interrupt = None;
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `n` lines of a file (reads at most its last 64 KiB).
pub fn tail(path: &Path, n: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = String::new();
    let _ = f.read_to_string(&mut buf);
    let lines: Vec<&str> = buf.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Poll `ready` until it says yes, the process dies, or `deadline` passes; the
/// error names the process, what was awaited, and its last log lines.
pub fn wait_ready(
    proc: &mut Proc,
    what: &str,
    deadline: Duration,
    mut ready: impl FnMut() -> Result<bool, LocalError>,
) -> Result<Duration, LocalError> {
    let start = Instant::now();
    let mut last = None;
    loop {
        if let Err(e) = proc.check_alive() {
            let status = match e {
                LocalError::Ended { status, .. } => status,
                other => other.to_string(),
            };
            return Err(LocalError::Died {
                wait: Box::new(waiting(proc, what)),
                status,
            });
        }
        match ready() {
            Ok(true) => return Ok(start.elapsed()),
            Ok(false) => {}
            Err(e) => last = Some(e.to_string()),
        }
        if start.elapsed() >= deadline {
            return Err(LocalError::NotReady {
                wait: Box::new(waiting(proc, what)),
                waited: deadline,
                last,
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn waiting(proc: &Proc, what: &str) -> Wait {
    Wait {
        name: proc.name,
        what: what.to_owned(),
        log: proc.log.clone(),
        tail: proc.tail(20),
    }
}

/// A free TCP port on loopback (bound, then released: the caller starts its
/// server on it at once).
pub fn free_port() -> Result<u16, LocalError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| LocalError::Setup {
            what: "no free port on 127.0.0.1",
            message: e.to_string(),
        })
}

/// Whether something accepts connections on `127.0.0.1:port`.
pub fn listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two processes never share a HOME (nor the caches under it): Kyverno's
    /// two controllers sharing one TUF cache failed on its lock.
    #[test]
    fn each_process_has_its_own_home() {
        let dir = tempfile::tempdir().unwrap();
        let mut homes = Vec::new();
        for name in ["one", "two"] {
            let mut p = Proc::spawn(
                name,
                Path::new("/bin/sh"),
                &["-c".into(), "echo \"$HOME\"".into()],
                &[],
                dir.path(),
                false,
            )
            .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while p.check_alive().is_ok() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            homes.push(std::fs::read_to_string(&p.log).unwrap().trim().to_owned());
        }
        assert_eq!(
            homes,
            [
                dir.path().join("home-one").display().to_string(),
                dir.path().join("home-two").display().to_string()
            ]
        );
    }

    #[test]
    fn a_process_that_dies_is_reported_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Proc::spawn(
            "shell",
            Path::new("/bin/sh"),
            &[
                "-c".into(),
                "echo starting; echo broken config >&2; exit 3".into(),
            ],
            &[],
            dir.path(),
            false,
        )
        .unwrap();
        let err = wait_ready(&mut p, "its port", Duration::from_secs(10), || Ok(false))
            .unwrap_err()
            .to_string();
        assert!(err.contains("shell exited"), "{err}");
        assert!(err.contains("broken config"), "{err}");
    }

    #[test]
    fn a_process_that_never_gets_ready_times_out_and_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Proc::spawn(
            "sleeper",
            Path::new("/bin/sleep"),
            &["30".into()],
            &[],
            dir.path(),
            false,
        )
        .unwrap();
        let pid = p.pid().unwrap();
        let err = wait_ready(&mut p, "nothing", Duration::from_millis(500), || {
            Err(LocalError::Api {
                operation: "GET /readyz".into(),
                message: "connection refused".into(),
            })
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("not ready after") && err.contains("connection refused"),
            "{err}"
        );
        drop(p);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists() || {
                // A zombie of another parent would still be listed; ours is reaped.
                std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .map_or(true, |s| !s.contains("sleep"))
            }
        );
    }
}
