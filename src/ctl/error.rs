//! Why a ctl operation failed: one variant per failure, the cause as its
//! `source`.

use std::io;
use std::path::PathBuf;

use ncolony_core::spec::{NameError, SpecError};

/// Why a ctl operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CtlError {
    /// The process name could not be a config file the monitor runs.
    #[error("invalid NAME {name:?}")]
    Name {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        #[source]
        source: NameError,
    },
    /// A file of the monitor's state directory cannot be read or parsed.
    #[error("cannot read {}: {problem}", path.display())]
    StateFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A restart group name is empty.
    #[error("invalid group {0:?}: a group name must not be empty")]
    Group(String),
    /// An `--env` setting is not `KEY=VALUE` with a non-empty KEY.
    #[error("invalid --env {0:?}: expected KEY=VALUE with a non-empty KEY")]
    Env(String),
    /// An extras file could not be read.
    #[error("reading --extras file {}", path.display())]
    ReadExtras {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Extras are not a JSON object.
    #[error("--extras {origin}: {problem}")]
    Extras {
        /// The file name, or "text" for extras given as a string.
        origin: String,
        /// What is wrong.
        problem: String,
    },
    /// A number option is out of range.
    #[error("invalid {what}: {problem}")]
    Value {
        /// The option, e.g. `--heartbeat-period`.
        what: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The config would not be accepted by the monitor, so it is not written.
    #[error("the config for {name:?} would be refused by the monitor")]
    Invalid {
        /// The process name.
        name: String,
        /// Every problem with the config.
        #[source]
        source: SpecError,
    },
    /// One of the two directories is missing or unusable.
    #[error("{which} directory {}", path.display())]
    Dir {
        /// `config` or `messages`.
        which: &'static str,
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// One of the two directories is not a directory.
    #[error("{which} directory {} is not a directory", path.display())]
    NotDir {
        /// `config` or `messages`.
        which: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// `remove` was asked for a process that has no config file.
    #[error("no process {name:?} is configured in {}", dir.display())]
    NotConfigured {
        /// The name.
        name: String,
        /// The config directory.
        dir: PathBuf,
    },
    /// `--cmd` is a relative path, which the monitor would resolve against
    /// its own working directory, not ctl's.
    #[error(
        "invalid --cmd {cmd:?}: a relative path is resolved in the monitor's working directory, \
         not this one; give an absolute path{} or a bare name to look up on PATH",
        absolute.as_ref().map(|p| format!(" such as {:?}", p.display().to_string())).unwrap_or_default()
    )]
    RelativeCmd {
        /// The command as given.
        cmd: String,
        /// What it names from ctl's working directory, when that is known.
        absolute: Option<PathBuf>,
    },
    /// The state directory has no status snapshot: no monitor has run there.
    #[error(
        "no status snapshot at {}: no monitor has run with this state directory, so where a \
         process's output goes is not known",
        path.display()
    )]
    NoSnapshot {
        /// The snapshot's path.
        path: PathBuf,
    },
    /// The status snapshot does not list the process.
    #[error("no process named {name:?} in {}", path.display())]
    NoSuchProcess {
        /// The name as given.
        name: String,
        /// The snapshot.
        path: PathBuf,
    },
    /// The monitor has not started the process yet, so where its output
    /// goes is not known.
    #[error("the monitor has not started {name:?} yet, so where its output goes is not known")]
    LogNotKnown {
        /// The name.
        name: String,
    },
    /// Reading or writing a file failed.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done, e.g. `writing`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}
