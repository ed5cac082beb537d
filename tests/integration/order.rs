//! Start order with real processes: an `after` chain started in order and
//! shut down in reverse, a one-shot task waited for, `ctl wait`, and the
//! checks `ctl validate` and `ctl add` make of `after` and `ready`.

use std::fs;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::readiness::{config, events, is_ready, process};
use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

/// A child that appends `start NAME` to `log`, says it is ready on fd 3
/// once `work/go-NAME` exists, and appends `stop NAME` when stopped.
fn chain_link(c: &Colony, name: &str, after: &[&str]) {
    let log = c.work.join("order.log");
    let go = c.work.join(format!("go-{name}"));
    let script = format!(
        "trap 'echo stop {name} >> {log}; exit 0' TERM; echo start {name} >> {log}; \
         while [ ! -e {go} ]; do sleep 0.02; done; echo >&3; \
         while :; do sleep 0.05; done",
        log = log.display(),
        go = go.display()
    );
    config(
        c,
        name,
        &json!({"args": ["/bin/sh", "-c", script], "ready": {"fd": 3}, "after": after}),
    );
}

fn order_log(c: &Colony) -> Vec<String> {
    fs::read_to_string(c.work.join("order.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn go(c: &Colony, name: &str) {
    fs::write(c.work.join(format!("go-{name}")), "").expect("touch");
}

#[test]
fn a_three_level_after_chain_starts_in_order_and_stops_in_reverse() {
    let c = Colony::new();
    chain_link(&c, "web", &["api"]);
    chain_link(&c, "api", &["db"]);
    chain_link(&c, "db", &[]);
    let mut m = c.monitor(&[]);
    assert!(
        wait_until(WAIT, || order_log(&c) == ["start db"]),
        "{:?}",
        order_log(&c)
    );
    // api waits for db, and says so.
    assert!(
        wait_until(WAIT, || process(&c, "api")["state"] == "waiting"),
        "{}",
        process(&c, "api")
    );
    assert_eq!(process(&c, "api")["waiting_for"], json!(["db"]));
    let table = String::from_utf8_lossy(&c.ctl(&["status"]).stdout).into_owned();
    assert!(table.contains("waiting for db"), "{table}");
    assert!(!events(&c, "api", "waiting").is_empty());
    assert!(stays(Duration::from_millis(300), || order_log(&c) == ["start db"]));
    go(&c, "db");
    assert!(
        wait_until(WAIT, || order_log(&c) == ["start db", "start api"]),
        "{:?}",
        order_log(&c)
    );
    go(&c, "api");
    go(&c, "web");
    assert!(
        wait_until(WAIT, || is_ready(&c, "web")),
        "{}",
        process(&c, "web")
    );
    assert_eq!(order_log(&c), ["start db", "start api", "start web"]);
    m.signal(15);
    assert_eq!(m.wait_exit(WAIT), Some(Some(0)), "log:\n{}", m.log());
    assert_eq!(
        order_log(&c)[3..],
        ["stop web", "stop api", "stop db"],
        "log:\n{}",
        m.log()
    );
}

#[test]
fn a_one_shot_task_is_waited_for_until_it_has_exited_successfully() {
    let c = Colony::new();
    let log = c.work.join("order.log");
    let go = c.work.join("go");
    config(
        &c,
        "migrate",
        &json!({"args": ["/bin/sh", "-c", format!(
                    "while [ ! -e {} ]; do sleep 0.02; done; echo migrated >> {}",
                    go.display(), log.display())],
                "restart": "on-failure"}),
    );
    config(
        &c,
        "web",
        &json!({"args": ["/bin/sh", "-c", format!("echo web >> {}; exec sleep 1000", log.display())],
                "after": ["migrate"]}),
    );
    let _m = c.monitor(&[]);
    // Running (so ready, having no ready key) is not enough for a one-shot.
    assert!(wait_until(WAIT, || process(&c, "migrate")["state"] == "running"));
    assert!(stays(Duration::from_millis(500), || {
        process(&c, "web")["state"] == "waiting"
    }));
    fs::write(&go, "").expect("touch");
    assert!(
        wait_until(WAIT, || order_log(&c) == ["migrated", "web"]),
        "{:?}",
        order_log(&c)
    );
}

#[test]
fn ctl_wait_blocks_until_ready_and_names_what_is_not_at_the_timeout() {
    let c = Colony::new();
    let flag = c.work.join("flag");
    config(
        &c,
        "db",
        &json!({"args": ["/bin/sleep", "1000"],
                "ready": {"file": flag.display().to_string(), "period": 0.1}}),
    );
    config(&c, "plain", &json!({"args": ["/bin/sleep", "1000"]}));
    // No monitor: nothing is ready, and it says why.
    let out = c.ctl(&["wait", "--timeout", "0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("no monitor is running"), "{err}");
    let _m = c.monitor(&[]);
    assert!(wait_until(WAIT, || is_ready(&c, "plain")));
    // plain alone is ready.
    let out = c.ctl(&["wait", "plain", "--timeout", "5"]);
    assert!(out.status.success() && out.stdout.is_empty() && out.stderr.is_empty());
    // A timeout past what the clock holds is no limit, not a crash.
    let out = c.ctl(&["wait", "plain", "--timeout", "1e19"]);
    assert!(out.status.success(), "{out:?}");
    // --timeout 0 looks once.
    let started = Instant::now();
    let out = c.ctl(&["wait", "--timeout", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(5));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("not ready: db (running)") && !err.contains("plain"),
        "{err}"
    );
    // A timeout waits that long, then names what is not ready.
    let started = Instant::now();
    let out = c.ctl(&["wait", "db", "nosuch", "--timeout", "0.5"]);
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("db (running), nosuch (not configured)"),
        "{err}"
    );
    // Without a timeout it blocks until db is ready.
    let waiter = c.ctl_command(&["wait"]).spawn().expect("ctl wait");
    let pid = waiter.id() as i32;
    assert!(stays(Duration::from_millis(300), || is_alive(pid)));
    fs::write(&flag, "").expect("touch");
    let out = waiter.wait_with_output().expect("ctl wait ends");
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn ctl_validate_reports_after_cycles_and_self_reference() {
    let c = Colony::new();
    config(&c, "web", &json!({"args": ["/bin/true"], "after": ["api"]}));
    config(&c, "api", &json!({"args": ["/bin/true"], "after": ["web"]}));
    config(&c, "me", &json!({"args": ["/bin/true"], "after": ["me"]}));
    config(
        &c,
        "ok",
        &json!({"args": ["/bin/true"], "after": ["web", "unknown"]}),
    );
    let out = c.ctl(&["validate"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("api: after: api -> web -> api"), "{text}");
    assert!(text.contains("web: after: api -> web -> api"), "{text}");
    assert!(
        text.contains("me: \"after\" names the process itself"),
        "{text}"
    );
    assert!(!text.contains("ok:"), "{text}");
}

#[test]
fn ctl_add_writes_the_readiness_keys_and_refuses_what_the_monitor_would() {
    let c = Colony::new();
    let add = |args: &[&str]| {
        let mut all = vec!["add", "web", "--cmd", "/bin/true"];
        all.extend_from_slice(args);
        c.ctl(&all)
    };
    let out = add(&[
        "--after",
        "db",
        "--after",
        "migrate",
        "--ready-notify",
        "--ready-timeout",
        "30",
        "--watchdog",
        "10",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        fs::read_to_string(c.config.join("web")).expect("written"),
        r#"{"args": ["/bin/true"], "after": ["db", "migrate"], "ready": {"notify": true, "timeout": 30}, "watchdog": 10}"#
    );
    let out = add(&[
        "--ready-exec",
        "/bin/check",
        "--ready-exec-arg",
        "-q",
        "--ready-period",
        "0.5",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        fs::read_to_string(c.config.join("web")).expect("written"),
        r#"{"args": ["/bin/true"], "ready": {"exec": ["/bin/check", "-q"], "period": 0.5}}"#
    );
    let usage = |args: &[&str], needles: &[&str]| {
        let out = add(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: {err:?} lacks {n:?}");
        }
    };
    usage(
        &["--ready-notify", "--ready-fd", "3"],
        &["--ready-notify", "--ready-fd"],
    );
    usage(
        &["--ready-tcp", "h:1", "--ready-http", "http://h/"],
        &["--ready-tcp", "--ready-http"],
    );
    usage(&["--watchdog", "5"], &["--ready-notify"]);
    usage(&["--ready-timeout", "5"], &["--ready"]);
    // The monitor's own checks, through its parser.
    let refused = |args: &[&str], needle: &str| {
        let out = add(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
    };
    refused(&["--ready-fd", "2"], "fd");
    refused(&["--ready-exec", "check"], "exec");
    refused(&["--ready-tcp", "nohost"], "tcp");
    refused(&["--after", "web"], "names the process itself");
    config(&c, "api", &json!({"args": ["/bin/true"], "after": ["web"]}));
    refused(&["--after", "api"], "after: api -> web -> api");
}

#[test]
fn the_readme_example_colony_starts_db_then_migrate_then_web() {
    let c = Colony::new();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ordered/config");
    for name in ["db", "migrate", "web"] {
        fs::copy(format!("{example}/{name}"), c.config.join(name)).expect("copy the example");
    }
    let m = c.monitor(&[]);
    let out = c.ctl(&["wait", "--timeout", "30"]);
    assert!(out.status.success(), "{out:?}; log:\n{}", m.log());
    let at = |name: &str, event: &str| {
        events(&c, name, event)
            .first()
            .and_then(|e| e["ts"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("no {event} of {name}; log:\n{}", m.log()))
    };
    // RFC 3339 UTC times, to the millisecond, sort as text.
    assert!(at("db", "ready") <= at("migrate", "spawned"));
    assert!(at("migrate", "exited") <= at("web", "spawned"));
    assert_eq!(process(&c, "migrate")["state"], "exited");
}
