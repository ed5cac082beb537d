//! Per-process log files (`--log-dir`, `--log-max-bytes`, `--log-backups`,
//! the `"log"` key): stamped lines in the right file, rotation, reopening
//! after logrotate and on SIGHUP, the stderr fallback of an unwritable
//! file, and `ctl tail`.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::support::*;

/// The length of a line's stamp, `2026-12-01T23:42:00.123456Z`, before its space.
const STAMP: usize = 27;

/// One stamped line of a log file: its time and its bytes.
fn parse_line(line: &[u8]) -> (DateTime<Utc>, Vec<u8>) {
    let text = String::from_utf8_lossy(line);
    assert!(line.len() > STAMP, "no stamp: {text:?}");
    let ts = std::str::from_utf8(&line[..STAMP]).expect("the stamp is ASCII");
    assert_eq!(line[STAMP], b' ', "no space after the stamp: {text:?}");
    // RFC 3339, UTC (`Z`), microseconds: `...:SS.ffffffZ`.
    assert!(ts.ends_with('Z'), "not UTC: {ts:?}");
    assert_eq!(ts.as_bytes()[19], b'.', "no fraction: {ts:?}");
    assert!(
        ts[20..26].bytes().all(|b| b.is_ascii_digit()),
        "not microseconds: {ts:?}"
    );
    let at = DateTime::parse_from_rfc3339(ts)
        .unwrap_or_else(|e| panic!("not RFC 3339 ({e}): {ts:?}"))
        .with_timezone(&Utc);
    (at, line[STAMP + 1..].to_vec())
}

/// The lines of a log file (none if it does not exist), stamps checked.
fn log_lines(path: &Path) -> Vec<(DateTime<Utc>, Vec<u8>)> {
    let bytes = fs::read(path).unwrap_or_default();
    assert!(
        bytes.is_empty() || bytes.ends_with(b"\n"),
        "{} ends in a partial line",
        path.display()
    );
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(|l| parse_line(&l[..l.len() - 1]))
        .collect()
}

/// The bodies of a log file's lines, as text.
fn bodies(path: &Path) -> Vec<String> {
    log_lines(path)
        .into_iter()
        .map(|(_, body)| String::from_utf8_lossy(&body).into_owned())
        .collect()
}

/// `PATH.N`.
fn backup(path: &Path, n: u32) -> PathBuf {
    PathBuf::from(format!("{}.{n}", path.display()))
}

/// What the status snapshot says of `name`'s log.
fn status_log(c: &Colony, name: &str) -> Option<String> {
    let text = fs::read_to_string(c.messages.join(".ncolony/status.json")).ok()?;
    let status: serde_json::Value = serde_json::from_str(&text).ok()?;
    status["processes"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)?
        .get("log")?
        .as_str()
        .map(str::to_owned)
}

/// The numbers of `tick N` lines.
fn ticks<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<u64> {
    lines
        .into_iter()
        .filter_map(|l| l.trim().strip_prefix("tick ")?.parse().ok())
        .collect()
}

/// A child that writes `tick N` every `ms` milliseconds, forever.
fn ticker(ms: u32) -> String {
    format!(
        "i=0; while true; do echo tick $i; i=$((i+1)); sleep {}; done",
        f64::from(ms) / 1000.0
    )
}

#[test]
fn lines_land_in_their_file_stamped_and_lifecycle_lines_stay_on_stderr() {
    let c = Colony::new();
    let logs = c.tmp.path().join("logs");
    c.add_sh(
        "w",
        "printf 'hello\\nw\\303\\266rld \\377\\n'; exec sleep 1000",
    );
    c.write_config(
        "partial",
        r#"{"args": ["/bin/sh", "-c", "printf 'no newline at the end'"], "restart": "never"}"#,
    );
    c.write_config(
        "loud",
        r#"{"args": ["/bin/sh", "-c", "echo on stderr; exec sleep 1000"], "log": "stderr"}"#,
    );
    let before = Utc::now();
    let m = c.monitor(&["--log-dir", logs.to_str().expect("UTF-8")]);
    let file = logs.join("w.log");
    assert!(
        wait_until(SOON, || log_lines(&file).len() == 2),
        "w.log: {:?}; log:\n{}",
        fs::read(&file),
        m.log()
    );
    let lines = log_lines(&file);
    assert_eq!(lines[0].1, b"hello");
    // The bytes are written as they came, invalid UTF-8 included.
    assert_eq!(lines[1].1, b"w\xc3\xb6rld \xff");
    for (at, _) in &lines {
        assert!(
            *at >= before - chrono::Duration::seconds(1) && *at <= Utc::now(),
            "stamp {at} is not now"
        );
    }
    // The partial last line is written, ended, when its child exits.
    let partial = logs.join("partial.log");
    assert!(
        wait_until(SOON, || bodies(&partial) == ["no newline at the end"]),
        "partial.log: {:?}",
        fs::read(&partial)
    );
    m.wait_log("[loud] on stderr");
    assert!(
        !logs.join("loud.log").exists(),
        "\"log\": \"stderr\" made a file"
    );
    assert!(
        wait_until(SOON, || status_log(&c, "w")
            == Some(file.display().to_string())
            && status_log(&c, "loud").as_deref() == Some("stderr")),
        "status: {:?}",
        fs::read_to_string(c.messages.join(".ncolony/status.json"))
    );
    let log = m.log();
    assert!(log.contains("started name=w"), "{log}");
    assert!(!log.contains("hello"), "w's output reached stderr:\n{log}");
}

#[test]
fn files_rotate_at_their_bound_keeping_the_backups() {
    let c = Colony::new();
    let logs = c.tmp.path().join("logs");
    let script = "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done; exec sleep 1000";
    c.add_sh("w", script);
    c.write_config(
        "own",
        &serde_json::json!({
            "args": ["/bin/sh", "-c", script],
            "log": {"path": "own/out.log", "max_bytes": 500, "backups": 1},
        })
        .to_string(),
    );
    let m = c.monitor(&[
        "--log-dir",
        logs.to_str().expect("UTF-8"),
        "--log-max-bytes",
        "1000",
        "--log-backups",
        "2",
    ]);
    for (file, max, kept) in [
        (logs.join("w.log"), 1000, 2),
        (logs.join("own/out.log"), 500, 1),
    ] {
        assert!(
            wait_until(SOON, || bodies(&file).last().map(String::as_str)
                == Some("line 199")),
            "{}: {:?}; log:\n{}",
            file.display(),
            fs::read_to_string(&file),
            m.log()
        );
        let mut all = Vec::new();
        for n in (1..=kept).rev() {
            let older = backup(&file, n);
            let size = fs::metadata(&older).expect("a backup").len();
            assert!(size <= max, "{} is {size} bytes", older.display());
            // Full: the next line (37 bytes at most) would not have fitted.
            assert!(size + 37 > max, "{} is only {size} bytes", older.display());
            all.extend(bodies(&older));
        }
        assert!(
            !backup(&file, kept + 1).exists(),
            "{} kept",
            backup(&file, kept + 1).display()
        );
        assert!(fs::metadata(&file).expect("the file").len() <= max);
        all.extend(bodies(&file));
        // The newest lines, in order, the oldest dropped.
        let first: u32 = all[0]
            .strip_prefix("line ")
            .and_then(|n| n.parse().ok())
            .expect("a numbered line");
        assert!(first > 0, "nothing was dropped from {}", file.display());
        let want: Vec<String> = (first..200).map(|i| format!("line {i}")).collect();
        assert_eq!(all, want, "{}", file.display());
    }
}

#[test]
fn a_file_moved_away_is_reopened_at_the_next_line() {
    let c = Colony::new();
    let logs = c.tmp.path().join("logs");
    c.add_sh("w", &ticker(50));
    let m = c.monitor(&["--log-dir", logs.to_str().expect("UTF-8")]);
    let file = logs.join("w.log");
    assert!(
        wait_until(SOON, || !bodies(&file).is_empty()),
        "log:\n{}",
        m.log()
    );
    // What logrotate does without copytruncate: rename, then (here, no
    // SIGHUP) the monitor notices by itself.
    let moved = logs.join("w.log.moved");
    fs::rename(&file, &moved).expect("rename");
    assert!(
        wait_until(SOON, || ticks(bodies(&file).iter().map(String::as_str))
            .len()
            >= 2),
        "w.log never came back; log:\n{}",
        m.log()
    );
    let old = ticks(bodies(&moved).iter().map(String::as_str));
    let new = ticks(bodies(&file).iter().map(String::as_str));
    // Nothing lost or doubled across the move.
    let all: Vec<u64> = old.iter().chain(&new).copied().collect();
    let want: Vec<u64> = (0..all.len() as u64).collect();
    assert_eq!(all, want);
}

#[test]
fn sighup_reopens_every_log_file() {
    let c = Colony::new();
    let logs = c.tmp.path().join("logs");
    // One line, then silence: only the SIGHUP can bring a new file.
    c.add_sh("w", "echo once; exec sleep 1000");
    let m = c.monitor(&["--log-dir", logs.to_str().expect("UTF-8")]);
    let file = logs.join("w.log");
    assert!(
        wait_until(SOON, || bodies(&file) == ["once"]),
        "log:\n{}",
        m.log()
    );
    let rotated = logs.join("w.log.old");
    fs::rename(&file, &rotated).expect("rename");
    m.signal(1);
    assert!(
        wait_until(SOON, || file.exists()),
        "SIGHUP did not reopen w.log; log:\n{}",
        m.log()
    );
    assert_eq!(bodies(&file), Vec::<String>::new());
    assert_eq!(bodies(&rotated), ["once"]);
    // SIGHUP still rescans, as before.
    m.wait_log("SIGHUP: rescanning");
}

#[test]
fn an_unwritable_log_goes_to_stderr_until_it_can_be_written() {
    let c = Colony::new();
    let blocker = c.tmp.path().join("blocker");
    fs::write(&blocker, "a regular file where a directory should be").expect("write");
    let file = blocker.join("w.log");
    c.write_config(
        "w",
        &serde_json::json!({
            "args": ["/bin/sh", "-c", ticker(50)],
            "log": {"path": file.to_str().expect("UTF-8")},
        })
        .to_string(),
    );
    let m = c.monitor(&[]);
    let on_stderr = || {
        let log = m.log();
        ticks(log.lines().filter_map(|l| l.strip_prefix("[w] ")))
    };
    // Long enough for a retry or two (once a second at most).
    assert!(
        wait_until(SOON, || on_stderr().len() >= 30),
        "no fallback to stderr; log:\n{}",
        m.log()
    );
    let error = format!("log file {}: ", file.display());
    let log = m.log();
    assert_eq!(log.matches(&error).count(), 1, "logged once:\n{log}");
    assert!(log.contains("Not a directory"), "{log}");
    // Supervision goes on: a new process starts.
    c.add_sh("other", "exec sleep 1000");
    m.wait_log("started name=other");
    fs::remove_file(&blocker).expect("rm");
    fs::create_dir(&blocker).expect("mkdir");
    m.wait_log(&format!("log file {}: writing to it again", file.display()));
    assert!(
        wait_until(SOON, || ticks(bodies(&file).iter().map(String::as_str))
            .len()
            >= 3),
        "w.log: {:?}",
        fs::read_to_string(&file)
    );
    // Every line went somewhere: stderr until the file could be written,
    // then the file.
    let in_file = ticks(bodies(&file).iter().map(String::as_str));
    let mut all = on_stderr();
    all.retain(|t| !in_file.contains(t));
    all.extend(&in_file);
    let want: Vec<u64> = (0..all.len() as u64).collect();
    assert_eq!(all, want, "lines were lost");
}

/// A small tmpfs mounted on a fresh directory, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: PathBuf, size: &str) -> Tmpfs {
        require_root("mounting a small tmpfs to fill");
        fs::create_dir_all(&at).expect("mkdir");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .output()
            .expect("running mount");
        assert!(out.status.success(), "mount: {out:?}");
        Tmpfs(at)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .output();
    }
}

#[test]
fn a_full_disk_is_logged_once_and_its_recovery_when_space_comes_back() {
    let c = Colony::new();
    let disk = Tmpfs::mount(c.tmp.path().join("small"), "64k");
    let file = disk.0.join("w.log");
    // 100 KiB at once fills the disk, then a tick a line.
    let script = format!("seq 1 20000; {}", ticker(50));
    c.write_config(
        "w",
        &serde_json::json!({
            "args": ["/bin/sh", "-c", script],
            "log": {"path": file.to_str().expect("UTF-8")},
        })
        .to_string(),
    );
    let m = c.monitor(&[]);
    let error = format!("log file {}: No space left on device", file.display());
    m.wait_log(&error);
    // Retried every second: the file opens, its write fails; one line says so.
    assert!(
        stays(Duration::from_millis(2500), || m
            .log()
            .matches(&error)
            .count()
            == 1),
        "logged more than once:\n{}",
        m.log()
    );
    assert!(!m.log().contains("writing to it again"), "{}", m.log());
    fs::remove_file(&file).expect("rm");
    m.wait_log(&format!("log file {}: writing to it again", file.display()));
    assert!(
        wait_until(SOON, || !ticks(bodies(&file).iter().map(String::as_str))
            .is_empty()),
        "w.log: {:?}",
        fs::read_to_string(&file)
    );
}

#[test]
fn a_log_dir_that_is_a_file_is_refused_at_start() {
    let c = Colony::new();
    let not_dir = c.tmp.path().join("file");
    fs::write(&not_dir, "").expect("write");
    let mut m = c.monitor(&["--log-dir", not_dir.to_str().expect("UTF-8")]);
    assert_eq!(m.wait_exit(SOON), Some(Some(1)), "{}", m.log());
    assert!(
        m.log()
            .contains(&format!("--log-dir {}: not a directory", not_dir.display())),
        "{}",
        m.log()
    );
    let out = run(&[
        "monitor",
        "--config",
        "x",
        "--messages",
        "y",
        "--log-max-bytes",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--log-max-bytes"), "{err}");
}

#[test]
fn a_missing_log_dir_is_created_at_start_and_again_when_removed() {
    let c = Colony::new();
    let logs = c.tmp.path().join("a/b/logs");
    let m = c.monitor(&["--log-dir", logs.to_str().expect("UTF-8")]);
    // Made before the first snapshot, with no process yet.
    assert!(
        wait_until(SOON, || c.messages.join(".ncolony/status.json").exists()),
        "log:\n{}",
        m.log()
    );
    assert!(logs.is_dir(), "--log-dir not created; log:\n{}", m.log());
    fs::remove_dir(&logs).expect("rmdir");
    c.add_sh("w", "echo here; exec sleep 1000");
    assert!(
        wait_until(SOON, || bodies(&logs.join("w.log")) == ["here"]),
        "log:\n{}",
        m.log()
    );
}

#[test]
fn bad_log_sections_are_refused_naming_the_key() {
    let c = Colony::new();
    c.write_config(
        "w",
        r#"{"args": ["/bin/sleep", "1000"], "log": {"max_bytes": 0}}"#,
    );
    c.write_config(
        "v",
        r#"{"args": ["/bin/sleep", "1000"], "log": {"backups": -1}}"#,
    );
    let m = c.monitor(&[]);
    m.wait_log("config w: \"log.max_bytes\" must be at least 1; not running it");
    m.wait_log("config v: \"log.backups\" must not be negative, found -1; not running it");
}

/// `ctl tail ARGS` on the colony, with stdout piped, left running.
fn spawn_tail(c: &Colony, args: &[&str]) -> Child {
    let mut cmd = c.ctl_command(&["tail"]);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::null());
    cmd.spawn().expect("spawn ctl tail")
}

/// Collects a child's stdout as it comes.
fn collect(child: &mut Child) -> Arc<Mutex<Vec<u8>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let mut out = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        let mut buf = [0; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().expect("lock").extend_from_slice(&buf[..n]);
        }
    });
    got
}

#[test]
fn ctl_tail_prints_the_last_lines_and_follows_across_rotations() {
    let c = Colony::new();
    let logs = c.tmp.path().join("logs");
    c.add_sh(
        "w",
        "i=0; while [ $i -lt 30 ]; do echo line $i; i=$((i+1)); done; exec sleep 1000",
    );
    c.add_sh("t", &ticker(50));
    c.write_config(
        "loud",
        r#"{"args": ["/bin/sleep", "1000"], "log": "stderr"}"#,
    );
    let mut m = c.monitor(&[
        "--log-dir",
        logs.to_str().expect("UTF-8"),
        "--log-max-bytes",
        "400",
        "--log-backups",
        "1",
    ]);
    let file = logs.join("w.log");
    assert!(
        wait_until(SOON, || bodies(&file).last().map(String::as_str)
            == Some("line 29")),
        "log:\n{}",
        m.log()
    );
    assert!(wait_until(SOON, || status_log(&c, "loud").is_some()));
    let out = c.ctl(&["tail", "w", "-n", "3"]);
    assert!(out.status.success(), "{out:?}");
    let shown: Vec<String> = out
        .stdout
        .split_inclusive(|&b| b == b'\n')
        .map(|l| String::from_utf8_lossy(&parse_line(&l[..l.len() - 1]).1).into_owned())
        .collect();
    assert_eq!(shown, ["line 27", "line 28", "line 29"]);
    // The default is 10 lines (or what the file has since its rotation).
    let out = c.ctl(&["tail", "w"]);
    let n = out.stdout.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(n, bodies(&file).len().min(10), "{out:?}");

    // -f across rotations: t rotates every 400 bytes (about 11 lines, 0.5 s;
    // tail looks every 0.2 s).
    let mut follow = spawn_tail(&c, &["t", "-f", "-n", "1"]);
    let got = collect(&mut follow);
    let seen = || {
        let bytes = got.lock().expect("lock").clone();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        ticks(text.lines().map(|l| l.get(STAMP + 1..).unwrap_or("")))
    };
    let followed = wait_until(SOON, || seen().len() >= 30);
    // Ours: stop it whatever happened.
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(followed, "tail -f saw {:?}", seen());
    let seen = seen();
    let want: Vec<u64> = (seen[0]..seen[0] + seen.len() as u64).collect();
    assert_eq!(seen, want, "lines lost or doubled across rotations");

    // A process on stderr: one line saying so, exit 1.
    let out = c.ctl(&["tail", "loud"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"loud\" has no log file: its output goes to the monitor's stderr"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = c.ctl(&["tail", "nobody"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no process named \"nobody\""),
        "{out:?}"
    );

    // With no monitor running, the last snapshot still says where.
    m.signal(15);
    assert_eq!(m.wait_exit(SOON), Some(Some(0)), "{}", m.log());
    let out = c.ctl(&["tail", "w", "-n", "1"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).ends_with(" line 29\n"),
        "{out:?}"
    );
}

#[test]
fn ctl_tail_without_a_snapshot_says_so() {
    let c = Colony::new();
    c.add_sh("w", "exec sleep 1000");
    let out = c.ctl(&["tail", "w"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no status snapshot at") && err.contains("no monitor has run"),
        "{err}"
    );
}
