//! An OCI runtime, shaped like runc: `create`, `start`, `state`, `kill`, `delete`, `run`.
//!
//! This crate is synchronous and single-threaded on purpose: it clones the container's init
//! with the new namespaces, and code after a clone without exec is only sound in a process with
//! one thread. Each operation lives in its own file under `ops/` and reads as: load the state,
//! check the operation is allowed in that state, act, save.
//!
//! The container's init is a clone of the calling `hoist` process: it sets up the rootfs,
//! reports "ready" over a socket, waits on the exec fifo for `start`, and then execs the user's
//! program directly, so no runtime process stays between the engine and the container. The
//! calling process runs from a sealed copy of the binary (`reexec_sealed`), so nothing cloned
//! into a container can reach the host's file.
//!
//! All of its `unsafe` is in `sys/`, each block with its SAFETY note; the rest may have none.
#![deny(unsafe_code)]

mod cgroups;
mod channel;
mod creation;
mod error;
mod features;
mod hooks;
mod id_maps;
mod init;
mod mountinfo;
mod namespaces;
mod ops;
mod rootfs_overlay;
mod sealed_exe;
mod seccomp;
pub mod seccomp_profile;
mod signal;
mod spec;
mod spec_values;
mod state;
mod status;
#[allow(unsafe_code)]
mod sys;
mod validate;

pub use cgroups::{available_controllers, Cgroup, CgroupError, Delegation, NoDelegation, Usage};
pub use error::{
    Error, HookError, HookFailure, IdMapError, ProcessError, ProgramFailure, Result, SealError,
    SeccompError,
};
pub use features::{capability_names, features};
pub use id_maps::map_user_namespace;
pub use ops::create::CreateOptions;
pub use ops::delete::DeleteOptions;
pub use ops::exec::ExecOptions;
pub use ops::run::{Exited, MasterHandler, TerminalUse};
pub use sealed_exe::reexec_sealed;
pub use signal::parse_signal;
pub use state::{validate_id, ContainerState, OciState};
pub use status::{Status, WrongState};

use std::path::PathBuf;

/// The default state directory, shared by every call that does not pass `--root` (podman never
/// does, so create by conmon and start/kill/delete by podman must all land here).
pub const DEFAULT_ROOT: &str = "/run/hoist";

pub use init::reaper::INIT_ANNOTATION;
pub use rootfs_overlay::{RootfsOverlay, ROOTFS_OVERLAY_ANNOTATION};

/// A runtime working on the containers whose state lives under `root`.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Runtime { root: root.into() }
    }

    pub fn root(&self) -> &std::path::Path {
        &self.root
    }
}
