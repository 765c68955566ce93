//! Callback timing and the porting traps: each test runs a program whose
//! JavaScript original was run under Node 20, and checks netloop's trace
//! against Node's line by line. The script and Node's output are in each
//! test's comment.

use netloop::net::{self, Server, Socket};
use netloop::timers::{set_immediate, set_timeout};
use netloop::{next_tick, Error, ErrorCode};

use crate::util::{guard, listen_local, with_server, Log};

/// A server that reads and discards everything, closing after one
/// connection; returns its port.
fn sink_port() -> u16 {
    with_server(|sock| {
        sock.resume();
    })
    .1
}

/// ```js
/// const c = net.connect(port, '127.0.0.1', () => {
///   c.write('a', () => log.push('cb a'));
///   c.write('b', () => log.push('cb b'));
///   process.nextTick(() => log.push('tick'));
///   setImmediate(() => log.push('immediate'));
///   setTimeout(() => log.push('timeout'), 0);
///   log.push('sync');
/// });
/// // node 20: sync,cb a,cb b,tick,immediate,timeout
/// ```
#[test]
fn write_callbacks_of_writes_taken_at_once_run_on_the_next_tick() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("write callbacks");
        let port = sink_port();
        let c = net::connect(port, "127.0.0.1")?;
        c.on(Socket::CONNECT, move |c, _| {
            let (la, lb) = (l.clone(), l.clone());
            c.write_with("a", move |_, err| {
                assert!(err.is_none());
                la.push("cb a");
            });
            c.write_with("b", move |_, err| {
                assert!(err.is_none());
                lb.push("cb b");
            });
            next_tick(l.recorder("tick"));
            set_immediate(l.recorder("immediate"));
            let lt = l.clone();
            let c2 = c.clone();
            set_timeout(std::time::Duration::ZERO, move || {
                lt.push("timeout");
                c2.destroy();
            });
            l.push("sync");
        });
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        ["sync", "cb a", "cb b", "tick", "immediate", "timeout"]
    );
}

/// Writes that wait in the queue complete when the kernel takes them, in
/// the poll phase and in write order, after `drain` (Node's `afterWrite`
/// emits `drain` before it runs the callbacks).
#[test]
fn callbacks_of_queued_writes_run_in_order_after_drain() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("queued write callbacks");
        let port = sink_port();
        let c = net::connect(port, "127.0.0.1")?;
        // Made while connecting: queued, sent together once connected.
        for name in ["first", "second"] {
            let l = l.clone();
            assert!(!c.write_with(vec![b'x'; 32 * 1024], move |_, err| {
                assert!(err.is_none());
                l.push(format!("cb {name}"));
            }));
        }
        let ld = l.clone();
        c.on(Socket::DRAIN, move |c, _| {
            ld.push("drain");
            c.end();
        });
        c.on(Socket::CLOSE, move |_, _| l.push("close"));
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(log.entries(), ["drain", "cb first", "cb second", "close"]);
}

/// ```js
/// const server = net.createServer((s) => { s.end('hello'); });
/// const c = net.connect(port, '127.0.0.1');
/// c.resume();
/// c.on('end', () => console.log('end, bytesRead', c.bytesRead));
/// c.on('close', () => console.log('close'));
/// // node 20: end, bytesRead 5 / close
/// ```
#[test]
fn resume_without_a_data_listener_flows_discards_and_ends() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("resume drains");
        let server = net::create_server(|server, sock: &Socket| {
            sock.end_with("hello");
            server.close();
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        c.resume();
        let le = l.clone();
        c.on(Socket::END, move |c, _| {
            le.push(format!("end, bytes_read {}", c.bytes_read()))
        });
        c.on(Socket::CLOSE, move |_, _| l.push("close"));
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(log.entries(), ["end, bytes_read 5", "close"]);
}

/// ```js
/// c.on('finish', () => log.push('finish listener'));
/// c.end(() => log.push('end cb'));
/// // node 20: end cb,finish listener
/// c.end(() => c.end((e) => console.log(e.code, '|', e.message)));
/// // node 20: ERR_STREAM_ALREADY_FINISHED | Cannot call end after a stream was finished
/// ```
#[test]
fn end_callback_runs_before_finish_listeners_and_late_ones_get_already_finished() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("end callback");
        let port = sink_port();
        let c = net::connect(port, "127.0.0.1")?;
        c.on(Socket::CONNECT, move |c, _| {
            let lf = l.clone();
            c.on(Socket::FINISH, move |_, _| lf.push("finish listener"));
            let le = l.clone();
            c.end_then(move |c, err| {
                assert!(err.is_none());
                assert!(c.writable_finished());
                le.push("end cb");
                let le2 = le.clone();
                c.end_then(move |c, err| {
                    let err = err.expect("already finished");
                    le2.push(format!("{} | {err}", err.code().as_str()));
                    c.destroy();
                });
                le.push("second end_then returned");
            });
        });
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "end cb",
            "second end_then returned",
            "finish listener",
            "ERR_STREAM_ALREADY_FINISHED | Cannot call end after a stream was finished"
        ]
    );
}

/// ```js
/// c.cork(); c.write('held', (e) => log.push('write cb ' + (e && e.code)));
/// c.end((err) => log.push('end cb ' + (err && err.code)));
/// c.on('error', (e) => log.push('error ' + e.code));
/// c.on('finish', () => log.push('finish'));
/// c.destroy(Object.assign(new Error('boom'), { code: 'EBOOM' }));
/// // node 20: write cb null, end cb EBOOM, error EBOOM, close true
/// ```
///
/// Also Node's user-defined error codes (`ErrorCode::custom`).
#[test]
fn end_callback_gets_the_error_when_destroyed_before_finish() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("end callback on destroy");
        let port = sink_port();
        let c = net::connect(port, "127.0.0.1")?;
        c.on(Socket::CONNECT, move |c, _| {
            c.cork();
            let lw = l.clone();
            c.write_with("held", move |_, err| {
                lw.push(format!("write cb {:?}", err.map(|e| e.code().as_str())))
            });
            let le = l.clone();
            c.end_then(move |_, err| {
                le.push(format!("end cb {:?}", err.map(|e| e.code().as_str())))
            });
            let lr = l.clone();
            c.on(Socket::ERROR, move |_, e| {
                lr.push(format!("error {}", e.code().as_str()))
            });
            let lf = l.clone();
            c.on(Socket::FINISH, move |_, _| lf.push("finish"));
            c.destroy_with(Error::new(ErrorCode::custom("EBOOM"), "boom"));
            let lc = l.clone();
            c.on(Socket::CLOSE, move |_, had_error| {
                lc.push(format!("close {had_error}"))
            });
        });
        Ok(())
    })
    .expect("the loop ran");
    // netloop sends corked writes on the tick after `end()`, where Node
    // sends them inside it; destroyed first, the write never left and its
    // callback fails (after the error, as queued writes do).
    assert_eq!(
        log.entries(),
        [
            "end cb Some(\"EBOOM\")",
            "error EBOOM",
            "write cb Some(\"EBOOM\")",
            "close true"
        ]
    );
}

/// ```js
/// d.on('finish', () => log.push('before: destroyed=' + d.destroyed));
/// d.destroySoon();
/// d.on('finish', () => log.push('after: destroyed=' + d.destroyed));
/// d.on('close', () => log.push('close'));
/// // node 20: before: destroyed=false,after: destroyed=true,close
/// ```
#[test]
fn destroy_soon_destroys_before_finish_listeners_added_after_it() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("destroy soon");
        let port = sink_port();
        let d = net::connect(port, "127.0.0.1")?;
        d.on(Socket::CONNECT, move |d, _| {
            let lb = l.clone();
            d.on(Socket::FINISH, move |d, _| {
                lb.push(format!("before: destroyed={}", d.destroyed()))
            });
            d.destroy_soon();
            let la = l.clone();
            d.on(Socket::FINISH, move |d, _| {
                la.push(format!("after: destroyed={}", d.destroyed()))
            });
            let lc = l.clone();
            d.on(Socket::CLOSE, move |_, _| lc.push("close"));
        });
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        ["before: destroyed=false", "after: destroyed=true", "close"]
    );
}

/// ```js
/// s1.on('listening', () => log.push('listening port-only')); s1.listen(0);
/// process.nextTick(() => log.push('tick after listen(0)'));
/// s2.on('listening', () => log.push('listening literal')); s2.listen(0, '127.0.0.1');
/// process.nextTick(() => { log.push('tick after listen(0, literal)');
///                          process.nextTick(() => log.push('nested tick')); });
/// // node 20: listening port-only, tick after listen(0),
/// //          tick after listen(0, literal), listening literal, nested tick
/// ```
#[test]
fn listening_comes_on_nodes_tick_for_a_port_and_for_an_ip_literal() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("listening ticks");
        let s1 = Server::new();
        s1.on(Server::LISTENING, {
            let l = l.clone();
            move |s, _| {
                l.push("listening port-only");
                s.close();
            }
        });
        s1.listen_port(0)?;
        next_tick(l.recorder("tick after listen(0)"));
        let s2 = Server::new();
        s2.on(Server::LISTENING, {
            let l = l.clone();
            move |s, _| {
                l.push("listening literal");
                s.close();
            }
        });
        s2.listen(0, "127.0.0.1")?;
        // Still bound at once (better than Node: `address()` works here).
        assert!(s2.address().is_some());
        let l2 = l.clone();
        next_tick(move || {
            l2.push("tick after listen(0, literal)");
            next_tick(l2.recorder("nested tick"));
        });
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "listening port-only",
            "tick after listen(0)",
            "tick after listen(0, literal)",
            "listening literal",
            "nested tick"
        ]
    );
}

/// ```js
/// const server = net.createServer((s) => { s.end(); });
/// const c = net.connect(port, '127.0.0.1');
/// c.on('data', () => {});
/// c.on('error', (e) => log.push('error ' + e.code));
/// c.on('close', () => { log.push('close');
///   c.write('late', (err) => log.push('cb ' + err.code + ' ' + err.message)); });
/// // node 20: close | cb EPIPE This socket has been ended by the other party
/// ```
#[test]
fn write_after_the_peers_fin_on_an_auto_destroyed_socket_gets_epipe() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("write after FIN");
        let server = net::create_server(|server, sock: &Socket| {
            sock.end();
            server.close();
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        c.on(Socket::DATA, |_, _| {});
        let le = l.clone();
        c.on(Socket::ERROR, move |_, e| {
            le.push(format!("error {}", e.code().as_str()))
        });
        c.on(Socket::CLOSE, move |c, _| {
            l.push("close");
            let l = l.clone();
            c.write_with("late", move |_, err| {
                let err = err.expect("the write fails");
                l.push(format!("cb {} {err}", err.code().as_str()));
            });
        });
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "close",
            "cb EPIPE This socket has been ended by the other party"
        ]
    );
}

/// ```js
/// c.write('abc', () => console.log('cb: len', c.writableLength));
/// console.log('after write: len', c.writableLength);
/// process.nextTick(() => console.log('tick: len', c.writableLength));
/// setImmediate(() => { console.log('ended', c.writableEnded, c.writableFinished, c.readableEnded);
///   c.end(); c.on('finish', () => console.log('finish', c.writableEnded, c.writableFinished)); });
/// // node 20: after write: len 0 / cb: len 0 / tick: len 0 /
/// //          ended false false false / finish true true
/// ```
///
/// `writableLength` is 0 once the kernel took a write, before its callback
/// ran: Node's `onwrite` lowers the length when the write completes, and
/// defers only the callback.
#[test]
fn writable_length_and_the_ended_and_finished_getters_match_node() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("getters");
        let port = sink_port();
        let c = net::connect(port, "127.0.0.1")?;
        c.on(Socket::CONNECT, move |c, _| {
            let lc = l.clone();
            c.write_with("abc", move |c, _| {
                lc.push(format!("cb: len {}", c.writable_length()))
            });
            l.push(format!("after write: len {}", c.writable_length()));
            let (lt, c2) = (l.clone(), c.clone());
            next_tick(move || lt.push(format!("tick: len {}", c2.writable_length())));
            let (li, c3) = (l.clone(), c.clone());
            set_immediate(move || {
                li.push(format!(
                    "ended {} {} {}",
                    c3.writable_ended(),
                    c3.writable_finished(),
                    c3.readable_ended()
                ));
                c3.end();
                assert!(c3.writable_ended() && !c3.writable_finished());
                let lf = li.clone();
                c3.on(Socket::FINISH, move |c, _| {
                    lf.push(format!(
                        "finish {} {}",
                        c.writable_ended(),
                        c.writable_finished()
                    ));
                    c.destroy();
                });
            });
        });
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(
        log.entries(),
        [
            "after write: len 0",
            "cb: len 0",
            "tick: len 0",
            "ended false false false",
            "finish true true"
        ]
    );
}

/// `readable_ended` turns true with `end`, not with the FIN itself.
#[test]
fn readable_ended_turns_true_when_end_is_emitted() {
    let log = Log::new();
    let l = log.clone();
    netloop::run(move || {
        let _g = guard("readable ended");
        let server = net::create_server(|server, sock: &Socket| {
            sock.end_with("bye");
            server.close();
        });
        let port = listen_local(&server);
        let c = net::connect(port, "127.0.0.1")?;
        let ld = l.clone();
        c.on(Socket::DATA, move |c, _| {
            ld.push(format!("data: {}", c.readable_ended()))
        });
        c.on(Socket::END, move |c, _| {
            l.push(format!("end: {}", c.readable_ended()))
        });
        Ok(())
    })
    .expect("the loop ran");
    assert_eq!(log.entries(), ["data: false", "end: true"]);
}
