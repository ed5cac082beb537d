//! Integration tests for the process settings (`cwd`, `umask`, `rlimits`,
//! `nice`, `env_file`): what a child of the real monitor sees in `/proc`,
//! and how a bad setting fails its start; then `ctl add`'s flags for every
//! new key and `ctl validate`.

use std::fs;
use std::process::Output;

use serde_json::json;

use crate::support::*;

/// A process that records its pid and sleeps, with `extra` config keys.
fn recorder(c: &Colony, name: &str, extra: serde_json::Value) -> String {
    let mut config = json!({"args": ["/bin/sh", "-c", c.pid_recorder(name)]});
    let (Some(obj), serde_json::Value::Object(more)) = (config.as_object_mut(), extra) else {
        panic!("objects");
    };
    obj.extend(more);
    let text = config.to_string();
    c.write_config(name, &text);
    text
}

/// One line of `/proc/PID/limits` as (soft, hard), e.g. "Max open files".
fn limit(pid: i32, what: &str) -> (String, String) {
    let text = fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = text
        .lines()
        .find(|l| l.starts_with(what))
        .unwrap_or_else(|| panic!("no {what:?} in {text}"));
    let mut fields = line[what.len()..].split_whitespace();
    (
        fields.next().expect("soft").to_owned(),
        fields.next().expect("hard").to_owned(),
    )
}

/// The nice value: field 19 of `/proc/PID/stat`.
fn nice_of(pid: i32) -> i32 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = stat.rfind(')').expect("comm");
    // Field 19 is the 17th after the command name (fields 3.. follow it).
    stat[after + 1..]
        .split_whitespace()
        .nth(16)
        .expect("field 19")
        .parse()
        .expect("a number")
}

fn env_of(pid: i32, key: &str) -> Option<String> {
    proc_environ(pid)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

#[test]
fn the_child_gets_its_cwd_umask_nice_and_limits() {
    require_root("a negative nice value and raised hard limits need root");
    let c = Colony::new();
    let dir = c.work.join("home");
    fs::create_dir(&dir).expect("mkdir");
    recorder(
        &c,
        "tuned",
        json!({
            "cwd": dir.display().to_string(),
            "umask": "027",
            "nice": -3,
            "rlimits": {"nofile": [777, 2000], "core": "unlimited", "nproc": 321,
                        "fsize": [1000000, "unlimited"]}
        }),
    );
    // The plain one shows what the child gets without the settings.
    recorder(&c, "plain", json!({}));
    let _m = c.monitor(&["--frequency", "600"]);
    let pid = c.wait_pids("tuned", 1);
    let plain = c.wait_pids("plain", 1);
    assert_eq!(fs::read_link(format!("/proc/{pid}/cwd")).expect("cwd"), dir);
    assert_eq!(proc_status_field(pid, "Umask").as_deref(), Some("0027"));
    assert_eq!(nice_of(pid), -3);
    // An explicit nofile wins over the soft limit the monitor restores.
    assert_eq!(limit(pid, "Max open files"), ("777".into(), "2000".into()));
    assert_eq!(
        limit(pid, "Max core file size"),
        ("unlimited".into(), "unlimited".into())
    );
    assert_eq!(limit(pid, "Max processes"), ("321".into(), "321".into()));
    assert_eq!(
        limit(pid, "Max file size"),
        ("1000000".into(), "unlimited".into())
    );
    // Without the settings: the monitor's directory and nice value.
    assert_ne!(fs::read_link(format!("/proc/{plain}/cwd")).ok(), Some(dir));
    assert_eq!(nice_of(plain), nice_of(std::process::id() as i32));
    assert_ne!(
        limit(plain, "Max open files"),
        ("777".into(), "2000".into())
    );
}

#[test]
fn settings_apply_before_the_uid_switch() {
    require_root("uid and a raised limit need root");
    let c = Colony::new();
    c.write_config(
        "nobody",
        &json!({"args": ["/bin/sleep", "1000"], "uid": 65534, "gid": 65534, "nice": -2,
                "rlimits": {"nofile": 4321}, "cwd": "/"})
        .to_string(),
    );
    let _m = c.monitor(&[
        "--frequency",
        "600",
        "--pid",
        c.pids.to_str().expect("utf8"),
    ]);
    let pid: i32 = wait_for(SOON, || {
        fs::read_to_string(c.pids.join("nobody"))
            .ok()?
            .trim()
            .parse()
            .ok()
    })
    .expect("pid file");
    let uids = proc_status_field(pid, "Uid").expect("Uid");
    assert!(uids.split_whitespace().all(|u| u == "65534"), "Uid {uids}");
    assert_eq!(proc_status_field(pid, "Groups").as_deref(), Some(""));
    assert_eq!(nice_of(pid), -2);
    assert_eq!(limit(pid, "Max open files"), ("4321".into(), "4321".into()));
}

#[test]
fn the_cwd_is_entered_as_the_user() {
    require_root("uid needs root");
    use std::os::unix::fs::PermissionsExt;
    let c = Colony::new();
    // Root may enter it; nobody may not.
    let private = c.work.join("private");
    fs::create_dir(&private).expect("mkdir");
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).expect("chmod");
    c.write_config(
        "nobody",
        &json!({"args": ["/bin/sleep", "1000"], "uid": 65534, "gid": 65534,
                "cwd": private.display().to_string()})
        .to_string(),
    );
    let m = c.monitor(&["--frequency", "600"]);
    m.wait_log(&format!(
        "nobody: cannot start: \"cwd\" {}: EACCES: Permission denied; retrying in",
        private.display()
    ));
}

#[test]
fn env_files_sit_under_env_and_env_inherit_and_are_read_at_each_start() {
    let c = Colony::new();
    let file = c.work.join("app.env");
    let second = c.work.join("more.env");
    fs::write(
        &file,
        "# settings\nA=file\nB=file\nC=file\nQ=\"two words\"\n",
    )
    .expect("write");
    fs::write(&second, "A=second\n").expect("write");
    recorder(
        &c,
        "envy",
        json!({
            "env": {"B": "env", "C": "env"},
            "env_inherit": ["C"],
            "env_file": [file.display().to_string(), second.display().to_string(),
                         format!("-{}", c.work.join("absent.env").display())]
        }),
    );
    let mut cmd = ncolony();
    cmd.args(["monitor", "--frequency", "600", "--config"])
        .arg(&c.config)
        .arg("--messages")
        .arg(&c.messages)
        .env("C", "inherited");
    let _m = Monitor::spawn(cmd);
    let pid = c.wait_pids("envy", 1);
    assert_eq!(env_of(pid, "A").as_deref(), Some("second"));
    assert_eq!(env_of(pid, "B").as_deref(), Some("env"));
    assert_eq!(env_of(pid, "C").as_deref(), Some("inherited"));
    assert_eq!(env_of(pid, "Q").as_deref(), Some("two words"));
    // A changed file is not a config change; it applies at the next start.
    fs::write(&second, "A=changed\n").expect("write");
    kill(pid, 9);
    let next = c.wait_pids("envy", 2);
    assert_eq!(env_of(next, "A").as_deref(), Some("changed"));
}

#[test]
fn a_missing_env_file_fails_the_start_unless_it_is_optional() {
    let c = Colony::new();
    let missing = c.work.join("missing.env");
    recorder(
        &c,
        "needs",
        json!({"env_file": missing.display().to_string()}),
    );
    recorder(
        &c,
        "optional",
        json!({"env_file": format!("-{}", missing.display())}),
    );
    let m = c.monitor(&["--frequency", "600"]);
    m.wait_log(&format!(
        "needs: cannot start: \"env_file\" {}: No such file or directory (os error 2); retrying in",
        missing.display()
    ));
    c.wait_pids("optional", 1);
    // Once the file exists, the retry starts it.
    fs::write(&missing, "X=1\n").expect("write");
    let pid = c.wait_pids("needs", 1);
    assert_eq!(env_of(pid, "X").as_deref(), Some("1"));
}

#[test]
fn a_malformed_env_line_fails_the_start_naming_file_and_line() {
    let c = Colony::new();
    let file = c.work.join("bad.env");
    fs::write(&file, "A=1\n# fine\n\nthis is not an assignment\n").expect("write");
    recorder(&c, "bad", json!({"env_file": file.display().to_string()}));
    let m = c.monitor(&["--frequency", "600"]);
    m.wait_log(&format!(
        "bad: cannot start: \"env_file\" {}: line 4: expected KEY=VALUE, found \"this is not an assignment\"; retrying in",
        file.display()
    ));
    assert!(c.recorded_pids("bad").is_empty());
}

#[test]
fn a_missing_cwd_is_a_failed_start_under_backoff() {
    let c = Colony::new();
    let dir = c.work.join("not-yet");
    recorder(&c, "lost", json!({"cwd": dir.display().to_string()}));
    let m = c.monitor(&["--frequency", "600"]);
    m.wait_log(&format!(
        "lost: cannot start: \"cwd\" {}: No such file or directory (os error 2); retrying in 1s",
        dir.display()
    ));
    // The backoff doubles, as for any failed start.
    m.wait_log("retrying in 2s");
    fs::create_dir(&dir).expect("mkdir");
    let pid = c.wait_pids("lost", 1);
    assert_eq!(fs::read_link(format!("/proc/{pid}/cwd")).expect("cwd"), dir);
}

#[test]
fn a_limit_the_kernel_refuses_is_named_in_the_failed_start() {
    let c = Colony::new();
    // Above fs.nr_open (at most 2^30): setrlimit fails with EPERM, even as root.
    recorder(&c, "greedy", json!({"rlimits": {"nofile": 1_u64 << 40}}));
    let m = c.monitor(&["--frequency", "600"]);
    m.wait_log(
        "greedy: cannot start: \"rlimits\".\"nofile\": EPERM: Operation not permitted; retrying in",
    );
}

#[test]
fn a_bad_setting_makes_the_process_invalid() {
    let c = Colony::new();
    recorder(&c, "lots", json!({"rlimits": {"nofile": "lots"}}));
    recorder(&c, "fine", json!({}));
    let m = c.monitor(&["--frequency", "600"]);
    m.wait_log(
        r#""rlimits"."nofile" must be a non-negative integer, "unlimited" or [soft, hard], found "lots""#,
    );
    c.wait_pids("fine", 1);
    assert!(c.recorded_pids("lots").is_empty());
}

// ---- ctl ----------------------------------------------------------------

fn ctl(c: &Colony, args: &[&str]) -> Output {
    c.ctl(args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn ctl_add_writes_every_new_flag_after_the_original_keys() {
    let c = Colony::new();
    let out = ctl(
        &c,
        &[
            "add",
            "web",
            "--cmd",
            "/bin/x",
            "--essential",
            "--success-exit-code",
            "0",
            "--success-exit-code",
            "3",
            "--restart",
            "on-failure",
            "--killtime",
            "2.5",
            "--stop-signal",
            "SIGINT",
            "--env-file",
            "/etc/a.env",
            "--env-file",
            "-/etc/b.env",
            "--rlimit",
            "nofile=1024:4096",
            "--rlimit",
            "core=unlimited",
            "--rlimit",
            "nproc=50",
            "--nice",
            "-5",
            "--umask",
            "027",
            "--cwd",
            "/srv",
            "--env-inherit",
            "HOME",
            "--group",
            "g",
            "--env",
            "A=1",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fs::read_to_string(c.config.join("web")).expect("config"),
        concat!(
            r#"{"args": ["/bin/x"], "env": {"A": "1"}, "env_inherit": ["HOME"], "group": ["g"], "#,
            r#""cwd": "/srv", "umask": "027", "nice": -5, "#,
            r#""rlimits": {"nofile": [1024, 4096], "core": "unlimited", "nproc": 50}, "#,
            r#""env_file": ["/etc/a.env", "-/etc/b.env"], "stop_signal": "SIGINT", "killtime": 2.5, "#,
            r#""restart": "on-failure", "success_exit_codes": [0, 3], "essential": true}"#
        )
    );
}

#[test]
fn ctl_add_refuses_bad_setting_values_as_usage_errors_naming_the_flag() {
    let c = Colony::new();
    for (flag, value, needle) in [
        ("--cwd", "srv", "must be an absolute path"),
        ("--umask", "999", "octal digits"),
        ("--umask", "abc", "octal digits"),
        ("--nice", "20", "-20 to 19"),
        ("--nice", "-21", "-20 to 19"),
        ("--rlimit", "nofile=lots", "not a non-negative integer"),
        ("--rlimit", "nofiles=1", "unknown limit \"nofiles\""),
        ("--rlimit", "nofile=2:1", "above its hard limit"),
        ("--rlimit", "nofile", "not NAME=VALUE"),
        ("--env-file", "app.env", "must be an absolute path"),
        ("--stop-signal", "STOP", "not a stop signal"),
        ("--killtime", "-1", "0 or more"),
        (
            "--restart",
            "sometimes",
            "possible values: always, on-failure, never",
        ),
        ("--success-exit-code", "256", "0..=255"),
    ] {
        let out = ctl(&c, &["add", "web", "--cmd", "/bin/x", flag, value]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(
            err.contains(flag) && err.contains(needle),
            "{flag} {value}: {err}"
        );
        assert!(
            !c.config.join("web").exists(),
            "{flag} {value} wrote a file"
        );
    }
}

#[test]
fn ctl_validate_prints_one_line_per_problem_and_exits_1() {
    let c = Colony::new();
    c.write_config(
        "web",
        r#"{"args": ["/bin/x"], "rlimits": {"nofile": "lots"}, "cwd": "srv"}"#,
    );
    c.write_config("ok", r#"{"args": ["/bin/x"], "grup": ["g"]}"#);
    c.write_config("broken", "{");
    let out = ctl(&c, &["validate"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        concat!(
            "broken: invalid JSON: EOF while parsing an object at line 1 column 1\n",
            "web: \"cwd\" must be an absolute path, found \"srv\"\n",
            "web: \"rlimits\".\"nofile\" must be a non-negative integer, \"unlimited\" or [soft, hard], found \"lots\"\n",
            "ok: warning: unknown key \"grup\" (ignored); did you mean \"group\"?\n",
        )
    );
    // Only the names asked for; one that is not configured is a problem.
    let out = ctl(&c, &["validate", "ok"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "ok: warning: unknown key \"grup\" (ignored); did you mean \"group\"?\n\
             1 config in {}: no problems (1 warning)\n",
            c.config.display()
        )
    );
    let out = ctl(&c, &["validate", "ok", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).starts_with(&format!("nope: not configured in {}\n", c.config.display())),
        "{}",
        text(&out.stdout)
    );
    fs::remove_file(c.config.join("web")).expect("rm");
    fs::remove_file(c.config.join("broken")).expect("rm");
    c.write_config(
        "db",
        r#"{"args": ["/bin/x"], "nice": 5, "env_file": "-/etc/db.env"}"#,
    );
    let out = ctl(&c, &["validate"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).ends_with(&format!(
            "2 configs in {}: no problems (1 warning)\n",
            c.config.display()
        )),
        "{}",
        text(&out.stdout)
    );
    // Nothing was touched: no message, no new file.
    assert!(c.pending_messages().is_empty());
    let mut names: Vec<_> = fs::read_dir(&c.config)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["db", "ok"]);
}
