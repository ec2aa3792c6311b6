//! Where log lines go: standard output, in batches. A service under load logs a line per request
//! (the access log); one `write` call per line was one of the few system calls each request
//! costs (docs/BENCHMARKS.md). Lines wait in memory and are written together: every
//! [`FLUSH_EVERY`], when [`FLUSH_BYTES`] are waiting, and at once for a warning or an error
//! (after the lines before it, in order). Before the service exits, [`LogFlush`] writes what
//! waits. As with nginx's buffered access log, a process killed outright (`SIGKILL`) loses the
//! informational lines of its last [`FLUSH_EVERY`]; its warnings and errors are already out.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// The longest an informational line waits before it is written.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Waiting lines are written once they take this many bytes.
pub(crate) const FLUSH_BYTES: usize = 64 * 1024;

/// Lines waiting for `out`, shared by every thread that logs.
pub(crate) struct LineBuffer<W> {
    /// Every line is urgent (no thread writes the waiting ones).
    write_through: bool,
    waiting: Mutex<Vec<u8>>,
    /// The output, locked for the whole of a write so that batches leave in the order they were
    /// taken; with the buffer the last batch went out of, kept to reuse its memory.
    out: Mutex<(W, Vec<u8>)>,
}

impl<W: Write> LineBuffer<W> {
    /// Lines wait until a flush.
    pub(crate) fn new(out: W) -> Self {
        Self {
            write_through: false,
            waiting: Mutex::new(Vec::with_capacity(FLUSH_BYTES)),
            out: Mutex::new((out, Vec::with_capacity(FLUSH_BYTES))),
        }
    }

    /// Every line is written at once.
    pub(crate) fn write_through(out: W) -> Self {
        Self {
            write_through: true,
            ..Self::new(out)
        }
    }

    /// Adds one line (or any bytes the formatter writes); writes what waits when it is
    /// `urgent` or when enough waits.
    fn add(&self, line: &[u8], urgent: bool) -> io::Result<()> {
        let full = {
            let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
            waiting.extend_from_slice(line);
            waiting.len() >= FLUSH_BYTES
        };
        if urgent || full || self.write_through {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Writes every waiting line.
    pub(crate) fn flush(&self) -> io::Result<()> {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let (out, batch) = &mut *out;
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
            if waiting.is_empty() {
                return Ok(());
            }
            std::mem::swap(&mut *waiting, batch);
        }
        let written = out.write_all(batch).and_then(|()| out.flush());
        batch.clear();
        written
    }
}

/// What the formatter writes one event's line through.
pub(crate) struct LineWriter<'a, W: Write> {
    buffer: &'a LineBuffer<W>,
    urgent: bool,
}

impl<W: Write> Write for LineWriter<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.add(bytes, self.urgent)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The writer for each event: warnings and errors are urgent.
#[derive(Clone)]
pub(crate) struct BufferedOutput<W>(pub(crate) Arc<LineBuffer<W>>);

impl<'a, W: Write + 'a> MakeWriter<'a> for BufferedOutput<W> {
    type Writer = LineWriter<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            buffer: &self.0,
            urgent: true,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter {
            buffer: &self.0,
            urgent: *meta.level() <= Level::WARN,
        }
    }
}

/// Writes the waiting log lines when dropped: held by the service until it exits.
#[must_use = "dropping it is what writes the last lines"]
pub struct LogFlush(Arc<LineBuffer<io::Stdout>>);

impl Drop for LogFlush {
    fn drop(&mut self) {
        let _ = self.0.flush();
    }
}

impl std::fmt::Debug for LogFlush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogFlush")
    }
}

/// Standard output through a [`LineBuffer`], with a thread that writes the waiting lines every
/// [`FLUSH_EVERY`]; the [`LogFlush`] writes the rest at exit.
pub(crate) fn buffered_stdout() -> (BufferedOutput<io::Stdout>, LogFlush) {
    let buffer = Arc::new(LineBuffer::new(io::stdout()));
    let flushed = Arc::downgrade(&buffer);
    let timer = std::thread::Builder::new()
        .name("log-flush".into())
        .spawn(move || {
            loop {
                std::thread::sleep(FLUSH_EVERY);
                let Some(buffer) = flushed.upgrade() else {
                    return;
                };
                let _ = buffer.flush();
            }
        });
    if let Err(error) = timer {
        // Without the timer nothing would write the informational lines until a warning or
        // the buffer filled: write every line at once instead.
        eprintln!("cannot start the log-flush thread ({error}); writing every log line at once");
        let through = Arc::new(LineBuffer::write_through(io::stdout()));
        return (BufferedOutput(Arc::clone(&through)), LogFlush(through));
    }
    (BufferedOutput(Arc::clone(&buffer)), LogFlush(buffer))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// An output that records each write call.
    #[derive(Clone, Default)]
    struct Recorded(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Recorded {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(bytes.to_vec());
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Recorded {
        fn writes(&self) -> Vec<String> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .map(|bytes| String::from_utf8(bytes.clone()).unwrap())
                .collect()
        }
    }

    fn buffer() -> (BufferedOutput<Recorded>, Recorded) {
        let out = Recorded::default();
        (BufferedOutput(Arc::new(LineBuffer::new(out.clone()))), out)
    }

    #[test]
    fn informational_lines_wait_and_leave_together_in_order() {
        let (output, out) = buffer();
        for n in 0..3 {
            LineWriter {
                buffer: &output.0,
                urgent: false,
            }
            .write_all(format!("info {n}\n").as_bytes())
            .unwrap();
        }
        assert!(out.writes().is_empty(), "nothing written yet");
        output.0.flush().unwrap();
        assert_eq!(out.writes(), vec!["info 0\ninfo 1\ninfo 2\n"]);
        output.0.flush().unwrap();
        assert_eq!(out.writes().len(), 1, "an empty buffer writes nothing");
    }

    #[test]
    fn a_warning_goes_out_at_once_after_the_lines_before_it() {
        let (output, out) = buffer();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(output.clone())
            .without_time()
            .with_ansi(false)
            .with_target(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("first");
            tracing::info!("second");
            assert!(out.writes().is_empty());
            tracing::warn!("trouble");
        });
        let writes = out.writes();
        assert_eq!(writes.len(), 1, "{writes:?}");
        let lines: Vec<&str> = writes[0].lines().collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        for (line, (level, message)) in
            lines
                .iter()
                .zip([("INFO", "first"), ("INFO", "second"), ("WARN", "trouble")])
        {
            assert!(line.contains(level) && line.ends_with(message), "{line}");
        }
    }

    #[test]
    fn lines_are_written_once_enough_bytes_wait() {
        let (output, out) = buffer();
        let line = format!("{}\n", "x".repeat(1023));
        let writer = || LineWriter {
            buffer: &output.0,
            urgent: false,
        };
        for _ in 0..(FLUSH_BYTES / line.len() - 1) {
            writer().write_all(line.as_bytes()).unwrap();
        }
        assert!(out.writes().is_empty());
        writer().write_all(line.as_bytes()).unwrap();
        assert_eq!(out.writes().len(), 1);
        assert_eq!(out.writes()[0].len(), FLUSH_BYTES);
    }
}
