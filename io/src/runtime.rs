//! The one tokio runtime of the process. Every synchronous boundary that
//! needs async IO (the registry client, the Kubernetes clients, the lab's TUF
//! writer, the Ctrl-C listener) blocks on it instead of building its own, so
//! a run has one set of worker threads and one IO driver.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The shared runtime, built on first use (two workers: the machine trustswap
/// targets has two cores, and every caller blocks on it from one thread).
/// Never call its `block_on` from inside async code.
pub fn shared() -> std::io::Result<&'static Runtime> {
    let built = RUNTIME.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("trustswap-io")
            .build()
            .map_err(|e| e.to_string())
    });
    built
        .as_ref()
        .map_err(|e| std::io::Error::other(format!("cannot start the async runtime: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_caller_gets_the_same_runtime() {
        let a = super::shared().expect("runtime");
        let b = super::shared().expect("runtime");
        assert!(std::ptr::eq(a, b));
        assert_eq!(a.block_on(async { 1 + 1 }), 2);
        // blocking on it from several threads at once is allowed
        let handles: Vec<_> = (0..4)
            .map(|i| {
                std::thread::spawn(move || super::shared().expect("rt").block_on(async move { i }))
            })
            .collect();
        let sum: i32 = handles.into_iter().map(|h| h.join().expect("join")).sum();
        assert_eq!(sum, 6);
    }
}
