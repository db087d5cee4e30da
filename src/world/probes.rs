//! Reachability probes: non-blocking TCP connects inside the loop. A probe is done
//! when its socket turns writable: `take_error()` says refused/unreachable, a peer
//! address says connected. The core owns the per-attempt timeout (`Effect::Cancel`).

use super::errno;
use crate::core::action::EffectId;
use crate::core::input::{EffectError, EffectOutput, EffectResult, ErrorKind};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

pub const TOKEN_BASE: usize = 2 << 20;
const TOKEN_SPAN: usize = 1 << 20;

#[derive(Default)]
pub struct Probes {
    by_token: BTreeMap<Token, (EffectId, TcpStream)>,
    next_token: usize,
}

impl Probes {
    pub fn owns(token: Token) -> bool {
        (TOKEN_BASE..TOKEN_BASE + TOKEN_SPAN).contains(&token.0)
    }

    /// Start connecting to `target` (`ip:port`, or `host:port` with `host` in `hosts`).
    /// An immediate failure is returned as the effect's result.
    pub fn connect(
        &mut self,
        registry: &Registry,
        id: EffectId,
        target: &str,
        hosts: &Path,
    ) -> Result<(), EffectError> {
        let addr = resolve(target, hosts)?;
        let mut stream = TcpStream::connect(addr)
            .map_err(|e| errno::from_io(&e, format!("connect({addr}): {e}")))?;
        let token = Token(TOKEN_BASE + self.next_token % TOKEN_SPAN);
        self.next_token = self.next_token.wrapping_add(1);
        registry
            .register(&mut stream, token, Interest::WRITABLE)
            .map_err(|e| errno::from_io(&e, format!("epoll_ctl(connect {addr}): {e}")))?;
        self.by_token.insert(token, (id, stream));
        Ok(())
    }

    /// The socket of a probe is ready: its result, or `None` if still connecting.
    pub fn on_ready(
        &mut self,
        registry: &Registry,
        token: Token,
    ) -> Option<(EffectId, EffectResult)> {
        let (id, stream) = self.by_token.get(&token)?;
        let id = *id;
        let result = match stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(errno::from_io(&e, e.to_string())),
            Ok(None) => match stream.peer_addr() {
                Ok(_) => Ok(EffectOutput::Done),
                Err(e) if e.kind() == std::io::ErrorKind::NotConnected => return None,
                Err(e) => Err(errno::from_io(&e, e.to_string())),
            },
        };
        if let Some((_, mut stream)) = self.by_token.remove(&token) {
            let _ = registry.deregister(&mut stream);
        }
        Some((id, result))
    }

    /// Abandon probe `id` (closing its socket). False if it had already finished.
    pub fn cancel(&mut self, registry: &Registry, id: EffectId) -> bool {
        let token = self
            .by_token
            .iter()
            .find(|(_, (pid, _))| *pid == id)
            .map(|(t, _)| *t);
        match token.and_then(|t| self.by_token.remove(&t)) {
            Some((_, mut stream)) => {
                let _ = registry.deregister(&mut stream);
                true
            }
            None => false,
        }
    }
}

/// `ip:port`, `[v6]:port`, or `name:port` when `name` is in the hosts file. No DNS:
/// a lookup would block the loop.
pub fn resolve(target: &str, hosts: &Path) -> Result<SocketAddr, EffectError> {
    if let Ok(a) = target.parse::<SocketAddr>() {
        return Ok(a);
    }
    let invalid = |why: String| EffectError::new(ErrorKind::Invalid, why);
    let (host, port) = target
        .rsplit_once(':')
        .ok_or_else(|| invalid(format!("{target}: not host:port")))?;
    let port: u16 = port
        .parse()
        .map_err(|_| invalid(format!("{target}: bad port {port:?}")))?;
    let text = std::fs::read_to_string(hosts).unwrap_or_default();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) else {
            continue;
        };
        if words.any(|w| w.eq_ignore_ascii_case(host)) {
            return Ok(SocketAddr::new(ip, port));
        }
    }
    Err(EffectError::new(
        ErrorKind::NotFound,
        format!(
            "{target}: not a numeric address and not in {} (no DNS inside the loop)",
            hosts.display()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_numeric_and_hosts_file_only() {
        let hosts = std::env::temp_dir().join(format!("nb-hosts-{}", std::process::id()));
        std::fs::write(
            &hosts,
            "127.0.0.1 localhost\n10.77.0.1 gw.test gw # the gateway\n",
        )
        .unwrap();
        assert_eq!(
            resolve("1.2.3.4:53", &hosts).unwrap(),
            "1.2.3.4:53".parse().unwrap()
        );
        assert_eq!(
            resolve("[::1]:80", &hosts).unwrap(),
            "[::1]:80".parse().unwrap()
        );
        assert_eq!(
            resolve("gw:80", &hosts).unwrap(),
            "10.77.0.1:80".parse().unwrap()
        );
        assert!(resolve("example.com:80", &hosts).is_err());
        assert!(resolve("gw:x", &hosts).is_err());
        std::fs::remove_file(&hosts).unwrap();
    }
}
