//! Serves the lab's TUF repository on loopback (static files, GET only), so
//! that real Kyverno's ImageValidatingPolicy reaches the lab's trust root as
//! it would reach Sigstore's public mirror.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::LocalError;

pub struct TufServer {
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub url: String,
}

impl TufServer {
    /// Serve `dir` on a free port of 127.0.0.1.
    pub fn start(dir: &Path) -> Result<TufServer, LocalError> {
        Self::start_on(dir, std::net::Ipv4Addr::LOCALHOST)
    }

    /// Serve `dir` on a free port of `address` only (the host's address on
    /// the kind network for `--backend kind`; never every interface).
    pub fn start_on(dir: &Path, address: std::net::Ipv4Addr) -> Result<TufServer, LocalError> {
        let setup = |message: String| LocalError::Setup {
            what: "the lab's TUF server",
            message,
        };
        let server = Arc::new(
            tiny_http::Server::http((address, 0))
                .map_err(|e| setup(format!("cannot listen on {address}: {e}")))?,
        );
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or_else(|| setup("it has no IP address".into()))?;
        let root = dir.to_path_buf();
        let s = Arc::clone(&server);
        let thread = std::thread::Builder::new()
            .name("trustswap-tuf".into())
            .spawn(move || {
                for request in s.incoming_requests() {
                    let response = answer(&root, request.method(), request.url());
                    let _ = request.respond(response);
                }
            })
            .map_err(|e| setup(format!("cannot start its thread: {e}")))?;
        Ok(TufServer {
            server,
            thread: Some(thread),
            url: format!("http://{address}:{port}"),
        })
    }
}

fn file_of(root: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.as_os_str().is_empty() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let p = root.join(rel);
    p.is_file().then_some(p)
}

fn answer(
    root: &Path,
    method: &tiny_http::Method,
    url: &str,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    if *method != tiny_http::Method::Get && *method != tiny_http::Method::Head {
        return tiny_http::Response::from_string("method not allowed").with_status_code(405);
    }
    match file_of(root, url).and_then(|p| std::fs::read(p).ok()) {
        Some(bytes) => tiny_http::Response::from_data(bytes),
        None => tiny_http::Response::from_string("not found").with_status_code(404),
    }
}

impl Drop for TufServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_served_and_nothing_outside_the_folder() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("repo/targets")).unwrap();
        std::fs::write(t.path().join("repo/timestamp.json"), "{}").unwrap();
        std::fs::write(t.path().join("secret"), "no").unwrap();
        let root = t.path().join("repo");
        assert!(file_of(&root, "/timestamp.json").is_some());
        assert!(file_of(&root, "/../secret").is_none());
        assert!(file_of(&root, "/targets").is_none());
        assert!(file_of(&root, "/").is_none());
        let server = TufServer::start(&root).unwrap();
        let addr = server.url.trim_start_matches("http://").to_owned();
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.write_all(b"GET /timestamp.json HTTP/1.0\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(
            out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200"),
            "{out}"
        );
        assert!(out.ends_with("{}"), "{out}");
        drop(server);
    }
}
