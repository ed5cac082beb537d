//! The core tests of the monitor: every policy rule with a fake clock, and
//! property tests over random input sequences.

use super::*;

const SEC: Duration = Duration::from_secs(1);

/// A monitor with a fake clock and a fake pid allocator.
struct Harness {
    m: Monitor,
    now: Instant,
    next_pid: i32,
}

/// The fake clock's origin: any instant will do, it only moves by hand.
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

/// A valid config file for `n` running `args`, in restart group `g`, as
/// the config directory's reader reports it.
fn configured(n: &str, args: &str) -> Input {
    let json = format!(r#"{{"args": ["{args}"], "group": ["g"]}}"#);
    Input::Config(Change::Added {
        name: name(n),
        content: Arc::from(json.as_bytes()),
    })
}

fn name(s: &str) -> Name {
    Name::new(s).expect("valid name")
}

impl Harness {
    fn new() -> Self {
        Harness {
            m: Monitor::new(Policy::default()),
            now: epoch(),
            next_pid: 100,
        }
    }

    /// Feeds an input and answers every Spawn the way the shell does,
    /// returning the actions other than spawns plus the spawned pids.
    fn feed(&mut self, input: Input) -> Vec<Action> {
        self.m.handle(self.now, input);
        self.drain()
    }

    fn drain(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        while let Some(action) = self.m.poll_action() {
            if let Action::Spawn { name, .. } = &action {
                self.next_pid += 1;
                let pid = Pid(self.next_pid);
                self.m.handle(
                    self.now,
                    Input::Spawned {
                        name: name.clone(),
                        pid,
                    },
                );
            }
            out.push(action);
        }
        out
    }

    fn advance(&mut self, d: Duration) -> Vec<Action> {
        self.now += d;
        self.m.handle_timeout(self.now);
        self.drain()
    }

    fn configure(&mut self, n: &str, args: &str) -> Vec<Action> {
        self.feed(configured(n, args))
    }

    fn pid(&self, n: &str) -> Pid {
        self.m.pid_of(&name(n)).expect("running")
    }

    fn exit(&mut self, pid: Pid) -> Vec<Action> {
        self.feed(Input::Exited {
            pid,
            status: Exit::Code(1),
            group_alive: false,
        })
    }

    /// The leader `pid` exits while the rest of its group lives on.
    fn exit_leaving_group(&mut self, pid: Pid) -> Vec<Action> {
        self.feed(Input::Exited {
            pid,
            status: Exit::Code(0),
            group_alive: true,
        })
    }

    /// The shell found the group of `pid` empty.
    fn gone(&mut self, pid: Pid) -> Vec<Action> {
        self.feed(Input::GroupGone { pid })
    }

    fn draining(&self) -> Vec<Pid> {
        self.m.draining().collect()
    }
}

fn spawns(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Spawn { name, .. } => Some(name.to_string()),
            _ => None,
        })
        .collect()
}

fn signals(actions: &[Action]) -> Vec<(Pid, Sig)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Signal { pid, sig, .. } => Some((*pid, *sig)),
            _ => None,
        })
        .collect()
}

#[test]
fn exits_display_as_a_code_or_a_signal_name() {
    let shown = |e: Exit| e.to_string();
    assert_eq!(shown(Exit::Code(0)), "exit code 0");
    assert_eq!(shown(Exit::Code(3)), "exit code 3");
    assert_eq!(shown(Exit::Signal(1)), "killed by SIGHUP");
    assert_eq!(shown(Exit::Signal(9)), "killed by SIGKILL");
    assert_eq!(shown(Exit::Signal(15)), "killed by SIGTERM");
    assert_eq!(shown(Exit::Signal(31)), "killed by SIGSYS");
    assert_eq!(shown(Exit::Signal(34)), "killed by signal 34");
    assert_eq!(shown(Exit::Signal(0)), "killed by signal 0");
    assert_eq!(shown(Exit::Signal(-1)), "killed by signal -1");
    assert_eq!(format!("{:#}", Exit::Code(0)), "exited with code 0");
    assert_eq!(format!("{:#}", Exit::Code(2)), "exited with code 2");
    assert_eq!(format!("{:#}", Exit::Signal(15)), "killed by SIGTERM");
    assert_eq!(format!("{:#}", Exit::Signal(34)), "killed by signal 34");
    assert!(Exit::Code(0).is_success());
    assert!(!Exit::Code(1).is_success());
    assert!(!Exit::Signal(15).is_success());
}

#[test]
fn a_new_config_starts_its_process_at_once() {
    let mut h = Harness::new();
    assert_eq!(spawns(&h.configure("a", "/bin/a")), ["a"]);
    assert_eq!(h.m.name_of(h.pid("a")), Some(&name("a")));
    assert_eq!(h.m.poll_timeout(), None);
}

#[test]
fn a_bad_config_is_invalid_not_a_removal() {
    let mut h = Harness::new();
    h.configure("web", "/bin/web");
    let pid = h.pid("web");
    let bad = |n: &str| {
        Input::Config(Change::Changed {
            name: name(n),
            content: Arc::from(&b"{"[..]),
        })
    };
    assert!(h.feed(bad("web")).is_empty(), "a bad file stopped it");
    assert!(h.advance(100 * SEC).is_empty());
    assert_eq!(h.pid("web"), pid);
    // A name first seen with a bad file does not run until it is fixed.
    assert!(h.feed(bad("new")).is_empty());
    assert_eq!(h.m.pid_of(&name("new")), None);
    assert_eq!(spawns(&h.configure("new", "/bin/new")), ["new"]);
}

#[test]
fn the_same_config_again_changes_nothing() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    assert!(h.configure("a", "/bin/a").is_empty());
}

#[test]
fn a_death_after_the_threshold_restarts_at_once_with_the_minimum_delay() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    h.now += 2 * SEC;
    assert_eq!(spawns(&h.exit(pid)), ["a"]);
    assert_ne!(h.pid("a"), pid);
}

#[test]
fn a_death_at_exactly_the_threshold_is_not_instant() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    h.now += Policy::default().threshold;
    assert_eq!(spawns(&h.exit(pid)), ["a"], "restarted at once");
}

#[test]
fn instant_deaths_back_off_doubling_up_to_the_cap() {
    let mut h = Harness::new();
    h.m = Monitor::new(Policy {
        max_restart_delay: 5 * SEC,
        ..Policy::default()
    });
    h.configure("a", "/bin/a");
    // Waits: 1, 2, 4, then capped at 5.
    for wait in [1, 2, 4, 5, 5] {
        let pid = h.pid("a");
        assert!(spawns(&h.exit(pid)).is_empty(), "an instant death waits");
        assert_eq!(h.m.poll_timeout(), Some(h.now + wait * SEC));
        assert!(spawns(&h.advance(wait * SEC - Duration::from_millis(1))).is_empty());
        assert_eq!(spawns(&h.advance(Duration::from_millis(1))), ["a"]);
    }
    // Living past the threshold resets the delay.
    h.now += 2 * SEC;
    let pid = h.pid("a");
    assert_eq!(spawns(&h.exit(pid)), ["a"]);
    let pid = h.pid("a");
    h.exit(pid);
    assert_eq!(h.m.poll_timeout(), Some(h.now + SEC));
}

#[test]
fn a_failed_spawn_is_an_instant_death() {
    let mut h = Harness::new();
    h.m.handle(h.now, configured("a", "/nope"));
    assert!(matches!(h.m.poll_action(), Some(Action::Spawn { .. })));
    h.m.handle(
        h.now,
        Input::SpawnFailed {
            name: name("a"),
            error: "not found".into(),
        },
    );
    assert_eq!(h.m.poll_timeout(), Some(h.now + SEC));
    h.now += SEC;
    h.m.handle_timeout(h.now);
    assert!(matches!(h.m.poll_action(), Some(Action::Spawn { .. })));
    h.m.handle(
        h.now,
        Input::SpawnFailed {
            name: name("a"),
            error: "not found".into(),
        },
    );
    assert_eq!(h.m.poll_timeout(), Some(h.now + 2 * SEC));
    // Fixing the config starts it at once with a fresh delay.
    assert_eq!(spawns(&h.configure("a", "/bin/a")), ["a"]);
}

#[test]
fn a_changed_config_stops_the_old_process_then_starts_the_new_one() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let old = h.pid("a");
    let acts = h.configure("a", "/bin/b");
    assert_eq!(signals(&acts), [(old, Sig::Term)]);
    assert!(spawns(&acts).is_empty(), "no overlap of old and new");
    let acts = h.exit(old);
    match &acts[..] {
        [Action::Spawn { spec, .. }] => assert_eq!(spec.args, ["/bin/b"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_removed_config_stops_its_process_for_good() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    let acts = h.feed(Input::Config(Change::Removed { name: name("a") }));
    assert_eq!(signals(&acts), [(pid, Sig::Term)]);
    assert!(h.exit(pid).is_empty());
    assert_eq!(h.m.poll_timeout(), None);
    assert_eq!(h.m.name_of(pid), None);
}

#[test]
fn removing_during_backoff_cancels_the_restart() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    h.exit(pid);
    assert!(h.m.poll_timeout().is_some());
    assert!(
        h.feed(Input::Config(Change::Removed { name: name("a") }))
            .is_empty()
    );
    assert_eq!(h.m.poll_timeout(), None);
    assert!(h.advance(10 * SEC).is_empty());
}

#[test]
fn killtime_follows_sigterm_with_sigkill() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    h.feed(Input::Message(Message::Restart { name: name("a") }));
    assert_eq!(h.m.poll_timeout(), Some(h.now + 5 * SEC));
    assert!(h.advance(5 * SEC - Duration::from_millis(1)).is_empty());
    assert_eq!(
        signals(&h.advance(Duration::from_millis(1))),
        [(pid, Sig::Kill)]
    );
    assert_eq!(h.m.poll_timeout(), None, "one SIGKILL only");
    // The restart policy applies: it lived long, so it restarts at once.
    assert_eq!(spawns(&h.exit(pid)), ["a"]);
}

#[test]
fn a_restarted_young_process_is_no_instant_death() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    h.now += Duration::from_millis(10);
    h.feed(Input::Message(Message::Restart { name: name("a") }));
    h.now += Duration::from_millis(10);
    assert_eq!(spawns(&h.exit(pid)), ["a"], "restarted at once");
    // Its own instant death afterwards waits the minimum, not double.
    let pid = h.pid("a");
    h.exit(pid);
    assert_eq!(h.m.poll_timeout(), Some(h.now + SEC));
}

/// Three instant deaths in a row: the next one would wait 8 s.
fn grown_delay(h: &mut Harness) {
    h.configure("a", "/bin/a");
    for wait in [1, 2, 4] {
        let pid = h.pid("a");
        h.exit(pid);
        h.advance(wait * SEC);
    }
}

#[test]
fn a_restart_keeps_a_grown_delay_and_a_config_change_resets_it() {
    let mut h = Harness::new();
    grown_delay(&mut h);
    let pid = h.pid("a");
    h.feed(Input::Message(Message::Restart { name: name("a") }));
    assert_eq!(spawns(&h.exit(pid)), ["a"]);
    let pid = h.pid("a");
    h.exit(pid);
    assert_eq!(h.m.poll_timeout(), Some(h.now + 8 * SEC), "delay kept");

    let mut h = Harness::new();
    grown_delay(&mut h);
    let pid = h.pid("a");
    h.configure("a", "/bin/a2");
    assert_eq!(spawns(&h.exit(pid)), ["a"]);
    let pid = h.pid("a");
    h.exit(pid);
    assert_eq!(
        h.m.poll_timeout(),
        Some(h.now + SEC),
        "a new config starts afresh"
    );
}

#[test]
fn a_config_change_while_stopping_starts_the_new_config_afresh() {
    let mut h = Harness::new();
    grown_delay(&mut h);
    let pid = h.pid("a");
    h.feed(Input::Message(Message::Restart { name: name("a") }));
    assert!(h.configure("a", "/bin/a2").is_empty(), "already stopping");
    match &h.exit(pid)[..] {
        [Action::Spawn { spec, .. }] => assert_eq!(spec.args, ["/bin/a2"]),
        other => panic!("{other:?}"),
    }
    let pid = h.pid("a");
    h.exit(pid);
    assert_eq!(
        h.m.poll_timeout(),
        Some(h.now + SEC),
        "the delay starts afresh"
    );
}

#[test]
fn a_thousand_restarts_in_one_batch_are_one_restart() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    for i in 0..1000 {
        let message = match i % 3 {
            0 => Message::Restart { name: name("a") },
            1 => Message::RestartAll,
            _ => Message::RestartGroup { group: "g".into() },
        };
        h.m.handle(h.now, Input::Message(message));
    }
    let acts = h.drain();
    assert_eq!(
        acts,
        [Action::Signal {
            name: name("a"),
            pid,
            sig: Sig::Term
        }]
    );
    let acts = h.exit(pid);
    assert_eq!(spawns(&acts), ["a"]);
    assert_eq!(acts.len(), 1, "{acts:?}");
    let pid = h.pid("a");
    assert!(h.advance(10 * SEC).is_empty(), "it stays running");
    assert_eq!(h.pid("a"), pid);
    h.now += Duration::from_millis(10);
    // Restarts asked while it starts, before the shell answered, add nothing.
    h.m.handle(h.now, Input::Message(Message::Restart { name: name("a") }));
    h.m.handle(
        h.now,
        Input::Exited {
            pid,
            status: Exit::Signal(15),
            group_alive: false,
        },
    );
    for _ in 0..1000 {
        h.m.handle(h.now, Input::Message(Message::Restart { name: name("a") }));
    }
    let acts = h.drain();
    assert_eq!(spawns(&acts), ["a"]);
    assert_eq!(
        signals(&acts),
        [(pid, Sig::Term)],
        "only the first one stopped it"
    );
    let pid = h.pid("a");
    h.exit(pid);
    assert_eq!(
        h.m.poll_timeout(),
        Some(h.now + SEC),
        "delay at the minimum"
    );
}

#[test]
fn restarts_over_time_never_grow_the_delay() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    for _ in 0..13 {
        let pid = h.pid("a");
        let acts = h.feed(Input::Message(Message::Restart { name: name("a") }));
        assert_eq!(signals(&acts), [(pid, Sig::Term)]);
        h.now += Duration::from_millis(10);
        assert_eq!(spawns(&h.exit(pid)), ["a"], "restarted at once");
        h.now += Duration::from_millis(90);
    }
    let pid = h.pid("a");
    h.exit(pid);
    assert_eq!(
        h.m.poll_timeout(),
        Some(h.now + SEC),
        "delay at the minimum"
    );
}

#[test]
fn a_restart_while_draining_skips_the_backoff_and_keeps_the_delay() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    h.exit_leaving_group(pid);
    assert!(
        h.feed(Input::Message(Message::Restart { name: name("a") }))
            .is_empty()
    );
    assert_eq!(spawns(&h.gone(pid)), ["a"], "no wait: it was asked for");
    let pid = h.pid("a");
    h.exit(pid);
    assert_eq!(
        h.m.poll_timeout(),
        Some(h.now + 2 * SEC),
        "the doubled delay stands"
    );
}

#[test]
fn restart_during_backoff_starts_now_and_keeps_the_delay() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    h.exit(pid);
    let acts = h.feed(Input::Message(Message::Restart { name: name("a") }));
    assert_eq!(spawns(&acts), ["a"]);
    let pid = h.pid("a");
    h.exit(pid);
    assert_eq!(
        h.m.poll_timeout(),
        Some(h.now + 2 * SEC),
        "delay kept doubling"
    );
}

#[test]
fn restart_of_an_unknown_name_does_nothing() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    assert!(
        h.feed(Input::Message(Message::Restart { name: name("b") }))
            .is_empty()
    );
    // A name that is no valid name ("../x") never gets this far: the
    // message parser refuses it (message.rs: a_restart_of_an_invalid_name_is_no_message).
}

#[test]
fn restart_all_and_restart_group() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    h.configure("b", "/bin/b");
    h.feed(Input::Config(Change::Added {
        name: name("c"),
        content: Arc::from(&br#"{"args": ["/bin/c"]}"#[..]),
    }));
    let (a, b, c) = (h.pid("a"), h.pid("b"), h.pid("c"));
    let acts = h.feed(Input::Message(Message::RestartGroup { group: "g".into() }));
    assert_eq!(signals(&acts), [(a, Sig::Term), (b, Sig::Term)]);
    for pid in [a, b] {
        h.now += 2 * SEC;
        h.exit(pid);
    }
    let acts = h.feed(Input::Message(Message::RestartAll));
    let (a, b) = (h.pid("a"), h.pid("b"));
    assert_eq!(
        signals(&acts),
        [(a, Sig::Term), (b, Sig::Term), (c, Sig::Term)]
    );
    let acts = h.feed(Input::Message(Message::RestartGroup {
        group: "none".into(),
    }));
    assert!(acts.is_empty());
}

#[test]
fn inputs_while_starting_are_applied_once_it_has_a_pid() {
    let mut h = Harness::new();
    // Removed before the shell spawned it: stopped as soon as it runs.
    h.m.handle(h.now, configured("a", "/bin/a"));
    h.m.handle(h.now, Input::Config(Change::Removed { name: name("a") }));
    let acts = h.drain();
    let pid = Pid(h.next_pid);
    assert_eq!(signals(&acts), [(pid, Sig::Term)]);
    assert!(h.exit(pid).is_empty());
    // Changed before it had a pid: the new spec replaces it.
    h.m.handle(h.now, configured("b", "/bin/b1"));
    h.m.handle(h.now, configured("b", "/bin/b2"));
    let acts = h.drain();
    let pid = Pid(h.next_pid);
    assert_eq!(signals(&acts), [(pid, Sig::Term)]);
    match &h.exit(pid)[..] {
        [Action::Spawn { spec, .. }] => assert_eq!(spec.args, ["/bin/b2"]),
        other => panic!("{other:?}"),
    }
    // Restarted before it had a pid: it is starting anyway, nothing more.
    h.m.handle(h.now, configured("c", "/bin/c"));
    h.m.handle(h.now, Input::Message(Message::Restart { name: name("c") }));
    let acts = h.drain();
    assert_eq!(spawns(&acts), ["c"]);
    assert!(signals(&acts).is_empty(), "{acts:?}");
    assert_eq!(h.pid("c"), Pid(h.next_pid));
}

#[test]
fn orphans_and_stale_pids_are_ignored() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    assert!(h.exit(Pid(9999)).is_empty());
    assert_eq!(h.pid("a"), pid);
}

#[test]
fn an_unexpected_spawn_is_stopped_and_its_exit_touches_nothing() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    // The shell reports a child the core never asked for.
    let stray = Pid(9000);
    let acts = h.feed(Input::Spawned {
        name: name("a"),
        pid: stray,
    });
    assert_eq!(signals(&acts), [(stray, Sig::Term)]);
    assert_eq!(h.pid("a"), pid, "the real child is still the one");
    // Its exit is a stale pid for "a": nothing restarts, nothing stops.
    h.now += 2 * SEC;
    assert!(h.exit(stray).is_empty());
    assert_eq!(h.pid("a"), pid);
    assert_eq!(h.m.poll_timeout(), None);
}

#[test]
fn shutdown_stops_everything_then_exits_once() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    h.configure("b", "/bin/b");
    h.configure("c", "/bin/c");
    let (a, b, c) = (h.pid("a"), h.pid("b"), h.pid("c"));
    h.exit(c); // c is in backoff: simply dropped
    let acts = h.feed(Input::Shutdown);
    assert_eq!(signals(&acts), [(a, Sig::Term), (b, Sig::Term)]);
    assert!(h.exit(a).is_empty(), "nothing restarts during shutdown");
    assert!(h.configure("d", "/bin/d").is_empty(), "nothing starts");
    assert!(h.feed(Input::Message(Message::RestartAll)).is_empty());
    assert_eq!(signals(&h.advance(5 * SEC)), [(b, Sig::Kill)]);
    assert_eq!(h.exit(b), [Action::Exit(0)]);
    assert!(h.feed(Input::Shutdown).is_empty(), "exit is said once");
}

#[test]
fn shutdown_with_nothing_running_exits_at_once() {
    let mut h = Harness::new();
    assert_eq!(h.feed(Input::Shutdown), [Action::Exit(0)]);
}

#[test]
fn a_second_shutdown_kills_at_once() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let a = h.pid("a");
    h.feed(Input::Shutdown);
    assert_eq!(signals(&h.feed(Input::Shutdown)), [(a, Sig::Kill)]);
    assert_eq!(h.exit(a), [Action::Exit(0)]);
}

#[test]
fn an_exit_leaving_its_group_alive_stops_the_group_before_any_restart() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    h.now += 2 * SEC;
    let acts = h.exit_leaving_group(pid);
    assert_eq!(
        acts,
        [Action::Signal {
            name: name("a"),
            pid,
            sig: Sig::Term
        }]
    );
    assert_eq!(h.draining(), [pid]);
    assert_eq!(h.m.pid_of(&name("a")), None, "the leader is gone");
    assert!(h.advance(SEC).is_empty(), "nothing spawns while it drains");
    assert!(h.feed(Input::GroupGone { pid: Pid(9999) }).is_empty());
    // It lived past the threshold: it restarts as soon as the group is gone.
    assert_eq!(spawns(&h.gone(pid)), ["a"]);
    assert!(h.draining().is_empty());
    assert!(h.gone(pid).is_empty(), "a second report changes nothing");
}

#[test]
fn a_draining_group_is_killed_at_killtime_exactly_once() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    h.now += 2 * SEC;
    h.exit_leaving_group(pid);
    assert_eq!(h.m.poll_timeout(), Some(h.now + 5 * SEC));
    assert!(h.advance(5 * SEC - Duration::from_millis(1)).is_empty());
    assert_eq!(
        signals(&h.advance(Duration::from_millis(1))),
        [(pid, Sig::Kill)]
    );
    assert_eq!(h.m.poll_timeout(), None, "one SIGKILL only");
    assert!(
        h.advance(100 * SEC).is_empty(),
        "and no spawn before it is gone"
    );
    assert_eq!(h.draining(), [pid]);
    assert_eq!(spawns(&h.gone(pid)), ["a"]);
}

#[test]
fn a_draining_instant_death_restarts_after_its_backoff_counted_from_the_exit() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    h.now += Duration::from_millis(10);
    let exited_at = h.now;
    h.exit_leaving_group(pid);
    h.now += Duration::from_millis(300);
    assert!(h.gone(pid).is_empty(), "an instant death waits its delay");
    assert_eq!(h.m.poll_timeout(), Some(exited_at + SEC));
    assert!(h.advance(SEC - Duration::from_millis(301)).is_empty());
    assert_eq!(spawns(&h.advance(Duration::from_millis(1))), ["a"]);
    // The delay doubled; a group that drains past the wait restarts at once.
    let pid = h.pid("a");
    h.exit_leaving_group(pid);
    assert_eq!(signals(&h.advance(5 * SEC)), [(pid, Sig::Kill)]);
    assert_eq!(spawns(&h.gone(pid)), ["a"]);
    let pid = h.pid("a");
    h.exit(pid);
    assert_eq!(
        h.m.poll_timeout(),
        Some(h.now + 4 * SEC),
        "delay kept doubling"
    );
}

#[test]
fn a_stop_in_progress_keeps_its_kill_deadline_while_the_group_drains() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    h.now += 2 * SEC;
    let acts = h.feed(Input::Message(Message::Restart { name: name("a") }));
    assert_eq!(signals(&acts), [(pid, Sig::Term)]);
    h.now += 2 * SEC;
    assert!(
        h.exit_leaving_group(pid).is_empty(),
        "the group already had SIGTERM"
    );
    assert_eq!(h.m.poll_timeout(), Some(h.now + 3 * SEC));
    assert_eq!(signals(&h.advance(3 * SEC)), [(pid, Sig::Kill)]);
    assert_eq!(spawns(&h.gone(pid)), ["a"]);
    // A stop that already sent SIGKILL sends no second one.
    let pid = h.pid("a");
    h.feed(Input::Message(Message::Restart { name: name("a") }));
    assert_eq!(signals(&h.advance(5 * SEC)), [(pid, Sig::Kill)]);
    assert!(h.exit_leaving_group(pid).is_empty());
    assert_eq!(h.m.poll_timeout(), None);
    assert_eq!(h.draining(), [pid]);
    assert_eq!(spawns(&h.gone(pid)), ["a"]);
}

#[test]
fn inputs_while_draining_wait_for_the_group() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    h.configure("b", "/bin/b");
    h.configure("c", "/bin/c");
    let (a, b, c) = (h.pid("a"), h.pid("b"), h.pid("c"));
    h.now += 2 * SEC;
    // RESTART: nothing more to do; it restarts once drained.
    h.exit_leaving_group(a);
    assert!(
        h.feed(Input::Message(Message::Restart { name: name("a") }))
            .is_empty()
    );
    assert_eq!(spawns(&h.gone(a)), ["a"]);
    // A changed config starts once drained.
    h.exit_leaving_group(b);
    assert!(h.configure("b", "/bin/b2").is_empty());
    match &h.gone(b)[..] {
        [Action::Spawn { spec, .. }] => assert_eq!(spec.args, ["/bin/b2"]),
        other => panic!("{other:?}"),
    }
    // A removal forgets it once drained.
    h.exit_leaving_group(c);
    assert!(
        h.feed(Input::Config(Change::Removed { name: name("c") }))
            .is_empty()
    );
    assert!(h.gone(c).is_empty());
    assert!(h.advance(100 * SEC).is_empty());
    assert_eq!(h.m.poll_timeout(), None);
    // A stop for a removal whose leader leaves its group: forgotten once drained.
    let b = h.pid("b");
    h.feed(Input::Config(Change::Removed { name: name("b") }));
    h.exit_leaving_group(b);
    assert_eq!(h.draining(), [b]);
    assert!(h.gone(b).is_empty());
    assert!(h.advance(100 * SEC).is_empty());
    assert!(h.draining().is_empty());
    // A config that comes back while its old group drains starts once it is gone.
    let a = h.pid("a");
    h.feed(Input::Config(Change::Removed { name: name("a") }));
    h.exit_leaving_group(a);
    assert!(h.configure("a", "/bin/a").is_empty());
    assert_eq!(spawns(&h.gone(a)), ["a"]);
}

#[test]
fn shutdown_waits_for_draining_groups_and_a_second_one_kills_them() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    h.configure("b", "/bin/b");
    let (a, b) = (h.pid("a"), h.pid("b"));
    h.now += 2 * SEC;
    h.exit_leaving_group(a);
    let acts = h.feed(Input::Shutdown);
    assert_eq!(
        signals(&acts),
        [(b, Sig::Term)],
        "a's group already had SIGTERM"
    );
    assert!(h.exit(b).is_empty(), "no Exit while a group drains");
    assert_eq!(signals(&h.feed(Input::Shutdown)), [(a, Sig::Kill)]);
    assert_eq!(h.m.poll_timeout(), None);
    assert_eq!(h.gone(a), [Action::Exit(0)]);
    // Draining when the shutdown comes, exiting once it is gone.
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let a = h.pid("a");
    h.feed(Input::Shutdown);
    assert!(h.exit_leaving_group(a).is_empty());
    assert_eq!(signals(&h.advance(5 * SEC)), [(a, Sig::Kill)]);
    assert_eq!(h.gone(a), [Action::Exit(0)]);
}

fn invalid(n: &str) -> Input {
    Input::Unusable {
        name: name(n),
        problem: "invalid JSON at line 1".into(),
    }
}

#[test]
fn an_invalid_edit_keeps_the_running_process_and_its_config() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    assert!(h.feed(invalid("a")).is_empty());
    assert!(h.advance(100 * SEC).is_empty());
    assert_eq!(h.pid("a"), pid);
    // Fixed back to the same config: nothing to do.
    assert!(h.configure("a", "/bin/a").is_empty());
    // Broken again, then fixed to a different one: a reconfiguration.
    h.feed(invalid("a"));
    assert_eq!(signals(&h.configure("a", "/bin/a2")), [(pid, Sig::Term)]);
    match &h.exit(pid)[..] {
        [Action::Spawn { spec, .. }] => assert_eq!(spec.args, ["/bin/a2"]),
        other => panic!("{other:?}"),
    }
    // The previous config is still the one a crash restarts with.
    let pid = h.pid("a");
    h.feed(invalid("a"));
    h.now += 2 * SEC;
    match &h.exit(pid)[..] {
        [Action::Spawn { spec, .. }] => assert_eq!(spec.args, ["/bin/a2"]),
        other => panic!("{other:?}"),
    }
    // A removed file still stops it.
    let pid = h.pid("a");
    h.feed(invalid("a"));
    assert_eq!(
        signals(&h.feed(Input::Config(Change::Removed { name: name("a") }))),
        [(pid, Sig::Term)]
    );
    assert!(h.exit(pid).is_empty());
}

#[test]
fn an_invalid_edit_in_any_state_keeps_what_it_has() {
    let mut h = Harness::new();
    // In backoff: restarted with the previous config when the delay is up.
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    h.exit(pid);
    assert!(h.feed(invalid("a")).is_empty());
    assert_eq!(spawns(&h.advance(SEC)), ["a"]);
    // Starting: it still starts, and is not stopped once it has a pid.
    h.m.handle(h.now, configured("b", "/bin/b"));
    h.m.handle(h.now, invalid("b"));
    let acts = h.drain();
    assert_eq!(spawns(&acts), ["b"]);
    assert!(signals(&acts).is_empty());
    h.pid("b");
    // Stopping toward a new config: the new config still starts.
    h.configure("c", "/bin/c");
    let pid = h.pid("c");
    h.configure("c", "/bin/c2");
    assert!(h.feed(invalid("c")).is_empty());
    match &h.exit(pid)[..] {
        [Action::Spawn { spec, .. }] => assert_eq!(spec.args, ["/bin/c2"]),
        other => panic!("{other:?}"),
    }
    // Stopping on request: still restarted.
    let pid = h.pid("c");
    h.feed(Input::Message(Message::Restart { name: name("c") }));
    assert!(h.feed(invalid("c")).is_empty());
    assert_eq!(spawns(&h.exit(pid)), ["c"]);
    // Draining: restarted once the group is gone.
    let pid = h.pid("c");
    h.now += 2 * SEC;
    h.exit_leaving_group(pid);
    assert!(h.feed(invalid("c")).is_empty());
    assert_eq!(spawns(&h.gone(pid)), ["c"]);
}

#[test]
fn a_config_invalid_when_first_seen_never_runs() {
    let mut h = Harness::new();
    assert!(h.feed(invalid("a")).is_empty());
    assert!(h.advance(100 * SEC).is_empty());
    assert_eq!(h.m.pid_of(&name("a")), None);
    assert!(
        h.feed(Input::Message(Message::Restart { name: name("a") }))
            .is_empty()
    );
    assert_eq!(h.feed(Input::Shutdown), [Action::Exit(0)]);
    // Once valid, it runs.
    let mut h = Harness::new();
    h.feed(invalid("a"));
    assert_eq!(spawns(&h.configure("a", "/bin/a")), ["a"]);
    // Removed, then back invalid: it stays stopped.
    let pid = h.pid("a");
    h.feed(Input::Config(Change::Removed { name: name("a") }));
    assert!(h.feed(invalid("a")).is_empty());
    assert!(h.exit(pid).is_empty());
    assert!(h.advance(100 * SEC).is_empty());
}

/// A valid config for `n` running `/bin/{n}` in group `g`, with `extra`
/// keys (`, "restart": "never"`).
fn configured_with(n: &str, extra: &str) -> Input {
    let json = format!(r#"{{"args": ["/bin/{n}"], "group": ["g"]{extra}}}"#);
    Input::Config(Change::Added {
        name: name(n),
        content: Arc::from(json.as_bytes()),
    })
}

fn msg(m: Message) -> Input {
    Input::Message(m)
}

fn stop_msg(n: &str) -> Input {
    msg(Message::Stop { name: name(n) })
}

fn start_msg(n: &str) -> Input {
    msg(Message::Start { name: name(n) })
}

fn restart_msg(n: &str) -> Input {
    msg(Message::Restart { name: name(n) })
}

impl Harness {
    fn exit_with(&mut self, pid: Pid, status: Exit) -> Vec<Action> {
        self.feed(Input::Exited {
            pid,
            status,
            group_alive: false,
        })
    }

    fn held(&self) -> Vec<String> {
        self.m.held().map(ToString::to_string).collect()
    }
}

fn exits(actions: &[Action]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Exit(code) => Some(*code),
            _ => None,
        })
        .collect()
}

#[test]
fn on_failure_restarts_failures_but_not_success_codes() {
    let mut h = Harness::new();
    h.feed(configured_with(
        "a",
        r#", "restart": "on-failure", "success_exit_codes": [0, 3]"#,
    ));
    h.now += 2 * SEC;
    let pid = h.pid("a");
    assert_eq!(
        spawns(&h.exit_with(pid, Exit::Code(1))),
        ["a"],
        "a failure restarts"
    );
    h.now += 2 * SEC;
    let pid = h.pid("a");
    assert_eq!(
        spawns(&h.exit_with(pid, Exit::Signal(9))),
        ["a"],
        "a signal restarts"
    );
    h.now += 2 * SEC;
    let pid = h.pid("a");
    assert!(
        h.exit_with(pid, Exit::Code(3)).is_empty(),
        "a success code does not"
    );
    assert!(h.advance(100 * SEC).is_empty());
    assert_eq!(h.m.poll_timeout(), None);
    assert_eq!(
        spawns(&h.feed(restart_msg("a"))),
        ["a"],
        "RESTART starts it"
    );
    h.now += 2 * SEC;
    let pid = h.pid("a");
    assert!(
        h.exit_with(pid, Exit::Code(0)).is_empty(),
        "0 is a success code too"
    );
}

#[test]
fn on_failure_keeps_the_backoff_for_quick_failures() {
    let mut h = Harness::new();
    h.feed(configured_with("a", r#", "restart": "on-failure""#));
    let pid = h.pid("a");
    h.now += Duration::from_millis(10);
    assert!(
        h.exit_with(pid, Exit::Code(1)).is_empty(),
        "an instant death waits"
    );
    assert_eq!(spawns(&h.advance(SEC)), ["a"]);
}

#[test]
fn never_stays_exited_until_a_restart_a_start_or_a_new_config() {
    let mut h = Harness::new();
    h.feed(configured_with("a", r#", "restart": "never""#));
    h.now += 2 * SEC;
    let pid = h.pid("a");
    assert!(h.exit_with(pid, Exit::Code(1)).is_empty());
    assert!(h.advance(100 * SEC).is_empty());
    assert_eq!(h.m.pid_of(&name("a")), None);
    assert_eq!(spawns(&h.feed(start_msg("a"))), ["a"], "START starts it");
    let pid = h.pid("a");
    assert!(h.exit_with(pid, Exit::Signal(15)).is_empty());
    assert_eq!(
        spawns(&h.feed(configured_with(
            "a",
            r#", "restart": "never", "env": {"X": "1"}"#
        ))),
        ["a"],
        "a new config starts it"
    );
    let pid = h.pid("a");
    assert!(h.exit_with(pid, Exit::Code(0)).is_empty());
    assert_eq!(
        spawns(&h.feed(msg(Message::RestartAll))),
        ["a"],
        "RESTART-ALL starts it"
    );
    let pid = h.pid("a");
    assert!(h.exit_with(pid, Exit::Code(0)).is_empty());
    assert_eq!(
        spawns(&h.feed(restart_msg("a"))),
        ["a"],
        "RESTART starts it"
    );
}

#[test]
fn an_essential_process_ends_the_colony_with_its_status() {
    for (extra, status, code) in [
        (r#", "restart": "never""#, Exit::Code(7), 7),
        (r#", "restart": "never""#, Exit::Signal(9), 137),
        (r#", "restart": "on-failure""#, Exit::Code(0), 0),
    ] {
        let mut h = Harness::new();
        h.feed(configured_with(
            "main",
            &format!(r#"{extra}, "essential": true"#),
        ));
        h.configure("side", "/bin/side");
        let side = h.pid("side");
        h.now += 2 * SEC;
        let main = h.pid("main");
        let acts = h.exit_with(main, status);
        assert_eq!(
            signals(&acts),
            [(side, Sig::Term)],
            "{extra}: the others are stopped"
        );
        assert!(spawns(&acts).is_empty() && exits(&acts).is_empty());
        assert!(h.m.is_shutting_down());
        assert_eq!(
            exits(&h.exit_with(side, Exit::Signal(15))),
            [code],
            "{extra}"
        );
    }
    // Restarted (a failure under on-failure, any exit under always): no end.
    for extra in [r#", "restart": "on-failure""#, ""] {
        let mut h = Harness::new();
        h.feed(configured_with(
            "main",
            &format!(r#"{extra}, "essential": true"#),
        ));
        h.now += 2 * SEC;
        let main = h.pid("main");
        assert_eq!(
            spawns(&h.exit_with(main, Exit::Code(1))),
            ["main"],
            "{extra}"
        );
        assert!(!h.m.is_shutting_down());
    }
}

#[test]
fn an_essential_process_left_with_its_group_alive_ends_once_it_drains() {
    let mut h = Harness::new();
    h.feed(configured_with(
        "main",
        r#", "restart": "never", "essential": true"#,
    ));
    let main = h.pid("main");
    let acts = h.feed(Input::Exited {
        pid: main,
        status: Exit::Code(4),
        group_alive: true,
    });
    assert_eq!(signals(&acts), [(main, Sig::Term)], "its group is stopped");
    assert!(exits(&acts).is_empty(), "not before the group is gone");
    assert_eq!(exits(&h.gone(main)), [4]);
}

#[test]
fn a_process_is_stopped_with_its_stop_signal_and_killed_after_its_killtime() {
    let mut h = Harness::new();
    h.feed(configured_with(
        "a",
        r#", "stop_signal": "SIGUSR1", "killtime": 2"#,
    ));
    h.configure("b", "/bin/b");
    let (a, b) = (h.pid("a"), h.pid("b"));
    assert_eq!(signals(&h.feed(restart_msg("a"))), [(a, Sig::Usr1)]);
    assert!(h.advance(Duration::from_millis(1999)).is_empty());
    assert_eq!(
        signals(&h.advance(Duration::from_millis(1))),
        [(a, Sig::Kill)]
    );
    h.exit_with(a, Exit::Signal(9));
    let a = h.pid("a");
    // A shutdown too: each with its own signal and killtime.
    let acts = h.feed(Input::Shutdown);
    assert_eq!(signals(&acts), [(a, Sig::Usr1), (b, Sig::Term)]);
    assert_eq!(signals(&h.advance(2 * SEC)), [(a, Sig::Kill)]);
    assert_eq!(signals(&h.advance(3 * SEC)), [(b, Sig::Kill)]);
    // A config change stops the old process with the old config's signal.
    let mut h = Harness::new();
    h.feed(configured_with("a", r#", "stop_signal": "INT""#));
    let a = h.pid("a");
    let acts = h.feed(configured_with("a", r#", "stop_signal": "QUIT""#));
    assert_eq!(signals(&acts), [(a, Sig::Int)]);
}

#[test]
fn a_stop_holds_a_running_process_down_until_start() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    h.configure("b", "/bin/b");
    let pid = h.pid("a");
    assert_eq!(signals(&h.feed(stop_msg("a"))), [(pid, Sig::Term)]);
    assert_eq!(h.held(), ["a"], "held while it stops");
    assert!(h.exit(pid).is_empty(), "not restarted");
    assert!(h.advance(100 * SEC).is_empty());
    assert_eq!(h.held(), ["a"]);
    assert!(
        h.feed(restart_msg("a")).is_empty(),
        "RESTART of a held name"
    );
    for m in [
        msg(Message::RestartAll),
        msg(Message::RestartGroup { group: "g".into() }),
    ] {
        let b = h.pid("b");
        assert_eq!(signals(&h.feed(m)), [(b, Sig::Term)], "only b restarts");
        assert_eq!(spawns(&h.exit(b)), ["b"]);
    }
    // A new config is kept for START.
    assert!(
        h.configure("a", "/bin/new").is_empty(),
        "a new config starts nothing"
    );
    assert_eq!(h.held(), ["a"]);
    let acts = h.feed(start_msg("a"));
    match acts.as_slice() {
        [Action::Spawn { name: n, spec }] => {
            assert_eq!(n.as_str(), "a");
            assert_eq!(spec.args, ["/bin/new"], "START runs the new config");
        }
        other => panic!("expected one spawn, got {other:?}"),
    }
    assert!(h.held().is_empty());
    // START of a running process does nothing.
    assert!(h.feed(start_msg("a")).is_empty());
}

#[test]
fn a_stop_holds_a_name_in_every_state() {
    // Backoff.
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    assert!(h.exit(pid).is_empty(), "instant death: backoff");
    assert!(h.feed(stop_msg("a")).is_empty());
    assert!(
        h.advance(100 * SEC).is_empty(),
        "no spawn after the backoff"
    );
    assert_eq!(spawns(&h.feed(start_msg("a"))), ["a"]);
    // Starting: the child is stopped as soon as it runs.
    let mut h = Harness::new();
    h.m.handle(h.now, configured("a", "/bin/a"));
    assert!(matches!(h.m.poll_action(), Some(Action::Spawn { .. })));
    h.m.handle(h.now, stop_msg("a"));
    let acts = h.feed(Input::Spawned {
        name: name("a"),
        pid: Pid(7),
    });
    assert_eq!(signals(&acts), [(Pid(7), Sig::Term)]);
    assert!(h.exit(Pid(7)).is_empty());
    assert_eq!(h.held(), ["a"]);
    // Starting, and the spawn fails: held, not retried.
    let mut h = Harness::new();
    h.m.handle(h.now, configured("a", "/bin/a"));
    h.m.poll_action();
    h.m.handle(h.now, stop_msg("a"));
    h.feed(Input::SpawnFailed {
        name: name("a"),
        error: "x".into(),
    });
    assert!(h.advance(100 * SEC).is_empty());
    assert_eq!(h.held(), ["a"]);
    // Stopping for a restart: held once it is gone.
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    h.feed(restart_msg("a"));
    assert!(h.feed(stop_msg("a")).is_empty(), "already stopping");
    assert!(h.exit(pid).is_empty(), "held, not restarted");
    assert_eq!(h.held(), ["a"]);
    // Stopping after a STOP: a START restarts it once it is gone.
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    h.feed(stop_msg("a"));
    assert!(h.feed(start_msg("a")).is_empty());
    assert_eq!(spawns(&h.exit(pid)), ["a"]);
    // Draining: held once the group is gone.
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    h.exit_leaving_group(pid);
    h.feed(stop_msg("a"));
    assert!(h.gone(pid).is_empty());
    assert_eq!(h.held(), ["a"]);
    // Exited for good (restart: never).
    let mut h = Harness::new();
    h.feed(configured_with("a", r#", "restart": "never""#));
    let pid = h.pid("a");
    h.exit(pid);
    assert!(h.feed(stop_msg("a")).is_empty());
    assert_eq!(h.held(), ["a"]);
    assert!(
        h.feed(restart_msg("a")).is_empty(),
        "RESTART does not release it"
    );
    assert_eq!(spawns(&h.feed(start_msg("a"))), ["a"]);
}

#[test]
fn removing_the_config_drops_the_hold_and_unknown_names_are_refused() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    h.feed(stop_msg("a"));
    h.exit(pid);
    h.feed(Input::Config(Change::Removed { name: name("a") }));
    assert!(h.held().is_empty());
    assert_eq!(spawns(&h.configure("a", "/bin/a")), ["a"], "back, not held");
    assert!(h.feed(stop_msg("nope")).is_empty());
    assert!(h.feed(start_msg("nope")).is_empty());
    assert!(h.held().is_empty());
    assert_eq!(h.m.poll_timeout(), None);
}

#[test]
fn restored_holds_keep_their_names_from_ever_starting() {
    let mut h = Harness::new();
    h.m.restore_holds(h.now, [name("a"), name("gone")]);
    assert!(h.configure("a", "/bin/a").is_empty(), "held: not started");
    assert_eq!(spawns(&h.configure("b", "/bin/b")), ["b"]);
    assert_eq!(h.m.forget_unconfigured(h.now), [name("gone")]);
    assert_eq!(h.held(), ["a"]);
    assert_eq!(spawns(&h.feed(start_msg("a"))), ["a"]);
}

#[test]
fn a_held_colony_shuts_down_at_once() {
    let mut h = Harness::new();
    h.configure("a", "/bin/a");
    let pid = h.pid("a");
    h.feed(stop_msg("a"));
    h.exit(pid);
    assert_eq!(exits(&h.feed(Input::Shutdown)), [0]);
}

mod props {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[derive(Clone, Debug)]
    enum Op {
        Configure(u8, u8),
        Remove(u8),
        Invalid(u8),
        Restart(u8),
        RestartAll,
        Die(u8, bool),
        GroupGone(u8),
        Orphan,
        Advance(u16),
        FailNextSpawn,
        Shutdown,
        Stop(u8),
        Start(u8),
        /// A notice (0: READY=1, 1: WATCHDOG=1, 2: RELOADING=1, 3:
        /// STOPPING=1) from the live child of a name, or (stale) another pid.
        Notice(u8, u8, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..3u8, 0..9u8).prop_map(|(n, v)| Op::Configure(n, v)),
            (0..3u8, 0..4u8, any::<bool>()).prop_map(|(n, k, s)| Op::Notice(n, k, s)),
            (0..3u8).prop_map(Op::Stop),
            (0..3u8).prop_map(Op::Start),
            (0..3u8).prop_map(Op::Remove),
            (0..3u8).prop_map(Op::Invalid),
            (0..3u8).prop_map(Op::Restart),
            Just(Op::RestartAll),
            (0..3u8, any::<bool>()).prop_map(|(n, g)| Op::Die(n, g)),
            (0..3u8).prop_map(Op::GroupGone),
            Just(Op::Orphan),
            (0..8000u16).prop_map(Op::Advance),
            Just(Op::FailNextSpawn),
            Just(Op::Shutdown),
        ]
    }

    proptest! {
        /// Whatever happens: at most one live child per name, every live
        /// child is known by pid, nothing spawns for a name while the
        /// group of its previous child drains, every draining group is
        /// reported, nothing spawns after shutdown, signals only go to
        /// live children or draining groups, and after shutdown plus
        /// exits the monitor says Exit exactly once, with nothing left.
        #[test]
        fn invariants_hold(ops in proptest::collection::vec(op(), 0..60)) {
            let mut m = Monitor::new(Policy::default());
            let mut now = epoch();
            let mut live: HashMap<Pid, String> = HashMap::new();
            // Groups whose leader exited while other members lived on.
            let mut groups: BTreeMap<Pid, String> = BTreeMap::new();
            let mut next_pid = 1;
            let mut fail_next = false;
            let mut shut = false;
            let mut exits = 0;
            let names = ["a", "b", "c"];
            // The model of the holds: configured names, and those a STOP holds.
            let mut configured_names: BTreeSet<&str> = BTreeSet::new();
            let mut held: BTreeSet<&str> = BTreeSet::new();
            // Configs 2 and 3 are not always restarted; 4 to 8 wait for
            // others (a name after itself, and cycles, among them) and must
            // say they are ready, one with a watchdog.
            let extras = [
                "",
                r#", "env": {"V": "1"}"#,
                r#", "restart": "never""#,
                r#", "restart": "on-failure""#,
                r#", "after": ["a"]"#,
                r#", "after": ["c"], "ready": {"notify": true, "timeout": 2}"#,
                r#", "after": ["b"], "ready": {"notify": true, "timeout": 3}, "watchdog": 1"#,
                r#", "after": ["a", "b"], "restart": "never""#,
                r#", "ready": {"notify": true, "timeout": 1}, "restart": "on-failure""#,
            ];
            for op in ops {
                match op {
                    Op::Configure(n, v) => {
                        configured_names.insert(names[n as usize]);
                        m.handle(now, configured_with(names[n as usize], extras[v as usize]));
                    }
                    Op::Remove(n) => {
                        configured_names.remove(names[n as usize]);
                        held.remove(names[n as usize]);
                        m.handle(now, Input::Config(Change::Removed { name: name(names[n as usize]) }));
                    }
                    Op::Stop(n) => {
                        // Configured: and valid (a config after itself, or
                        // in a cycle, is not), as the monitor knows.
                        if configured_names.contains(names[n as usize]) && m.is_configured(&name(names[n as usize])) && !shut {
                            held.insert(names[n as usize]);
                        }
                        m.handle(now, stop_msg(names[n as usize]));
                    }
                    Op::Start(n) => {
                        held.remove(names[n as usize]);
                        m.handle(now, start_msg(names[n as usize]));
                    }
                    Op::Invalid(n) => m.handle(now, Input::Unusable { name: name(names[n as usize]), problem: "x".into() }),
                    Op::Restart(n) => m.handle(now, Input::Message(Message::Restart { name: name(names[n as usize]) })),
                    Op::RestartAll => m.handle(now, Input::Message(Message::RestartAll)),
                    Op::Die(n, group_alive) => {
                        let pid = live.iter().find(|(_, v)| *v == names[n as usize]).map(|(p, _)| *p);
                        if let Some(pid) = pid {
                            if let Some(name) = live.remove(&pid).filter(|_| group_alive) {
                                groups.insert(pid, name);
                            }
                            let status = if group_alive { Exit::Code(0) } else { Exit::Signal(9) };
                            m.handle(now, Input::Exited { pid, status, group_alive });
                        }
                    }
                    Op::GroupGone(n) => {
                        let pid = groups.iter().find(|(_, v)| *v == names[n as usize]).map(|(p, _)| *p);
                        if let Some(pid) = pid {
                            groups.remove(&pid);
                            m.handle(now, Input::GroupGone { pid });
                        }
                    }
                    Op::Orphan => m.handle(now, Input::Exited { pid: Pid(-5), status: Exit::Code(0), group_alive: false }),
                    Op::Advance(ms) => {
                        now += Duration::from_millis(u64::from(ms));
                        m.handle_timeout(now);
                    }
                    Op::FailNextSpawn => fail_next = true,
                    Op::Notice(n, kind, stale) => {
                        let pid = live.iter().find(|(_, v)| *v == names[n as usize]).map(|(p, _)| *p);
                        if let Some(pid) = pid {
                            let notice = [Notice::Ready, Notice::Watchdog, Notice::Reloading, Notice::Stopping][kind as usize].clone();
                            let pid = if stale { Pid(pid.0 + 1000) } else { pid };
                            m.handle(now, Input::Notice { name: name(names[n as usize]), pid, notice });
                        }
                    }
                    Op::Shutdown => { shut = true; m.handle(now, Input::Shutdown) }
                }
                while let Some(action) = m.poll_action() {
                    match action {
                        Action::Spawn { name, .. } => {
                            prop_assert!(!shut, "spawned during shutdown");
                            prop_assert!(!held.contains(name.as_str()), "{} spawned while held", name);
                            prop_assert!(!live.values().any(|v| v == name.as_str()), "two children for {}", name);
                            prop_assert!(!groups.values().any(|v| v == name.as_str()), "{} spawned while its group drains", name);
                            if std::mem::take(&mut fail_next) {
                                m.handle(now, Input::SpawnFailed { name, error: "x".into() });
                            } else {
                                next_pid += 1;
                                live.insert(Pid(next_pid), name.to_string());
                                m.handle(now, Input::Spawned { name, pid: Pid(next_pid) });
                            }
                        }
                        Action::Signal { pid, .. } => prop_assert!(live.contains_key(&pid) || groups.contains_key(&pid), "signal to a dead pid"),
                        Action::Exit(code) => {
                            prop_assert_eq!(code, 0);
                            prop_assert!(live.is_empty() && groups.is_empty(), "Exit with children left");
                            exits += 1;
                        }
                    }
                }
                if !shut {
                    let model: Vec<&str> = held.iter().copied().collect();
                    prop_assert_eq!(m.held().map(Name::as_str).collect::<Vec<_>>(), model, "held names");
                }
                let mut draining: Vec<Pid> = m.draining().collect();
                draining.sort();
                prop_assert_eq!(draining, groups.keys().copied().collect::<Vec<_>>(), "draining groups");
                for (pid, n) in &live {
                    prop_assert_eq!(m.name_of(*pid).map(Name::as_str), Some(n.as_str()), "lost a child");
                }
                for v in m.view() {
                    let waiting = v.state == view::State::Waiting;
                    prop_assert_eq!(waiting, !v.waiting_for.is_empty(), "{} waits for {:?}", v.name, v.waiting_for);
                    prop_assert!(!(v.ready && v.pid.is_none() && v.state != view::State::Exited), "{} ready with no child", v.name);
                }
            }
            // Shut down, let every child die, then every draining group
            // go: Exit comes exactly once, and only with nothing left.
            let mut last = vec![Input::Shutdown];
            last.extend(live.keys().map(|&pid| Input::Exited { pid, status: Exit::Signal(15), group_alive: false }));
            last.extend(groups.keys().map(|&pid| Input::GroupGone { pid }));
            for input in last {
                match &input {
                    Input::Exited { pid, .. } => { live.remove(pid); }
                    Input::GroupGone { pid } => { groups.remove(pid); }
                    _ => {}
                }
                m.handle(now, input);
                while let Some(action) = m.poll_action() {
                    match action {
                        Action::Exit(_) => {
                            prop_assert!(live.is_empty() && groups.is_empty(), "Exit with children left");
                            exits += 1;
                        }
                        Action::Spawn { .. } => prop_assert!(false, "spawn after shutdown"),
                        Action::Signal { .. } => {}
                    }
                }
            }
            prop_assert_eq!(exits, 1);
        }
    }
}

/// The view and the journal: what the status shows and the events, in order.
mod observed {
    use super::view::{EventKind, State, Why};
    use super::*;

    fn events(h: &mut Harness) -> Vec<(Option<String>, EventKind)> {
        std::iter::from_fn(|| h.m.poll_event())
            .map(|e| (e.name.map(|n| n.to_string()), e.kind))
            .collect()
    }

    fn web(h: &Harness) -> view::ProcView {
        h.m.view()
            .into_iter()
            .find(|v| v.name.as_str() == "web")
            .expect("web is shown")
    }

    #[test]
    fn restarts_last_exit_and_next_start() {
        let mut h = Harness::new();
        h.configure("web", "/bin/web");
        let first = h.pid("web");
        let v = web(&h);
        assert_eq!(
            (v.state, v.pid, v.restarts),
            (State::Running, Some(first), 0)
        );
        assert_eq!(v.since, Some(h.now));
        assert_eq!(v.restart, "always");
        // An instant death: backoff, with its next start.
        h.advance(SEC / 2);
        h.exit(first);
        let v = web(&h);
        assert_eq!(v.state, State::Backoff);
        assert_eq!(v.pid, None);
        assert_eq!(v.next_start, Some(h.now + SEC));
        let last = v.last_exit.expect("an exit");
        assert_eq!(last.status, Exit::Code(1));
        assert_eq!((last.at, last.ran_for), (h.now, SEC / 2));
        assert_eq!(v.restarts, 0, "not started again yet");
        h.advance(SEC);
        let v = web(&h);
        assert_eq!(
            (v.state, v.restarts, v.next_start),
            (State::Running, 1, None)
        );
        // A config change counts as a restart.
        h.feed(Input::Config(Change::Changed {
            name: name("web"),
            content: Arc::from(&br#"{"args": ["/bin/web2"]}"#[..]),
        }));
        let stopping = h.pid("web");
        assert_eq!(web(&h).state, State::Stopping);
        h.exit(stopping);
        assert_eq!(web(&h).restarts, 2);
        assert!(h.m.take_changed());
        assert!(!h.m.take_changed(), "reset once taken");
    }

    #[test]
    fn an_invalid_config_is_shown_with_its_problem() {
        let mut h = Harness::new();
        h.feed(Input::Unusable {
            name: name("web"),
            problem: "not a regular file".into(),
        });
        let v = web(&h);
        assert_eq!(v.state, State::Invalid);
        assert_eq!(v.problem.as_deref(), Some("not a regular file"));
        h.configure("web", "/bin/web");
        let v = web(&h);
        assert_eq!((v.state, v.problem), (State::Running, None));
        h.feed(Input::Config(Change::Removed { name: name("web") }));
        let pid = h.pid("web");
        h.exit(pid);
        assert!(h.m.view().is_empty(), "{:?}", h.m.view());
    }

    #[test]
    fn events_come_in_order_with_their_fields() {
        let mut h = Harness::new();
        h.configure("web", "/bin/web");
        let pid = h.pid("web");
        h.advance(SEC / 4);
        h.exit(pid);
        h.advance(SEC);
        let second = h.pid("web");
        h.feed(Input::Message(Message::Restart { name: name("web") }));
        h.advance(Policy::default().kill_time);
        h.feed(Input::Exited {
            pid: second,
            status: Exit::Signal(9),
            group_alive: false,
        });
        let third = h.pid("web");
        h.feed(Input::Exited {
            pid: Pid(7),
            status: Exit::Code(0),
            group_alive: false,
        });
        h.feed(Input::Shutdown);
        let w = || Some("web".to_owned());
        assert_eq!(
            events(&mut h),
            vec![
                (w(), EventKind::ConfigAdded),
                (w(), EventKind::Spawned { pid }),
                (
                    w(),
                    EventKind::Exited {
                        pid,
                        status: Exit::Code(1),
                        ran_for: SEC / 4
                    }
                ),
                (w(), EventKind::RestartScheduled { delay: SEC }),
                (w(), EventKind::Spawned { pid: second }),
                (w(), EventKind::Message { kind: "RESTART" }),
                (
                    w(),
                    EventKind::Stopping {
                        pid: second,
                        signal: "SIGTERM",
                        why: Why::Restart
                    }
                ),
                (w(), EventKind::Killed { pid: second }),
                (
                    w(),
                    EventKind::Exited {
                        pid: second,
                        status: Exit::Signal(9),
                        ran_for: Policy::default().kill_time
                    }
                ),
                (w(), EventKind::Spawned { pid: third }),
                (
                    None,
                    EventKind::OrphanReaped {
                        pid: Pid(7),
                        status: Exit::Code(0)
                    }
                ),
                (None, EventKind::MonitorStopping),
                (
                    w(),
                    EventKind::Stopping {
                        pid: third,
                        signal: "SIGTERM",
                        why: Why::Shutdown
                    }
                ),
            ]
        );
    }
}

/// Start order and readiness: `after`, `ready`, `watchdog`.
mod order;
