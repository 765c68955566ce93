//! Another thread hands work to a running loop: libuv's `uv_async_send`,
//! as `netloop::LoopHandle` and `netloop::channel`.
//!
//! The loop runs a server. A worker thread (standing in for anything that
//! blocks: a database driver, a file watcher, a GUI) posts a closure with
//! `LoopHandle::post`, which runs on the loop thread; sends reports
//! through a `channel` whose callback owns the `Server` (handles are
//! `!Send`, so a posted closure could not hold it); and, three seconds
//! later, tells the loop to close the server. With the server closed
//! nothing is alive, so `run` returns, and a post after that is refused
//! with `ERR_LOOP_CLOSED`.
//!
//! ```sh
//! cargo run --example loop_handle     # prints the port, stops in 3 s
//! nc 127.0.0.1 PORT                   # meanwhile: greeted, then closed
//! ```

use std::thread;
use std::time::Duration;

use netloop::net::{self, Socket};

/// What the worker asks of the loop.
enum Command {
    Report(String),
    Stop,
}

fn main() -> netloop::Result<()> {
    let mut kept = None;
    netloop::run(|| {
        let server = net::create_server(|_, sock: &Socket| {
            sock.end_with("hello from the loop thread\n");
        });
        server.listen(0, "127.0.0.1")?;
        if let Some(addr) = server.address() {
            println!("listening on {addr}; a worker thread stops it in 3 s");
        }

        let handle = netloop::loop_handle();
        kept = Some(handle.clone());
        // The callback lives on the loop thread and may hold the server.
        let control = netloop::channel(move |cmd: Command| match cmd {
            Command::Report(text) => println!(
                "loop thread: {text} ({} connection(s) open)",
                server.connections()
            ),
            Command::Stop => {
                println!("loop thread: closing the server");
                server.close();
            }
        });

        thread::spawn(move || {
            handle
                .post(|| println!("loop thread: a plain post runs here"))
                .expect("the server keeps the loop running");
            for second in 1..=3 {
                thread::sleep(Duration::from_secs(1)); // "blocking work"
                control
                    .send(Command::Report(format!("worker: {second} s of work done")))
                    .expect("the server keeps the loop running");
            }
            control
                .send(Command::Stop)
                .expect("the server keeps the loop running");
        });
        Ok(())
    })?;
    println!("run returned: the server closed and nothing else was alive");
    if let Some(handle) = kept {
        if let Err(err) = handle.post(|| unreachable!("the loop has ended")) {
            println!("a post now: {} ({})", err, err.code().as_str());
        }
    }
    Ok(())
}
