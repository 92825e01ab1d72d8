mod containers;
mod copy;
mod images;
mod inspect;
mod login;
mod networks;
mod processes;
mod pull;
mod registry;
mod run;
mod runtime;
mod save;
mod unpack;
mod volumes;

use crate::cli::{Cli, Command};
use crate::Failure;
use hoist_engine::default_runtime_root;

/// Runs a command; `Ok` carries the exit code (a foreground run's is the container's).
pub fn dispatch(cli: Cli) -> Result<u8, Failure> {
    let root = match cli.root.clone() {
        Some(root) => root,
        None => default_runtime_root().map_err(|e| Failure::hoist(e.into()))?,
    };
    let runtime = hoist_runtime::Runtime::new(root);
    let image_verb = |r: anyhow::Result<u8>| r.map_err(Failure::hoist);
    let runtime_verb = |r: anyhow::Result<u8>| r.map_err(Failure::runtime);
    match cli.command {
        Command::Pull(args) => image_verb(pull::pull(args).map(|()| 0)),
        Command::Unpack(args) => image_verb(unpack::unpack(args).map(|()| 0)),
        Command::Run(args) if args.bundle.is_some() => {
            runtime_verb(run::run_bundle(&runtime, *args))
        }
        Command::Run(args) => image_verb(run::run_image(&runtime, *args)),
        Command::Create(args) if runtime::is_runc_create(&args) => {
            runtime_verb(runtime::create(&runtime, *args).map(|()| 0))
        }
        Command::Create(args) => image_verb(run::create_image(&runtime, *args).map(|()| 0)),
        Command::Start(args) => containers::start(&runtime, args),
        Command::Restart(args) => image_verb(containers::restart(&runtime, args).map(|()| 0)),
        Command::State(args) => runtime_verb(runtime::state(&runtime, &args.id).map(|()| 0)),
        Command::Kill(args) => containers::kill(&runtime, args).map(|()| 0),
        Command::Delete(args) => runtime_verb(runtime::delete(&runtime, args).map(|()| 0)),
        Command::List(args) => runtime_verb(runtime::list(&runtime, args).map(|()| 0)),
        Command::Exec(args) => {
            // An engine's container id gets runc's codes; a hoist container, podman's.
            let store = hoist_engine::Store::locate();
            let failure = match hoist_engine::Container::find(&store, &args.id) {
                Ok(_) => Failure::hoist,
                Err(_) => Failure::runtime,
            };
            runtime::exec(&runtime, args).map_err(failure)
        }
        Command::Ps(args) if args.id.is_none() => {
            image_verb(containers::list(&runtime, &args).map(|()| 0))
        }
        Command::Ps(args) => runtime_verb(runtime::ps(&runtime, args).map(|()| 0)),
        Command::Logs(args) => image_verb(containers::logs(&runtime, args).map(|()| 0)),
        Command::Stop(args) => image_verb(containers::stop(&runtime, args).map(|()| 0)),
        Command::Rm(args) => containers::rm(&runtime, args).map(|()| 0),
        Command::Wait(args) => image_verb(containers::wait(&runtime, args)),
        Command::Cp(args) => image_verb(processes::cp(&runtime, args).map(|()| 0)),
        Command::Port(args) => image_verb(processes::port(args).map(|()| 0)),
        Command::Top(args) => image_verb(processes::top(&runtime, args).map(|()| 0)),
        Command::Stats(args) => image_verb(processes::stats(&runtime, args).map(|()| 0)),
        Command::Save(args) => image_verb(save::save(args).map(|()| 0)),
        Command::Load(args) => image_verb(save::load(args).map(|()| 0)),
        Command::System(crate::cli::SystemCommand::Prune { .. }) => {
            image_verb(images::system_prune(&runtime).map(|()| 0))
        }
        Command::System(crate::cli::SystemCommand::Check(args)) => {
            image_verb(images::system_check(&runtime, args))
        }
        Command::Volume(command) => image_verb(volumes::volume(&runtime, command).map(|()| 0)),
        Command::Info(args) => image_verb(save::info(&runtime, args).map(|()| 0)),
        Command::Network(command) => image_verb(networks::network(&runtime, command)),
        Command::PortProxy(args) => image_verb(run::port_proxy(args)),
        Command::LogRelay(args) => image_verb(run::log_relay(args)),
        Command::NetworkHook(args) => image_verb(run::network_hook(args)),
        Command::StorageHelper => image_verb(
            hoist_engine::serve_storage_helper()
                .map(|()| 0)
                .map_err(Into::into),
        ),
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
            runtime_verb(containers::set_paused(&runtime, &args.id, true).map(|()| 0))
        }
        Command::Resume(args) => {
            runtime_verb(containers::set_paused(&runtime, &args.id, false).map(|()| 0))
        }
        Command::Update(args) => runtime_verb(runtime::update(&runtime, args).map(|()| 0)),
        Command::Spec(args) => runtime_verb(runtime::spec(args).map(|()| 0)),
        Command::Features => runtime_verb(runtime::features().map(|()| 0)),
        Command::Copy(args) => image_verb(copy::copy(args).map(|()| 0)),
        Command::Inspect(args) => image_verb(inspect::inspect(&runtime, args).map(|()| 0)),
        Command::Images(args) => image_verb(images::images(args).map(|()| 0)),
        Command::Rmi(args) => image_verb(images::rmi(args).map(|()| 0)),
        Command::Login(args) => image_verb(login::login(args).map(|()| 0)),
        Command::Logout(args) => image_verb(login::logout(args).map(|()| 0)),
    }
}
