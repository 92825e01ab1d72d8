mod containers;
mod copy;
mod images;
mod inspect;
mod login;
mod pull;
mod registry;
mod run;
mod runtime;
mod save;
mod unpack;

use crate::cli::{Cli, Command};
use crate::{Failure, EXIT_HOIST_ERROR, EXIT_RUNTIME_ERROR};
use hoist_engine::default_runtime_root;

/// Runs a command; `Ok` carries the exit code (a foreground run's is the container's).
pub fn dispatch(cli: Cli) -> Result<u8, Failure> {
    let runtime =
        hoist_runtime::Runtime::new(cli.root.clone().unwrap_or_else(default_runtime_root));
    let image_verb = |r: anyhow::Result<u8>| {
        r.map_err(|error| Failure {
            code: EXIT_HOIST_ERROR,
            error,
        })
    };
    let runtime_verb = |r: anyhow::Result<u8>| {
        r.map_err(|error| Failure {
            code: EXIT_RUNTIME_ERROR,
            error,
        })
    };
    match cli.command {
        Command::Pull(args) => image_verb(pull::pull(args).map(|()| 0)),
        Command::Unpack(args) => image_verb(unpack::unpack(args).map(|()| 0)),
        Command::Run(args) if args.bundle.is_some() => {
            runtime_verb(run::run_bundle(&runtime, *args))
        }
        Command::Run(args) => image_verb(run::run_image(&runtime, *args)),
        Command::Create(args) => runtime_verb(runtime::create(&runtime, args).map(|()| 0)),
        Command::Start(args) => {
            runtime_verb(runtime.start(&args.id).map(|()| 0).map_err(Into::into))
        }
        Command::State(args) => runtime_verb(runtime::state(&runtime, &args.id).map(|()| 0)),
        Command::Kill(args) => runtime_verb(runtime::kill(&runtime, args).map(|()| 0)),
        Command::Delete(args) => runtime_verb(runtime::delete(&runtime, args).map(|()| 0)),
        Command::List(args) => runtime_verb(runtime::list(&runtime, args).map(|()| 0)),
        Command::Exec(args) => runtime_verb(runtime::exec(&runtime, args)),
        Command::Ps(args) if args.id.is_none() => {
            image_verb(containers::list(&runtime, &args).map(|()| 0))
        }
        Command::Ps(args) => runtime_verb(runtime::ps(&runtime, args).map(|()| 0)),
        Command::Logs(args) => image_verb(containers::logs(&runtime, args).map(|()| 0)),
        Command::Stop(args) => image_verb(containers::stop(&runtime, args).map(|()| 0)),
        Command::Rm(args) => image_verb(containers::rm(&runtime, args).map(|()| 0)),
        Command::Save(args) => image_verb(save::save(args).map(|()| 0)),
        Command::Load(args) => image_verb(save::load(args).map(|()| 0)),
        Command::System(crate::cli::SystemCommand::Prune) => {
            image_verb(images::system_prune(&runtime).map(|()| 0))
        }
        Command::System(crate::cli::SystemCommand::Check(args)) => {
            image_verb(images::system_check(&runtime, args))
        }
        Command::Info => image_verb(save::info(&runtime).map(|()| 0)),
        Command::PortProxy(args) => image_verb(run::port_proxy(args)),
        Command::LogRelay(args) => image_verb(run::log_relay(args)),
        Command::ContainerMonitor(args) => {
            image_verb(run::monitor(&runtime, &args.id, args.attached))
        }
        Command::ExecSession(args) => image_verb(
            hoist_engine::host_exec_session(&runtime, &args.id, args.pid_file)
                .map(|()| 0)
                .map_err(Into::into),
        ),
        Command::Attach(args) => image_verb(containers::attach(&runtime, args)),
        Command::Pause(args) => {
            runtime_verb(runtime.pause(&args.id).map(|()| 0).map_err(Into::into))
        }
        Command::Resume(args) => {
            runtime_verb(runtime.resume(&args.id).map(|()| 0).map_err(Into::into))
        }
        Command::Update(args) => runtime_verb(runtime::update(&runtime, args).map(|()| 0)),
        Command::Spec(args) => runtime_verb(runtime::spec(args).map(|()| 0)),
        Command::Features => runtime_verb(runtime::features().map(|()| 0)),
        Command::Copy(args) => image_verb(copy::copy(args).map(|()| 0)),
        Command::Inspect(args) => image_verb(inspect::inspect(args).map(|()| 0)),
        Command::Images(args) => image_verb(images::images(args).map(|()| 0)),
        Command::Rmi(args) => image_verb(images::rmi(args).map(|()| 0)),
        Command::Login(args) => image_verb(login::login(args).map(|()| 0)),
        Command::Logout(args) => image_verb(login::logout(args).map(|()| 0)),
    }
}
