//! Where the operator tools read the log stream from: a file, standard input, or the
//! live log socket (`<root>/run/nodeboot.sock`). On the socket the client asks for
//! `logs` (the world loop's protocol, `src/world/logsock.rs`): the server sends its
//! backlog (its last 20,000 lines) and closes, so the end of the backlog is the end of
//! the connection.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default socket, under `root` (`/` on a node, the sandbox root otherwise).
pub fn default_socket(root: &Path) -> PathBuf {
    root.join("run/nodeboot.sock")
}

/// How long the socket may stay silent before we stop reading (a server that never
/// closes must not hang `status`).
const SOCKET_IDLE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("reading {path}: {source}")]
    File { path: String, source: io::Error },
    #[error("log socket {path}: {source} (is nodeboot running? try --from FILE)")]
    Socket { path: String, source: io::Error },
}

/// Where to read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `-`: standard input.
    Stdin,
    File(PathBuf),
    Socket(PathBuf),
}

impl Source {
    /// `from` (a path or `-`) if given, else the socket.
    pub fn pick(from: Option<&str>, socket: Option<&str>, root: &Path) -> Source {
        match (from, socket) {
            (Some("-"), _) => Source::Stdin,
            (Some(path), _) => Source::File(PathBuf::from(path)),
            (None, Some(sock)) => Source::Socket(PathBuf::from(sock)),
            (None, None) => Source::Socket(default_socket(root)),
        }
    }

    /// The whole text (the backlog, for the socket).
    pub fn read(&self) -> Result<String, InputError> {
        match self {
            Source::Stdin => {
                let mut text = String::new();
                io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|source| InputError::File {
                        path: "-".into(),
                        source,
                    })?;
                Ok(text)
            }
            Source::File(path) => {
                let bytes = std::fs::read(path).map_err(|source| InputError::File {
                    path: path.display().to_string(),
                    source,
                })?;
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            }
            Source::Socket(path) => read_backlog(path).map_err(|source| InputError::Socket {
                path: path.display().to_string(),
                source,
            }),
        }
    }
}

/// Connect, ask for the backlog, read until the server closes (or goes quiet).
pub fn read_backlog(path: &Path) -> io::Result<String> {
    let mut stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(SOCKET_IDLE))?;
    stream.set_write_timeout(Some(SOCKET_IDLE))?;
    stream.write_all(b"logs\n")?;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(buf.get(..n).unwrap_or(&[])),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Quiet for SOCKET_IDLE: take what we have (whole lines only).
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) => return Err(e),
        }
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    // The server answers a request it refuses with one `error: …` line.
    if let Some(err) = text.lines().find_map(|l| l.strip_prefix("error: ")) {
        return Err(io::Error::other(err.to_owned()));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn pick_prefers_from_then_socket_then_default() {
        let root = Path::new("/sandbox");
        assert_eq!(Source::pick(Some("-"), None, root), Source::Stdin);
        assert_eq!(
            Source::pick(Some("a.log"), Some("s"), root),
            Source::File("a.log".into())
        );
        assert_eq!(
            Source::pick(None, Some("s"), root),
            Source::Socket("s".into())
        );
        assert_eq!(
            Source::pick(None, None, root),
            Source::Socket("/sandbox/run/nodeboot.sock".into())
        );
    }

    #[test]
    fn the_socket_backlog_is_read_until_the_server_closes() {
        let dir = std::env::temp_dir().join(format!("nb-ops-sock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nodeboot.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut req = [0u8; 5];
            conn.read_exact(&mut req).unwrap();
            conn.write_all(b"{\"event\":\"a\"}\n{\"event\":\"b\"}\n")
                .unwrap();
            req
        });
        let text = read_backlog(&path).unwrap();
        assert_eq!(&server.join().unwrap(), b"logs\n");
        assert_eq!(text.lines().count(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
