//! How `ctl status` and `ctl events` put the monitor's files in words: the
//! status table (`3h12m`, `exit 1 2m ago`, `next start in 4s`) and one
//! line per event in local time.

use chrono::{DateTime, Local, Utc};
use serde_json::Value;

use crate::statefile::{ColonyStatus, Event, ProcessStatus};

/// A span as the table shows it: `45s`, `12m3s`, `3h12m`, `2d4h`.
pub(crate) fn span(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        3600..86400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}

fn ago(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    span((now - at).num_seconds())
}

/// The status as its first line and a table; `colour` paints the states.
pub(crate) fn status_table(
    status: &ColonyStatus,
    list: &[&ProcessStatus],
    now: DateTime<Utc>,
    colour: bool,
) -> String {
    let m = &status.monitor;
    let mut out = match (m.running, m.pid, m.since) {
        (true, Some(pid), Some(since)) => {
            format!("monitor: running, pid {pid}, up {}\n", ago(now, since))
        }
        (true, _, _) => "monitor: running (no status published yet)\n".to_owned(),
        (false, _, _) => "monitor: not running; showing the config directory only\n".to_owned(),
    };
    let mut rows = vec![
        [
            "NAME",
            "STATE",
            "READY",
            "PID",
            "UPTIME",
            "RESTARTS",
            "LAST EXIT",
            "NOTE",
        ]
        .map(str::to_owned),
    ];
    for p in list {
        let last = p.last_exit.as_ref().map_or_else(String::new, |e| {
            let how = match (&e.code, &e.signal) {
                (Some(code), _) => format!("exit {code}"),
                (None, Some(signal)) => signal.clone(),
                (None, None) => "exit".to_owned(),
            };
            format!("{how} {} ago", ago(now, e.at))
        });
        let mut note = match (&p.problem, p.next_start, p.state.as_str()) {
            (Some(problem), _, _) => problem.clone(),
            (None, Some(at), _) => format!("next start in {}", span((at - now).num_seconds())),
            (None, None, "held") => "held".to_owned(),
            (None, None, "waiting") => format!("waiting for {}", p.waiting_for.join(", ")),
            (None, None, _) => String::new(),
        };
        if let Some(text) = &p.status_text {
            // The child's own words: escaped, they must not reach a terminal raw.
            let text = text.escape_debug().to_string();
            note = if note.is_empty() {
                text
            } else {
                format!("{note}; {text}")
            };
        }
        let ready = match (p.ready, p.pid) {
            (true, _) => "yes",
            (false, Some(_)) => "no",
            (false, None) => "-",
        };
        rows.push([
            p.name.clone(),
            p.state.clone(),
            ready.to_owned(),
            p.pid.map_or_else(|| "-".to_owned(), |pid| pid.to_string()),
            p.since.map_or_else(|| "-".to_owned(), |s| ago(now, s)),
            p.restarts.to_string(),
            if last.is_empty() {
                "-".to_owned()
            } else {
                last
            },
            note,
        ]);
    }
    let mut widths = [0; 8];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for (i, row) in rows.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            let painted = match (colour && i > 0 && c == 1, cell.as_str()) {
                (true, "running") => format!("\x1b[32m{cell}\x1b[0m"),
                (true, "backoff" | "invalid" | "exited") => format!("\x1b[31m{cell}\x1b[0m"),
                (true, "starting" | "stopping" | "held" | "waiting") => {
                    format!("\x1b[33m{cell}\x1b[0m")
                }
                _ => cell.clone(),
            };
            line.push_str(&painted);
            if c + 1 < row.len() {
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One event as a line: local time, name, event, its fields.
pub(crate) fn event_line(e: &Event) -> String {
    let ts = e.ts.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S%.3f");
    let mut line = format!("{ts}  {}  {}", e.name.as_deref().unwrap_or("-"), e.event);
    for (key, value) in &e.fields {
        let shown = match value {
            Value::String(s) => s.escape_debug().to_string(),
            other => other.to_string(),
        };
        line.push_str(&format!(" {key}={shown}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_readiness_waiting_and_the_status_text() {
        let now = Utc::now();
        let proc = |name: &str, state: &str, pid, ready| ProcessStatus {
            name: name.into(),
            state: state.into(),
            pid,
            since: pid.map(|_| now),
            restarts: 0,
            last_exit: None,
            next_start: None,
            problem: None,
            restart: Some("always".into()),
            ready,
            waiting_for: Vec::new(),
            status_text: None,
            log: None,
        };
        let mut web = proc("web", "waiting", None, false);
        web.waiting_for = vec!["db".into(), "cache".into()];
        let mut db = proc("db", "running", Some(7), false);
        db.status_text = Some("replaying \x1b[31mlog".into());
        let ok = proc("ok", "running", Some(8), true);
        let status = ColonyStatus {
            monitor: crate::statefile::MonitorStatus {
                running: true,
                pid: Some(1),
                since: Some(now),
                version: None,
            },
            processes: vec![db, ok, web],
        };
        let list: Vec<&ProcessStatus> = status.processes.iter().collect();
        let table = status_table(&status, &list, now, false);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].starts_with("NAME  STATE    READY  PID"), "{table}");
        assert!(lines[2].starts_with("db    running  no     7"), "{table}");
        assert!(lines[2].ends_with("replaying \\u{1b}[31mlog"), "{table}");
        assert!(lines[3].starts_with("ok    running  yes    8"), "{table}");
        assert!(lines[4].starts_with("web   waiting  -      -"), "{table}");
        assert!(lines[4].ends_with("waiting for db, cache"), "{table}");
    }

    #[test]
    fn spans() {
        assert_eq!(span(45), "45s");
        assert_eq!(span(3 * 3600 + 12 * 60 + 5), "3h12m");
        assert_eq!(span(125), "2m5s");
        assert_eq!(span(-3), "0s");
    }
}
