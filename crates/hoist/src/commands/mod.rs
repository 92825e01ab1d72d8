mod containers;
mod copy;
mod images;
mod inspect;
mod layout;
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

/// The runtime, its state root resolved for the verbs that use it only: the default root of
/// an unprivileged user without `XDG_RUNTIME_DIR` is a directory made (and checked) in
/// `$TMPDIR`, which `pull` or `unpack` have no business making.
struct LazyRuntime {
    root: Option<std::path::PathBuf>,
    runtime: std::cell::OnceCell<hoist_runtime::Runtime>,
}

impl LazyRuntime {
    fn get(&self) -> Result<&hoist_runtime::Runtime, Failure> {
        if let Some(runtime) = self.runtime.get() {
            return Ok(runtime);
        }
        let root = match &self.root {
            Some(root) => root.clone(),
            None => default_runtime_root().map_err(|e| Failure::hoist(e.into()))?,
        };
        Ok(self
            .runtime
            .get_or_init(|| hoist_runtime::Runtime::new(root)))
    }
}

/// Runs a command; `Ok` carries the exit code (a foreground run's is the container's).
pub fn dispatch(cli: Cli) -> Result<u8, Failure> {
    let runtime = LazyRuntime {
        root: cli.root.clone(),
        runtime: std::cell::OnceCell::new(),
    };
    let image_verb = |r: anyhow::Result<u8>| r.map_err(Failure::hoist);
    let runtime_verb = |r: anyhow::Result<u8>| r.map_err(Failure::runtime);
    // skopeo's and umoci's verbs exit 1 whatever failed, as theirs do: the same code as
    // runc's, for another reason.
    let peer_verb = runtime_verb;
    match cli.command {
        Command::Pull(args) => image_verb(pull::pull(args).map(|()| 0)),
        Command::Unpack(args) => peer_verb(unpack::unpack(args).map(|()| 0)),
        Command::Run(args) if args.bundle.is_some() => {
            runtime_verb(run::run_bundle(runtime.get()?, *args))
        }
        Command::Run(args) => image_verb(run::run_image(runtime.get()?, *args)),
        Command::Create(args) if runtime::is_runc_create(&args) => {
            runtime_verb(runtime::create(runtime.get()?, *args).map(|()| 0))
        }
        Command::Create(args) => image_verb(run::create_image(runtime.get()?, *args).map(|()| 0)),
        Command::Start(args) => containers::start(runtime.get()?, args),
        Command::Restart(args) => image_verb(containers::restart(runtime.get()?, args).map(|()| 0)),
        Command::State(args) => runtime_verb(runtime::state(runtime.get()?, &args.id).map(|()| 0)),
        Command::Kill(args) => containers::kill(runtime.get()?, args).map(|()| 0),
        Command::Delete(args) if args.id.starts_with("docker://") => {
            runtime_verb(inspect::delete_image(args).map(|()| 0))
        }
        Command::Delete(args) => runtime_verb(runtime::delete(runtime.get()?, args).map(|()| 0)),
        Command::List(args) => runtime_verb(runtime::list(runtime.get()?, args).map(|()| 0)),
        Command::Exec(args) => {
            // An engine's container id gets runc's codes; a hoist container, podman's.
            let store = hoist_engine::Store::locate();
            let failure = match hoist_engine::Container::find(&store, &args.id) {
                Ok(_) => Failure::hoist,
                Err(_) => Failure::runtime,
            };
            runtime::exec(runtime.get()?, args).map_err(failure)
        }
        Command::Ps(args) if args.id.is_none() => {
            image_verb(containers::list(runtime.get()?, &args).map(|()| 0))
        }
        Command::Ps(args) => runtime_verb(runtime::ps(runtime.get()?, args).map(|()| 0)),
        Command::Logs(args) => image_verb(containers::logs(runtime.get()?, args).map(|()| 0)),
        Command::Stop(args) => image_verb(containers::stop(runtime.get()?, args).map(|()| 0)),
        Command::Rm(args) => containers::rm(runtime.get()?, args).map(|()| 0),
        Command::Wait(args) => image_verb(containers::wait(runtime.get()?, args)),
        Command::Cp(args) => image_verb(processes::cp(runtime.get()?, args).map(|()| 0)),
        Command::Port(args) => image_verb(processes::port(args).map(|()| 0)),
        Command::Top(args) => image_verb(processes::top(runtime.get()?, args).map(|()| 0)),
        Command::Stats(args) => image_verb(processes::stats(runtime.get()?, args).map(|()| 0)),
        Command::Save(args) => image_verb(save::save(args).map(|()| 0)),
        Command::Load(args) => image_verb(save::load(args).map(|()| 0)),
        Command::System(crate::cli::SystemCommand::Prune { .. }) => {
            image_verb(images::system_prune(runtime.get()?).map(|()| 0))
        }
        Command::System(crate::cli::SystemCommand::Check(args)) => {
            image_verb(images::system_check(runtime.get()?, args))
        }
        Command::Volume(command) => {
            image_verb(volumes::volume(runtime.get()?, command).map(|()| 0))
        }
        Command::Info(args) => image_verb(save::info(runtime.get()?, args).map(|()| 0)),
        Command::Network(command) => image_verb(networks::network(runtime.get()?, command)),
        Command::PortProxy(args) => image_verb(run::port_proxy(args)),
        Command::LogRelay(args) => image_verb(run::log_relay(args)),
        Command::NetworkHook(args) => image_verb(run::network_hook(args)),
        Command::StorageHelper => image_verb(
            hoist_engine::serve_storage_helper()
                .map(|()| 0)
                .map_err(Into::into),
        ),
        Command::ContainerMonitor(args) => {
            image_verb(run::monitor(runtime.get()?, &args.id, args.attached))
        }
        Command::ExecSession(args) => image_verb(
            hoist_engine::host_exec_session(runtime.get()?, &args.id, args.pid_file)
                .map(|()| 0)
                .map_err(Into::into),
        ),
        Command::Attach(args) => image_verb(containers::attach(runtime.get()?, args)),
        Command::Pause(args) => {
            runtime_verb(containers::set_paused(runtime.get()?, &args.id, true).map(|()| 0))
        }
        Command::Resume(args) => {
            runtime_verb(containers::set_paused(runtime.get()?, &args.id, false).map(|()| 0))
        }
        Command::Update(args) => runtime_verb(runtime::update(runtime.get()?, args).map(|()| 0)),
        Command::Spec(args) => runtime_verb(runtime::spec(args).map(|()| 0)),
        Command::Features => runtime_verb(runtime::features().map(|()| 0)),
        Command::Copy(args) => peer_verb(copy::copy(args).map(|()| 0)),
        Command::Inspect(args) if inspect::names_a_transport(&args) => {
            let runtime = runtime.get().map_err(|f| Failure::runtime(f.error))?;
            peer_verb(inspect::inspect(runtime, args).map(|()| 0))
        }
        Command::Inspect(args) => image_verb(inspect::inspect(runtime.get()?, args).map(|()| 0)),
        Command::Repack(args) => peer_verb(layout::repack(args).map(|()| 0)),
        Command::Config(args) => peer_verb(layout::config(*args).map(|()| 0)),
        Command::Insert(args) => peer_verb(layout::insert(args).map(|()| 0)),
        Command::Tag(args) if args.image.is_some() => peer_verb(layout::tag(args).map(|()| 0)),
        Command::Tag(args) => image_verb(layout::tag(args).map(|()| 0)),
        Command::Commit(args) => image_verb(layout::commit(runtime.get()?, args).map(|()| 0)),
        Command::Ls(args) => peer_verb(layout::ls(args).map(|()| 0)),
        Command::Gc(args) => peer_verb(layout::gc(args).map(|()| 0)),
        Command::Sync(args) => peer_verb(copy::sync(args).map(|()| 0)),
        Command::ListTags(args) => peer_verb(inspect::list_tags(args).map(|()| 0)),
        Command::ManifestDigest { manifest } => {
            peer_verb(inspect::manifest_digest(&manifest).map(|()| 0))
        }
        Command::Images(args) => image_verb(images::images(args).map(|()| 0)),
        Command::Rmi(args) => image_verb(images::rmi(args).map(|()| 0)),
        Command::Login(args) => image_verb(login::login(args).map(|()| 0)),
        Command::GenerateMan { dir } => image_verb(man_pages(&dir).map(|()| 0)),
        Command::Completion { shell } => image_verb(completion(shell).map(|()| 0)),
        Command::Logout(args) => image_verb(login::logout(args).map(|()| 0)),
    }
}

/// The completion script, written through the stdout wrapper (a closed pipe is an error to
/// report, not a panic).
fn completion(shell: clap_complete::Shell) -> anyhow::Result<()> {
    use std::io::Write;
    let mut command = <crate::cli::Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "hoist", &mut script);
    let mut out = crate::output::stdout();
    out.write_all(&script)?;
    out.flush()?;
    Ok(())
}

/// `hoist.1`, then `hoist-VERB.1` (and `hoist-VERB-SUB.1`) for every verb users see.
fn man_pages(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    fn write(command: clap::Command, name: &str, dir: &std::path::Path) -> anyhow::Result<()> {
        let command = command.name(name.to_string());
        let mut page = Vec::new();
        clap_mangen::Man::new(command.clone()).render(&mut page)?;
        let file = dir.join(format!("{name}.1"));
        std::fs::write(&file, page).with_context(|| format!("writing {}", file.display()))?;
        for sub in command
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        {
            write(sub.clone(), &format!("{name}-{}", sub.get_name()), dir)?;
        }
        Ok(())
    }
    std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
    let mut command = <crate::cli::Cli as clap::CommandFactory>::command();
    command.build();
    write(command, "hoist", dir)
}
