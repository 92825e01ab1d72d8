//! The `hoist` binary: parses the command line, calls the library crates, renders errors once.

mod cli;
mod commands;
mod field_spelling;
mod format;
mod output;
mod progress;
mod runtime_log;
mod short_name_prompt;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;

/// How a command failed: the error, and the exit code its family of commands uses.
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    /// hoist's own failure (podman's 125), or podman's code for what failed (127 for a
    /// container command that is not there, 126 for one that cannot be run).
    pub fn hoist(error: anyhow::Error) -> Failure {
        Failure {
            code: podman_exit_code(&error).unwrap_or(EXIT_HOIST_ERROR),
            error,
        }
    }

    /// A runtime verb's failure: runc's 1 whatever failed, as the engines driving it expect
    /// (they tell a missing program by the message).
    pub fn runtime(error: anyhow::Error) -> Failure {
        Failure {
            code: EXIT_RUNTIME_ERROR,
            error,
        }
    }
}

/// podman's exit code for an error whose cause it distinguishes, wherever in the chain.
fn podman_exit_code(error: &anyhow::Error) -> Option<u8> {
    error.chain().find_map(|cause| {
        cause
            .downcast_ref::<hoist_engine::Error>()
            .and_then(hoist_engine::Error::exit_code)
            .or_else(|| {
                cause
                    .downcast_ref::<hoist_runtime::Error>()
                    .and_then(hoist_runtime::Error::program_failure)
                    .map(hoist_runtime::ProgramFailure::exit_code)
            })
    })
}

pub const EXIT_HOIST_ERROR: u8 = 125;
pub const EXIT_RUNTIME_ERROR: u8 = 1;

fn main() -> ExitCode {
    // SIGPIPE stays ignored (Rust's choice): a closed stdout ends hoist where it is written
    // (`output`), and a closed socket is an error to handle, not a silent exit 141.
    if may_start_container_processes(std::env::args_os().skip(1)) {
        if let Err(e) = hoist_runtime::reexec_sealed() {
            let _ = writeln!(std::io::stderr(), "hoist: {}", render(&e.into()));
            return ExitCode::from(EXIT_HOIST_ERROR);
        }
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let e = without_hidden_suggestions(e);
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_HOIST_ERROR } else { 0 });
        }
    };
    init_tracing(cli.debug);
    hoist_engine::ask_short_names_with(short_name_prompt::choose);
    if let Some(policy) = cli.policy.clone() {
        hoist_engine::policy::use_policy_file(policy);
    }
    let log = runtime_log::RuntimeLog::new(cli.log.clone(), cli.log_format);
    match commands::dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(Failure { code, error }) => {
            let message = render(&error);
            log.error(&message);
            let _ = writeln!(std::io::stderr(), "hoist: {message}");
            if let Some(hint) = hint(&error) {
                let _ = writeln!(std::io::stderr(), "hoist: {hint}");
            }
            ExitCode::from(code)
        }
    }
}

/// Whether the command line may name a command that starts processes inside a container,
/// which must run from a sealed binary (see `hoist_runtime::reexec_sealed`). Read before
/// parsing, so the re-exec comes before any work; any argument spelling such a command counts,
/// since a needless re-exec costs a millisecond and a missed one would fail at the clone.
fn may_start_container_processes(mut args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    args.any(|arg| {
        ["run", "create", "exec", "container-monitor", "exec-session"]
            .iter()
            .any(|verb| arg == *verb)
    })
}

/// A mistyped verb is never pointed at one of hoist's internal verbs (clap suggests hidden
/// ones too): the suggestions are rebuilt from the visible verbs only.
fn without_hidden_suggestions(error: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    use clap::CommandFactory;
    if error.kind() != ErrorKind::InvalidSubcommand {
        return error;
    }
    let command = Cli::command();
    let hidden: Vec<String> = command
        .get_subcommands()
        .filter(|c| c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .collect();
    let Some(ContextValue::Strings(suggested)) = error.get(ContextKind::SuggestedSubcommand) else {
        return error;
    };
    let visible: Vec<String> = suggested
        .iter()
        .filter(|s| !hidden.contains(s))
        .cloned()
        .collect();
    if visible.len() == suggested.len() {
        return error;
    }
    let mut rebuilt = clap::Error::new(ErrorKind::InvalidSubcommand).with_cmd(&command);
    for kind in [ContextKind::InvalidSubcommand, ContextKind::Usage] {
        if let Some(value) = error.get(kind) {
            rebuilt.insert(kind, value.clone());
        }
    }
    if !visible.is_empty() {
        rebuilt.insert(
            ContextKind::SuggestedSubcommand,
            ContextValue::Strings(visible),
        );
    }
    rebuilt
}

/// The error and its causes, joined by ": " (no error of hoist's prints its cause itself).
pub(crate) fn render(error: &anyhow::Error) -> String {
    error
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// What to do about a failure whose cause is the machine rather than the input. Every command
/// leaves what it was making as it was or complete, so running it again is always safe.
fn hint(error: &anyhow::Error) -> Option<&'static str> {
    let os_error = error.chain().find_map(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
    });
    let says = |code: i32| os_error == Some(code);
    if says(nix::errno::Errno::ENOSPC as i32) {
        Some("the file system is full: free space on it (or write somewhere else) and run the same command again; nothing half-written was kept")
    } else if says(nix::errno::Errno::EDQUOT as i32) {
        Some("your disk quota is used up: free space under it (or write somewhere else) and run the same command again; nothing half-written was kept")
    } else {
        None
    }
}

fn init_tracing(debug: bool) {
    let filter = if debug { "debug" } else { "warn" };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HOIST_LOG")
                .unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each crate's error names its step; the cause comes once, after it, from the chain.
    #[test]
    fn a_rendered_error_gives_each_cause_once() {
        let not_found = || std::io::Error::from_raw_os_error(nix::errno::Errno::ENOENT as i32);
        let errors: Vec<anyhow::Error> = vec![
            hoist_oci::Error::Io {
                path: "/layout/index.json".into(),
                source: not_found(),
            }
            .into(),
            hoist_unpack::Error::Io {
                path: "/bundle/rootfs".into(),
                source: not_found(),
            }
            .into(),
            hoist_runtime::Error::Io {
                what: "opening the bundle",
                path: "/bundle".into(),
                source: not_found(),
            }
            .into(),
            hoist_engine::Error::Preparing {
                image: "busybox".into(),
                source: Box::new(hoist_engine::Error::Unpack(hoist_unpack::Error::Io {
                    path: "/x".into(),
                    source: not_found(),
                })),
            }
            .into(),
        ];
        for error in &errors {
            let rendered = render(error);
            assert_eq!(
                rendered.matches("No such file or directory").count(),
                1,
                "{rendered}"
            );
            assert!(
                rendered.ends_with("No such file or directory (os error 2)"),
                "{rendered}"
            );
        }
    }

    #[test]
    fn a_mistyped_verb_is_never_pointed_at_an_internal_one() {
        let error = without_hidden_suggestions(
            Cli::try_parse_from(["hoist", "container-monitr"]).unwrap_err(),
        );
        assert!(!error.to_string().contains("container-monitor"), "{error}");
        let error = without_hidden_suggestions(Cli::try_parse_from(["hoist", "exex"]).unwrap_err());
        assert!(error.to_string().contains("'exec'"), "{error}");
    }

    #[test]
    fn full_disk_and_quota_get_advice_by_their_errno() {
        let full: anyhow::Error = hoist_runtime::Error::Io {
            what: "writing",
            path: "/x".into(),
            source: std::io::Error::from_raw_os_error(nix::errno::Errno::ENOSPC as i32),
        }
        .into();
        assert!(hint(&full).is_some_and(|h| h.contains("file system is full")));
        let other: anyhow::Error = anyhow::anyhow!("No space left on device (os error 28)");
        assert_eq!(
            hint(&other),
            None,
            "advice comes from the errno, not the text"
        );
    }
}
