//! What `/proc` says about a process: CPU time and resident memory.

/// Clock ticks per second in `/proc/PID/stat`: `USER_HZ`, which Linux fixes
/// at 100 for this interface on every architecture (`sysconf(_SC_CLK_TCK)`
/// reports the same value).
const USER_HZ: f64 = 100.0;

/// User + system CPU time of every thread of `pid`, in microseconds
/// (fields 14 and 15 of `/proc/PID/stat`, see proc(5)).
pub(crate) fn cpu_us(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu(&stat).map(|ticks| ticks as f64 * 1e6 / USER_HZ)
}

fn parse_stat_cpu(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses; the
    // fields after its closing parenthesis are plain.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // `rest` starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
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
    }

    #[test]
    fn own_process_is_readable() {
        assert!(cpu_us(std::process::id()).is_some());
        assert!(rss_kib(std::process::id()).unwrap() > 0);
        assert!(fd_count(std::process::id()).unwrap() >= 3);
    }
}
