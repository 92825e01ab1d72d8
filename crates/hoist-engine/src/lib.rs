//! The engine of `hoist run IMAGE` (the part podman keeps in libpod): hoist's store of images,
//! layers and containers, each container's record, bundle and life, and where an image
//! argument points (`docker://`, `oci:`, `oci-archive:`, or the store). The binary parses and
//! renders; what it does to the machine happens here.

mod archive;
mod async_runtime;
mod attach;
mod check;
mod commit;
mod container;
mod containers_conf;
mod copy;
mod cp;
mod error;
mod exec;
mod followed_pull;
mod images;
mod inspect;
mod keeper;
mod layout_edit;
mod lifecycle;
mod log_format;
mod log_relay;
mod monitor;
mod name_files;
mod names;
mod network_sharing;
mod networking;
pub mod policy;
mod port_proxy;
mod processes;
mod pull;
mod registries_conf;
mod registry_verbs;
pub mod rootless;
mod run;
mod size;
mod start;
mod store;
mod sync;
mod sync_yaml;
mod transport;
mod view;
pub mod volumes;

pub use archive::{load_images, load_images_from, save_images};
pub use async_runtime::block_on;
pub use attach::{
    attach, exec_in_terminal, host_exec_session, ClientOptions, DetachKeys, Ended,
    DEFAULT_DETACH_KEYS, EXEC_SESSION_PID_FILE_FLAG, EXEC_SESSION_VERB,
};
pub use check::{check_store, CheckReport, Problem};
pub use commit::{commit_container, CommitRequest};
pub use container::{check_name, driver_in_use, make_bundle, Container, Driver, Record};
pub use containers_conf::ContainersConf;
pub use copy::{copy_image, CopyRequest};
pub use cp::{copy_files, CopyEnd};
pub use error::{Error, Result};
pub use exec::{exec_process, ExecRequest};
pub use hoist_net::{Network, NewNetwork};
pub use hoist_oci::ArchiveFormat;
pub use images::{
    list_images, prune_system, remove_images, tag_images, ImageSummary, Pruned, Removed,
};
pub use inspect::{fetch_documents, Documents};
pub use layout_edit::{
    edit_config, insert_files, layout_gc, layout_tags, now_rfc3339, repack_bundle, tag_in_layout,
    ConfigEdit,
};
pub use lifecycle::{
    copy_log, parse_log_time, remove, runtime_id, set_paused, signal, stop, wait, Activity,
    LogOptions,
};
pub use log_relay::{relay_log, LOG_RELAY_TEE_FLAG, LOG_RELAY_VERB};
pub use monitor::{
    launch, monitor, run_in_terminal, run_to_exit, MONITOR_ATTACHED_FLAG, MONITOR_VERB,
};
pub use name_files::{name_files, NameSettings};
pub use networking::{
    containers_on, networks, prune_networks, remove_network, JoinedNetwork, NetworkMode,
};
pub use port_proxy::{port_proxy, PORT_PROXY_VERB};
pub use processes::{top, usage, ProcessRow};
pub(crate) use pull::pull_into;
pub use pull::{pull_image, PulledTo};
pub use registries_conf::{ask_short_names_with, RegistriesConf, ShortNameChooser};
pub use registry_verbs::{delete_image, list_tags, TagList};
pub use rootless::{serve_storage_helper, STORAGE_HELPER_VERB};
pub use run::{
    create_container, network_hook, run_attached, ImageSource, PullPolicy, RunOptions,
    DEFAULT_CAPABILITIES, NETWORK_HOOK_VERB,
};
pub use size::{parse_size, SizeError};
pub use start::{create, restart, start};
pub use store::{default_runtime_root, split_layout_arg, Store};
pub use sync::{sync, SyncDestination, SyncRequest, SyncSource, Synced};
pub use transport::{unpack_image, LocalImage, Location};
pub use view::ContainerView;

/// Now, as a record writes it (RFC 3339, seconds).
pub(crate) fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// An error and its causes joined by ": ", as the CLI renders them, for a message that crosses
/// to another process (a terminal session's client).
pub(crate) fn render_chain(error: &dyn std::error::Error) -> String {
    std::iter::successors(Some(error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}
