//! `--log-format json` (or `NCOLONY_LOG_FORMAT=json`): every line the
//! monitor writes is a JSON object, its own `{"ts","level","msg",...}` and
//! its children's `{"ts","name","line"}`; `--log-timestamps false` drops
//! the timestamps in both formats; a bad format is a usage error.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// A colony with one child, `w`, that writes a line with an invalid UTF-8
/// byte and then sleeps.
fn colony() -> Colony {
    let c = Colony::new();
    c.add_sh("w", "printf 'a\\377b\\n'; exec sleep 1000");
    c
}

/// Runs the monitor with `extra` arguments (and `env`) until `w`'s line has
/// been relayed and the monitor has stopped on SIGTERM; its whole log.
fn run_until_line(c: &Colony, extra: &[&str], env: &[(&str, &str)], child_line: &str) -> String {
    let mut cmd = c.monitor_command(extra);
    cmd.env_remove("NCOLONY_LOG_FORMAT");
    for (key, value) in env {
        cmd.env(key, value);
    }
    let mut m = Monitor::spawn(cmd);
    m.wait_log(child_line);
    m.signal(15);
    assert_eq!(
        m.wait_exit(Duration::from_secs(10)),
        Some(Some(0)),
        "{}",
        m.log()
    );
    m.log()
}

/// Every line of `log`, parsed as JSON.
fn parse_all(log: &str) -> Vec<Value> {
    log.lines()
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}\nlog:\n{log}"))
        })
        .collect()
}

fn is_rfc3339_utc(ts: &Value) -> bool {
    ts.as_str()
        .is_some_and(|ts| ts.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(ts).is_ok())
}

/// Checks the JSON log's shapes; `stamped`: whether every line has `ts`.
fn check_json(log: &str, stamped: bool) {
    let lines = parse_all(log);
    let (children, own): (Vec<&Value>, Vec<&Value>) =
        lines.iter().partition(|line| line.get("line").is_some());
    for line in &lines {
        let ts = line.get("ts");
        if stamped {
            assert!(ts.is_some_and(is_rfc3339_utc), "no RFC 3339 ts: {line}");
        } else {
            assert!(ts.is_none(), "a ts despite --log-timestamps false: {line}");
        }
    }
    for line in &own {
        assert!(line["level"].is_string(), "no level: {line}");
        assert!(line["msg"].is_string(), "no msg: {line}");
    }
    assert!(
        own.iter()
            .any(|line| line["msg"] == "started" && line["name"] == "w" && line["pid"].is_u64()),
        "no `started` line with name and pid:\n{log}"
    );
    assert!(
        own.iter()
            .any(|line| line["msg"] == "monitor started" && line["level"] == "info"),
        "no `monitor started` line:\n{log}"
    );
    let keys = if stamped {
        vec!["line", "name", "ts"]
    } else {
        vec!["line", "name"]
    };
    assert_eq!(children.len(), 1, "one child line:\n{log}");
    let child = children[0];
    let mut got: Vec<&str> = child
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    got.sort_unstable();
    assert_eq!(got, keys, "{child}");
    assert_eq!(child["name"], "w");
    assert_eq!(child["line"], "a\u{fffd}b");
}

#[test]
fn json_log_lines_are_objects_with_ts_level_msg_and_child_lines_with_ts_name_line() {
    let c = colony();
    let log = run_until_line(&c, &["--log-format", "json"], &[], r#""line":"a"#);
    check_json(&log, true);
}

#[test]
fn the_environment_chooses_json_too() {
    let c = colony();
    let log = run_until_line(&c, &[], &[("NCOLONY_LOG_FORMAT", "json")], r#""line":"a"#);
    check_json(&log, true);
}

#[test]
fn log_timestamps_false_leaves_out_the_timestamps() {
    let c = colony();
    let log = run_until_line(
        &c,
        &["--log-format", "json", "--log-timestamps", "false"],
        &[],
        r#""line":"a"#,
    );
    check_json(&log, false);

    let text = |extra: &[&str]| run_until_line(&c, extra, &[], "[w] a");
    let stamped = text(&[]);
    let started = |log: &str| {
        log.lines()
            .find(|line| line.contains(" started name=w pid="))
            .unwrap_or_else(|| panic!("no started line:\n{log}"))
            .to_owned()
    };
    // Today's text: `2026-12-01T23:42:00.123456Z  INFO started name=w pid=N`.
    let line = started(&stamped);
    let (ts, rest) = line.split_once("  ").expect("a timestamp, then the level");
    assert!(is_rfc3339_utc(&Value::from(ts)), "{line}");
    assert!(rest.starts_with("INFO started name=w pid="), "{line}");
    let bare = text(&["--log-timestamps", "false"]);
    assert!(
        started(&bare).starts_with("INFO started name=w pid="),
        "{bare}"
    );
    for line in bare.lines() {
        assert!(
            !line.starts_with(|c: char| c.is_ascii_digit() || c == ' '),
            "a timestamp (or its gap) despite --log-timestamps false: {line:?}\n{bare}"
        );
    }
    assert!(bare.contains("[w] a\u{fffd}b\n"), "{bare}");
}

#[test]
fn a_bad_log_format_is_a_usage_error() {
    // Its config directory is missing, so a monitor that took a bad value
    // would exit 1 at once rather than run.
    let mut c = Colony::new();
    c.config = c.config.join("missing");
    for args in [["--log-format", "xml"], ["--log-timestamps", "maybe"]] {
        let out = ncolony()
            .arg("monitor")
            .arg("--config")
            .arg(&c.config)
            .arg("--messages")
            .arg(&c.messages)
            .args(args)
            .output()
            .expect("run ncolony");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!(
                "ncolony: invalid value '{}' for '{}",
                args[1], args[0]
            )),
            "{stderr}"
        );
    }
    let out = ncolony()
        .arg("monitor")
        .arg("--config")
        .arg(&c.config)
        .arg("--messages")
        .arg(&c.messages)
        .env("NCOLONY_LOG_FORMAT", "yaml")
        .output()
        .expect("run ncolony");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
