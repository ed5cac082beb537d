//! The start-order and readiness keys of a config file: `ready` (how a
//! process says it is ready), `after` (what must be ready before it starts)
//! and `watchdog` (with `notify`: how often it must ping). Each parser
//! reports one problem naming its key.

use std::time::Duration;

use serde_json::{Map, Value};

use super::settings::shown;
use super::{Name, kind, unknown_fields};

/// How a process announces it is ready (the `ready` key's one kind).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadyKind {
    /// systemd's protocol: `READY=1` on `$NOTIFY_SOCKET`.
    Notify,
    /// s6's notification fd: a newline written to this fd (3 or more).
    Fd(i32),
    /// Ready once this path exists.
    File(String),
    /// Ready once a TCP connection to `HOST:PORT` succeeds.
    Tcp(String),
    /// Ready once a GET of this URL answers 2xx (no redirects followed).
    Http(String),
    /// Ready once this command (absolute program, then its arguments) exits 0.
    Exec(Vec<String>),
}

impl ReadyKind {
    /// Whether the monitor checks it every `period` (rather than being told).
    pub fn is_polled(&self) -> bool {
        match self {
            ReadyKind::Notify | ReadyKind::Fd(_) => false,
            ReadyKind::File(_) | ReadyKind::Tcp(_) | ReadyKind::Http(_) | ReadyKind::Exec(_) => {
                true
            }
        }
    }
}

/// The `ready` key: a kind, and its timing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ready {
    /// How readiness is announced or checked.
    pub kind: ReadyKind,
    /// Between two checks of a polled kind (`"period"`, default 1 s).
    pub period: Duration,
    /// How long a start may take to become ready (`"timeout"`, default
    /// 60 s); past it the process is stopped and its start counts as failed.
    pub timeout: Duration,
}

/// What `ready`, `after` and `watchdog` say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StartOrder {
    /// `ready`: `None` when the process is ready as soon as it runs.
    pub ready: Option<Ready>,
    /// `after`: the names that must be ready (or, for a one-shot task,
    /// have exited successfully) before it starts.
    pub after: Vec<Name>,
    /// `watchdog`: with `notify`, the longest gap between two `WATCHDOG=1`.
    pub watchdog: Option<Duration>,
}

/// The highest fd `ready.fd` may name: below the usual 1024 soft limit on
/// open files, so the child can always hold it.
pub const MAX_READY_FD: i32 = 1023;

/// The longest time any of these keys may give, in seconds (about 31
/// years): a deadline `now + it` always fits.
const MAX_SECONDS: f64 = 1e9;

/// The kinds' keys, in the order the problems list them.
const KINDS: [&str; 6] = ["notify", "fd", "file", "tcp", "http", "exec"];

/// The fields a `ready` object may have.
const FIELDS: [&str; 8] = [
    "notify", "fd", "file", "tcp", "http", "exec", "period", "timeout",
];

/// The default `ready.period`.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(1);

/// The default `ready.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads `ready`, `after` and `watchdog` (all optional), appending one
/// problem per bad key to `problems`.
pub(super) fn parse(map: &Map<String, Value>, problems: &mut Vec<String>) -> StartOrder {
    let before = problems.len();
    let ready = match map.get("ready") {
        None | Some(Value::Null) => None,
        Some(v) => ready(v, problems),
    };
    let ready_ok = problems.len() == before;
    let after = match map.get("after") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => after(v, problems),
    };
    let watchdog = match map.get("watchdog") {
        None | Some(Value::Null) => None,
        Some(v) => seconds(v, "watchdog", problems),
    };
    let notify = matches!(
        ready,
        Some(Ready {
            kind: ReadyKind::Notify,
            ..
        })
    );
    // A `ready` that is itself wrong already has its problem; saying also
    // that it is not `notify` would be a second line about the same mistake.
    if watchdog.is_some() && !notify && ready_ok {
        problems.push(
            "\"watchdog\" needs \"ready\": {\"notify\": true} (it counts WATCHDOG=1 pings)"
                .to_owned(),
        );
    }
    StartOrder {
        ready,
        after,
        watchdog,
    }
}

/// The problem with an `after` that names the process itself, whose name
/// the parser does not know: the monitor checks it with the file's name, and
/// so can `ctl validate` and `ctl add`.
pub fn check_after(name: &Name, order: &StartOrder) -> Result<(), String> {
    if order.after.contains(name) {
        Err(format!(
            "\"after\" names the process itself ({:?})",
            name.as_str()
        ))
    } else {
        Ok(())
    }
}

/// `ready`: an object with exactly one kind, and `period` and `timeout`.
fn ready(v: &Value, problems: &mut Vec<String>) -> Option<Ready> {
    let Value::Object(fields) = v else {
        problems.push(format!(
            "\"ready\" must be an object such as {{\"notify\": true}}, found {}",
            kind(v)
        ));
        return None;
    };
    let before = problems.len();
    unknown_fields("ready", fields, &FIELDS, problems);
    let given: Vec<&str> = KINDS
        .into_iter()
        .filter(|k| fields.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
    let kind = match given.as_slice() {
        [one] => ready_kind(one, &fields[*one], problems),
        _ => {
            problems.push(format!(
                "\"ready\" must have exactly one of {}; found {}",
                KINDS.join(", "),
                if given.is_empty() {
                    "none".to_owned()
                } else {
                    given.join(", ")
                }
            ));
            None
        }
    };
    let period = optional_seconds(fields, "period", problems).unwrap_or(DEFAULT_PERIOD);
    let timeout = optional_seconds(fields, "timeout", problems).unwrap_or(DEFAULT_TIMEOUT);
    let kind = kind.filter(|_| problems.len() == before)?;
    Some(Ready {
        kind,
        period,
        timeout,
    })
}

fn optional_seconds(
    fields: &Map<String, Value>,
    field: &str,
    problems: &mut Vec<String>,
) -> Option<Duration> {
    match fields.get(field) {
        None | Some(Value::Null) => None,
        Some(v) => seconds(v, &format!("ready.{field}"), problems),
    }
}

/// A number of seconds above 0 (and at most [`MAX_SECONDS`]).
fn seconds(v: &Value, key: &str, problems: &mut Vec<String>) -> Option<Duration> {
    let secs = v.as_f64().filter(|s| *s > 0.0 && *s <= MAX_SECONDS);
    match secs.and_then(|s| Duration::try_from_secs_f64(s).ok()) {
        Some(d) if !d.is_zero() => Some(d),
        _ => {
            problems.push(format!(
                "\"{key}\" must be a number of seconds above 0, found {}",
                shown(v)
            ));
            None
        }
    }
}

/// The value of the one kind given.
fn ready_kind(key: &str, v: &Value, problems: &mut Vec<String>) -> Option<ReadyKind> {
    if key == "exec" {
        return exec(v, problems).map(ReadyKind::Exec);
    }
    let mut bad = |what: &str| {
        problems.push(format!(
            "\"ready.{key}\" must be {what}, found {}",
            shown(v)
        ));
        None
    };
    match key {
        "notify" => match v {
            Value::Bool(true) => Some(ReadyKind::Notify),
            _ => bad("true"),
        },
        "fd" => match v.as_i64() {
            Some(n) if n < 3 => bad("at least 3 (0, 1 and 2 are stdin, stdout and stderr)"),
            Some(n) if n > i64::from(MAX_READY_FD) => bad(&format!("at most {MAX_READY_FD}")),
            Some(n) => i32::try_from(n).ok().map(ReadyKind::Fd),
            None => bad("an integer from 3 to 1023"),
        },
        "file" => match v.as_str() {
            Some(s) if s.starts_with('/') && !s.contains('\0') => {
                Some(ReadyKind::File(s.to_owned()))
            }
            _ => bad("an absolute path"),
        },
        "tcp" => match v.as_str().map(check_tcp) {
            Some(Ok(())) => v.as_str().map(|s| ReadyKind::Tcp(s.to_owned())),
            Some(Err(why)) => bad(&format!("\"HOST:PORT\" ({why})")),
            None => bad("a \"HOST:PORT\" string"),
        },
        "http" => match v.as_str().map(check_http) {
            Some(Ok(())) => v.as_str().map(|s| ReadyKind::Http(s.to_owned())),
            Some(Err(why)) => bad(&format!("an http:// or https:// URL ({why})")),
            None => bad("an http:// or https:// URL"),
        },
        // Only the kinds above are passed in.
        _ => None,
    }
}

/// `ready.exec`: a non-empty list of strings, the first an absolute path.
fn exec(v: &Value, problems: &mut Vec<String>) -> Option<Vec<String>> {
    let items: Option<Vec<String>> = match v {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| {
                item.as_str()
                    .filter(|s| !s.contains('\0'))
                    .map(str::to_owned)
            })
            .collect(),
        _ => None,
    };
    let Some(items) = items else {
        problems.push(format!(
            "\"ready.exec\" must be a non-empty list of strings, found {}",
            shown(v)
        ));
        return None;
    };
    if !items[0].starts_with('/') {
        problems.push(format!(
            "\"ready.exec[0]\" must be an absolute path, found {:?}",
            items[0]
        ));
        return None;
    }
    Some(items)
}

/// Whether `s` is `HOST:PORT` for `ready.tcp` (and `ctl add --ready-tcp`):
/// a port from 1 to 65535 after the last `:`, and before it a host name,
/// an IPv4 address or an IPv6 address in brackets. The error says what is
/// wrong, for a problem line.
pub fn check_tcp(s: &str) -> Result<(), String> {
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err("no \":PORT\"".to_owned());
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 && !port.starts_with('+') => {}
        _ => return Err(format!("port {port:?} is not a number from 1 to 65535")),
    }
    if let Some(inner) = host.strip_prefix('[') {
        return match inner
            .strip_suffix(']')
            .map(str::parse::<std::net::Ipv6Addr>)
        {
            Some(Ok(_)) => Ok(()),
            _ => Err(format!("{host:?} is not an IPv6 address in brackets")),
        };
    }
    if host.contains(':') {
        return Err(format!("IPv6 address {host:?} must be in brackets"));
    }
    check_host(host)
}

/// A host name or IPv4 address: letters, digits, `-`, `_` and `.`.
fn check_host(host: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if host.is_empty() {
        Err("no host".to_owned())
    } else if !host.chars().all(ok) {
        Err(format!("{host:?} is not a host name or address"))
    } else {
        Ok(())
    }
}

/// Whether `s` is a URL `ready.http` (and `ctl add --ready-http`) can GET:
/// `http://` or `https://`, a host (name, IPv4 or bracketed IPv6, with an
/// optional port), then an optional path; no spaces or control characters.
/// The error says what is wrong.
pub fn check_http(s: &str) -> Result<(), String> {
    let lower = s.to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &s["http://".len()..]
    } else if lower.starts_with("https://") {
        &s["https://".len()..]
    } else {
        return Err("it must start with http:// or https://".to_owned());
    };
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains a space or a control character".to_owned());
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return Err("user info (user@) is not supported".to_owned());
    }
    if authority.is_empty() {
        return Err("no host".to_owned());
    }
    if authority.starts_with('[') || authority.contains(':') {
        // A port, an IPv6 address, or both: the same rules as `tcp`, with
        // the port optional after a bracketed address.
        match authority.strip_suffix(']') {
            Some(v6) => check_tcp(&format!("{v6}]:80")),
            None => check_tcp(authority),
        }
    } else {
        check_host(authority)
    }
}

/// `after`: a list of process names, duplicates dropped (keeping the
/// first: listing a name twice asks for nothing more).
fn after(v: &Value, problems: &mut Vec<String>) -> Vec<Name> {
    let Value::Array(items) = v else {
        problems.push(format!(
            "\"after\" must be a list of process names, found {}",
            shown(v)
        ));
        return Vec::new();
    };
    let mut out: Vec<Name> = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) => match Name::new(s.as_str()) {
                Ok(name) => {
                    if seen.insert(name.clone()) {
                        out.push(name);
                    }
                }
                Err(e) => problems.push(format!("\"after[{i}]\" is not a process name: {e}")),
            },
            other => problems.push(format!(
                "\"after[{i}]\" must be a process name, found {}",
                shown(other)
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::ProcSpec;
    use super::*;

    fn parse(extra: &str) -> Result<StartOrder, String> {
        let text = format!(r#"{{"args": ["x"]{extra}}}"#);
        ProcSpec::parse(text.as_bytes())
            .map(|s| s.order)
            .map_err(|e| e.to_string())
    }

    fn kind_of(ready: &str) -> ReadyKind {
        let order = parse(&format!(r#", "ready": {ready}"#)).expect(ready);
        order.ready.expect("ready").kind
    }

    /// The one problem `extra` gives (asserting it is one).
    fn problem(extra: &str) -> String {
        let text = format!(r#"{{"args": ["x"]{extra}}}"#);
        let err = ProcSpec::parse(text.as_bytes()).expect_err(extra);
        assert_eq!(err.problems.len(), 1, "{extra}: {err}");
        err.problems[0].clone()
    }

    fn name(s: &str) -> Name {
        Name::new(s).expect("valid name")
    }

    #[test]
    fn absent_keys_are_the_originals_behaviour() {
        assert_eq!(parse(""), Ok(StartOrder::default()));
        assert_eq!(
            parse(r#", "ready": null, "after": null, "watchdog": null"#),
            Ok(StartOrder::default())
        );
    }

    #[test]
    fn every_kind_parses_with_default_timing() {
        let order = parse(r#", "ready": {"notify": true}"#).expect("valid");
        assert_eq!(
            order.ready,
            Some(Ready {
                kind: ReadyKind::Notify,
                period: Duration::from_secs(1),
                timeout: Duration::from_secs(60),
            })
        );
        assert_eq!(kind_of(r#"{"fd": 3}"#), ReadyKind::Fd(3));
        assert_eq!(kind_of(r#"{"fd": 1023}"#), ReadyKind::Fd(1023));
        assert_eq!(
            kind_of(r#"{"file": "/run/db.ready"}"#),
            ReadyKind::File("/run/db.ready".into())
        );
        for tcp in [
            "localhost:5432",
            "127.0.0.1:1",
            "[::1]:65535",
            "db.internal:80",
        ] {
            assert_eq!(
                kind_of(&format!(r#"{{"tcp": "{tcp}"}}"#)),
                ReadyKind::Tcp(tcp.into())
            );
        }
        for url in [
            "http://localhost:8080/health",
            "https://example.com",
            "HTTP://[::1]:80/?x=1",
            "http://[::1]/",
            "http://10.0.0.1",
        ] {
            assert_eq!(
                kind_of(&format!(r#"{{"http": "{url}"}}"#)),
                ReadyKind::Http(url.into())
            );
        }
        assert_eq!(
            kind_of(r#"{"exec": ["/bin/pg_isready", "-q"]}"#),
            ReadyKind::Exec(vec!["/bin/pg_isready".into(), "-q".into()])
        );
        let timed = parse(r#", "ready": {"tcp": "h:1", "period": 0.25, "timeout": 5}"#)
            .expect("valid")
            .ready
            .expect("ready");
        assert_eq!(timed.period, Duration::from_millis(250));
        assert_eq!(timed.timeout, Duration::from_secs(5));
        assert!(timed.kind.is_polled() && !ReadyKind::Fd(3).is_polled());
    }

    #[test]
    fn a_ready_needs_exactly_one_kind() {
        assert_eq!(
            problem(r#", "ready": {"fd": 3, "tcp": "h:1"}"#),
            "\"ready\" must have exactly one of notify, fd, file, tcp, http, exec; found fd, tcp"
        );
        assert_eq!(
            problem(r#", "ready": {"timeout": 3}"#),
            "\"ready\" must have exactly one of notify, fd, file, tcp, http, exec; found none"
        );
        // A null field is an absent one, as everywhere in the file.
        assert_eq!(
            kind_of(r#"{"notify": true, "fd": null}"#),
            ReadyKind::Notify
        );
    }

    #[test]
    fn each_bad_ready_is_one_problem_naming_its_key() {
        for (ready, expected) in [
            (
                r#""notify""#,
                r#""ready" must be an object such as {"notify": true}, found a string"#,
            ),
            (
                r#"{"notify": true, "perod": 2}"#,
                r#""ready" has an unknown field "perod" (known: "notify", "fd", "file", "tcp", "http", "exec", "period", "timeout")"#,
            ),
            (
                r#"{"notify": false}"#,
                r#""ready.notify" must be true, found false"#,
            ),
            (
                r#"{"notify": 1}"#,
                r#""ready.notify" must be true, found 1"#,
            ),
            (
                r#"{"fd": 2}"#,
                r#""ready.fd" must be at least 3 (0, 1 and 2 are stdin, stdout and stderr), found 2"#,
            ),
            (
                r#"{"fd": 1024}"#,
                r#""ready.fd" must be at most 1023, found 1024"#,
            ),
            (
                r#"{"fd": 3.5}"#,
                r#""ready.fd" must be an integer from 3 to 1023, found 3.5"#,
            ),
            (
                r#"{"fd": "3"}"#,
                r#""ready.fd" must be an integer from 3 to 1023, found "3""#,
            ),
            (
                r#"{"file": "db.ready"}"#,
                r#""ready.file" must be an absolute path, found "db.ready""#,
            ),
            (
                r#"{"file": 1}"#,
                r#""ready.file" must be an absolute path, found 1"#,
            ),
            (
                r#"{"tcp": "localhost"}"#,
                r#""ready.tcp" must be "HOST:PORT" (no ":PORT"), found "localhost""#,
            ),
            (
                r#"{"tcp": "h:0"}"#,
                r#""ready.tcp" must be "HOST:PORT" (port "0" is not a number from 1 to 65535), found "h:0""#,
            ),
            (r#"{"tcp": "h:65536"}"#, "port \"65536\" is not"),
            (r#"{"tcp": "h:+80"}"#, "port \"+80\" is not"),
            (r#"{"tcp": ":80"}"#, "(no host)"),
            (
                r#"{"tcp": "::1:80"}"#,
                "IPv6 address \"::1\" must be in brackets",
            ),
            (
                r#"{"tcp": "[::g]:80"}"#,
                "is not an IPv6 address in brackets",
            ),
            (
                r#"{"tcp": "a b:80"}"#,
                "\"a b\" is not a host name or address",
            ),
            (
                r#"{"tcp": 80}"#,
                r#""ready.tcp" must be a "HOST:PORT" string, found 80"#,
            ),
            (
                r#"{"http": "ftp://x/"}"#,
                r#""ready.http" must be an http:// or https:// URL (it must start with http:// or https://), found "ftp://x/""#,
            ),
            (r#"{"http": "http:///x"}"#, "(no host)"),
            (
                r#"{"http": "http://a b/"}"#,
                "a space or a control character",
            ),
            (r#"{"http": "http://u@h/"}"#, "user info"),
            (r#"{"http": "http://h:x/"}"#, "port \"x\""),
            (
                r#"{"http": ["http://h/"]}"#,
                "\"ready.http\" must be an http:// or https:// URL, found [\"http://h/\"]",
            ),
            (
                r#"{"exec": []}"#,
                r#""ready.exec" must be a non-empty list of strings, found []"#,
            ),
            (
                r#"{"exec": "/bin/true"}"#,
                r#""ready.exec" must be a non-empty list of strings, found "/bin/true""#,
            ),
            (
                r#"{"exec": ["/bin/x", 1]}"#,
                r#""ready.exec" must be a non-empty list"#,
            ),
            (
                r#"{"exec": ["true"]}"#,
                r#""ready.exec[0]" must be an absolute path, found "true""#,
            ),
            (
                r#"{"notify": true, "period": 0}"#,
                r#""ready.period" must be a number of seconds above 0, found 0"#,
            ),
            (
                r#"{"notify": true, "timeout": -1}"#,
                r#""ready.timeout" must be a number of seconds above 0, found -1"#,
            ),
            (
                r#"{"notify": true, "timeout": "5"}"#,
                r#""ready.timeout" must be a number of seconds above 0, found "5""#,
            ),
            (
                r#"{"notify": true, "timeout": 1e300}"#,
                r#""ready.timeout" must be a number of seconds above 0"#,
            ),
        ] {
            let got = problem(&format!(r#", "ready": {ready}"#));
            assert!(got.contains(expected), "{ready}: {got}");
        }
    }

    #[test]
    fn after_lists_names_once() {
        let order = parse(r#", "after": ["db", "cache", "db"]"#).expect("valid");
        assert_eq!(order.after, [name("db"), name("cache")]);
        assert_eq!(parse(r#", "after": []"#).map(|o| o.after), Ok(vec![]));
        assert_eq!(
            problem(r#", "after": "db""#),
            r#""after" must be a list of process names, found "db""#
        );
        assert_eq!(
            problem(r#", "after": ["db", 3]"#),
            r#""after[1]" must be a process name, found 3"#
        );
        assert_eq!(
            problem(r#", "after": ["a/b"]"#),
            r#""after[0]" is not a process name: name "a/b" contains '/'"#
        );
        assert!(problem(r#", "after": [".hidden"]"#).starts_with("\"after[0]\" is not"));
        assert!(problem(r#", "after": [""]"#).starts_with("\"after[0]\" is not"));
    }

    #[test]
    fn after_naming_itself_is_refused_where_the_name_is_known() {
        let order = parse(r#", "after": ["db", "web"]"#).expect("valid");
        assert_eq!(check_after(&name("db2"), &order), Ok(()));
        assert_eq!(
            check_after(&name("web"), &order),
            Err(r#""after" names the process itself ("web")"#.to_owned())
        );
    }

    #[test]
    fn a_watchdog_needs_notify() {
        let order = parse(r#", "ready": {"notify": true}, "watchdog": 2.5"#).expect("valid");
        assert_eq!(order.watchdog, Some(Duration::from_millis(2500)));
        let needs = r#""watchdog" needs "ready": {"notify": true} (it counts WATCHDOG=1 pings)"#;
        assert_eq!(problem(r#", "watchdog": 2"#), needs);
        assert_eq!(problem(r#", "ready": {"fd": 3}, "watchdog": 2"#), needs);
        assert_eq!(
            problem(r#", "ready": {"notify": true}, "watchdog": 0"#),
            r#""watchdog" must be a number of seconds above 0, found 0"#
        );
        assert_eq!(
            problem(r#", "ready": {"notify": true}, "watchdog": true"#),
            r#""watchdog" must be a number of seconds above 0, found true"#
        );
        // A wrong `ready` is its own problem; the watchdog adds none.
        assert_eq!(
            problem(r#", "ready": {"notify": false}, "watchdog": 2"#),
            r#""ready.notify" must be true, found false"#
        );
    }

    #[test]
    fn check_tcp_and_check_http_are_the_parsers_rules() {
        assert!(check_tcp("db:5432").is_ok() && check_tcp("db").is_err());
        assert!(check_http("https://h/x").is_ok() && check_http("h/x").is_err());
    }
}
