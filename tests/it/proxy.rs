//! A TCP proxy between the app and PostgreSQL that a test can cut and restore, so outages are
//! tested without stopping the PostgreSQL server other tests share. Plain threads: it needs no
//! runtime and keeps working while the test's runtime is busy.

use std::io::Read;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// What the proxy does with connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward to the upstream server.
    Up,
    /// Accept and close at once, like a server that is gone.
    Refuse,
    /// Accept and never answer, like a host that drops packets.
    Hang,
}

struct Shared {
    mode: Mutex<Mode>,
    /// Every socket the proxy holds, so a cut can close live connections too.
    sockets: Mutex<Vec<TcpStream>>,
    closed: AtomicBool,
}

/// A running proxy on `127.0.0.1:port`.
pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Starts forwarding to `upstream`.
    pub fn to(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Up),
            sockets: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        });
        let state = shared.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                if state.closed.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let mode = *state.mode.lock().unwrap();
                match mode {
                    Mode::Refuse => drop(client),
                    Mode::Hang => state.hold(client),
                    Mode::Up => match TcpStream::connect(upstream) {
                        Ok(server) => state.forward(client, server),
                        Err(_) => drop(client),
                    },
                }
            }
        });
        Self { port, shared }
    }

    /// From now on connections fail as `mode` says; live ones are closed.
    pub fn cut(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
        self.shared.close_all();
    }

    /// Forwards again (sockets held by `Hang` are closed).
    pub fn restore(&self) {
        *self.shared.mode.lock().unwrap() = Mode::Up;
        self.shared.close_all();
    }
}

impl Shared {
    fn hold(&self, s: TcpStream) {
        self.sockets.lock().unwrap().push(s);
    }

    fn forward(self: &Arc<Self>, client: TcpStream, server: TcpStream) {
        let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
            return;
        };
        self.hold(c2);
        self.hold(s2);
        pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
        pipe(server, client);
    }

    fn close_all(&self) {
        for s in self.sockets.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Copies `from` → `to` until either side closes, then closes both.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if std::io::Write::write_all(&mut to, &buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.close_all();
        // Wakes the accept loop so it sees `closed`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}
