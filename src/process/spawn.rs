//! Spawning a child: environment (with its env files), executable lookup,
//! working directory, umask, nice value, resource limits, uid/gid, its own
//! process group, and one pipe that carries both its stdout and stderr.
//!
//! Children are started with `std::process::Command` and never waited on
//! here: the reaper in [`super::reap`] is the only caller of `waitpid`.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ncolony_core::spec::{self, Name, ProcSpec};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::libc;
use nix::sys::prctl::set_pdeathsig;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::sys::stat::{Mode, umask};
use nix::unistd::{Gid, Uid, getppid, pipe2};

use super::envfile::{EnvFileError, read_all};

/// Why a child could not be started. The text is the one line the monitor
/// logs after `NAME: cannot start: `, so each variant carries its cause in
/// its own words rather than as a separate `source` (which a chain printer
/// would repeat).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpawnError {
    /// The config sets a uid or gid, which only root may switch to.
    #[error("\"uid\"/\"gid\" are set but the monitor is not running as root")]
    NotRoot,
    /// `args[0]` is a bare name and neither the child nor the monitor has a `PATH`.
    #[error("{arg0:?} is not a path and there is no PATH to search")]
    NoPath {
        /// The command name.
        arg0: String,
    },
    /// `args[0]` is on `PATH` only as files without an execute bit.
    #[error("{}: not executable", .0.display())]
    NotExecutable(PathBuf),
    /// `args[0]` is on no directory of `PATH`.
    #[error("{arg0:?} not found on PATH ({})", Path::new(.path).display())]
    NotFound {
        /// The command name.
        arg0: String,
        /// The `PATH` searched.
        path: OsString,
    },
    /// The output pipe could not be made or set non-blocking.
    #[error("{step}: {errno}")]
    Pipe {
        /// What was being done (`creating a pipe`, ...).
        step: &'static str,
        /// Why it failed.
        errno: Errno,
    },
    /// The output pipe's write end could not be duplicated for stderr.
    #[error("duplicating the pipe: {0}")]
    DupPipe(std::io::Error),
    /// `fork`/`exec` (or the set-up between them) failed.
    #[error("{}: {error}", .program.display())]
    Exec {
        /// The executable that was to run.
        program: PathBuf,
        /// Why it failed.
        error: std::io::Error,
    },
    /// The kernel gave a pid that does not fit an `i32` (it never does).
    #[error("pid out of range")]
    PidOutOfRange,
    /// An env file is missing, unreadable or malformed.
    #[error(transparent)]
    EnvFile(EnvFileError),
    /// The working directory is missing or not a directory.
    #[error("\"cwd\" {path}: {problem}")]
    Cwd {
        /// The directory.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A setting applied between fork and exec failed in the child.
    #[error("{step}: {errno}")]
    Setup {
        /// The setting, e.g. `"rlimits"."nofile"`.
        step: String,
        /// Why it failed.
        errno: Errno,
    },
}

/// What the child was doing between fork and exec when a call failed.
///
/// std passes only the raw OS error of a failed `pre_exec` hook back to the
/// parent, so the hook tags it with the step: `errno | step << 16` (an errno
/// is below 4096). The parent decodes it with [`Step::decode`] and names the
/// setting that failed instead of blaming the executable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Signals,
    Nice,
    Rlimit(spec::Resource),
    Groups,
    Gid,
    Uid,
    Cwd,
    ParentDeath,
    NotifyFd,
}

impl Step {
    fn code(self) -> i32 {
        match self {
            Step::Signals => 1,
            Step::Nice => 2,
            Step::Groups => 3,
            Step::Gid => 4,
            Step::Uid => 5,
            Step::Cwd => 6,
            Step::ParentDeath => 7,
            Step::NotifyFd => 8,
            Step::Rlimit(r) => {
                let index = spec::Resource::ALL
                    .iter()
                    .position(|x| *x == r)
                    .expect("every resource is in ALL");
                16 + i32::try_from(index).expect("15 resources")
            }
        }
    }

    fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            1 => Step::Signals,
            2 => Step::Nice,
            3 => Step::Groups,
            4 => Step::Gid,
            5 => Step::Uid,
            6 => Step::Cwd,
            7 => Step::ParentDeath,
            8 => Step::NotifyFd,
            n => Step::Rlimit(*spec::Resource::ALL.get(usize::try_from(n.checked_sub(16)?).ok()?)?),
        })
    }

    /// The error the hook returns: async-signal-safe (no allocation).
    fn fail(self, errno: Errno) -> std::io::Error {
        std::io::Error::from_raw_os_error(errno as i32 | self.code() << 16)
    }

    /// The step and errno of a tagged error, if it is one.
    fn decode(error: &std::io::Error) -> Option<(Self, Errno)> {
        let raw = error.raw_os_error()?;
        let step = Step::from_code(raw >> 16)?;
        Some((step, Errno::from_raw(raw & 0xffff)))
    }

    fn describe(self, spec: &ProcSpec) -> String {
        let opt = |v: Option<String>| v.unwrap_or_default();
        match self {
            Step::Signals => "resetting the signal dispositions".to_owned(),
            Step::Nice => format!("\"nice\" {}", opt(spec.nice.map(|n| n.to_string()))),
            Step::Rlimit(r) => format!("\"rlimits\".\"{r}\""),
            Step::Groups => "clearing the supplementary groups".to_owned(),
            Step::Gid => format!("\"gid\" {}", opt(spec.gid.map(|n| n.to_string()))),
            Step::Uid => format!("\"uid\" {}", opt(spec.uid.map(|n| n.to_string()))),
            Step::Cwd => format!("\"cwd\" {}", opt(spec.cwd.clone())),
            Step::ParentDeath => "setting the parent-death signal".to_owned(),
            Step::NotifyFd => "\"ready\".\"fd\": giving the child its notification fd".to_owned(),
        }
    }
}

/// nix's name for a resource.
fn nix_resource(r: spec::Resource) -> Resource {
    use spec::Resource as R;
    match r {
        R::Nofile => Resource::RLIMIT_NOFILE,
        R::Nproc => Resource::RLIMIT_NPROC,
        R::Core => Resource::RLIMIT_CORE,
        R::As => Resource::RLIMIT_AS,
        R::Data => Resource::RLIMIT_DATA,
        R::Stack => Resource::RLIMIT_STACK,
        R::Fsize => Resource::RLIMIT_FSIZE,
        R::Memlock => Resource::RLIMIT_MEMLOCK,
        R::Cpu => Resource::RLIMIT_CPU,
        R::Nice => Resource::RLIMIT_NICE,
        R::Rtprio => Resource::RLIMIT_RTPRIO,
        R::Msgqueue => Resource::RLIMIT_MSGQUEUE,
        R::Sigpending => Resource::RLIMIT_SIGPENDING,
        R::Locks => Resource::RLIMIT_LOCKS,
        R::Rss => Resource::RLIMIT_RSS,
    }
}

/// A child that is running: its pid and the read end of its output pipe.
#[derive(Debug)]
pub(crate) struct Spawned {
    /// The child's pid, also its process group id.
    pub(crate) pid: i32,
    /// Non-blocking read end of the pipe holding the child's stdout and stderr.
    pub(crate) output: OwnedFd,
}

/// Process-wide facts the spawner needs, read once at start-up.
#[derive(Debug, Clone)]
pub(crate) struct SpawnContext {
    /// The monitor's own `PATH`, for bare command names when the child's env has none.
    pub(crate) path: Option<OsString>,
    /// Whether the monitor runs as root (uid/gid need it).
    pub(crate) is_root: bool,
    /// The `RLIMIT_NOFILE` soft limit to restore in children, if the monitor raised its own.
    pub(crate) nofile_soft: Option<u64>,
    /// Whether the monitor inherited an ignored signal that children must
    /// not inherit in turn (see [`clean_signals`]).
    pub(crate) ignores_signals: bool,
    /// The monitor's pid: a child whose parent is no longer this when it
    /// sets its parent-death signal has missed its parent's death.
    pub(crate) monitor_pid: nix::unistd::Pid,
}

impl SpawnContext {
    /// Reads the monitor's environment and raises its open-file limit to the
    /// hard limit (1000 children need more than 1024 descriptors); children
    /// get the original soft limit back.
    pub(crate) fn init() -> Self {
        let mut nofile_soft = None;
        match getrlimit(Resource::RLIMIT_NOFILE) {
            Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
            {
                Ok(()) => nofile_soft = Some(soft),
                Err(e) => tracing::warn!("could not raise the open-file limit to {hard}: {e}"),
            },
            Ok(_) => {}
            Err(e) => tracing::warn!("could not read the open-file limit: {e}"),
        }
        SpawnContext {
            path: std::env::var_os("PATH"),
            is_root: Uid::effective().is_root(),
            nofile_soft,
            ignores_signals: ignores_signals(),
            monitor_pid: nix::unistd::getpid(),
        }
    }
}

/// What a start adds to the config's own settings (the readiness
/// protocols'): variables, a notification fd, and whether the child is told
/// its own pid as `WATCHDOG_PID`.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    /// Variables set after the config's (`NOTIFY_SOCKET`, `WATCHDOG_USEC`).
    pub(crate) env: Vec<(String, String)>,
    /// A pipe's write end, given to the child as this fd number (s6's
    /// notification fd); the parent's copy is closed once the child runs.
    pub(crate) notify_fd: Option<(OwnedFd, i32)>,
    /// Set `WATCHDOG_PID` to the child's own pid.
    pub(crate) watchdog_pid: bool,
}

/// Variables of the monitor's own service manager, never passed on through
/// `env_inherit`: they are about the monitor, not its children (a child
/// with `ready.notify` gets the monitor's own socket instead).
const NOT_INHERITED: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// Starts `spec` as process `name`, with what `extra` adds.
pub(crate) fn spawn(
    ctx: &SpawnContext,
    name: &Name,
    spec: &ProcSpec,
    extra: Extra,
) -> Result<Spawned, SpawnError> {
    if (spec.uid.is_some() || spec.gid.is_some()) && !ctx.is_root {
        return Err(SpawnError::NotRoot);
    }
    // Read at each start, so a changed file applies at the next restart.
    let from_files = read_all(&spec.env_files).map_err(SpawnError::EnvFile)?;
    let mut env = spec.child_env(name, from_files, |var| {
        std::env::var_os(var).map(|v| v.to_string_lossy().into_owned())
    });
    for var in NOT_INHERITED {
        if spec.env_inherit.iter().any(|v| v == var) && !spec.env.contains_key(var) {
            env.remove(var);
        }
    }
    env.extend(extra.env);
    // Checked here to name the directory; the child changes into it after
    // taking its uid, so that it can only enter what that user may.
    let cwd = match &spec.cwd {
        None => None,
        Some(dir) => {
            let problem = match std::fs::metadata(dir) {
                Ok(meta) if meta.is_dir() => None,
                Ok(_) => Some("not a directory".to_owned()),
                Err(e) => Some(e.to_string()),
            };
            if let Some(problem) = problem {
                return Err(SpawnError::Cwd {
                    path: dir.clone(),
                    problem,
                });
            }
            Some(CString::new(dir.as_str()).map_err(|_| SpawnError::Cwd {
                path: dir.clone(),
                problem: "contains a NUL byte".to_owned(),
            })?)
        }
    };
    let search = env
        .get("PATH")
        .map(OsString::from)
        .or_else(|| ctx.path.clone());
    let program = resolve(&spec.args[0], search.as_deref())?;

    let pipe_error = |step| move |errno| SpawnError::Pipe { step, errno };
    let (read, write) = pipe2(OFlag::O_CLOEXEC).map_err(pipe_error("creating a pipe"))?;
    fcntl(&read, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
        .map_err(pipe_error("making the pipe non-blocking"))?;
    let write_err = write.try_clone().map_err(SpawnError::DupPipe)?;

    let mut cmd = Command::new(&program);
    cmd.arg0(&spec.args[0])
        .args(&spec.args[1..])
        .env_clear()
        .envs(&env)
        .stdin(Stdio::null())
        .stdout(Stdio::from(write))
        .stderr(Stdio::from(write_err))
        .process_group(0);
    // The uid and gid are switched in the hook rather than by std (which
    // would do it before any hook): the limits and the nice value must be
    // set while the child is still root, since raising a hard limit or
    // lowering the nice value needs the privilege.
    let (uid, gid) = (spec.uid, spec.gid);
    // An explicit "rlimits"."nofile" wins over restoring the monitor's soft
    // limit (the monitor raised its own).
    let nofile_soft = ctx
        .nofile_soft
        .filter(|_| !spec.rlimits.contains_key(&spec::Resource::Nofile));
    let limits: Vec<(spec::Resource, u64, u64)> = spec
        .rlimits
        .iter()
        .map(|(r, l)| (*r, l.soft.as_raw(), l.hard.as_raw()))
        .collect();
    let mask = spec
        .umask
        .map(|m| Mode::from_bits_truncate(m as libc::mode_t));
    let nice = spec.nice;
    let notify_fd = extra
        .notify_fd
        .as_ref()
        .map(|(fd, target)| (fd.as_raw_fd(), *target));
    let ignores_signals = ctx.ignores_signals;
    let monitor_pid = ctx.monitor_pid;
    // A hook costs std its posix_spawn fast path, but the parent-death
    // signal can only be set in the child.
    // SAFETY: the closure runs between fork and exec and makes only
    // async-signal-safe system calls (sigaction, sigprocmask, umask,
    // setpriority, setrlimit, setgid, setgroups, setuid, chdir, prctl,
    // getppid) on values prepared before the fork; it allocates nothing
    // and takes no locks.
    unsafe {
        cmd.pre_exec(move || {
            if let Some((fd, target)) = notify_fd {
                // dup2 gives the copy no close-on-exec flag; a pipe end that
                // already has the number keeps its own, so clear it.
                let rc = if fd == target {
                    libc::fcntl(fd, libc::F_SETFD, 0)
                } else {
                    libc::dup2(fd, target)
                };
                if rc == -1 {
                    return Err(Step::NotifyFd.fail(Errno::last()));
                }
            }
            if ignores_signals {
                clean_signals().map_err(|e| {
                    Step::Signals.fail(e.raw_os_error().map_or(Errno::EINVAL, Errno::from_raw))
                })?;
            }
            if let Some(mask) = mask {
                umask(mask);
            }
            if let Some(soft) = nofile_soft {
                let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)
                    .map_err(|e| Step::Rlimit(spec::Resource::Nofile).fail(e))?;
                setrlimit(Resource::RLIMIT_NOFILE, soft, hard)
                    .map_err(|e| Step::Rlimit(spec::Resource::Nofile).fail(e))?;
            }
            for &(resource, soft, hard) in &limits {
                setrlimit(nix_resource(resource), soft, hard)
                    .map_err(|e| Step::Rlimit(resource).fail(e))?;
            }
            if let Some(nice) = nice {
                // setpriority only reads its arguments (inside the block's SAFETY).
                if libc::setpriority(libc::PRIO_PROCESS, 0, nice) == -1 {
                    return Err(Step::Nice.fail(Errno::last()));
                }
            }
            if let Some(gid) = gid {
                nix::unistd::setgid(Gid::from_raw(gid)).map_err(|e| Step::Gid.fail(e))?;
            }
            if uid.is_some() || gid.is_some() {
                // No supplementary group of the monitor's may survive a
                // switch of user or group.
                nix::unistd::setgroups(&[]).map_err(|e| Step::Groups.fail(e))?;
            }
            if let Some(uid) = uid {
                nix::unistd::setuid(Uid::from_raw(uid)).map_err(|e| Step::Uid.fail(e))?;
            }
            if let Some(dir) = &cwd {
                nix::unistd::chdir(dir.as_c_str()).map_err(|e| Step::Cwd.fail(e))?;
            }
            // Set after setuid/setgid, which clear it. If the monitor dies,
            // the child gets SIGTERM, so a crash leaves nothing running.
            // The death that counts is the spawning thread's: the monitor
            // spawns from its main thread only, which lives as long as it.
            set_pdeathsig(Signal::SIGTERM).map_err(|e| Step::ParentDeath.fail(e))?;
            if getppid() != monitor_pid {
                // The monitor died before the prctl: no signal will come.
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    if extra.watchdog_pid {
        let mut exec = ExecWithPid::new(&program, &spec.args, &env)?;
        // SAFETY: registered last, it runs after every other set-up step,
        // and makes only async-signal-safe calls (getpid, execve) on
        // buffers prepared before the fork (see `ExecWithPid::exec`).
        unsafe {
            cmd.pre_exec(move || Err(exec.exec()));
        }
    }
    if let Some((_, target)) = notify_fd {
        reserve_fd(target);
    }
    let child = cmd.spawn().map_err(|error| match Step::decode(&error) {
        Some((step, errno)) => SpawnError::Setup {
            step: step.describe(spec),
            errno,
        },
        None => SpawnError::Exec {
            program: program.clone(),
            error,
        },
    })?;
    // The child has its copy of the notification fd now.
    drop(extra.notify_fd);
    // Dropping `Child` neither waits nor kills: the reaper owns the pid now.
    let pid = i32::try_from(child.id()).map_err(|_| SpawnError::PidOutOfRange)?;
    Ok(Spawned { pid, output: read })
}

/// The exec of a child that must find its own pid in `WATCHDOG_PID`, as
/// systemd gives it: the pid is only known after the fork, and std builds
/// the environment before it, so the child execs itself, from a hook, with
/// an environment whose last entry it fills in with its pid.
struct ExecWithPid {
    program: CString,
    // Owned here, pointed to by `argv`/`envp`: a move of the struct does
    // not move their heap buffers.
    _args: Vec<CString>,
    _env: Vec<CString>,
    /// `WATCHDOG_PID=` and room for any pid, NUL-terminated.
    pid_var: Vec<u8>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

// SAFETY: the raw pointers point into buffers this struct owns and never
// frees or moves while it lives; it is only used by the forked child.
unsafe impl Send for ExecWithPid {}
// SAFETY: as above; nothing is shared mutably across threads.
unsafe impl Sync for ExecWithPid {}

/// `WATCHDOG_PID=`'s length.
const PID_VAR: &[u8] = b"WATCHDOG_PID=";

impl ExecWithPid {
    fn new(
        program: &Path,
        args: &[String],
        env: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, SpawnError> {
        use std::os::unix::ffi::OsStrExt as _;
        let nul = |error: std::ffi::NulError| SpawnError::Exec {
            program: program.to_owned(),
            error: std::io::Error::other(error),
        };
        let program_c = CString::new(program.as_os_str().as_bytes()).map_err(nul)?;
        let args_c = args
            .iter()
            .map(|a| CString::new(a.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(nul)?;
        let env_c = env
            .iter()
            .filter(|(k, _)| k.as_str() != "WATCHDOG_PID")
            .map(|(k, v)| CString::new(format!("{k}={v}")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(nul)?;
        let mut pid_var = PID_VAR.to_vec();
        pid_var.resize(PID_VAR.len() + 12, 0);
        let mut argv: Vec<*const libc::c_char> = args_c.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = env_c.iter().map(|e| e.as_ptr()).collect();
        envp.push(pid_var.as_ptr().cast());
        envp.push(std::ptr::null());
        Ok(ExecWithPid {
            program: program_c,
            _args: args_c,
            _env: env_c,
            pid_var,
            argv,
            envp,
        })
    }

    /// Fills in the pid and execs; returns only on failure. Between fork
    /// and exec: getpid and execve only, no allocation.
    fn exec(&mut self) -> std::io::Error {
        let mut pid = nix::unistd::getpid().as_raw().unsigned_abs();
        let mut digits = [0u8; 10];
        let mut n = 0;
        loop {
            digits[n] = b'0' + (pid % 10) as u8;
            n += 1;
            pid /= 10;
            if pid == 0 {
                break;
            }
        }
        let slot = &mut self.pid_var[PID_VAR.len()..];
        for (i, d) in digits[..n].iter().rev().enumerate() {
            slot[i] = *d;
        }
        slot[n] = 0;
        // Pointed to again after the write, so the pointer is the fresh one.
        let last = self.envp.len() - 2;
        self.envp[last] = self.pid_var.as_ptr().cast();
        // SAFETY: every pointer is to a NUL-terminated string owned by
        // self, and both arrays end in a null pointer.
        unsafe {
            libc::execve(
                self.program.as_ptr(),
                self.argv.as_ptr(),
                self.envp.as_ptr(),
            )
        };
        std::io::Error::last_os_error()
    }
}

/// Whether this process ignores a signal that an exec'd program would
/// inherit ignored (std already resets SIGPIPE, the one it ignores itself).
fn ignores_signals() -> bool {
    Signal::iterator()
        .filter(|s| !matches!(s, Signal::SIGKILL | Signal::SIGSTOP | Signal::SIGPIPE))
        .any(|signal| {
            let mut old = std::mem::MaybeUninit::<libc::sigaction>::uninit();
            // SAFETY: a null new action only reads the current one into `old`.
            let rc = unsafe {
                libc::sigaction(signal as libc::c_int, std::ptr::null(), old.as_mut_ptr())
            };
            // SAFETY: sigaction filled `old` when it returned 0.
            rc == 0 && unsafe { old.assume_init() }.sa_sigaction == libc::SIG_IGN
        })
}

/// Gives a child about to exec a clean signal state: every signal at its
/// default disposition (exec resets handlers, but not `SIG_IGN`, e.g. the
/// SIGQUIT a shell's `&` ignores, or a `nohup`'s SIGHUP) and nothing blocked.
///
/// Only for use between fork and exec: it makes async-signal-safe system
/// calls (sigaction, sigprocmask) and allocates nothing.
pub(crate) fn clean_signals() -> std::io::Result<()> {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for signal in Signal::iterator() {
        if matches!(signal, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: installing SIG_DFL runs no code of ours in a handler.
        unsafe { sigaction(signal, &default) }?;
    }
    SigSet::empty().thread_set_mask()?;
    Ok(())
}

/// Finds the executable for `arg0`: as given when it contains a `/`, else the
/// first executable regular file of that name on `path`.
fn resolve(arg0: &str, path: Option<&std::ffi::OsStr>) -> Result<PathBuf, SpawnError> {
    if arg0.contains('/') {
        return Ok(PathBuf::from(arg0));
    }
    let Some(path) = path else {
        return Err(SpawnError::NoPath {
            arg0: arg0.to_owned(),
        });
    };
    let mut found_not_executable = None;
    for dir in std::env::split_paths(path) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(arg0);
        match std::fs::metadata(&candidate) {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
                return Ok(candidate);
            }
            Ok(meta) if meta.is_file() => {
                found_not_executable.get_or_insert(candidate);
            }
            _ => {}
        }
    }
    match found_not_executable {
        Some(p) => Err(SpawnError::NotExecutable(p)),
        None => Err(SpawnError::NotFound {
            arg0: arg0.to_owned(),
            path: path.to_owned(),
        }),
    }
}

/// Keeps fd `n` taken in the monitor, if nothing holds it, by a
/// close-on-exec `/dev/null` kept for good: std's own error pipe, made for
/// each spawn, could otherwise get that number, and the child's `dup2` of
/// its notification fd onto it would cut std's report of a failed exec.
fn reserve_fd(n: i32) {
    // SAFETY: F_GETFD only reads an fd's flags.
    if unsafe { libc::fcntl(n, libc::F_GETFD) } != -1 {
        return;
    }
    // Opened close-on-exec, as std opens every file.
    let Ok(null) = std::fs::File::open("/dev/null") else {
        return;
    };
    // SAFETY: onto a number nothing holds; what it makes is never closed.
    unsafe { libc::dup3(null.as_raw_fd(), n, libc::O_CLOEXEC) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_fd_number_is_reserved_close_on_exec() {
        let n = 987;
        // SAFETY: reads the flags of a number this test owns.
        let flags = || unsafe { libc::fcntl(n, libc::F_GETFD) };
        assert_eq!(flags(), -1, "fd {n} is free before");
        reserve_fd(n);
        assert_eq!(flags(), libc::FD_CLOEXEC);
        // Taken already: left as it is.
        reserve_fd(n);
        assert_eq!(flags(), libc::FD_CLOEXEC);
    }

    #[test]
    fn resolve_uses_the_given_path() {
        let p = resolve("sh", Some("/nonexistent:/bin".as_ref())).expect("sh is in /bin");
        assert_eq!(p, Path::new("/bin/sh"));
        assert!(
            resolve("sh", Some("/nonexistent".as_ref()))
                .expect_err("not found")
                .to_string()
                .contains("not found on PATH (/nonexistent)")
        );
        assert_eq!(
            resolve("./x/y", None).expect("paths are kept"),
            Path::new("./x/y")
        );
    }

    /// Each error reads as the line the monitor logged when it was a string.
    #[test]
    fn errors_read_as_the_log_lines() {
        let os = |errno| std::io::Error::from_raw_os_error(errno);
        let cases = [
            (
                SpawnError::NotRoot,
                r#""uid"/"gid" are set but the monitor is not running as root"#,
            ),
            (
                resolve("web", None).expect_err("no PATH"),
                r#""web" is not a path and there is no PATH to search"#,
            ),
            (
                resolve("nosuch-ncolony-cmd", Some("/nonexistent:/bin".as_ref()))
                    .expect_err("not found"),
                r#""nosuch-ncolony-cmd" not found on PATH (/nonexistent:/bin)"#,
            ),
            (
                SpawnError::NotExecutable(PathBuf::from("/etc/passwd")),
                "/etc/passwd: not executable",
            ),
            (
                SpawnError::Pipe {
                    step: "creating a pipe",
                    errno: Errno::EMFILE,
                },
                "creating a pipe: EMFILE: Too many open files",
            ),
            (
                SpawnError::DupPipe(os(libc::EMFILE)),
                "duplicating the pipe: Too many open files (os error 24)",
            ),
            (
                SpawnError::Exec {
                    program: PathBuf::from("/bin/x"),
                    error: os(libc::ENOENT),
                },
                "/bin/x: No such file or directory (os error 2)",
            ),
            (SpawnError::PidOutOfRange, "pid out of range"),
            (
                SpawnError::Cwd {
                    path: "/srv/x".into(),
                    problem: "not a directory".into(),
                },
                r#""cwd" /srv/x: not a directory"#,
            ),
            (
                SpawnError::Setup {
                    step: r#""rlimits"."nofile""#.into(),
                    errno: Errno::EPERM,
                },
                r#""rlimits"."nofile": EPERM: Operation not permitted"#,
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }

    #[test]
    fn a_file_without_an_execute_bit_is_not_executable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("tool");
        std::fs::write(&file, "#!/bin/sh\n").expect("write");
        let error = resolve("tool", Some(dir.path().as_os_str())).expect_err("not executable");
        assert_eq!(
            error.to_string(),
            format!("{}: not executable", file.display())
        );
    }

    #[test]
    fn a_failed_step_is_tagged_and_decoded() {
        for step in [
            Step::Signals,
            Step::Nice,
            Step::Cwd,
            Step::ParentDeath,
            Step::NotifyFd,
        ]
        .into_iter()
        .chain(spec::Resource::ALL.map(Step::Rlimit))
        {
            let error = step.fail(Errno::EPERM);
            assert_eq!(Step::decode(&error), Some((step, Errno::EPERM)));
        }
        // A plain errno (the exec itself failed) is not a step.
        assert_eq!(
            Step::decode(&std::io::Error::from_raw_os_error(libc::ENOENT)),
            None
        );
    }
}
