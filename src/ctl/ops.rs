//! The operations: each writes (or removes) one file in a colony's
//! directories, atomically.

use std::fs;
use std::io;
use std::path::PathBuf;

use ncolony_core::Message;
use ncolony_core::spec::{Name, ProcSpec, after_cycles, check_after};

use super::options::check_group;
use super::places::check_dir;
use super::{AddOptions, CtlError, Places, pyjson, status, write};

fn check_name(name: &str) -> Result<Name, CtlError> {
    Name::new(name).map_err(|source| CtlError::Name {
        name: name.to_owned(),
        source,
    })
}

/// Adds (or reconfigures) process `name`: writes `CONFIG/NAME` atomically and
/// returns its path. A config the monitor would refuse (say, extras that
/// replace `args` with a number) is not written.
pub fn add(places: &Places, name: &str, options: &AddOptions) -> Result<PathBuf, CtlError> {
    let name = check_name(name)?;
    options.check()?;
    check_dir("config", &places.config)?;
    let text = options.config_text();
    let spec = ProcSpec::parse(text.as_bytes()).map_err(|source| CtlError::Invalid {
        name: name.to_string(),
        source,
    })?;
    check_order(places, &name, &spec)?;
    crate::atomic::write_atomic(&places.config, name.as_str(), text.as_bytes()).map_err(|source| {
        CtlError::Io {
            action: "writing",
            path: places.config.join(name.as_str()),
            source,
        }
    })
}

/// Refuses an `after` the monitor would refuse: one naming the process
/// itself, or one closing a cycle with the configs already there (which
/// would make every config on it invalid).
fn check_order(places: &Places, name: &Name, spec: &ProcSpec) -> Result<(), CtlError> {
    let value = |problem| CtlError::Value {
        what: "--after",
        problem,
    };
    check_after(name, &spec.order).map_err(value)?;
    if spec.order.after.is_empty() {
        return Ok(());
    }
    let mut others: Vec<(Name, Vec<Name>)> = super::validate::read_each(places)?
        .into_iter()
        .filter_map(|(n, s)| Some((Name::new(n).ok()?, s.ok()?.order.after)))
        .filter(|(n, _)| n != name)
        .collect();
    others.push((name.clone(), spec.order.after.clone()));
    let cycles = after_cycles(others.iter().map(|(n, a)| (n, a.as_slice())));
    match cycles.into_iter().find(|c| c.members.contains(name)) {
        Some(cycle) => Err(value(cycle.to_string())),
        None => Ok(()),
    }
}

/// Removes process `name`: deletes its config file, which stops it.
/// It is an error if there is no such file, as in the original.
pub fn remove(places: &Places, name: &str) -> Result<(), CtlError> {
    let name = check_name(name)?;
    check_dir("config", &places.config)?;
    let path = places.config.join(name.as_str());
    match fs::remove_file(&path) {
        Ok(()) => {
            crate::atomic::sync_dir(&places.config);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(CtlError::NotConfigured {
            name: name.to_string(),
            dir: places.config.clone(),
        }),
        Err(source) => Err(CtlError::Io {
            action: "removing",
            path,
            source,
        }),
    }
}

/// Asks the monitor to restart process `name` (`{"type": "RESTART", ...}`).
/// Returns the message file's path.
pub fn restart(places: &Places, name: &str) -> Result<PathBuf, CtlError> {
    let name = check_name(name)?;
    send(places, &Message::Restart { name })
}

/// Asks the monitor to stop process `name` and hold it down, its config
/// untouched, until [`start`] (`{"type": "STOP", "name": ...}`). Returns
/// the message file's path.
pub fn stop(places: &Places, name: &str) -> Result<PathBuf, CtlError> {
    let name = check_name(name)?;
    send(places, &Message::Stop { name })
}

/// Asks the monitor to release process `name`'s hold and start it now
/// (`{"type": "START", "name": ...}`). Returns the message file's path.
pub fn start(places: &Places, name: &str) -> Result<PathBuf, CtlError> {
    let name = check_name(name)?;
    send(places, &Message::Start { name })
}

/// Asks the monitor to restart every process (`{"type": "RESTART-ALL"}`).
pub fn restart_all(places: &Places) -> Result<PathBuf, CtlError> {
    send(places, &Message::RestartAll)
}

/// Asks the monitor to restart every process in `group`
/// (`{"type": "RESTART-GROUP", "group": ...}`).
pub fn restart_group(places: &Places, group: &str) -> Result<PathBuf, CtlError> {
    check_group(group)?;
    send(
        places,
        &Message::RestartGroup {
            group: group.to_owned(),
        },
    )
}

/// Why a restart of `name` will likely do nothing, in one line naming the
/// config directory: no such config, an invalid one, or an unreadable
/// directory. `None` when `name` is configured and valid.
pub(super) fn unconfigured_name(places: &Places, name: &str) -> Option<String> {
    let dir = places.config.display();
    match status::configs(places) {
        Err(e) => Some(format!(
            "could not check that {name:?} is configured: {:#}",
            anyhow::Error::new(e)
        )),
        Ok(list) => match list.into_iter().find(|(n, _)| n == name) {
            None => Some(format!("no process {name:?} is configured in {dir}")),
            Some((_, Err(problem))) => Some(format!(
                "the config of {name:?} in {dir} is invalid ({problem}), so the monitor does not run it"
            )),
            Some((_, Ok(_))) => None,
        },
    }
}

/// Like [`unconfigured_name`], for a restart group: `None` when some valid
/// config puts a process in `group`.
pub(super) fn unconfigured_group(places: &Places, group: &str) -> Option<String> {
    let dir = places.config.display();
    match status::configs(places) {
        Err(e) => Some(format!(
            "could not check that group {group:?} has processes: {:#}",
            anyhow::Error::new(e)
        )),
        Ok(list) => {
            let in_group = |spec: &ProcSpec| spec.groups.iter().any(|g| g == group);
            if list
                .iter()
                .any(|(_, spec)| spec.as_ref().is_ok_and(in_group))
            {
                None
            } else {
                Some(format!(
                    "no process configured in {dir} is in group {group:?}"
                ))
            }
        }
    }
}

/// The message as the original writes it (`json.dumps` of a dict).
/// `Message`'s serde form is the original's dict: `type` first, then fields.
fn message_text(message: &Message) -> String {
    pyjson::dumps(message)
}

/// Drops `message` into the messages directory under a name that sorts in
/// send order.
fn send(places: &Places, message: &Message) -> Result<PathBuf, CtlError> {
    let dir = &places.messages;
    check_dir("messages", dir)?;
    let io_error = |source| CtlError::Io {
        action: "writing a message in",
        path: dir.clone(),
        source,
    };
    let file = write::message_name(dir).map_err(io_error)?;
    crate::atomic::write_atomic(dir, &file, message_text(message).as_bytes()).map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_written_like_the_original() {
        for (m, text) in [
            (
                Message::Restart {
                    name: Name::new("web").expect("valid name"),
                },
                r#"{"type": "RESTART", "name": "web"}"#,
            ),
            (Message::RestartAll, r#"{"type": "RESTART-ALL"}"#),
            (
                Message::Stop {
                    name: Name::new("web").expect("valid name"),
                },
                r#"{"type": "STOP", "name": "web"}"#,
            ),
            (
                Message::Start {
                    name: Name::new("web").expect("valid name"),
                },
                r#"{"type": "START", "name": "web"}"#,
            ),
            (
                Message::RestartGroup { group: "fe".into() },
                r#"{"type": "RESTART-GROUP", "group": "fe"}"#,
            ),
        ] {
            assert_eq!(message_text(&m), text);
            assert_eq!(Message::parse(text.as_bytes()).expect("parses"), m);
        }
    }
}
