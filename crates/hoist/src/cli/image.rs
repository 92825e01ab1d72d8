//! Arguments of the image verbs: skopeo's (pull, copy, inspect), umoci's (unpack), and the
//! store's (images, rmi, save, load, login, logout).

use std::path::PathBuf;

use clap::{ArgAction, Args, ValueEnum};

/// Where images can be: docker://REF (a registry), oci:DIR[:TAG] (an image layout),
/// oci-archive:FILE[:TAG] (a layout in one tar file), docker-archive:FILE[:NAME] (what `docker
/// save` writes), dir:PATH (skopeo's directory of one image), or a bare name (hoist's store).
// Each end has TLS and credential flags of its own, as skopeo's have: what is given for one
// registry never goes to the other.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The image to copy: docker://REF, oci:DIR[:TAG], oci-archive:FILE[:TAG],
    /// docker-archive:FILE[:NAME], dir:PATH, or a name in hoist's store
    pub source: String,

    /// Where to put it, in the same forms (the tag defaults to the source's)
    pub destination: String,

    #[command(flatten)]
    pub ends: EndsArgs,

    #[command(flatten)]
    pub transfer: TransferArgs,

    /// Copy every platform of a multi-platform image, and the index itself
    #[arg(long, conflicts_with = "platform")]
    pub all_platforms: bool,

    /// Blobs to transfer at once
    #[arg(long, default_value_t = 6, value_name = "N")]
    pub jobs: usize,

    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,
}

// Each end's TLS and credential flags, as skopeo's copy and sync have them (a plain comment,
// as for RegistryArgs).
#[derive(Debug, Args)]
pub struct EndsArgs {
    /// Require HTTPS with a verified certificate from the source registry; with
    /// `--src-tls-verify=false` an unverified certificate is accepted and plain HTTP is tried
    /// after HTTPS (loopback registries may always fall back to HTTP)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    pub src_tls_verify: bool,

    /// Require HTTPS with a verified certificate from the destination registry (as
    /// --src-tls-verify for the source)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    pub dest_tls_verify: bool,

    /// CA certificates (*.crt) for the source registry [default: /etc/containers/certs.d/HOST/
    /// and /etc/docker/certs.d/HOST/]
    #[arg(long, value_name = "DIR")]
    pub src_cert_dir: Option<PathBuf>,

    /// CA certificates (*.crt) for the destination registry [default: as for the source]
    #[arg(long, value_name = "DIR")]
    pub dest_cert_dir: Option<PathBuf>,

    /// Credentials for the source registry only, as USER:PASSWORD
    #[arg(long, value_name = "USER:PASSWORD")]
    pub src_creds: Option<String>,

    /// Credentials for the destination registry only, as USER:PASSWORD
    #[arg(long, value_name = "USER:PASSWORD")]
    pub dest_creds: Option<String>,

    /// Read the source registry's credentials from this auth file [default: --authfile]
    #[arg(long, value_name = "FILE")]
    pub src_authfile: Option<PathBuf>,

    /// Read the destination registry's credentials from this auth file [default: --authfile]
    #[arg(long, value_name = "FILE")]
    pub dest_authfile: Option<PathBuf>,

    /// Read credentials for either registry from this auth file, each by its own host
    /// [default: $REGISTRY_AUTH_FILE, then $XDG_RUNTIME_DIR/containers/auth.json,
    /// ~/.config/containers/auth.json, ~/.docker/config.json with its credential helpers]
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncTransport {
    /// A registry: a repository (every tag), an image, or a namespace to write into
    Docker,
    /// A directory of dir: images
    Dir,
    /// (--src only) skopeo's YAML file naming registries, their images and how to reach them
    Yaml,
}

/// skopeo's `sync`: every image of a repository or directory tree, each to DEST/NAME:TAG.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// What to sync: HOST/REPO (every tag) or HOST/REPO:TAG with --src docker; a directory
    /// with --src dir; a YAML file with --src yaml (skopeo-sync(1)'s format)
    pub source: String,

    /// Where: HOST[/PATH] with --dest docker, a directory with --dest dir
    pub destination: String,

    /// The source's transport
    #[arg(short = 's', long = "src", value_enum)]
    pub src: SyncTransport,

    /// The destination's transport
    #[arg(short = 'd', long = "dest", value_enum)]
    pub dest: SyncTransport,

    /// Name images below the destination by their registry and full path
    /// (DEST/HOST/PATH/NAME:TAG), not by their last name only
    #[arg(long)]
    pub scoped: bool,

    /// Copy every platform of multi-platform images, and the index itself
    #[arg(short, long)]
    pub all: bool,

    #[command(flatten)]
    pub ends: EndsArgs,

    #[command(flatten)]
    pub transfer: TransferArgs,

    /// Blobs to transfer at once
    #[arg(long, default_value_t = 6, value_name = "N")]
    pub jobs: usize,

    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The image: docker://REF (asks the registry), oci:DIR[:TAG], oci-archive:FILE[:TAG],
    /// docker-archive:FILE[:NAME], dir:PATH, or a name (hoist's store if it has it, else the
    /// registry)
    pub image: String,

    /// Print the manifest (or index) exactly as stored
    #[arg(long, conflicts_with = "config")]
    pub raw: bool,

    /// Print the image's config blob
    #[arg(long)]
    pub config: bool,

    /// A Go template for the output ('{{.State.Status}}'), or json
    #[arg(short, long)]
    pub format: Option<String>,

    /// Do not list the repository's tags (RepoTags is left empty)
    #[arg(short = 'n', long)]
    pub no_tags: bool,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct ListTagsArgs {
    /// The repository: docker://HOST/REPO (a tag, if given, is not looked at), or
    /// docker-archive:FILE (the names of its images)
    pub repository: String,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// As --format json (hoist's older spelling)
    #[arg(long, hide = true)]
    pub json: bool,

    /// json, a Go template ('{{.Repository}}:{{.Tag}}'), or `table` and a template
    #[arg(long)]
    pub format: Option<String>,

    /// Print the names only
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// The images to remove, by the names `hoist images` shows
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry, as HOST[:PORT]
    pub registry: String,

    /// The user name [default: asked]
    #[arg(short, long)]
    pub username: Option<String>,

    /// The password [default: asked, or read from stdin with --password-stdin]
    #[arg(short, long)]
    pub password: Option<String>,

    /// Read the password from stdin
    #[arg(long)]
    pub password_stdin: bool,

    /// The auth file to write [default: $REGISTRY_AUTH_FILE, else
    /// $XDG_RUNTIME_DIR/containers/auth.json]
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,

    /// Require HTTPS with a verified certificate (see `hoist pull --help`)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    pub tls_verify: bool,

    /// CA certificates (*.crt) for the registry
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry, as HOST[:PORT]
    #[arg(required_unless_present = "all")]
    pub registry: Option<String>,

    /// Remove the credentials of every registry
    #[arg(short, long)]
    pub all: bool,

    /// The auth file to change [default: as for login]
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// The archive to write
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// oci-archive (layers as stored, digests kept) or docker-archive (plain-tar layers, what
    /// `docker save` writes and podman's default)
    #[arg(long, value_enum, default_value_t = SaveFormat::OciArchive)]
    pub format: SaveFormat,

    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,

    /// Every platform of multi-platform images
    #[arg(long)]
    pub all_platforms: bool,

    /// Images in hoist's store
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaveFormat {
    OciArchive,
    DockerArchive,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The archive to read: an OCI archive (from `hoist save`, `skopeo copy ... oci-archive:`,
    /// `podman save --format oci-archive`) or a docker-archive (`docker save`, `podman save`)
    /// [default: standard input]
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,
}

// How to reach and authenticate to registries (skopeo's and podman's names). A plain comment:
// a flattened struct's doc comment would become the help's description of every verb using it.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Require HTTPS with a verified certificate; with `--tls-verify=false` an unverified
    /// certificate is accepted and plain HTTP is tried after HTTPS (loopback registries may
    /// always fall back to HTTP)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    pub tls_verify: bool,

    /// CA certificates (*.crt) for the registry [default: /etc/containers/certs.d/HOST/ and
    /// /etc/docker/certs.d/HOST/]
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// Registry credentials as USER:PASSWORD (or USER, to be asked for the password)
    #[arg(long, value_name = "USER[:PASSWORD]")]
    pub creds: Option<String>,

    /// Read credentials from this auth file [default: $REGISTRY_AUTH_FILE, then
    /// $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json,
    /// ~/.docker/config.json with its credential helpers]
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,

    #[command(flatten)]
    pub transfer: TransferArgs,
}

// How transfers go, whichever registry they are with (a plain comment, as above).
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Retries after a network error, a stall, a 429 or a 5xx (never after 401/403/404 or a
    /// digest mismatch)
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub retry_times: u32,

    /// The first wait before a retry; later ones double (e.g. 500ms, 2s)
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub retry_delay: std::time::Duration,

    /// Cut and retry a transfer that delivers nothing for this long
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub stall_timeout: std::time::Duration,

    /// Fetch a non-distributable layer the registry does not hold from the URLs its descriptor
    /// names (other hosts: they get no credentials, the registry's TLS settings apply to them,
    /// and what they send must match the digest)
    #[arg(long)]
    pub allow_layer_urls: bool,

    /// Platform to choose from a multi-platform image, as os/arch[/variant] [default: this host]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The image: [docker://]HOST/REPO:TAG or HOST/REPO@sha256:DIGEST (short names like
    /// `busybox` mean docker.io/library/busybox:latest)
    pub reference: String,

    /// Write into this OCI image layout instead of hoist's store: oci:DIR[:TAG] (default TAG:
    /// the source's tag)
    #[arg(long, value_name = "oci:DIR[:TAG]")]
    pub dest: Option<String>,

    #[command(flatten)]
    pub registry: RegistryArgs,

    /// Take every platform of a multi-platform image, and the index itself
    #[arg(long, conflicts_with = "platform")]
    pub all_platforms: bool,

    /// Blobs to download at once
    #[arg(long, default_value_t = 6, value_name = "N")]
    pub jobs: usize,

    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,

    /// `json`: print the result as JSON on stdout (the digest, the destination, blob counts)
    #[arg(long, value_name = "FORMAT", value_parser = ["json"])]
    pub format: Option<String>,

    /// As --format json (hoist's older spelling)
    #[arg(long, hide = true)]
    pub json: bool,
}

impl PullArgs {
    pub fn wants_json(&self) -> bool {
        self.json || self.format.is_some()
    }
}

#[derive(Debug, Args)]
pub struct UnpackArgs {
    /// The image: an OCI layout as DIR[:TAG] (or oci:DIR[:TAG]), an image in hoist's store, or
    /// docker://REF, pulled into the store and unpacked while it downloads
    #[arg(long, value_name = "DIR[:TAG]")]
    pub image: String,

    /// The bundle directory to create (must not exist, or be empty)
    pub bundle: PathBuf,

    /// Unpack without privileges: no ownership changes, no device nodes [default: on for a
    /// non-root user]
    #[arg(long)]
    pub rootless: bool,

    /// Refuse images whose layers unpack to more than this many bytes (suffixes K, M, G, T)
    #[arg(long, default_value = "64G", value_parser = hoist_engine::parse_size, value_name = "SIZE")]
    pub max_size: u64,

    /// Map file owners: container ids CONTAINER.. to host ids HOST.. (repeatable)
    #[arg(long, value_name = "CONTAINER:HOST:SIZE")]
    pub uid_map: Vec<hoist_unpack::IdRange>,

    /// Map file groups, like --uid-map
    #[arg(long, value_name = "CONTAINER:HOST:SIZE")]
    pub gid_map: Vec<hoist_unpack::IdRange>,

    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,

    /// Keep every image label as a config.json annotation. By default labels under
    /// org.systemd.property.* and run.oci.* are left out: runc and crun act on those
    /// annotations, and the image's author should not set them for whoever runs it
    #[arg(long)]
    pub runtime_labels: bool,

    #[command(flatten, next_help_heading = "Pulling the image (docker://)")]
    pub registry: RegistryArgs,
}
