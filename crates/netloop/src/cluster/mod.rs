//! One loop per core, in one process (Node: `cluster`, with threads
//! instead of processes).
//!
//! A netloop loop runs on one thread, as Node's does. Node scales across
//! cores by forking worker processes that share the server's port;
//! netloop starts worker threads, each running its own loop, in one
//! process. A worker's setup is ordinary single-loop code: the same
//! `create_server` and `listen` as in [`run`](crate::run). Inside a
//! worker, `listen` on a TCP address goes through the cluster, as a Node
//! worker's `listen()` asks the primary for the handle: every worker's
//! server listens on the same address, and the cluster decides which
//! worker gets each connection.
//!
//! ```
//! use std::time::Duration;
//! use netloop::cluster::{self, ClusterOptions, Policy};
//! use netloop::net::{Server, Socket};
//!
//! let (tx, rx) = std::sync::mpsc::channel();
//! let cluster = cluster::start(
//!     ClusterOptions { workers: 2, policy: Policy::RoundRobin, ..ClusterOptions::default() },
//!     move |worker| {
//!         let server = Server::new();
//!         server.on(Server::CONNECTION, move |_, sock: &Socket| {
//!             sock.end_with(format!("served by worker {}", worker.id));
//!         });
//!         // Port 0: the first worker's listen picks the port, and every
//!         // worker's server reports that same one.
//!         server.listen(0, "127.0.0.1")?;
//!         tx.send(server.address().expect("bound at once")).expect("the test waits");
//!         Ok(())
//!     },
//! )
//! .expect("the workers started");
//! let (a, b) = (rx.recv().expect("a worker reports"), rx.recv().expect("a worker reports"));
//! assert_eq!(a, b);
//!
//! // Round robin: sequential clients go to the workers in turn.
//! let mut answers = Vec::new();
//! for _ in 0..4 {
//!     let mut c = std::net::TcpStream::connect(a).expect("connect");
//!     let mut answer = String::new();
//!     std::io::Read::read_to_string(&mut c, &mut answer).expect("read");
//!     answers.push(answer);
//! }
//! assert_eq!(answers[0], answers[2]);
//! assert_eq!(answers[1], answers[3]);
//! assert_ne!(answers[0], answers[1]);
//!
//! cluster.shutdown(Duration::from_secs(5));
//! cluster.join().expect("the workers ended cleanly");
//! ```
//!
//! # The two policies
//!
//! Node's cluster has two ways to spread connections
//! (`cluster.schedulingPolicy`); so does netloop ([`Policy`]):
//!
//! - [`Policy::RoundRobin`] (the default, as in Node on Linux): one
//!   listening socket per address, owned by an acceptor thread with a
//!   loop of its own, accepts every connection and hands it to the
//!   workers' servers in turn. The connection travels to the worker's loop
//!   as a descriptor in a posted closure ([`LoopHandle`]), and the worker
//!   adopts it as if its own server had accepted it: block list,
//!   `max_connections`, [`ServerOptions`], `connection` event. Nothing
//!   reads from it on the way, so no byte the client sent early is lost
//!   or reordered. A worker whose loop is busy gets at most 64 connections
//!   it has not adopted yet; the others take the next ones. Costs one
//!   wake-up of the worker's loop per connection (none for a hand-off
//!   that joins one still queued), and the acceptor thread's own wake-up
//!   for each burst of new connections: on a 2-CPU machine about 13 µs of
//!   CPU per connection (`docs/scaling.md`).
//! - [`Policy::Shared`]: each worker's server has a socket of its own on
//!   the same port (`SO_REUSEPORT`), and the kernel spreads connections
//!   across them by a hash of the addresses. Nothing is in between, so
//!   it is the cheaper one for many short connections, but the spread is
//!   the kernel's: not even, and blind to a busy worker.
//!
//! When to use which: round robin for long-lived or uneven connections
//! (each worker gets its turn, and a stalled worker stops getting new
//! ones), shared for many short connections of similar cost (connection
//! rate is what counts, and the hash spreads them well enough). Node's
//! documentation reports its shared handles (processes racing in
//! `accept()` on one socket, not `SO_REUSEPORT`) sending most connections
//! to a few processes; the kernel's hash is fairer than that, but not
//! exact, and a worker that stalls keeps getting its share.
//!
//! What goes through the cluster: `listen` on a port ([`Server::listen`],
//! [`listen_port`](crate::net::Server::listen_port), a host name once
//! looked up, and [`listen_with`](crate::net::Server::listen_with) unless
//! [`exclusive`](crate::net::ListenOptions::exclusive) is set). Unix
//! sockets ([`listen_path`](crate::net::Server::listen_path)) and
//! [`listen_std`](crate::net::Server::listen_std) stay with the worker's
//! own server: a path can be bound once, so give each worker its own
//! (Node shares them through the primary too; netloop does not). A
//! worker's second server on the same address shares a second socket
//! with the other workers' second servers (Node keys its shared handles
//! by the how-many-th `listen` the same way), so a second `listen(0)`
//! gets a port of its own. With round robin, [`Server::fd`] is `None` in
//! a worker: the socket is the acceptor's.
//!
//! # Port 0
//!
//! `listen(0, ..)` gives every worker's server the same port, picked by
//! the first worker that listens (Node does the same). With round robin
//! there is one socket; with shared, the first worker binds port 0 and the
//! others bind the port it got.
//!
//! # Connection limits and counters
//!
//! [`ClusterOptions::max_connections`] limits the connections open in the
//! whole cluster. Each accepted connection takes a slot with a
//! compare-and-swap, so the count is exact: with the limit reached, a new
//! connection is closed at once and the worker's server emits
//! [`Server::DROP`], as over its own
//! [`set_max_connections`](crate::net::Server::set_max_connections)
//! (which still applies per server). With round robin the acceptor hands
//! the connection to a worker first, which drops it; with shared,
//! whichever worker the kernel chose. Every server a worker makes counts,
//! whatever it listens on. [`ClusterHandle::connections`] is the
//! cluster-wide count; [`ClusterHandle::stats`] has each worker's
//! [`WorkerStats`]: connections open and total, bytes read and written
//! (counted when a connection closes, so the read and write paths stay
//! as they are).
//!
//! # Shutdown
//!
//! [`ClusterHandle::shutdown`] from any thread (the primary, a signal
//! listener in a worker's loop or in a loop of the primary's own): stop
//! accepting everywhere (every worker's servers and the acceptor's
//! sockets close), let open connections finish, and at the deadline
//! close those still open ([`Server::close_all_connections`]). Each
//! worker ends when its loop has nothing left, and [`Cluster::join`]
//! returns when all have.
//!
//! # Panics and errors in a worker
//!
//! A worker whose loop panics while serving is reported (a `tracing`
//! error on `netloop::cluster` with its id and the message, and
//! [`ClusterOptions::on_worker_exit`]) and restarted: its setup runs
//! again on the same thread, with the same id and the next
//! [`generation`](Worker::generation). The panic unwound through its loop,
//! which closed everything it held: its connections were closed (the
//! clients see them end), its servers left the cluster. The other workers
//! keep serving, and with round robin the acceptor hands nothing to the
//! dead worker (a connection on its way goes to another) and includes
//! the new generation once it listens. With shared, the connections the
//! kernel had queued on the dead worker's socket are lost (Linux resets
//! them; `net.ipv4.tcp_migrate_req` moves them instead).
//!
//! Not restarted: a panic inside the setup itself (it would panic again),
//! any panic when [`restart_on_panic`](ClusterOptions::restart_on_panic)
//! is off, and anything during a shutdown. A worker that panics again
//! within a second of its start is restarted after a pause that doubles
//! each time (0.1 s up to 6.4 s). A worker whose setup returns `Err`, or
//! whose loop ends on an `error` nobody listened to, ends and is reported;
//! the cluster goes on with the others, and [`Cluster::join`] returns the
//! first such error once every worker has ended.
//!
//! # Limits
//!
//! - Threads, not processes: a worker that corrupts memory or aborts
//!   (`panic = "abort"`, a stack overflow) takes the process down. Node's
//!   cluster survives a worker's crash; netloop survives a worker's
//!   panic.
//! - Handles are `!Send`: workers share nothing but what their setup
//!   shares through `Arc` and channels; reach a worker's loop with
//!   [`LoopHandle`] or [`channel`](crate::channel).
//! - A worker's setup runs on every restart: side effects it has outside
//!   the loop (files, counters) happen again.
//!
//! [`LoopHandle`]: crate::LoopHandle
//! [`Server`]: crate::net::Server
//! [`Server::listen`]: crate::net::Server::listen
//! [`Server::DROP`]: crate::net::Server::DROP
//! [`Server::fd`]: crate::net::Server::fd
//! [`Server::close_all_connections`]: crate::net::Server::close_all_connections
//! [`ServerOptions`]: crate::net::ServerOptions

mod acceptor;
mod handle;
mod listen;
mod state;
mod worker;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;

use crate::error::{Error, ErrorCode, Result};

pub use handle::{Cluster, ClusterHandle, WorkerStats};
pub(crate) use listen::{Bound, ClusterListen};
pub(crate) use worker::{context, WorkerContext};

/// Who a worker is (Node: `cluster.worker`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Worker {
    /// 0-based index of this worker (Node's `cluster.worker.id` counts
    /// from 1). The same after a restart.
    pub id: usize,
    /// The number of workers.
    pub count: usize,
    /// Which run of the setup this is on this worker: 1 at first, one
    /// more after each restart.
    pub generation: u32,
}

/// How connections are spread over the workers (Node:
/// `cluster.schedulingPolicy`, `SCHED_RR` or `SCHED_NONE`). See the
/// [module documentation](self#the-two-policies).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Policy {
    /// One socket, one acceptor, connections handed to the workers in
    /// turn (Node's `SCHED_RR`, its default on Linux).
    #[default]
    RoundRobin,
    /// A socket per worker on the same port (`SO_REUSEPORT`), spread by
    /// the kernel.
    Shared,
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::RoundRobin => "round-robin",
            Policy::Shared => "shared",
        })
    }
}

/// Parses `round-robin` (or Node's `rr`) and `shared` (or Node's `none`,
/// from `NODE_CLUSTER_SCHED_POLICY`).
impl FromStr for Policy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Policy> {
        match s {
            "round-robin" | "rr" => Ok(Policy::RoundRobin),
            "shared" | "none" => Ok(Policy::Shared),
            other => Err(crate::error::invalid_arg(
                "policy",
                other,
                "must be 'round-robin' or 'shared'",
            )),
        }
    }
}

/// Called on the worker's thread when a generation of it ends; see
/// [`ClusterOptions::on_worker_exit`].
pub type ExitHook = Arc<dyn Fn(&WorkerExit) + Send + Sync>;

/// Options for [`start`] and [`run_with`] (Node: `cluster.setupPrimary`
/// and `cluster.schedulingPolicy`). `Default` gives one worker per core,
/// round robin, no limit, restarts on.
#[derive(Clone)]
pub struct ClusterOptions {
    /// How many workers; 0 (the default) means one per available core
    /// ([`available_parallelism`]).
    pub workers: usize,
    /// How connections are spread.
    pub policy: Policy,
    /// Connections open in the whole cluster at most; beyond it, new ones
    /// are dropped with [`Server::DROP`](crate::net::Server::DROP) on the
    /// worker's server. `None`: no limit.
    pub max_connections: Option<usize>,
    /// Restart a worker whose loop panics while serving (the default).
    pub restart_on_panic: bool,
    /// Told about every generation that ends (Node: `cluster.on('exit')`),
    /// on that worker's thread, before any restart.
    pub on_worker_exit: Option<ExitHook>,
}

impl Default for ClusterOptions {
    fn default() -> ClusterOptions {
        ClusterOptions {
            workers: 0,
            policy: Policy::RoundRobin,
            max_connections: None,
            restart_on_panic: true,
            on_worker_exit: None,
        }
    }
}

impl fmt::Debug for ClusterOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterOptions")
            .field("workers", &self.workers)
            .field("policy", &self.policy)
            .field("max_connections", &self.max_connections)
            .field("restart_on_panic", &self.restart_on_panic)
            .field(
                "on_worker_exit",
                &self.on_worker_exit.as_ref().map(|_| ".."),
            )
            .finish()
    }
}

/// A generation of a worker ended (Node: the `exit` event of
/// `cluster`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WorkerExit {
    /// The worker's index.
    pub id: usize,
    /// The generation that ended.
    pub generation: u32,
    /// Why.
    pub reason: ExitReason,
    /// A new generation starts next.
    pub restarting: bool,
}

/// Why a worker's generation ended.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ExitReason {
    /// Its loop ran out of work (Node: a worker's natural exit, code 0).
    Ended,
    /// Its setup returned this error, or its loop stopped on an `error`
    /// event nobody listened to.
    Failed(Error),
    /// It panicked, with this message.
    Panicked(String),
}

/// The number of cores this process may use, at least 1 (Node:
/// `os.availableParallelism()`): the worker count for `workers: 0`.
pub fn available_parallelism() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// Start a cluster: `opts.workers` threads, each running `setup` inside
/// its own [`run`](crate::run) (Node: `cluster.fork()` that many times,
/// each worker running the script). Returns once every thread has
/// started (their setups run on); see the [module](self) documentation.
///
/// # Errors
///
/// When a thread cannot be started (the workers already started are shut
/// down and joined first).
pub fn start<F>(opts: ClusterOptions, setup: F) -> Result<Cluster>
where
    F: Fn(Worker) -> Result<()> + Send + Sync + 'static,
{
    let workers = match opts.workers {
        0 => available_parallelism(),
        n => n,
    };
    let state = Arc::new(state::ClusterState::new(
        workers,
        opts.policy,
        opts.max_connections,
        opts.restart_on_panic,
        opts.on_worker_exit,
    ));
    let acceptor = match opts.policy {
        Policy::RoundRobin => Some(acceptor::start(&state)?),
        Policy::Shared => None,
    };
    let setup: Arc<worker::Setup> = Arc::new(setup);
    let mut threads = Vec::with_capacity(workers);
    for id in 0..workers {
        let (st, setup) = (Arc::clone(&state), Arc::clone(&setup));
        let spawned = thread::Builder::new()
            .name(format!("netloop-worker-{id}"))
            .spawn(move || worker::worker_thread(st, id, setup));
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => {
                // The workers that never started have ended.
                for missing in id..workers {
                    state.worker_ended(missing);
                }
                let left = state.live_workers.fetch_sub(workers - id, Ordering::AcqRel);
                if left == workers - id {
                    acceptor::stop(&state);
                }
                let cluster = handle::Cluster::new(state, threads, acceptor);
                cluster.shutdown(std::time::Duration::ZERO);
                let _ = cluster.join();
                return Err(Error::from(e));
            }
        }
    }
    Ok(handle::Cluster::new(state, threads, acceptor))
}

/// [`start`] a cluster and [`join`](Cluster::join) it: run until every
/// worker has ended.
///
/// # Errors
///
/// As [`start`] and [`Cluster::join`].
///
/// # Examples
///
/// Shared policy, two workers; each serves until the test has what it
/// needs, then closes its server, and the cluster ends:
///
/// ```
/// use std::io::Read;
/// use netloop::cluster::{self, ClusterOptions, Policy};
/// use netloop::net::Server;
///
/// let (tx, rx) = std::sync::mpsc::channel();
/// let client = std::thread::spawn(move || {
///     let addr = rx.recv().expect("a worker reports");
///     let mut greeting = String::new();
///     std::net::TcpStream::connect(addr).expect("connect").read_to_string(&mut greeting).expect("read");
///     greeting
/// });
/// cluster::run_with(
///     ClusterOptions { workers: 2, policy: Policy::Shared, ..ClusterOptions::default() },
///     move |worker| {
///         let server = Server::new();
///         // One connection in all: whoever gets it closes every server.
///         let handle = cluster::handle().expect("inside a worker");
///         server.on(Server::CONNECTION, move |_, sock| {
///             sock.end_with("hello");
///             handle.shutdown(std::time::Duration::from_secs(5));
///         });
///         server.listen(0, "127.0.0.1")?;
///         if worker.id == 0 {
///             tx.send(server.address().expect("bound")).expect("the primary listens");
///         }
///         Ok(())
///     },
/// )
/// .expect("the workers ended cleanly");
/// assert_eq!(client.join().expect("the client thread"), "hello");
/// ```
pub fn run_with<F>(opts: ClusterOptions, setup: F) -> Result<()>
where
    F: Fn(Worker) -> Result<()> + Send + Sync + 'static,
{
    start(opts, setup)?.join()
}

/// Run `main` on `workers` threads, each inside its own
/// [`netloop::run`](crate::run), and wait for all of them (Node: forking
/// one `cluster` worker process per core): [`run_with`] with the default
/// policy and no restarts.
///
/// # Errors
///
/// `ERR_INVALID_ARG_VALUE` for zero workers; otherwise the first worker's
/// error (by worker index). A worker that panics is reported as an
/// error (`ERR_UNHANDLED_ERROR`) after the others finish.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Barrier};
/// use netloop::cluster;
/// use netloop::net::Server;
///
/// let (tx, rx) = std::sync::mpsc::channel();
/// let both_listen = Arc::new(Barrier::new(2));
/// cluster::run(2, move |worker| {
///     let server = Server::new();
///     server.listen(0, "127.0.0.1")?;
///     tx.send((worker.id, server.address().expect("bound").port())).expect("the primary listens");
///     both_listen.wait();
///     server.close(); // a real server would keep serving
///     Ok(())
/// })
/// .expect("the loops ran");
/// let mut seen: Vec<(usize, u16)> = rx.try_iter().collect();
/// seen.sort();
/// assert_eq!(seen.len(), 2);
/// assert_eq!((seen[0].0, seen[1].0), (0, 1));
/// assert_eq!(seen[0].1, seen[1].1); // one port for both
/// ```
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
    run_with(
        ClusterOptions {
            workers,
            restart_on_panic: false,
            ..ClusterOptions::default()
        },
        main,
    )
}

/// The cluster this thread is a worker of (Node: `cluster.isWorker` and
/// `cluster.worker`): `None` on any other thread. A worker's setup uses
/// it to shut the whole cluster down, or to read its counters.
pub fn handle() -> Option<ClusterHandle> {
    context().map(|c| ClusterHandle {
        state: Arc::clone(&c.state),
    })
}

/// Find a free TCP port on `host` (the probe socket is closed before
/// this returns). Node has no equivalent. Inside a cluster, `listen(0)`
/// already gives every worker the same port; this is for code that must
/// know the port before the workers start. Another program could take
/// the port before the workers bind it.
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
