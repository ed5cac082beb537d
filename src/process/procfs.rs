//! What the monitor reads about processes from `/proc`: a process's state,
//! parent and start time (to tell a survivor of a previous monitor from a
//! process that reused its pid), and the monitor's own children (the
//! orphans it adopted).

use std::fs;
use std::path::Path;

use crate::dirs::listing::names;

/// The fields of `/proc/PID/stat` the monitor uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    /// The one-letter state (`R`, `S`, `Z`, ...).
    pub(crate) state: char,
    /// The parent's pid.
    pub(crate) ppid: i32,
    /// The process group id.
    pub(crate) pgrp: i32,
    /// When the process started, in clock ticks since boot (field 22): with
    /// the pid, it identifies one process across pid reuse.
    pub(crate) start_time: u64,
}

impl Stat {
    /// Reads `/proc/PID/stat`; `None` when there is no such process.
    pub(crate) fn of(pid: i32) -> Option<Stat> {
        Stat::parse(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    /// Parses the text of `/proc/PID/stat`. The command name (field 2) is in
    /// parentheses and may itself contain spaces and `)`, so the fields are
    /// counted from the last `)`.
    fn parse(text: &str) -> Option<Stat> {
        let rest = &text[text.rfind(')')? + 1..];
        // Field 3 (state) is the first after the name.
        let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
        Some(Stat {
            state: fields.first()?.chars().next()?,
            ppid: fields.get(1)?.parse().ok()?,
            pgrp: fields.get(2)?.parse().ok()?,
            start_time: fields.get(22 - 3)?.parse().ok()?,
        })
    }

    /// Whether the process has exited and waits to be reaped.
    pub(crate) fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }
}

/// The pids whose parent is `parent` and that have not exited yet.
pub(crate) fn live_children_of(parent: i32) -> Vec<i32> {
    live_where(|s| s.ppid == parent)
}

/// Whether process group `pgid` has a member that has not exited. Unlike a
/// signal 0 to the group, a zombie waiting for some other parent to reap it
/// does not count.
pub(crate) fn group_has_live_member(pgid: i32) -> bool {
    !live_where(|s| s.pgrp == pgid).is_empty()
}

/// Whether the environment of `pid` has the entry `var` (`NAME=value`);
/// false when it cannot be read.
pub(crate) fn environ_has(pid: i32, var: &str) -> bool {
    fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|&b| b == 0).any(|entry| entry == var.as_bytes()))
}

/// Every process that has not exited and matches `filter`.
pub(crate) fn live_where(filter: impl Fn(&Stat) -> bool) -> Vec<i32> {
    let Ok(names) = names(Path::new("/proc")) else {
        return Vec::new();
    };
    names
        .iter()
        .filter_map(|name| name.to_str()?.parse::<i32>().ok())
        .filter(|&pid| Stat::of(pid).is_some_and(|s| !s.is_zombie() && filter(&s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_counted_from_the_last_parenthesis() {
        let text = "42 (a) b (c) S 7 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                    123456 2000000 100 18446744073709551615\n";
        assert_eq!(
            Stat::parse(text),
            Some(Stat {
                state: 'S',
                ppid: 7,
                pgrp: 42,
                start_time: 123456
            })
        );
        assert_eq!(Stat::parse("42 (x) Z 1"), None);
    }

    #[test]
    fn reads_this_process() {
        let me = Stat::of(std::process::id() as i32).expect("own stat");
        assert!(!me.is_zombie());
        assert_eq!(me.ppid, nix::unistd::getppid().as_raw());
        assert!(Stat::of(-1).is_none());
        assert!(group_has_live_member(me.pgrp));
        let me = std::process::id() as i32;
        let path = std::env::var("PATH").expect("tests run with a PATH");
        assert!(environ_has(me, &format!("PATH={path}")));
        assert!(!environ_has(me, "PATH="));
        let parent = nix::unistd::getppid().as_raw();
        assert!(live_children_of(parent).contains(&me));
    }
}
