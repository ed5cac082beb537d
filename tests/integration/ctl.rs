//! Integration tests for `ncolony ctl`: every command and flag against the
//! built binary, bad inputs, atomic writes, message order across concurrent
//! processes, and end to end with a real `ncolony monitor`.

use std::fs;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::thread;

use crate::support::*;

/// Runs `ncolony ctl --config C --messages M ARGS...`.
fn ctl(c: &Colony, args: &[&str]) -> Output {
    c.ctl(args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts that ctl succeeded silently.
#[track_caller]
fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "ctl failed ({:?}): {}",
        out.status,
        stderr(&out)
    );
    out
}

/// Asserts that `ctl status` said no monitor runs (exit 3); its stdout.
#[track_caller]
fn no_monitor(out: Output) -> String {
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    stdout(&out)
}

/// Asserts that ctl failed with exit code 1 and a one-line `ncolony: ...`
/// error containing every one of `needles`.
#[track_caller]
fn fails(out: Output, needles: &[&str]) {
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(err.starts_with("ncolony: "), "{err:?}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    for needle in needles {
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    }
}

/// Asserts a clap usage error (exit code 2) mentioning `needle`.
#[track_caller]
fn usage_error(out: Output, needle: &str) {
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
}

fn config(c: &Colony, name: &str) -> String {
    fs::read_to_string(c.config.join(name)).expect("config file")
}

/// The message files, in name order, with their contents.
fn messages(c: &Colony) -> Vec<(String, String)> {
    let mut names: Vec<String> = fs::read_dir(&c.messages)
        .expect("list messages")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let text = fs::read_to_string(c.messages.join(&n)).expect("message");
            (n, text)
        })
        .collect()
}

/// Every entry of `dir` that a writer left behind (`*.new` or dot files).
fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".new") || n.starts_with('.'))
        .collect()
}

// ---- add ----------------------------------------------------------------

#[test]
fn add_minimal_writes_only_args() {
    let c = Colony::new();
    ok(ctl(&c, &["add", "web", "--cmd", "/bin/true"]));
    assert_eq!(config(&c, "web"), r#"{"args": ["/bin/true"]}"#);
    assert!(
        ok(ctl(&c, &["add", "web2", "--cmd", "x"]))
            .stdout
            .is_empty()
    );
}

#[test]
fn add_writes_every_flag_in_the_original_key_order() {
    let c = Colony::new();
    ok(ctl(
        &c,
        &[
            "add",
            "web",
            "--cmd",
            "/bin/sh",
            "--arg",
            "-c",
            "--arg=echo \"hi\" é",
            "--env",
            "B=1",
            "--env",
            "A=x=y",
            "--env",
            "B=2",
            "--uid",
            "1000",
            "--gid",
            "1001",
            "--env-inherit",
            "HOME",
            "--env-inherit",
            "PATH",
            "--group",
            "fe",
            "--group",
            "all",
        ],
    ));
    assert_eq!(
        config(&c, "web"),
        concat!(
            r#"{"args": ["/bin/sh", "-c", "echo \"hi\" \u00e9"], "#,
            r#""env": {"B": "2", "A": "x=y"}, "uid": 1000, "gid": 1001, "#,
            r#""env_inherit": ["HOME", "PATH"], "group": ["fe", "all"]}"#
        )
    );
}

#[test]
fn add_again_replaces_the_config() {
    let c = Colony::new();
    ok(ctl(&c, &["add", "web", "--cmd", "/bin/a", "--env", "X=1"]));
    ok(ctl(&c, &["add", "web", "--cmd", "/bin/b"]));
    assert_eq!(config(&c, "web"), r#"{"args": ["/bin/b"]}"#);
}

#[test]
fn heartbeat_flags_write_ncolony_beatcheck() {
    let c = Colony::new();
    ok(ctl(
        &c,
        &["add", "a", "--cmd", "x", "--heartbeat-status", "/run/a"],
    ));
    assert_eq!(
        config(&c, "a"),
        r#"{"args": ["x"], "ncolony.beatcheck": {"status": "/run/a", "period": 10, "grace": 3}}"#
    );
    ok(ctl(
        &c,
        &[
            "add",
            "b",
            "--cmd",
            "x",
            "--heartbeat-status",
            "/run/beats",
            "--heartbeat-period",
            "2.5",
            "--heartbeat-grace",
            "4",
        ],
    ));
    assert_eq!(
        config(&c, "b"),
        r#"{"args": ["x"], "ncolony.beatcheck": {"status": "/run/beats", "period": 2.5, "grace": 4}}"#
    );
}

#[test]
fn http_flags_write_ncolony_httpcheck() {
    let c = Colony::new();
    ok(ctl(
        &c,
        &[
            "add",
            "a",
            "--cmd",
            "x",
            "--http-check",
            "http://127.0.0.1:8080/",
        ],
    ));
    assert_eq!(
        config(&c, "a"),
        concat!(
            r#"{"args": ["x"], "ncolony.httpcheck": {"url": "http://127.0.0.1:8080/", "#,
            r#""period": 10, "timeout": 5, "grace": 3, "maxBad": 2}}"#
        )
    );
    ok(ctl(
        &c,
        &[
            "add",
            "b",
            "--cmd",
            "x",
            "--http-check",
            "http://h/",
            "--http-period",
            "1",
            "--http-timeout",
            "0.5",
            "--http-grace",
            "0",
            "--http-max-bad",
            "7",
        ],
    ));
    assert_eq!(
        config(&c, "b"),
        concat!(
            r#"{"args": ["x"], "ncolony.httpcheck": {"url": "http://h/", "#,
            r#""period": 1, "timeout": 0.5, "grace": 0, "maxBad": 7}}"#
        )
    );
}

#[test]
fn checker_settings_without_their_switch_are_usage_errors() {
    let c = Colony::new();
    for (flag, value, needed) in [
        ("--heartbeat-period", "3", "--heartbeat-status"),
        ("--heartbeat-grace", "3", "--heartbeat-status"),
        ("--http-period", "3", "--http-check"),
        ("--http-timeout", "3", "--http-check"),
        ("--http-grace", "3", "--http-check"),
        ("--http-max-bad", "3", "--http-check"),
    ] {
        usage_error(ctl(&c, &["add", "a", "--cmd", "x", flag, value]), needed);
    }
    assert!(!c.config.join("a").exists());
}

#[test]
fn bad_numbers_are_usage_errors() {
    let c = Colony::new();
    for args in [
        &["--heartbeat-status", "/s", "--heartbeat-period", "0"][..],
        &["--heartbeat-status", "/s", "--heartbeat-period", "ten"],
        &["--heartbeat-status", "/s", "--heartbeat-grace", "-1"],
        &["--http-check", "http://h/", "--http-timeout", "0"],
        &["--http-check", "http://h/", "--http-period", "inf"],
        &["--http-check", "http://h/", "--http-max-bad", "-1"],
        &["--uid", "-1"],
        &["--gid", "root"],
    ] {
        let mut all = vec!["add", "a", "--cmd", "x"];
        all.extend_from_slice(args);
        let out = ctl(&c, &all);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(args[args.len() - 2]), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
    assert!(!c.config.join("a").exists());
}

#[test]
fn extras_are_merged_last_in_their_order_and_win() {
    let c = Colony::new();
    let extras = c.work.join("extras.json");
    fs::write(
        &extras,
        r#"{"zeta": {"b": 1, "a": [1.0, 1e-5, null, true]}, "env": {"FROM": "extras"}, "alpha": "é"}"#,
    )
    .expect("write extras");
    ok(ctl(
        &c,
        &[
            "add",
            "web",
            "--cmd",
            "x",
            "--env",
            "A=1",
            "--group",
            "g",
            "--extras",
            extras.to_str().expect("utf-8 path"),
        ],
    ));
    assert_eq!(
        config(&c, "web"),
        concat!(
            r#"{"args": ["x"], "env": {"FROM": "extras"}, "group": ["g"], "#,
            r#""zeta": {"b": 1, "a": [1.0, 1e-05, null, true]}, "alpha": "\u00e9"}"#
        )
    );
}

#[test]
fn bad_extras_are_one_line_errors() {
    let c = Colony::new();
    let file = c.work.join("extras.json");
    let path = file.to_str().expect("utf-8 path");
    fails(
        ctl(&c, &["add", "a", "--cmd", "x", "--extras", path]),
        &["--extras", "extras.json", "No such file"],
    );
    for (text, needle) in [
        ("{", "invalid JSON"),
        ("[1, 2]", "expected a JSON object, found a list"),
        ("\"s\"", "expected a JSON object, found a string"),
        (r#"{"args": []}"#, "would be refused by the monitor"),
        (r#"{"uid": -1}"#, "\"uid\" must be a non-negative integer"),
    ] {
        fs::write(&file, text).expect("write extras");
        fails(
            ctl(&c, &["add", "a", "--cmd", "x", "--extras", path]),
            &[needle],
        );
    }
    assert!(!c.config.join("a").exists());
    assert!(leftovers(&c.config).is_empty());
}

#[test]
fn bad_env_is_a_one_line_error() {
    let c = Colony::new();
    fails(
        ctl(&c, &["add", "a", "--cmd", "x", "--env", "NOEQUALS"]),
        &["--env", "NOEQUALS", "KEY=VALUE"],
    );
    fails(
        ctl(&c, &["add", "a", "--cmd", "x", "--env", "=value"]),
        &["--env", "=value"],
    );
    fails(
        ctl(&c, &["add", "a", "--cmd", "x", "--group", ""]),
        &["group"],
    );
    assert!(!c.config.join("a").exists());
}

#[test]
fn usage_errors_exit_2() {
    let c = Colony::new();
    usage_error(ctl(&c, &["add", "a"]), "--cmd");
    usage_error(ctl(&c, &["add", "--cmd", "x"]), "<NAME>");
    usage_error(ctl(&c, &["restart"]), "<NAME>");
    usage_error(ctl(&c, &["restart-group"]), "<GROUP>");
    usage_error(ctl(&c, &["frobnicate"]), "frobnicate");
    usage_error(ctl(&c, &["add", "a", "--cmd", "x", "--bogus"]), "--bogus");
    // The directories are required (unless given in the environment).
    let out = ncolony()
        .args(["ctl", "restart-all"])
        .env_remove("NCOLONY_CONFIG_DIR")
        .env_remove("NCOLONY_MESSAGES_DIR")
        .output()
        .expect("run");
    usage_error(out, "--config");
}

// ---- names and directories ----------------------------------------------

#[test]
fn bad_names_are_refused_by_every_command() {
    let c = Colony::new();
    fs::write(c.config.join("x.new"), "{}").expect("write");
    for name in ["", "a/b", "../escape", ".hidden", "web.new", "x.new"] {
        for args in [
            vec!["add", name, "--cmd", "x"],
            vec!["remove", name],
            vec!["restart", name],
        ] {
            let what = if name.is_empty() { "empty" } else { name };
            fails(ctl(&c, &args), &["invalid NAME", what]);
        }
    }
    assert_eq!(fs::read_dir(&c.config).expect("list").count(), 1);
    assert!(messages(&c).is_empty());
    assert!(!c.tmp.path().join("escape").exists());
}

#[test]
fn missing_directories_are_one_line_errors() {
    let c = Colony::new();
    let nowhere = c.tmp.path().join("nowhere");
    let run_with = |config: &Path, messages: &Path, args: &[&str]| {
        ncolony()
            .arg("ctl")
            .arg("--config")
            .arg(config)
            .arg("--messages")
            .arg(messages)
            .args(args)
            .output()
            .expect("run")
    };
    fails(
        run_with(&nowhere, &c.messages, &["add", "a", "--cmd", "x"]),
        &["config directory", "nowhere", "No such file"],
    );
    fails(
        run_with(&nowhere, &c.messages, &["remove", "a"]),
        &["config directory", "nowhere"],
    );
    fails(
        run_with(&nowhere, &c.messages, &["status"]),
        &["config directory", "nowhere"],
    );
    for args in [
        &["restart", "a"][..],
        &["restart-all"],
        &["restart-group", "g"],
    ] {
        fails(
            run_with(&c.config, &nowhere, args),
            &["messages directory", "nowhere"],
        );
    }
    let file = c.work.join("plain-file");
    fs::write(&file, "").expect("write");
    fails(
        run_with(&file, &c.messages, &["add", "a", "--cmd", "x"]),
        &["config directory", "is not a directory"],
    );
}

#[test]
fn directories_can_come_from_the_environment() {
    let c = Colony::new();
    let out = ncolony()
        .args(["ctl", "add", "web", "--cmd", "x"])
        .env("NCOLONY_CONFIG_DIR", &c.config)
        .env("NCOLONY_MESSAGES_DIR", &c.messages)
        .output()
        .expect("run");
    ok(out);
    assert_eq!(config(&c, "web"), r#"{"args": ["x"]}"#);
    let out = ncolony()
        .args(["ctl", "restart", "web"])
        .env("NCOLONY_CONFIG_DIR", &c.config)
        .env("NCOLONY_MESSAGES_DIR", &c.messages)
        .output()
        .expect("run");
    ok(out);
    assert_eq!(messages(&c).len(), 1);
}

// ---- remove -------------------------------------------------------------

#[test]
fn remove_deletes_the_config_and_missing_is_an_error() {
    let c = Colony::new();
    ok(ctl(&c, &["add", "web", "--cmd", "x"]));
    ok(ctl(&c, &["remove", "web"]));
    assert!(!c.config.join("web").exists());
    fails(
        ctl(&c, &["remove", "web"]),
        &["no process \"web\" is configured"],
    );
}

// ---- messages -----------------------------------------------------------

#[test]
fn restart_messages_are_the_originals_json_in_send_order() {
    let c = Colony::new();
    ok(ctl(&c, &["restart", "web"]));
    ok(ctl(&c, &["restart-all"]));
    ok(ctl(&c, &["restart-group", "frontends"]));
    ok(ctl(&c, &["restart", "db"]));
    let texts: Vec<String> = messages(&c).into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        texts,
        [
            r#"{"type": "RESTART", "name": "web"}"#,
            r#"{"type": "RESTART-ALL"}"#,
            r#"{"type": "RESTART-GROUP", "group": "frontends"}"#,
            r#"{"type": "RESTART", "name": "db"}"#,
        ]
    );
    for (name, _) in messages(&c) {
        assert!(!name.starts_with('.') && !name.ends_with(".new"), "{name}");
    }
}

#[test]
fn messages_sort_in_send_order_across_many_concurrent_processes() {
    const SENDERS: usize = 8;
    const EACH: usize = 8;
    let c = Arc::new(Colony::new());
    let threads: Vec<_> = (0..SENDERS)
        .map(|s| {
            let c = c.clone();
            thread::spawn(move || {
                for i in 0..EACH {
                    ok(ctl(&c, &["restart", &format!("s{s}-{i}")]));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("sender thread");
    }
    let all = messages(&c);
    assert_eq!(all.len(), SENDERS * EACH, "every message has its own file");
    // Each sender sent its messages one process after another: whatever
    // the interleaving with others, its own must sort in send order.
    let mut next = [0usize; SENDERS];
    for (file, text) in &all {
        let v: serde_json::Value = serde_json::from_str(text).expect("JSON");
        let name = v["name"].as_str().expect("name");
        let (s, i) = name[1..].split_once('-').expect("sN-I");
        let (s, i): (usize, usize) = (s.parse().expect("s"), i.parse().expect("i"));
        assert_eq!(i, next[s], "{file} ({name}) out of order");
        next[s] += 1;
    }
    assert!(leftovers(&c.messages).is_empty());
}

// ---- atomicity ----------------------------------------------------------

#[test]
fn concurrent_writes_are_atomic_and_leave_nothing_behind() {
    const WRITERS: usize = 6;
    const EACH: usize = 6;
    let c = Arc::new(Colony::new());
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A reader that must only ever see complete configs (or none yet).
    let reader = {
        let (c, done) = (c.clone(), done.clone());
        thread::spawn(move || {
            let mut seen = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(text) = fs::read_to_string(c.config.join("shared")) {
                    let v: serde_json::Value = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("partial config {text:?}: {e}"));
                    assert!(v["args"][0].as_str().is_some_and(|a| a.starts_with("/w")));
                    seen += 1;
                }
            }
            seen
        })
    };
    let long_arg = "x".repeat(64 * 1024);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (c, long_arg) = (c.clone(), long_arg.clone());
            thread::spawn(move || {
                for i in 0..EACH {
                    let cmd = format!("/w{w}/{i}");
                    ok(ctl(
                        &c,
                        &["add", "shared", "--cmd", &cmd, "--arg", &long_arg],
                    ));
                    ok(ctl(&c, &["add", &format!("own-{w}-{i}"), "--cmd", &cmd]));
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer thread");
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(
        reader.join().expect("reader thread") > 0,
        "reader saw nothing"
    );
    assert!(
        leftovers(&c.config).is_empty(),
        "{:?}",
        leftovers(&c.config)
    );
    assert_eq!(
        fs::read_dir(&c.config).expect("list").count(),
        1 + WRITERS * EACH
    );
}

// ---- status -------------------------------------------------------------

#[test]
fn status_lists_configured_processes() {
    let c = Colony::new();
    ok(ctl(&c, &["add", "web", "--cmd", "x"]));
    ok(ctl(&c, &["add", "db", "--cmd", "x"]));
    fs::write(c.config.join("broken"), "{").expect("write");
    fs::write(c.config.join(".hidden"), "{}").expect("write");
    fs::write(c.config.join("pending.new"), "{}").expect("write");
    fs::create_dir(c.config.join("subdir")).expect("mkdir");
    // No monitor runs: said on the first line, exit 3, configs only.
    let out = no_monitor(ctl(&c, &["status"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines[0].starts_with("monitor: not running"), "{out}");
    let words = |line: &str| {
        line.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(words(lines[2]), "broken invalid", "{out}");
    assert!(lines[2].contains("invalid JSON"), "{out}");
    assert_eq!(words(lines[3]), "db configured", "{out}");
    assert_eq!(words(lines[4]), "web configured", "{out}");

    let json = no_monitor(ctl(&c, &["status", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(v["monitor"]["running"], false);
    assert_eq!(v["processes"][1]["name"], "db");
    assert_eq!(v["processes"][1]["state"], "configured");
    assert_eq!(v["processes"][1]["pid"], serde_json::Value::Null);
    assert_eq!(v["processes"][0]["state"], "invalid");
}

#[test]
fn status_reads_configs_as_the_monitor_does() {
    let c = Colony::new();
    // Over the NCOLONY_CONFIG bound: invalid, and not read whole.
    let huge = fs::File::create(c.config.join("huge")).expect("create");
    huge.set_len(1 << 40).expect("sparse 1 TiB");
    fs::write(c.config.join("esc\x1b[31mred"), r#"{"args": ["x"]}"#).expect("write");
    fs::write(c.config.join("web~"), r#"{"args": ["x"]}"#).expect("write");
    let out = no_monitor(ctl(&c, &["status"]));
    assert!(
        !out.contains('\x1b'),
        "a raw ESC reached the output: {out:?}"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[2].starts_with("esc\\u{1b}[31mred ") && lines[2].contains("control"),
        "{out}"
    );
    assert!(
        lines[3].starts_with("huge ") && lines[3].contains("file is 1099511627776 bytes"),
        "{out}"
    );
}

#[test]
fn status_with_a_pid_dir_tells_running_from_stopped() {
    let c = Colony::new();
    ok(ctl(&c, &["add", "alive", "--cmd", "x"]));
    ok(ctl(&c, &["add", "dead", "--cmd", "x"]));
    ok(ctl(&c, &["add", "never", "--cmd", "x"]));
    fs::create_dir(&c.pids).expect("mkdir");
    let me = std::process::id().to_string();
    fs::write(c.pids.join("alive"), &me).expect("write");
    // A pid that cannot exist (above the kernel's pid_max).
    fs::write(c.pids.join("dead"), "2147483600").expect("write");
    let pids = c.pids.to_str().expect("utf-8 path");
    let out = stdout(&ok(ctl(&c, &["status", "--pid", pids])));
    assert_eq!(
        out,
        format!("alive\trunning\t{me}\ndead\tstopped\nnever\tstopped\n")
    );
    let json = stdout(&ok(ctl(&c, &["status", "--pid", pids, "--json"])));
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(v[0]["pid"], std::process::id());
    assert_eq!(v[1]["state"], "stopped");
}

// ---- end to end with the monitor ----------------------------------------

/// Adds a `pid_recorder` process through ctl.
fn add_recorder(c: &Colony, name: &str, extra: &[&str]) {
    let script = c.pid_recorder(name);
    let mut args = vec![
        "add", name, "--cmd", "/bin/sh", "--arg", "-c", "--arg", &script,
    ];
    args.extend_from_slice(extra);
    ok(ctl(c, &args));
}

fn gone(pid: i32) -> bool {
    wait_until(SOON, || !is_alive(pid))
}

#[test]
fn end_to_end_add_restart_remove() {
    let c = Colony::new();
    let pids = c.pids.to_str().expect("utf-8 path").to_owned();
    let m = c.monitor(&["--frequency", "600", "--pid", &pids]);
    add_recorder(&c, "web", &[]);
    let first = c.wait_pids("web", 1);
    assert!(is_alive(first));
    let status = wait_for(SOON, || {
        let out = stdout(&ok(ctl(&c, &["status", "--pid", &pids])));
        (out == format!("web\trunning\t{first}\n")).then_some(out)
    });
    assert!(status.is_some(), "status never showed web running");

    ok(ctl(&c, &["restart", "web"]));
    let second = c.wait_pids("web", 2);
    assert_ne!(first, second);
    assert!(gone(first), "old pid {first} still alive");
    assert!(is_alive(second));

    ok(ctl(&c, &["restart-all"]));
    let third = c.wait_pids("web", 3);
    assert!(gone(second));

    ok(ctl(&c, &["remove", "web"]));
    assert!(gone(third), "removed process {third} still alive");
    assert!(
        wait_until(SOON, || !c.pids.join("web").exists()),
        "pid file left"
    );
    assert_eq!(c.recorded_pids("web").len(), 3, "restarted after removal");
    assert!(!m.log().contains("panicked"), "{}", m.log());
}

#[test]
fn end_to_end_restart_group_restarts_only_its_members() {
    let c = Colony::new();
    let _m = c.monitor(&["--frequency", "600"]);
    add_recorder(&c, "a", &["--group", "fe"]);
    add_recorder(&c, "b", &["--group", "fe", "--group", "all"]);
    add_recorder(&c, "other", &["--group", "all"]);
    let (a, b, other) = (
        c.wait_pids("a", 1),
        c.wait_pids("b", 1),
        c.wait_pids("other", 1),
    );
    ok(ctl(&c, &["restart-group", "fe"]));
    c.wait_pids("a", 2);
    c.wait_pids("b", 2);
    assert!(gone(a) && gone(b));
    assert!(is_alive(other), "a process outside the group was stopped");
    assert_eq!(c.recorded_pids("other"), [other]);

    ok(ctl(&c, &["restart-group", "all"]));
    c.wait_pids("b", 3);
    c.wait_pids("other", 2);
    assert_eq!(c.recorded_pids("a").len(), 2);
}

#[test]
fn end_to_end_reconfigure_and_environment() {
    let c = Colony::new();
    let pids = c.pids.to_str().expect("utf-8 path").to_owned();
    let _m = c.monitor(&["--frequency", "600", "--pid", &pids]);
    add_recorder(&c, "envy", &["--env", "GREETING=hello"]);
    let first = c.wait_pids("envy", 1);
    let env = proc_environ(first);
    assert!(env.contains(&("GREETING".to_owned(), "hello".to_owned())));
    assert!(env.contains(&("NCOLONY_CONFIG".to_owned(), config(&c, "envy"))));
    // `add` again with other settings reconfigures: a new process.
    add_recorder(&c, "envy", &["--env", "GREETING=bye"]);
    let second = c.wait_pids("envy", 2);
    assert!(gone(first));
    assert!(proc_environ(second).contains(&("GREETING".to_owned(), "bye".to_owned())));
    // Nothing but the config was written: no temporary files anywhere.
    assert!(leftovers(&c.config).is_empty());
}

// ---- the library ----------------------------------------------------------

#[test]
fn library_api_writes_what_the_cli_writes() {
    use ncolony::ctl::{self, AddOptions, CtlError, Heartbeat, HttpCheck, Places, ProcState};

    let c = Colony::new();
    let places = Places::new(&c.config, &c.messages);
    let options = AddOptions::new("/bin/sh")
        .args(["-c", "exit 0"])
        .env("A", "1")
        .env_inherit("HOME")
        .group("fe")
        .heartbeat(Heartbeat::new("/run/b").period(2.5).grace(1))
        .http_check(HttpCheck::new("http://h/").timeout(1).max_bad(0))
        .extra("ncolony.custom", &serde_json::json!({"k": [1]}));
    let path = ctl::add(&places, "lib", &options).expect("add");
    assert_eq!(path, c.config.join("lib"));
    assert_eq!(
        fs::read_to_string(&path).expect("read"),
        options.config_text()
    );
    ok(ctl(
        &c,
        &[
            "add",
            "cli",
            "--cmd",
            "/bin/sh",
            "--arg=-c",
            "--arg=exit 0",
            "--env",
            "A=1",
            "--env-inherit",
            "HOME",
            "--group",
            "fe",
            "--heartbeat-status",
            "/run/b",
            "--heartbeat-period",
            "2.5",
            "--heartbeat-grace",
            "1",
            "--http-check",
            "http://h/",
            "--http-timeout",
            "1",
            "--http-max-bad",
            "0",
        ],
    ));
    let lib = config(&c, "lib");
    let custom = r#", "ncolony.custom": {"k": [1]}}"#;
    assert_eq!(
        lib.strip_suffix(custom).map(|s| format!("{s}}}")),
        Some(config(&c, "cli"))
    );

    let first = ctl::restart(&places, "lib").expect("restart");
    let second = ctl::restart_group(&places, "fe").expect("restart-group");
    let third = ctl::restart_all(&places).expect("restart-all");
    assert!(
        first < second && second < third,
        "{first:?} {second:?} {third:?}"
    );

    let listed = ctl::status(&places, Some(&c.pids)).expect("status");
    let names: Vec<&str> = listed.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["cli", "lib"]);
    assert!(listed.iter().all(|p| p.state == ProcState::Stopped));

    assert!(matches!(
        ctl::add(&places, "a/b", &options),
        Err(CtlError::Name { .. })
    ));
    assert!(matches!(
        ctl::add(
            &places,
            "x",
            &AddOptions::new("x").extra("uid", &"root".into())
        ),
        Err(CtlError::Invalid { .. })
    ));
    assert!(matches!(
        ctl::add(
            &places,
            "x",
            &AddOptions::new("x").heartbeat(Heartbeat::new("/s").period(0))
        ),
        Err(CtlError::Value { .. })
    ));
    assert!(matches!(
        AddOptions::new("x").extras_json("[]"),
        Err(CtlError::Extras { .. })
    ));
    ctl::remove(&places, "lib").expect("remove");
    assert!(matches!(
        ctl::remove(&places, "lib"),
        Err(CtlError::NotConfigured { .. })
    ));
    let nowhere = Places::new(c.tmp.path().join("none"), c.tmp.path().join("none"));
    assert!(matches!(
        ctl::restart_all(&nowhere),
        Err(CtlError::Dir { .. })
    ));
    assert!(leftovers(&c.config).is_empty() && leftovers(&c.messages).is_empty());
}

#[test]
fn the_readme_library_example_is_the_compiled_one() {
    // `cargo test --doc` compiles src/ctl/readme_example.md (see src/ctl.rs);
    // this keeps the README showing exactly that text.
    let readme = include_str!("../../README.md");
    let example = include_str!("../../src/ctl/readme_example.md");
    assert!(
        readme.contains(&format!("### Library\n\n{example}")),
        "README's library example differs from src/ctl/readme_example.md:\n{example}"
    );
    // Every public path of the library, as it was before ctl was split into
    // files: a moved item that is not re-exported fails to compile here.
    #[expect(unused_imports, reason = "the paths themselves are the check")]
    use ncolony::ctl::{
        AddOptions, CtlArgs, CtlError, Heartbeat, HttpCheck, Number, Places, ProcState, ProcStatus,
        add, remove, restart, restart_all, restart_group, run, start, status, stop,
    };
}
