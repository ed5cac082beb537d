//! Never run a service twice, never leave strays: a killed monitor's
//! children, a successor monitor, background processes of a child, setsid
//! escapees, and the state directory.

use crate::support::*;
use std::fs;

/// The processes whose command line contains `marker`, by pid.
fn with_marker(marker: &str) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
                && is_alive(pid)
        })
        .collect()
}

/// Field `n` (1-based, as in proc(5)) of `/proc/PID/stat`, for n >= 3.
fn stat_field(pid: i32, n: usize) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(n - 3).map(str::to_owned)
}

/// How many times the log says `name` started.
fn starts(log: &str, name: &str) -> usize {
    log.lines()
        .filter(|l| l.contains(&format!(" started name={name} ")))
        .count()
}

/// A unique string for this test's marked processes (the temp dir is unique).
fn marker(c: &Colony, what: &str) -> String {
    format!("{}-{what}", c.work.display())
}

/// A shell script whose background job carries `marker` in its command
/// line, written so that the script's own command line does not (the marker
/// is built from `$M`), so only the background job is counted.
fn background_job(marker: &str) -> String {
    let (head, tail) = marker.split_at(marker.len() / 2);
    format!("M={head}; sh -c \"sleep 1000; : ${{M}}{tail}\" & exit 0")
}

#[test]
fn a_sigkilled_monitors_children_die_of_the_parent_death_signal() {
    let c = Colony::new();
    c.add_sh("web", &c.pid_recorder("web"));
    let mut m = c.monitor(&["--frequency", "600"]);
    let pid = c.wait_pids("web", 1);
    m.cleanup.push(pid);
    m.child.kill().expect("SIGKILL the monitor");
    m.wait_exit(SOON).expect("the monitor died");
    assert!(
        wait_until(SOON, || !is_alive(pid)),
        "web pid={pid} outlived its SIGKILLed monitor"
    );
    // Every pid they hold is dead now: none may be signalled once reused.
    m.cleanup.clear();
}

#[test]
fn a_successor_stops_what_a_killed_monitor_left_running() {
    let c = Colony::new();
    // Ignored signals survive exec: the sleep ignores the parent-death SIGTERM.
    c.add_sh(
        "stubborn",
        &format!("trap '' TERM; {}", c.pid_recorder("stubborn")),
    );
    c.add_sh("plain", &c.pid_recorder("plain"));
    let args = ["--frequency", "600", "--killtime", "0.5"];
    let mut first = c.monitor(&args);
    let stubborn = c.wait_pids("stubborn", 1);
    let plain = c.wait_pids("plain", 1);
    first.cleanup.extend([stubborn, plain]);
    let record = c.messages.join(".ncolony").join("children.json");
    assert!(
        wait_until(SOON, || fs::read_to_string(&record)
            .is_ok_and(|r| r.contains(&format!("\"pid\":{stubborn}"))
                && r.contains(&format!("\"pid\":{plain}")))),
        "{} never recorded both children",
        record.display()
    );
    first.child.kill().expect("SIGKILL the monitor");
    first.wait_exit(SOON).expect("the monitor died");
    assert!(wait_until(SOON, || !is_alive(plain)), "plain outlived it");
    assert!(
        is_alive(stubborn),
        "stubborn ignores SIGTERM: still running"
    );

    let mut second = c.monitor(&args);
    let stubborn2 = c.wait_pids("stubborn", 2);
    let plain2 = c.wait_pids("plain", 2);
    second.cleanup.extend([stubborn2, plain2]);
    assert!(
        !is_alive(stubborn),
        "the survivor runs next to its new copy"
    );
    assert!(is_alive(stubborn2) && is_alive(plain2));
    // The children can record their pids before the monitor's "started"
    // line has reached this test's reader.
    second.wait_log(" started name=");
    let log = second.log();
    let line = format!("stopping stubborn pid={stubborn} left running by a previous monitor");
    assert_eq!(log.matches(&line).count(), 1, "log:\n{log}");
    assert_eq!(
        log.matches("left running by a previous monitor").count(),
        1,
        "only the survivor is stopped; log:\n{log}"
    );
    let stopped_at = log.find(&line).expect("logged");
    let started_at = log.find(" started name=").expect("started");
    assert!(stopped_at < started_at, "started something first:\n{log}");
    // Exactly one copy of each, still, after a while.
    assert_eq!(c.recorded_pids("stubborn").len(), 2);
    assert_eq!(c.recorded_pids("plain").len(), 2);

    second.signal(15);
    assert_eq!(second.wait_exit(SOON), Some(Some(0)));
    let left = fs::read_to_string(&record).unwrap_or_default();
    assert_eq!(left.trim(), "[]", "the record ends empty");
    assert!(!is_alive(stubborn2) && !is_alive(plain2));
    // Every pid they hold is dead now: none may be signalled once reused.
    first.cleanup.clear();
    second.cleanup.clear();
}

#[test]
fn background_processes_of_a_child_do_not_outlive_it() {
    let c = Colony::new();
    let mark = marker(&c, "bg");
    c.add_sh("daemonish", &background_job(&mark));
    let mut m = c.monitor(&["--frequency", "600", "-m", "0.1", "-M", "0.1"]);
    // Several restarts, never more than one background job at a time.
    let mut most = 0;
    let restarted = wait_until(SOON, || {
        let running = with_marker(&mark);
        m.cleanup.extend(&running);
        most = most.max(running.len());
        starts(&m.log(), "daemonish") >= 5
    });
    assert!(restarted, "no restarts; log:\n{}", m.log());
    assert!(
        most <= 1,
        "{most} background jobs at once; log:\n{}",
        m.log()
    );

    fs::remove_file(c.config.join("daemonish")).expect("remove config");
    assert!(
        wait_until(SOON, || with_marker(&mark).is_empty()),
        "the background job outlived its removed config: {:?}",
        with_marker(&mark)
    );

    c.add_sh("daemonish", &background_job(&mark));
    assert!(wait_until(SOON, || !with_marker(&mark).is_empty()));
    m.cleanup.extend(with_marker(&mark));
    m.signal(15);
    assert_eq!(m.wait_exit(SOON), Some(Some(0)));
    assert!(m.log().contains("every child has stopped; exiting"));
    assert_eq!(
        with_marker(&mark),
        Vec::<i32>::new(),
        "left behind at shutdown"
    );
    // Every pid they hold is dead now: none may be signalled once reused.
    m.cleanup.clear();
}

#[test]
fn a_setsid_escapee_is_stopped_at_shutdown() {
    let c = Colony::new();
    let escapee = c.work.join("escapee");
    c.add_sh(
        "escaper",
        &format!(
            "setsid sh -c 'echo $$ > {}; exec sleep 1000' & exec sleep 1000",
            escapee.display()
        ),
    );
    let mut m = c.monitor(&["--frequency", "600", "--killtime", "0.5"]);
    let pid: i32 = wait_for(SOON, || {
        fs::read_to_string(&escapee).ok()?.trim().parse().ok()
    })
    .expect("escapee pid");
    m.cleanup.push(pid);
    // It really left: its own session, so no group signal reaches it.
    assert!(wait_until(SOON, || stat_field(pid, 6) == Some(pid.to_string())));
    m.signal(15);
    assert_eq!(m.wait_exit(SOON), Some(Some(0)), "log:\n{}", m.log());
    assert!(!is_alive(pid), "the setsid escapee outlived the monitor");
    let log = m.log();
    assert!(log.contains(&format!("pid={pid} ")), "log:\n{log}");
    assert!(log.contains("stopping an adopted orphan"), "log:\n{log}");
    assert!(
        log.contains("every child has stopped; exiting"),
        "log:\n{log}"
    );
    // Every pid they hold is dead now: none may be signalled once reused.
    m.cleanup.clear();
}

#[test]
fn an_unusable_state_directory_exits_1_naming_it() {
    let c = Colony::new();
    let file = c.work.join("a-file");
    fs::write(&file, "").expect("write");
    for state in [file.join("state"), file.clone(), c.messages.clone()] {
        let state = state.to_str().expect("utf-8 temp path").to_owned();
        let mut m = c.monitor(&["--state", &state]);
        assert_eq!(m.wait_exit(SOON), Some(Some(1)), "--state {state}");
        let log = m.log();
        assert!(log.contains(&format!("--state {state}")), "log:\n{log}");
        assert_eq!(log.lines().count(), 1, "one line; log:\n{log}");
    }
    // And the environment variable names it just as well.
    let mut cmd = ncolony();
    cmd.args(["monitor", "--config"])
        .arg(&c.config)
        .arg("--messages")
        .arg(&c.messages)
        .env("NCOLONY_STATE_DIR", file.join("x"));
    let mut m = Monitor::spawn(cmd);
    assert_eq!(m.wait_exit(SOON), Some(Some(1)));
    assert!(m.log().contains(&file.join("x").display().to_string()));
}

#[test]
fn an_unwritable_children_record_is_logged_once_and_supervision_goes_on() {
    let c = Colony::new();
    let state = c.tmp.path().join("state");
    let state_arg = state.to_str().expect("utf-8 temp path").to_owned();
    c.add_sh("web", &c.pid_recorder("web"));
    let m = c.monitor(&[
        "--frequency",
        "600",
        "-m",
        "0.1",
        "-M",
        "0.1",
        "--state",
        &state_arg,
    ]);
    let record = state.join("children.json");
    let recorded = |pid: i32| {
        wait_until(SOON, || {
            fs::read_to_string(&record).is_ok_and(|r| r.contains(&format!("\"pid\":{pid},")))
        })
    };
    assert!(recorded(c.wait_pids("web", 1)), "not recorded");
    fs::remove_dir_all(&state).expect("remove the state directory");
    let restart = r#"{"type": "RESTART", "name": "web"}"#;
    for n in 2..=4 {
        c.send(&format!("{n:03}"), restart);
        c.wait_pids("web", n);
    }
    let failures = |log: &str| {
        log.lines()
            .filter(|l| l.contains("ERROR") && l.contains("children.json"))
            .count()
    };
    assert!(
        wait_until(SOON, || failures(&m.log()) >= 1),
        "log:\n{}",
        m.log()
    );
    assert_eq!(failures(&m.log()), 1, "logged once; log:\n{}", m.log());
    fs::create_dir(&state).expect("recreate the state directory");
    c.send("005", restart);
    assert!(recorded(c.wait_pids("web", 5)), "not recorded again");
    m.wait_log("children.json: written again");
}

/// The pid of the last `started name=NAME pid=N` line in `log`.
fn started_pid(log: &str, name: &str) -> Option<i32> {
    let prefix = format!(" started name={name} pid=");
    log.lines().rev().find_map(|l| {
        let rest = &l[l.find(&prefix)? + prefix.len()..];
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[test]
fn a_successor_stops_the_grandchildren_a_killed_monitors_child_left() {
    let c = Colony::new();
    // The parent-death SIGTERM kills the shell, not its background job,
    // which stays in the shell's process group.
    c.add_sh(
        "parent",
        &format!("sh -c '{}' & wait", c.pid_recorder("grandchild")),
    );
    let args = ["--frequency", "600", "--killtime", "0.5"];
    let mut first = c.monitor(&args);
    let grandchild = c.wait_pids("grandchild", 1);
    first.cleanup.push(grandchild);
    let parent = started_pid(&first.log(), "parent").expect("parent started");
    first.child.kill().expect("SIGKILL the monitor");
    first.wait_exit(SOON).expect("the monitor died");
    assert!(
        wait_until(SOON, || !is_alive(parent)),
        "the shell outlived it"
    );
    assert!(
        is_alive(grandchild),
        "the background job outlives the shell"
    );

    let mut second = c.monitor(&args);
    let grandchild2 = c.wait_pids("grandchild", 2);
    second.cleanup.push(grandchild2);
    assert!(
        !is_alive(grandchild),
        "the old job runs next to its new copy"
    );
    let log = second.log();
    let line = format!("stopping parent pid={grandchild} left running by a previous monitor");
    assert_eq!(log.matches(&line).count(), 1, "log:\n{log}");
    assert_eq!(c.recorded_pids("grandchild").len(), 2, "one copy at a time");
    second.signal(15);
    assert_eq!(second.wait_exit(SOON), Some(Some(0)));
    assert!(!is_alive(grandchild2));
    // Every pid they hold is dead now: none may be signalled once reused.
    first.cleanup.clear();
    second.cleanup.clear();
}
