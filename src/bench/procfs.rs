//! What `/proc` says about a process: CPU time and resident memory, of
//! one process or of a server's whole process tree (Node's `cluster` is a
//! primary and its workers), and of the part of a server that accepts
//! connections for the others.

/// Clock ticks per second in `/proc/PID/stat`: `USER_HZ`, which Linux fixes
/// at 100 for this interface on every architecture (`sysconf(_SC_CLK_TCK)`
/// reports the same value).
const USER_HZ: f64 = 100.0;

/// User + system CPU time of every thread of `pid`, in microseconds
/// (fields 14 and 15 of `/proc/PID/stat`, see proc(5)).
pub(crate) fn cpu_us(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu(&stat).map(ticks_to_us)
}

/// The fields of a `/proc/PID/stat` line after the command name (field
/// 2, which may hold spaces and parentheses): field 3 (state) onwards.
fn stat_tail(stat: &str) -> Option<std::str::SplitWhitespace<'_>> {
    Some(stat[stat.rfind(')')? + 1..].split_whitespace())
}

fn parse_stat_cpu(stat: &str) -> Option<u64> {
    let mut fields = stat_tail(stat)?;
    // The tail starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The parent's pid: field 4, right after the state.
fn parse_stat_ppid(stat: &str) -> Option<u32> {
    stat_tail(stat)?.nth(1)?.parse().ok()
}

fn ticks_to_us(ticks: u64) -> f64 {
    ticks as f64 * 1e6 / USER_HZ
}

/// `pid` and every process descended from it, `pid` first. This kernel
/// has no `/proc/PID/task/TID/children` (it needs CONFIG_PROC_CHILDREN),
/// so the parent of every process is read from `/proc/*/stat`.
pub(crate) fn process_tree(pid: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.filter_map(Result::ok) {
            let Some(p) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            // A process may end between the listing and the read.
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            if let Some(pp) = parse_stat_ppid(&stat) {
                parent_of.push((p, pp));
            }
        }
    }
    descendants(pid, &parent_of)
}

/// `root` and its descendants, breadth first, from (pid, parent) pairs.
fn descendants(root: u32, parent_of: &[(u32, u32)]) -> Vec<u32> {
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parent_of
                .iter()
                .filter(|&&(p, pp)| pp == parent && p != parent)
                .map(|&(p, _)| p),
        );
        i += 1;
    }
    tree
}

/// The thread name (`comm`, 15 bytes at most) of netloop's round-robin
/// acceptor: the library names it "netloop-acceptor", which the kernel
/// cuts to "netloop-accepto".
const ACCEPTOR_THREAD: &str = "netloop-accept";

/// Which part of a server accepts for the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Acceptor {
    /// netloop's round-robin acceptor thread (threads named
    /// `netloop-acceptor`).
    Thread,
    /// The root process of a process tree: Node's cluster primary, which
    /// accepts every connection under `SCHED_RR` and only holds the
    /// workers' handles under `SCHED_NONE`.
    Primary,
}

impl Acceptor {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Acceptor::Thread => "thread netloop-acceptor",
            Acceptor::Primary => "primary process",
        }
    }
}

/// A server's CPU time at one moment.
#[derive(Clone, Debug)]
pub(crate) struct ServerCpu {
    /// User + system microseconds of every thread of every process of the
    /// tree.
    pub total_us: f64,
    /// Processes in the tree.
    pub processes: usize,
    /// The acceptor's part of `total_us`, when the server has one.
    pub acceptor: Option<(Acceptor, f64)>,
    /// Each worker's part, by pid or thread id: the child processes of a
    /// tree (Node's cluster workers), else the threads named as netloop's
    /// cluster workers; empty for a server with neither.
    pub workers: Vec<(u32, f64)>,
}

/// The thread names (`comm`) of netloop's cluster workers,
/// "netloop-worker-N" cut to 15 bytes.
const WORKER_THREAD: &str = "netloop-worker";

/// The CPU time of the server `pid`: the whole process tree (a process
/// that forks workers is measured with them), its acceptor's part (the
/// primary process when the tree has several, else the threads named as
/// netloop's acceptor, if any), and each worker's. `None` when `pid`
/// cannot be read.
pub(crate) fn server_cpu(pid: u32) -> Option<ServerCpu> {
    let root = cpu_us(pid)?;
    let tree = process_tree(pid);
    let children: Vec<(u32, f64)> = tree[1..]
        .iter()
        .filter_map(|&p| Some((p, cpu_us(p)?)))
        .collect();
    let total_us = root + children.iter().map(|(_, us)| us).sum::<f64>();
    let (acceptor, workers) = if tree.len() > 1 {
        (Some((Acceptor::Primary, root)), children)
    } else {
        let acceptor = named_threads_cpu_us(pid, ACCEPTOR_THREAD);
        let acceptor = (!acceptor.is_empty())
            .then(|| (Acceptor::Thread, acceptor.iter().map(|(_, us)| us).sum()));
        (acceptor, named_threads_cpu_us(pid, WORKER_THREAD))
    };
    Some(ServerCpu {
        total_us,
        processes: tree.len(),
        acceptor,
        workers,
    })
}

impl ServerCpu {
    /// The CPU used from `earlier` to this reading, as a `ServerCpu` of
    /// differences (the acceptor's only when both readings found the same
    /// kind of acceptor; the workers found in both).
    pub(crate) fn since(self, earlier: &ServerCpu) -> ServerCpu {
        let acceptor = match (self.acceptor, earlier.acceptor) {
            (Some((k, b)), Some((j, a))) if k == j => Some((k, b - a)),
            _ => None,
        };
        let workers = self
            .workers
            .iter()
            .filter_map(|&(id, b)| {
                let (_, a) = earlier.workers.iter().find(|(e, _)| *e == id)?;
                Some((id, b - a))
            })
            .collect();
        ServerCpu {
            total_us: self.total_us - earlier.total_us,
            processes: self.processes,
            acceptor,
            workers,
        }
    }

    /// The busiest worker's part of the workers' CPU (1 / workers when
    /// they are even); `None` without two workers or without CPU used.
    pub(crate) fn busiest_worker_share(&self) -> Option<f64> {
        let sum: f64 = self.workers.iter().map(|(_, us)| us).sum();
        if self.workers.len() < 2 || sum <= 0.0 {
            return None;
        }
        let max = self.workers.iter().map(|(_, us)| *us).fold(0.0, f64::max);
        Some(max / sum)
    }
}

/// CPU microseconds of each thread of `pid` whose name starts with
/// `prefix` (`/proc/PID/task/TID/comm` and `.../stat`), by thread id in
/// order.
fn named_threads_cpu_us(pid: u32, prefix: &str) -> Vec<(u32, f64)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for task in dir.filter_map(Result::ok) {
        let Some(tid) = task.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let path = task.path();
        let named = std::fs::read_to_string(path.join("comm"))
            .is_ok_and(|comm| comm.trim_end().starts_with(prefix));
        if !named {
            continue;
        }
        let ticks = std::fs::read_to_string(path.join("stat"))
            .ok()
            .and_then(|s| parse_stat_cpu(&s));
        if let Some(t) = ticks {
            found.push((tid, ticks_to_us(t)));
        }
    }
    found.sort_by_key(|&(tid, _)| tid);
    found
}

/// Resident memory of `pid` and its descendants in KiB (`VmRSS`, or
/// `RssAnon` with `anon`), summed: pages the processes share are counted
/// once per process, as each process's RSS counts them.
pub(crate) fn tree_rss_kib(pid: u32, anon: bool) -> Option<u64> {
    let read = |p| if anon { rss_anon_kib(p) } else { rss_kib(p) };
    let root = read(pid)?;
    let tree = process_tree(pid);
    Some(root + tree[1..].iter().filter_map(|&p| read(p)).sum::<u64>())
}

/// The whole machine's CPU time so far, in microseconds summed over its
/// CPUs: busy (user, nice, system, irq, softirq) and stolen by the
/// hypervisor (steal), from the `cpu` line of `/proc/stat` (proc(5)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct MachineCpu {
    pub busy_us: f64,
    pub steal_us: f64,
}

pub(crate) fn machine_cpu() -> Option<MachineCpu> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_machine_cpu(stat.lines().next()?)
}

fn parse_machine_cpu(line: &str) -> Option<MachineCpu> {
    let mut f = line.strip_prefix("cpu ")?.split_whitespace();
    let mut next = || -> Option<u64> { f.next()?.parse().ok() };
    let (user, nice, system, _idle, _iowait, irq, softirq) = (
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
    );
    let steal = next().unwrap_or(0);
    Some(MachineCpu {
        busy_us: ticks_to_us(user + nice + system + irq + softirq),
        steal_us: ticks_to_us(steal),
    })
}

/// Resident set size of `pid` in KiB (`VmRSS` in `/proc/PID/status`).
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// Anonymous resident memory of `pid` in KiB (`RssAnon`): the heap and
/// stacks, without mapped files.
pub(crate) fn rss_anon_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "RssAnon:")
}

/// Open descriptors of `pid` (the entries of `/proc/PID/fd`).
pub(crate) fn fd_count(pid: u32) -> Option<u64> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(dir.count() as u64)
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// CPU time of the calling thread in nanoseconds (`/proc/thread-self/schedstat`,
/// first field), precise where `/proc/PID/stat` counts 10 ms ticks.
pub(crate) fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_the_command_name() {
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse_stat_cpu(line), Some(10));
        assert_eq!(parse_stat_ppid(line), Some(1));
    }

    #[test]
    fn machine_cpu_line() {
        let m = parse_machine_cpu("cpu  100 2 30 900 7 1 10 5 0 0").unwrap();
        assert_eq!(m.busy_us, 143.0 * 1e4);
        assert_eq!(m.steal_us, 5.0 * 1e4);
        assert!(parse_machine_cpu("cpu0 1 2 3 4 5 6 7 8").is_none());
        assert!(machine_cpu().is_some());
    }

    #[test]
    fn descendants_of_a_tree() {
        // 10 forked 11 and 12; 12 forked 13; 20 is elsewhere.
        let pairs = [(1, 0), (10, 1), (11, 10), (12, 10), (13, 12), (20, 1)];
        assert_eq!(descendants(10, &pairs), [10, 11, 12, 13]);
        assert_eq!(descendants(13, &pairs), [13]);
    }

    #[test]
    fn the_acceptor_thread_is_found_by_its_name() {
        // No process is spawned here (unit tests share a process with
        // socket tests); a thread named as the library names its acceptor.
        let me = std::process::id();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready) = std::sync::mpsc::channel::<()>();
        let named = std::thread::Builder::new()
            .name("netloop-acceptor".to_owned())
            .spawn(move || {
                // std names the OS thread from inside the new thread,
                // before this closure runs: once it says so, /proc shows
                // the name (reading earlier raced with it under load).
                let _ = ready_tx.send(());
                rx.recv()
            })
            .expect("spawn a thread");
        ready.recv().expect("the thread started");
        let cpu = server_cpu(me).expect("own process");
        drop(tx);
        let _ = named.join();
        assert_eq!(cpu.processes, 1);
        assert_eq!(cpu.acceptor.map(|(k, _)| k), Some(Acceptor::Thread));
        assert!(cpu.total_us >= cpu.acceptor.map_or(0.0, |(_, us)| us));
        assert!(cpu.workers.is_empty());
    }

    #[test]
    fn the_busiest_workers_share() {
        let cpu = |workers: Vec<(u32, f64)>| ServerCpu {
            total_us: 100.0,
            processes: 1,
            acceptor: None,
            workers,
        };
        assert_eq!(
            cpu(vec![(1, 30.0), (2, 10.0)]).busiest_worker_share(),
            Some(0.75)
        );
        assert_eq!(cpu(vec![(1, 30.0)]).busiest_worker_share(), None);
        assert_eq!(cpu(vec![(1, 0.0), (2, 0.0)]).busiest_worker_share(), None);
        // A worker that went away between the readings is left out.
        let later = cpu(vec![(1, 50.0), (2, 40.0)]);
        let earlier = cpu(vec![(1, 30.0), (3, 10.0)]);
        assert_eq!(later.since(&earlier).workers, vec![(1, 20.0)]);
    }

    #[test]
    fn own_process_is_readable() {
        assert!(cpu_us(std::process::id()).is_some());
        assert!(rss_kib(std::process::id()).unwrap() > 0);
        assert!(fd_count(std::process::id()).unwrap() >= 3);
    }
}
