//! umoci's layout verbs (repack, config, insert, tag, ls, gc) and podman's `tag`.

use std::path::PathBuf;

use anyhow::bail;
use hoist_engine::{ConfigEdit, Store};
use hoist_oci::media_type::Compression;
use hoist_oci::HistoryNote;
use hoist_unpack::{InsertOptions, RepackOptions};

use crate::cli::{
    CommitArgs, ConfigArgs, HistoryArgs, InsertArgs, LayerCompression, LayoutArg, RepackArgs,
    TagArgs,
};
use crate::output::outln;

fn history(args: &HistoryArgs, default_created_by: String) -> HistoryNote {
    HistoryNote {
        created: args
            .created
            .clone()
            .unwrap_or_else(hoist_engine::now_rfc3339),
        created_by: Some(args.created_by.clone().unwrap_or(default_created_by)),
        author: args.author.clone(),
        comment: args.comment.clone(),
        skip: args.no_history,
    }
}

fn compression(choice: LayerCompression) -> Compression {
    match choice {
        LayerCompression::Gzip => Compression::Gzip,
        LayerCompression::Zstd => Compression::Zstd,
        LayerCompression::None => Compression::None,
    }
}

pub fn repack(args: RepackArgs) -> anyhow::Result<()> {
    let options = RepackOptions {
        tag: String::new(),
        compression: compression(args.compress),
        history: history(
            &args.history,
            format!("hoist repack {}", args.bundle.display()),
        ),
        masked: args.mask_path,
        mask_volumes: !args.no_mask_volumes,
        refresh_bundle: args.refresh_bundle,
    };
    let repacked = hoist_engine::repack_bundle(&args.image, &args.bundle, options)?;
    eprintln!(
        "Repacked {} as {} ({} changes in layer {})",
        args.bundle.display(),
        args.image,
        repacked.changes,
        repacked.layer
    );
    outln!("{}", repacked.manifest);
    Ok(())
}

pub fn config(args: ConfigArgs) -> anyhow::Result<()> {
    let edit = ConfigEdit {
        user: args.user,
        env: args.env,
        entrypoint: (!args.entrypoint.is_empty()).then_some(args.entrypoint),
        cmd: (!args.cmd.is_empty()).then_some(args.cmd),
        working_dir: args.working_dir,
        labels: args.label,
        exposed_ports: args.exposed_ports,
        volumes: args.volume,
        stop_signal: args.stop_signal,
        clear: args.clear,
        os: args.os,
        architecture: args.architecture,
        author: args.author,
    };
    let note = history(&args.history, "hoist config".to_string());
    let digest = hoist_engine::edit_config(&args.image, args.tag.as_deref(), &edit, &note)?;
    outln!("{digest}");
    Ok(())
}

pub fn insert(args: InsertArgs) -> anyhow::Result<()> {
    let (source, target): (Option<PathBuf>, PathBuf) = match (args.whiteout, &args.paths[..]) {
        (true, [target]) => (None, target.clone()),
        (false, [source, target]) => (Some(source.clone()), target.clone()),
        (true, _) => bail!("insert --whiteout takes the TARGET alone"),
        (false, _) => bail!("insert takes SOURCE and TARGET"),
    };
    let created_by = match &source {
        Some(source) => format!("hoist insert {} {}", source.display(), target.display()),
        None => format!("hoist insert --whiteout {}", target.display()),
    };
    let options = InsertOptions {
        compression: compression(args.compress),
        rootless: args.rootless,
        opaque: args.opaque,
        history: history(&args.history, created_by),
    };
    let digest = hoist_engine::insert_files(
        &args.image,
        args.tag.as_deref(),
        source.as_deref(),
        &target,
        &options,
    )?;
    outln!("{digest}");
    Ok(())
}

pub fn tag(args: TagArgs) -> anyhow::Result<()> {
    match (&args.image, &args.names[..]) {
        (Some(image), [new]) => hoist_engine::tag_in_layout(image, new)?,
        (Some(_), _) => bail!("tag --image DIR[:TAG] takes one new tag"),
        (None, [source, targets @ ..]) if !targets.is_empty() => {
            hoist_engine::tag_images(&Store::locate(), source, targets)?
        }
        (None, _) => bail!("tag takes IMAGE and at least one new NAME (or --image DIR[:TAG] NEW)"),
    }
    Ok(())
}

pub fn ls(args: LayoutArg) -> anyhow::Result<()> {
    for tag in hoist_engine::layout_tags(&args.layout)? {
        outln!("{tag}");
    }
    Ok(())
}

pub fn gc(args: LayoutArg) -> anyhow::Result<()> {
    let freed = hoist_engine::layout_gc(&args.layout)?;
    eprintln!("Freed {freed} bytes");
    Ok(())
}

pub fn commit(runtime: &hoist_runtime::Runtime, args: CommitArgs) -> anyhow::Result<()> {
    let request = hoist_engine::CommitRequest {
        container: &args.container,
        image: &args.image,
        author: args.author,
        message: args.message,
        changes: &args.change,
        pause: args.pause,
    };
    let digest = hoist_engine::commit_container(&Store::locate(), runtime, &request)?;
    if !args.quiet {
        eprintln!("Committed {} as {}", args.container, args.image);
    }
    outln!("{}", digest.hex());
    Ok(())
}
