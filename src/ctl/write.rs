//! Message file names that sort in send order.

use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::dirs::listing::names;

/// The last message stamp this process used; stamps only go up.
static LAST_STAMP: Mutex<u64> = Mutex::new(0);

/// A new message file name: `STAMP-PID-SEQ`, where STAMP is 20 zero-padded
/// digits of nanoseconds since the epoch, PID the sender's pid (10 digits)
/// and SEQ a per-process counter.
///
/// Names sort in send order: the stamp is above every stamp already waiting
/// in `dir` and every stamp this process used before, so a message sent
/// after another one was written (by any process) sorts after it, even if
/// the clock stepped back. Messages sent concurrently get distinct names
/// (the pid and counter differ) in some order.
pub(crate) fn message_name(dir: &Path) -> io::Result<String> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let floor = pending_max_stamp(dir)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let stamp = {
        let mut last = LAST_STAMP.lock().unwrap_or_else(|e| e.into_inner());
        let stamp = now.max(floor.saturating_add(1)).max(last.saturating_add(1));
        *last = stamp;
        stamp
    };
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    Ok(format!(
        "{stamp:020}-{pid:010}-{seq:06}",
        pid = std::process::id()
    ))
}

/// The highest stamp among the message files waiting in `dir` (0 if none).
fn pending_max_stamp(dir: &Path) -> io::Result<u64> {
    Ok(names(dir)?
        .iter()
        .filter_map(|name| name.to_str().and_then(parse_stamp))
        .max()
        .unwrap_or(0))
}

/// The stamp of a file name written by [`message_name`].
pub(crate) fn parse_stamp(name: &str) -> Option<u64> {
    let (stamp, _) = name.split_once('-')?;
    if stamp.len() == 20 && stamp.bytes().all(|b| b.is_ascii_digit()) {
        stamp.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn message_names_increase_and_parse() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut names: Vec<String> = (0..100)
            .map(|_| message_name(dir.path()).expect("name"))
            .collect();
        let sorted = {
            let mut s = names.clone();
            s.sort();
            s
        };
        assert_eq!(names, sorted);
        names.dedup();
        assert_eq!(names.len(), 100);
        assert!(names.iter().all(|n| parse_stamp(n).is_some()));
    }

    #[test]
    fn a_pending_message_from_the_future_is_outranked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let future = "10000000000000000000-0000000001-000000";
        fs::write(dir.path().join(future), "{}").expect("write");
        let name = message_name(dir.path()).expect("name");
        assert!(name.as_str() > future, "{name}");
    }
}
