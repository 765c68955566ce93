//! In-process timer costs, to set beside `bench/peers/node_timers.js`,
//! which does the same in Node:
//!
//! - `timers`: set `--count` timeouts with delays spread over 1..=100 ms
//!   and run the loop until every one has fired;
//! - `refresh`: on a connected socket, call `set_timeout(10 s)` `--count`
//!   times (Node: `socket.setTimeout(10000)`), then refresh one timer
//!   `--count` times (Node: `timeout.refresh()`).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use netloop::net::{self, Socket};
use netloop::timers;

use super::output::Report;
use super::procfs;
use super::{fields, Mode, TimerArgs};

fn to_io(e: netloop::Error) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

pub(crate) fn run_timers(args: &TimerArgs) -> std::io::Result<Report> {
    let count = args.count;
    let fired = Rc::new(Cell::new(0u64));
    let last_fired = Rc::new(Cell::new(None::<Instant>));
    let set_time = Rc::new(Cell::new(Duration::ZERO));
    let cpu0 = procfs::thread_cpu_ns();
    let t0 = Instant::now();
    {
        let fired = Rc::clone(&fired);
        let last_fired = Rc::clone(&last_fired);
        let set_time = Rc::clone(&set_time);
        netloop::run(move || {
            for i in 0..count {
                let fired = Rc::clone(&fired);
                let last = Rc::clone(&last_fired);
                timers::set_timeout(Duration::from_millis(1 + i % 100), move || {
                    fired.set(fired.get() + 1);
                    if fired.get() == count {
                        last.set(Some(Instant::now()));
                    }
                });
            }
            set_time.set(t0.elapsed());
            Ok(())
        })
        .map_err(to_io)?;
    }
    let total = last_fired
        .get()
        .unwrap_or_else(Instant::now)
        .duration_since(t0);
    let cpu1 = procfs::thread_cpu_ns();
    let mut r = Report::new();
    r.str(fields::MODE, Mode::Timers.name());
    r.str(
        fields::LABEL,
        args.out.label.as_deref().unwrap_or("netloop"),
    );
    r.int(fields::COUNT, count);
    r.int(fields::FIRED, fired.get());
    r.float(fields::SET_MS, set_time.get().as_secs_f64() * 1e3);
    r.float(fields::TOTAL_MS, total.as_secs_f64() * 1e3);
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        r.float(fields::CPU_MS, (b - a) as f64 / 1e6);
    }
    Ok(r)
}

pub(crate) fn run_refresh(args: &TimerArgs) -> std::io::Result<Report> {
    let count = args.count;
    let results = Rc::new(Cell::new((Duration::ZERO, Duration::ZERO)));
    let out = Rc::clone(&results);
    netloop::run(move || {
        let server = net::create_server(|_, _| {});
        server.listen(0, "127.0.0.1")?;
        let port = server.address().map(|a| a.port()).unwrap_or(0);
        let client = net::connect(port, "127.0.0.1")?;
        client.on(Socket::CONNECT, move |c, _| {
            // Node: socket.setTimeout(10000), count times.
            let t0 = Instant::now();
            for _ in 0..count {
                c.set_timeout(Duration::from_secs(10));
            }
            let set_timeout = t0.elapsed();
            // Node: timeout.refresh(), count times.
            let t = timers::set_timeout(Duration::from_secs(10), || {});
            t.unref();
            let t1 = Instant::now();
            for _ in 0..count {
                t.refresh();
            }
            let refresh = t1.elapsed();
            t.cancel();
            out.set((set_timeout, refresh));
            c.destroy();
        });
        client.on(Socket::CLOSE, move |_, _| {
            server.close();
        });
        Ok(())
    })
    .map_err(to_io)?;
    let (set_timeout, refresh) = results.get();
    let mut r = Report::new();
    r.str(fields::MODE, Mode::Refresh.name());
    r.str(
        fields::LABEL,
        args.out.label.as_deref().unwrap_or("netloop"),
    );
    r.int(fields::COUNT, count);
    r.float(
        fields::SOCKET_SET_TIMEOUT_MS,
        set_timeout.as_secs_f64() * 1e3,
    );
    r.float(
        fields::SOCKET_SET_TIMEOUT_NS_PER_OP,
        set_timeout.as_secs_f64() * 1e9 / count.max(1) as f64,
    );
    r.float(fields::TIMER_REFRESH_MS, refresh.as_secs_f64() * 1e3);
    r.float(
        fields::TIMER_REFRESH_NS_PER_OP,
        refresh.as_secs_f64() * 1e9 / count.max(1) as f64,
    );
    Ok(r)
}
