//! Shared helpers for the integration tests: temp colonies, a monitor that
//! is killed when dropped, bounded waits, and process inspection.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The binary under test.
pub fn ncolony() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ncolony"))
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `cond` holds at every poll (every 10 ms) for the whole of
/// `timeout`; false as soon as it does not. This is how a test shows that
/// something does NOT happen: such a wait always lasts its whole bound, so
/// each caller says why it needs one, and first waits for a positive sign
/// that the thing it rules out would have happened by then.
pub fn stays(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    !wait_until(timeout, || !cond())
}

/// Like [`wait_until`] but returns the first `Some` value.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let mut out = None;
    wait_until(timeout, || {
        out = f();
        out.is_some()
    });
    out
}

/// The default bounded wait for something that should happen "at once".
pub const SOON: Duration = Duration::from_secs(10);

/// A colony's directories in a fresh temp dir: `config/`, `messages/`,
/// `pids/`, and `work/` for the children's marker files.
pub struct Colony {
    pub tmp: tempfile::TempDir,
    pub config: PathBuf,
    pub messages: PathBuf,
    pub pids: PathBuf,
    pub work: PathBuf,
}

impl Colony {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let config = tmp.path().join("config");
        let messages = tmp.path().join("messages");
        let pids = tmp.path().join("pids");
        let work = tmp.path().join("work");
        for d in [&config, &messages, &work] {
            fs::create_dir(d).expect("mkdir");
        }
        Colony {
            tmp,
            config,
            messages,
            pids,
            work,
        }
    }

    /// Writes a config file atomically (NAME.new, then rename).
    pub fn write_config(&self, name: &str, json: &str) {
        write_atomic(&self.config.join(name), json);
    }

    /// Writes a config for a `/bin/sh -c SCRIPT` process.
    pub fn add_sh(&self, name: &str, script: &str) {
        let json = serde_json::json!({"args": ["/bin/sh", "-c", script]}).to_string();
        self.write_config(name, &json);
    }

    /// A shell script that records its pid in `work/NAME.pids` and execs
    /// into a long sleep, so the recorded pid is the process itself.
    pub fn pid_recorder(&self, name: &str) -> String {
        format!(
            "echo $$ >> {}; exec sleep 1000",
            self.work.join(format!("{name}.pids")).display()
        )
    }

    /// The pids `pid_recorder(name)` has recorded, oldest first.
    pub fn recorded_pids(&self, name: &str) -> Vec<i32> {
        fs::read_to_string(self.work.join(format!("{name}.pids")))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Waits until `name` has recorded at least `n` pids; returns the last.
    pub fn wait_pids(&self, name: &str, n: usize) -> i32 {
        wait_for(SOON, || {
            let pids = self.recorded_pids(name);
            (pids.len() >= n).then(|| pids[n - 1])
        })
        .unwrap_or_else(|| {
            panic!(
                "{name} did not record {n} pid(s): {:?}",
                self.recorded_pids(name)
            )
        })
    }

    /// The entries of the messages directory, but for dot names (the
    /// monitor's state directory, `.ncolony`, is there by default).
    pub fn pending_messages(&self) -> Vec<String> {
        fs::read_dir(&self.messages)
            .expect("ls messages")
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect()
    }

    /// `ncolony ctl --config C --messages M ARGS...`, ready to run; the
    /// directories never come from the test's own environment.
    pub fn ctl_command(&self, args: &[&str]) -> Command {
        let mut cmd = ncolony();
        cmd.arg("ctl")
            .arg("--config")
            .arg(&self.config)
            .arg("--messages")
            .arg(&self.messages)
            .args(args)
            .env_remove("NCOLONY_CONFIG_DIR")
            .env_remove("NCOLONY_MESSAGES_DIR");
        cmd
    }

    /// Runs `ncolony ctl` on this colony (see [`Colony::ctl_command`]).
    pub fn ctl(&self, args: &[&str]) -> Output {
        self.ctl_command(args).output().expect("run ncolony ctl")
    }

    /// Starts `ncolony monitor` on this colony as uid/gid 65534 (through
    /// `setpriv`), with every directory of the colony opened to it. Needs
    /// root and setpriv; a test without them fails.
    pub fn unprivileged_monitor(&self, extra: &[&str]) -> Monitor {
        require_root("setpriv to run the monitor unprivileged");
        let setpriv = require_tool("/usr/bin/setpriv");
        for d in [self.tmp.path(), &self.config, &self.messages, &self.work] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o777)).expect("chmod");
        }
        let mut cmd = Command::new(setpriv);
        cmd.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_ncolony"))
            .arg("monitor")
            .args(extra)
            .arg("--config")
            .arg(&self.config)
            .arg("--messages")
            .arg(&self.messages);
        Monitor::spawn(cmd)
    }

    /// Drops a message file in the messages directory.
    pub fn send(&self, file: &str, json: &str) {
        write_atomic(&self.messages.join(file), json);
    }

    /// Starts `ncolony monitor` on this colony with `extra` arguments.
    pub fn monitor(&self, extra: &[&str]) -> Monitor {
        Monitor::spawn(self.monitor_command(extra))
    }

    /// `ncolony monitor --config C --messages M EXTRA...`, for a test that
    /// sets more (the environment) or runs it its own way.
    pub fn monitor_command(&self, extra: &[&str]) -> Command {
        let mut cmd = ncolony();
        cmd.arg("monitor")
            .arg("--config")
            .arg(&self.config)
            .arg("--messages")
            .arg(&self.messages)
            .args(extra);
        cmd
    }
}

/// Writes `path` through `path.new` and a rename.
pub fn write_atomic(path: &Path, text: &str) {
    let tmp = PathBuf::from(format!("{}.new", path.display()));
    fs::write(&tmp, text).expect("write .new");
    fs::rename(&tmp, path).expect("rename");
}

/// A running `ncolony` whose stderr is collected; killed (SIGKILL) on drop
/// if still running, along with the pids it was asked to clean up.
pub struct Monitor {
    pub child: Child,
    log: Arc<Mutex<String>>,
    reader: Option<thread::JoinHandle<()>>,
    /// Pids to SIGKILL on drop (children we know the monitor started).
    pub cleanup: Vec<i32>,
}

impl Monitor {
    /// Spawns `cmd` with stderr captured.
    pub fn spawn(mut cmd: Command) -> Self {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn ncolony");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        let reader = thread::spawn(move || {
            use std::io::{BufRead, BufReader};
            for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
                let mut s = String::from_utf8_lossy(&line).into_owned();
                s.push('\n');
                sink.lock().expect("log lock").push_str(&s);
            }
        });
        Monitor {
            child,
            log,
            reader: Some(reader),
            cleanup: Vec::new(),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Everything the process wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    /// Waits until the log contains `needle`.
    pub fn wait_log(&self, needle: &str) {
        assert!(
            wait_until(SOON, || self.log().contains(needle)),
            "log never contained {needle:?}; log:\n{}",
            self.log()
        );
    }

    /// Makes the monitor rescan `n` more times (SIGHUP), and returns once the
    /// first `n` of them are over: the loop is single-threaded, so a rescan
    /// has finished when the next SIGHUP is logged.
    pub fn rescans(&self, n: usize) {
        let count = || self.log().matches("SIGHUP: rescanning").count();
        let before = count();
        for i in 1..=n + 1 {
            self.signal(1);
            assert!(
                wait_until(SOON, || count() >= before + i),
                "SIGHUP {i} not handled; log:\n{}",
                self.log()
            );
        }
    }

    /// Sends a signal to the monitor.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on a pid we spawned and have not reaped.
        unsafe { libc_kill(self.pid(), sig) };
    }

    /// Waits for the monitor to exit; returns its exit code (None = signal).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<Option<i32>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                return Some(status.code());
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Let it stop its children first; kill it if it takes too long.
            self.signal(15);
            if self.wait_exit(Duration::from_secs(3)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        for pid in &self.cleanup {
            // SAFETY: best-effort cleanup of a pid this test started.
            unsafe { libc_kill(*pid, 9) };
        }
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Whether `pid` exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => process_state(&stat) != Some('Z'),
        Err(_) => false,
    }
}

/// Whether `pid` is a zombie (exited, not reaped).
pub fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| process_state(&s))
        == Some('Z')
}

fn process_state(stat: &str) -> Option<char> {
    let after = stat.rfind(')')?;
    stat[after + 1..].trim_start().chars().next()
}

/// A field of `/proc/PID/status`, e.g. `Uid` or `Groups`.
pub fn proc_status_field(pid: i32, field: &str) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix(&format!("{field}:"))
            .map(|v| v.trim().to_owned())
    })
}

/// The environment of `pid`, from `/proc/PID/environ`.
///
/// A process in the middle of exec(2) shows an empty environ for a moment, and
/// every child of the monitor has at least `NCOLONY_NAME`, so this waits
/// (bounded) for a non-empty one.
pub fn proc_environ(pid: i32) -> Vec<(String, String)> {
    let raw = wait_for(SOON, || {
        fs::read(format!("/proc/{pid}/environ"))
            .ok()
            .filter(|b| !b.is_empty())
    });
    raw.unwrap_or_default()
        .split(|&b| b == 0)
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let s = String::from_utf8_lossy(kv);
            match s.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (s.into_owned(), String::new()),
            }
        })
        .collect()
}

/// How long `pid` has existed, from its start time in `/proc/PID/stat` (in
/// clock ticks since boot) and `/proc/uptime`; `None` once it is gone.
pub fn proc_age(pid: i32) -> Option<Duration> {
    // USER_HZ: the kernel reports start times in 1/100 s on every Linux ABI.
    const TICKS_PER_SEC: f64 = 100.0;
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rfind(')')?;
    // Field 22 (starttime) is the 20th after the command name.
    let start: f64 = stat[after + 1..].split_whitespace().nth(19)?.parse().ok()?;
    let uptime: f64 = fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(Duration::from_secs_f64(
        (uptime - start / TICKS_PER_SEC).max(0.0),
    ))
}

/// Runs `ncolony ARGS...` to completion.
pub fn run(args: &[&str]) -> Output {
    ncolony().args(args).output().expect("run ncolony")
}

/// Sends `sig` to `pid` (best effort).
pub fn kill(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc_kill(pid, sig) };
}

/// Fails a test that needs root when it runs without it: the suite runs as
/// root (as CI does), and a skipped check must never report `ok`.
#[track_caller]
pub fn require_root(why: &str) {
    let uid = proc_status_field(std::process::id() as i32, "Uid");
    assert!(
        uid.is_some_and(|u| u.split_whitespace().next() == Some("0")),
        "this test needs root ({why}); run the suite as root, as CI does"
    );
}

/// The path of a system tool a test needs; a test that needs a missing one
/// fails (`.ci/run` installs them), it never passes unchecked.
#[track_caller]
pub fn require_tool(path: &str) -> &str {
    assert!(
        Path::new(path).exists(),
        "this test needs {path} (util-linux; .ci/run installs it)"
    );
    path
}
