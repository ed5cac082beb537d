//! Interop with the original Python NColony, both ways:
//! files written by Python's `ncolony.ctllib` drive our monitor; our ctl
//! writes the same bytes as the original's; the original's own parsing code
//! accepts our files; and our ctl drives the original `twistd ncolony`.
//!
//! They need a python with the original `ncolony` installed, named by
//! `NCOLONY_TEST_PYTHON`, so they are `#[ignore]`d by default; `.ci/run`
//! installs one and runs them with `--ignored`, and one that is asked to run
//! without it fails. To run them locally:
//!
//! ```text
//! python3 -m venv /tmp/ncpy && /tmp/ncpy/bin/pip install ncolony
//! NCOLONY_TEST_PYTHON=/tmp/ncpy/bin/python cargo test --test integration interop
//! ```

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::*;

/// Why these tests are ignored unless asked for.
const NEEDS_PYTHON: &str = "needs the original NColony: NCOLONY_TEST_PYTHON=venv/bin/python";

/// The python to test against; a test asked to run without one fails.
#[track_caller]
fn python(test: &str) -> PathBuf {
    match std::env::var_os("NCOLONY_TEST_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!("interop::{test} {NEEDS_PYTHON} (see .ci/run)"),
    }
}

#[track_caller]
fn check(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `python -c SCRIPT ARGS...` with `stdin`, and returns its stdout.
#[track_caller]
fn py_script(python: &Path, script: &str, args: &[&Path], stdin: &str) -> String {
    let mut child = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = check(child.wait_with_output().expect("python"), "python script");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the original's ctl: `python -m ncolony --config C --messages M ARGS`.
#[track_caller]
fn py_ctl(python: &Path, config: &Path, messages: &Path, args: &[&str]) {
    let out = Command::new(python)
        .args(["-m", "ncolony", "--config"])
        .arg(config)
        .arg("--messages")
        .arg(messages)
        .args(args)
        .output()
        .expect("run python -m ncolony");
    check(out, &format!("python -m ncolony {args:?}"));
}

/// Runs our ctl on `config` and `messages`.
#[track_caller]
fn our_ctl(config: &Path, messages: &Path, args: &[&str]) {
    let out = ncolony()
        .arg("ctl")
        .arg("--config")
        .arg(config)
        .arg("--messages")
        .arg(messages)
        .args(args)
        .output()
        .expect("run ncolony ctl");
    check(out, &format!("ncolony ctl {args:?}"));
}

fn mkdirs(root: &Path, names: &[&str]) -> Vec<PathBuf> {
    names
        .iter()
        .map(|n| {
            let d = root.join(n);
            fs::create_dir_all(&d).expect("mkdir");
            d
        })
        .collect()
}

fn gone(pid: i32) -> bool {
    wait_until(SOON, || !is_alive(pid))
}

// ---- (a) Python's files drive our monitor ---------------------------------

#[test]
#[ignore = "needs the original NColony: NCOLONY_TEST_PYTHON=venv/bin/python"]
fn python_ctl_drives_our_monitor() {
    let py = python("python_ctl_drives_our_monitor");
    let c = Colony::new();
    let _m = c.monitor(&["--frequency", "600"]);
    let script = c.pid_recorder("web");
    let arg = format!("--arg={script}");
    py_ctl(
        &py,
        &c.config,
        &c.messages,
        &[
            "add", "web", "--cmd", "/bin/sh", "--arg=-c", &arg, "--env", "A=1",
        ],
    );
    let first = c.wait_pids("web", 1);
    assert!(proc_environ(first).contains(&("A".to_owned(), "1".to_owned())));

    py_ctl(&py, &c.config, &c.messages, &["restart", "web"]);
    let second = c.wait_pids("web", 2);
    assert!(gone(first));

    py_ctl(&py, &c.config, &c.messages, &["restart-all"]);
    let third = c.wait_pids("web", 3);
    assert!(gone(second));

    py_ctl(&py, &c.config, &c.messages, &["remove", "web"]);
    assert!(gone(third), "removed process still alive");
    assert_eq!(c.recorded_pids("web").len(), 3);
}

/// Python: add processes with `ctllib.add` (groups as extras, the way a
/// Python user has to), then drop a RESTART-GROUP message as the original's
/// code writes messages (`json.dumps`, `FilePath.setContent`).
const PY_GROUPS: &str = r#"
import json, sys
from twisted.python import filepath
from ncolony import ctllib
places = ctllib.Places(config=sys.argv[1], messages=sys.argv[2])
if sys.argv[3] == "add":
    for name, script, groups in json.loads(sys.stdin.read()):
        ctllib.add(places, name, "/bin/sh", ["-c", script], extras={"group": groups})
else:
    msg = json.dumps(dict(type="RESTART-GROUP", group=sys.argv[4])).encode("utf-8")
    filepath.FilePath(sys.argv[2]).child("000Message.group").setContent(msg)
"#;

#[test]
#[ignore = "needs the original NColony: NCOLONY_TEST_PYTHON=venv/bin/python"]
fn python_ctllib_groups_drive_our_monitor() {
    let py = python("python_ctllib_groups_drive_our_monitor");
    let c = Colony::new();
    let _m = c.monitor(&["--frequency", "600"]);
    let procs = serde_json::json!([
        ["a", c.pid_recorder("a"), ["fe"]],
        ["b", c.pid_recorder("b"), ["fe", "all"]],
        ["other", c.pid_recorder("other"), ["all"]],
    ]);
    let (config, messages) = (c.config.as_path(), c.messages.as_path());
    py_script(
        &py,
        PY_GROUPS,
        &[config, messages, Path::new("add")],
        &procs.to_string(),
    );
    let (a, b, other) = (
        c.wait_pids("a", 1),
        c.wait_pids("b", 1),
        c.wait_pids("other", 1),
    );
    py_script(
        &py,
        PY_GROUPS,
        &[
            config,
            messages,
            Path::new("restart-group"),
            Path::new("fe"),
        ],
        "",
    );
    c.wait_pids("a", 2);
    c.wait_pids("b", 2);
    assert!(gone(a) && gone(b));
    assert!(is_alive(other), "a process outside the group was restarted");
    assert_eq!(c.recorded_pids("other"), [other]);
}

// ---- (b) our files are the original's bytes -------------------------------

/// Python: `ctllib.add` for each case on stdin. `extras_file` is merged over
/// `extras` the way our `--extras` is merged over `--group` and the checker
/// flags.
const PY_ADD: &str = r#"
import json, sys
from ncolony import ctllib
places = ctllib.Places(config=sys.argv[1], messages=sys.argv[2])
for name, kw in json.loads(sys.stdin.read()):
    extras = kw.pop("extras", None)
    extras_file = kw.pop("extras_file", None)
    if extras_file is not None:
        with open(extras_file) as fp:
            more = json.load(fp)
        extras = dict(extras or {})
        extras.update(more)
    kw.setdefault("args", None)
    ctllib.add(places, name, extras=extras, **kw)
"#;

/// A JSON object with keys in exactly this order, spelled out rather than left
/// to serde_json's map order.
fn ordered(pairs: &[(&str, String)]) -> String {
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}: {v}", serde_json::Value::from(*k)))
        .collect();
    format!("{{{}}}", body.join(", "))
}

fn js(v: serde_json::Value) -> String {
    v.to_string()
}

/// One add: our CLI flags, and the same as `ctllib.add` keyword arguments.
struct Case {
    name: &'static str,
    ours: Vec<String>,
    python: String,
    /// Whether `ours` uses only the original's flags, so the original's CLI
    /// can be given the very same argv.
    original_flags_only: bool,
}

fn cases(extras_file: &Path) -> Vec<Case> {
    let file = extras_file.to_str().expect("utf-8 path").to_owned();
    let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let tricky = "echo \"hi\"\t\\ é 😀 \u{7f}";
    let beat_default = r#"{"status": "/run/beat", "period": 10, "grace": 3}"#;
    let beat_custom = r#"{"status": "/run/b", "period": 0.5, "grace": 2.0}"#;
    let http_default =
        r#"{"url": "http://127.0.0.1:8080/", "period": 10, "timeout": 5, "grace": 3, "maxBad": 2}"#;
    let http_custom =
        r#"{"url": "http://h/x?q=1", "period": 1e-05, "timeout": 1, "grace": 0, "maxBad": 0}"#;
    vec![
        Case {
            name: "minimal",
            ours: s(&["--cmd", "/bin/true"]),
            python: ordered(&[("cmd", js("/bin/true".into()))]),
            original_flags_only: true,
        },
        Case {
            name: "args",
            ours: s(&["--cmd", "/bin/sh", "--arg=-c", &format!("--arg={tricky}")]),
            python: ordered(&[
                ("cmd", js("/bin/sh".into())),
                ("args", js(serde_json::json!(["-c", tricky]))),
            ]),
            original_flags_only: true,
        },
        Case {
            name: "env",
            ours: s(&[
                "--cmd", "x", "--env", "B=1", "--env", "A=x=y", "--env", "B=2", "--env", "E=",
                "--env", "U=ü",
            ]),
            python: ordered(&[
                ("cmd", js("x".into())),
                (
                    "env",
                    js(serde_json::json!(["B=1", "A=x=y", "B=2", "E=", "U=ü"])),
                ),
            ]),
            original_flags_only: true,
        },
        Case {
            name: "ids-and-inherit",
            ours: s(&[
                "--cmd",
                "x",
                "--env-inherit",
                "HOME",
                "--uid",
                "0",
                "--env-inherit",
                "PATH",
                "--gid",
                "65534",
            ]),
            python: ordered(&[
                ("cmd", js("x".into())),
                ("uid", "0".into()),
                ("gid", "65534".into()),
                ("env_inherit", js(serde_json::json!(["HOME", "PATH"]))),
            ]),
            original_flags_only: true,
        },
        Case {
            name: "extras",
            ours: s(&["--cmd", "x", "--env", "A=1", "--extras", &file]),
            python: ordered(&[
                ("cmd", js("x".into())),
                ("env", js(serde_json::json!(["A=1"]))),
                ("extras_file", js(file.clone().into())),
            ]),
            original_flags_only: true,
        },
        Case {
            name: "groups",
            ours: s(&["--cmd", "x", "--group", "fe", "--group", "all"]),
            python: ordered(&[
                ("cmd", js("x".into())),
                (
                    "extras",
                    ordered(&[("group", js(serde_json::json!(["fe", "all"])))]),
                ),
            ]),
            original_flags_only: false,
        },
        Case {
            name: "heartbeat-default",
            ours: s(&["--cmd", "x", "--heartbeat-status", "/run/beat"]),
            python: ordered(&[
                ("cmd", js("x".into())),
                (
                    "extras",
                    ordered(&[("ncolony.beatcheck", beat_default.into())]),
                ),
            ]),
            original_flags_only: false,
        },
        Case {
            name: "heartbeat-custom",
            ours: s(&[
                "--cmd",
                "x",
                "--heartbeat-grace",
                "2.0",
                "--heartbeat-status",
                "/run/b",
                "--heartbeat-period",
                "0.5",
            ]),
            python: ordered(&[
                ("cmd", js("x".into())),
                (
                    "extras",
                    ordered(&[("ncolony.beatcheck", beat_custom.into())]),
                ),
            ]),
            original_flags_only: false,
        },
        Case {
            name: "http-default",
            ours: s(&["--cmd", "x", "--http-check", "http://127.0.0.1:8080/"]),
            python: ordered(&[
                ("cmd", js("x".into())),
                (
                    "extras",
                    ordered(&[("ncolony.httpcheck", http_default.into())]),
                ),
            ]),
            original_flags_only: false,
        },
        Case {
            name: "http-custom",
            ours: s(&[
                "--cmd",
                "x",
                "--http-check",
                "http://h/x?q=1",
                "--http-period",
                "1e-5",
                "--http-timeout",
                "1",
                "--http-grace",
                "0",
                "--http-max-bad",
                "0",
            ]),
            python: ordered(&[
                ("cmd", js("x".into())),
                (
                    "extras",
                    ordered(&[("ncolony.httpcheck", http_custom.into())]),
                ),
            ]),
            original_flags_only: false,
        },
        Case {
            name: "everything",
            ours: s(&[
                "--cmd",
                "/bin/sh",
                "--arg=-c",
                "--arg",
                "exec sleep 1",
                "--env",
                "K=V",
                "--uid",
                "1",
                "--gid",
                "2",
                "--env-inherit",
                "TERM",
                "--group",
                "g",
                "--heartbeat-status",
                "/run/beat",
                "--http-check",
                "http://127.0.0.1:8080/",
                "--extras",
                &file,
            ]),
            python: ordered(&[
                ("cmd", js("/bin/sh".into())),
                ("args", js(serde_json::json!(["-c", "exec sleep 1"]))),
                ("env", js(serde_json::json!(["K=V"]))),
                ("uid", "1".into()),
                ("gid", "2".into()),
                ("env_inherit", js(serde_json::json!(["TERM"]))),
                (
                    "extras",
                    ordered(&[
                        ("group", js(serde_json::json!(["g"]))),
                        ("ncolony.beatcheck", beat_default.into()),
                        ("ncolony.httpcheck", http_default.into()),
                    ]),
                ),
                ("extras_file", js(file.clone().into())),
            ]),
            original_flags_only: false,
        },
    ]
}

/// Extras with the things a naive writer gets wrong: key order, duplicate
/// keys, floats, big integers, non-ASCII, control characters, and keys that
/// override the flags.
const EXTRAS: &str = r#"{"zeta": {"b": 1, "a": [1.0, 1e-5, 1e16, 0.1, 2.50, 18446744073709551615, -9223372036854775808, -0.0, null, true, false, [], {}]},
  "args": ["/bin/sh", "-c", "exit 0"], "\u00e9t\u00e9": "\u00fc\u0001\ud83d\ude00", "dup": 1, "env": {"Z": "z"}, "dup": 2}"#;

#[test]
#[ignore = "needs the original NColony: NCOLONY_TEST_PYTHON=venv/bin/python"]
fn our_config_files_are_byte_identical_to_the_originals() {
    let py = python("our_config_files_are_byte_identical_to_the_originals");
    let tmp = tempfile::tempdir().expect("temp dir");
    let dirs = mkdirs(
        tmp.path(),
        &["ours", "ours-m", "pylib", "pylib-m", "pycli", "pycli-m"],
    );
    let extras = tmp.path().join("extras.json");
    fs::write(&extras, EXTRAS).expect("write extras");
    let cases = cases(&extras);

    let stdin = format!(
        "[{}]",
        cases
            .iter()
            .map(|c| format!("[{}, {}]", js(c.name.into()), c.python))
            .collect::<Vec<_>>()
            .join(", ")
    );
    py_script(&py, PY_ADD, &[&dirs[2], &dirs[3]], &stdin);
    for case in &cases {
        let mut args = vec!["add", case.name];
        args.extend(case.ours.iter().map(String::as_str));
        our_ctl(&dirs[0], &dirs[1], &args);
        if case.original_flags_only {
            py_ctl(&py, &dirs[4], &dirs[5], &args);
        }
    }
    for case in &cases {
        let ours = fs::read(dirs[0].join(case.name)).expect("our config");
        let python = fs::read(dirs[2].join(case.name)).expect("python's config");
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&python),
            "case {}",
            case.name
        );
        assert_eq!(ours, python, "case {}", case.name);
        if case.original_flags_only {
            let cli = fs::read(dirs[4].join(case.name)).expect("python CLI's config");
            assert_eq!(ours, cli, "case {} (same argv to both CLIs)", case.name);
        }
    }
}

const PY_MESSAGES: &str = r#"
import sys
from ncolony import ctllib
places = ctllib.Places(config=sys.argv[1], messages=sys.argv[2])
ctllib.restart(places, "web")
ctllib.restartAll(places)
"#;

#[test]
#[ignore = "needs the original NColony: NCOLONY_TEST_PYTHON=venv/bin/python"]
fn our_messages_are_byte_identical_to_the_originals() {
    let py = python("our_messages_are_byte_identical_to_the_originals");
    let tmp = tempfile::tempdir().expect("temp dir");
    let dirs = mkdirs(tmp.path(), &["c", "ours", "python"]);
    py_script(&py, PY_MESSAGES, &[&dirs[0], &dirs[2]], "");
    our_ctl(&dirs[0], &dirs[1], &["restart", "web"]);
    our_ctl(&dirs[0], &dirs[1], &["restart-all"]);
    let contents = |dir: &Path| {
        let mut names: Vec<PathBuf> = fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").path())
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| fs::read(p).expect("read"))
            .collect::<Vec<_>>()
    };
    let ours = contents(&dirs[1]);
    assert_eq!(ours, contents(&dirs[2]));
    assert_eq!(ours.len(), 2);
}

// ---- (c) the original accepts our files -----------------------------------

/// Python: feed every config and message our ctl wrote through the original's
/// own parsers (process_events.Receiver with a recording ProcessMonitor, the
/// beatcheck and the httpcheck) and print what they made of them.
const PY_PARSE: &str = r#"
import json, os, sys, types
from twisted.internet import task
from twisted.python import filepath
from ncolony import beatcheck, httpcheck, process_events

class Recorder:
    def __init__(self):
        self.calls = []
    def addProcess(self, name, args, uid=None, gid=None, env={}):
        config = env.pop("NCOLONY_CONFIG")
        with open(os.path.join(sys.argv[1], name), "rb") as fp:
            assert config == fp.read(), name
        self.calls.append(["add", name, args, uid, gid, env])
    def stopProcess(self, name):
        self.calls.append(["stop", name])
    def restartAll(self):
        self.calls.append(["restart-all"])

recorder = Recorder()
receiver = process_events.Receiver(recorder, environ={"HOME": "/home/test"})
config = filepath.FilePath(sys.argv[1])
for child in sorted(config.children(), key=lambda c: c.basename()):
    receiver.add(child.basename(), child.getContent())
messages = filepath.FilePath(sys.argv[2])
for child in sorted(messages.children(), key=lambda c: c.basename()):
    receiver.message(child.getContent())

# Heartbeats: long past every grace, a missing status file means "restart".
bad = beatcheck.check(config, 0, 10**10)

http = {}
settings = types.SimpleNamespace(reactor=task.Clock(), agent=None)
for child in config.children():
    state = httpcheck.State(location=child, settings=settings)
    state._maybeReset()
    if state.url is not None:
        http[child.basename()] = [state.url, state.period, state.timeout, state.card.maxBad]
print(json.dumps({"calls": recorder.calls, "beatcheck_bad": sorted(bad), "http": http}))
"#;

#[test]
#[ignore = "needs the original NColony: NCOLONY_TEST_PYTHON=venv/bin/python"]
fn the_originals_parsers_accept_our_files() {
    let py = python("the_originals_parsers_accept_our_files");
    let c = Colony::new();
    let (config, messages) = (c.config.as_path(), c.messages.as_path());
    let missing_status = c.work.join("no-such-status");
    let status = missing_status.to_str().expect("utf-8 path");
    our_ctl(
        config,
        messages,
        &[
            "add",
            "web",
            "--cmd",
            "/bin/web",
            "--arg=-v",
            "--env",
            "A=1",
            "--env-inherit",
            "HOME",
            "--uid",
            "1000",
            "--gid",
            "1001",
            "--group",
            "fe",
            "--heartbeat-status",
            status,
            "--http-check",
            "http://127.0.0.1:1/health",
            "--http-period",
            "2",
            "--http-timeout",
            "5",
            "--http-max-bad",
            "4",
        ],
    );
    our_ctl(
        config,
        messages,
        &["add", "db", "--cmd", "/bin/db", "--group", "back"],
    );
    our_ctl(config, messages, &["restart", "web"]);
    our_ctl(config, messages, &["restart-group", "fe"]);
    our_ctl(config, messages, &["restart-all"]);
    our_ctl(config, messages, &["restart-group", "back"]);
    let out = py_script(&py, PY_PARSE, &[config, messages], "");
    let got: serde_json::Value = serde_json::from_str(&out).expect("python's JSON");
    assert_eq!(
        got,
        serde_json::json!({
            "calls": [
                ["add", "db", ["/bin/db"], null, null, {"NCOLONY_NAME": "db"}],
                ["add", "web", ["/bin/web", "-v"], 1000, 1001,
                    {"A": "1", "HOME": "/home/test", "NCOLONY_NAME": "web"}],
                ["stop", "web"],
                ["stop", "web"],
                ["restart-all"],
                ["stop", "db"],
            ],
            "beatcheck_bad": ["web"],
            "http": {"web": ["http://127.0.0.1:1/health", 2, 2, 4]},
        })
    );
}

// ---- (c) our ctl drives the original twistd ncolony -----------------------

#[test]
#[ignore = "needs the original NColony: NCOLONY_TEST_PYTHON=venv/bin/python"]
fn our_ctl_drives_twistd_ncolony() {
    let py = python("our_ctl_drives_twistd_ncolony");
    let c = Colony::new();
    let mut cmd = Command::new(&py);
    cmd.args(["-m", "twisted", "ncolony", "--config"])
        .arg(&c.config)
        .arg("--messages")
        .arg(&c.messages)
        .args(["--frequency", "0.2"]);
    let mut m = Monitor::spawn(cmd);
    let (config, messages) = (c.config.as_path(), c.messages.as_path());
    let add = |name: &str, extra: &[&str]| {
        let script = c.pid_recorder(name);
        let arg = format!("--arg={script}");
        let mut args = vec!["add", name, "--cmd", "/bin/sh", "--arg=-c", &arg];
        args.extend_from_slice(extra);
        our_ctl(config, messages, &args);
    };
    add(
        "web",
        &[
            "--group",
            "fe",
            "--env",
            "A=1",
            "--heartbeat-status",
            "/run/beat",
            "--http-check",
            "http://127.0.0.1:1/",
        ],
    );
    add("other", &[]);
    let first = c.wait_pids("web", 1);
    let other = c.wait_pids("other", 1);
    m.cleanup.extend([first, other]);
    assert!(proc_environ(first).contains(&("A".to_owned(), "1".to_owned())));

    our_ctl(config, messages, &["restart", "web"]);
    let second = c.wait_pids("web", 2);
    m.cleanup.push(second);
    assert!(gone(first));

    our_ctl(config, messages, &["restart-group", "fe"]);
    let third = c.wait_pids("web", 3);
    m.cleanup.push(third);
    assert!(gone(second));
    assert_eq!(c.recorded_pids("other"), [other], "outside the group");

    our_ctl(config, messages, &["remove", "web"]);
    assert!(gone(third), "removed process still alive");
    assert!(is_alive(other));
}
