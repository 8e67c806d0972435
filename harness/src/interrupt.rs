//! Ctrl-C during a real-cluster run: the first interrupt lets the current
//! step finish, stops the run and cleans up what it created (printing what
//! could not be deleted); a second one quits at once, printing how to find
//! what was left behind. The embedded backend installs no handler.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static LEFT_BEHIND: OnceLock<String> = OnceLock::new();

/// Whether an interrupt was requested.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Requests an interrupt (what the handler does; tests call it directly).
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Installs the handler. `left_behind` is printed if a second interrupt
/// quits before cleanup (e.g. the label selector of the run's objects).
pub fn install(left_behind: String) {
    let _ = LEFT_BEHIND.set(left_behind);
    let spawned = std::thread::Builder::new()
        .name("trustswap-interrupt".into())
        .spawn(|| {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                while tokio::signal::ctrl_c().await.is_ok() {
                    if REQUESTED.swap(true, Ordering::SeqCst) {
                        eprintln!(
                            "\ninterrupted twice: quitting without cleanup; left behind: {}",
                            LEFT_BEHIND.get().map_or("unknown", String::as_str)
                        );
                        std::process::exit(i32::from(crate::exit::UNDECIDED));
                    }
                    eprintln!(
                        "\ninterrupted: finishing the current step, then cleaning up (Ctrl-C again quits at once)"
                    );
                }
            });
        });
    if let Err(e) = spawned {
        eprintln!("warning: no Ctrl-C handler ({e}); an interrupt will skip cleanup");
    }
}
