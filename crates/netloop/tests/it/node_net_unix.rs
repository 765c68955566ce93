//! Ports of Node's Unix-domain-socket tests
//! (`test/parallel/test-net-pipe-connect-errors.js`,
//! `test-net-better-error-messages-path.js`,
//! `test-net-better-error-messages-listen-path.js`,
//! `test-net-server-listen-path.js`, `test-pipe-address.js`,
//! `test-pipe-unref.js`, and the abstract-socket cases), plus libuv's
//! rules that Node inherits: the socket file is removed on `close()`, and
//! an existing file is never replaced (`EADDRINUSE`).
//!
//! Paths live in the temp dir with unique names; abstract names (Linux)
//! start with a NUL byte and have no file.

use std::cell::RefCell;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::util::{guard, temp_sock_path, Calls, Log};
use netloop::net::{self, ListenOptions, Server, Socket};

/// A unique abstract socket name (Linux): a leading NUL byte, no file.
fn abstract_name(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    PathBuf::from(format!("\0nl-{}-{tag}-{n}", std::process::id()))
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// `test-net-pipe-connect-errors.js`: a path that is not a socket is
/// refused (Linux: ECONNREFUSED), a missing one is ENOENT, and (when not
/// root) a socket without permission is EACCES.
#[test]
fn node_net_pipe_connect_errors() {
    let not_socket = temp_sock_path("notsock");
    std::fs::write(&not_socket, b"").unwrap();
    let missing = temp_sock_path("missing");
    let guarded = temp_sock_path("noaccess");
    let errors = Log::new();
    let connects = Calls::new();
    let root = running_as_root();
    netloop::run(|| {
        let _guard = guard("node_net_pipe_connect_errors");
        for (name, path) in [("not a socket", &not_socket), ("missing", &missing)] {
            let c = net::connect_path(path)?;
            let k = connects.clone();
            c.on(Socket::CONNECT, move |_, _| k.hit());
            let e = errors.clone();
            c.on(Socket::ERROR, move |_, err| {
                e.push(format!("{name}: {}", err.code().as_str()))
            });
        }
        if !root {
            // chmod has no effect for root, as Node's test notes.
            let server = net::create_server(|_, _| panic!("no connection expected"));
            server.listen_path(&guarded)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&guarded, std::fs::Permissions::from_mode(0o000)).unwrap();
            let c = net::connect_path(&guarded)?;
            let e = errors.clone();
            c.on(Socket::ERROR, move |_, err| {
                e.push(format!("no access: {}", err.code().as_str()));
                server.close();
            });
        }
        Ok(())
    })
    .unwrap();
    let _ = std::fs::remove_file(&not_socket);
    assert_eq!(connects.get(), 0);
    let mut got = errors.entries();
    got.sort();
    let mut want = vec![
        "missing: ENOENT".to_string(),
        "not a socket: ECONNREFUSED".into(),
    ];
    if !root {
        want.push("no access: EACCES".into());
    }
    want.sort();
    assert_eq!(got, want);
}

/// `test-net-better-error-messages-path.js`: `connect ENOENT <path>`, with
/// the path as `address` and no port.
#[test]
fn node_net_better_error_messages_path() {
    let fp = temp_sock_path("fadagagsdfgsdf");
    let errors = Log::new();
    let connects = Calls::new();
    netloop::run(|| {
        let _guard = guard("node_net_better_error_messages_path");
        let c = net::connect_path(&fp)?;
        let k = connects.clone();
        c.on(Socket::CONNECT, move |_, _| k.hit());
        let e = errors.clone();
        c.on(Socket::ERROR, move |_, err| {
            e.push(format!(
                "{} | {} | {:?} {:?} {:?} {:?}",
                err.code().as_str(),
                err.message(),
                err.syscall(),
                err.errno(),
                err.address(),
                err.port()
            ))
        });
        Ok(())
    })
    .unwrap();
    let p = fp.display().to_string();
    assert_eq!(connects.get(), 0);
    assert_eq!(
        errors.entries(),
        vec![format!(
            "ENOENT | connect ENOENT {p} | Some(\"connect\") Some(-2) Some({p:?}) None"
        )]
    );
}

/// `test-net-better-error-messages-listen-path.js`: listening under a
/// missing directory fails with the path as `address`; libuv reports it as
/// EACCES (`listen EACCES: permission denied <path>`), as Node 20 prints.
#[test]
fn node_net_better_error_messages_listen_path() {
    let fp = std::env::temp_dir()
        .join(format!("nlpb-no-such-dir-{}", std::process::id()))
        .join("fadfa");
    let errors = Log::new();
    let listening = Calls::new();
    netloop::run(|| {
        let _guard = guard("node_net_better_error_messages_listen_path");
        let server = net::create_server(|_, _| panic!("no connection expected"));
        let l = listening.clone();
        server.on(Server::LISTENING, move |_, _| l.hit());
        let e = errors.clone();
        server.on(Server::ERROR, move |_, err| {
            e.push(format!(
                "{} | {} | {:?} {:?}",
                err.code().as_str(),
                err.message(),
                err.address(),
                err.port()
            ))
        });
        server.listen_path(&fp)?;
        Ok(())
    })
    .unwrap();
    let p = fp.display().to_string();
    assert_eq!(listening.get(), 0);
    assert_eq!(
        errors.entries(),
        vec![format!(
            "EACCES | listen EACCES: permission denied {p} | Some({p:?}) None"
        )]
    );
}

/// `test-net-server-listen-path.js` and `test-pipe-address.js`: listen on a
/// path (both ways), `listening`, the path as the address, then close; the
/// socket file is removed on close, as libuv does.
#[test]
fn node_net_server_listen_path() {
    let paths = [temp_sock_path("listen-a"), temp_sock_path("listen-b")];
    let events = Log::new();
    netloop::run(|| {
        let _guard = guard("node_net_server_listen_path");
        for (i, path) in paths.iter().enumerate() {
            let server = net::create_server(|_, _| panic!("no connection expected"));
            if i == 0 {
                server.listen_path(path)?;
            } else {
                server.listen_with(ListenOptions {
                    path: Some(path.clone()),
                    ..ListenOptions::default()
                })?;
            }
            let ev = events.clone();
            let p = path.clone();
            server.on(Server::LISTENING, move |s, _| {
                assert_eq!(s.path(), Some(p.clone()));
                assert_eq!(s.address(), None);
                assert!(p.exists(), "the socket file exists while listening");
                ev.push(format!("listening {i}"));
                s.close();
            });
            let ev = events.clone();
            let p = path.clone();
            server.on(Server::CLOSE, move |_, _| {
                ev.push(format!("close {i} file_exists={}", p.exists()))
            });
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(
        events.entries(),
        vec![
            "listening 0",
            "listening 1",
            "close 0 file_exists=false",
            "close 1 file_exists=false",
        ]
    );
}

/// libuv (and so Node) never removes an existing file to listen: a stale
/// path is EADDRINUSE (`listen EADDRINUSE: address already in use <path>`)
/// and the file is left alone.
#[test]
fn node_net_pipe_listen_existing_path() {
    let path = temp_sock_path("existing");
    std::fs::write(&path, b"keep me").unwrap();
    let errors = Log::new();
    netloop::run(|| {
        let _guard = guard("node_net_pipe_listen_existing_path");
        let server = Server::new();
        let e = errors.clone();
        server.on(Server::ERROR, move |_, err| {
            e.push(format!("{} | {}", err.code().as_str(), err.message()))
        });
        server.listen_path(&path)?;
        Ok(())
    })
    .unwrap();
    assert_eq!(
        errors.entries(),
        vec![format!(
            "EADDRINUSE | listen EADDRINUSE: address already in use {}",
            path.display()
        )]
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
    std::fs::remove_file(&path).unwrap();
}

/// `test-pipe-unref.js`: an unref'd Unix listener lets the loop end.
#[test]
fn node_pipe_unref() {
    let path = temp_sock_path("unref");
    let state = Log::new();
    netloop::run(|| {
        let s = Server::new();
        s.listen_path(&path)?;
        s.unref();
        state.push(format!("listening={}", s.listening()));
        let _guard = guard("node_pipe_unref");
        Ok(())
    })
    .unwrap();
    assert_eq!(state.entries(), vec!["listening=true"]);
    let _ = std::fs::remove_file(&path);
}

/// Linux abstract sockets (a leading NUL byte): listen, connect, exchange
/// data; no file is created. Unix sockets have no IP addresses: the
/// address getters answer `None` (Node: `undefined`).
#[test]
fn node_pipe_abstract_socket() {
    let name = abstract_name("abs");
    let got = Rc::new(RefCell::new(Vec::<u8>::new()));
    let seen = Log::new();
    netloop::run(|| {
        let _guard = guard("node_pipe_abstract_socket");
        let s = seen.clone();
        let server = net::create_server(move |_, sock: &Socket| {
            s.push(format!(
                "server: {:?} {:?} {:?} {:?}",
                sock.remote_address(),
                sock.remote_port(),
                sock.local_address(),
                sock.address()
            ));
            sock.end_with("hello abstract");
        });
        server.listen_path(&name)?;
        assert_eq!(server.path(), Some(name.clone()));
        let c = net::connect_path(&name)?;
        let s = seen.clone();
        c.on(Socket::CONNECT, move |c, _| {
            s.push(format!(
                "client: {:?} {:?} {:?}",
                c.remote_address(),
                c.remote_family(),
                c.path()
            ))
        });
        let g = Rc::clone(&got);
        c.on(Socket::DATA, move |_, d| {
            g.borrow_mut().extend_from_slice(d)
        });
        c.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(&got.borrow()[..], b"hello abstract");
    let mut seen = seen.entries();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            format!("client: None None Some({name:?})"),
            "server: None None None None".to_string(),
        ]
    );
    // No file appears for an abstract name (the name without its NUL).
    let visible: PathBuf = name.to_string_lossy().trim_start_matches('\0').into();
    assert!(!visible.exists());
}

/// `test-net-server-listen-path.js` ("Test pipe chmod", "should emit
/// error events when listening fails"): `readable_all`/`writable_all`
/// open the socket file to everyone; a second listener on a path in use
/// gets EADDRINUSE; abstract names cannot be chmod'ed.
#[test]
fn node_net_server_listen_path_chmod() {
    use std::os::unix::fs::PermissionsExt;
    let path = temp_sock_path("chmod");
    let mode = Rc::new(RefCell::new(0u32));
    let errors = Log::new();
    netloop::run(|| {
        let _guard = guard("node_net_server_listen_path_chmod");
        let server1 = Server::new();
        server1.listen_with(ListenOptions {
            path: Some(path.clone()),
            readable_all: true,
            writable_all: true,
            ..ListenOptions::default()
        })?;
        let (m, p, e) = (Rc::clone(&mode), path.clone(), errors.clone());
        server1.on(Server::LISTENING, move |s1, _| {
            *m.borrow_mut() = std::fs::metadata(&p).unwrap().permissions().mode();
            let server2 = Server::new();
            let (e, s1) = (e.clone(), s1.clone());
            server2.on(Server::ERROR, move |_, err| {
                e.push(format!("{} {}", err.code().as_str(), err.message()));
                s1.close();
            });
            server2
                .listen_with(ListenOptions {
                    path: Some(p.clone()),
                    writable_all: true,
                    ..ListenOptions::default()
                })
                .unwrap();
        });

        let err = Server::new()
            .listen_with(ListenOptions {
                path: Some(abstract_name("chmod")),
                readable_all: true,
                ..ListenOptions::default()
            })
            .unwrap_err();
        assert_eq!(err.code(), netloop::ErrorCode::ERR_INVALID_ARG_VALUE);
        Ok(())
    })
    .unwrap();
    let mode = *mode.borrow();
    assert_ne!(mode & 0o004, 0, "readable by others: {mode:o}");
    assert_ne!(mode & 0o002, 0, "writable by others: {mode:o}");
    assert_eq!(
        errors.entries(),
        vec![format!(
            "EADDRINUSE listen EADDRINUSE: address already in use {}",
            path.display()
        )]
    );
    assert!(!path.exists(), "server1's close removed the file");
}

/// `socket.resetAndDestroy()` on a Unix socket. No Node test covers it:
/// Node throws ERR_INVALID_HANDLE_TYPE there, since only TCP has an RST.
/// netloop destroys the socket normally instead: `close(false)` with no
/// `error`, and the peer reads a plain end of stream.
#[test]
fn node_net_socket_reset_and_destroy_pipe() {
    let path = temp_sock_path("reset");
    let client = Log::new();
    let server_side = Log::new();
    netloop::run(|| {
        let _guard = guard("node_net_socket_reset_and_destroy_pipe");
        let ss = server_side.clone();
        let server = net::create_server(move |server, sock: &Socket| {
            server.close();
            sock.on(Socket::DATA, |_, _| {});
            let s = ss.clone();
            sock.on(Socket::END, move |_, _| s.push("end"));
            let s = ss.clone();
            sock.on(Socket::ERROR, move |_, e| {
                s.push(format!("error {}", e.code()))
            });
            let s = ss.clone();
            sock.on(Socket::CLOSE, move |_, had_error| {
                s.push(format!("close {had_error}"))
            });
        });
        server.listen_path(&path)?;
        let c = net::connect_path(&path)?;
        c.on(Socket::CONNECT, |c, _| {
            c.reset_and_destroy();
        });
        let l = client.clone();
        c.on(Socket::ERROR, move |_, e| {
            l.push(format!("error {}", e.code()))
        });
        let l = client.clone();
        c.on(Socket::CLOSE, move |_, had_error| {
            l.push(format!("close {had_error}"))
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(client.entries(), vec!["close false"]);
    assert_eq!(server_side.entries(), vec!["end", "close false"]);
    assert!(!path.exists());
}
