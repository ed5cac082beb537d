//! The metrics page: a snapshot of the colony, the message counts and the
//! monitor's own figures, in the Prometheus text exposition format 0.0.4.
//! Pure: it reads no clock and no file, so every line it writes is
//! unit-tested here.

use std::fmt::{Display, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ncolony_core::monitor::Exit;
use ncolony_core::monitor::view::State;

/// The page's media type (Prometheus' text format 0.0.4).
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every state of [`State`], in the order the page lists them.
pub(crate) const STATES: [State; 8] = [
    State::Starting,
    State::Running,
    State::Backoff,
    State::Stopping,
    State::Held,
    State::Exited,
    State::Invalid,
    State::Waiting,
];

/// A state's place in [`STATES`]. One arm per state with no catch-all, so
/// that a new state does not compile until the page lists it.
fn index(state: State) -> usize {
    match state {
        State::Starting => 0,
        State::Running => 1,
        State::Backoff => 2,
        State::Stopping => 3,
        State::Held => 4,
        State::Exited => 5,
        State::Invalid => 6,
        State::Waiting => 7,
    }
}

/// One name as the page shows it (taken from the status view).
#[derive(Debug)]
pub(crate) struct Row {
    /// The process name.
    pub(crate) name: String,
    /// Its state.
    pub(crate) state: State,
    /// Whether its live child is ready (issue 12's readiness).
    pub(crate) ready: bool,
    /// Its restarts since the monitor started.
    pub(crate) restarts: u64,
    /// When its live child started, in Unix seconds; `None` without one.
    pub(crate) start_time: Option<f64>,
    /// How its last process ended, if one has.
    pub(crate) last_exit: Option<Exit>,
    /// Its output byte count, kept current by its relays.
    pub(crate) log_bytes: Arc<AtomicU64>,
}

/// The colony as of the monitor's last status publication.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// Every name, sorted.
    pub(crate) rows: Vec<Row>,
}

/// The monitor's own figures, read at each scrape.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Own {
    /// When the monitor started, in Unix seconds.
    pub(crate) start_time: f64,
    /// Its resident memory in bytes, if `/proc` said.
    pub(crate) resident_memory: Option<u64>,
    /// Its open file descriptors, if `/proc` said.
    pub(crate) open_fds: Option<u64>,
}

/// The page for `snapshot`, `messages` (each type's count, in order) and
/// the monitor's own figures.
pub(crate) fn render(snapshot: &Snapshot, messages: &[(&str, u64)], own: &Own) -> String {
    let rows = &snapshot.rows;
    let mut page = Page(String::with_capacity(256 + rows.len() * 1024));
    let per_name = |page: &mut Page, name, kind, help, value: &dyn Fn(&Row) -> Option<f64>| {
        page.family(name, kind, help);
        for row in rows {
            if let Some(v) = value(row) {
                page.sample(name, &[("name", &row.name)], v);
            }
        }
    };
    per_name(
        &mut page,
        "ncolony_process_up",
        "gauge",
        "Whether the process is running (1) or not (0).",
        &|r| Some(f64::from(u8::from(r.state == State::Running))),
    );
    per_name(
        &mut page,
        "ncolony_process_ready",
        "gauge",
        "Whether the process's live child is ready (1) or not (0), as its ready key defines it.",
        &|r| Some(f64::from(u8::from(r.ready))),
    );
    per_name(
        &mut page,
        "ncolony_process_restarts_total",
        "counter",
        "Starts of the process after its first since the monitor started.",
        &|r| Some(r.restarts as f64),
    );
    per_name(
        &mut page,
        "ncolony_process_start_time_seconds",
        "gauge",
        "Start time of the process's live child since the Unix epoch, in seconds; absent without one.",
        &|r| r.start_time,
    );
    per_name(
        &mut page,
        "ncolony_process_last_exit_code",
        "gauge",
        "Exit code of the process's last child; absent until one exits, and when a signal killed it.",
        &|r| match r.last_exit {
            Some(Exit::Code(code)) => Some(f64::from(code)),
            Some(Exit::Signal(_)) | None => None,
        },
    );
    per_name(
        &mut page,
        "ncolony_process_last_exit_signal",
        "gauge",
        "Number of the signal that killed the process's last child; absent unless one did.",
        &|r| match r.last_exit {
            Some(Exit::Signal(sig)) => Some(f64::from(sig)),
            Some(Exit::Code(_)) | None => None,
        },
    );

    let name = "ncolony_process_state";
    page.family(
        name,
        "gauge",
        "The process's state: 1 for the state it is in, 0 for the others.",
    );
    for row in rows {
        for state in STATES {
            let value = u8::from(row.state == state);
            page.sample(
                name,
                &[("name", &row.name), ("state", state.as_str())],
                value,
            );
        }
    }

    let name = "ncolony_processes";
    page.family(name, "gauge", "Configured processes in each state.");
    let mut counts = [0u64; STATES.len()];
    for row in rows {
        counts[index(row.state)] += 1;
    }
    for (state, count) in STATES.iter().zip(counts) {
        page.sample(name, &[("state", state.as_str())], count);
    }

    let name = "ncolony_log_bytes_total";
    page.family(
        name,
        "counter",
        "Bytes of output the process's children wrote since the monitor started.",
    );
    for row in rows {
        let bytes = row.log_bytes.load(Ordering::Relaxed);
        page.sample(name, &[("name", &row.name)], bytes);
    }

    let name = "ncolony_messages_total";
    page.family(
        name,
        "counter",
        "Messages handled, by type; type=\"rejected\" counts the refused ones.",
    );
    for (kind, count) in messages {
        page.sample(name, &[("type", kind)], count);
    }

    let name = "ncolony_monitor_start_time_seconds";
    page.family(
        name,
        "gauge",
        "Start time of the monitor since the Unix epoch, in seconds.",
    );
    page.sample(name, &[], own.start_time);
    let name = "ncolony_monitor_resident_memory_bytes";
    page.family(name, "gauge", "Resident memory of the monitor, in bytes.");
    if let Some(bytes) = own.resident_memory {
        page.sample(name, &[], bytes);
    }
    let name = "ncolony_monitor_open_fds";
    page.family(name, "gauge", "Open file descriptors of the monitor.");
    if let Some(fds) = own.open_fds {
        page.sample(name, &[], fds);
    }
    page.0
}

/// The page being written.
struct Page(String);

impl Page {
    /// A family's `HELP` and `TYPE` lines (`help` is written as is: every
    /// help text is ours and has no backslash or newline).
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        debug_assert!(!help.contains(['\\', '\n']));
        // Writing to a String cannot fail.
        let _ok = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample line.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                self.0.push_str(label);
                self.0.push_str("=\"");
                escape(&mut self.0, value);
                self.0.push('"');
            }
            self.0.push('}');
        }
        let _ok = writeln!(self.0, " {value}");
    }
}

/// A label value as the format writes it: backslash, double quote and
/// newline escaped (a process name may hold any of them).
fn escape(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, state: State) -> Row {
        Row {
            name: name.to_owned(),
            state,
            ready: false,
            restarts: 0,
            start_time: None,
            last_exit: None,
            log_bytes: Arc::default(),
        }
    }

    const OWN: Own = Own {
        start_time: 1_700_000_000.5,
        resident_memory: Some(4096),
        open_fds: Some(7),
    };

    fn lines(page: &str) -> Vec<&str> {
        page.lines().collect()
    }

    #[test]
    fn the_states_are_listed_each_at_its_index() {
        for (i, state) in STATES.iter().enumerate() {
            assert_eq!(index(*state), i, "{}", state.as_str());
        }
    }

    #[test]
    fn a_running_process_and_a_crashed_one() {
        let mut web = row("web", State::Running);
        web.ready = true;
        web.restarts = 2;
        web.start_time = Some(1_700_000_100.25);
        web.last_exit = Some(Exit::Signal(9));
        web.log_bytes.store(1234, Ordering::Relaxed);
        let mut job = row("job", State::Backoff);
        job.last_exit = Some(Exit::Code(3));
        let snapshot = Snapshot {
            rows: vec![job, web],
        };
        let page = render(&snapshot, &[("RESTART", 1), ("rejected", 0)], &OWN);
        let lines = lines(&page);
        for expected in [
            "ncolony_process_up{name=\"job\"} 0",
            "ncolony_process_up{name=\"web\"} 1",
            "ncolony_process_ready{name=\"web\"} 1",
            "ncolony_process_restarts_total{name=\"web\"} 2",
            "ncolony_process_start_time_seconds{name=\"web\"} 1700000100.25",
            "ncolony_process_last_exit_code{name=\"job\"} 3",
            "ncolony_process_last_exit_signal{name=\"web\"} 9",
            "ncolony_process_state{name=\"job\",state=\"backoff\"} 1",
            "ncolony_process_state{name=\"job\",state=\"running\"} 0",
            "ncolony_process_state{name=\"web\",state=\"waiting\"} 0",
            "ncolony_processes{state=\"running\"} 1",
            "ncolony_processes{state=\"held\"} 0",
            "ncolony_log_bytes_total{name=\"web\"} 1234",
            "ncolony_messages_total{type=\"RESTART\"} 1",
            "ncolony_messages_total{type=\"rejected\"} 0",
            "ncolony_monitor_start_time_seconds 1700000000.5",
            "ncolony_monitor_resident_memory_bytes 4096",
            "ncolony_monitor_open_fds 7",
        ] {
            assert!(lines.contains(&expected), "no {expected:?} in\n{page}");
        }
        // What a name does not have is left out, not written as 0.
        for absent in [
            "ncolony_process_start_time_seconds{name=\"job\"}",
            "ncolony_process_last_exit_code{name=\"web\"}",
            "ncolony_process_last_exit_signal{name=\"job\"}",
        ] {
            assert!(!page.contains(absent), "{absent:?} in\n{page}");
        }
        // One line per state for each name.
        let states = lines
            .iter()
            .filter(|l| l.starts_with("ncolony_process_state{name=\"web\""))
            .count();
        assert_eq!(states, STATES.len());
    }

    #[test]
    fn every_family_has_help_and_type_before_its_samples() {
        let snapshot = Snapshot {
            rows: vec![row("a", State::Held)],
        };
        let page = render(&snapshot, &[("STOP", 1)], &OWN);
        let mut current: Option<String> = None;
        let mut families = Vec::new();
        for line in page.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().expect("a name");
                families.push(name.to_owned());
                current = None;
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("name and type");
                assert_eq!(Some(name), families.last().map(String::as_str), "{line}");
                assert!(kind == "gauge" || kind == "counter", "{line}");
                assert_eq!(name.ends_with("_total"), kind == "counter", "{line}");
                current = Some(name.to_owned());
                continue;
            }
            let family = current.as_deref().expect("a sample after its TYPE line");
            let sample = line.split(['{', ' ']).next().expect("a name");
            assert_eq!(sample, family, "{line}");
        }
        assert_eq!(families.len(), 13, "{families:?}");
    }

    #[test]
    fn label_values_are_escaped() {
        let snapshot = Snapshot {
            rows: vec![row("a\"b\\c\nd", State::Running)],
        };
        let page = render(&snapshot, &[], &OWN);
        assert!(
            page.contains("ncolony_process_up{name=\"a\\\"b\\\\c\\nd\"} 1\n"),
            "{page}"
        );
        // The raw newline never reaches the page: every line is a comment
        // or starts with a family name.
        assert!(
            page.lines()
                .all(|l| l.starts_with("# ") || l.starts_with("ncolony_"))
        );
    }

    #[test]
    fn own_figures_that_could_not_be_read_are_left_out() {
        let own = Own {
            resident_memory: None,
            open_fds: None,
            ..OWN
        };
        let page = render(&Snapshot::default(), &[], &own);
        assert!(page.contains("# TYPE ncolony_monitor_open_fds gauge\n"));
        for absent in [
            "ncolony_monitor_open_fds",
            "ncolony_monitor_resident_memory_bytes",
        ] {
            assert!(!page.lines().any(|l| l.starts_with(absent)), "{page}");
        }
        assert!(page.contains("ncolony_processes{state=\"running\"} 0\n"));
    }
}
