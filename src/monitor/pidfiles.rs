//! `--pid DIR`: one file per running child, `DIR/NAME` holding its pid, as
//! the original's `TransportDirectoryDict` writes them.
//!
//! The files describe live processes only: those a previous monitor left are
//! removed at start (its processes are not ours), a file goes when its
//! process is reaped, and none is written for a spawn that failed. The pids
//! are also kept in memory, so a file that goes missing (the directory
//! deleted and recreated, a file removed by hand) is written again at the
//! next [`PidFiles::refresh`].

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use ncolony_core::spec::Name;

use crate::atomic::{Durability, replace};

/// The longest pid file there is: a pid, with room for a newline.
const MAX_PID_FILE: u64 = 24;

/// The pid files, when `--pid` was given.
#[derive(Debug)]
pub(crate) struct PidFiles {
    dir: Option<PathBuf>,
    /// The pid of each running child, to rewrite a file that went missing.
    running: BTreeMap<Name, i32>,
    /// Whether the last write failed: a failure is logged once, not once
    /// per child per tick, until writing works again.
    failing: bool,
}

impl PidFiles {
    /// Pid files in `dir`, or none. Files a previous monitor left in `dir`
    /// (regular files holding a pid) are removed: no process of ours has
    /// started yet, so none of them is true.
    pub(crate) fn new(dir: Option<PathBuf>) -> Self {
        if let Some(dir) = &dir {
            remove_leftovers(dir);
        }
        PidFiles {
            dir,
            running: BTreeMap::new(),
            failing: false,
        }
    }

    /// Records that `name` runs as `pid`.
    pub(crate) fn write(&mut self, name: &Name, pid: i32) {
        if self.dir.is_none() {
            return;
        }
        self.running.insert(name.clone(), pid);
        self.write_file(name, pid);
    }

    /// Records that `name` no longer runs.
    pub(crate) fn remove(&mut self, name: &Name) {
        let Some(dir) = &self.dir else { return };
        self.running.remove(name);
        let path = dir.join(name.as_str());
        if let Err(e) = fs::remove_file(&path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::error!("pid file {}: {e}", path.display());
        }
    }

    /// Writes again the file of each running child that has gone missing
    /// (called on every `--frequency` tick: one `lstat` per child).
    pub(crate) fn refresh(&mut self) {
        let Some(dir) = &self.dir else { return };
        let missing: Vec<(Name, i32)> = self
            .running
            .iter()
            .filter(|(name, _)| {
                fs::symlink_metadata(dir.join(name.as_str()))
                    .is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
            })
            .map(|(name, pid)| (name.clone(), *pid))
            .collect();
        for (name, pid) in missing {
            self.write_file(&name, pid);
        }
    }

    fn write_file(&mut self, name: &Name, pid: i32) {
        let Some(dir) = &self.dir else { return };
        match replace(
            dir,
            name.as_str(),
            pid.to_string().as_bytes(),
            Durability::Atomic,
        ) {
            Ok(_) => {
                if std::mem::take(&mut self.failing) {
                    tracing::info!("pid files in {} are written again", dir.display());
                }
            }
            Err(e) => {
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::error!(
                        "pid file {}: {e}; retrying every --frequency tick",
                        dir.join(name.as_str()).display()
                    );
                }
            }
        }
    }
}

/// Removes the pid files a previous monitor left in `dir`; anything that is
/// not a small regular file holding a pid is left alone.
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(pid) = read_pid_file(&path) else {
            continue;
        };
        match fs::remove_file(&path) {
            Ok(()) => tracing::info!(
                "removed pid file {:?} (pid {pid}) left by a previous monitor",
                entry.file_name()
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::error!("pid file {:?}: {e}", path),
        }
    }
}

/// The pid in `path`, if it is a small regular file (not followed through a
/// symlink) holding one.
fn read_pid_file(path: &Path) -> Option<i32> {
    let meta = fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_PID_FILE {
        return None;
    }
    let mut text = String::new();
    fs::File::open(path)
        .ok()?
        .take(MAX_PID_FILE)
        .read_to_string(&mut text)
        .ok()?;
    text.trim().parse().ok().filter(|pid: &i32| *pid > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::new(s).expect("valid name")
    }

    #[test]
    fn leftovers_of_a_previous_monitor_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("web"), "4242").expect("write");
        fs::write(dir.path().join("db"), "17\n").expect("write");
        fs::write(dir.path().join("notes"), "not a pid").expect("write");
        fs::create_dir(dir.path().join("sub")).expect("mkdir");
        let _files = PidFiles::new(Some(dir.path().to_owned()));
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["notes", "sub"]);
    }

    #[test]
    fn missing_files_of_running_children_are_written_again() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("pids");
        fs::create_dir(&dir).expect("mkdir");
        let mut files = PidFiles::new(Some(dir.clone()));
        files.write(&name("web"), 10);
        files.write(&name("db"), 11);
        files.remove(&name("db"));
        fs::remove_dir_all(&dir).expect("rm");
        files.refresh();
        fs::create_dir(&dir).expect("mkdir");
        files.refresh();
        assert_eq!(fs::read_to_string(dir.join("web")).expect("read"), "10");
        assert!(!dir.join("db").exists(), "a stopped child's file came back");
    }

    #[test]
    fn a_255_byte_name_gets_its_pid_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut files = PidFiles::new(Some(dir.path().to_owned()));
        let long = name(&"x".repeat(255));
        files.write(&long, 7);
        assert_eq!(
            fs::read_to_string(dir.path().join(long.as_str())).expect("read"),
            "7"
        );
        assert!(!files.failing);
        files.remove(&long);
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 0);
    }
}
