//! The start-order and readiness rules with the fake clock: waiting for
//! `after`, readiness per start, the ready timeout, the watchdog, cycles,
//! the reverse order of a shutdown and of a RESTART-ALL.

use super::view::{EventKind, State};
use super::*;

/// A config for `n` (`/bin/{n}`) with `extra` keys, as a change (added or
/// changed: the core treats both alike).
fn conf(n: &str, extra: &str) -> Input {
    configured_with(n, extra)
}

fn changed(n: &str, extra: &str) -> Input {
    let json = format!(r#"{{"args": ["/bin/{n}"], "group": ["g"]{extra}}}"#);
    Input::Config(Change::Changed {
        name: name(n),
        content: Arc::from(json.as_bytes()),
    })
}

fn after(deps: &[&str]) -> String {
    let list: Vec<String> = deps.iter().map(|d| format!("{d:?}")).collect();
    format!(r#", "after": [{}]"#, list.join(", "))
}

const NOTIFY: &str = r#", "ready": {"notify": true, "timeout": 5}"#;

fn notice(n: &str, pid: Pid, notice: Notice) -> Input {
    Input::Notice {
        name: name(n),
        pid,
        notice,
    }
}

fn events(h: &mut Harness) -> Vec<(String, EventKind)> {
    std::iter::from_fn(|| h.m.poll_event())
        .filter_map(|e| e.name.map(|n| (n.to_string(), e.kind)))
        .collect()
}

impl Harness {
    fn view_of(&self, n: &str) -> view::ProcView {
        self.m
            .view()
            .into_iter()
            .find(|v| v.name.as_str() == n)
            .expect("shown")
    }

    fn state(&self, n: &str) -> State {
        self.view_of(n).state
    }

    fn ready(&mut self, n: &str) -> Vec<Action> {
        let pid = self.pid(n);
        self.feed(notice(n, pid, Notice::Ready))
    }
}

fn names(list: &[&str]) -> Vec<Name> {
    list.iter().map(|n| name(n)).collect()
}

#[test]
fn a_process_waits_for_its_after_even_a_name_not_configured_yet() {
    let mut h = Harness::new();
    assert!(h.feed(conf("web", &after(&["db", "cache"]))).is_empty());
    let v = h.view_of("web");
    assert_eq!(v.state, State::Waiting);
    assert_eq!(v.waiting_for, names(&["db", "cache"]));
    assert!(!v.ready && v.pid.is_none());
    assert_eq!(h.m.poll_timeout(), None, "waiting has no deadline");
    // The cache comes, ready as soon as it runs (no "ready" key).
    assert_eq!(spawns(&h.feed(conf("cache", ""))), ["cache"]);
    assert_eq!(h.view_of("web").waiting_for, names(&["db"]));
    // The db comes; it must say it is ready.
    assert_eq!(spawns(&h.feed(conf("db", NOTIFY))), ["db"]);
    assert_eq!(h.state("web"), State::Waiting);
    assert!(!h.view_of("db").ready);
    assert_eq!(spawns(&h.ready("db")), ["web"]);
    assert!(h.view_of("db").ready && h.view_of("web").ready);
    let db = h.pid("db");
    let web = h.pid("web");
    assert_eq!(
        events(&mut h),
        vec![
            ("web".into(), EventKind::ConfigAdded),
            (
                "web".into(),
                EventKind::Waiting {
                    on: names(&["db", "cache"])
                }
            ),
            ("cache".into(), EventKind::ConfigAdded),
            (
                "cache".into(),
                EventKind::Spawned {
                    pid: h.m.pid_of(&name("cache")).expect("runs")
                }
            ),
            ("web".into(), EventKind::Waiting { on: names(&["db"]) }),
            ("db".into(), EventKind::ConfigAdded),
            ("db".into(), EventKind::Spawned { pid: db }),
            ("db".into(), EventKind::Ready { pid: db }),
            ("web".into(), EventKind::Spawned { pid: web }),
        ]
    );
}

#[test]
fn a_stale_notice_changes_nothing_and_readiness_is_per_start() {
    let mut h = Harness::new();
    h.feed(conf("db", NOTIFY));
    h.feed(conf("web", &after(&["db"])));
    let first = h.pid("db");
    // A notice from another pid (a previous child, a stranger) is stale.
    assert!(
        h.feed(notice("db", Pid(first.0 + 1000), Notice::Ready))
            .is_empty()
    );
    assert!(h.feed(notice("web", first, Notice::Ready)).is_empty());
    assert_eq!(h.state("web"), State::Waiting);
    assert!(!h.view_of("db").ready);
    assert_eq!(spawns(&h.ready("db")), ["web"]);
    // A second READY=1 is nothing new.
    assert!(h.feed(notice("db", first, Notice::Ready)).is_empty());
    // The db restarts: not ready until it says so again; web keeps running.
    h.now += 2 * SEC;
    let web = h.pid("web");
    assert_eq!(spawns(&h.exit(first)), ["db"]);
    assert!(!h.view_of("db").ready);
    assert_eq!(
        h.pid("web"),
        web,
        "a dependency's death does not stop its dependents"
    );
    // The old pid's READY=1, late, does not count for the new child.
    assert!(h.feed(notice("db", first, Notice::Ready)).is_empty());
    assert!(!h.view_of("db").ready);
    assert!(h.ready("db").is_empty());
    assert!(h.view_of("db").ready);
}

#[test]
fn status_text_is_kept_cleaned_and_cleared_at_each_start() {
    let mut h = Harness::new();
    h.feed(conf("db", NOTIFY));
    let pid = h.pid("db");
    h.feed(notice(
        "db",
        pid,
        Notice::Status("loading\n\x1b[31mred".into()),
    ));
    assert_eq!(
        h.view_of("db").status_text.as_deref(),
        Some("loading  [31mred")
    );
    let long = "x".repeat(1000);
    h.feed(notice("db", pid, Notice::Status(long)));
    assert_eq!(
        h.view_of("db").status_text.map(|t| t.len()),
        Some(view::MAX_STATUS_CHARS)
    );
    // A stale pid's text is dropped.
    h.feed(notice("db", Pid(1), Notice::Status("stale".into())));
    assert_ne!(h.view_of("db").status_text.as_deref(), Some("stale"));
    h.now += 2 * SEC;
    h.exit(pid);
    assert_eq!(
        h.view_of("db").status_text,
        None,
        "a new start has no text yet"
    );
}

#[test]
fn a_start_not_ready_within_its_timeout_is_stopped_and_backs_off() {
    let mut h = Harness::new();
    h.feed(conf("db", NOTIFY));
    let first = h.pid("db");
    assert_eq!(h.m.poll_timeout(), Some(h.now + 5 * SEC));
    assert!(h.advance(5 * SEC - Duration::from_millis(1)).is_empty());
    let acts = h.advance(Duration::from_millis(1));
    assert_eq!(signals(&acts), [(first, Sig::Term)]);
    assert_eq!(h.state("db"), State::Stopping);
    // It ignores the signal: SIGKILL after killtime.
    let acts = h.advance(Policy::default().kill_time);
    assert_eq!(signals(&acts), [(first, Sig::Kill)]);
    // Gone: an instant death, so the backoff's first delay (1 s) ...
    assert!(spawns(&h.exit_with(first, Exit::Signal(9))).is_empty());
    assert_eq!(h.state("db"), State::Backoff);
    assert_eq!(h.view_of("db").next_start, Some(h.now + SEC));
    let acts = h.advance(SEC);
    assert_eq!(spawns(&acts), ["db"]);
    // ... and doubling for the next failure (2 s).
    let second = h.pid("db");
    h.advance(5 * SEC);
    h.exit_with(second, Exit::Signal(15));
    assert_eq!(h.view_of("db").next_start, Some(h.now + 2 * SEC));
    let kinds: Vec<EventKind> = events(&mut h).into_iter().map(|(_, k)| k).collect();
    assert!(kinds.contains(&EventKind::ReadyTimeout { pid: first }));
    assert!(kinds.contains(&EventKind::ReadyTimeout { pid: second }));
    let at = kinds
        .iter()
        .position(|k| *k == EventKind::ReadyTimeout { pid: first })
        .expect("journaled");
    assert!(matches!(kinds[at + 1], EventKind::Stopping { pid, .. } if pid == first));
}

#[test]
fn a_ready_child_has_no_timeout_and_a_never_one_stays_exited() {
    let mut h = Harness::new();
    h.feed(conf("db", NOTIFY));
    h.ready("db");
    assert_eq!(h.m.poll_timeout(), None);
    assert!(h.advance(100 * SEC).is_empty());
    // "restart": "never": a ready timeout leaves it exited, not ready.
    let mut h = Harness::new();
    h.feed(conf("db", &format!(r#"{NOTIFY}, "restart": "never""#)));
    let pid = h.pid("db");
    h.advance(5 * SEC);
    h.exit_with(pid, Exit::Code(0));
    assert_eq!(h.state("db"), State::Exited);
    assert!(!h.view_of("db").ready, "a timed-out start is no success");
    assert!(h.advance(100 * SEC).is_empty());
}

const WATCHDOG: &str = r#", "ready": {"notify": true, "timeout": 5}, "watchdog": 2"#;

#[test]
fn a_quiet_watchdog_stops_the_child_and_the_restart_policy_decides() {
    let mut h = Harness::new();
    h.feed(conf("db", WATCHDOG));
    let pid = h.pid("db");
    // Pings before it is ready do not count; the ready timeout does.
    h.advance(SEC);
    h.feed(notice("db", pid, Notice::Watchdog));
    assert_eq!(h.m.poll_timeout(), Some(h.now + 4 * SEC));
    h.ready("db");
    assert_eq!(h.m.poll_timeout(), Some(h.now + 2 * SEC));
    // Each WATCHDOG=1 pushes the deadline.
    for _ in 0..5 {
        h.advance(SEC + SEC / 2);
        assert!(h.feed(notice("db", pid, Notice::Watchdog)).is_empty());
    }
    assert_eq!(h.m.poll_timeout(), Some(h.now + 2 * SEC));
    assert!(h.advance(2 * SEC - Duration::from_millis(1)).is_empty());
    let acts = h.advance(Duration::from_millis(1));
    assert_eq!(signals(&acts), [(pid, Sig::Term)]);
    assert!(!h.view_of("db").ready);
    let kinds: Vec<EventKind> = events(&mut h).into_iter().map(|(_, k)| k).collect();
    assert!(kinds.contains(&EventKind::WatchdogTimeout { pid }));
    assert!(!kinds.contains(&EventKind::ReadyTimeout { pid }));
    // It lived past the threshold: restarted at once, as after a crash.
    assert_eq!(spawns(&h.exit_with(pid, Exit::Signal(15))), ["db"]);
    // With "on-failure", a watchdog stop is a failure whatever its code.
    let mut h = Harness::new();
    h.feed(conf(
        "db",
        &format!(r#"{WATCHDOG}, "restart": "on-failure""#),
    ));
    let pid = h.pid("db");
    h.ready("db");
    h.advance(2 * SEC);
    assert_eq!(spawns(&h.exit_with(pid, Exit::Code(0))), ["db"]);
    // With "never", it stays exited.
    let mut h = Harness::new();
    h.feed(conf("db", &format!(r#"{WATCHDOG}, "restart": "never""#)));
    let pid = h.pid("db");
    h.ready("db");
    h.advance(2 * SEC);
    assert!(spawns(&h.exit_with(pid, Exit::Code(0))).is_empty());
    assert_eq!(h.state("db"), State::Exited);
}

#[test]
fn reloading_is_not_ready_until_ready_again_and_stopping_is_not_ready() {
    let mut h = Harness::new();
    h.feed(conf("db", NOTIFY));
    h.feed(conf("web", &after(&["db"])));
    let pid = h.pid("db");
    h.ready("db");
    h.feed(notice("db", pid, Notice::Reloading));
    assert!(!h.view_of("db").ready);
    // Within its ready timeout again.
    assert_eq!(h.m.poll_timeout(), Some(h.now + 5 * SEC));
    h.ready("db");
    assert!(h.view_of("db").ready);
    assert_eq!(
        events(&mut h)
            .iter()
            .filter(|(_, k)| matches!(k, EventKind::Ready { .. }))
            .count(),
        2
    );
    h.feed(notice("db", pid, Notice::Stopping));
    assert!(!h.view_of("db").ready);
    assert_eq!(
        h.m.poll_timeout(),
        None,
        "its own exit follows; no deadline"
    );
    assert_eq!(h.state("web"), State::Running, "a dependent keeps running");
}

#[test]
fn a_one_shot_dependency_must_exit_successfully() {
    for restart in ["never", "on-failure"] {
        let mut h = Harness::new();
        let task = format!(r#", "restart": "{restart}""#);
        h.feed(conf(
            "migrate",
            &format!(r#"{task}, "ready": {{"notify": true}}"#),
        ));
        h.feed(conf("web", &after(&["migrate"])));
        // Running, even ready: not enough for a one-shot task.
        h.ready("migrate");
        assert_eq!(h.state("web"), State::Waiting, "{restart}");
        let pid = h.pid("migrate");
        h.now += 2 * SEC;
        if restart == "never" {
            // A failure: web keeps waiting; a RESTART runs the task again.
            assert!(spawns(&h.exit_with(pid, Exit::Code(3))).is_empty());
            assert_eq!(h.state("web"), State::Waiting);
            assert!(!h.view_of("migrate").ready);
            assert_eq!(spawns(&h.feed(restart_msg("migrate"))), ["migrate"]);
        } else {
            // A failure is restarted; web waits on.
            assert_eq!(spawns(&h.exit_with(pid, Exit::Code(3))), ["migrate"]);
            assert_eq!(h.state("web"), State::Waiting);
        }
        let pid = h.pid("migrate");
        assert_eq!(
            spawns(&h.exit_with(pid, Exit::Code(0))),
            ["web"],
            "{restart}"
        );
        assert!(
            h.view_of("migrate").ready,
            "a finished one-shot task is ready"
        );
        assert_eq!(h.state("web"), State::Running);
        // Running the task again does not stop web.
        h.feed(restart_msg("migrate"));
        assert_eq!(h.state("web"), State::Running);
    }
    // Success is per its success_exit_codes.
    let mut h = Harness::new();
    h.feed(conf(
        "migrate",
        r#", "restart": "never", "success_exit_codes": [0, 2]"#,
    ));
    h.feed(conf("web", &after(&["migrate"])));
    let pid = h.pid("migrate");
    assert_eq!(spawns(&h.exit_with(pid, Exit::Code(2))), ["web"]);
}

#[test]
fn a_dependent_due_to_restart_waits_again_for_its_dependency() {
    let mut h = Harness::new();
    h.feed(conf("db", NOTIFY));
    h.feed(conf("web", &after(&["db"])));
    h.ready("db");
    let web = h.pid("web");
    let db = h.pid("db");
    // db dies and is not ready again yet; web crashes meanwhile.
    h.now += 2 * SEC;
    assert_eq!(spawns(&h.exit(db)), ["db"]);
    assert!(spawns(&h.exit(web)).is_empty(), "web waits for db");
    assert_eq!(h.state("web"), State::Waiting);
    assert_eq!(spawns(&h.ready("db")), ["web"]);
}

#[test]
fn a_dependency_removed_or_added_later_re_checks_its_dependents() {
    let mut h = Harness::new();
    h.feed(conf("web", &after(&["db"])));
    h.feed(conf("db", ""));
    assert_eq!(h.state("web"), State::Running);
    // A new after list is checked at once: web restarts into waiting.
    let web = h.pid("web");
    h.feed(changed("web", &after(&["db", "cache"])));
    assert!(spawns(&h.exit(web)).is_empty());
    assert_eq!(h.view_of("web").waiting_for, names(&["cache"]));
    h.feed(Input::Config(Change::Removed { name: name("db") }));
    assert_eq!(h.view_of("web").waiting_for, names(&["db", "cache"]));
    // A RESTART or a START checks again, and finds the same: no new event.
    assert!(h.feed(restart_msg("web")).is_empty());
    assert!(h.feed(start_msg("web")).is_empty());
    assert_eq!(h.state("web"), State::Waiting);
    let kinds: Vec<EventKind> = events(&mut h)
        .into_iter()
        .filter(|(n, _)| n == "web")
        .map(|(_, k)| k)
        .filter(|k| matches!(k, EventKind::Waiting { .. }))
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::Waiting { on: names(&["db"]) },
            EventKind::Waiting {
                on: names(&["cache"])
            },
            EventKind::Waiting {
                on: names(&["db", "cache"])
            },
        ],
        "journaled when it starts waiting and when the set changes, only"
    );
}

#[test]
fn an_after_naming_itself_is_invalid() {
    let mut h = Harness::new();
    assert!(h.feed(conf("web", &after(&["db", "web"]))).is_empty());
    let v = h.view_of("web");
    assert_eq!(v.state, State::Invalid);
    assert_eq!(
        v.problem.as_deref(),
        Some(r#""after" names the process itself ("web")"#)
    );
}

fn problem(h: &Harness, n: &str) -> Option<String> {
    h.view_of(n).problem
}

#[test]
fn a_cycle_makes_every_config_in_it_invalid_until_it_is_broken() {
    let mut h = Harness::new();
    h.feed(conf("web", &after(&["api"])));
    assert!(h.feed(conf("api", &after(&["web"]))).is_empty());
    let cycle = "after: api -> web -> api";
    for n in ["web", "api"] {
        assert_eq!(problem(&h, n).as_deref(), Some(cycle), "{n}");
    }
    // web was valid (waiting) until api closed the cycle; it is refused now.
    assert_eq!(h.state("api"), State::Invalid);
    assert!(events(&mut h).iter().any(|(n, k)| n == "web"
        && *k
            == EventKind::ConfigInvalid {
                problem: cycle.into()
            }));
    // Broken by an edit: both run, in order.
    assert_eq!(spawns(&h.feed(changed("api", ""))), ["api", "web"]);
    assert_eq!((problem(&h, "web"), problem(&h, "api")), (None, None));
    // Three: one problem naming the whole cycle; removing one breaks it.
    let mut h = Harness::new();
    h.feed(conf("a", &after(&["b"])));
    h.feed(conf("b", &after(&["c"])));
    h.feed(conf("c", &after(&["a"])));
    assert_eq!(problem(&h, "b").as_deref(), Some("after: a -> b -> c -> a"));
    h.feed(Input::Config(Change::Removed { name: name("a") }));
    assert_eq!((problem(&h, "b"), problem(&h, "c")), (None, None));
    assert_eq!(h.view_of("c").waiting_for, names(&["a"]));
    assert_eq!(h.view_of("b").waiting_for, names(&["c"]));
    // An unreadable file ends the cycle too when what is in effect for it
    // (for b, first seen in the cycle: nothing) has no part in one ...
    let mut h = Harness::new();
    h.feed(conf("a", &after(&["b"])));
    h.feed(conf("b", &after(&["a"])));
    h.feed(invalid("b"));
    assert_eq!(problem(&h, "a"), None);
    assert_eq!(problem(&h, "b").as_deref(), Some("invalid JSON at line 1"));
    assert_eq!(h.view_of("a").waiting_for, names(&["b"]));
    // ... but not when it does: a's previous config (after b) is in effect.
    let mut h = Harness::new();
    h.feed(conf("a", &after(&["b"])));
    h.feed(conf("b", &after(&["a"])));
    h.feed(invalid("a"));
    assert_eq!(problem(&h, "b").as_deref(), Some("after: a -> b -> a"));
}

#[test]
fn an_edit_closing_a_cycle_keeps_the_running_processes() {
    let mut h = Harness::new();
    h.feed(conf("api", ""));
    h.feed(conf("web", &after(&["api"])));
    let (api, web) = (h.pid("api"), h.pid("web"));
    // api's edit would close a cycle: refused, so it keeps its previous
    // config, running; web's config is in the cycle too, and keeps running.
    assert!(h.feed(changed("api", &after(&["web"]))).is_empty());
    assert_eq!(
        problem(&h, "api").as_deref(),
        Some("after: api -> web -> api")
    );
    assert_eq!(
        problem(&h, "web").as_deref(),
        Some("after: api -> web -> api")
    );
    assert_eq!((h.pid("api"), h.pid("web")), (api, web));
    assert_eq!(h.state("api"), State::Running);
    // Fixed: the problems go, and nothing needs a restart.
    assert!(h.feed(changed("api", r#", "env": {"X": "1"}"#)).len() == 1);
    assert_eq!((problem(&h, "api"), problem(&h, "web")), (None, None));
    assert_eq!(h.pid("web"), web);
}

#[test]
fn a_deep_chain_and_a_wide_fan_are_handled_in_linear_time() {
    // Built in the worst order for a naive checker: each name arrives
    // after everything it needs, and the reverse.
    let n = 1000;
    let chain = |i: usize| {
        if i == 0 {
            String::new()
        } else {
            after(&[&format!("p{:04}", i - 1)])
        }
    };
    for reverse in [false, true] {
        let mut h = Harness::new();
        let mut started = Vec::new();
        let order: Vec<usize> = if reverse {
            (0..n).rev().collect()
        } else {
            (0..n).collect()
        };
        for i in order {
            started.extend(spawns(&h.feed(conf(&format!("p{i:04}"), &chain(i)))));
        }
        let expected: Vec<String> = (0..n).map(|i| format!("p{i:04}")).collect();
        assert_eq!(started, expected, "started in after order");
        // Closing the chain into a ring: every config in it is refused,
        // each with the same one problem.
        h.feed(changed("p0000", &after(&[&format!("p{:04}", n - 1)])));
        let v = h.view_of("p0500");
        assert!(
            v.problem
                .as_deref()
                .is_some_and(|p| p.starts_with("after: p0000 -> p0999 -> p0998"))
        );
        // Shut down: one at a time, from the end of the chain.
        let acts = h.feed(Input::Shutdown);
        assert_eq!(
            signals(&acts),
            [(h.pid(&format!("p{:04}", n - 1)), Sig::Term)]
        );
    }
    // A thousand processes all after one.
    let mut h = Harness::new();
    for i in 0..n {
        h.feed(conf(&format!("w{i:04}"), &after(&["db"])));
    }
    assert_eq!(spawns(&h.feed(conf("db", NOTIFY))), ["db"]);
    assert_eq!(spawns(&h.ready("db")).len(), n);
}

/// db <- api <- web, each ready at once, plus `solo` (no after).
fn chain3() -> Harness {
    let mut h = Harness::new();
    h.feed(conf("web", &after(&["api"])));
    h.feed(conf("api", &after(&["db"])));
    h.feed(conf("db", ""));
    h.feed(conf("solo", ""));
    h
}

#[test]
fn shutdown_stops_dependents_before_their_dependencies() {
    let mut h = chain3();
    let (db, api, web, solo) = (h.pid("db"), h.pid("api"), h.pid("web"), h.pid("solo"));
    let acts = h.feed(Input::Shutdown);
    assert_eq!(signals(&acts), [(solo, Sig::Term), (web, Sig::Term)]);
    assert_eq!(h.state("api"), State::Running, "api waits for web to exit");
    assert!(signals(&h.exit(solo)).is_empty());
    assert_eq!(signals(&h.exit(web)), [(api, Sig::Term)]);
    // A dependent's whole process group must be gone, too.
    assert!(signals(&h.exit_leaving_group(api)).is_empty());
    assert_eq!(signals(&h.gone(api)), [(db, Sig::Term)]);
    assert_eq!(exits(&h.exit(db)), [0]);
}

#[test]
fn a_dependent_killed_at_killtime_releases_its_dependency() {
    let mut h = chain3();
    let (api, web, solo) = (h.pid("api"), h.pid("web"), h.pid("solo"));
    h.feed(Input::Shutdown);
    let acts = h.advance(Policy::default().kill_time);
    assert_eq!(signals(&acts), [(solo, Sig::Kill), (web, Sig::Kill)]);
    assert_eq!(
        signals(&h.exit_with(web, Exit::Signal(9))),
        [(api, Sig::Term)]
    );
}

#[test]
fn a_second_shutdown_kills_everything_at_once() {
    let mut h = chain3();
    let (db, api, web, solo) = (h.pid("db"), h.pid("api"), h.pid("web"), h.pid("solo"));
    h.feed(Input::Shutdown);
    let acts = h.feed(Input::Shutdown);
    let sent = signals(&acts);
    for pid in [db, api, web, solo] {
        assert!(
            sent.contains(&(pid, Sig::Kill)),
            "{pid:?} not killed: {sent:?}"
        );
    }
    for pid in [db, api] {
        assert!(
            sent.contains(&(pid, Sig::Term)),
            "{pid:?}: stop signal first"
        );
    }
    h.exit(db);
    h.exit(api);
    h.exit(web);
    assert_eq!(exits(&h.exit(solo)), [0]);
}

#[test]
fn restart_all_stops_in_reverse_order_and_starts_in_after_order() {
    let mut h = chain3();
    let (db, api, web, solo) = (h.pid("db"), h.pid("api"), h.pid("web"), h.pid("solo"));
    let acts = h.feed(msg(Message::RestartAll));
    assert_eq!(signals(&acts), [(solo, Sig::Term), (web, Sig::Term)]);
    assert_eq!(spawns(&h.exit(solo)), ["solo"]);
    // web is down: it waits for api, which is stopped now.
    assert_eq!(signals(&h.exit(web)), [(api, Sig::Term)]);
    assert_eq!(h.state("web"), State::Waiting);
    assert_eq!(signals(&h.exit(api)), [(db, Sig::Term)]);
    assert_eq!(h.view_of("api").waiting_for, names(&["db"]));
    // db comes back first, then api, then web.
    assert_eq!(spawns(&h.exit(db)), ["db", "api", "web"]);
    // RESTART-GROUP (all four are in group "g") does the same.
    let (db, api, web, solo) = (h.pid("db"), h.pid("api"), h.pid("web"), h.pid("solo"));
    let acts = h.feed(msg(Message::RestartGroup { group: "g".into() }));
    assert_eq!(signals(&acts), [(solo, Sig::Term), (web, Sig::Term)]);
    h.exit(solo);
    h.exit(web);
    h.exit(api);
    assert_eq!(spawns(&h.exit(db)), ["db", "api", "web"]);
}

#[test]
fn a_dependency_waiting_for_readiness_after_restart_all_holds_its_dependents() {
    let mut h = Harness::new();
    h.feed(conf("db", NOTIFY));
    h.feed(conf("web", &after(&["db"])));
    h.ready("db");
    let (db, web) = (h.pid("db"), h.pid("web"));
    assert_eq!(
        signals(&h.feed(msg(Message::RestartAll))),
        [(web, Sig::Term)]
    );
    assert_eq!(signals(&h.exit(web)), [(db, Sig::Term)]);
    assert_eq!(spawns(&h.exit(db)), ["db"]);
    assert_eq!(h.state("web"), State::Waiting);
    assert_eq!(spawns(&h.ready("db")), ["web"]);
}

#[test]
fn a_colony_without_after_restarts_and_stops_as_before() {
    // Every name at once, in name order, as RESTART-ALL always did.
    let mut h = Harness::new();
    for n in ["c", "a", "b"] {
        h.configure(n, &format!("/bin/{n}"));
    }
    let pids = [h.pid("a"), h.pid("b"), h.pid("c")];
    let acts = h.feed(msg(Message::RestartAll));
    assert_eq!(signals(&acts), pids.map(|p| (p, Sig::Term)));
    let acts = h.feed(Input::Shutdown);
    assert_eq!(signals(&acts), [], "already stopping");
    let acts = h.feed(Input::Shutdown);
    assert_eq!(signals(&acts), pids.map(|p| (p, Sig::Kill)));
}

#[test]
fn an_ordered_stop_holds_back_only_what_runs() {
    // db backs off while web runs: a shutdown forgets db at once (its
    // backoff must not start it) and stops web.
    let mut h = Harness::new();
    h.feed(conf("db", ""));
    h.feed(conf("web", &after(&["db"])));
    let (db, web) = (h.pid("db"), h.pid("web"));
    assert!(spawns(&h.exit(db)).is_empty());
    assert_eq!(h.state("db"), State::Backoff);
    assert_eq!(signals(&h.feed(Input::Shutdown)), [(web, Sig::Term)]);
    assert!(
        h.advance(10 * SEC)
            .iter()
            .all(|a| !matches!(a, Action::Spawn { .. }))
    );
    assert_eq!(exits(&h.exit(web)), [0]);
    // A held-back dependency that dies meanwhile is not signalled after.
    let mut h = chain3();
    let (db, api, web) = (h.pid("db"), h.pid("api"), h.pid("web"));
    h.feed(Input::Shutdown);
    h.exit(api);
    h.exit(db);
    let acts = h.exit(web);
    assert!(signals(&acts).is_empty(), "{acts:?}");
}

#[test]
fn the_view_says_who_is_ready() {
    let mut h = Harness::new();
    h.feed(conf("db", r#", "ready": {"tcp": "localhost:5432"}"#));
    h.feed(conf("plain", ""));
    h.feed(conf("migrate", r#", "restart": "never""#));
    h.feed(conf("web", &after(&["migrate"])));
    assert!(!h.view_of("db").ready, "not said yet");
    h.ready("db");
    assert!(h.view_of("db").ready);
    // A one-shot task running counts as ready (it has no "ready" key),
    // but web waits for it to finish.
    assert!(h.view_of("migrate").ready);
    assert!(!h.view_of("web").ready, "web waits");
    let pid = h.pid("migrate");
    h.exit_with(pid, Exit::Code(0));
    assert!(h.view_of("migrate").ready, "finished");
    assert!(h.view_of("web").ready);
    // A process without "ready" ignores what it says of itself.
    let plain = h.pid("plain");
    h.feed(notice("plain", plain, Notice::Reloading));
    assert!(h.view_of("plain").ready);
}

#[test]
fn a_dependent_removed_during_a_shutdown_still_releases_its_dependency() {
    let mut h = chain3();
    let (db, api, web, solo) = (h.pid("db"), h.pid("api"), h.pid("web"), h.pid("solo"));
    assert_eq!(
        signals(&h.feed(Input::Shutdown)),
        [(solo, Sig::Term), (web, Sig::Term)]
    );
    // web's config goes while it stops: the order of the stop in progress
    // is the one it began with.
    assert!(signals(&h.feed(Input::Config(Change::Removed { name: name("web") }))).is_empty());
    h.exit(solo);
    assert_eq!(signals(&h.exit(web)), [(api, Sig::Term)]);
    assert_eq!(signals(&h.exit(api)), [(db, Sig::Term)]);
    assert_eq!(exits(&h.exit(db)), [0]);
}

#[test]
fn a_dependent_edited_during_restart_all_still_releases_its_dependency() {
    let mut h = chain3();
    let (db, api, web, solo) = (h.pid("db"), h.pid("api"), h.pid("web"), h.pid("solo"));
    assert_eq!(
        signals(&h.feed(msg(Message::RestartAll))),
        [(solo, Sig::Term), (web, Sig::Term)]
    );
    // web drops its after while it stops.
    assert!(signals(&h.feed(changed("web", ""))).is_empty());
    h.exit(solo);
    let acts = h.exit(web);
    assert_eq!(
        spawns(&acts),
        ["web"],
        "no after any more: it starts at once"
    );
    assert_eq!(signals(&acts), [(api, Sig::Term)]);
    assert_eq!(signals(&h.exit(api)), [(db, Sig::Term)]);
    assert_eq!(spawns(&h.exit(db)), ["db", "api"]);
    assert_eq!(h.state("api"), State::Running);
}

#[test]
fn configs_outside_a_known_cycle_do_not_search_the_colony_again() {
    let n = 1000;
    let ring = |i: usize| format!("p{i:04}");
    let mut h = Harness::new();
    for i in 0..n {
        let deps = if i == 0 {
            String::new()
        } else {
            after(&[&ring(i - 1)])
        };
        h.feed(conf(&ring(i), &deps));
    }
    h.feed(changed("p0000", &after(&[&ring(n - 1)])));
    let cycle = problem(&h, "p0500").expect("in the ring");
    assert!(cycle.starts_with("after: p0000 -> p0999 -> p0998"));
    let scans = h.m.cycle_scans;
    // A thousand unrelated configs come, change, go bad and go: none is in
    // the ring, none closes a cycle, so none costs a pass over the colony.
    for i in 0..n {
        assert_eq!(spawns(&h.feed(conf(&format!("u{i:04}"), ""))).len(), 1);
    }
    for i in 0..n / 10 {
        h.feed(changed(&format!("u{i:04}"), r#", "env": {"X": "1"}"#));
        h.feed(invalid(&format!("u{:04}", i + 100)));
        h.feed(Input::Config(Change::Removed {
            name: name(&format!("u{:04}", i + 200)),
        }));
    }
    assert_eq!(h.m.cycle_scans, scans, "no pass over the colony");
    assert_eq!(problem(&h, "p0500"), Some(cycle.clone()));
    assert_eq!(h.state("u0999"), State::Running);
    // A file that closes a new cycle is still found ...
    h.feed(conf("x", &after(&["y"])));
    h.feed(conf("y", &after(&["x"])));
    assert_eq!(problem(&h, "x").as_deref(), Some("after: x -> y -> x"));
    assert_eq!(problem(&h, "p0500"), Some(cycle));
    // ... and an edit or a removal in a known one still breaks it.
    h.feed(Input::Config(Change::Removed { name: name("y") }));
    assert_eq!(problem(&h, "x"), None);
    h.feed(changed("p0000", ""));
    assert_eq!(problem(&h, "p0500"), None);
    assert_eq!(h.state("p0999"), State::Running);
}

#[test]
fn stopping_before_ready_keeps_the_ready_timeout() {
    let mut h = Harness::new();
    h.feed(conf("db", NOTIFY));
    h.feed(conf("web", &after(&["db"])));
    let pid = h.pid("db");
    h.advance(SEC);
    // STOPPING=1 before READY=1, and then it hangs: its ready timeout
    // still stops it, so that its dependents do not wait forever.
    assert!(h.feed(notice("db", pid, Notice::Stopping)).is_empty());
    assert!(!h.view_of("db").ready);
    assert_eq!(h.m.poll_timeout(), Some(h.now + 4 * SEC));
    assert_eq!(signals(&h.advance(4 * SEC)), [(pid, Sig::Term)]);
    let kinds: Vec<EventKind> = events(&mut h).into_iter().map(|(_, k)| k).collect();
    assert!(kinds.contains(&EventKind::ReadyTimeout { pid }));
    assert_eq!(h.state("web"), State::Waiting);
    // Its restart, ready this time, lets web start.
    assert!(spawns(&h.exit_with(pid, Exit::Signal(15))).is_empty());
    assert_eq!(spawns(&h.advance(SEC)), ["db"]);
    assert_eq!(spawns(&h.ready("db")), ["web"]);
}

#[test]
fn a_dependency_waiting_its_turn_in_a_shutdown_is_not_stopped_by_its_watchdog() {
    let mut h = Harness::new();
    h.feed(conf("db", r#", "ready": {"notify": true}, "watchdog": 2"#));
    h.ready("db");
    h.feed(conf("web", &after(&["db"])));
    let (db, web) = (h.pid("db"), h.pid("web"));
    let acts = h.feed(Input::Shutdown);
    assert_eq!(signals(&acts), [(web, Sig::Term)]);
    // web takes its time; db's pings stop, as it waits its turn.
    let acts = h.advance(Duration::from_secs(3));
    assert!(signals(&acts).is_empty(), "{acts:?}");
    assert_eq!(signals(&h.exit(web)), [(db, Sig::Term)]);
    assert_eq!(exits(&h.exit(db)), [0]);
}
