//! Arguments of umoci's verbs on image layouts (repack, config, insert, tag, ls, gc) and
//! podman's commit and tag.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

// The history entry a new image records (umoci's `--history.*`; a plain comment, as for
// RegistryArgs).
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The history entry's author
    #[arg(long = "history.author", id = "history_author", value_name = "AUTHOR")]
    pub author: Option<String>,

    /// The history entry's comment
    #[arg(long = "history.comment", id = "history_comment", value_name = "TEXT")]
    pub comment: Option<String>,

    /// The history entry's created_by [default: the command]
    #[arg(
        long = "history.created_by",
        id = "history_created_by",
        value_name = "TEXT"
    )]
    pub created_by: Option<String>,

    /// The history entry's time, RFC 3339 [default: now]
    #[arg(long = "history.created", id = "history_created", value_name = "TIME")]
    pub created: Option<String>,

    /// Record no history entry
    #[arg(long)]
    pub no_history: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayerCompression {
    Gzip,
    Zstd,
    None,
}

/// umoci's `repack`.
#[derive(Debug, Args)]
pub struct RepackArgs {
    /// The layout and the new image's tag: DIR:TAG (the bundle remembers what it was
    /// unpacked from)
    #[arg(long, value_name = "DIR:TAG")]
    pub image: String,

    /// The bundle `hoist unpack` made
    pub bundle: PathBuf,

    /// Leave this rootfs path out of the new layer (repeatable)
    #[arg(long, value_name = "PATH")]
    pub mask_path: Vec<PathBuf>,

    /// Include the image's volumes in the layer (by default they are left out, as umoci does)
    #[arg(long)]
    pub no_mask_volumes: bool,

    /// Make the new image the bundle's origin, so the next repack holds only later changes
    #[arg(long)]
    pub refresh_bundle: bool,

    /// How to compress the new layer
    #[arg(long, value_enum, default_value_t = LayerCompression::Gzip)]
    pub compress: LayerCompression,

    #[command(flatten)]
    pub history: HistoryArgs,
}

/// umoci's `config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The image to change: DIR[:TAG]
    #[arg(long, value_name = "DIR[:TAG]")]
    pub image: String,

    /// Tag the new image so [default: the image's own tag, moved to the new image]
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,

    #[arg(long = "config.user", value_name = "USER[:GROUP]")]
    pub user: Option<String>,

    /// KEY=VALUE (repeatable; replaces the variable of that name)
    #[arg(long = "config.env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// The entrypoint, one argument per use of the flag
    #[arg(long = "config.entrypoint", value_name = "ARG")]
    pub entrypoint: Vec<String>,

    /// The command, one argument per use of the flag
    #[arg(long = "config.cmd", value_name = "ARG")]
    pub cmd: Vec<String>,

    #[arg(long = "config.workingdir", value_name = "DIR")]
    pub working_dir: Option<String>,

    /// KEY=VALUE (repeatable)
    #[arg(long = "config.label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,

    /// PORT[/PROTO] (repeatable)
    #[arg(long = "config.exposedports", value_name = "PORT[/PROTO]")]
    pub exposed_ports: Vec<String>,

    /// A volume path (repeatable)
    #[arg(long = "config.volume", value_name = "PATH")]
    pub volume: Vec<String>,

    #[arg(long = "config.stopsignal", value_name = "SIGNAL")]
    pub stop_signal: Option<String>,

    /// Empty a field before the rest is applied: config.labels, config.env,
    /// config.entrypoint, config.cmd, config.exposedports, config.volume (repeatable)
    #[arg(long, value_name = "FIELD")]
    pub clear: Vec<String>,

    #[arg(long)]
    pub os: Option<String>,

    #[arg(long)]
    pub architecture: Option<String>,

    /// The image's author
    #[arg(long)]
    pub author: Option<String>,

    #[command(flatten)]
    pub history: HistoryArgs,
}

/// umoci's `insert`.
#[derive(Debug, Args)]
pub struct InsertArgs {
    /// The image to add to: DIR[:TAG]
    #[arg(long, value_name = "DIR[:TAG]")]
    pub image: String,

    /// Tag the new image so [default: the image's own tag, moved to the new image]
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,

    /// Remove TARGET from the image instead (a whiteout); give TARGET only
    #[arg(long)]
    pub whiteout: bool,

    /// What the image held at TARGET is replaced, not merged with SOURCE
    #[arg(long)]
    pub opaque: bool,

    /// Owners in the layer are root, not the files' own
    #[arg(long)]
    pub rootless: bool,

    #[arg(long, value_enum, default_value_t = LayerCompression::Gzip)]
    pub compress: LayerCompression,

    /// SOURCE TARGET: a host file or directory, and where it goes in the rootfs (with
    /// --whiteout, TARGET alone)
    #[arg(required = true, num_args = 1..=2, value_name = "SOURCE TARGET")]
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub history: HistoryArgs,
}

/// `tag --image DIR[:TAG] NEW` (umoci's), or `tag IMAGE NAME...` (podman's, in the store).
#[derive(Debug, Args)]
pub struct TagArgs {
    /// The layout image to tag: DIR[:TAG]
    #[arg(long, value_name = "DIR[:TAG]")]
    pub image: Option<String>,

    /// With --image, the new tag; else the store's IMAGE and its new NAMEs
    #[arg(required = true, value_name = "NAMES")]
    pub names: Vec<String>,
}

/// A layout, for `ls` and `gc`.
#[derive(Debug, Args)]
pub struct LayoutArg {
    /// The image layout
    #[arg(long, value_name = "DIR")]
    pub layout: PathBuf,
}

/// podman's `commit`.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// The container
    pub container: String,

    /// The new image's name (a short name goes under localhost/, as with podman)
    pub image: String,

    /// The image's author
    #[arg(short, long)]
    pub author: Option<String>,

    /// The history entry's comment
    #[arg(short, long)]
    pub message: Option<String>,

    /// A Dockerfile instruction to apply to the config: CMD, ENTRYPOINT, ENV, LABEL, EXPOSE,
    /// USER, WORKDIR, VOLUME, STOPSIGNAL (repeatable)
    #[arg(short, long, value_name = "INSTRUCTION")]
    pub change: Vec<String>,

    /// Freeze a running container while its changes are read (thawed after)
    #[arg(short, long)]
    pub pause: bool,

    /// Print only the image id
    #[arg(short, long)]
    pub quiet: bool,
}
