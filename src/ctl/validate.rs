//! `ncolony ctl validate`: the config directory checked exactly as the
//! monitor reads it (the same entry reader, the same `ProcSpec::parse`),
//! without touching the colony.

use std::fmt;
use std::fs;

use ncolony_core::spec::{Name, ProcSpec, after_cycles, check_after};

use super::places::check_dir;
use super::{CtlError, Places};
use crate::dirs::config::{EntryName, entry_name, read_config};
use crate::dirs::listing::names;

/// A config file's name and what it configures, or every problem the
/// monitor would log for it.
pub(crate) type Checked = (String, Result<ProcSpec, Vec<String>>);

/// Every config file the monitor would read, sorted by name (those on an
/// `after` cycle invalid), each read
/// exactly as the monitor reads it (bounded, never blocking) and parsed.
/// Names the monitor refuses (not UTF-8, a control character) are listed
/// with the problem, escaped; names it skips (dot files, `*.new`, editor
/// leftovers) and non-files are left out.
pub(crate) fn read_configs(places: &Places) -> Result<Vec<Checked>, CtlError> {
    let mut list = read_each(places)?;
    mark_cycles(&mut list);
    Ok(list)
}

/// Every config file, each checked on its own (no cycle check).
pub(crate) fn read_each(places: &Places) -> Result<Vec<Checked>, CtlError> {
    check_dir("config", &places.config)?;
    let read_error = |source| CtlError::Io {
        action: "listing",
        path: places.config.clone(),
        source,
    };
    let mut list = Vec::new();
    for file_name in names(&places.config).map_err(read_error)? {
        // A name the monitor refuses is listed as invalid, escaped: it must
        // not reach a terminal raw.
        let name = match entry_name(&file_name) {
            EntryName::Ignored => continue,
            EntryName::Config(name) => name.to_string(),
            EntryName::Refused(e) => {
                let shown = file_name.to_string_lossy().escape_debug().to_string();
                list.push((shown, Err(vec![e.to_string()])));
                continue;
            }
            EntryName::NotUtf8 => {
                list.push((
                    format!("{file_name:?}"),
                    Err(vec!["name is not UTF-8".to_owned()]),
                ));
                continue;
            }
        };
        let path = places.config.join(&file_name);
        // Follow symlinks, as the monitor does; a vanished entry is skipped.
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let spec = read_config(&path, &meta)
            .map_err(|problem| vec![problem])
            .and_then(|bytes| ProcSpec::parse(&bytes).map_err(|e| e.problems))
            .and_then(|spec| match Name::new(name.as_str()) {
                // The one check the parser cannot make: it has no name.
                Ok(n) => check_after(&n, &spec.order)
                    .map(|()| spec)
                    .map_err(|p| vec![p]),
                Err(_) => Ok(spec),
            });
        list.push((name, spec));
    }
    list.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(list)
}

/// Makes every config on an `after` cycle invalid, with the problem naming
/// the cycle, as the monitor does.
pub(crate) fn mark_cycles(list: &mut [Checked]) {
    let named: Vec<(Name, Vec<Name>)> = list
        .iter()
        .filter_map(|(name, spec)| {
            let spec = spec.as_ref().ok()?;
            Some((Name::new(name.as_str()).ok()?, spec.order.after.clone()))
        })
        .collect();
    let cycles = after_cycles(named.iter().map(|(n, after)| (n, after.as_slice())));
    for cycle in cycles {
        let problem = cycle.to_string();
        for member in &cycle.members {
            // The list is sorted by name.
            if let Ok(i) = list.binary_search_by(|(n, _)| n.as_str().cmp(member.as_str())) {
                list[i].1 = Err(vec![problem.clone()]);
            }
        }
    }
}

/// One finding of [`validate`]: `NAME: WHAT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The process name (escaped when the monitor would refuse it).
    pub name: String,
    /// The problem or warning, as the monitor logs it.
    pub what: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.what)
    }
}

/// What [`validate`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validation {
    /// How many configs were checked.
    pub checked: usize,
    /// Every problem: each makes its process invalid (or, for a NAME asked
    /// for, says it is not configured).
    pub problems: Vec<Finding>,
    /// Every warning (unknown keys): the process runs anyway.
    pub warnings: Vec<Finding>,
}

impl Validation {
    /// Whether there is no problem (warnings do not count).
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the configs in `places.config` as the monitor would: all of them,
/// or only `only` when it is not empty (a name there that is not
/// configured is a problem). Nothing is written.
pub fn validate(places: &Places, only: &[String]) -> Result<Validation, CtlError> {
    let mut list = read_configs(places)?;
    let mut out = Validation::default();
    if !only.is_empty() {
        for name in only {
            if !list.iter().any(|(n, _)| n == name) {
                out.problems.push(Finding {
                    name: name.escape_debug().to_string(),
                    what: format!("not configured in {}", places.config.display()),
                });
            }
        }
        list.retain(|(n, _)| only.contains(n));
    }
    out.checked = list.len();
    for (name, result) in list {
        match result {
            Ok(spec) => out
                .warnings
                .extend(spec.unknown_keys.iter().map(|key| Finding {
                    name: name.clone(),
                    what: format!("warning: {key}"),
                })),
            Err(problems) => out
                .problems
                .extend(problems.into_iter().map(|what| Finding {
                    name: name.clone(),
                    what,
                })),
        }
    }
    // Problems in name order, whatever their source.
    out.problems.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
