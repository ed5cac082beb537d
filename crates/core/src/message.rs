//! The messages directory format: one JSON request per file.

use std::fmt::{self, Write};

use serde::{Deserialize, Serialize};

use crate::spec::Name;

/// A request dropped in the messages directory.
///
/// Serialized exactly as the original NColony writes them, e.g.
/// `{"type": "RESTART", "name": "web"}`. A RESTART whose name is not a
/// valid [`Name`] (`../x`, an empty string) is not a message: parsing it
/// fails, naming what is wrong with the name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Message {
    /// Stop the named process; the restart policy starts it again.
    #[serde(rename = "RESTART")]
    Restart {
        /// The process to restart.
        name: Name,
    },
    /// Restart every process.
    #[serde(rename = "RESTART-ALL")]
    RestartAll,
    /// Restart every process whose config lists this group.
    #[serde(rename = "RESTART-GROUP")]
    RestartGroup {
        /// The restart group.
        group: String,
    },
    /// Stop the named process and keep it down (a hold), its config
    /// untouched, until a [`Message::Start`].
    #[serde(rename = "STOP")]
    Stop {
        /// The process to hold.
        name: Name,
    },
    /// Release the named process's hold and start it now.
    #[serde(rename = "START")]
    Start {
        /// The process to start.
        name: Name,
    },
}

/// The message as a log line shows it: `RESTART web`, `RESTART-ALL`,
/// `RESTART-GROUP frontends`. Control characters in the group are escaped
/// (a [`Name`] has none), so a message cannot forge or split log lines.
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Restart { name } => write!(f, "RESTART {name}"),
            Message::Stop { name } => write!(f, "STOP {name}"),
            Message::Start { name } => write!(f, "START {name}"),
            Message::RestartAll => f.write_str("RESTART-ALL"),
            Message::RestartGroup { group } => {
                f.write_str("RESTART-GROUP ")?;
                write_escaped(f, group)
            }
        }
    }
}

/// Writes `s` with its control characters escaped (`\n`, `\u{1b}`).
fn write_escaped(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    for c in s.chars() {
        if c.is_control() {
            write!(f, "{}", c.escape_default())?;
        } else {
            f.write_char(c)?;
        }
    }
    Ok(())
}

/// Why a message file could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The bytes are not UTF-8 JSON of a known message type, or a RESTART
    /// names no valid process name.
    #[error("{0}")]
    Invalid(#[from] serde_json::Error),
}

impl Message {
    /// Parses a message file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, MessageError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// The message as the JSON bytes a file should hold.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a plain enum of strings cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::new(s).expect("valid name")
    }

    #[test]
    fn round_trips_in_the_original_format() {
        let m = Message::Restart { name: name("web") };
        assert_eq!(m.to_json(), br#"{"type":"RESTART","name":"web"}"#);
        assert_eq!(Message::RestartAll.to_json(), br#"{"type":"RESTART-ALL"}"#);
        let g = Message::parse(br#"{"type": "RESTART-GROUP", "group": "fe"}"#).expect("valid");
        assert_eq!(g, Message::RestartGroup { group: "fe".into() });
    }

    #[test]
    fn messages_display_as_their_type_and_argument() {
        let shown = |m: Message| m.to_string();
        assert_eq!(shown(Message::Restart { name: name("web") }), "RESTART web");
        assert_eq!(shown(Message::RestartAll), "RESTART-ALL");
        assert_eq!(
            shown(Message::RestartGroup {
                group: "frontends".into()
            }),
            "RESTART-GROUP frontends"
        );
        assert_eq!(
            shown(Message::RestartGroup {
                group: "a\nb\u{1b}[31m".into()
            }),
            "RESTART-GROUP a\\nb\\u{1b}[31m"
        );
    }

    #[test]
    fn a_restart_of_an_invalid_name_is_no_message() {
        // Validated at the edge: no such name reaches the monitor, and a
        // control character in a name never reaches the log.
        for (bad, why) in [
            (r#""../x""#, "contains '/'"),
            (r#""""#, "name is empty"),
            (r#"".hidden""#, "starts with '.'"),
            (r#""a\nb""#, "contains a control character"),
        ] {
            let text = format!(r#"{{"type": "RESTART", "name": {bad}}}"#);
            let err = Message::parse(text.as_bytes()).expect_err(&text);
            assert!(err.to_string().contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn bad_messages_are_errors() {
        for bad in [
            &b"{"[..],
            br#"{"type": "STOP"}"#,
            br#"{"type": "RESTART"}"#,
            br#"{"name": "web"}"#,
            br#"{"type": "RESTART-GROUP", "group": 3}"#,
        ] {
            assert!(
                Message::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
