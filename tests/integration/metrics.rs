//! `ncolony monitor --metrics ADDR`: the Prometheus endpoint, scraped over
//! HTTP and parsed with a Prometheus text-format parser
//! (`openmetrics-parser`); its routes; and hostile clients (silent, slow,
//! garbage, 500 at once), which must neither hold up supervision nor grow
//! the monitor.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

/// Every family the page has, with its type.
const FAMILIES: [(&str, &str); 13] = [
    ("ncolony_process_up", "gauge"),
    ("ncolony_process_ready", "gauge"),
    ("ncolony_process_restarts_total", "counter"),
    ("ncolony_process_start_time_seconds", "gauge"),
    ("ncolony_process_last_exit_code", "gauge"),
    ("ncolony_process_last_exit_signal", "gauge"),
    ("ncolony_process_state", "gauge"),
    ("ncolony_processes", "gauge"),
    ("ncolony_log_bytes_total", "counter"),
    ("ncolony_messages_total", "counter"),
    ("ncolony_monitor_start_time_seconds", "gauge"),
    ("ncolony_monitor_resident_memory_bytes", "gauge"),
    ("ncolony_monitor_open_fds", "gauge"),
];

/// Every state word, as `ncolony_process_state` lists them.
const STATES: [&str; 8] = [
    "starting", "running", "backoff", "stopping", "held", "exited", "invalid", "waiting",
];

/// Starts the monitor on `c` with `--metrics ADDR` (port 0) and `extra`;
/// returns it with the address it says it serves on.
fn monitor_on(c: &Colony, addr: &str, extra: &[&str]) -> (Monitor, SocketAddr) {
    let mut args = vec!["--metrics", addr];
    args.extend(extra);
    let m = c.monitor(&args);
    let bound = wait_for(SOON, || served_on(&m.log()));
    let bound = bound.unwrap_or_else(|| panic!("no metrics address logged:\n{}", m.log()));
    (m, bound)
}

fn monitor(c: &Colony, extra: &[&str]) -> (Monitor, SocketAddr) {
    monitor_on(c, "127.0.0.1:0", extra)
}

/// The address in the monitor's `serving metrics on http://ADDR/metrics`.
fn served_on(log: &str) -> Option<SocketAddr> {
    let rest = log.split("serving metrics on http://").nth(1)?;
    rest.split("/metrics").next()?.parse().ok()
}

/// An HTTP answer.
struct Answer {
    /// The status line and headers.
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn status(&self) -> &str {
        self.head.split(' ').nth(1).unwrap_or_default()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A connection with bounded reads and writes.
fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, SOON).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(SOON)).expect("read timeout");
    s.set_write_timeout(Some(SOON)).expect("write timeout");
    s
}

/// Splits what a connection received into head and body.
fn answer(received: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(received);
    let (head, _) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let at = (head.len() + 4).min(received.len());
    Answer {
        head: head.to_owned(),
        body: received[at..].to_vec(),
    }
}

/// Sends `raw` on a new connection; what comes back until the server closes.
fn request(addr: SocketAddr, raw: &[u8]) -> Answer {
    let mut s = connect(addr);
    s.write_all(raw).expect("send the request");
    let mut received = Vec::new();
    s.read_to_end(&mut received).expect("read the answer");
    answer(&received)
}

fn get(addr: SocketAddr, path: &str) -> Answer {
    request(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nAccept: */*\r\n\r\n").as_bytes(),
    )
}

/// A parsed page.
struct Scrape {
    text: String,
    page: MetricsExposition<PrometheusType, PrometheusValue>,
}

impl Scrape {
    /// The value of the sample of `family` with exactly these labels.
    fn value(&self, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let family = self.page.families.get(family)?;
        family.iter_samples().find_map(|sample| {
            let set = sample.get_labelset().ok()?;
            let same = set.iter().count() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| set.get_label_value(k) == Some(*v));
            if !same {
                return None;
            }
            match &sample.value {
                PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => Some(n.as_f64()),
                PrometheusValue::Counter(c) => Some(c.value.as_f64()),
                PrometheusValue::Histogram(_) | PrometheusValue::Summary(_) => None,
            }
        })
    }

    fn of(&self, family: &str, name: &str) -> Option<f64> {
        self.value(family, &[("name", name)])
    }

    fn messages(&self, kind: &str) -> Option<f64> {
        self.value("ncolony_messages_total", &[("type", kind)])
    }

    /// The state `name` is in; every other state's gauge must be 0.
    fn state(&self, name: &str) -> &'static str {
        let on: Vec<&str> = STATES
            .into_iter()
            .filter(|s| {
                let v = self.value("ncolony_process_state", &[("name", name), ("state", s)]);
                assert!(
                    v == Some(0.0) || v == Some(1.0),
                    "{name} {s}: {v:?}\n{}",
                    self.text
                );
                v == Some(1.0)
            })
            .collect();
        assert_eq!(on.len(), 1, "{name} is in one state:\n{}", self.text);
        on[0]
    }
}

/// GET /metrics, checked (status, media type, HELP and TYPE of every
/// family) and parsed.
fn scrape(addr: SocketAddr) -> Scrape {
    let answer = get(addr, "/metrics");
    assert_eq!(answer.status(), "200", "{}", answer.head);
    assert_eq!(
        answer.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(answer.body).expect("the page is UTF-8");
    let page = parse_prometheus(&text)
        .unwrap_or_else(|e| panic!("not the Prometheus text format ({e:?}):\n{text}"));
    for (name, kind) in FAMILIES {
        assert!(
            text.contains(&format!("\n# HELP {name} "))
                || text.starts_with(&format!("# HELP {name} ")),
            "no HELP for {name}:\n{text}"
        );
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "no TYPE {kind} for {name}:\n{text}"
        );
        if let Some(family) = page.families.get(name) {
            assert_eq!(family.family_type.to_string(), kind, "{name}");
            assert!(!family.help.is_empty(), "{name}");
        }
    }
    assert_eq!(
        text.lines().filter(|l| l.starts_with("# TYPE ")).count(),
        FAMILIES.len(),
        "{text}"
    );
    Scrape { text, page }
}

/// Polls the page until `cond` holds; that page.
fn scrape_until(addr: SocketAddr, what: &str, cond: impl Fn(&Scrape) -> bool) -> Scrape {
    let mut last = String::new();
    let found = wait_for(WAIT, || {
        let s = scrape(addr);
        if cond(&s) {
            return Some(s);
        }
        last = s.text;
        None
    });
    found.unwrap_or_else(|| panic!("{what}: never so; last page:\n{last}"))
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// A `kB` field of `/proc/PID/status`, in bytes.
fn status_bytes(pid: i32, field: &str) -> u64 {
    let value = proc_status_field(pid, field).unwrap_or_else(|| panic!("no {field} for {pid}"));
    let kib: u64 = value
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("a number of kB");
    kib * 1024
}

/// The monitor's threads: each one's name and voluntary context switches.
fn threads(pid: i32) -> Vec<(String, u64)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("list the threads");
    tasks
        .flatten()
        .filter_map(|t| {
            let tid: i32 = t.file_name().to_str()?.parse().ok()?;
            let name = std::fs::read_to_string(t.path().join("comm")).ok()?;
            let switches = proc_status_field_of_task(pid, tid, "voluntary_ctxt_switches")?;
            Some((name.trim().to_owned(), switches.parse().ok()?))
        })
        .collect()
}

/// A field of `/proc/PID/task/TID/status`.
fn proc_status_field_of_task(pid: i32, tid: i32, field: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix(&format!("{field}:"))
            .map(|v| v.trim().to_owned())
    })
}

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("list the monitor's fds")
        .count()
}

#[test]
fn the_page_follows_a_scripted_sequence() {
    let c = Colony::new();
    let web = format!("echo hello; {}", c.pid_recorder("web"));
    c.add_sh("web", &web);
    c.add_sh("crash", "exit 3");
    let before = now_seconds();
    let (m, addr) = monitor(&c, &["-t", "0.5", "-m", "5", "-M", "5"]);
    let pid = c.wait_pids("web", 1);

    // Both started; crash exited 3 and waits out its delay.
    let s = scrape_until(addr, "web up, crash backing off", |s| {
        s.of("ncolony_process_up", "web") == Some(1.0)
            && s.of("ncolony_process_last_exit_code", "crash") == Some(3.0)
            && s.value(
                "ncolony_process_state",
                &[("name", "crash"), ("state", "backoff")],
            ) == Some(1.0)
            && s.of("ncolony_log_bytes_total", "web") >= Some(6.0)
    });
    assert_eq!(s.state("web"), "running");
    assert_eq!(s.state("crash"), "backoff");
    // No ready key: ready while running (issue 12's readiness).
    assert_eq!(s.of("ncolony_process_ready", "web"), Some(1.0));
    assert_eq!(s.of("ncolony_process_ready", "crash"), Some(0.0));
    assert_eq!(s.of("ncolony_process_up", "crash"), Some(0.0));
    assert_eq!(s.of("ncolony_process_restarts_total", "web"), Some(0.0));
    assert_eq!(s.of("ncolony_process_last_exit_code", "web"), None);
    assert_eq!(s.of("ncolony_process_last_exit_signal", "web"), None);
    assert_eq!(s.of("ncolony_process_start_time_seconds", "crash"), None);
    let started = s
        .of("ncolony_process_start_time_seconds", "web")
        .expect("web's start time");
    assert!(
        (before - 1.0..now_seconds() + 1.0).contains(&started),
        "{started}"
    );
    let monitor_start = s
        .value("ncolony_monitor_start_time_seconds", &[])
        .expect("the monitor's start time");
    assert!(
        (before - 1.0..=started).contains(&monitor_start),
        "{monitor_start}"
    );
    assert_eq!(
        s.value("ncolony_processes", &[("state", "running")]),
        Some(1.0)
    );
    assert_eq!(
        s.value("ncolony_processes", &[("state", "backoff")]),
        Some(1.0)
    );
    assert_eq!(
        s.value("ncolony_processes", &[("state", "held")]),
        Some(0.0)
    );
    for kind in [
        "RESTART",
        "RESTART-ALL",
        "RESTART-GROUP",
        "STOP",
        "START",
        "rejected",
    ] {
        assert_eq!(s.messages(kind), Some(0.0), "{kind}");
    }
    let rss = s
        .value("ncolony_monitor_resident_memory_bytes", &[])
        .expect("rss");
    assert!(rss > 1e6, "{rss}");
    let fds = s.value("ncolony_monitor_open_fds", &[]).expect("fds");
    assert!((3.0..1000.0).contains(&fds), "{fds}");

    // A crash: restarted, and the signal that killed it shown.
    assert!(
        wait_until(SOON, || proc_age(pid)
            .is_some_and(|a| a > Duration::from_millis(700))),
        "web lives past the threshold"
    );
    kill(pid, 9);
    let pid = c.wait_pids("web", 2);
    let s = scrape_until(addr, "the crash counted", |s| {
        s.of("ncolony_process_restarts_total", "web") == Some(1.0)
            && s.of("ncolony_process_up", "web") == Some(1.0)
    });
    assert_eq!(s.of("ncolony_process_last_exit_signal", "web"), Some(9.0));
    assert_eq!(s.of("ncolony_process_last_exit_code", "web"), None);
    assert!(s.of("ncolony_process_start_time_seconds", "web") > Some(started));

    // A RESTART message: counted, and a restart.
    c.send("001Message.1", r#"{"type": "RESTART", "name": "web"}"#);
    let s = scrape_until(addr, "the RESTART counted", |s| {
        s.messages("RESTART") == Some(1.0)
            && s.of("ncolony_process_restarts_total", "web") == Some(2.0)
    });
    assert_eq!(s.of("ncolony_process_last_exit_signal", "web"), Some(15.0));
    assert!(!is_alive(pid));
    c.wait_pids("web", 3);

    // A refused message is counted apart.
    c.send("002Message.1", "not json");
    scrape_until(addr, "the rejected message counted", |s| {
        s.messages("rejected") == Some(1.0) && s.messages("RESTART") == Some(1.0)
    });

    // A STOP: held, not up, no start time.
    c.send("003Message.1", r#"{"type": "STOP", "name": "web"}"#);
    let s = scrape_until(addr, "web held", |s| {
        s.messages("STOP") == Some(1.0)
            && s.value(
                "ncolony_process_state",
                &[("name", "web"), ("state", "held")],
            ) == Some(1.0)
    });
    assert_eq!(s.state("web"), "held");
    assert_eq!(s.of("ncolony_process_up", "web"), Some(0.0));
    assert_eq!(s.of("ncolony_process_ready", "web"), Some(0.0));
    assert_eq!(s.of("ncolony_process_start_time_seconds", "web"), None);
    assert_eq!(
        s.value("ncolony_processes", &[("state", "held")]),
        Some(1.0)
    );
    drop(m);
}

#[test]
fn head_and_a_query_get_the_page_other_paths_404_other_methods_405_on_ipv6() {
    // The IPv6 loopback, as `[::1]:PORT` is documented to work.
    let c = Colony::new();
    // A name the label value must escape.
    let odd = "q\"u\\o";
    c.add_sh(odd, "exec sleep 1000");
    // The STOPs waiting when the monitor starts count too, each of them.
    c.add_sh("kept", "exec sleep 1000");
    c.send("001Message.1", r#"{"type": "STOP", "name": "kept"}"#);
    c.send("002Message.1", r#"{"type": "STOP", "name": "kept"}"#);
    let (_m, addr) = monitor_on(&c, "[::1]:0", &[]);
    assert!(addr.is_ipv6(), "{addr}");
    let page = scrape_until(addr, "the odd name up", |s| {
        s.of("ncolony_process_up", odd) == Some(1.0)
    });
    assert_eq!(page.state("kept"), "held");
    assert_eq!(page.messages("STOP"), Some(2.0));

    let head = request(addr, b"HEAD /metrics HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(head.status(), "200", "{}", head.head);
    assert_eq!(
        head.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(head.body.is_empty(), "HEAD has no body");
    let length: usize = head
        .header("Content-Length")
        .and_then(|l| l.parse().ok())
        .expect("a length");
    // The same page but for a digit of a figure that changed meanwhile.
    assert!(length.abs_diff(page.text.len()) < 16, "{length}");

    let query = get(addr, "/metrics?debug=1");
    assert_eq!(query.status(), "200", "{}", query.head);
    assert!(String::from_utf8_lossy(&query.body).contains("# TYPE ncolony_process_up gauge"));

    for path in ["/", "/metric", "/metrics/", "/favicon.ico"] {
        let a = get(addr, path);
        assert_eq!(a.status(), "404", "{path}: {}", a.head);
    }
    for method in ["POST", "PUT", "DELETE"] {
        let a = request(
            addr,
            format!("{method} /metrics HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(a.status(), "405", "{method}: {}", a.head);
        assert_eq!(a.header("Allow"), Some("GET, HEAD"), "{method}");
    }
}

#[test]
fn a_silent_client_gets_408_at_the_head_timeout_and_never_holds_up_a_scrape() {
    let c = Colony::new();
    let (_m, addr) = monitor(&c, &[]);
    let mut silent = connect(addr);
    let opened = Instant::now();
    // Served while the silent one waits.
    let asked = Instant::now();
    scrape(addr);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    let mut received = Vec::new();
    silent
        .read_to_end(&mut received)
        .expect("the server closes the silent connection");
    let waited = opened.elapsed();
    assert!(
        (Duration::from_secs(4)..Duration::from_secs(8)).contains(&waited),
        "closed after {waited:?}"
    );
    assert_eq!(answer(&received).status(), "408");
}

#[test]
fn a_slow_loris_is_cut_off_at_the_head_timeout() {
    let c = Colony::new();
    let (_m, addr) = monitor(&c, &[]);
    let mut loris = connect(addr);
    loris
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    loris
        .write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
        .expect("send");
    let opened = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0; 1024];
    // One byte every 100 ms (the read timeout paces it) until the server
    // answers and closes; bounded.
    while opened.elapsed() < Duration::from_secs(12) {
        if loris.write_all(b"a").is_err() {
            break;
        }
        match loris.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let waited = opened.elapsed();
    assert!(
        (Duration::from_secs(4)..Duration::from_secs(8)).contains(&waited),
        "cut off after {waited:?}"
    );
    assert_eq!(answer(&received).status(), "408", "{received:?}");
}

#[test]
fn garbage_and_oversized_heads_get_400_at_once_and_memory_stays_bounded() {
    let c = Colony::new();
    let (m, addr) = monitor(&c, &[]);
    scrape(addr);
    let peak = status_bytes(m.pid(), "VmHWM");

    let asked = Instant::now();
    let tls = request(
        addr,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xff\x00garbage",
    );
    assert_eq!(tls.status(), "400", "{}", tls.head);
    let mut long = b"GET /metrics HTTP/1.1\r\nX-Long: ".to_vec();
    long.resize(16 * 1024, b'a');
    let oversized = request(addr, &long);
    assert_eq!(oversized.status(), "400", "{}", oversized.head);
    // Long before the 5 s head timeout: refused as soon as the bound is passed.
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );

    // 50 clients at once, each sending 4 MiB of one header: none of it may
    // stay in the monitor.
    let floods: Vec<_> = (0..50)
        .map(|_| {
            thread::spawn(move || {
                let mut s = connect(addr);
                let mut chunk = b"GET /metrics HTTP/1.1\r\nX-Flood: ".to_vec();
                chunk.resize(64 * 1024, b'a');
                for _ in 0..64 {
                    if s.write_all(&chunk).is_err() {
                        break;
                    }
                    chunk.fill(b'a');
                }
                let mut rest = Vec::new();
                let _ = s.read_to_end(&mut rest);
            })
        })
        .collect();
    for flood in floods {
        flood.join().expect("a flood client");
    }
    let grown = status_bytes(m.pid(), "VmHWM").saturating_sub(peak);
    assert!(
        grown < 16 << 20,
        "the monitor's peak RSS grew {grown} bytes"
    );
    assert_eq!(scrape(addr).of("ncolony_process_up", "nobody"), None);
}

#[test]
fn supervision_reacts_at_once_while_500_idle_connections_are_open() {
    let c = Colony::new();
    c.add_sh("first", &c.pid_recorder("first"));
    let pids = c.pids.display().to_string();
    let (m, addr) = monitor(&c, &["--pid", &pids]);
    c.wait_pids("first", 1);
    scrape(addr);
    let fds = open_fds(m.pid());
    let rss = status_bytes(m.pid(), "VmRSS");
    let peak = status_bytes(m.pid(), "VmHWM");

    let idle: Vec<TcpStream> = (0..500).map(|_| connect(addr)).collect();
    // The server has taken all 500 once it has closed every one past its
    // limit of 64 (a read on it ends at once).
    for s in &idle {
        s.set_nonblocking(true).expect("nonblocking");
    }
    let closed = |idle: &[TcpStream]| {
        idle.iter()
            .filter(|s| {
                let mut s: &TcpStream = s;
                matches!(s.read(&mut [0; 16]), Ok(0))
            })
            .count()
    };
    let mut seen = 0;
    assert!(
        wait_until(SOON, || {
            seen = closed(&idle);
            seen >= 500 - 64
        }),
        "the server closed {seen} of 500 connections past its limit"
    );
    let during = open_fds(m.pid());
    assert!(
        during <= fds + 64 + 8,
        "the monitor holds {during} fds with 500 connections open (was {fds})"
    );

    // A new config starts within a second, and so does the next one: the
    // loop was free after the first as well.
    let mut reactions = Vec::new();
    for name in ["second", "third"] {
        let asked = Instant::now();
        c.add_sh(name, &c.pid_recorder(name));
        let pid_file = c.pids.join(name);
        assert!(
            wait_until(Duration::from_secs(1), || pid_file.exists()),
            "{name} did not start within a second; log:\n{}",
            m.log()
        );
        reactions.push(asked.elapsed());
    }
    let grown = status_bytes(m.pid(), "VmHWM").saturating_sub(peak);
    assert!(grown < 16 << 20, "peak RSS grew {grown} bytes");
    let now = status_bytes(m.pid(), "VmRSS");
    assert!(now < rss + (16 << 20), "RSS went from {rss} to {now} bytes");

    // Once they close, the endpoint serves again.
    drop(idle);
    let s = scrape_until(addr, "second and third running", |s| {
        s.of("ncolony_process_up", "second") == Some(1.0)
            && s.of("ncolony_process_up", "third") == Some(1.0)
    });
    assert_eq!(s.state("first"), "running");
    assert!(
        reactions.iter().all(|r| *r < Duration::from_secs(1)),
        "{reactions:?}"
    );
}

#[test]
fn off_by_default_and_idle_without_a_wake_up() {
    let c = Colony::new();
    c.add_sh("web", &c.pid_recorder("web"));
    let off = c.monitor(&[]);
    c.wait_pids("web", 1);
    let names: Vec<String> = threads(off.pid()).into_iter().map(|(n, _)| n).collect();
    assert!(!names.iter().any(|n| n == "metrics"), "{names:?}");
    drop(off);

    let (on, addr) = monitor(&c, &[]);
    scrape(addr);
    let switches = || {
        threads(on.pid())
            .into_iter()
            .find_map(|(name, n)| (name == "metrics").then_some(n))
    };
    assert!(switches().is_some(), "a metrics thread");
    // Once the scrape's connection is over on the server's side too.
    assert!(wait_until(SOON, || {
        let now = switches();
        stays(Duration::from_millis(300), || switches() == now)
    }));
    let before = switches().expect("a metrics thread");
    // Two seconds would show a timer of a second or less.
    assert!(
        stays(Duration::from_secs(2), || switches() == Some(before)),
        "the idle metrics thread woke: {before} -> {:?} context switches",
        switches()
    );
}

#[test]
fn a_port_in_use_exits_1_naming_the_address_before_any_child_starts() {
    let c = Colony::new();
    c.add_sh("web", &c.pid_recorder("web"));
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = taken.local_addr().expect("its address").to_string();
    let mut m = c.monitor(&["--metrics", &addr]);
    assert_eq!(m.wait_exit(SOON), Some(Some(1)), "{}", m.log());
    let log = m.log();
    assert!(
        log.contains(&format!("--metrics {addr}")) && log.contains("in use"),
        "{log}"
    );
    assert!(!log.contains("started"), "{log}");
    assert!(c.recorded_pids("web").is_empty());
}

#[test]
fn an_unparsable_address_is_a_usage_error_naming_it() {
    let c = Colony::new();
    // Were the value taken, the missing config directory would end the
    // monitor at once (exit 1), not leave it running.
    let missing = c.tmp.path().join("missing");
    for bad in [
        "localhost:9100",
        "127.0.0.1",
        ":9100",
        "::1:9100",
        "127.0.0.1:99999",
    ] {
        let out = ncolony()
            .arg("monitor")
            .arg("--config")
            .arg(&missing)
            .arg("--messages")
            .arg(&c.messages)
            .args(["--metrics", bad])
            .output()
            .expect("run the monitor");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(
            stderr.contains(&format!("'{bad}'")) && stderr.contains("--metrics"),
            "{bad}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}
