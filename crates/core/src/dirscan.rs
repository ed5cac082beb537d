//! The directory checker, pure: the difference between two snapshots of the
//! config directory, by content, as the original's checker decides it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::spec::Name;

/// What the config directory holds: each config's name and its bytes. The
/// directory's reader validates the names (a file whose name is no [`Name`]
/// is never a config).
pub type Snapshot = BTreeMap<Name, Arc<[u8]>>;

/// One difference between two snapshots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A file that was not there before.
    Added {
        /// The file (process) name.
        name: Name,
        /// Its bytes.
        content: Arc<[u8]>,
    },
    /// A file whose bytes differ.
    Changed {
        /// The file (process) name.
        name: Name,
        /// Its new bytes.
        content: Arc<[u8]>,
    },
    /// A file that is gone.
    Removed {
        /// The file (process) name.
        name: Name,
    },
}

/// The changes that turn `old` into `new`, in name order. Files whose bytes
/// are the same are not changes, even if they were rewritten.
pub fn diff(old: &Snapshot, new: &Snapshot) -> Vec<Change> {
    let mut changes = Vec::new();
    for (name, content) in new {
        match old.get(name) {
            None => changes.push(Change::Added {
                name: name.clone(),
                content: content.clone(),
            }),
            Some(before) if before != content => changes.push(Change::Changed {
                name: name.clone(),
                content: content.clone(),
            }),
            Some(_) => {}
        }
    }
    for name in old.keys() {
        if !new.contains_key(name) {
            changes.push(Change::Removed { name: name.clone() });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::new(s).expect("valid name")
    }

    fn snap(items: &[(&str, &str)]) -> Snapshot {
        items
            .iter()
            .map(|(n, c)| (name(n), Arc::from(c.as_bytes())))
            .collect()
    }

    #[test]
    fn diff_finds_added_changed_and_removed() {
        let old = snap(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let new = snap(&[("a", "1"), ("b", "22"), ("d", "4")]);
        let changes = diff(&old, &new);
        assert_eq!(
            changes,
            vec![
                Change::Changed {
                    name: name("b"),
                    content: Arc::from(&b"22"[..])
                },
                Change::Added {
                    name: name("d"),
                    content: Arc::from(&b"4"[..])
                },
                Change::Removed { name: name("c") },
            ]
        );
        assert!(diff(&new, &new).is_empty());
    }
}
