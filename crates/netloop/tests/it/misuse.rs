//! Misuse that used to panic or lose data: oversized delays, Unix paths
//! with NUL bytes, `end_with` after `end()`.

use std::time::Duration;

use netloop::net::{self, ConnectOptions, Server, Socket};
use netloop::timers::{set_interval, set_timeout};
use netloop::ErrorCode;

use crate::util::{assert_error, guard, listen_local, temp_sock_path, Calls, Log};

/// `Duration::MAX` panicked ("overflow when adding duration to instant")
/// in every timer entry point. It now saturates: the timer is armed and
/// never fires in practice.
#[test]
fn duration_max_saturates_in_every_timer_entry_point() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("Duration::MAX");
        let once = set_timeout(Duration::MAX, || panic!("a Duration::MAX timeout fired"));
        assert!(once.is_active());
        once.refresh();
        let every = set_interval(Duration::MAX, || panic!("a Duration::MAX interval fired"));
        let server = net::create_server(|server, sock: &Socket| {
            sock.resume();
            server.close();
        });
        let port = listen_local(&server);
        let client = net::connect_with(ConnectOptions {
            port,
            host: Some("127.0.0.1".into()),
            timeout: Some(Duration::MAX),
            ..ConnectOptions::default()
        })?;
        assert_eq!(client.timeout(), Some(Duration::MAX));
        client.on(Socket::TIMEOUT, |_, _| {
            panic!("a Duration::MAX idle timeout fired")
        });
        client.on(Socket::CONNECT, move |c, _| {
            // Re-arming an armed idle timer with the same oversized delay.
            c.set_timeout(Duration::MAX);
            c.write("x"); // a write refreshes the idle timer
            l.push("connected");
            once.cancel();
            every.cancel();
            c.end();
        });
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(log.entries(), ["connected"]);
}

/// A path with a NUL byte after its first byte bound the path cut at the
/// NUL and left that file behind on `close()`. It is rejected at once now,
/// and nothing is created.
#[test]
fn a_unix_path_with_an_inner_nul_byte_is_rejected_at_once() {
    let cut = temp_sock_path("nul");
    let mut with_nul = cut.clone().into_os_string();
    with_nul.push("\0tail");
    let path = std::path::PathBuf::from(with_nul);
    let (p1, p2) = (path.clone(), path.clone());
    netloop::run(move || {
        let err = Server::new()
            .listen_path(&p1)
            .map(|_| ())
            .expect_err("a NUL byte inside the path");
        assert_eq!(err.code(), ErrorCode::ERR_INVALID_ARG_VALUE);
        assert!(
            err.to_string()
                .starts_with("The argument 'path' must be a string without null bytes."),
            "{err}"
        );
        let err = net::connect_path(&p2)
            .map(|_| ())
            .expect_err("a NUL byte inside the path");
        assert_error(
            &err,
            ErrorCode::ERR_INVALID_ARG_VALUE,
            &format!(
                "The argument 'path' must be a string without null bytes. Received {:?}",
                p2.as_os_str()
            ),
        );
        Ok(())
    })
    .expect("the loop ran");
    assert!(!cut.exists(), "a socket file was created at the cut path");
}

/// ```js
/// c.end(); c.end('more', (e) => console.log('end cb', e && e.code));
/// // node 20: error ERR_STREAM_WRITE_AFTER_END write after end /
/// //          end cb ERR_STREAM_WRITE_AFTER_END / close true
/// ```
///
/// `end_with` after `end()` dropped the data silently.
#[test]
fn end_with_after_end_fails_with_write_after_end() {
    let log = Log::new();
    let received = Calls::new();
    let (l, r) = (log.clone(), received.clone());
    netloop::run(move || {
        let _g = guard("end_with after end");
        let server = net::create_server(move |server, sock: &Socket| {
            let r = r.clone();
            sock.on(Socket::DATA, move |_, d| {
                for _ in d {
                    r.hit();
                }
            });
            server.close();
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        c.on(Socket::CONNECT, move |c, _| {
            c.end();
            c.end_with("more");
            l.push("end_with returned");
            let le = l.clone();
            c.on(Socket::ERROR, move |_, e| {
                le.push(format!("error {} {e}", e.code().as_str()))
            });
            let lc = l.clone();
            c.on(Socket::CLOSE, move |_, had_error| {
                lc.push(format!("close {had_error}"))
            });
        });
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "end_with returned",
            "error ERR_STREAM_WRITE_AFTER_END write after end",
            "close true"
        ]
    );
    assert_eq!(received.get(), 0, "the data after end() reached the peer");
}
