//! The `ready` key's protocols with real processes: systemd's notify socket
//! (a raw-datagram Python client, `systemd-notify`), s6's notification fd,
//! the polled probes (file, tcp, http, exec), the watchdog, the ready
//! timeout, and the monitor's own `NOTIFY_SOCKET`.

use std::fs;
use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

/// A notify client: each argument is a datagram to send (`\n` for a
/// newline), or `wait=PATH` (until PATH exists), `touch=PATH`, `sleep=S`,
/// `forever`.
/// Run with `exec`, it is the child itself, as a daemon would be.
const NOTIFY_PY: &str = r#"
import os, socket, sys, time
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for a in sys.argv[1:]:
    if a.startswith("sleep="):
        time.sleep(float(a[6:]))
    elif a.startswith("wait="):
        while not os.path.exists(a[5:]):
            time.sleep(0.02)
    elif a.startswith("touch="):
        open(a[6:], "w").close()
    elif a == "forever":
        while True:
            time.sleep(100)
    else:
        s.sendto(a.replace("\\n", "\n").encode(), addr)
"#;

/// The notify client's path in the colony's work directory.
pub fn notify_py(c: &Colony) -> String {
    let path = c.work.join("notify.py");
    if !path.exists() {
        fs::write(&path, NOTIFY_PY).expect("write notify.py");
    }
    path.display().to_string()
}

/// `ctl status --json`, parsed (Null when unreadable).
pub fn status(c: &Colony) -> Value {
    let out = c.ctl(&["status", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// One process of [`status`] (Null when absent).
pub fn process(c: &Colony, name: &str) -> Value {
    status(c)["processes"]
        .as_array()
        .and_then(|list| list.iter().find(|p| p["name"] == name).cloned())
        .unwrap_or(Value::Null)
}

/// Whether `name` is ready, per the status snapshot.
pub fn is_ready(c: &Colony, name: &str) -> bool {
    process(c, name)["ready"] == true
}

/// Every journal event of `name` with this `event` word.
pub fn events(c: &Colony, name: &str, event: &str) -> Vec<Value> {
    fs::read_to_string(c.messages.join(".ncolony/events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["name"] == name && e["event"] == event)
        .collect()
}

/// Writes a config from a JSON value.
pub fn config(c: &Colony, name: &str, v: &Value) {
    c.write_config(name, &v.to_string());
}

fn touch(path: &Path) {
    fs::write(path, "").expect("touch");
}

/// A free TCP port on 127.0.0.1 (taken and released: another test could
/// take it meanwhile, which no other test here does on purpose).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Shows that `name` is running and not ready for a while: long enough
/// for a probe with a 0.1 s period to have passed several times.
fn stays_not_ready(c: &Colony, name: &str) {
    assert!(
        wait_until(WAIT, || process(c, name)["state"] == "running"),
        "{name} never ran: {}",
        process(c, name)
    );
    assert!(
        stays(Duration::from_millis(600), || !is_ready(c, name)),
        "{name} was ready too soon"
    );
}

/// `name` runs and is not ready until `go` exists; then it is.
fn ready_once_touched(c: &Colony, name: &str, go: &Path) {
    stays_not_ready(c, name);
    touch(go);
    assert!(
        wait_until(WAIT, || is_ready(c, name)),
        "{}",
        process(c, name)
    );
}

#[test]
fn a_raw_sd_notify_datagram_makes_a_process_ready_and_its_status_text_shows() {
    let c = Colony::new();
    let go = c.work.join("go");
    config(
        &c,
        "db",
        &json!({"args": ["/usr/bin/python3", notify_py(&c), "STATUS=warming up",
                         format!("wait={}", go.display()), "READY=1\nSTATUS=accepting", "forever"],
                "ready": {"notify": true}}),
    );
    let _m = c.monitor(&[]);
    assert!(
        wait_until(WAIT, || process(&c, "db")["status_text"] == "warming up"),
        "{}",
        process(&c, "db")
    );
    assert!(!is_ready(&c, "db"));
    let table = String::from_utf8_lossy(&c.ctl(&["status"]).stdout).into_owned();
    assert!(table.contains("warming up"), "{table}");
    // The child was given the monitor's socket.
    let pid = process(&c, "db")["pid"].as_i64().expect("pid") as i32;
    let socket = c.messages.join(".ncolony/notify").display().to_string();
    assert!(proc_environ(pid).contains(&("NOTIFY_SOCKET".to_owned(), socket)));
    touch(&go);
    assert!(
        wait_until(WAIT, || is_ready(&c, "db")),
        "{}",
        process(&c, "db")
    );
    assert_eq!(process(&c, "db")["status_text"], "accepting");
    assert_eq!(events(&c, "db", "ready").len(), 1);
}

#[test]
fn systemd_notify_ready_works_unchanged() {
    let tool = "/usr/bin/systemd-notify";
    assert!(
        Path::new(tool).exists(),
        "this test needs {tool} (Debian package systemd; .ci/run installs it)"
    );
    let c = Colony::new();
    let go = c.work.join("go");
    let script = format!(
        "while [ ! -e {} ]; do sleep 0.02; done; {tool} --ready --status='all good'; exec sleep 1000",
        go.display()
    );
    config(
        &c,
        "web",
        &json!({"args": ["/bin/sh", "-c", script], "ready": {"notify": true}}),
    );
    let _m = c.monitor(&[]);
    ready_once_touched(&c, "web", &go);
    assert_eq!(process(&c, "web")["status_text"], "all good");
}

#[test]
fn a_strangers_datagram_is_dropped_and_a_group_members_is_taken() {
    let c = Colony::new();
    let (go, member) = (c.work.join("go"), c.work.join("member"));
    let py = notify_py(&c);
    // The child says something once told to; a process of its group (a
    // child of the shell, alive a moment after sending) says READY=1.
    let script = format!(
        "/usr/bin/python3 {py} wait={} STATUS=checked; \
         /usr/bin/python3 {py} wait={} READY=1 sleep=2; exec sleep 1000",
        go.display(),
        member.display()
    );
    config(
        &c,
        "svc",
        &json!({"args": ["/bin/sh", "-c", script], "ready": {"notify": true}}),
    );
    let _m = c.monitor(&[]);
    assert!(wait_until(WAIT, || process(&c, "svc")["state"] == "running"));
    // A stranger (this test) claims readiness, and floods the socket.
    let socket = c.messages.join(".ncolony/notify");
    let stranger = UnixDatagram::unbound().expect("socket");
    stranger.send_to(b"READY=1", &socket).expect("send");
    for _ in 0..2000 {
        // The socket's queue may fill: a flood is dropped, not waited for.
        let _ = stranger.send_to(b"READY=1\nSTATUS=stranger", &socket);
    }
    let _ = stranger.send_to(&vec![b'x'; 70_000], &socket);
    // Once the child's own datagram (sent after the stranger's) is in,
    // the stranger's has been read.
    touch(&go);
    assert!(
        wait_until(WAIT, || process(&c, "svc")["status_text"] == "checked"),
        "{}",
        process(&c, "svc")
    );
    assert!(!is_ready(&c, "svc"), "a stranger's READY=1 was taken");
    touch(&member);
    assert!(
        wait_until(WAIT, || is_ready(&c, "svc")),
        "{}",
        process(&c, "svc")
    );
}

#[test]
fn an_s6_notification_fd_newline_makes_a_process_ready() {
    let c = Colony::new();
    let go = c.work.join("go");
    let script = format!(
        "while [ ! -e {} ]; do sleep 0.02; done; echo >&3; exec sleep 1000",
        go.display()
    );
    config(
        &c,
        "s6",
        &json!({"args": ["/bin/sh", "-c", script], "ready": {"fd": 3}}),
    );
    let _m = c.monitor(&[]);
    ready_once_touched(&c, "s6", &go);
}

#[test]
fn a_tcp_listener_that_opens_late_makes_a_process_ready() {
    let c = Colony::new();
    let go = c.work.join("go");
    let port = free_port();
    let script = format!(
        "import os, socket, time\n\
         while not os.path.exists({go:?}): time.sleep(0.02)\n\
         s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('127.0.0.1', {port})); s.listen()\n\
         while True: s.accept()[0].close()\n",
        go = go.display().to_string()
    );
    config(
        &c,
        "tcp",
        &json!({"args": ["/usr/bin/python3", "-c", script],
                "ready": {"tcp": format!("127.0.0.1:{port}"), "period": 0.1}}),
    );
    let _m = c.monitor(&[]);
    ready_once_touched(&c, "tcp", &go);
}

#[test]
fn an_http_server_that_opens_late_makes_a_process_ready() {
    let c = Colony::new();
    let go = c.work.join("go");
    let port = free_port();
    let script = format!(
        "while [ ! -e {} ]; do sleep 0.02; done; exec /usr/bin/python3 -m http.server --bind 127.0.0.1 {port}",
        go.display()
    );
    config(
        &c,
        "http",
        &json!({"args": ["/bin/sh", "-c", script], "cwd": c.work.display().to_string(),
                "ready": {"http": format!("http://127.0.0.1:{port}/"), "period": 0.1}}),
    );
    let _m = c.monitor(&[]);
    ready_once_touched(&c, "http", &go);
}

#[test]
fn a_file_that_appears_makes_a_process_ready() {
    let c = Colony::new();
    let flag = c.work.join("flag");
    config(
        &c,
        "file",
        &json!({"args": ["/bin/sleep", "1000"],
                "ready": {"file": flag.display().to_string(), "period": 0.1}}),
    );
    let _m = c.monitor(&[]);
    ready_once_touched(&c, "file", &flag);
}

#[test]
fn an_exec_check_runs_with_the_process_settings_and_is_reaped_as_a_probe() {
    let c = Colony::new();
    let flag = c.work.join("flag");
    // Relative to the process's cwd, with its environment.
    let check = "test \"$PROBE_ENV\" = yes && test -e flag";
    config(
        &c,
        "exec",
        &json!({"args": ["/bin/sleep", "1000"], "env": {"PROBE_ENV": "yes"},
                "cwd": c.work.display().to_string(),
                "ready": {"exec": ["/bin/sh", "-c", check], "period": 0.1}}),
    );
    let m = c.monitor(&[]);
    ready_once_touched(&c, "exec", &flag);
    let log = m.log();
    assert!(
        !log.contains("adopted orphan"),
        "a probe was taken for an orphan:\n{log}"
    );
}

#[test]
fn a_hung_exec_check_is_killed_after_the_timeout_and_the_start_fails() {
    let c = Colony::new();
    let pids = c.work.join("probe.pids");
    let check = format!("echo $$ >> {}; exec sleep 1000", pids.display());
    config(
        &c,
        "hung",
        &json!({"args": ["/bin/sh", "-c", c.pid_recorder("hung")],
                "ready": {"exec": ["/bin/sh", "-c", check], "timeout": 1}}),
    );
    let _m = c.monitor(&[]);
    let first = c.wait_pids("hung", 1);
    let probe: i32 = wait_for(WAIT, || {
        fs::read_to_string(&pids)
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    })
    .expect("the check ran");
    // The start failed at its ready timeout; its check is killed with it.
    assert!(
        wait_until(WAIT, || !events(&c, "hung", "ready_timeout").is_empty()),
        "no ready_timeout"
    );
    assert!(
        wait_until(WAIT, || !is_alive(probe)),
        "the hung check still runs"
    );
    assert!(wait_until(WAIT, || !is_alive(first)));
}

#[test]
fn an_exec_check_that_cannot_run_is_one_warning_per_start() {
    let c = Colony::new();
    config(
        &c,
        "nocheck",
        &json!({"args": ["/bin/sleep", "1000"],
                "ready": {"exec": ["/nonexistent/check"], "period": 0.1, "timeout": 2}}),
    );
    let m = c.monitor(&[]);
    // About twenty tries before the start times out.
    assert!(
        wait_until(WAIT, || !events(&c, "nocheck", "ready_timeout").is_empty()),
        "no ready_timeout"
    );
    let log = m.log();
    assert_eq!(
        log.matches("cannot run the ready check").count(),
        1,
        "{log}"
    );
}

#[test]
fn a_ready_timeout_stops_the_process_and_counts_as_a_failed_start() {
    let c = Colony::new();
    config(
        &c,
        "slow",
        &json!({"args": ["/bin/sh", "-c", c.pid_recorder("slow")],
                "ready": {"notify": true, "timeout": 0.5}}),
    );
    let m = c.monitor(&["--minrestartdelay", "0.2", "--maxrestartdelay", "0.2"]);
    let first = c.wait_pids("slow", 1);
    assert!(
        wait_until(WAIT, || !events(&c, "slow", "ready_timeout").is_empty()),
        "no ready_timeout event; log:\n{}",
        m.log()
    );
    assert!(wait_until(WAIT, || !is_alive(first)));
    // Restarted under the backoff, and again not ready.
    let second = c.wait_pids("slow", 2);
    assert_ne!(first, second);
    assert!(!is_ready(&c, "slow"));
}

#[test]
fn the_watchdog_restarts_a_process_that_stops_pinging() {
    let c = Colony::new();
    let py = notify_py(&c);
    let quiet = c.work.join("quiet");
    // Pings every 0.3 s for 1.8 s (longer than the watchdog), then stops.
    let pings = "sleep=0.3 WATCHDOG=1 ".repeat(6);
    let script = format!(
        "echo $$ >> {}; exec /usr/bin/python3 {py} READY=1 {pings} touch={} forever",
        c.work.join("dog.pids").display(),
        quiet.display()
    );
    config(
        &c,
        "dog",
        &json!({"args": ["/bin/sh", "-c", script], "ready": {"notify": true}, "watchdog": 1}),
    );
    let m = c.monitor(&["--killtime", "1"]);
    let first = c.wait_pids("dog", 1);
    let env = proc_environ(first);
    assert!(
        env.contains(&("WATCHDOG_USEC".to_owned(), "1000000".to_owned())),
        "{env:?}"
    );
    assert!(
        env.contains(&("WATCHDOG_PID".to_owned(), first.to_string())),
        "{env:?}"
    );
    // While it pings, the watchdog holds off.
    assert!(wait_until(WAIT, || quiet.exists()));
    assert!(
        events(&c, "dog", "watchdog_timeout").is_empty(),
        "the watchdog fired while the process pinged; log:\n{}",
        m.log()
    );
    assert!(
        wait_until(WAIT, || !events(&c, "dog", "watchdog_timeout").is_empty()),
        "no watchdog_timeout; log:\n{}",
        m.log()
    );
    let second = c.wait_pids("dog", 2);
    assert_ne!(first, second);
    assert!(!is_alive(first));
}

#[test]
fn the_monitor_tells_its_own_notify_socket_when_the_colony_is_ready_and_stopping() {
    let c = Colony::new();
    let go = c.work.join("go");
    let sd = c.tmp.path().join("sd.sock");
    let manager = UnixDatagram::bind(&sd).expect("bind the manager's socket");
    manager
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    config(
        &c,
        "db",
        &json!({"args": ["/usr/bin/python3", notify_py(&c), format!("wait={}", go.display()),
                         "READY=1", "forever"],
                "ready": {"notify": true}}),
    );
    // Even asked for, the manager's socket is not passed on.
    config(
        &c,
        "plain",
        &json!({"args": ["/bin/sleep", "1000"], "env_inherit": ["NOTIFY_SOCKET"]}),
    );
    let mut cmd = c.monitor_command(&[]);
    cmd.env("NOTIFY_SOCKET", &sd);
    let mut m = Monitor::spawn(cmd);
    let mut got: Vec<String> = Vec::new();
    let read = |got: &mut Vec<String>| {
        let mut buf = [0u8; 4096];
        if let Ok(n) = manager.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    };
    assert!(
        wait_until(WAIT, || {
            read(&mut got);
            got.iter().any(|g| g == "STATUS=2 running, 0 waiting")
        }),
        "{got:?}"
    );
    let pid = |name| process(&c, name)["pid"].as_i64().map(|p| p as i32);
    let plain = wait_for(WAIT, || pid("plain")).expect("plain runs");
    let db = wait_for(WAIT, || pid("db")).expect("db runs");
    assert!(
        !proc_environ(plain)
            .iter()
            .any(|(k, _)| k == "NOTIFY_SOCKET")
    );
    let sd_text = sd.display().to_string();
    assert!(
        !proc_environ(db)
            .iter()
            .any(|(k, v)| k == "NOTIFY_SOCKET" && *v == sd_text)
    );
    // Not ready while db is not.
    assert!(stays(Duration::from_millis(500), || {
        read(&mut got);
        !got.iter().any(|g| g == "READY=1")
    }));
    touch(&go);
    assert!(
        wait_until(WAIT, || {
            read(&mut got);
            got.iter().any(|g| g == "READY=1")
        }),
        "{got:?}"
    );
    m.signal(15);
    assert!(
        wait_until(WAIT, || {
            read(&mut got);
            got.iter().any(|g| g == "STOPPING=1")
        }),
        "{got:?}"
    );
    assert_eq!(m.wait_exit(WAIT), Some(Some(0)));
}

#[test]
fn an_essential_end_tells_the_manager_stopping_and_never_ready_after() {
    let c = Colony::new();
    let sd = c.tmp.path().join("sd.sock");
    let manager = UnixDatagram::bind(&sd).expect("bind the manager's socket");
    manager
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    // db never says it is ready; the essential task ends the colony first.
    config(
        &c,
        "db",
        &json!({"args": ["/bin/sleep", "1000"], "ready": {"notify": true}}),
    );
    config(
        &c,
        "task",
        &json!({"args": ["/bin/sh", "-c", "sleep 0.3"], "restart": "never", "essential": true}),
    );
    let mut cmd = c.monitor_command(&[]);
    cmd.env("NOTIFY_SOCKET", &sd);
    let mut m = Monitor::spawn(cmd);
    assert_eq!(m.wait_exit(WAIT), Some(Some(0)), "{}", m.log());
    let mut got: Vec<String> = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = manager.recv(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(
        got.iter().filter(|g| *g == "STOPPING=1").count(),
        1,
        "{got:?}"
    );
    assert!(!got.iter().any(|g| g == "READY=1"), "{got:?}");
}

#[test]
fn an_empty_colony_under_a_manager_is_ready_at_once() {
    let c = Colony::new();
    let sd: PathBuf = c.tmp.path().join("sd.sock");
    let manager = UnixDatagram::bind(&sd).expect("bind");
    manager
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut cmd = c.monitor_command(&[]);
    cmd.env("NOTIFY_SOCKET", &sd);
    let _m = Monitor::spawn(cmd);
    let mut buf = [0u8; 4096];
    assert!(wait_until(WAIT, || manager
        .recv(&mut buf)
        .is_ok_and(|n| &buf[..n] == b"READY=1")));
}

#[test]
fn a_flood_of_datagrams_does_not_stall_the_monitor() {
    let c = Colony::new();
    let flood = "import os, socket\n\
                 s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
                 n = 0\n\
                 while True:\n    n += 1\n    try: s.sendto(b'STATUS=%d' % n, os.environ['NOTIFY_SOCKET'])\n    except OSError: pass\n";
    config(
        &c,
        "flood",
        &json!({"args": ["/usr/bin/python3", "-c", flood], "ready": {"notify": true}}),
    );
    let m = c.monitor(&[]);
    assert!(
        wait_until(WAIT, || process(&c, "flood")["status_text"].is_string()),
        "the flood never arrived; log:\n{}",
        m.log()
    );
    // Meanwhile a new process starts, and a restart is carried out, at once.
    c.add_sh("other", &c.pid_recorder("other"));
    let first = c.wait_pids("other", 1);
    c.send("1Message.1", r#"{"type": "RESTART", "name": "other"}"#);
    let second = c.wait_pids("other", 2);
    assert_ne!(first, second);
    // And the status keeps up with the flood.
    let seen = process(&c, "flood")["status_text"]
        .as_str()
        .map(str::to_owned);
    assert!(wait_until(WAIT, || process(&c, "flood")["status_text"]
        .as_str()
        .map(str::to_owned)
        != seen));
}

#[test]
fn a_state_directory_too_deep_for_a_socket_path_gets_an_abstract_notify_socket() {
    let c = Colony::new();
    let state = c.tmp.path().join("s".repeat(120));
    config(
        &c,
        "db",
        &json!({"args": ["/usr/bin/python3", notify_py(&c), "READY=1", "forever"],
                "ready": {"notify": true}}),
    );
    let state_arg = state.display().to_string();
    let m = c.monitor(&["--state", &state_arg]);
    let state_opt = ["--state", state_arg.as_str()];
    let ready = || {
        let mut args = state_opt.to_vec();
        args.extend(["status", "--json"]);
        let out = c.ctl(&args);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        v["processes"][0]["ready"] == true
    };
    assert!(wait_until(WAIT, ready), "log:\n{}", m.log());
    m.wait_log("the notify socket is the abstract @ncolony-notify-");
}
