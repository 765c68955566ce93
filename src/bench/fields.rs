//! Every figure a run reports, defined once: its JSON name (what scripts
//! and `netloop bench report` read back), and the label and unit of the
//! human-readable table. The writer (`output.rs`) and the reader
//! (`report.rs`) both name fields through these constants, so a renamed
//! field cannot leave the report reading a name nobody writes.

/// How a value is shown in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// A count (thousands separated in the table).
    Plain,
    /// A name, an address or an id, shown as it is.
    Text,
    /// A number followed by this unit: "µs", "req/s".
    Suffix(&'static str),
    /// A fraction shown as a percentage (0.985 is "98.5%").
    Percent,
}

/// One named figure.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    /// The JSON name.
    pub key: &'static str,
    /// The table's label.
    pub label: &'static str,
    pub unit: Unit,
}

const fn field(key: &'static str, label: &'static str, unit: Unit) -> Field {
    Field { key, label, unit }
}

const fn plain(key: &'static str, label: &'static str) -> Field {
    field(key, label, Unit::Plain)
}

const fn text(key: &'static str, label: &'static str) -> Field {
    field(key, label, Unit::Text)
}

const fn with(key: &'static str, label: &'static str, unit: &'static str) -> Field {
    field(key, label, Unit::Suffix(unit))
}

// What every JSON object starts with (not in the table).

/// Bumped when a field changes meaning or goes away (adding one does not).
pub(crate) const FORMAT_VERSION: Field = text("format_version", "format version");
/// When the run started, RFC 3339 in UTC.
pub(crate) const TIMESTAMP: Field = text("timestamp", "started");
/// The command line, one string per argument.
pub(crate) const COMMAND: Field = text("command", "command");

// What was run.

pub(crate) const MODE: Field = text("mode", "mode");
pub(crate) const LABEL: Field = text("label", "label");
/// `--host` as given, when it was a name rather than an address.
pub(crate) const HOST: Field = text("host", "host");
/// The address connected to.
pub(crate) const SERVER: Field = text("server", "server");
pub(crate) const CONNECTIONS: Field = plain("connections", "connections");
pub(crate) const SIZE: Field = with("size", "message size", "B");
pub(crate) const THREADS: Field = plain("threads", "threads");
pub(crate) const PIPELINE: Field = plain("pipeline", "pipeline");
pub(crate) const TARGET_RPS: Field = with("target_rps", "target rate", "req/s");
pub(crate) const SOURCES: Field = plain("sources", "source addresses");
pub(crate) const SERVER_PID: Field = text("server_pid", "server pid");

// How it went.

/// The seconds the rates are computed over: the measured window, or the
/// part of it before the server went away.
pub(crate) const DURATION_S: Field = with("duration_s", "measured", "s");
/// Seconds into the measured window when the server went away.
pub(crate) const SERVER_GONE_S: Field = with("server_gone_s", "server went away after", "s");
/// Failed connections or requests, warm-up included.
pub(crate) const ERRORS: Field = plain("errors", "errors");
pub(crate) const FIRST_ERROR: Field = text("first_error", "first error");
pub(crate) const CLIENT_CPU_S: Field = with("client_cpu_s", "generator CPU", "s");
pub(crate) const HDR_LOG: Field = text("hdr_log", "latency log");

// Ping-pong.

pub(crate) const REQUESTS: Field = plain("requests", "requests");
pub(crate) const RPS: Field = with("rps", "throughput", "req/s");
pub(crate) const P50_US: Field = with("p50_us", "latency p50", "µs");
pub(crate) const P90_US: Field = with("p90_us", "latency p90", "µs");
pub(crate) const P99_US: Field = with("p99_us", "latency p99", "µs");
pub(crate) const P999_US: Field = with("p999_us", "latency p99.9", "µs");
pub(crate) const MAX_US: Field = with("max_us", "latency max", "µs");
pub(crate) const MEAN_US: Field = with("mean_us", "latency mean", "µs");
pub(crate) const SERVER_CPU_S: Field = with("server_cpu_s", "server CPU", "s");
pub(crate) const SERVER_CPU_UTIL: Field = field("server_cpu_util", "server CPU use", Unit::Percent);
pub(crate) const SERVER_CPU_US_PER_REQ: Field =
    with("server_cpu_us_per_req", "server CPU per request", "µs");

// The server as a whole (every mode with --server-pid). The server CPU
// fields count every thread of the server's process and of the processes
// descended from it (Node's cluster workers).

/// Processes in the server's tree (1, or a cluster's primary and workers).
pub(crate) const SERVER_PROCESSES: Field = plain("server_processes", "server processes");
/// What the acceptor is: "thread netloop-acceptor" (netloop's round-robin
/// acceptor) or "primary process" (the tree's root, Node's cluster
/// primary). Absent when the server has neither.
pub(crate) const SERVER_ACCEPTOR: Field = text("server_acceptor", "server acceptor");
/// The acceptor's CPU over the measured window, part of server_cpu_s.
pub(crate) const SERVER_ACCEPTOR_CPU_S: Field =
    with("server_acceptor_cpu_s", "server acceptor CPU", "s");
/// The server's workers: Node's cluster workers (the tree's child
/// processes) or netloop's cluster worker threads.
pub(crate) const SERVER_WORKERS: Field = plain("server_workers", "server workers");
/// The busiest worker's part of the workers' CPU over the window: 0.5 for
/// two even workers, 1 when one did all the work.
pub(crate) const SERVER_BUSIEST_WORKER_SHARE: Field = field(
    "server_busiest_worker_share",
    "busiest worker's share of the workers' CPU",
    Unit::Percent,
);
/// The whole machine over the measured window, in CPUs (1.5 is one CPU
/// and a half): busy (this run's server and generator and any other work
/// on the machine), and stolen by the hypervisor (`/proc/stat`).
pub(crate) const MACHINE_CPUS_BUSY: Field = with("machine_cpus_busy", "machine CPUs busy", "CPUs");
pub(crate) const MACHINE_CPUS_STEAL: Field = with(
    "machine_cpus_steal",
    "machine CPUs stolen by the host",
    "CPUs",
);
/// server_acceptor_cpu_s / server_cpu_s.
pub(crate) const SERVER_ACCEPTOR_SHARE: Field = field(
    "server_acceptor_share",
    "server acceptor's share of its CPU",
    Unit::Percent,
);

// Stream.

pub(crate) const BYTES: Field = with("bytes", "echoed", "B");
pub(crate) const MB_S: Field = with("mb_s", "throughput", "MB/s");
pub(crate) const SERVER_CPU_US_PER_MB: Field =
    with("server_cpu_us_per_mb", "server CPU per MB", "µs");

// Connect and idle.

pub(crate) const CONNECTS: Field = plain("connects", "connections made");
pub(crate) const CONNS_S: Field = with("conns_s", "connection rate", "conns/s");
pub(crate) const SERVER_CPU_US_PER_CONN: Field =
    with("server_cpu_us_per_conn", "server CPU per connection", "µs");
/// Source ports skipped because another socket held them (connect mode
/// with --sources; absent when none was).
pub(crate) const SOURCE_PORTS_SKIPPED: Field =
    plain("source_ports_skipped", "source ports skipped (in use)");
pub(crate) const ESTABLISHED: Field = plain("established", "established");
pub(crate) const OPEN_S: Field = with("open_s", "time to open all", "s");
pub(crate) const SERVER_RSS_BEFORE_KIB: Field =
    with("server_rss_before_kib", "server RSS before", "KiB");
pub(crate) const SERVER_RSS_AFTER_KIB: Field =
    with("server_rss_after_kib", "server RSS after", "KiB");
pub(crate) const SERVER_RSS_AFTER_CLOSE_KIB: Field = with(
    "server_rss_after_close_kib",
    "server RSS after close",
    "KiB",
);
pub(crate) const IDLE_KIB_PER_CONN: Field =
    with("idle_kib_per_conn", "server RSS per connection", "KiB");
pub(crate) const IDLE_ANON_KIB_PER_CONN: Field = with(
    "idle_anon_kib_per_conn",
    "server anon memory per connection",
    "KiB",
);

// TLS (`--tls`).

/// The protocol version negotiated ("TLSv1_3").
pub(crate) const TLS_VERSION: Field = text("tls", "TLS version");
pub(crate) const TLS_CIPHER: Field = text("tls_cipher", "TLS cipher suite");
pub(crate) const TLS_GROUP: Field = text("tls_group", "TLS key exchange");
/// "ca" (verified against --ca) or "insecure".
pub(crate) const TLS_VERIFY: Field = text("tls_verify", "TLS certificate check");
/// Connect mode: 1 when sessions were resumed (--tls-resume).
pub(crate) const TLS_RESUME: Field = plain("tls_resume", "TLS resumption (1 on)");
/// Connect mode: handshakes in the measured window, by kind.
pub(crate) const HANDSHAKES_FULL: Field = plain("handshakes_full", "full handshakes");
pub(crate) const HANDSHAKES_RESUMED: Field = plain("handshakes_resumed", "resumed handshakes");

// Timers and refresh (bench/peers/node_timers.js writes the same names).

pub(crate) const COUNT: Field = plain("count", "count");
pub(crate) const FIRED: Field = plain("fired", "fired");
pub(crate) const SET_MS: Field = with("set_ms", "set all", "ms");
pub(crate) const TOTAL_MS: Field = with("total_ms", "set and fire all", "ms");
pub(crate) const CPU_MS: Field = with("cpu_ms", "CPU", "ms");
pub(crate) const SOCKET_SET_TIMEOUT_MS: Field =
    with("socket_set_timeout_ms", "socket.setTimeout, all", "ms");
pub(crate) const SOCKET_SET_TIMEOUT_NS_PER_OP: Field =
    with("socket_set_timeout_ns_per_op", "socket.setTimeout", "ns/op");
pub(crate) const TIMER_REFRESH_MS: Field = with("timer_refresh_ms", "timeout.refresh(), all", "ms");
pub(crate) const TIMER_REFRESH_NS_PER_OP: Field =
    with("timer_refresh_ns_per_op", "timeout.refresh()", "ns/op");

// ----- attacks (slowread, halfopen, rst): what the server did under them

pub(crate) const BYTES_SENT: Field = with("bytes_sent", "bytes sent", "B");
pub(crate) const BYTES_SENT_SECOND_HALF: Field =
    with("bytes_sent_second_half", "bytes sent, second half", "B");
pub(crate) const HOLD_S: Field = with("hold_s", "held", "s");
pub(crate) const RESETS: Field = plain("resets", "resets");
pub(crate) const SERVER_ALIVE: Field = plain("server_alive", "server alive (1 yes)");
pub(crate) const SERVER_CLOSED_WHILE_HELD: Field =
    plain("server_closed_while_held", "server closed while held");
pub(crate) const SERVER_FDS_AFTER: Field = plain("server_fds_after", "server fds after");
pub(crate) const SERVER_FDS_BEFORE: Field = plain("server_fds_before", "server fds before");
pub(crate) const SERVER_FDS_DURING_HOLD: Field =
    plain("server_fds_during_hold", "server fds while held");
pub(crate) const SERVER_FDS_PEAK: Field = plain("server_fds_peak", "server fds peak");
pub(crate) const SERVER_RSS_DURING_HOLD_KIB: Field =
    with("server_rss_during_hold_kib", "server RSS while held", "KiB");
pub(crate) const SERVER_RSS_DURING_KIB: Field =
    with("server_rss_during_kib", "server RSS during", "KiB");
pub(crate) const SERVER_RSS_PEAK_KIB: Field = with("server_rss_peak_kib", "server RSS peak", "KiB");
