//! Integration tests for `ncolony monitor`: real processes, temp dirs,
//! bounded waits. One test per behaviour of issue 2.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::time::{Duration, Instant};

use crate::support::*;

fn json(v: serde_json::Value) -> String {
    v.to_string()
}

#[test]
fn starts_processes_and_captures_output_line_by_line() {
    let c = Colony::new();
    c.add_sh(
        "talker",
        "echo hello out; echo hello err >&2; printf partial; exit 0",
    );
    let m = c.monitor(&["--frequency", "600"]);
    m.wait_log("[talker] hello out\n");
    m.wait_log("[talker] hello err\n");
    // A partial last line is flushed when the child exits.
    m.wait_log("[talker] partial\n");
}

/// A script writing a line of 100000 `x`, one of exactly 64 KiB of `y`,
/// then `done`.
pub const LONG_LINES: &str = "head -c 100000 /dev/zero | tr '\\0' x; echo; \
     head -c 65536 /dev/zero | tr '\\0' y; echo; echo done";

/// The lines `prefix` starts in `log`, up to `done`, as (byte, length)
/// pairs: what [`LONG_LINES`] became.
pub fn long_lines_seen(log: &str, prefix: &str) -> Vec<(char, usize)> {
    log.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .take_while(|l| *l != "done")
        .map(|l| (l.chars().next().unwrap_or(' '), l.len()))
        .collect()
}

#[test]
fn lines_over_64_kib_are_cut() {
    let c = Colony::new();
    c.add_sh("long", &format!("{LONG_LINES}; exec sleep 1000"));
    let m = c.monitor(&["--frequency", "600"]);
    m.wait_log("[long] done\n");
    // Cut at 64 KiB; a line of exactly 64 KiB is whole, with no empty one after.
    assert_eq!(
        long_lines_seen(&m.log(), "[long] "),
        [('x', 65536), ('x', 100000 - 65536), ('y', 65536)]
    );
}

#[test]
fn directories_can_come_from_the_environment() {
    let c = Colony::new();
    c.add_sh("env-dirs", &c.pid_recorder("env-dirs"));
    let mut cmd = ncolony();
    cmd.arg("monitor")
        .env("NCOLONY_CONFIG_DIR", &c.config)
        .env("NCOLONY_MESSAGES_DIR", &c.messages);
    let _m = Monitor::spawn(cmd);
    c.wait_pids("env-dirs", 1);
}

#[test]
fn child_environment_is_exactly_env_inherit_and_ncolony_vars() {
    let c = Colony::new();
    let text = json(serde_json::json!({
        "args": ["/bin/sleep", "1000"],
        "env": {"A": "1", "B": "from-env"},
        "env_inherit": ["B", "NCOLONY_TEST_INHERITED", "NCOLONY_TEST_UNSET"],
        "ncolony.custom": {"kept": true}
    }));
    c.write_config("envy", &text);
    let mut cmd = ncolony();
    cmd.args(["monitor", "--frequency", "600", "--pid"])
        .arg(&c.pids)
        .arg("--config")
        .arg(&c.config)
        .arg("--messages")
        .arg(&c.messages)
        .env("NCOLONY_TEST_INHERITED", "yes")
        .env("NCOLONY_TEST_SECRET", "must-not-leak")
        .env_remove("NCOLONY_TEST_UNSET");
    let _m = Monitor::spawn(cmd);
    let pid = wait_for(SOON, || {
        fs::read_to_string(c.pids.join("envy"))
            .ok()?
            .trim()
            .parse::<i32>()
            .ok()
    })
    .expect("pid file");
    let mut env = proc_environ(pid);
    env.sort();
    let mut expected: Vec<(String, String)> = [
        ("A", "1"),
        ("B", ""),
        ("NCOLONY_CONFIG", text.as_str()),
        ("NCOLONY_NAME", "envy"),
        ("NCOLONY_TEST_INHERITED", "yes"),
        ("NCOLONY_TEST_UNSET", ""),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    expected.sort();
    // env_inherit wins over env (B is unset in the monitor, so "").
    assert_eq!(env, expected);
}

#[test]
fn children_start_with_default_signal_dispositions() {
    let c = Colony::new();
    let report = c.work.join("sigign");
    c.add_sh(
        "sigs",
        &format!(
            // The shell itself may block signals while it forks: ask grep,
            // exec'd as the monitor's child.
            "exec grep -E '^Sig(Ign|Blk):' /proc/self/status > {}",
            report.display()
        ),
    );
    // The monitor itself starts with SIGQUIT and SIGUSR1 ignored (as under
    // a shell's `&` or `nohup`); its children must not inherit that.
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.args(["-c", "trap '' QUIT USR1; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_ncolony"))
        .args(["monitor", "--frequency", "600", "--config"])
        .arg(&c.config)
        .arg("--messages")
        .arg(&c.messages);
    let _m = Monitor::spawn(cmd);
    let text = wait_for(SOON, || {
        let t = fs::read_to_string(&report).ok()?;
        (t.lines().count() == 2).then_some(t)
    })
    .expect("signal report");
    let field = |name: &str| {
        let line = text.lines().find(|l| l.starts_with(name)).expect("field");
        u64::from_str_radix(line.split_whitespace().nth(1).expect("value"), 16).expect("hex")
    };
    assert_eq!(field("SigBlk:"), 0, "{text}");
    // Signals 1-31; 32 and up are the C library's or real-time ones.
    assert_eq!(field("SigIgn:") & 0x7fff_ffff, 0, "{text}");
}

#[test]
fn bare_command_names_use_the_childs_path_then_the_monitors() {
    let c = Colony::new();
    let bin = c.tmp.path().join("bin");
    fs::create_dir(&bin).expect("mkdir");
    let tool = bin.join("my-tool");
    fs::write(
        &tool,
        format!(
            "#!/bin/sh\necho $0 > {}/ran\nexec sleep 1000\n",
            c.work.display()
        ),
    )
    .expect("write tool");
    fs::set_permissions(&tool, fs::Permissions::from_mode(0o755)).expect("chmod");
    // The child's own PATH finds my-tool.
    c.write_config(
        "via-child-path",
        &json(serde_json::json!({"args": ["my-tool"], "env": {"PATH": format!("{}:/bin:/usr/bin", bin.display())}})),
    );
    // No PATH in env: the monitor's PATH finds sleep.
    c.write_config(
        "via-monitor-path",
        &json(serde_json::json!({"args": ["sh", "-c", c.pid_recorder("via-monitor-path")]})),
    );
    let _m = c.monitor(&["--frequency", "600"]);
    assert!(
        wait_until(SOON, || c.work.join("ran").exists()),
        "my-tool never ran"
    );
    c.wait_pids("via-monitor-path", 1);
}

#[test]
fn new_changed_and_removed_files_take_effect_at_once_via_inotify() {
    let c = Colony::new();
    let m = c.monitor(&["--frequency", "600"]);
    m.wait_log("monitor started");
    let started = Instant::now();
    c.add_sh("late", &c.pid_recorder("late"));
    let first = c.wait_pids("late", 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "added file not picked up at once"
    );
    // Changing the content restarts it with the new config.
    c.add_sh("late", &format!("echo changed; {}", c.pid_recorder("late")));
    let second = c.wait_pids("late", 2);
    assert_ne!(first, second);
    assert!(
        wait_until(SOON, || !is_alive(first)),
        "old process still alive"
    );
    m.wait_log("[late] changed");
    // Rewriting the same bytes (a new inode, so the file is re-read) is not a
    // change. A file added after the rewrite proves that a rescan has seen
    // it: the scan that lists `witness` stats `late` after its rename, and
    // a restart decided by that scan (or an earlier one) sends `second` its
    // TERM before `witness` is even spawned.
    c.add_sh("late", &format!("echo changed; {}", c.pid_recorder("late")));
    c.add_sh("witness", &c.pid_recorder("witness"));
    c.wait_pids("witness", 1);
    // A negative, so a bounded wait that lasts its whole bound: the TERM is
    // already sent if it ever will be, and a killed `sleep` shows (dead, or
    // replaced by a third pid) within milliseconds, far inside 1 s.
    assert!(
        stays(Duration::from_secs(1), || is_alive(second)
            && c.recorded_pids("late") == [first, second]),
        "same bytes restarted it: {:?}\n{}",
        c.recorded_pids("late"),
        m.log()
    );
    // Removing the file stops the process.
    fs::remove_file(c.config.join("late")).expect("rm");
    assert!(
        wait_until(SOON, || !is_alive(second)),
        "removed process still alive"
    );
    assert_eq!(c.recorded_pids("late").len(), 2, "removal restarted it");
}

#[test]
fn polling_catches_what_inotify_cannot_see() {
    // A config reached through a symlink to a file outside the directory:
    // editing the target raises no event in the config directory.
    let c = Colony::new();
    let target = c.tmp.path().join("real-config");
    fs::write(
        &target,
        json(serde_json::json!({"args": ["/bin/sh", "-c", c.pid_recorder("linked")]})),
    )
    .expect("write");
    symlink(&target, c.config.join("linked")).expect("symlink");
    let _m = c.monitor(&["--frequency", "0.2"]);
    let first = c.wait_pids("linked", 1);
    fs::write(&target, json(serde_json::json!({"args": ["/bin/sh", "-c", format!("true; {}", c.pid_recorder("linked"))]}))).expect("write");
    let second = c.wait_pids("linked", 2);
    assert_ne!(first, second);
}

#[test]
fn ignores_new_files_dot_files_and_directories() {
    let c = Colony::new();
    let marker = c.work.join("should-not-run");
    let script = format!("touch {}; exec sleep 1000", marker.display());
    let cfg = json(serde_json::json!({"args": ["/bin/sh", "-c", script]}));
    fs::write(c.config.join("pending.new"), &cfg).expect("write");
    fs::write(c.config.join(".hidden"), &cfg).expect("write");
    fs::create_dir(c.config.join("adir")).expect("mkdir");
    c.add_sh("real", &c.pid_recorder("real"));
    let m = c.monitor(&["--frequency", "600"]);
    c.wait_pids("real", 1);
    m.wait_log("adir: is a directory");
    // A negative, so a wait that lasts its whole bound. Every entry was there
    // before the monitor started, so the first scan (over: `adir` is logged
    // and `real` runs) would have spawned an ignored one along with `real`,
    // and its `touch` comes right after its start.
    assert!(
        stays(Duration::from_millis(300), || !marker.exists()),
        "an ignored entry was run"
    );
}

#[test]
fn kubernetes_configmap_layout_reconfigures_on_atomic_swap() {
    let c = Colony::new();
    let v1 = c.config.join("..2026_01_01_00_00_00.1");
    fs::create_dir(&v1).expect("mkdir");
    fs::write(
        v1.join("app"),
        json(serde_json::json!({"args": ["/bin/sh", "-c", c.pid_recorder("app")]})),
    )
    .expect("write");
    symlink("..2026_01_01_00_00_00.1", c.config.join("..data")).expect("symlink");
    symlink("..data/app", c.config.join("app")).expect("symlink");
    let _m = c.monitor(&["--frequency", "600"]);
    let first = c.wait_pids("app", 1);
    // The kubelet's update: a new timestamped dir, a new ..data link, renamed over.
    let v2 = c.config.join("..2026_01_01_00_00_01.2");
    fs::create_dir(&v2).expect("mkdir");
    fs::write(v2.join("app"), json(serde_json::json!({"args": ["/bin/sh", "-c", format!("true v2; {}", c.pid_recorder("app"))]}))).expect("write");
    symlink("..2026_01_01_00_00_01.2", c.config.join("..data_tmp")).expect("symlink");
    fs::rename(c.config.join("..data_tmp"), c.config.join("..data")).expect("swap");
    fs::remove_dir_all(&v1).expect("rm old");
    let second = c.wait_pids("app", 2);
    assert_ne!(first, second);
    assert!(wait_until(SOON, || !is_alive(first)));
}

#[test]
fn restart_messages_are_handled_in_order_and_deleted() {
    let c = Colony::new();
    c.write_config(
        "a",
        &json(serde_json::json!({"args": ["/bin/sh", "-c", c.pid_recorder("a")], "group": ["g"]})),
    );
    c.write_config("b", &json(serde_json::json!({"args": ["/bin/sh", "-c", c.pid_recorder("b")], "group": ["g", "h"]})));
    c.write_config(
        "c",
        &json(serde_json::json!({"args": ["/bin/sh", "-c", c.pid_recorder("c")]})),
    );
    let m = c.monitor(&["--frequency", "600", "--threshold", "0"]);
    for n in ["a", "b", "c"] {
        c.wait_pids(n, 1);
    }
    c.send("001", r#"{"type": "RESTART", "name": "c"}"#);
    c.wait_pids("c", 2);
    c.send("002", r#"{"type": "RESTART-GROUP", "group": "h"}"#);
    c.wait_pids("b", 2);
    c.send("003", r#"{"type": "RESTART-ALL"}"#);
    for (n, count) in [("a", 2), ("b", 3), ("c", 3)] {
        c.wait_pids(n, count);
    }
    assert!(
        wait_until(SOON, || c.pending_messages().is_empty()),
        "messages not deleted"
    );
    assert_eq!(c.recorded_pids("a").len(), 2, "group h restarted a");
    // Several messages present at once are handled in file-name order: pause
    // the monitor so that it sees both in one scan.
    m.signal(19); // SIGSTOP
    c.send("010-second", r#"{"type": "RESTART", "name": "nosuch-2"}"#);
    c.send("009-first", r#"{"type": "RESTART", "name": "nosuch-1"}"#);
    m.signal(18); // SIGCONT
    m.wait_log("nosuch-2");
    let log = m.log();
    let first = log.find("nosuch-1").expect("first handled");
    let second = log.find("nosuch-2").expect("second handled");
    assert!(first < second, "messages out of order:\n{log}");
}

#[test]
fn bad_messages_are_logged_and_deleted() {
    let c = Colony::new();
    c.add_sh("steady", &c.pid_recorder("steady"));
    let m = c.monitor(&["--frequency", "600"]);
    let pid = c.wait_pids("steady", 1);
    c.send("bad-json", "{not json");
    c.send("bad-type", r#"{"type": "EXPLODE"}"#);
    c.send("bad-field", r#"{"type": "RESTART"}"#);
    fs::create_dir(c.messages.join("a-dir")).expect("mkdir");
    m.wait_log("bad-json");
    m.wait_log("bad-type");
    m.wait_log("bad-field");
    m.wait_log("a-dir: is a directory");
    assert!(wait_until(SOON, || c.pending_messages().len() == 1));
    assert!(is_alive(pid) && c.recorded_pids("steady").len() == 1);
}

#[test]
fn messages_written_in_place_are_read_once_complete() {
    let c = Colony::new();
    c.add_sh("steady", &c.pid_recorder("steady"));
    let m = c.monitor(&["--frequency", "1"]);
    c.wait_pids("steady", 1);
    // `echo ... > FILE`: the file exists, empty, before its content is written.
    let path = c.messages.join("001");
    let mut file = fs::File::create(&path).expect("create");
    // The monitor looks at the file while it is still empty (a full rescan).
    m.rescans(1);
    assert!(path.exists(), "an empty message in the making was deleted");
    file.write_all(br#"{"type": "RESTART", "name": "steady"}"#)
        .expect("write");
    drop(file);
    c.wait_pids("steady", 2);
    assert!(wait_until(SOON, || !path.exists()), "message not deleted");
    // An empty file that stays empty is dropped after a short grace.
    fs::File::create(c.messages.join("002")).expect("create");
    assert!(wait_until(SOON, || c.pending_messages().is_empty()));
}

#[test]
fn instant_deaths_back_off_instead_of_busy_looping() {
    let c = Colony::new();
    c.add_sh(
        "crasher",
        &format!(
            "echo $$ >> {}; exit 3",
            c.work.join("crasher.pids").display()
        ),
    );
    let launched = Instant::now();
    let m = c.monitor(&[
        "--frequency",
        "600",
        "--minrestartdelay",
        "0.2",
        "--maxrestartdelay",
        "0.8",
    ]);
    // Delays 0.2, 0.4, 0.8, 0.8...: the second start within 1.5 s...
    c.wait_pids("crasher", 2);
    assert!(
        launched.elapsed() < Duration::from_millis(1500),
        "no restart within 1.5 s:\n{}",
        m.log()
    );
    // ...and the fourth no sooner than 0.2 + 0.4 + 0.8 s after the launch
    // (timers never fire early, so this bound cannot be flaky).
    c.wait_pids("crasher", 4);
    assert!(
        launched.elapsed() >= Duration::from_millis(1400),
        "4 starts in {:?}:\n{}",
        launched.elapsed(),
        m.log()
    );
}

#[test]
fn a_death_after_threshold_restarts_at_once() {
    let c = Colony::new();
    c.add_sh("longlived", &c.pid_recorder("longlived"));
    // With a large min delay, only the "restart at once" rule can restart it quickly.
    let _m = c.monitor(&[
        "--frequency",
        "600",
        "--threshold",
        "0.2",
        "--minrestartdelay",
        "100",
        "--maxrestartdelay",
        "100",
    ]);
    let first = c.wait_pids("longlived", 1);
    // Past the threshold (0.2 s) by the process's own start time.
    assert!(
        wait_until(SOON, || proc_age(first)
            .is_some_and(|age| age >= Duration::from_millis(300))),
        "{first} did not live 0.3 s"
    );
    kill(first, 9);
    c.wait_pids("longlived", 2);
}

#[test]
fn missing_and_non_executable_programs_are_retried_under_backoff() {
    let c = Colony::new();
    c.write_config("ghost", r#"{"args": ["/nonexistent/ghost"]}"#);
    let noexec = c.tmp.path().join("noexec");
    fs::write(&noexec, "#!/bin/sh\n").expect("write");
    fs::set_permissions(&noexec, fs::Permissions::from_mode(0o644)).expect("chmod");
    c.write_config("noexec", &json(serde_json::json!({"args": [noexec]})));
    c.write_config(
        "nopath",
        &json(
            serde_json::json!({"args": ["no-such-command-xyz"], "env": {"PATH": "/nonexistent"}}),
        ),
    );
    c.add_sh("ok", &c.pid_recorder("ok"));
    let launched = Instant::now();
    let m = c.monitor(&[
        "--frequency",
        "600",
        "--minrestartdelay",
        "0.5",
        "--maxrestartdelay",
        "60",
    ]);
    c.wait_pids("ok", 1);
    m.wait_log("/nonexistent/ghost");
    m.wait_log("noexec");
    m.wait_log("not found on PATH (/nonexistent)");
    // Retried after 0.5 s, then 1 s: a handful of attempts, not a busy loop
    // (timers never fire early, so these lower bounds cannot be flaky).
    let attempts = || m.log().matches("/nonexistent/ghost").count();
    for (n, earliest) in [(2, 500), (3, 1500)] {
        assert!(
            wait_until(SOON, || attempts() >= n),
            "no attempt {n}:\n{}",
            m.log()
        );
        assert!(
            launched.elapsed() >= Duration::from_millis(earliest),
            "{} attempts in {:?}:\n{}",
            attempts(),
            launched.elapsed(),
            m.log()
        );
    }
    // Fixing the file starts it at once.
    c.add_sh("ghost", &c.pid_recorder("ghost"));
    c.wait_pids("ghost", 1);
}

#[test]
fn bad_config_files_are_logged_and_fixed_files_start() {
    let c = Colony::new();
    c.add_sh("good", &c.pid_recorder("good"));
    let bad = [
        ("invalid-json", "{\"args\": [".to_owned()),
        ("no-args", "{}".to_owned()),
        ("empty-args", r#"{"args": []}"#.to_owned()),
        ("int-args", r#"{"args": ["/bin/true", 3]}"#.to_owned()),
        (
            "env-type",
            r#"{"args": ["/bin/true"], "env": ["A=1"]}"#.to_owned(),
        ),
        (
            "uid-type",
            r#"{"args": ["/bin/true"], "uid": "root"}"#.to_owned(),
        ),
        (
            "gid-type",
            r#"{"args": ["/bin/true"], "gid": -5}"#.to_owned(),
        ),
        ("empty-file", String::new()),
    ];
    for (name, text) in &bad {
        c.write_config(name, text);
    }
    let m = c.monitor(&["--frequency", "600"]);
    let good = c.wait_pids("good", 1);
    for (name, _) in &bad {
        m.wait_log(&format!("config {name}: "));
        let log = m.log();
        let line = log
            .lines()
            .find(|l| l.contains(&format!("config {name}: ")))
            .expect("logged");
        assert!(line.ends_with("; not running it"), "{line}");
    }
    let log = m.log();
    assert!(
        log.contains("\"args\" is missing") && log.contains("\"args\" is empty"),
        "{log}"
    );
    assert!(
        log.contains("\"args[1]\" must be a string") && log.contains("\"env\" must be an object"),
        "{log}"
    );
    assert!(
        log.contains("\"uid\" must be an integer")
            && log.contains("\"gid\" must be a non-negative integer"),
        "{log}"
    );
    assert!(log.contains("empty-file: empty file"), "{log}");
    // Fix one: it starts; the good one was never touched.
    c.add_sh("no-args", &c.pid_recorder("no-args"));
    c.wait_pids("no-args", 1);
    // A running process whose file turns bad keeps running with its previous
    // config, and is restarted when the file is fixed to a different one.
    let fixed = c.recorded_pids("no-args")[0];
    c.write_config("no-args", "{oops");
    m.wait_log("config no-args: invalid JSON");
    assert!(is_alive(fixed), "{}", m.log());
    c.add_sh("no-args", &format!("true; {}", c.pid_recorder("no-args")));
    c.wait_pids("no-args", 2);
    assert!(wait_until(SOON, || !is_alive(fixed)));
    assert!(is_alive(good) && c.recorded_pids("good").len() == 1);
    assert!(is_alive(m.pid()));
}

#[test]
fn sigterm_stops_every_child_then_kills_stubborn_ones_and_exits_zero() {
    for sig in [15, 2] {
        let c = Colony::new();
        c.add_sh("polite", &c.pid_recorder("polite"));
        // Ignores TERM: must be KILLed after killtime.
        c.add_sh(
            "stubborn",
            &format!(
                "trap '' TERM; echo $$ >> {}; while :; do sleep 0.05; done",
                c.work.join("stubborn.pids").display()
            ),
        );
        // A grandchild in the same process group must go too.
        c.add_sh(
            "parent",
            &format!(
                "sleep 1000 & echo $! > {}; {}",
                c.work.join("grandchild").display(),
                c.pid_recorder("parent")
            ),
        );
        let mut m = c.monitor(&["--frequency", "600", "--killtime", "0.5"]);
        let polite = c.wait_pids("polite", 1);
        let stubborn = c.wait_pids("stubborn", 1);
        let parent = c.wait_pids("parent", 1);
        let grandchild: i32 = wait_for(SOON, || {
            fs::read_to_string(c.work.join("grandchild"))
                .ok()?
                .trim()
                .parse()
                .ok()
        })
        .expect("grandchild");
        let t0 = Instant::now();
        m.signal(sig);
        let code = m.wait_exit(SOON).expect("monitor did not exit");
        assert_eq!(code, Some(0), "exit code after signal {sig}:\n{}", m.log());
        assert!(
            t0.elapsed() >= Duration::from_millis(400),
            "did not wait killtime for the stubborn child"
        );
        for pid in [polite, stubborn, parent, grandchild] {
            assert!(!is_alive(pid), "pid {pid} survived signal {sig}");
        }
    }
}

#[test]
fn killtime_applies_to_restarts_too() {
    let c = Colony::new();
    // It survives SIGTERM (its `sleep` dies of it, the loop goes on) and
    // ticks every 50 ms into `ticks.PID` until SIGKILL.
    c.add_sh(
        "stubborn",
        &format!(
            "t={work}/ticks.$$; trap 'echo TERM >> $t' TERM; echo $$ >> {work}/stubborn.pids; \
             while :; do sleep 0.05; echo . >> $t; done",
            work = c.work.display()
        ),
    );
    let _m = c.monitor(&["--frequency", "600", "--killtime", "1", "--threshold", "0"]);
    let first = c.wait_pids("stubborn", 1);
    let sent = Instant::now();
    let ticks = c.work.join(format!("ticks.{first}"));
    // The ticks it made after SIGTERM, once it has had one.
    let after_term = || {
        let text = fs::read_to_string(&ticks).ok()?;
        text.split_once("TERM\n")
            .map(|(_, after)| after.lines().count())
    };
    c.send("r", r#"{"type": "RESTART", "name": "stubborn"}"#);
    assert!(wait_until(SOON, || after_term().is_some()), "no SIGTERM");
    let termed = Instant::now();
    c.wait_pids("stubborn", 2);
    assert!(!is_alive(first));
    let killed_after = termed.elapsed();
    // SIGKILL came neither at once (1 s is some 20 ticks; a kill "now"
    // leaves none) nor after the default killtime of 5 s.
    let ticked = after_term().unwrap_or_default();
    assert!(ticked >= 5, "killed {ticked} ticks after SIGTERM");
    assert!(
        killed_after < Duration::from_secs(4),
        "killed {killed_after:?} after SIGTERM"
    );
    // And never before killtime (timers never fire early).
    assert!(
        sent.elapsed() >= Duration::from_secs(1),
        "restarted {:?} after the RESTART, before killtime",
        sent.elapsed()
    );
}

#[test]
fn pid_directory_tracks_running_children() {
    let c = Colony::new();
    c.add_sh("tracked", &c.pid_recorder("tracked"));
    let _m = c.monitor(&[
        "--frequency",
        "600",
        "--pid",
        c.pids.to_str().expect("utf8"),
    ]);
    let pid = c.wait_pids("tracked", 1);
    assert!(wait_until(SOON, || fs::read_to_string(
        c.pids.join("tracked")
    )
    .ok()
    .as_deref()
    .map(str::trim)
        == Some(pid.to_string().as_str())));
    fs::remove_file(c.config.join("tracked")).expect("rm");
    assert!(
        wait_until(SOON, || !c.pids.join("tracked").exists()),
        "pid file not removed"
    );
}

#[test]
fn adopted_orphans_are_reaped() {
    let c = Colony::new();
    // The inner shell exits at once, orphaning its background sleep, which
    // the kernel hands to the monitor (subreaper).
    c.add_sh(
        "orphaner",
        &format!(
            "sh -c 'sleep 0.3 & echo $! > {}'; exec sleep 1000",
            c.work.join("orphan").display()
        ),
    );
    let m = c.monitor(&["--frequency", "600"]);
    let orphan: i32 = wait_for(SOON, || {
        fs::read_to_string(c.work.join("orphan"))
            .ok()?
            .trim()
            .parse()
            .ok()
    })
    .expect("orphan pid");
    m.wait_log(&format!("reaped an adopted orphan pid={orphan} "));
    assert!(m.log().contains("reaped an adopted orphan"));
    assert!(!is_zombie(orphan) && !is_alive(orphan));
}

#[test]
fn chatty_children_do_not_stall_the_monitor() {
    let c = Colony::new();
    c.add_sh("chatty", "yes 'a line of chatter that goes on and on'");
    c.add_sh("quiet", &c.pid_recorder("quiet"));
    let cmd = c.monitor_command(&["--frequency", "600", "--threshold", "0"]);
    // Discard the flood: this test is about the loop staying responsive.
    let mut m = Monitor::spawn(cmd);
    let first = c.wait_pids("quiet", 1);
    for n in 2..=4 {
        c.send(
            &format!("{n:03}"),
            r#"{"type": "RESTART", "name": "quiet"}"#,
        );
        let pid = c.wait_pids("quiet", n);
        assert_ne!(pid, first);
    }
    m.signal(15);
    assert_eq!(m.wait_exit(SOON), Some(Some(0)));
}

#[test]
fn bad_arguments_are_usage_errors() {
    let c = Colony::new();
    let out = run(&[
        "monitor",
        "--config",
        "/nonexistent-dir",
        "--messages",
        c.messages.to_str().expect("utf8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--config /nonexistent-dir"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // Usage errors: exit 2, one line naming the argument.
    let dirs = ["monitor", "--config", "/tmp", "--messages", "/tmp"];
    let cases: [(&[&str], &str); 5] = [
        (&["--threshold", "-1"], "--threshold"),
        (&["--frequency", "0"], "--frequency"),
        (&["-k", "soon"], "--killtime"),
        (&["--bogus"], "--bogus"),
        (&["--maxrestartdelay"], "--maxrestartdelay"),
    ];
    for (extra, named) in cases {
        let args: Vec<&str> = dirs.iter().chain(extra).copied().collect();
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(named), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
    let out = run(&["monitor", "--messages", "/tmp"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--config"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn uid_and_gid_drop_privileges_and_clear_groups() {
    require_root("uid and gid");
    let c = Colony::new();
    c.write_config(
        "nobody",
        &json(serde_json::json!({"args": ["/bin/sleep", "1000"], "uid": 65534, "gid": 65534})),
    );
    c.write_config(
        "gidonly",
        &json(serde_json::json!({"args": ["/bin/sleep", "1000"], "gid": 65534})),
    );
    let _m = c.monitor(&[
        "--frequency",
        "600",
        "--pid",
        c.pids.to_str().expect("utf8"),
    ]);
    for (name, uid) in [("nobody", "65534"), ("gidonly", "0")] {
        let pid: i32 = wait_for(SOON, || {
            fs::read_to_string(c.pids.join(name))
                .ok()?
                .trim()
                .parse()
                .ok()
        })
        .expect("pid");
        let uids = proc_status_field(pid, "Uid").expect("Uid");
        let gids = proc_status_field(pid, "Gid").expect("Gid");
        assert!(
            uids.split_whitespace().all(|u| u == uid),
            "{name}: Uid {uids}"
        );
        assert!(
            gids.split_whitespace().all(|g| g == "65534"),
            "{name}: Gid {gids}"
        );
        assert_eq!(
            proc_status_field(pid, "Groups").as_deref(),
            Some(""),
            "{name}: supplementary groups kept"
        );
    }
}

#[test]
fn uid_without_root_and_unreadable_files_are_logged() {
    let c = Colony::new();
    c.write_config(
        "wants-root",
        r#"{"args": ["/bin/sleep", "1000"], "uid": 0}"#,
    );
    c.write_config("secret", r#"{"args": ["/bin/sleep", "1000"]}"#);
    fs::set_permissions(c.config.join("secret"), fs::Permissions::from_mode(0o600)).expect("chmod");
    c.add_sh("fine", &c.pid_recorder("fine"));
    let m = c.unprivileged_monitor(&["--frequency", "600"]);
    c.wait_pids("fine", 1);
    m.wait_log("not running as root");
    m.wait_log("config secret: cannot read");
}

#[test]
fn runs_as_pid_1_in_a_pid_namespace() {
    require_root("a pid namespace");
    let unshare = require_tool("/usr/bin/unshare");
    let c = Colony::new();
    c.add_sh(
        "inside",
        &format!(
            "echo $NCOLONY_NAME $PPID > {}; exec sleep 1000",
            c.work.join("inside").display()
        ),
    );
    c.add_sh(
        "orphaner",
        &format!(
            "sh -c 'sleep 0.2 & echo $! > {}'; exec sleep 1000",
            c.work.join("orphan").display()
        ),
    );
    let mut cmd = std::process::Command::new(unshare);
    cmd.args([
        "--fork",
        "--pid",
        "--mount-proc",
        env!("CARGO_BIN_EXE_ncolony"),
        "monitor",
        "--frequency",
        "600",
        "--killtime",
        "1",
    ])
    .arg("--config")
    .arg(&c.config)
    .arg("--messages")
    .arg(&c.messages);
    let mut m = Monitor::spawn(cmd);
    // The child sees the monitor as its parent, pid 1.
    assert!(wait_until(SOON, || fs::read_to_string(
        c.work.join("inside")
    )
    .ok()
    .as_deref()
        == Some("inside 1\n")));
    m.wait_log("pid=1\n");
    m.wait_log("reaped an adopted orphan");
    // Signal the monitor inside (unshare's child) and expect a clean exit.
    let inner = wait_for(SOON, || {
        let children =
            fs::read_to_string(format!("/proc/{}/task/{}/children", m.pid(), m.pid())).ok()?;
        children.split_whitespace().next()?.parse::<i32>().ok()
    })
    .expect("monitor inside the namespace");
    kill(inner, 15);
    assert_eq!(m.wait_exit(SOON), Some(Some(0)), "{}", m.log());
}
