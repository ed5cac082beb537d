//! Integration tests for the command line itself: usage errors on one line
//! (with clap's tips), options in the wrong place, warnings that do not
//! fail, help examples, shell completions and the man page.

use std::fs;
use std::process::{Command, Output};

use crate::support::*;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ncolony ctl --config C --messages M ARGS...`, without the directories
/// from the test's environment.
fn ctl(c: &Colony, args: &[&str]) -> Command {
    c.ctl_command(args)
}

fn output(mut cmd: Command) -> Output {
    cmd.output().expect("run ncolony")
}

/// Asserts exit code `code` and exactly one stderr line `ncolony: ...`
/// containing every one of `needles`; returns the line.
#[track_caller]
fn one_line(out: &Output, code: i32, needles: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(err.starts_with("ncolony: "), "{err:?}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    for needle in needles {
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    }
    err
}

fn message_count(c: &Colony) -> usize {
    fs::read_dir(&c.messages).expect("list messages").count()
}

#[test]
fn directory_options_after_the_ctl_command_say_where_they_go() {
    let c = Colony::new();
    let dir = c.config.to_str().expect("utf8");
    let msgs = c.messages.to_str().expect("utf8");
    let cases: [(&[&str], &str, &str); 4] = [
        (
            &["add", "web", "--cmd", "x", "--config", dir],
            "--config",
            "add",
        ),
        (
            &["add", "web", "--config", dir, "--cmd", "x"],
            "--config",
            "add",
        ),
        (
            &["restart", "web", &format!("--messages={msgs}")],
            "--messages",
            "restart",
        ),
        (&["status", "--messages", msgs], "--messages", "status"),
    ];
    for (args, option, sub) in cases {
        // With the directories in the environment too, so that clap's
        // "required argument" error cannot stand in for this one.
        let out = ncolony()
            .arg("ctl")
            .args(args)
            .env("NCOLONY_CONFIG_DIR", &c.config)
            .env("NCOLONY_MESSAGES_DIR", &c.messages)
            .output()
            .expect("run");
        let expected = format!(
            "ncolony: {option} goes before the command: \
             ncolony ctl --config DIR --messages DIR {sub} ...\n"
        );
        assert_eq!(stderr(&out), expected, "{args:?}");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        // And without the environment.
        let out = ncolony()
            .arg("ctl")
            .args(args)
            .env_remove("NCOLONY_CONFIG_DIR")
            .env_remove("NCOLONY_MESSAGES_DIR")
            .output()
            .expect("run");
        assert_eq!(stderr(&out), expected, "{args:?}");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    assert_eq!(fs::read_dir(&c.config).expect("list").count(), 0);
    assert_eq!(message_count(&c), 0);
    // Another unknown option keeps clap's own message.
    let out = output(ctl(&c, &["add", "web", "--cmd", "x", "--bogus"]));
    let line = one_line(&out, 2, &["--bogus"]);
    assert!(!line.contains("goes before"), "{line}");
}

#[test]
fn usage_errors_keep_clap_tips_on_their_one_line() {
    let out = run(&["monitr"]);
    one_line(
        &out,
        2,
        &[
            "unrecognized subcommand 'monitr'",
            "tip: a similar subcommand exists: 'monitor'",
            "(see --help)",
        ],
    );
    let c = Colony::new();
    let out = output(ctl(&c, &["restart-al"]));
    one_line(&out, 2, &["'restart-al'", "tip:", "'restart-all'"]);
    let out = run(&["completions", "zssh"]);
    one_line(&out, 2, &["'zssh'", "tip:", "'zsh'"]);
}

#[test]
fn restarting_what_is_not_configured_warns_and_still_sends() {
    let c = Colony::new();
    let config = c.config.display().to_string();
    // A name with no config.
    let out = output(ctl(&c, &["restart", "web"]));
    one_line(&out, 0, &["warning", "no process \"web\"", &config, "sent"]);
    assert_eq!(message_count(&c), 1);
    // A group no process is in.
    let out = output(ctl(&c, &["restart-group", "fe"]));
    one_line(&out, 0, &["warning", "group \"fe\"", &config, "sent"]);
    assert_eq!(message_count(&c), 2);
    // An invalid config is named as such.
    c.write_config("web", "{not json");
    let out = output(ctl(&c, &["restart", "web"]));
    one_line(&out, 0, &["warning", "\"web\"", "invalid", &config]);
    assert_eq!(message_count(&c), 3);
    // A config directory that cannot be read is said too.
    let nowhere = c.tmp.path().join("nowhere");
    let out = ncolony()
        .arg("ctl")
        .arg("--config")
        .arg(&nowhere)
        .arg("--messages")
        .arg(&c.messages)
        .args(["restart", "web"])
        .output()
        .expect("run");
    one_line(&out, 0, &["warning", "nowhere", "sent"]);
    assert_eq!(message_count(&c), 4);
    // Configured: silent.
    c.write_config("web", r#"{"args": ["/bin/true"], "group": ["fe"]}"#);
    for args in [&["restart", "web"][..], &["restart-group", "fe"]] {
        let out = output(ctl(&c, args));
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
    assert_eq!(message_count(&c), 6);
}

#[test]
fn a_relative_cmd_path_is_refused_and_a_bare_name_is_not() {
    let c = Colony::new();
    for cmd in ["./server", "bin/server", "../up/server"] {
        let out = output({
            let mut ctl = ctl(&c, &["add", "web", "--cmd", cmd]);
            ctl.current_dir(&c.work);
            ctl
        });
        let absolute = c.work.join(cmd.trim_start_matches("./"));
        one_line(
            &out,
            1,
            &[
                &format!("invalid --cmd {cmd:?}"),
                "relative path",
                "monitor's working directory",
                &format!("{:?}", absolute.display().to_string()),
            ],
        );
    }
    assert_eq!(fs::read_dir(&c.config).expect("list").count(), 0);
    for cmd in ["server", "/usr/bin/server"] {
        let out = output(ctl(&c, &["add", "web", "--cmd", cmd]));
        assert!(out.status.success(), "{cmd}: {}", stderr(&out));
        let text = fs::read_to_string(c.config.join("web")).expect("config");
        assert_eq!(text, format!(r#"{{"args": ["{cmd}"]}}"#));
    }
}

#[test]
fn min_restart_delay_above_max_is_a_usage_error() {
    let c = Colony::new();
    let out = ncolony()
        .arg("monitor")
        .arg("--config")
        .arg(&c.config)
        .arg("--messages")
        .arg(&c.messages)
        .args(["-m", "10", "-M", "5"])
        .output()
        .expect("run");
    one_line(
        &out,
        2,
        &[
            "--minrestartdelay (10)",
            "--maxrestartdelay (5)",
            "(see --help)",
        ],
    );
}

/// Every command path, for the tests that must cover the whole tree.
const COMMANDS: &[&str] = &[
    "",
    "monitor",
    "ctl",
    "ctl add",
    "ctl remove",
    "ctl restart",
    "ctl stop",
    "ctl start",
    "ctl restart-all",
    "ctl restart-group",
    "ctl status",
    "ctl validate",
    "ctl wait",
    "ctl events",
    "ctl tail",
    "beatcheck",
    "httpcheck",
    "scheduler",
    "heart",
    "heart beat",
    "completions",
    "man",
];

#[test]
fn every_help_ends_with_an_example_of_its_command() {
    for path in COMMANDS {
        let words: Vec<&str> = path.split_whitespace().collect();
        for flag in ["--help", "-h"] {
            let out = ncolony().args(&words).arg(flag).output().expect("run");
            assert!(out.status.success(), "{path} {flag}: {}", stderr(&out));
            let help = stdout(&out);
            let (_, examples) = help
                .split_once("\nExample")
                .unwrap_or_else(|| panic!("no example in `ncolony {path} {flag}`:\n{help}"));
            // A line that runs `ncolony` with the command's words in order
            // (`ncolony ctl --config D --messages D add web ...`).
            let shows_it = examples.lines().any(|line| {
                let Some((_, rest)) = line.split_once("ncolony ") else {
                    return false;
                };
                let mut tokens = rest.split([' ', ';']);
                words.iter().all(|word| tokens.any(|token| token == *word))
            });
            assert!(
                shows_it,
                "`ncolony {path} {flag}` has no example of it:\n{examples}"
            );
        }
    }
}

#[test]
fn completions_cover_every_shell_and_the_whole_tree() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for word in [
            "monitor",
            "restart-group",
            "heartbeat-status",
            "beat",
            "completions",
            "minrestartdelay",
        ] {
            assert!(script.contains(word), "{shell} completions lack {word:?}");
        }
    }
    one_line(&run(&["completions", "tcsh"]), 2, &["'tcsh'"]);
}

#[test]
fn man_prints_a_roff_page_for_every_command() {
    let out = run(&["man"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let roff = stdout(&out);
    let titles: Vec<&str> = roff
        .lines()
        .filter_map(|line| line.strip_prefix(".TH "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    let expected: Vec<String> = COMMANDS
        .iter()
        .map(|path| {
            std::iter::once("ncolony")
                .chain(path.split_whitespace())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect();
    assert_eq!(titles, expected);
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS"] {
        assert!(roff.contains(section), "no {section}");
    }
    // The options of the deepest commands are in it (roff escapes '-').
    for option in [
        r"\-\-heartbeat\-status",
        r"\-\-minrestartdelay",
        r"\-\-cron",
    ] {
        assert!(roff.contains(option), "no {option}");
    }
    // `--dir` writes the same pages, one file each.
    let c = Colony::new();
    let out = ncolony()
        .args(["man", "--dir"])
        .arg(&c.work)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    for name in &expected {
        let page = fs::read_to_string(c.work.join(format!("{name}.1"))).expect("page");
        assert!(page.contains(&format!(".TH {name} ")), "{name}");
    }
}
