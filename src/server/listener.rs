//! Listening sockets for the thread-per-core serving model: one socket per
//! worker thread on the same address, bound with `SO_REUSEPORT` so that the
//! kernel spreads new connections over the workers' accept queues and no
//! accept is shared between threads.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// The accept queue each listening socket asks for (tokio's default).
const BACKLOG: i32 = 1024;

/// `count` listening sockets on `addr`, all with `SO_REUSEPORT`. When
/// `addr` asks for port 0, the first socket picks the port and the others
/// join it. Non-blocking, ready for `tokio::net::TcpListener::from_std` on
/// the thread that will accept on it.
pub fn bind_group(addr: SocketAddr, count: usize) -> io::Result<Vec<std::net::TcpListener>> {
    let mut sockets = Vec::with_capacity(count);
    let mut at = addr;
    for _ in 0..count.max(1) {
        let socket = bind_one(at)?;
        at = socket.local_addr()?;
        sockets.push(socket);
    }
    Ok(sockets)
}

fn bind_one(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_shares_one_port_picked_by_the_first_socket() {
        let group = bind_group("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        assert_eq!(group.len(), 3);
        let port = group[0].local_addr().unwrap().port();
        assert_ne!(port, 0);
        for l in &group {
            assert_eq!(l.local_addr().unwrap().port(), port);
        }
    }

    #[test]
    fn a_port_held_without_reuseport_is_refused() {
        let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = plain.local_addr().unwrap();
        assert!(bind_group(addr, 2).is_err());
    }
}
