//! Connect or listen, and copy stdin to the socket and the socket to
//! stdout. Stdin is read on a helper thread and handed to the loop in
//! chunks; it goes to the *current* connection, which with `-k` changes
//! as connections end. Input that arrives while there is no connection
//! waits for the next one, as it would wait in the pipe for netcat.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::rc::Rc;

use netloop::net::{self, Server, ServerOptions, Socket};
use netloop::tls::TlsServer;
use netloop::{timers, Error};

use super::{Options, Target};

enum Input {
    Data(Vec<u8>),
    Eof,
}

struct Session {
    opts: Options,
    server: RefCell<Option<Server>>,
    /// The connection stdin goes to.
    current: RefCell<Option<Socket>>,
    /// With `-k`: connections accepted while another was current, paused
    /// until their turn (netcat leaves them in the kernel's backlog).
    waiting: RefCell<VecDeque<Socket>>,
    /// Stdin read while no connection was current.
    pending: RefCell<Vec<u8>>,
    stdin_ended: Cell<bool>,
    /// Whether anything failed; each failure is printed when it happens.
    failed: Cell<bool>,
}

/// Run until the connection (or, with `-k`, the listener) is done.
/// Returns whether everything went well.
pub(super) fn run(target: Target, listen: bool, opts: Options) -> netloop::Result<bool> {
    let session = Rc::new(Session {
        opts,
        server: RefCell::default(),
        current: RefCell::default(),
        waiting: RefCell::default(),
        pending: RefCell::default(),
        stdin_ended: Cell::new(false),
        failed: Cell::new(false),
    });
    let s = Rc::clone(&session);
    netloop::run(move || {
        if listen {
            s.listen(&target)?;
        } else {
            let sock = super::connect(&target, &s.opts)?;
            s.watch_errors(&sock);
            s.make_current(sock);
        }
        // Each chunk wakes the loop (a channel on the loop handle, libuv's
        // uv_async_send): no polling. The channel does not keep the loop
        // alive; the socket or the server does.
        let me = Rc::clone(&s);
        spawn_stdin(netloop::channel(move |msg| me.on_input(msg)));
        Ok(())
    })?;
    Ok(!session.failed.get())
}

/// Read stdin on a helper thread (reads block) and hand each chunk, then
/// the end, to the loop. The thread stops at stdin's end or once the loop
/// has ended.
fn spawn_stdin(input: netloop::Sender<Input>) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = input.send(Input::Eof);
                    return;
                }
                Ok(n) => {
                    if input.send(Input::Data(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
}

impl Session {
    fn fail(&self, err: &Error) {
        if self.opts.ssl.is_some() || self.opts.tls_server.is_some() {
            // A TLS error's message seldom says its code
            // (`DEPTH_ZERO_SELF_SIGNED_CERT`): Node's `Error [CODE]: ...`.
            eprintln!("{}", crate::tls_args::with_code(err));
        } else {
            eprintln!("{err}");
        }
        self.failed.set(true);
    }

    /// A connection's error is printed and fails the run, whether the
    /// connection is current or still waiting (an error without a
    /// listener would end the whole run at once).
    fn watch_errors(self: &Rc<Self>, sock: &Socket) {
        let me = Rc::clone(self);
        sock.on(Socket::ERROR, move |_, err| me.fail(err));
    }

    fn listen(self: &Rc<Self>, target: &Target) -> netloop::Result<()> {
        let me = Rc::clone(self);
        let on_connection = move |server: &Server, sock: &Socket| {
            if me.opts.verbose {
                let peer = match (sock.remote_address(), sock.remote_port()) {
                    (Some(ip), Some(port)) => format!("{ip} {port}"),
                    _ => server
                        .path()
                        .map_or_else(String::new, |p| p.display().to_string()),
                };
                eprintln!("Connection received on {peer}");
            }
            me.watch_errors(sock);
            if !me.opts.keep_listening {
                // One connection, as netcat without -k: stop listening.
                server.close();
                if me.current.borrow().is_some() {
                    sock.destroy(); // came in the same accept batch
                    return;
                }
            }
            if me.current.borrow().is_some() {
                sock.pause();
                me.waiting.borrow_mut().push_back(sock.clone());
            } else {
                me.make_current(sock.clone());
            }
        };
        let server = match &self.opts.tls_server {
            None => net::create_server(on_connection),
            // With --ssl a connection is the listener's once its
            // handshake is done; a client whose handshake fails is
            // reported and the listener goes on (ncat's "Failed SSL
            // connection"), even without -k.
            Some(config) => {
                let tls = TlsServer::from_config(config, ServerOptions::default());
                tls.on(TlsServer::SECURE_CONNECTION, move |s, sock| {
                    on_connection(s.server(), sock)
                });
                tls.on(TlsServer::TLS_CLIENT_ERROR, |_, e| {
                    let peer = match (e.socket.remote_address(), e.socket.remote_port()) {
                        (Some(ip), Some(port)) => format!("{ip} {port}"),
                        _ => "unknown".to_owned(),
                    };
                    eprintln!("Failed TLS connection from {peer}: {}", e.error);
                });
                tls.server().clone()
            }
        };
        let me = Rc::clone(self);
        server.on(Server::ERROR, move |_, err| me.fail(err));
        if self.opts.verbose {
            server.once(Server::LISTENING, |s, _| match (s.address(), s.path()) {
                (Some(a), _) => eprintln!("Listening on {} {}", a.ip(), a.port()),
                (None, Some(p)) => eprintln!("Listening on {}", p.display()),
                (None, None) => {}
            });
        }
        match target {
            Target::Unix(path) => server.listen_path(path)?,
            Target::Tcp { host, port } => server.listen(*port, host)?,
        };
        *self.server.borrow_mut() = Some(server);
        Ok(())
    }

    /// Give stdin (what is pending, and what comes) to `sock`, and its data
    /// to stdout. When it closes, the next waiting connection takes over.
    fn make_current(self: &Rc<Self>, sock: Socket) {
        sock.on(Socket::DATA, |_, data| {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(data);
            let _ = out.flush();
        });
        if let Some(wait) = self.opts.wait {
            // Idle for `wait` once connected: close, and that is a normal
            // end (OpenBSD nc returns from its poll loop with status 0).
            sock.set_timeout(wait);
            let verbose = self.opts.verbose;
            sock.on(Socket::TIMEOUT, move |s, _| {
                if !s.connecting() {
                    if verbose {
                        eprintln!("Idle for {}s (-w), closing", wait.as_secs());
                    }
                    s.destroy();
                }
            });
        }
        let me = Rc::clone(self);
        sock.on(Socket::CLOSE, move |_, _| me.next_connection());
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        if !pending.is_empty() {
            sock.write(pending);
        }
        *self.current.borrow_mut() = Some(sock.clone());
        if self.stdin_ended.get() {
            self.end_input(&sock);
        }
    }

    /// The current connection closed: the next waiting one, if any, gets
    /// stdin (with `-k`; without it nothing waits).
    fn next_connection(self: &Rc<Self>) {
        self.current.borrow_mut().take();
        loop {
            let next = self.waiting.borrow_mut().pop_front();
            match next {
                Some(sock) if sock.destroyed() => continue,
                Some(sock) => {
                    sock.resume();
                    return self.make_current(sock);
                }
                None => return,
            }
        }
    }

    fn on_input(self: &Rc<Self>, msg: Input) {
        let current = self.current.borrow().clone().filter(|s| !s.destroyed());
        match (msg, current) {
            (Input::Data(d), Some(sock)) => {
                sock.write(d);
            }
            (Input::Data(d), None) => self.pending.borrow_mut().extend_from_slice(&d),
            (Input::Eof, current) => {
                self.stdin_ended.set(true);
                if let Some(sock) = current {
                    self.end_input(&sock);
                }
            }
        }
    }

    /// Stdin has ended: half-close `sock` (netcat's default: the peer may
    /// still answer), and with `-q` quit once the delay has passed after
    /// the last byte and the FIN were handed to the kernel.
    fn end_input(self: &Rc<Self>, sock: &Socket) {
        let Some(delay) = self.opts.quit_after else {
            sock.end();
            return;
        };
        let me = Rc::clone(self);
        sock.end_then(move |_, _| {
            // Unreferenced: a peer that closes first ends the run sooner.
            timers::set_timeout(delay, move || me.quit()).unref();
        });
    }

    /// `-q`: stop everything, whatever the peer is doing.
    fn quit(&self) {
        if let Some(server) = self.server.borrow_mut().take() {
            server.close();
        }
        for sock in self.waiting.borrow_mut().drain(..) {
            sock.destroy();
        }
        let current = self.current.borrow_mut().take();
        if let Some(sock) = current {
            sock.destroy();
        }
    }
}
