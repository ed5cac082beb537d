//! Integration tests for issue 10's holds (STOP/START), restart policies,
//! essential processes, stop signals and per-process killtimes, against
//! the real binary.

use std::fs;
use std::time::{Duration, Instant};

use crate::support::*;

/// `ncolony ctl --config C --messages M ARGS...`, which must succeed.
fn ctl(c: &Colony, args: &[&str]) {
    let out = c.ctl(args);
    assert!(
        out.status.success(),
        "ctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A config running `/bin/sh -c SCRIPT` with `extra` keys merged in.
fn sh_config(script: &str, extra: serde_json::Value) -> String {
    let mut config = serde_json::json!({"args": ["/bin/sh", "-c", script]});
    if let (Some(map), serde_json::Value::Object(more)) = (config.as_object_mut(), extra) {
        map.extend(more);
    }
    config.to_string()
}

/// A script that records its pid in `work/NAME.pids`, then exits with `code`.
fn exits_with(c: &Colony, name: &str, code: i32) -> String {
    format!(
        "echo $$ >> {}; exit {code}",
        c.work.join(format!("{name}.pids")).display()
    )
}

fn holds_file(c: &Colony) -> String {
    fs::read_to_string(c.messages.join(".ncolony/holds.json")).unwrap_or_default()
}

#[test]
fn ctl_stop_holds_a_process_down_through_restarts_and_ctl_start_releases_it() {
    let c = Colony::new();
    c.add_sh("web", &c.pid_recorder("web"));
    let mut m = c.monitor(&["--frequency", "600"]);
    let first = c.wait_pids("web", 1);
    m.cleanup.push(first);
    ctl(&c, &["stop", "web"]);
    assert!(wait_until(SOON, || !is_alive(first)), "{}", m.log());
    m.wait_log("STOP: stopping it and holding it down");
    assert!(wait_until(SOON, || holds_file(&c).contains("\"web\"")));
    // Neither RESTART, RESTART-ALL nor RESTART-GROUP starts it (logged).
    ctl(&c, &["restart", "web"]);
    ctl(&c, &["restart-all"]);
    assert!(
        wait_until(SOON, || m
            .log()
            .matches("held by STOP; not restarting")
            .count()
            >= 2),
        "{}",
        m.log()
    );
    // The restart rules out waits out the threshold and the delay of any
    // restart that would have followed.
    assert!(stays(Duration::from_millis(1500), || c
        .recorded_pids("web")
        .len()
        == 1));
    ctl(&c, &["start", "web"]);
    let second = c.wait_pids("web", 2);
    m.cleanup.push(second);
    m.wait_log("START: released");
    assert!(wait_until(SOON, || holds_file(&c).trim() == "[]"));
}

#[test]
fn a_hold_survives_a_restart_of_the_monitor_and_a_removal_drops_it() {
    let c = Colony::new();
    c.add_sh("web", &c.pid_recorder("web"));
    c.add_sh("other", &c.pid_recorder("other"));
    let mut m = c.monitor(&["--frequency", "600"]);
    let web = c.wait_pids("web", 1);
    m.cleanup.extend([web, c.wait_pids("other", 1)]);
    ctl(&c, &["stop", "web"]);
    assert!(wait_until(SOON, || !is_alive(web)));
    assert!(wait_until(SOON, || holds_file(&c).contains("\"web\"")));
    m.signal(15);
    assert_eq!(m.wait_exit(SOON), Some(Some(0)), "{}", m.log());
    assert!(
        holds_file(&c).contains("\"web\""),
        "the shutdown kept the hold"
    );

    let mut m = c.monitor(&["--frequency", "600"]);
    // The successor starts `other` in the same pass that would start `web`.
    m.cleanup.push(c.wait_pids("other", 2));
    assert!(
        stays(Duration::from_millis(1000), || c.recorded_pids("web").len()
            == 1),
        "a held process started again; log:\n{}",
        m.log()
    );
    // Removing the config drops the hold: back, it starts.
    fs::remove_file(c.config.join("web")).expect("rm");
    assert!(
        wait_until(SOON, || holds_file(&c).trim() == "[]"),
        "{}",
        m.log()
    );
    c.add_sh("web", &c.pid_recorder("web"));
    m.cleanup.push(c.wait_pids("web", 2));
}

#[test]
fn a_stop_sent_while_no_monitor_ran_still_holds_and_an_unknown_name_is_logged() {
    let c = Colony::new();
    c.add_sh("web", &c.pid_recorder("web"));
    c.add_sh("other", &c.pid_recorder("other"));
    ctl(&c, &["stop", "web"]);
    c.send("999Message.1", r#"{"type": "STOP", "name": "nope"}"#);
    let mut m = c.monitor(&["--frequency", "600"]);
    m.cleanup.push(c.wait_pids("other", 1));
    assert!(wait_until(SOON, || c.pending_messages().is_empty()));
    m.wait_log(r#"no configured process named "nope""#);
    assert!(
        stays(Duration::from_millis(1000), || c
            .recorded_pids("web")
            .is_empty()),
        "{}",
        m.log()
    );
    assert!(wait_until(SOON, || holds_file(&c).contains("\"web\"")));
    ctl(&c, &["start", "web"]);
    m.cleanup.push(c.wait_pids("web", 1));
    // Once running, a STOP/START of an unknown name is logged and deleted too.
    c.send("999Message.2", r#"{"type": "START", "name": "nope"}"#);
    m.wait_log(r#"START: no configured process named "nope""#);
    assert!(wait_until(SOON, || c.pending_messages().is_empty()));
    // Each is a message_rejected event in the journal, naming its file.
    let journal = c.messages.join(".ncolony/events.jsonl");
    assert!(
        wait_until(SOON, || {
            let text = std::fs::read_to_string(&journal).unwrap_or_default();
            text.lines()
                .filter(|l| l.contains("\"message_rejected\"") && l.contains("999Message."))
                .count()
                == 2
        }),
        "{}",
        std::fs::read_to_string(&journal).unwrap_or_default()
    );
}

#[test]
fn each_restart_policy_with_real_exit_codes() {
    let c = Colony::new();
    let policy = |restart: &str| serde_json::json!({"restart": restart});
    c.write_config(
        "never",
        &sh_config(&exits_with(&c, "never", 1), policy("never")),
    );
    c.write_config(
        "ok",
        &sh_config(
            &exits_with(&c, "ok", 3),
            serde_json::json!({"restart": "on-failure", "success_exit_codes": [0, 3]}),
        ),
    );
    c.write_config(
        "failing",
        &sh_config(&exits_with(&c, "failing", 1), policy("on-failure")),
    );
    c.write_config(
        "always",
        &sh_config(&exits_with(&c, "always", 0), policy("always")),
    );
    let m = c.monitor(&["--frequency", "600", "--maxrestartdelay", "1"]);
    // Restarted ones come back (after their backoff); the others stay exited.
    c.wait_pids("failing", 3);
    c.wait_pids("always", 3);
    assert_eq!(c.recorded_pids("never").len(), 1, "{}", m.log());
    assert_eq!(c.recorded_pids("ok").len(), 1, "{}", m.log());
    m.wait_log(r#"exited with code 3; not restarted ("restart": "on-failure")"#);
    m.wait_log(r#"exited with code 1; not restarted ("restart": "never")"#);
    // A RESTART starts an exited process again.
    ctl(&c, &["restart", "never"]);
    c.wait_pids("never", 2);
}

#[test]
fn an_essential_process_ends_the_monitor_with_its_exit_status() {
    for (end, restart, code) in [
        ("exit 7", "never", 7),
        ("kill -9 $$", "never", 137),
        ("exit 0", "on-failure", 0),
    ] {
        let c = Colony::new();
        // It ends once the other process runs, so that there is one to stop.
        let script = format!(
            "while [ ! -s {} ]; do sleep 0.05; done; {end}",
            c.work.join("side.pids").display()
        );
        c.write_config(
            "main",
            &sh_config(
                &script,
                serde_json::json!({"restart": restart, "essential": true}),
            ),
        );
        c.add_sh("side", &c.pid_recorder("side"));
        let mut m = c.monitor(&["--frequency", "600"]);
        let side = c.wait_pids("side", 1);
        m.cleanup.push(side);
        assert_eq!(
            m.wait_exit(SOON),
            Some(Some(code)),
            "{script}: log:\n{}",
            m.log()
        );
        assert!(!is_alive(side), "{script}: the other process was stopped");
        assert!(m.log().contains("essential process"), "{}", m.log());
    }
}

#[test]
fn a_processs_stop_signal_is_what_its_child_receives() {
    let c = Colony::new();
    let mark = c.work.join("got");
    let script = format!(
        "trap 'echo USR1 > {mark}; exit 0' USR1; echo $$ >> {pids}; while :; do sleep 0.05; done",
        mark = mark.display(),
        pids = c.work.join("trapper.pids").display()
    );
    c.write_config(
        "trapper",
        &sh_config(&script, serde_json::json!({"stop_signal": "USR1"})),
    );
    let mut m = c.monitor(&["--frequency", "600"]);
    let pid = c.wait_pids("trapper", 1);
    m.cleanup.push(pid);
    ctl(&c, &["stop", "trapper"]);
    assert!(
        wait_until(SOON, || fs::read_to_string(&mark)
            .is_ok_and(|s| s.trim() == "USR1")),
        "the child never saw SIGUSR1; log:\n{}",
        m.log()
    );
    assert!(wait_until(SOON, || !is_alive(pid)));
}

#[test]
fn a_per_process_killtime_overrides_the_monitors() {
    let c = Colony::new();
    let script = format!(
        "trap '' TERM; echo $$ >> {}; exec sleep 1000",
        c.work.join("stubborn.pids").display()
    );
    c.write_config(
        "stubborn",
        &sh_config(&script, serde_json::json!({"killtime": 0.5})),
    );
    let mut m = c.monitor(&["--frequency", "600", "--killtime", "60"]);
    let pid = c.wait_pids("stubborn", 1);
    m.cleanup.push(pid);
    let asked = Instant::now();
    ctl(&c, &["stop", "stubborn"]);
    assert!(
        wait_until(SOON, || !is_alive(pid)),
        "not killed after its own killtime; log:\n{}",
        m.log()
    );
    assert!(
        asked.elapsed() >= Duration::from_millis(400),
        "killed before its killtime"
    );
    m.wait_log("still running after killtime; killing");
}
