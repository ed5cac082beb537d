//! Environment files (`"env_file"`), read at each start: `KEY=VALUE` lines
//! as systemd's `EnvironmentFile=` reads them. `#` and `;` start a comment
//! line, blank lines are skipped, whitespace around the key and before the
//! value is dropped, and a value may be quoted: `'...'` keeps every
//! character, `"..."` also takes `\"`, `\\`, `` \` `` and `\$` as escapes;
//! either may span lines. Unquoted, trailing whitespace is dropped and a
//! `\` at the end of a line continues the value on the next one. Nothing is
//! expanded (`$HOME` stays `$HOME`), as in systemd.
//!
//! The file is read as the monitor reads a config: regular files only,
//! non-blocking, size-bounded ([`crate::dirs::entry`]).

use std::collections::BTreeMap;
use std::io;

use ncolony_core::spec::EnvFile;

use crate::dirs::entry::{Opened, Symlinks, open_regular, read_bounded};

/// The largest environment file read: far above what one environment can
/// hold (Linux allows about 2 MiB of arguments and environment together).
const MAX_ENV_FILE: u64 = 1024 * 1024;

/// A problem in one line of an environment file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub(crate) struct LineError {
    /// The 1-based line number where the bad assignment starts.
    pub(crate) line: usize,
    /// What is wrong.
    pub(crate) problem: String,
}

/// Parses an environment file's text into its assignments, in order (a
/// later one of the same key wins when collected).
pub(crate) fn parse(text: &str) -> Result<Vec<(String, String)>, LineError> {
    let mut out = Vec::new();
    let mut lines = text.split('\n').enumerate().peekable();
    while let Some((index, raw)) = lines.next() {
        let line_no = index + 1;
        let fail = |problem: String| LineError {
            line: line_no,
            problem,
        };
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let Some((key, rest)) = trimmed.split_once('=') else {
            return Err(fail(format!("expected KEY=VALUE, found {trimmed:?}")));
        };
        let key = key.trim();
        if key.is_empty()
            || key
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '\0')
        {
            return Err(fail(format!("invalid variable name {key:?}")));
        }
        let mut value = String::new();
        let mut chars: Vec<char> = rest.trim_start().chars().collect();
        let mut i = 0;
        // Unquoted text not yet known to be trailing whitespace.
        let mut pending_space = String::new();
        while let Some(&c) = chars.get(i) {
            i += 1;
            match c {
                '\'' | '"' => {
                    value.push_str(&std::mem::take(&mut pending_space));
                    let quote = c;
                    loop {
                        match chars.get(i).copied() {
                            Some(q) if q == quote => {
                                i += 1;
                                break;
                            }
                            Some('\\') if quote == '"' => {
                                match chars.get(i + 1).copied() {
                                    Some(e @ ('"' | '\\' | '`' | '$')) => {
                                        value.push(e);
                                        i += 2;
                                    }
                                    Some(other) => {
                                        value.push('\\');
                                        value.push(other);
                                        i += 2;
                                    }
                                    // A backslash at the end of a line inside
                                    // quotes joins the lines.
                                    None => match lines.next() {
                                        Some((_, next)) => {
                                            chars = next.chars().collect();
                                            i = 0;
                                        }
                                        None => {
                                            return Err(fail(format!(
                                                "unterminated {quote} quote in the value of {key}"
                                            )));
                                        }
                                    },
                                }
                            }
                            Some(other) => {
                                value.push(other);
                                i += 1;
                            }
                            None => match lines.next() {
                                Some((_, next)) => {
                                    value.push('\n');
                                    chars = next.chars().collect();
                                    i = 0;
                                }
                                None => {
                                    return Err(fail(format!(
                                        "unterminated {quote} quote in the value of {key}"
                                    )));
                                }
                            },
                        }
                    }
                }
                '\\' => {
                    value.push_str(&std::mem::take(&mut pending_space));
                    match chars.get(i).copied() {
                        Some('\r') if i + 1 == chars.len() => {
                            i += 1;
                        }
                        Some(e) => {
                            value.push(e);
                            i += 1;
                        }
                        // Continued on the next line.
                        None => {
                            if let Some((_, next)) = lines.next() {
                                let next = next.strip_suffix('\r').unwrap_or(next);
                                chars = next.chars().collect();
                                i = 0;
                            }
                        }
                    }
                }
                c if c.is_whitespace() => pending_space.push(c),
                c => {
                    value.push_str(&std::mem::take(&mut pending_space));
                    value.push(c);
                }
            }
        }
        if value.contains('\0') {
            return Err(fail(format!("the value of {key} contains a NUL byte")));
        }
        out.push((key.to_owned(), value));
    }
    Ok(out)
}

/// Why the environment files could not be read: the message names the file
/// (and the line), for the monitor's `cannot start` line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EnvFileError {
    /// The file could not be opened or read.
    #[error("\"env_file\" {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Not a regular file, too large, or not UTF-8.
    #[error("\"env_file\" {path}: {problem}")]
    Unusable {
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// A malformed line.
    #[error("\"env_file\" {path}: {error}")]
    Line {
        /// The file.
        path: String,
        /// The line and what is wrong with it.
        error: LineError,
    },
}

/// Reads every file, in order, into one set of variables (later files win).
/// A missing file is an error unless it was given as `-PATH`.
pub(crate) fn read_all(files: &[EnvFile]) -> Result<BTreeMap<String, String>, EnvFileError> {
    let mut env = BTreeMap::new();
    for file in files {
        let Some(text) = read_one(file)? else {
            continue;
        };
        let vars = parse(&text).map_err(|error| EnvFileError::Line {
            path: file.path.clone(),
            error,
        })?;
        env.extend(vars);
    }
    Ok(env)
}

/// One file's text; `None` for a missing optional one.
fn read_one(file: &EnvFile) -> Result<Option<String>, EnvFileError> {
    let path = std::path::Path::new(&file.path);
    let unusable = |problem: String| EnvFileError::Unusable {
        path: file.path.clone(),
        problem,
    };
    let (meta, opened) = match open_regular(path, Symlinks::Follow) {
        Ok(Opened::File(meta, f)) => (meta, f),
        Ok(Opened::NotRegular(_, what)) => {
            return Err(unusable(format!("is {what}, not a regular file")));
        }
        Err(e)
            if file.optional
                && matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
        {
            return Ok(None);
        }
        Err(source) => {
            return Err(EnvFileError::Read {
                path: file.path.clone(),
                source,
            });
        }
    };
    let bytes = read_bounded(&opened, &meta, MAX_ENV_FILE)
        .map_err(|source| EnvFileError::Read {
            path: file.path.clone(),
            source,
        })?
        .ok_or_else(|| unusable("larger than 1 MiB, the bound for an environment file".into()))?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(text)),
        Err(e) => {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
            Err(unusable(format!("line {line}: not UTF-8")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn lines_parse_as_systemd_reads_them() {
        let text = "# a comment\n; another\n\n   \nA=1\n  B = two words  \nC=\"quoted # not a comment\"\n\
                    D='single $HOME \\n'\nE=\"esc \\\" \\\\ \\$ \\` \\n\"\nF=\nG=a\\\nb\nH=\"multi\nline\"\n\
                    I=x=y\r\nJ=$HOME\nK=un\\ quoted\n";
        assert_eq!(
            vars(text),
            pairs(&[
                ("A", "1"),
                ("B", "two words"),
                ("C", "quoted # not a comment"),
                ("D", "single $HOME \\n"),
                ("E", "esc \" \\ $ ` \\n"),
                ("F", ""),
                ("G", "ab"),
                ("H", "multi\nline"),
                ("I", "x=y"),
                ("J", "$HOME"),
                ("K", "un quoted"),
            ])
        );
        assert_eq!(vars("A=1\nA=2"), pairs(&[("A", "1"), ("A", "2")]));
        assert!(vars("").is_empty());
    }

    #[test]
    fn a_malformed_line_is_named_by_its_number() {
        let err = |text: &str| parse(text).expect_err("malformed").to_string();
        assert_eq!(
            err("A=1\n\n# c\nnot an assignment\n"),
            "line 4: expected KEY=VALUE, found \"not an assignment\""
        );
        assert_eq!(err("A=1\n=2"), "line 2: invalid variable name \"\"");
        assert_eq!(
            err("FOO BAR=1"),
            "line 1: invalid variable name \"FOO BAR\""
        );
        assert_eq!(
            err("A=1\nB=\"open\nstill open"),
            "line 2: unterminated \" quote in the value of B"
        );
        assert_eq!(
            err("X='a"),
            "line 1: unterminated ' quote in the value of X"
        );
        assert_eq!(err("X=a\0b"), "line 1: the value of X contains a NUL byte");
    }

    #[test]
    fn files_are_read_in_order_and_a_dash_forgives_only_a_missing_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let a = dir.path().join("a.env");
        let b = dir.path().join("b.env");
        std::fs::write(&a, "X=a\nY=a\n").expect("write");
        std::fs::write(&b, "Y=b\n").expect("write");
        let file = |p: &std::path::Path, optional| EnvFile {
            path: p.display().to_string(),
            optional,
        };
        let missing = dir.path().join("missing.env");
        let env =
            read_all(&[file(&a, false), file(&missing, true), file(&b, false)]).expect("readable");
        assert_eq!(env["X"], "a");
        assert_eq!(env["Y"], "b");
        let e = read_all(&[file(&missing, false)]).expect_err("missing");
        assert_eq!(
            e.to_string(),
            format!(
                "\"env_file\" {}: No such file or directory (os error 2)",
                missing.display()
            )
        );
        std::fs::write(&b, "ok=1\nbad line\n").expect("write");
        let e = read_all(&[file(&b, true)]).expect_err("malformed");
        assert_eq!(
            e.to_string(),
            format!(
                "\"env_file\" {}: line 2: expected KEY=VALUE, found \"bad line\"",
                b.display()
            )
        );
        let e = read_all(&[file(dir.path(), true)]).expect_err("a directory");
        assert!(
            e.to_string()
                .ends_with("is a directory, not a regular file"),
            "{e}"
        );
        std::fs::write(&b, b"A=1\nB=\xff\n").expect("write");
        let e = read_all(&[file(&b, false)]).expect_err("not UTF-8");
        assert!(e.to_string().ends_with("line 2: not UTF-8"), "{e}");
    }
}
