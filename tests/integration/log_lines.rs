//! The monitor's log lines read as sentences: exits, signals and messages
//! are written the way an operator says them, never in Rust's Debug form.

use std::time::Duration;

use crate::support::*;

#[test]
fn log_lines_show_no_rust_debug_formatting() {
    let c = Colony::new();
    c.add_sh("web", &c.pid_recorder("web"));
    c.add_sh("fails", "exit 3");
    c.write_config(
        "grouped",
        r#"{"args": ["/bin/sleep", "1000"], "group": ["fe"]}"#,
    );
    let mut m = c.monitor(&["--frequency", "600", "--killtime", "1"]);
    let first = c.wait_pids("web", 1);
    m.wait_log("exited (exit code 3)");
    // Killed before any restart request, so the pid is still web's own.
    kill(first, 9);
    m.wait_log("exited (killed by SIGKILL)");
    c.wait_pids("web", 2);
    c.send("001", r#"{"type": "RESTART", "name": "web"}"#);
    c.send("002", r#"{"type": "RESTART-GROUP", "group": "fe"}"#);
    c.send("003", r#"{"type": "RESTART-ALL"}"#);
    m.wait_log(": RESTART web");
    m.wait_log(": RESTART-GROUP fe");
    m.wait_log(": RESTART-ALL");
    m.wait_log("stopped (killed by SIGTERM)");
    m.signal(15);
    assert_eq!(
        m.wait_exit(Duration::from_secs(10)),
        Some(Some(0)),
        "{}",
        m.log()
    );
    let log = m.log();
    for debug in [
        "Restart {",
        "RestartAll",
        "RestartGroup",
        "Signal(",
        "Code(",
        "Some(",
        "Name(",
    ] {
        assert!(
            !log.contains(debug),
            "Debug formatting {debug:?} in the log:\n{log}"
        );
    }
}

#[test]
fn a_successful_exit_is_news_and_a_failure_a_warning() {
    let c = Colony::new();
    c.write_config(
        "task",
        r#"{"args": ["/bin/sh", "-c", "exit 0"], "restart": "never"}"#,
    );
    c.write_config(
        "broken",
        r#"{"args": ["/bin/sh", "-c", "exit 3"], "restart": "never"}"#,
    );
    let m = c.monitor(&["--frequency", "600"]);
    m.wait_log("exited (exit code 0)");
    m.wait_log("exited (exit code 3)");
    let log = m.log();
    let line = |what: &str| {
        log.lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?} in:\n{log}"))
            .to_owned()
    };
    let ok = line("exited (exit code 0)");
    let failed = line("exited (exit code 3)");
    assert!(ok.contains(" INFO ") && ok.contains("task"), "{ok}");
    assert!(
        failed.contains(" WARN ") && failed.contains("broken"),
        "{failed}"
    );
}
