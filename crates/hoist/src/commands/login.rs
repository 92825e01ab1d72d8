//! `hoist login` / `hoist logout`: credentials checked against the registry, kept in an auth
//! file that podman, skopeo and buildah read too.

use crate::output::outln;
use std::io::IsTerminal;

use anyhow::{bail, Context};
use hoist_registry::{authfile, Credentials, RegistryOptions, Session};

use crate::cli::{LoginArgs, LogoutArgs};
use crate::commands::registry;

pub fn login(args: LoginArgs) -> anyhow::Result<()> {
    let server = registry_host(&args.registry)?;
    let username = match args.username {
        Some(username) => username,
        None if std::io::stdin().is_terminal() && !args.password_stdin => {
            eprint!("Username: ");
            registry::read_line_from_stdin()?
        }
        None => bail!("give the user name with --username"),
    };
    let password = match (args.password, args.password_stdin) {
        (Some(_), true) => {
            bail!("give the password either with --password or with --password-stdin")
        }
        (Some(password), false) => password,
        (None, true) => registry::read_line_from_stdin()?,
        (None, false) => registry::ask_password(&username)?,
    };
    let options = RegistryOptions {
        tls_verify: args.tls_verify,
        cert_dir: args.cert_dir,
        credentials: Some(Credentials { username, password }),
        ..RegistryOptions::default()
    };
    hoist_engine::block_on(async {
        Session::connect(&server, &options)
            .await?
            .check_credentials()
            .await
    })?
    .with_context(|| format!("logging in to {server}"))?;
    let credentials = options.credentials.as_ref().expect("set above");
    let file = authfile::store(&server, credentials, args.authfile.as_deref())?;
    eprintln!("Credentials for {server} stored in {}", file.display());
    outln!("Login Succeeded!");
    Ok(())
}

pub fn logout(args: LogoutArgs) -> anyhow::Result<()> {
    let server = args.registry.as_deref().map(registry_host).transpose()?;
    let file = args
        .authfile
        .clone()
        .unwrap_or_else(authfile::default_authfile);
    let removed = authfile::erase(server.as_deref(), Some(&file))?;
    match (&server, removed) {
        (_, true) => {
            outln!(
                "Removed login credentials for {}",
                server.as_deref().unwrap_or("all registries")
            );
            Ok(())
        }
        (Some(server), false) => bail!(
            "not logged in to {server} (nothing for it in {})",
            file.display()
        ),
        (None, false) => Ok(()),
    }
}

/// `registry.example`, `https://registry.example/`, or a Docker Hub alias, as the host key.
fn registry_host(given: &str) -> anyhow::Result<String> {
    let host = given
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("");
    if host.is_empty() {
        bail!("{given:?} names no registry; give HOST[:PORT]");
    }
    Ok(match host {
        "index.docker.io" | "registry-1.docker.io" => hoist_oci::DEFAULT_REGISTRY.to_string(),
        host => host.to_string(),
    })
}
