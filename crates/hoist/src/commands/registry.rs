//! What every command that talks to a registry shares: options from the command line, and
//! asking for a password.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{anyhow, Context};
use hoist_registry::{Credentials, RegistryOptions, RetryPolicy};

use crate::cli::{RegistryArgs, TransferArgs};

pub fn options(args: &RegistryArgs, jobs: usize) -> anyhow::Result<RegistryOptions> {
    let credentials = args
        .creds
        .as_deref()
        .map(|creds| match creds.split_once(':') {
            Some((username, password)) => Ok::<_, anyhow::Error>(Credentials {
                username: username.to_string(),
                password: password.to_string(),
            }),
            None => Ok(Credentials {
                username: creds.to_string(),
                password: ask_password(creds)?,
            }),
        })
        .transpose()?;
    Ok(RegistryOptions {
        tls_verify: args.tls_verify,
        cert_dir: args.cert_dir.clone(),
        credentials,
        authfile: args.authfile.clone(),
        ..transfer_options(&args.transfer, jobs)
    })
}

/// The options every registry of a command shares; TLS and credentials left at their defaults
/// for the caller to set per registry.
pub fn transfer_options(args: &TransferArgs, jobs: usize) -> RegistryOptions {
    RegistryOptions {
        jobs: jobs.max(1),
        retry: RetryPolicy {
            times: args.retry_times,
            delay: args.retry_delay,
        },
        stall_timeout: args.stall_timeout,
        allow_layer_urls: args.allow_layer_urls,
        ..RegistryOptions::default()
    }
}

/// Reads a password from the terminal without echo, or a line from stdin when it is not one.
pub fn ask_password(username: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return read_line_from_stdin();
    }
    eprint!("Password for {username}: ");
    let _ = std::io::stderr().flush();
    let original = rustix::termios::tcgetattr(&stdin).context("reading the terminal's settings")?;
    let mut silent = original.clone();
    silent.local_modes.remove(rustix::termios::LocalModes::ECHO);
    rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &silent)
        .context("turning off the terminal's echo")?;
    let line = read_line_from_stdin();
    let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &original);
    eprintln!();
    line
}

pub fn read_line_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(anyhow!("no password given"));
    }
    Ok(password)
}
