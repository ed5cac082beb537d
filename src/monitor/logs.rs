//! Where each process's output goes: `--log-dir`, `--log-max-bytes` and
//! `--log-backups`, overridden by a config's `"log"` key, resolved at each
//! start into a log file (written by [`crate::logfiles`]) or the monitor's
//! stderr.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use ncolony_core::spec::{LogTarget, Name};

use super::args::MonitorArgs;
use crate::logfiles::LogFile;

/// What the status snapshot says of a process that logs to stderr.
pub(crate) const STDERR: &str = "stderr";

/// The monitor's log options.
pub(crate) struct LogSettings {
    /// `--log-dir`, made absolute.
    dir: Option<PathBuf>,
    max_bytes: u64,
    backups: u32,
    /// The last warning given for each name whose `"log"` cannot be
    /// followed, so that it is given once per change.
    warned: HashMap<Name, String>,
}

impl LogSettings {
    /// The options, checked: a `--log-dir` that exists but is not a
    /// directory is an error naming it; a missing one is created (if that
    /// fails, it is logged, and each process's output goes to stderr until
    /// its file can be made).
    pub(crate) fn new(args: &MonitorArgs) -> anyhow::Result<Self> {
        let dir = match &args.log_dir {
            None => None,
            Some(dir) => {
                let dir = std::path::absolute(dir)
                    .with_context(|| format!("--log-dir {}", dir.display()))?;
                check_dir(&dir)?;
                Some(dir)
            }
        };
        Ok(LogSettings {
            dir,
            max_bytes: args.log_max_bytes,
            backups: args.log_backups,
            warned: HashMap::new(),
        })
    }

    /// Where `name`'s output goes, given its `"log"` key: its file, or
    /// `None` for the monitor's stderr.
    pub(crate) fn resolve(
        &mut self,
        name: &Name,
        target: Option<&LogTarget>,
    ) -> Option<Arc<LogFile>> {
        let (path, max_bytes, backups) = match target {
            Some(LogTarget::Stderr) => return None,
            None => (None, None, None),
            Some(LogTarget::File {
                path,
                max_bytes,
                backups,
            }) => (path.as_deref(), *max_bytes, *backups),
        };
        let path = match (path, &self.dir) {
            (Some(path), _) if Path::new(path).is_absolute() => PathBuf::from(path),
            (Some(path), Some(dir)) => dir.join(path),
            (None, Some(dir)) => dir.join(format!("{name}.log")),
            (None, None) if target.is_none() => return None,
            (path, None) => {
                let what = match path {
                    Some(path) => format!("\"log.path\" {path:?} is relative"),
                    None => "\"log\" gives no \"path\"".to_owned(),
                };
                let warning = format!(
                    "{what} and the monitor has no --log-dir; its output goes to the \
                     monitor's stderr"
                );
                if self.warned.get(name) != Some(&warning) {
                    tracing::warn!(name = %name, "{warning}");
                    self.warned.insert(name.clone(), warning);
                }
                return None;
            }
        };
        self.warned.remove(name);
        Some(Arc::new(LogFile {
            name: name.to_string(),
            path,
            max_bytes: max_bytes.unwrap_or(self.max_bytes),
            backups: backups.unwrap_or(self.backups),
            create_under: self.dir.clone(),
        }))
    }
}

/// What the status snapshot shows of where a process's output goes.
pub(crate) fn shown(file: Option<&LogFile>) -> String {
    file.map_or_else(|| STDERR.to_owned(), |f| f.path.display().to_string())
}

/// Checks `--log-dir` at start: a directory, or missing and then created.
fn check_dir(dir: &Path) -> anyhow::Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => bail!("--log-dir {}: not a directory", dir.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Err(e) = fs::create_dir_all(dir) {
                tracing::error!(
                    "--log-dir {}: cannot create it: {e}; output goes to the monitor's stderr \
                     until it can be",
                    dir.display()
                );
            }
            Ok(())
        }
        Err(e) => {
            // Unreadable for now (e.g. a parent without search permission):
            // the writer reports and retries per file.
            tracing::error!("--log-dir {}: {e}", dir.display());
            Ok(())
        }
    }
}
