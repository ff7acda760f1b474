//! Loopback ports for servers a test starts in another process (moto, `cargo lambda
//! watch`, `twinsync up`), which cannot be handed a bound listener.
//!
//! Picking a port by binding port 0 and closing the listener races: the kernel may give
//! the port to any other socket before the child binds it. A [`ReservedPort`] instead comes
//! from below the kernel's ephemeral range, which the kernel never hands out on its own,
//! and holds an exclusive lock on a file named after the port for as long as it lives, so
//! no other test process (they all reserve through here) picks it meanwhile. In-process
//! servers need none of this: they bind port 0 and keep the listener.

use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::path::PathBuf;

/// The lowest port handed out; far from the well-known ports.
const FIRST: u16 = 20_000;

/// A port nobody else picks while this lives.
#[derive(Debug)]
pub struct ReservedPort {
    port: u16,
    _lock: File,
}

impl ReservedPort {
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Why no port could be reserved.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("cannot make the port lock folder {path}: {message}")]
    LockFolder { path: String, message: String },
    #[error("no free port between {first} and {last}")]
    Exhausted { first: u16, last: u16 },
}

/// The first port of the kernel's ephemeral range (32768 when it cannot be read).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
        .unwrap_or(32_768)
}

/// Reserves a loopback port below the ephemeral range: one no other reservation holds
/// and that nothing is bound to now.
pub fn reserve_port() -> Result<ReservedPort, PortError> {
    let dir = std::env::temp_dir().join("twinsync-ports");
    std::fs::create_dir_all(&dir).map_err(|e| PortError::LockFolder {
        path: dir.display().to_string(),
        message: e.to_string(),
    })?;
    let last = ephemeral_start().saturating_sub(1).max(FIRST);
    let span = u32::from(last - FIRST) + 1;
    // Start somewhere else in each process, so concurrent test processes rarely meet.
    let offset = std::process::id() % span;
    for i in 0..span {
        let port = FIRST + ((offset + i) % span) as u16;
        if let Some(reserved) = try_reserve(&dir.join(format!("{port}.lock")), port) {
            return Ok(reserved);
        }
    }
    Err(PortError::Exhausted { first: FIRST, last })
}

fn try_reserve(path: &PathBuf, port: u16) -> Option<ReservedPort> {
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ok()?;
    // Held by another reservation (the lock ends with the file's last handle, also when
    // a test process dies).
    lock.try_lock().ok()?;
    // Not reserved, but maybe bound by something that does not reserve.
    TcpListener::bind(("127.0.0.1", port)).ok()?;
    Some(ReservedPort { port, _lock: lock })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ports_are_distinct_free_and_below_the_ephemeral_range() {
        let a = reserve_port().expect("a port");
        let b = reserve_port().expect("another port");
        assert_ne!(a.port(), b.port());
        assert!(a.port() < ephemeral_start() && a.port() >= FIRST);
        // Free for the child to bind.
        let bound = TcpListener::bind(("127.0.0.1", a.port())).expect("bindable");
        drop(bound);
        // A bound port is passed over.
        let taken = TcpListener::bind(("127.0.0.1", 0)).expect("a listener");
        let port = taken.local_addr().expect("its address").port();
        let dir = std::env::temp_dir().join("twinsync-ports");
        assert!(try_reserve(&dir.join("probe.lock"), port).is_none());
        // The lock goes with the reservation.
        let again = a.port();
        drop(a);
        assert!(try_reserve(&dir.join(format!("{again}.lock")), again).is_some());
    }
}
