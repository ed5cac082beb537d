//! Integration tests for the supervision core's rules of issue 8, against
//! the real binary: a burst of restart requests is one restart and no
//! backoff, and an invalid edit keeps the running process.

use std::fs;

use crate::support::*;

/// The log lines that contain `needle`.
fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn a_thousand_restart_messages_at_once_are_one_restart_without_backoff() {
    let c = Colony::new();
    c.add_sh("burst", &c.pid_recorder("burst"));
    // A long threshold makes every restart of the burst an instant death if
    // they are (wrongly) counted as deaths, so the bug cannot hide in timing.
    let mut m = c.monitor(&["--frequency", "600", "--threshold", "30"]);
    let first = c.wait_pids("burst", 1);
    m.cleanup.push(first);
    // Paused, the monitor finds all 1000 files in one scan when it resumes.
    m.signal(19); // SIGSTOP
    for i in 0..1000 {
        c.send(
            &format!("{i:04}Message.1"),
            r#"{"type": "RESTART", "name": "burst"}"#,
        );
    }
    m.signal(18); // SIGCONT
    assert!(
        wait_until(SOON, || c.pending_messages().is_empty()),
        "messages not handled; log:\n{}",
        m.log()
    );
    let second = c.wait_pids("burst", 2);
    m.cleanup.push(second);
    assert!(wait_until(SOON, || !is_alive(first)));
    assert!(is_alive(second), "{}", m.log());
    let log = m.log();
    assert_eq!(count(&log, "restarting on request"), 1, "{log}");
    assert_eq!(c.recorded_pids("burst").len(), 2, "{log}");
    assert!(!log.contains("died within the threshold"), "{log}");
    // Its own instant death now waits the minimum delay, not a grown one.
    kill(second, 9);
    m.wait_log("died within the threshold; restarting in 1s");
    let third = c.wait_pids("burst", 3);
    m.cleanup.push(third);
    assert_eq!(
        count(&m.log(), "died within the threshold"),
        1,
        "{}",
        m.log()
    );
}

#[test]
fn restart_requests_over_time_never_grow_the_delay() {
    let c = Colony::new();
    c.add_sh("steady", &c.pid_recorder("steady"));
    let mut m = c.monitor(&["--frequency", "600", "--threshold", "30"]);
    let mut pid = c.wait_pids("steady", 1);
    m.cleanup.push(pid);
    // 13 requests, each sent once the previous one has been carried out.
    for n in 2..=14 {
        c.send(
            &format!("{n:03}Message.1"),
            r#"{"type": "RESTART", "name": "steady"}"#,
        );
        pid = c.wait_pids("steady", n);
        m.cleanup.push(pid);
    }
    assert!(is_alive(pid));
    assert!(
        !m.log().contains("died within the threshold"),
        "{}",
        m.log()
    );
    kill(pid, 9);
    m.wait_log("died within the threshold; restarting in 1s");
}

#[test]
fn an_invalid_edit_keeps_the_running_process_with_its_previous_config() {
    let c = Colony::new();
    c.add_sh("web", &c.pid_recorder("web"));
    let good = fs::read_to_string(c.config.join("web")).expect("config");
    let mut m = c.monitor(&["--frequency", "600"]);
    let pid = c.wait_pids("web", 1);
    m.cleanup.push(pid);
    // A half-written save.
    c.write_config("web", r#"{"args": ["/bin/sh", "-c""#);
    m.wait_log("config web: invalid JSON");
    let log = m.log();
    assert_eq!(
        count(
            &log,
            "; keeping the running process with its previous config"
        ),
        1,
        "{log}"
    );
    assert_eq!(count(&log, "config web: "), 1, "one line only: {log}");
    assert!(is_alive(pid), "{log}");
    // Saved again as it was: nothing to do, the same process runs on.
    c.write_config("web", &good);
    assert!(
        wait_until(SOON, || count(&m.log(), "config loaded name=web") == 2),
        "{}",
        m.log()
    );
    // A later line proves that whatever the fix caused has been logged.
    c.send("001Message.1", r#"{"type": "RESTART", "name": "sync"}"#);
    m.wait_log("no process named \"sync\"");
    let log = m.log();
    assert!(!log.contains("config changed"), "{log}");
    assert!(is_alive(pid), "{log}");
    assert_eq!(c.recorded_pids("web"), [pid], "{log}");
    // A different valid config is a reconfiguration.
    c.add_sh("web", &format!("true; {}", c.pid_recorder("web")));
    let new = c.wait_pids("web", 2);
    m.cleanup.push(new);
    assert!(wait_until(SOON, || !is_alive(pid)));
}
