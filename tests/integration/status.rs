//! What the monitor publishes in its state directory, read through
//! `ctl status` and `ctl events`.

use std::fs;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

fn ctl(c: &Colony, args: &[&str]) -> Output {
    c.ctl(args)
}

fn status_json(c: &Colony) -> (Option<i32>, Value) {
    let out = ctl(c, &["status", "--json"]);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), v)
}

fn process<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["processes"]
        .as_array()
        .and_then(|list| list.iter().find(|p| p["name"] == name))
        .unwrap_or(&Value::Null)
}

#[test]
fn status_after_a_crash_a_backoff_an_invalid_config_and_a_monitor_sigkill() {
    let c = Colony::new();
    c.add_sh("crash", "exit 3");
    c.add_sh("steady", "exec sleep 600");
    fs::write(c.config.join("bad"), "{").expect("write");
    let m = c.monitor(&["--minrestartdelay", "5", "--maxrestartdelay", "5"]);
    let v = wait_for(WAIT, || {
        let (code, v) = status_json(&c);
        let crash = process(&v, "crash");
        (code == Some(0) && crash["state"] == "backoff" && process(&v, "steady")["pid"].is_i64())
            .then_some(v)
    })
    .expect("crash backs off, steady runs");
    assert_eq!(v["monitor"]["running"], true);
    let crash = process(&v, "crash");
    assert_eq!(crash["last_exit"]["code"], 3, "{v}");
    assert!(crash["last_exit"]["ran_for"].is_f64(), "{v}");
    assert!(crash["next_start"].is_string(), "{v}");
    assert_eq!(crash["pid"], Value::Null);
    assert_eq!(crash["restart"], "always");
    let steady = process(&v, "steady");
    assert_eq!(steady["state"], "running");
    assert_eq!(steady["restarts"], 0);
    let bad = process(&v, "bad");
    assert_eq!(bad["state"], "invalid");
    assert!(
        bad["problem"]
            .as_str()
            .is_some_and(|p| p.contains("invalid JSON")),
        "{v}"
    );
    let table = String::from_utf8_lossy(&ctl(&c, &["status"]).stdout).into_owned();
    assert!(
        table.contains("exit 3 ") && table.contains("next start in"),
        "{table}"
    );
    let unknown = ctl(&c, &["status", "nobody"]);
    assert_eq!(unknown.status.code(), Some(1));

    let steady_pid = steady["pid"].as_i64().expect("pid") as i32;
    kill(m.pid(), 9);
    assert!(
        wait_until(WAIT, || status_json(&c).0 == Some(3)),
        "exit 3 once the monitor is gone"
    );
    let (_, v) = status_json(&c);
    assert_eq!(v["monitor"]["running"], false);
    assert!(
        v["processes"]
            .as_array()
            .expect("list")
            .iter()
            .all(|p| p["pid"].is_null()),
        "no stale pid shown as live: {v}"
    );
    assert_eq!(process(&v, "steady")["state"], "configured");
    kill(steady_pid, 9);
}

#[test]
fn events_come_in_order_with_their_fields() {
    let c = Colony::new();
    c.add_sh("web", "exec sleep 600");
    let m = c.monitor(&[]);
    let pid =
        wait_for(WAIT, || process(&status_json(&c).1, "web")["pid"].as_i64()).expect("web runs");
    c.send("001Message", r#"{"type": "RESTART", "name": "web"}"#);
    let names = |out: &Output| -> Vec<String> {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| v["event"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let want = [
        "monitor_started",
        "config_added",
        "spawned",
        "message",
        "stopping",
        "exited",
        "spawned",
        "message_rejected",
    ];
    assert!(
        wait_until(WAIT, || names(&ctl(&c, &["events", "--json"])) == want[..7]),
        "{:?}",
        names(&ctl(&c, &["events", "--json"]))
    );
    c.send("002Message", "{");
    assert!(
        wait_until(WAIT, || names(&ctl(&c, &["events", "--json"])) == want),
        "{:?}",
        names(&ctl(&c, &["events", "--json"]))
    );
    let out = ctl(&c, &["events", "--json", "web"]);
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(lines[1]["pid"], pid);
    assert_eq!(lines[3]["why"], "restart");
    assert_eq!(lines[3]["signal"], "SIGTERM");
    assert_eq!(lines[4]["signal"], "SIGTERM");
    assert!(lines[4]["ran_for"].is_f64());
    assert!(
        lines[0]["ts"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.contains('.'))
    );
    let last = ctl(&c, &["events", "-n", "1"]);
    let text = String::from_utf8_lossy(&last.stdout).into_owned();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("message_rejected"), "{text}");
    drop(m);
}

#[test]
fn a_corrupt_status_file_is_reported_not_a_crash() {
    let c = Colony::new();
    c.add_sh("web", "exec sleep 600");
    let _m = c.monitor(&[]);
    let state = c.messages.join(".ncolony");
    // Once web runs, the quiet colony writes no more.
    assert!(wait_until(WAIT, || {
        process(&status_json(&c).1, "web")["pid"].is_i64()
    }));
    fs::write(state.join("status.json"), "{\"monitor\": {\"run").expect("write");
    let out = ctl(&c, &["status"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("status.json") && err.contains("cannot read"),
        "{err}"
    );
}

/// The events `ctl events --json ARGS` prints, by their `event` and `pid`.
fn journal(c: &Colony, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["events", "--json"];
    all.extend_from_slice(args);
    String::from_utf8_lossy(&ctl(c, &all).stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn the_journal_rotates_at_its_bound_and_ctl_events_reads_across_it() {
    let c = Colony::new();
    // Lives past the threshold: restarted at once, a few events a second.
    c.add_sh("flap", "sleep 0.2; exit 1");
    let m = c.monitor(&["--threshold", "0.1", "--events-max-bytes", "2000"]);
    let state = c.messages.join(".ncolony");
    let follow = crate::support::ncolony()
        .args(["ctl", "--config"])
        .arg(&c.config)
        .arg("--messages")
        .arg(&c.messages)
        .args(["events", "--json", "--follow", "flap"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ctl events --follow");
    // Rotated, with spawns since in the new file.
    let spawns_in = |file: &str| {
        fs::read_to_string(state.join(file))
            .unwrap_or_default()
            .matches("\"spawned\"")
            .count()
    };
    assert!(
        wait_until(WAIT, || spawns_in("events.jsonl.1") > 0
            && spawns_in("events.jsonl") >= 3),
        "rotated"
    );
    for file in ["events.jsonl", "events.jsonl.1"] {
        let len = fs::metadata(state.join(file)).expect("journal").len();
        assert!(len <= 2000 + 1000, "{file} is {len} bytes");
    }
    // Across the rotation, oldest first: timestamps never go back.
    let all = journal(&c, &[]);
    let ts: Vec<&str> = all.iter().filter_map(|e| e["ts"].as_str()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "{ts:?}");
    // -n: the last N; --since: none older.
    let last = journal(&c, &["-n", "3"]);
    assert_eq!(last.len(), 3);
    assert!(journal(&c, &["--since", "1h"]).len() >= all.len());
    assert!(
        journal(&c, &["--since", "0s"]).len() < 5,
        "none older than now"
    );
    // --follow printed the spawns that came after it started, across the
    // rotation, each once and in order.
    drop(m);
    kill(follow.id() as i32, 9);
    let out = follow.wait_with_output().expect("follow output");
    let followed: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let spawned: Vec<i64> = followed
        .iter()
        .filter(|e| e["event"] == "spawned")
        .filter_map(|e| e["pid"].as_i64())
        .collect();
    let everything: Vec<i64> = all
        .iter()
        .filter(|e| e["event"] == "spawned")
        .filter_map(|e| e["pid"].as_i64())
        .collect();
    assert!(!spawned.is_empty(), "{followed:?}");
    // The follower was at most a poll behind when the journal was read.
    let recent = everything[everything.len() - 2];
    assert!(
        spawned.contains(&recent),
        "--follow missed {recent} after the rotation: {spawned:?} vs {everything:?}"
    );
    let mut sorted = spawned.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), spawned.len(), "each once: {spawned:?}");
}

#[test]
fn a_vanished_state_directory_is_logged_once_and_supervision_goes_on() {
    let c = Colony::new();
    c.add_sh("flap", "sleep 0.2; exit 1");
    let m = c.monitor(&["--threshold", "0.1"]);
    let state = c.messages.join(".ncolony");
    assert!(wait_until(WAIT, || journal(&c, &[]).len() > 3));
    fs::remove_dir_all(&state).expect("rm state");
    // Restarts go on while nothing can be written.
    let spawns = || m.log().matches("started name=flap").count();
    let before = spawns();
    // Long enough for several retries (one a second).
    assert!(wait_until(WAIT, || spawns() >= before + 14), "{}", m.log());
    let failures = m.log().matches("events.jsonl: No such file").count();
    assert_eq!(failures, 1, "logged once: {}", m.log());
    fs::create_dir(&state).expect("mkdir state");
    assert!(
        wait_until(WAIT, || fs::metadata(state.join("status.json")).is_ok()
            && m.log().contains("written again")),
        "{}",
        m.log()
    );
}

#[test]
fn held_and_exited_processes_show_as_such_with_their_events() {
    let c = Colony::new();
    c.add_sh("web", &c.pid_recorder("web"));
    c.write_config(
        "once",
        r#"{"args": ["/bin/sh", "-c", "exit 0"], "restart": "never"}"#,
    );
    let _m = c.monitor(&["--frequency", "600"]);
    c.wait_pids("web", 1);
    assert_eq!(ctl(&c, &["stop", "web"]).status.code(), Some(0));
    let v = wait_for(WAIT, || {
        let (_, v) = status_json(&c);
        (process(&v, "web")["state"] == "held" && process(&v, "once")["state"] == "exited")
            .then_some(v)
    })
    .expect("web held, once exited");
    assert_eq!(process(&v, "once")["restart"], "never", "{v}");
    assert_eq!(process(&v, "once")["last_exit"]["code"], 0, "{v}");
    assert_eq!(process(&v, "web")["pid"], Value::Null, "{v}");
    assert_eq!(ctl(&c, &["start", "web"]).status.code(), Some(0));
    c.wait_pids("web", 2);
    let kinds = || -> Vec<String> {
        journal(&c, &["web"])
            .iter()
            .filter_map(|e| e["event"].as_str().map(str::to_owned))
            .collect()
    };
    assert!(
        wait_until(WAIT, || {
            let k = kinds();
            let held = k.iter().position(|e| e == "held");
            let released = k.iter().position(|e| e == "released");
            matches!((held, released), (Some(h), Some(r)) if h < r)
        }),
        "held then released in the journal: {:?}",
        kinds()
    );
    let stopping = journal(&c, &["web"])
        .into_iter()
        .find(|e| e["event"] == "stopping")
        .expect("a stopping event");
    assert_eq!(stopping["why"], "held", "{stopping}");
}
