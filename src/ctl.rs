//! `ncolony ctl` and the library behind it (the original's `ctllib`): add,
//! remove and restart processes by writing a colony's two directories.
//!
//! Everything here only writes files; a running monitor (this one or the
//! original `twistd ncolony`) notices them. A config file is what the
//! original's `ctllib.add` writes, byte for byte, and a message is the JSON
//! the original sends. Every write is atomic: a temporary `.NAME.PID.SEQ.new`
//! sibling is written, flushed and renamed into place.
//!
//! One job per file: [`Places`] (where a colony is), [`Number`] (option
//! values written as Python writes them), [`CtlError`], the builder
//! ([`AddOptions`], [`Heartbeat`], [`HttpCheck`], [`ReadyCheck`]), the operations ([`add`],
//! [`remove`], [`restart`], ...), [`status`], [`validate`], [`wait`], what the monitor
//! publishes ([`colony_status`], [`events`], [`process_log`] and
//! [`last_lines`] for `tail`), and the command line ([`run`]).
//! Behind them: Python-compatible JSON text (`pyjson`) and message file
//! names that sort in send order (`write`).
//!
//! ```
//! use ncolony::ctl::{self, AddOptions, Heartbeat, Places};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! # let (config, messages) = (tmp.path().join("config"), tmp.path().join("messages"));
//! # std::fs::create_dir(&config)?;
//! # std::fs::create_dir(&messages)?;
//! let places = Places::new(&config, &messages);
//! let web = AddOptions::new("/usr/bin/python3")
//!     .arg("-m")
//!     .arg("http.server")
//!     .env("PYTHONUNBUFFERED", "1")
//!     .group("frontends")
//!     .heartbeat(Heartbeat::new("/run/beats"));
//! ctl::add(&places, "web", &web)?;
//! assert_eq!(
//!     std::fs::read_to_string(config.join("web"))?,
//!     r#"{"args": ["/usr/bin/python3", "-m", "http.server"], "env": {"PYTHONUNBUFFERED": "1"}, "#.to_owned()
//!         + r#""group": ["frontends"], "ncolony.beatcheck": {"status": "/run/beats", "period": 10, "grace": 3}}"#
//! );
//!
//! ctl::restart(&places, "web")?; // {"type": "RESTART", "name": "web"}
//! ctl::restart_group(&places, "frontends")?;
//! ctl::restart_all(&places)?;
//! let listed = ctl::status(&places, None)?;
//! assert_eq!(listed[0].name, "web");
//! // What a monitor publishes in MESSAGES/.ncolony; none runs here.
//! let colony = ctl::colony_status(&places, None)?;
//! assert!(!colony.monitor.running);
//! assert_eq!(colony.processes[0].state, "configured");
//! let (events, _unreadable) = ctl::events(&places, None)?;
//! assert!(events.is_empty());
//! ctl::remove(&places, "web")?;
//! # Ok(())
//! # }
//! ```

mod cli;
mod colony;
mod error;
mod number;
mod ops;
mod options;
mod places;
mod pyjson;
mod show;
mod status;
mod tail;
mod validate;
mod wait;
mod write;

pub use crate::statefile::{ColonyStatus, Event, LastExit, MonitorStatus, ProcessStatus};
pub use cli::{CtlArgs, run};
pub use colony::{colony_status, events, state_dir};
pub use error::CtlError;
pub use ncolony_core::spec::ReadyKind;
pub use ncolony_core::spec::{Limit, Resource, Rlimit};
pub use number::Number;
pub use ops::{add, remove, restart, restart_all, restart_group, start, stop};
pub use options::{AddOptions, Heartbeat, HttpCheck, ReadyCheck};
pub use places::Places;
pub use status::{ProcState, ProcStatus, status};
pub use tail::{ProcessLog, last_lines, process_log};
pub use validate::{Finding, Validation, validate};
pub use wait::{Waited, wait};

/// The README's library example (section "Library"), compiled by
/// `cargo test --doc` so that it cannot drift from the API; an integration
/// test (`ctl::the_readme_library_example_is_the_compiled_one`) checks that
/// the README still shows exactly this text.
#[cfg(doctest)]
#[doc = include_str!("ctl/readme_example.md")]
struct ReadmeExample;
