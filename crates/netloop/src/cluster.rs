//! One loop per core, in one process.
//!
//! Node scales across cores with `cluster`, forking a process per core. A
//! netloop loop is single-threaded too, but threads are cheap: [`run`]
//! starts one thread per worker, each with its own loop, and waits for all
//! of them. Workers share nothing; to serve one port from every worker,
//! each listens with [`ListenOptions::reuse_port`](crate::net::ListenOptions)
//! and the kernel spreads incoming connections across them
//! (`SO_REUSEPORT`).
//!
//! ```
//! use std::sync::mpsc;
//! use netloop::cluster;
//! use netloop::net::{ListenOptions, Server, Socket};
//!
//! // Pick a free port first, so every worker can ask for the same one.
//! let port = cluster::reserve_port("127.0.0.1").expect("a free port");
//! let (tx, rx) = mpsc::channel();
//! cluster::run(2, move |worker| {
//!     let server = Server::new();
//!     server.listen_with(ListenOptions {
//!         port,
//!         host: Some("127.0.0.1".into()),
//!         reuse_port: true,
//!         ..ListenOptions::default()
//!     })?;
//!     tx.send(worker.id).expect("receiver alive");
//!     server.close(); // a real server would keep serving
//!     Ok(())
//! })
//! .expect("the loop ran");
//! let mut ids: Vec<usize> = rx.try_iter().collect();
//! ids.sort();
//! assert_eq!(ids, vec![0, 1]);
//! ```

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::thread;

use crate::error::{Error, ErrorCode, Result};

/// Who a worker is: its index and how many there are (Node:
/// `cluster.worker.id`, which counts from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Worker {
    /// 0-based index of this worker.
    pub id: usize,
    /// The number of workers.
    pub count: usize,
}

/// The number of cores this process may use, at least 1 (Node:
/// `os.availableParallelism()`): a good worker count for [`run`].
pub fn available_parallelism() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// Run `main` on `workers` threads, each inside its own
/// [`netloop::run`](crate::run), and wait for all of them (Node: forking
/// one `cluster` worker process per core). See the [module](self)
/// documentation for an example.
///
/// # Errors
///
/// The first worker's error (by worker index), or `ERR_INVALID_ARG_VALUE`
/// for zero workers. A worker that panics is reported as an error after the
/// others finish.
pub fn run<F>(workers: usize, main: F) -> Result<()>
where
    F: Fn(Worker) -> Result<()> + Send + Sync + 'static,
{
    if workers == 0 {
        return Err(crate::error::invalid_arg(
            "workers",
            workers,
            "must be at least 1",
        ));
    }
    let main = Arc::new(main);
    let mut handles = Vec::with_capacity(workers);
    for id in 0..workers {
        let main = Arc::clone(&main);
        let worker = Worker { id, count: workers };
        let handle = thread::Builder::new()
            .name(format!("netloop-worker-{id}"))
            .spawn(move || crate::run(|| main(worker)))
            .map_err(Error::from)?;
        handles.push(handle);
    }
    let mut first_err = None;
    for (id, h) in handles.into_iter().enumerate() {
        let res = h.join().unwrap_or_else(|_| {
            Err(Error::new(
                ErrorCode::ERR_UNHANDLED_ERROR,
                format!("netloop worker {id} panicked"),
            ))
        });
        if let Err(e) = res {
            first_err.get_or_insert(e);
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Find a free TCP port on `host` that every worker can then listen on with
/// `reuse_port` (the probe socket is closed before this returns). Node has
/// no equivalent: its workers share the primary's listening socket.
/// Another program could take the port before the workers bind it; a server
/// with a fixed port in its configuration does not need this.
///
/// # Errors
///
/// `ERR_INVALID_IP_ADDRESS` when `host` is not an IP literal; the bind
/// error otherwise.
pub fn reserve_port(host: &str) -> Result<u16> {
    let ip: IpAddr = host.parse().map_err(|_| {
        Error::new(
            ErrorCode::ERR_INVALID_IP_ADDRESS,
            format!("Invalid IP address: {host}"),
        )
    })?;
    let l = std::net::TcpListener::bind(SocketAddr::new(ip, 0))?;
    Ok(l.local_addr()?.port())
}
