//! Integration tests for a careless or hostile config directory (issue 8,
//! points 8, 10 to 13): editor leftovers, misspelled keys, huge files, odd
//! names, symlink loops and dangling links, pid files that must follow the
//! running set, and edits that make a running config unusable.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::Path;
use std::time::Duration;

use crate::support::*;

/// The longest config text a child can be given in `NCOLONY_CONFIG`.
const MAX_CONFIG_LEN: usize = 131_056;

/// How many times `needle` occurs in the monitor's log.
fn count(m: &Monitor, needle: &str) -> usize {
    m.log().matches(needle).count()
}

/// A config whose process touches `work/MARKER` and sleeps: it ran if the
/// marker exists.
fn marker_config(c: &Colony, marker: &str) -> String {
    let script = format!("touch {}; exec sleep 1000", c.work.join(marker).display());
    serde_json::json!({"args": ["/bin/sh", "-c", script]}).to_string()
}

/// Writes `dir/name` through a temporary file outside `dir` (a name near
/// the 255-byte limit has no room for a `.new` suffix) and a rename.
fn write_via_rename(c: &Colony, dir: &Path, name: impl AsRef<OsStr>, text: &str) {
    let tmp = c.tmp.path().join("incoming");
    fs::write(&tmp, text).expect("write");
    fs::rename(&tmp, dir.join(name.as_ref())).expect("rename");
}

fn pid_file(dir: &Path, name: &str) -> Option<i32> {
    fs::read_to_string(dir.join(name)).ok()?.trim().parse().ok()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

const LEFTOVERS: [&str; 12] = [
    "web~",
    "#web#",
    "web.swp",
    "web.swx",
    "web.tmp",
    "web.bak",
    "web.orig",
    "web.dpkg-old",
    "web.dpkg-new",
    "web.dpkg-dist",
    "web.rpmnew",
    "web.rpmsave",
];

#[test]
fn editor_and_package_manager_leftovers_never_run_nor_show_in_status() {
    let c = Colony::new();
    for (i, leftover) in LEFTOVERS.iter().enumerate() {
        fs::write(
            c.config.join(leftover),
            marker_config(&c, &format!("ran-{i}")),
        )
        .expect("write");
    }
    c.add_sh("web", &c.pid_recorder("web"));
    let m = c.monitor(&["--frequency", "600"]);
    c.wait_pids("web", 1);
    m.rescans(2);
    // Leftovers added while it runs are ignored too.
    fs::copy(c.config.join("web"), c.config.join("web~")).expect("cp web web~");
    m.rescans(2);
    assert!(
        listing(&c.work).iter().all(|f| !f.starts_with("ran-")),
        "{:?}",
        listing(&c.work)
    );
    assert_eq!(count(&m, "started name="), 1, "{}", m.log());
    assert_eq!(c.recorded_pids("web").len(), 1);
    // ctl status lists only the real one; ctl add refuses to create one.
    let status = run(&[
        "ctl",
        "--config",
        c.config.to_str().expect("utf8"),
        "--messages",
        c.messages.to_str().expect("utf8"),
        "status",
    ]);
    assert!(status.status.success(), "{status:?}");
    // The monitor's line, the header, then one row.
    assert_eq!(
        String::from_utf8_lossy(&status.stdout).lines().count(),
        3,
        "{status:?}"
    );
    for leftover in ["web2~", "#web2#", "web2.swp", "web2.rpmsave"] {
        let added = run(&[
            "ctl",
            "--config",
            c.config.to_str().expect("utf8"),
            "--messages",
            c.messages.to_str().expect("utf8"),
            "add",
            leftover,
            "--cmd",
            "/bin/true",
        ]);
        assert!(!added.status.success(), "ctl add {leftover} succeeded");
        assert!(
            String::from_utf8_lossy(&added.stderr).contains("leftover"),
            "{added:?}"
        );
        assert!(!c.config.join(leftover).exists());
    }
}

#[test]
fn a_misspelled_key_is_warned_once_with_a_suggestion_and_the_process_runs() {
    let c = Colony::new();
    let text = serde_json::json!({
        "args": ["/bin/sh", "-c", c.pid_recorder("web")],
        "grup": ["frontends"],
        "ncolony.beatcheck": {"period": 3},
        "zzzz": 1,
    })
    .to_string();
    c.write_config("web", &text);
    let m = c.monitor(&["--frequency", "600"]);
    c.wait_pids("web", 1);
    let warning = r#"config web: unknown key "grup" (ignored); did you mean "group"?"#;
    m.wait_log(warning);
    m.wait_log(r#"config web: unknown key "zzzz" (ignored)"#);
    // Rewriting the same text (a new inode, re-read) and rescanning: no repeat.
    c.write_config("web", &text);
    m.rescans(3);
    assert_eq!(count(&m, warning), 1, "{}", m.log());
    assert_eq!(count(&m, "zzzz"), 1, "{}", m.log());
    assert!(!m.log().contains("extension"), "{}", m.log());
    assert!(!m.log().contains("ncolony.beatcheck"), "{}", m.log());
    // A new content is warned about again.
    c.write_config("web", &text.replace("zzzz", "yyyy"));
    m.wait_log(r#"config web: unknown key "yyyy" (ignored)"#);
    assert_eq!(count(&m, warning), 2, "{}", m.log());
}

/// A config of exactly `len` bytes for `name`, padded in an extension key.
fn padded_config(c: &Colony, name: &str, len: usize) -> String {
    let head = serde_json::json!({"args": ["/bin/sh", "-c", c.pid_recorder(name)]}).to_string();
    let head = head.strip_suffix('}').expect("object");
    let start = format!(r#"{head}, "x.pad": ""#);
    let text = format!("{start}{}\"}}", "a".repeat(len - start.len() - 2));
    assert_eq!(text.len(), len);
    text
}

#[test]
fn a_config_too_large_for_ncolony_config_is_refused_and_the_largest_that_fits_runs() {
    let c = Colony::new();
    c.write_config("fits", &padded_config(&c, "fits", MAX_CONFIG_LEN));
    c.write_config("over", &padded_config(&c, "over", MAX_CONFIG_LEN + 1));
    let m = c.monitor(&["--frequency", "600"]);
    c.wait_pids("fits", 1);
    m.wait_log(
        "config over: file is 131057 bytes, more than the 131056 bytes that fit in \
         NCOLONY_CONFIG (Linux limits one environment string to 128 KiB); not running it",
    );
    m.rescans(2);
    assert!(c.recorded_pids("over").is_empty());
    assert!(!m.log().contains("Argument list too long"), "{}", m.log());
    assert_eq!(count(&m, "config over:"), 1, "{}", m.log());
}

#[test]
fn a_100_mb_config_is_not_read_and_does_not_hold_up_the_loop() {
    let c = Colony::new();
    c.add_sh("other", &c.pid_recorder("other"));
    let m = c.monitor(&["--frequency", "600"]);
    let first = c.wait_pids("other", 1);
    // Sparse: 100 MB on paper, which reading would cost in memory.
    let huge = fs::File::create(c.tmp.path().join("huge")).expect("create");
    huge.set_len(100_000_000).expect("set_len");
    fs::rename(c.tmp.path().join("huge"), c.config.join("huge")).expect("rename");
    c.send("001", r#"{"type": "RESTART", "name": "other"}"#);
    let second = c.wait_pids("other", 2);
    assert_ne!(first, second);
    m.wait_log("config huge: file is 100000000 bytes");
    let peak_kib: u64 = proc_status_field(m.pid(), "VmHWM")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM");
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
}

#[test]
fn bad_file_names_are_logged_once_escaped_and_never_run() {
    let c = Colony::new();
    let bad: [&[u8]; 4] = [b"bad\xff", b"new\nline", b"esc\x1b[31mred", b"tab\tbed"];
    for (i, name) in bad.iter().enumerate() {
        fs::write(
            c.config.join(OsStr::from_bytes(name)),
            marker_config(&c, &format!("ran-{i}")),
        )
        .expect("write");
    }
    c.add_sh("web", &c.pid_recorder("web"));
    let m = c.monitor(&["--frequency", "600"]);
    c.wait_pids("web", 1);
    let expected = [
        r#"name "bad\xFF" is not UTF-8; not running it"#,
        r#"name "new\nline" contains a control character; not running it"#,
        r#"name "esc\u{1b}[31mred" contains a control character; not running it"#,
        r#"name "tab\tbed" contains a control character; not running it"#,
    ];
    for line in expected {
        m.wait_log(line);
    }
    m.rescans(3);
    let log = m.log();
    for line in expected {
        assert_eq!(log.matches(line).count(), 1, "{line}: {log}");
    }
    assert!(!log.contains('\x1b'), "raw ESC in the log: {log:?}");
    assert!(
        !log.lines().any(|l| l.starts_with("line")),
        "a name split a log line: {log}"
    );
    assert!(listing(&c.work).iter().all(|f| !f.starts_with("ran-")));
    // Replacing the entry (atomically: one change) logs it again, once.
    write_via_rename(&c, &c.config, OsStr::from_bytes(b"new\nline"), "{}");
    assert!(
        wait_until(SOON, || count(&m, expected[1]) == 2),
        "{}",
        m.log()
    );
}

#[test]
fn a_symlink_loop_and_a_dangling_symlink_are_each_logged_once() {
    let c = Colony::new();
    symlink("loop", c.config.join("loop")).expect("symlink");
    symlink("nowhere", c.config.join("dangling")).expect("symlink");
    c.add_sh("web", &c.pid_recorder("web"));
    let m = c.monitor(&["--frequency", "0.1"]);
    c.wait_pids("web", 1);
    m.wait_log("config loop: Too many levels of symbolic links");
    m.wait_log(r#"config dangling: dangling symbolic link to "nowhere"; not running it"#);
    m.rescans(3);
    // And many --frequency ticks.
    let ticks = std::time::Instant::now();
    assert!(!wait_until(Duration::from_millis(600), || {
        count(&m, "config loop:") > 1 || count(&m, "config dangling:") > 1
    }));
    assert!(ticks.elapsed() >= Duration::from_millis(600));
    // A change (a new target) is logged again.
    fs::remove_file(c.config.join("dangling")).expect("rm");
    symlink("elsewhere", c.config.join("dangling")).expect("symlink");
    m.wait_log(r#"config dangling: dangling symbolic link to "elsewhere""#);
    assert_eq!(count(&m, "config loop:"), 1, "{}", m.log());
    assert_eq!(count(&m, "config dangling:"), 2, "{}", m.log());
}

#[test]
fn pid_files_work_for_a_255_byte_name_and_come_back_after_the_directory_is_recreated() {
    let c = Colony::new();
    let long = "x".repeat(255);
    c.add_sh("web", &c.pid_recorder("web"));
    write_via_rename(
        &c,
        &c.config,
        &long,
        &serde_json::json!({"args": ["/bin/sh", "-c", c.pid_recorder("long")]}).to_string(),
    );
    let m = c.monitor(&[
        "--frequency",
        "0.2",
        "--pid",
        c.pids.to_str().expect("utf8"),
    ]);
    let web = c.wait_pids("web", 1);
    let long_pid = c.wait_pids("long", 1);
    assert!(
        wait_until(SOON, || pid_file(&c.pids, &long) == Some(long_pid)),
        "no pid file for the 255-byte name; log:\n{}",
        m.log()
    );
    assert!(wait_until(SOON, || pid_file(&c.pids, "web") == Some(web)));
    fs::remove_dir_all(&c.pids).expect("rm pid dir");
    fs::create_dir(&c.pids).expect("mkdir pid dir");
    assert!(
        wait_until(SOON, || pid_file(&c.pids, "web") == Some(web)
            && pid_file(&c.pids, &long) == Some(long_pid)),
        "pid files not written again: {:?}; log:\n{}",
        listing(&c.pids),
        m.log()
    );
}

#[test]
fn no_pid_file_is_left_for_a_process_that_is_not_running() {
    let c = Colony::new();
    // A previous monitor's leftovers: one for a name this one runs, one not.
    fs::create_dir(&c.pids).expect("mkdir");
    fs::write(c.pids.join("web"), "999999").expect("write");
    fs::write(c.pids.join("ghost"), "999998").expect("write");
    c.add_sh("web", &c.pid_recorder("web"));
    c.write_config("broken", r#"{"args": ["/nonexistent/program"]}"#);
    c.add_sh("quitter", "exit 3");
    let mut m = c.monitor(&[
        "--frequency",
        "0.2",
        "--pid",
        c.pids.to_str().expect("utf8"),
    ]);
    let web = c.wait_pids("web", 1);
    assert!(wait_until(SOON, || pid_file(&c.pids, "web") == Some(web)));
    m.wait_log("broken");
    m.wait_log("quitter");
    m.rescans(2);
    // The ghost is gone, the failed spawn and the quick exits left nothing.
    assert!(
        wait_until(SOON, || listing(&c.pids) == ["web"]),
        "{:?}; log:\n{}",
        listing(&c.pids),
        m.log()
    );
    fs::remove_file(c.config.join("web")).expect("rm");
    assert!(wait_until(SOON, || !is_alive(web)));
    assert!(
        wait_until(SOON, || listing(&c.pids).is_empty()),
        "{:?}",
        listing(&c.pids)
    );
    // Nothing comes back on later ticks, and a clean stop leaves nothing.
    c.add_sh("web", &format!("true; {}", c.pid_recorder("web")));
    let again = c.wait_pids("web", 2);
    assert!(wait_until(SOON, || pid_file(&c.pids, "web") == Some(again)));
    m.signal(15);
    assert_eq!(m.wait_exit(SOON), Some(Some(0)), "{}", m.log());
    assert!(listing(&c.pids).is_empty(), "{:?}", listing(&c.pids));
}

#[test]
fn an_invalid_edit_of_a_running_config_keeps_it_running() {
    let c = Colony::new();
    let good = serde_json::json!({"args": ["/bin/sh", "-c", c.pid_recorder("web")]}).to_string();
    c.write_config("web", &good);
    let m = c.monitor(&["--frequency", "0.2"]);
    let pid = c.wait_pids("web", 1);
    for (bad, problem) in [
        ("{\"args\": [", "invalid JSON"),
        ("", "empty file"),
        (
            &padded_config(&c, "web", MAX_CONFIG_LEN + 1)[..],
            "file is 131057 bytes",
        ),
    ] {
        c.write_config("web", bad);
        m.wait_log(&format!("config web: {problem}"));
        m.rescans(2);
        assert!(is_alive(pid), "stopped by {problem}: {}", m.log());
    }
    m.wait_log("; keeping the running process with its previous config");
    assert!(!m.log().contains("config gone"), "{}", m.log());
    // Back to the same text: nothing to do; a new one: a restart.
    c.write_config("web", &good);
    m.rescans(2);
    assert_eq!(c.recorded_pids("web"), [pid]);
    c.add_sh("web", &format!("true; {}", c.pid_recorder("web")));
    c.wait_pids("web", 2);
    assert!(wait_until(SOON, || !is_alive(pid)));
}

#[test]
fn an_unreadable_edit_of_a_running_config_keeps_it_running() {
    // Root reads a chmod 000 file anyway: only an unprivileged monitor can
    // see one it cannot read.
    let c = Colony::new();
    c.add_sh("web", &c.pid_recorder("web"));
    let m = c.unprivileged_monitor(&["--frequency", "0.2"]);
    let pid = c.wait_pids("web", 1);
    let web = c.config.join("web");
    fs::set_permissions(&web, fs::Permissions::from_mode(0o000)).expect("chmod");
    m.wait_log("config web: cannot read: Permission denied");
    m.wait_log("; keeping the running process with its previous config");
    m.rescans(3);
    assert!(is_alive(pid), "{}", m.log());
    assert_eq!(count(&m, "config web: cannot read"), 1, "{}", m.log());
    // Readable again with the same text: nothing to do.
    fs::set_permissions(&web, fs::Permissions::from_mode(0o644)).expect("chmod");
    m.rescans(2);
    assert_eq!(c.recorded_pids("web"), [pid], "{}", m.log());
    assert!(is_alive(pid));
    // Removing it still stops it.
    fs::remove_file(&web).expect("rm");
    assert!(wait_until(SOON, || !is_alive(pid)), "{}", m.log());
}
