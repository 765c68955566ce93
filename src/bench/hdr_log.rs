//! `--hdr-log FILE`: the latency histogram in HdrHistogram's interval log
//! format, the one Java's `HistogramLogWriter` writes and
//! `HistogramLogProcessor`, HdrHistogram's online plotter and the Rust
//! crate's `IntervalLogIterator` read. The whole measured window is one
//! interval; the values are nanoseconds.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;

/// Write `hist`, measured over `window` from `started`, to `path`. The
/// label, when it can be one (no spaces or commas), tags the interval so
/// that logs of several servers can be concatenated and told apart.
pub(crate) fn write(
    path: &Path,
    hist: &Histogram<u64>,
    started: SystemTime,
    window: Duration,
    label: Option<&str>,
) -> io::Result<()> {
    let mut file = io::BufWriter::new(File::create(path)?);
    // Compressed, as Java's writer does: the log stays small for a 1 ns to
    // 100 s histogram.
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut log = IntervalLogWriterBuilder::new()
            .add_comment("netloop bench: request latencies in nanoseconds")
            .with_start_time(started)
            .with_base_time(started)
            .begin_log_with(&mut file, &mut serializer)?;
        log.write_histogram(hist, Duration::ZERO, window, label.and_then(Tag::new))
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    file.flush()
}
