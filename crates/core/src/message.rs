//! The messages directory format: one JSON request per file.

use serde::{Deserialize, Serialize};

/// A request dropped in the messages directory.
///
/// Serialized exactly as the original NColony writes them, e.g.
/// `{"type": "RESTART", "name": "web"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Message {
    /// Stop the named process; the restart policy starts it again.
    #[serde(rename = "RESTART")]
    Restart {
        /// The process to restart.
        name: String,
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
}

/// Why a message file could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The bytes are not UTF-8 JSON of a known message type.
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

    #[test]
    fn round_trips_in_the_original_format() {
        let m = Message::Restart { name: "web".into() };
        assert_eq!(m.to_json(), br#"{"type":"RESTART","name":"web"}"#);
        assert_eq!(Message::RestartAll.to_json(), br#"{"type":"RESTART-ALL"}"#);
        let g = Message::parse(br#"{"type": "RESTART-GROUP", "group": "fe"}"#).expect("valid");
        assert_eq!(g, Message::RestartGroup { group: "fe".into() });
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
