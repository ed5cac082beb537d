//! The messages directory as a hostile machine fills it: FIFOs, symlinks to
//! endless devices, device nodes, sockets and huge files must neither block
//! nor bloat the monitor; with no inotify instance left it polls; restart
//! requests queued while no monitor ran do not restart the first start.

use std::fs;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use crate::support::*;

/// A bound on "promptly": far above what a healthy loop needs, far below
/// what reading a device until memory runs out takes.
const PROMPTLY: Duration = Duration::from_secs(5);

/// The peak resident memory of `pid` in KiB (`VmHWM`), so that a big read
/// already freed again is still seen.
fn peak_rss_kib(pid: i32) -> u64 {
    proc_status_field(pid, "VmHWM")
        .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM of the monitor")
}

/// How many log lines are about `path`.
fn lines_about(log: &str, path: &Path) -> usize {
    let prefix = format!("{}:", path.display());
    log.lines().filter(|l| l.contains(&prefix)).count()
}

/// The entries of `dir`, dot names (the monitor's state) left out.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
}

#[test]
fn fifos_devices_and_huge_files_neither_block_nor_bloat_the_monitor() {
    require_root("mknod of a device node");
    let c = Colony::new();
    c.add_sh("steady", &c.pid_recorder("steady"));
    let m = &c.messages;
    mkfifo(&m.join("fifo-at-start"));
    std::os::unix::fs::symlink("/dev/zero", m.join("zero")).expect("symlink");
    std::os::unix::fs::symlink("/dev/urandom", m.join("urandom")).expect("symlink");
    // /dev/zero's own node (char 1:5), not a symlink to it.
    nix::sys::stat::mknod(
        &m.join("zero-node"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::S_IRUSR,
        nix::sys::stat::makedev(1, 5),
    )
    .expect("mknod");
    let _socket = UnixListener::bind(m.join("socket")).expect("bind");
    // 1 GiB of nothing: reading it whole would take the memory and time a
    // full read takes, for a file that cannot be a message.
    let huge = fs::File::create(m.join("huge")).expect("create");
    huge.set_len(1 << 30).expect("sparse file");
    drop(huge);

    let mon = c.monitor(&["--frequency", "0.2"]);
    c.wait_pids("steady", 1);
    mkfifo(&m.join("fifo-added"));
    // The loop is not blocked: a restart and a new config are handled.
    c.send("zz-restart-1", r#"{"type": "RESTART", "name": "steady"}"#);
    assert!(
        wait_until(PROMPTLY, || c.recorded_pids("steady").len() >= 2),
        "the RESTART was not handled; log:\n{}",
        mon.log()
    );
    c.add_sh("late", &c.pid_recorder("late"));
    assert!(
        wait_until(PROMPTLY, || !c.recorded_pids("late").is_empty()),
        "the new config did not start; log:\n{}",
        mon.log()
    );
    mon.wait_log("fifo-added: is a FIFO");
    // A few more scans, from events and from ticks, before counting.
    c.send("zz-restart-2", r#"{"type": "RESTART", "name": "steady"}"#);
    c.wait_pids("steady", 3);
    c.send("zz-restart-3", r#"{"type": "RESTART", "name": "steady"}"#);
    c.wait_pids("steady", 4);

    let log = mon.log();
    for (name, what) in [
        ("fifo-at-start", "is a FIFO"),
        ("fifo-added", "is a FIFO"),
        ("zero", "is a symlink"),
        ("urandom", "is a symlink"),
        ("zero-node", "is a character device"),
        ("socket", "is a socket"),
        ("huge", "larger than 64 KiB"),
    ] {
        let path = m.join(name);
        assert_eq!(
            lines_about(&log, &path),
            1,
            "{name} not logged exactly once; log:\n{log}"
        );
        assert!(
            log.contains(&format!("{}: {what}", path.display())),
            "{name}: expected {what:?}; log:\n{log}"
        );
    }
    // Non-regular entries are left alone; the huge file and the handled
    // messages are gone.
    assert_eq!(
        entries(m),
        [
            "fifo-added",
            "fifo-at-start",
            "socket",
            "urandom",
            "zero",
            "zero-node"
        ]
    );
    let peak = peak_rss_kib(mon.pid());
    assert!(peak < 64 * 1024, "monitor peak RSS {peak} KiB");
}

/// The tools that run the monitor in a user namespace with no inotify
/// instance allowed, checked to work: a machine that cannot fails the test
/// (CI installs util-linux and is root), it never passes unchecked.
fn user_namespace_tools() -> (&'static str, &'static str) {
    let unshare = require_tool("/usr/bin/unshare");
    let nsenter = require_tool("/usr/bin/nsenter");
    let status = Command::new(unshare)
        .args(["--user", "--map-root-user", "/bin/sh", "-c"])
        .arg("echo 0 > /proc/sys/user/max_inotify_instances")
        .stdout(Stdio::null())
        .status();
    assert!(
        status.as_ref().is_ok_and(|s| s.success()),
        "this test needs `unshare --user --map-root-user` to be allowed to set \
         /proc/sys/user/max_inotify_instances: {status:?}"
    );
    (unshare, nsenter)
}

/// The inotify watches `pid` holds, from `/proc/PID/fdinfo`.
fn inotify_watches(pid: i32) -> usize {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return 0;
    };
    fds.flatten()
        .filter_map(|fd| fs::read_to_string(fd.path()).ok())
        .map(|info| {
            info.lines()
                .filter(|l| l.starts_with("inotify wd:"))
                .count()
        })
        .sum()
}

#[test]
fn no_inotify_instance_means_polling_until_one_is_available() {
    let (unshare, nsenter) = user_namespace_tools();
    let c = Colony::new();
    c.add_sh("first", &c.pid_recorder("first"));
    // The limit is per user namespace: the rest of the machine keeps its own.
    let mut cmd = Command::new(unshare);
    cmd.args(["--user", "--map-root-user", "/bin/sh", "-c"])
        .arg(r#"echo 0 > /proc/sys/user/max_inotify_instances && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_ncolony"))
        .arg("monitor")
        .arg("--config")
        .arg(&c.config)
        .arg("--messages")
        .arg(&c.messages)
        .args(["--frequency", "0.2"]);
    // unshare and sh exec: the pid is the monitor's.
    let mon = Monitor::spawn(cmd);
    mon.wait_log("polling both directories every 0.2s");
    assert!(mon.log().contains("cannot use inotify: "), "{}", mon.log());
    c.wait_pids("first", 1);
    assert_eq!(inotify_watches(mon.pid()), 0, "inotify was available");
    // It reacts, by polling.
    c.add_sh("second", &c.pid_recorder("second"));
    c.wait_pids("second", 1);
    c.send("001", r#"{"type": "RESTART", "name": "first"}"#);
    c.wait_pids("first", 2);

    // Allow inotify in the monitor's namespace again: it is picked up.
    let raised = Command::new(nsenter)
        .args([
            "--user",
            "--target",
            &mon.pid().to_string(),
            "/bin/sh",
            "-c",
        ])
        .arg("echo 128 > /proc/sys/user/max_inotify_instances")
        .status()
        .expect("run nsenter");
    assert!(raised.success(), "nsenter failed");
    mon.wait_log("inotify is available again");
    assert!(
        wait_until(SOON, || inotify_watches(mon.pid()) == 2),
        "both directories should be watched"
    );
    let log = mon.log();
    assert_eq!(
        log.matches("cannot use inotify").count(),
        1,
        "not said once:\n{log}"
    );
    c.add_sh("third", &c.pid_recorder("third"));
    c.wait_pids("third", 1);
}

/// Sets a file's mtime `age` in the past.
fn age(path: &Path, age: Duration) {
    let file = fs::File::options()
        .write(true)
        .open(path)
        .expect("open message");
    file.set_modified(SystemTime::now() - age)
        .expect("set mtime");
}

#[test]
fn restart_requests_sent_before_the_start_do_not_restart_the_first_start() {
    let c = Colony::new();
    c.add_sh("web", &c.pid_recorder("web"));
    let fe = serde_json::json!({"args": ["/bin/sh", "-c", c.pid_recorder("fe")], "group": ["g"]});
    c.write_config("fe", &fe.to_string());
    // `ncolony ctl restart web` and friends while no monitor was running.
    c.send("001", r#"{"type": "RESTART", "name": "web"}"#);
    c.send("002", r#"{"type": "RESTART-ALL"}"#);
    c.send("003", r#"{"type": "RESTART-GROUP", "group": "g"}"#);
    for file in ["001", "002", "003"] {
        age(&c.messages.join(file), Duration::from_secs(60));
    }
    let mon = c.monitor(&["--frequency", "0.2"]);
    for (file, shown) in [
        ("001", "RESTART web"),
        ("002", "RESTART-ALL"),
        ("003", "RESTART-GROUP g"),
    ] {
        mon.wait_log(&format!(
            "message {}: {shown} was sent before this monitor started; deleted without effect",
            c.messages.join(file).display()
        ));
    }
    c.wait_pids("web", 1);
    c.wait_pids("fe", 1);
    assert!(entries(&c.messages).is_empty(), "old messages not deleted");
    // Longer than the restart delay after a stop: a restart would show.
    assert!(
        !wait_until(Duration::from_secs(3), || {
            c.recorded_pids("web").len() > 1 || c.recorded_pids("fe").len() > 1
        }),
        "the first start was restarted; log:\n{}",
        mon.log()
    );
    // One sent now is handled.
    c.send("004", r#"{"type": "RESTART", "name": "web"}"#);
    c.wait_pids("web", 2);
    mon.wait_log(&format!(
        "message {}: RESTART web\n",
        c.messages.join("004").display()
    ));
}

#[test]
fn a_restart_sent_right_after_the_start_is_handled() {
    let c = Colony::new();
    let mon = c.monitor(&["--frequency", "600"]);
    mon.wait_log("monitor started");
    c.send("001", r#"{"type": "RESTART", "name": "nosuch"}"#);
    mon.wait_log(&format!(
        "message {}: RESTART nosuch\n",
        c.messages.join("001").display()
    ));
    assert!(!mon.log().contains("sent before"), "{}", mon.log());
}

#[test]
fn a_restart_of_an_invalid_name_is_logged_and_deleted() {
    let c = Colony::new();
    let mon = c.monitor(&["--frequency", "600"]);
    mon.wait_log("monitor started");
    c.send("001", r#"{"type": "RESTART", "name": "../x"}"#);
    let file = c.messages.join("001");
    mon.wait_log(&format!(
        "message {}: name \"../x\" contains '/'",
        file.display()
    ));
    let log = mon.log();
    let line = log
        .lines()
        .find(|l| l.contains("name \"../x\""))
        .expect("logged");
    assert!(line.ends_with("; deleted"), "{line}");
    assert!(!file.exists(), "not deleted");
}
