//! Ctrl-C during a real-cluster run: the first interrupt lets the current
//! step finish, stops the run and cleans up what it created (printing what
//! could not be deleted); a second one quits at once, printing how to find
//! what was left behind.
//!
//! Before that handler is installed (the lab build, embedded runs) an
//! interrupt quits at once, after removing every folder registered with
//! [`remove_on_interrupt`] (the lab's temporary folder, which holds private
//! keys): nothing trustswap was writing is left behind.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

const SETPRIV: &str = "/usr/bin/setpriv";

/// A command for a helper process that must not outlive trustswap: started
/// under `setpriv --pdeathsig KILL` (util-linux), the kernel kills it when
/// trustswap dies, by Ctrl-C, by a panic, even by SIGKILL. Without setpriv
/// the process is only stopped by its owner's `Drop`. The kernel's
/// parent-death signal follows the *thread* that spawned the child: spawn
/// from a thread that lives as long as the process is needed.
pub fn command_dying_with_us(program: &std::path::Path) -> std::process::Command {
    if std::path::Path::new(SETPRIV).is_file() {
        let mut c = std::process::Command::new(SETPRIV);
        c.arg("--pdeathsig").arg("KILL").arg("--").arg(program);
        c
    } else {
        std::process::Command::new(program)
    }
}

/// A cancellation handle: the code that can stop early (the experiment
/// runner between steps, a report poll) holds a clone and asks it; whoever
/// owns the run cancels it. [`install`] returns the one Ctrl-C cancels, so no
/// code below the command reads a process global.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(std::sync::Arc<AtomicBool>);

impl CancelToken {
    /// A token nothing cancels until [`CancelToken::cancel`].
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The token of the installed real-run handler (the latest run's).
static TOKEN: Mutex<Option<CancelToken>> = Mutex::new(None);
static LEFT_BEHIND: OnceLock<String> = OnceLock::new();
/// Whether the real-run handler (finish the step, clean up) is installed.
static STEPWISE: AtomicBool = AtomicBool::new(false);
static CLEANUP: Mutex<Vec<(u64, PathBuf)>> = Mutex::new(Vec::new());
static PROCESSES: Mutex<Vec<(u64, u32)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
static LISTENING: OnceLock<()> = OnceLock::new();

/// Unregisters its folder when dropped.
#[derive(Debug)]
pub struct CleanupGuard(u64);

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        if let Ok(mut list) = CLEANUP.lock() {
            list.retain(|(id, _)| *id != self.0);
        }
        if let Ok(mut list) = PROCESSES.lock() {
            list.retain(|(id, _)| *id != self.0);
        }
    }
}

/// Remove `path` if the process is interrupted while the guard lives.
pub fn remove_on_interrupt(path: PathBuf) -> CleanupGuard {
    register(&CLEANUP, path)
}

/// Kill process `pid` (SIGKILL) if trustswap is interrupted while the guard
/// lives, before the registered folders are removed: a control-plane process
/// still writing into its folder would otherwise leave files behind.
pub fn kill_on_interrupt(pid: u32) -> CleanupGuard {
    register(&PROCESSES, pid)
}

/// Adds `item` to `list` under a new guard id, and makes sure Ctrl-C is heard.
fn register<T>(list: &Mutex<Vec<(u64, T)>>, item: T) -> CleanupGuard {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut l) = list.lock() {
        l.push((id, item));
    }
    listen();
    CleanupGuard(id)
}

/// Whether `pid` is gone or a zombie (its files closed).
fn ended(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.contains(") Z ") || s.contains(") X "))
        .unwrap_or(true)
}

/// SIGKILL every registered process and wait (at most 5 s) until they end.
/// The owners unregister a process before they reap it, so a registered pid
/// is still the child trustswap started (never a recycled one).
fn kill_registered() {
    let pids: Vec<u32> = PROCESSES
        .lock()
        .map(|l| l.iter().map(|(_, p)| *p).collect())
        .unwrap_or_default();
    for pid in &pids {
        let target = i32::try_from(*pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(target) = target
            && let Err(e) = rustix::process::kill_process(target, rustix::process::Signal::KILL)
            && e != rustix::io::Errno::SRCH
        {
            eprintln!("trustswap: cannot stop process {pid}: {e}");
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline && !pids.iter().all(|p| ended(*p)) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Kill every registered process, then remove every registered folder (the
/// interrupt path).
pub fn remove_registered() -> Vec<PathBuf> {
    kill_registered();
    let list = CLEANUP
        .lock()
        .map(|l| l.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>())
        .unwrap_or_default();
    for p in &list {
        let _ = std::fs::remove_dir_all(p);
    }
    list
}

/// Starts the one Ctrl-C listener of the process (idempotent). Returns once the
/// signal handler is registered (or after 2 s), so that an interrupt right
/// after this call is never handled by the default disposition.
fn listen() {
    LISTENING.get_or_init(|| {
        let (ready, registered) = std::sync::mpsc::channel::<()>();
        match crate::runtime::shared() {
            Ok(rt) => {
                rt.spawn(async move {
                    use tokio::signal::unix::{SignalKind, signal};
                    let Ok(mut sigint) = signal(SignalKind::interrupt()) else {
                        return;
                    };
                    let _ = ready.send(());
                    while sigint.recv().await.is_some() {
                        on_interrupt();
                    }
                });
                let _ = registered.recv_timeout(std::time::Duration::from_secs(2));
            }
            Err(e) => {
                eprintln!("warning: no Ctrl-C handler ({e}); an interrupt will skip cleanup")
            }
        }
    });
}

fn on_interrupt() {
    if !STEPWISE.load(Ordering::SeqCst) {
        remove_registered();
        eprintln!("\ninterrupted");
        std::process::exit(i32::from(crate::exit::UNDECIDED));
    }
    let token = TOKEN
        .lock()
        .ok()
        .and_then(|t| t.clone())
        .unwrap_or_default();
    if token.is_cancelled() {
        remove_registered();
        eprintln!(
            "\ninterrupted twice: quitting without cleanup; left behind: {}",
            LEFT_BEHIND.get().map_or("unknown", String::as_str)
        );
        std::process::exit(i32::from(crate::exit::UNDECIDED));
    }
    token.cancel();
    eprintln!(
        "\ninterrupted: finishing the current step, then cleaning up (Ctrl-C again quits at once)"
    );
}

/// Installs the real-run handler: the first interrupt cancels `token` and
/// lets the current step finish. `left_behind` is printed if a second
/// interrupt quits before cleanup (e.g. the label selector of the run's
/// objects). A later call (another run in the same process) hands Ctrl-C to
/// its own token.
pub fn install(left_behind: String, token: &CancelToken) {
    let _ = LEFT_BEHIND.set(left_behind);
    if let Ok(mut t) = TOKEN.lock() {
        *t = Some(token.clone());
    }
    STEPWISE.store(true, Ordering::SeqCst);
    listen();
}
