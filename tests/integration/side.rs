//! Integration tests for the side programs: `ncolony heart`, `beatcheck`,
//! `httpcheck` and `scheduler`, standalone and under `ncolony monitor`.
//! Real processes, temp dirs, short periods, bounded waits.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_ncolony");

/// The messages waiting in `dir` (completed writes only), in name order.
fn messages(dir: &Path) -> Vec<Value> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.ends_with(".new") && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .filter_map(|n| fs::read(dir.join(n)).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect()
}

fn restart(name: &str) -> Value {
    json!({"type": "RESTART", "name": name})
}

/// Waits for a RESTART message for `name` in `dir`.
fn wait_restart(dir: &Path, name: &str, checker: &Monitor) {
    assert!(
        wait_until(SOON, || messages(dir).contains(&restart(name))),
        "no RESTART for {name}: {:?}; log:\n{}",
        messages(dir),
        checker.log()
    );
}

fn clear(dir: &Path) {
    for e in fs::read_dir(dir).expect("list").flatten() {
        let _ = fs::remove_file(e.path());
    }
}

/// Starts `ncolony PROGRAM --config C --messages M --freq FREQ` on a colony.
fn checker(c: &Colony, program: &str, freq: &str) -> Monitor {
    let mut cmd = ncolony();
    cmd.arg(program)
        .arg("--config")
        .arg(&c.config)
        .arg("--messages")
        .arg(&c.messages)
        .args(["--freq", freq]);
    Monitor::spawn(cmd)
}

/// `ncolony heart beat` as the monitor would run it for `name` with `config`.
fn heart_beat(name: &str, config: &str) -> std::process::Output {
    ncolony()
        .args(["heart", "beat"])
        .env("NCOLONY_CONFIG", config)
        .env("NCOLONY_NAME", name)
        .output()
        .expect("run ncolony heart beat")
}

/// A tiny HTTP server on 127.0.0.1 answering every request with the status
/// in `status` (0: accept, then never answer), except `/ok`, always 200, and
/// pointing redirects there. Returns its port.
fn http_server(status: Arc<AtomicU16>) -> u16 {
    http_server_counting(status, Arc::default())
}

/// [`http_server`], counting the requests it reads in `hits`.
fn http_server_counting(status: Arc<AtomicU16>, hits: Arc<AtomicUsize>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (status, hits) = (status.clone(), hits.clone());
            thread::spawn(move || answer(stream, status.load(Ordering::SeqCst), &hits));
        }
    });
    port
}

fn answer(mut stream: TcpStream, status: u16, hits: &AtomicUsize) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    hits.fetch_add(1, Ordering::SeqCst);
    // `/ok` always answers 200: where redirects point.
    let status = if buf.starts_with(b"GET /ok ") {
        200
    } else {
        status
    };
    if status == 0 {
        // A server that hangs (not a wait of the test's): hold the
        // connection open, unanswered, past any timeout the tests use.
        thread::sleep(Duration::from_secs(30));
        return;
    }
    let body = "ok\n";
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nLocation: /ok\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn beat_config(status: &Path, period: f64, grace: f64) -> String {
    json!({
        "args": ["/bin/sleep", "1000"],
        "ncolony.beatcheck": {"status": status, "period": period, "grace": grace}
    })
    .to_string()
}

fn http_config(url: &str, period: f64, timeout: f64, grace: f64, max_bad: u32) -> String {
    json!({
        "args": ["/bin/sleep", "1000"],
        "ncolony.httpcheck": {"url": url, "period": period, "timeout": timeout,
                              "grace": grace, "maxBad": max_bad}
    })
    .to_string()
}

// ---------------------------------------------------------------- heart

#[test]
fn heart_beat_touches_the_status_file_and_refuses_without_a_heart() {
    let c = Colony::new();
    let status = c.work.join("hb");
    let config = beat_config(&status, 3.0, 1.0);
    let out = heart_beat("w", &config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = fs::metadata(&status)
        .expect("created")
        .modified()
        .expect("mtime");
    // The file system's clock must move past `first`, or a beat that does
    // touch the file could leave the same mtime.
    let probe = c.work.join("clock");
    assert!(
        wait_until(SOON, || {
            fs::write(&probe, "").is_ok()
                && fs::metadata(&probe)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t > first)
        }),
        "the file system clock did not move"
    );
    assert!(heart_beat("w", &config).status.success());
    let second = fs::metadata(&status)
        .expect("exists")
        .modified()
        .expect("mtime");
    assert!(second > first, "mtime not updated");

    // A directory status path means DIR/NAME.
    let config = beat_config(&c.work, 3.0, 1.0);
    assert!(heart_beat("dirbeat", &config).status.success());
    assert!(c.work.join("dirbeat").is_file());

    // No heart: a clear one-line error, exit 1.
    let out = heart_beat("w", r#"{"args": ["x"]}"#);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no \"ncolony.beatcheck\" section"), "{err}");
    let out = ncolony()
        .args(["heart", "beat"])
        .env_remove("NCOLONY_CONFIG")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NCOLONY_CONFIG is not set"));
}

// ------------------------------------------------------------ beatcheck

#[test]
fn beatcheck_restarts_a_process_whose_heart_stops_then_waits_a_grace() {
    let c = Colony::new();
    let status = c.work.join("worker.status");
    // Grace: 2 periods of 0.5 s after the checker starts.
    let config = beat_config(&status, 0.5, 2.0);
    c.write_config("worker", &config);
    let checker = checker(&c, "beatcheck", "0.1");
    // Beating (every 100 ms): no restart, well past the grace. A negative,
    // so a wait that lasts its whole bound (four times the grace).
    let mut beat = Instant::now() - Duration::from_secs(1);
    assert!(
        stays(Duration::from_millis(2000), || {
            if beat.elapsed() >= Duration::from_millis(100) {
                assert!(heart_beat("worker", &config).status.success());
                beat = Instant::now();
            }
            messages(&c.messages).is_empty()
        }),
        "{:?}",
        messages(&c.messages)
    );
    // Stops beating: restarted, once.
    wait_restart(&c.messages, "worker", &checker);
    let sent = Instant::now();
    assert_eq!(messages(&c.messages), [restart("worker")]);
    clear(&c.messages);
    // Not again within the new grace (1 s), but again after it. A negative,
    // so a wait that lasts its whole bound.
    assert!(
        stays(Duration::from_millis(600), || messages(&c.messages)
            .is_empty()
            || sent.elapsed() >= Duration::from_millis(1000)),
        "restarted again within the grace"
    );
    wait_restart(&c.messages, "worker", &checker);
    checker.wait_log("heart stopped beating");
}

#[test]
fn beatcheck_reacts_to_added_and_removed_configs_and_directory_status() {
    let c = Colony::new();
    // Seen by the first scan: once it is logged, the checker has scanned.
    c.write_config("early", &beat_config(&c.work.join("early"), 1000.0, 1.0));
    let checker = checker(&c, "beatcheck", "0.1");
    checker.wait_log("name=early");
    // Added after the start; status in a directory (work/late), never beats.
    c.write_config("late", &beat_config(&c.work, 0.3, 1.0));
    c.write_config("quiet", r#"{"args": ["/bin/sleep", "1000"]}"#);
    wait_restart(&c.messages, "late", &checker);
    // Beating through the directory: DIR/NAME.
    c.write_config("viadir", &beat_config(&c.work, 0.5, 1.0));
    // Touched every 100 ms for three periods: never restarted. A negative,
    // so a wait that lasts its whole bound.
    let mut touched = Instant::now() - Duration::from_secs(1);
    assert!(
        stays(Duration::from_millis(1500), || {
            if touched.elapsed() >= Duration::from_millis(100) {
                fs::File::create(c.work.join("viadir")).expect("touch");
                touched = Instant::now();
            }
            !messages(&c.messages).contains(&restart("viadir"))
        }),
        "{:?}",
        messages(&c.messages)
    );
    // Removed: no longer checked. Its last RESTART was sent before the scan
    // that logs the removal.
    fs::remove_file(c.config.join("late")).expect("rm");
    checker.wait_log("config removed; no longer checking name=late");
    clear(&c.messages);
    // A negative, so a wait that lasts its whole bound (over two periods
    // plus the grace of `late`).
    assert!(
        stays(Duration::from_millis(800), || {
            let sent = messages(&c.messages);
            !sent.contains(&restart("late")) && !sent.contains(&restart("quiet"))
        }),
        "{:?}",
        messages(&c.messages)
    );
}

#[test]
fn beatcheck_logs_bad_configs_once_and_keeps_checking_the_rest() {
    let c = Colony::new();
    c.write_config(
        "nokey",
        r#"{"args": ["x"], "ncolony.beatcheck": {"status": "/tmp/x", "grace": 1}}"#,
    );
    c.write_config(
        "badtype",
        r#"{"args": ["x"], "ncolony.beatcheck": {"status": "/tmp/x", "period": "1", "grace": 1}}"#,
    );
    c.write_config("junk", "{not json");
    c.write_config("dead", &beat_config(&c.work.join("dead.status"), 0.3, 1.0));
    let mut checker = checker(&c, "beatcheck", "0.05");
    wait_restart(&c.messages, "dead", &checker);
    // Two more restarts of `dead` (each after a new grace): many more scans
    // that must not log the bad files again.
    assert!(
        wait_until(SOON, || messages(&c.messages)
            .iter()
            .filter(|m| **m == restart("dead"))
            .count()
            >= 3),
        "{}",
        checker.log()
    );
    let log = checker.log();
    let nokey = format!(
        "{}: \"ncolony.beatcheck\".\"period\" is missing",
        c.config.join("nokey").display()
    );
    let badtype = format!(
        "{}: \"ncolony.beatcheck\".\"period\" must be a positive number, found a string",
        c.config.join("badtype").display()
    );
    let junk = format!("{}: invalid JSON", c.config.join("junk").display());
    for needle in [&nokey, &badtype, &junk] {
        assert_eq!(
            log.matches(needle.as_str()).count(),
            1,
            "{needle:?} in:\n{log}"
        );
    }
    let sent = messages(&c.messages);
    assert!(!sent.contains(&restart("nokey")) && !sent.contains(&restart("junk")));
    // A missing messages directory is logged and retried, not fatal.
    fs::remove_dir_all(&c.messages).expect("rm messages");
    checker.wait_log("cannot send RESTART for \"dead\"");
    fs::create_dir(&c.messages).expect("mkdir messages");
    wait_restart(&c.messages, "dead", &checker);
    assert_eq!(
        checker.child.try_wait().ok().flatten(),
        None,
        "checker exited"
    );
    assert_eq!(checker.wait_exit(Duration::ZERO), None);
}

#[test]
fn checkers_refuse_a_non_positive_freq() {
    let c = Colony::new();
    for program in ["beatcheck", "httpcheck"] {
        for freq in ["0", "-1", "x"] {
            let out = ncolony()
                .arg(program)
                .arg("--config")
                .arg(&c.config)
                .arg("--messages")
                .arg(&c.messages)
                .args(["--freq", freq])
                .output()
                .expect("run");
            assert_eq!(out.status.code(), Some(2), "{program} --freq {freq}");
        }
    }
}

// ------------------------------------------------------------ httpcheck

#[test]
fn httpcheck_restarts_after_more_than_max_bad_failures() {
    let c = Colony::new();
    let status = Arc::new(AtomicU16::new(200));
    let hits = Arc::new(AtomicUsize::new(0));
    let port = http_server_counting(status.clone(), hits.clone());
    let url = format!("http://127.0.0.1:{port}/health");
    c.write_config("web", &http_config(&url, 0.2, 1.0, 1.0, 2));
    let checker = checker(&c, "httpcheck", "0.1");
    // Healthy: five probes answered (at least four seen), more than maxBad,
    // and no restart.
    assert!(
        wait_until(SOON, || hits.load(Ordering::SeqCst) >= 5),
        "{}",
        checker.log()
    );
    assert!(
        messages(&c.messages).is_empty(),
        "{:?}",
        messages(&c.messages)
    );
    status.store(500, Ordering::SeqCst);
    wait_restart(&c.messages, "web", &checker);
    checker.wait_log("check failed (1 in a row, maxBad 2)");
    checker.wait_log("check failed (2 in a row, maxBad 2)");
    checker.wait_log("check failed (3 in a row, more than maxBad 2)");
    assert_eq!(messages(&c.messages), [restart("web")]);
}

#[test]
fn httpcheck_counts_a_redirect_as_a_failure() {
    let c = Colony::new();
    // The checked URL itself must answer 2xx: a redirect to a healthy page
    // (`/ok`) is not followed.
    let port = http_server(Arc::new(AtomicU16::new(302)));
    let url = format!("http://127.0.0.1:{port}/health");
    c.write_config("moved", &http_config(&url, 0.2, 1.0, 0.0, 0));
    let checker = checker(&c, "httpcheck", "0.1");
    wait_restart(&c.messages, "moved", &checker);
    checker.wait_log("answered 302");
}

#[test]
fn httpcheck_probes_concurrently_and_counts_refused_connections() {
    let c = Colony::new();
    // A server that never answers, with a long timeout...
    let hang = http_server(Arc::new(AtomicU16::new(0)));
    c.write_config(
        "slow",
        &http_config(&format!("http://127.0.0.1:{hang}/"), 20.0, 20.0, 0.0, 5),
    );
    // ...must not delay a refused connection elsewhere.
    let refused = closed_port();
    c.write_config(
        "down",
        &http_config(&format!("http://127.0.0.1:{refused}/"), 0.2, 1.0, 0.0, 0),
    );
    let start = Instant::now();
    let checker = checker(&c, "httpcheck", "0.1");
    wait_restart(&c.messages, "down", &checker);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(!messages(&c.messages).contains(&restart("slow")));
}

#[test]
fn httpcheck_logs_bad_sections_once_and_follows_config_changes() {
    let c = Colony::new();
    c.write_config(
        "nourl",
        r#"{"args": ["x"], "ncolony.httpcheck": {"period": 1, "timeout": 1, "grace": 0, "maxBad": 0}}"#,
    );
    let status = Arc::new(AtomicU16::new(503));
    let port = http_server(status);
    let url = format!("http://127.0.0.1:{port}/");
    // Good for now: a long grace.
    c.write_config("later", &http_config(&url, 0.2, 1.0, 1000.0, 0));
    let checker = checker(&c, "httpcheck", "0.1");
    checker.wait_log("name=later");
    // Seen, and in its grace: no restart. A negative, so a wait that lasts
    // its whole bound (three periods).
    assert!(stays(Duration::from_millis(600), || messages(&c.messages)
        .is_empty()));
    // The change is picked up: no grace now.
    c.write_config("later", &http_config(&url, 0.2, 1.0, 0.0, 0));
    wait_restart(&c.messages, "later", &checker);
    let needle = format!(
        "{}: \"ncolony.httpcheck\".\"url\" is missing",
        c.config.join("nourl").display()
    );
    assert_eq!(
        checker.log().matches(&needle).count(),
        1,
        "{}",
        checker.log()
    );
    // Removed: no more restarts.
    fs::remove_file(c.config.join("later")).expect("rm");
    checker.wait_log("config removed; no longer checking name=later");
    clear(&c.messages);
    // A negative, so a wait that lasts its whole bound (three periods).
    assert!(
        stays(Duration::from_millis(600), || messages(&c.messages)
            .is_empty()),
        "{:?}",
        messages(&c.messages)
    );
}

// ------------------------------------------------------------ scheduler

fn scheduler(script: &str, extra: &[&str]) -> Monitor {
    let mut cmd = ncolony();
    cmd.args([
        "scheduler",
        "--arg",
        "/bin/sh",
        "--arg",
        "-c",
        "--arg",
        script,
    ])
    .args(extra);
    Monitor::spawn(cmd)
}

fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[test]
fn scheduler_runs_the_job_every_frequency_and_logs_output_and_status() {
    let c = Colony::new();
    let ticks = c.work.join("ticks");
    let script = format!("echo ran; echo tick >> {}", ticks.display());
    let s = scheduler(
        &script,
        &["--frequency", "0.3", "--timeout", "5", "--grace", "1"],
    );
    let start = Instant::now();
    assert!(wait_until(SOON, || {
        fs::read_to_string(&ticks)
            .unwrap_or_default()
            .lines()
            .count()
            >= 4
    }));
    // First at start, then every 0.3 s: four runs take about 0.9 s.
    assert!(
        start.elapsed() >= Duration::from_millis(800),
        "{:?}",
        start.elapsed()
    );
    s.wait_log("[job] ran\n");
    s.wait_log("job exited with code 0");
}

#[test]
fn scheduler_cuts_job_lines_over_64_kib_as_the_monitor_does() {
    let s = scheduler(
        crate::monitor::LONG_LINES,
        &["--frequency", "100", "--timeout", "50", "--grace", "1"],
    );
    s.wait_log("[job] done\n");
    assert_eq!(
        crate::monitor::long_lines_seen(&s.log(), "[job] "),
        [('x', 65536), ('x', 100000 - 65536), ('y', 65536)]
    );
}

#[test]
fn scheduler_never_runs_two_copies_and_logs_the_delay() {
    let c = Colony::new();
    let trace = c.work.join("trace");
    let script = format!(
        "echo start >> {0}; sleep 0.5; echo end >> {0}",
        trace.display()
    );
    let s = scheduler(
        &script,
        &["--frequency", "0.2", "--timeout", "5", "--grace", "1"],
    );
    assert!(wait_until(SOON, || {
        fs::read_to_string(&trace)
            .unwrap_or_default()
            .lines()
            .count()
            >= 6
    }));
    s.wait_log("job still running at its next due time");
    let text = fs::read_to_string(&trace).expect("trace");
    for (i, line) in text.lines().enumerate() {
        assert_eq!(line, if i % 2 == 0 { "start" } else { "end" }, "{text}");
    }
}

#[test]
fn scheduler_terms_an_overrunning_job_at_its_timeout() {
    let c = Colony::new();
    let pidfile = c.work.join("pid");
    let script = format!("echo $$ > {}; exec sleep 100", pidfile.display());
    let s = scheduler(
        &script,
        &["--frequency", "100", "--timeout", "0.5", "--grace", "5"],
    );
    let pid = wait_for(SOON, || read_pid(&pidfile)).expect("job started");
    let start = Instant::now();
    s.wait_log("job killed by SIGTERM");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(wait_until(SOON, || !is_alive(pid)));
    assert!(!s.log().contains("SIGKILL"), "{}", s.log());
}

#[test]
fn scheduler_kills_a_job_that_ignores_sigterm_after_the_grace() {
    let c = Colony::new();
    let pidfile = c.work.join("pid");
    let script = format!(
        "trap '' TERM; echo $$ > {}; while :; do sleep 0.05; done",
        pidfile.display()
    );
    let s = scheduler(
        &script,
        &["--frequency", "100", "--timeout", "0.3", "--grace", "0.5"],
    );
    let pid = wait_for(SOON, || read_pid(&pidfile)).expect("job started");
    s.wait_log("sending SIGTERM to its process group");
    s.wait_log("job killed by SIGKILL");
    assert!(wait_until(SOON, || !is_alive(pid)));
    let log = s.log();
    let term = log.find("sending SIGTERM").expect("term");
    let kill = log.find("sending SIGKILL").expect("kill");
    assert!(term < kill, "{log}");
}

#[test]
fn scheduler_stops_on_sigterm_and_takes_its_job_along() {
    let c = Colony::new();
    let pidfile = c.work.join("pid");
    let script = format!("echo $$ > {}; exec sleep 100", pidfile.display());
    let mut s = scheduler(
        &script,
        &["--frequency", "100", "--timeout", "50", "--grace", "1"],
    );
    let pid = wait_for(SOON, || read_pid(&pidfile)).expect("job started");
    s.signal(15);
    assert_eq!(s.wait_exit(SOON), Some(Some(0)), "{}", s.log());
    assert!(wait_until(SOON, || !is_alive(pid)));
    // SIGTERM did it (the job must not inherit the scheduler's signal mask).
    assert!(s.log().contains("job killed by SIGTERM"), "{}", s.log());
}

#[test]
fn scheduler_refuses_bad_arguments_with_a_usage_error() {
    let base = ["scheduler", "--arg", "/bin/true"];
    let cases: &[&[&str]] = &[
        &["--timeout", "1", "--grace", "1"],
        &["--frequency", "0", "--timeout", "1", "--grace", "1"],
        &["--frequency", "1", "--timeout", "0", "--grace", "1"],
        &["--frequency", "1", "--grace", "1"],
        &["--frequency", "1", "--timeout", "1"],
        &["--frequency", "-1", "--timeout", "1", "--grace", "1"],
        &[
            "--frequency",
            "1",
            "--cron",
            "* * * * *",
            "--timeout",
            "1",
            "--grace",
            "1",
        ],
        &["--cron", "* * *", "--timeout", "1", "--grace", "1"],
        &["--cron", "99 * * * *", "--timeout", "1", "--grace", "1"],
    ];
    for extra in cases {
        let out = ncolony().args(base).args(*extra).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        assert!(!out.stderr.is_empty(), "{extra:?}");
    }
    let out = run(&[
        "scheduler",
        "--frequency",
        "1",
        "--timeout",
        "1",
        "--grace",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2), "no --arg");
    // A valid cron expression is accepted (and waits for its minute).
    let mut s = Monitor::spawn({
        let mut cmd = ncolony();
        cmd.args(["scheduler", "--arg", "/bin/true", "--cron", "*/5 * * * *"])
            .args(["--timeout", "1", "--grace", "1"]);
        cmd
    });
    s.wait_log("at cron times");
    s.signal(15);
    assert_eq!(s.wait_exit(SOON), Some(Some(0)));
}

// ------------------------------------------------------ under the monitor

/// A worker script: records its pid, beats `beats` times every 0.2 s with
/// `ncolony heart beat`, then hangs without beating.
fn stopping_heart(c: &Colony, name: &str, beats: u32) -> String {
    format!(
        "echo $$ >> {pids}; i=0; while [ $i -lt {beats} ]; do {BIN} heart beat || exit 1; \
         i=$((i+1)); sleep 0.2; done; exec sleep 1000",
        pids = c.work.join(format!("{name}.pids")).display(),
    )
}

#[test]
fn under_the_monitor_beatcheck_restarts_a_worker_whose_heart_stopped() {
    let c = Colony::new();
    let worker = json!({
        "args": ["/bin/sh", "-c", stopping_heart(&c, "worker", 5)],
        "ncolony.beatcheck": {"status": c.work.join("worker.status"), "period": 0.5, "grace": 2}
    });
    c.write_config("worker", &worker.to_string());
    // The checker beats its own heart too.
    let beatcheck = json!({
        "args": [BIN, "beatcheck", "--config", c.config, "--messages", c.messages, "--freq", "0.1"],
        "ncolony.beatcheck": {"status": c.work.join("checker.status"), "period": 3, "grace": 3}
    });
    c.write_config("beatcheck", &beatcheck.to_string());
    let m = c.monitor(&["--frequency", "1"]);
    let first = c.wait_pids("worker", 1);
    let second = c.wait_pids("worker", 2);
    assert_ne!(first, second);
    // The worker did beat (through `ncolony heart beat`), and so did the checker.
    assert!(c.work.join("worker.status").is_file(), "{}", m.log());
    assert!(c.work.join("checker.status").is_file(), "{}", m.log());
    m.wait_log("heart stopped beating; asking for a restart name=worker");
}

#[test]
fn under_the_monitor_httpcheck_restarts_a_failing_worker() {
    let c = Colony::new();
    let status = Arc::new(AtomicU16::new(500));
    let port = http_server(status);
    let worker = json!({
        "args": ["/bin/sh", "-c", c.pid_recorder("web")],
        "ncolony.httpcheck": {"url": format!("http://127.0.0.1:{port}/"), "period": 0.2,
                              "timeout": 1, "grace": 1, "maxBad": 1}
    });
    c.write_config("web", &worker.to_string());
    let httpcheck = json!({
        "args": [BIN, "httpcheck", "--config", c.config, "--messages", c.messages, "--freq", "0.1"]
    });
    c.write_config("httpcheck", &httpcheck.to_string());
    let m = c.monitor(&["--frequency", "1"]);
    let first = c.wait_pids("web", 1);
    let second = c.wait_pids("web", 2);
    assert_ne!(first, second);
    m.wait_log("asking for a restart");
}
