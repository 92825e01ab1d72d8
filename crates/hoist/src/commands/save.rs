//! `hoist save` / `hoist load`: images carried between machines as one OCI archive; and
//! `hoist info`.

use anyhow::Context;
use hoist_oci::{Layout, Platform, Reference};

use crate::cli::{LoadArgs, SaveArgs};
use hoist_engine::{driver_in_use, Store};

pub fn save(args: SaveArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    let _lock = store.lock(false)?;
    let images = store.images()?;
    let dir = args
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let building = tempfile::Builder::new()
        .prefix(".hoist-save-")
        .tempdir_in(dir)
        .context("making a directory to build the archive in")?;
    let archive = Layout::create(building.path())?;
    for image in &args.images {
        let name = image.parse::<Reference>()?.to_string();
        let top = images
            .resolve(Some(&name))
            .with_context(|| format!("{name} is not in hoist's store"))?;
        let top = if args.all_platforms {
            top
        } else {
            images.choose_image(&top, &Platform::host())?
        };
        archive.copy_image_from(&images, &top, &name)?;
    }
    hoist_oci::write_archive(&archive, &args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!(
        "Saved {} image(s) to {}",
        args.images.len(),
        args.output.display()
    );
    Ok(())
}

pub fn load(args: LoadArgs) -> anyhow::Result<()> {
    let store = Store::locate();
    let _lock = store.lock(false)?;
    let images = store.images()?;
    let extracted = store.staging("load-")?;
    let archive = hoist_oci::read_archive(&args.input, extracted.path())?;
    let mut loaded = 0;
    for top in archive.index()?.manifests() {
        let Some(name) = hoist_oci::ref_name(top) else {
            continue;
        };
        // A bare tag (as skopeo writes `oci-archive:FILE:TAG`) names no image; keep it as is.
        let name = name
            .parse::<Reference>()
            .map(|r| r.to_string())
            .unwrap_or_else(|_| name.to_string());
        images.copy_image_from(&archive, top, &name)?;
        println!("Loaded image: {name}");
        loaded += 1;
    }
    if loaded == 0 {
        anyhow::bail!(
            "{} names no images (its index.json has no ref names)",
            args.input.display()
        );
    }
    Ok(())
}

pub fn info(runtime: &hoist_runtime::Runtime) -> anyhow::Result<()> {
    let store = Store::locate();
    let driver = driver_in_use();
    let info = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "store": store.root(),
        "images": store.root().join("images"),
        "layers": store.layers(),
        "containers": store.containers(),
        "storageDriver": driver,
        "runtimeRoot": runtime.root(),
        "platform": Platform::host().to_string(),
    });
    println!("{}", serde_json::to_string_pretty(&info)?);
    Ok(())
}
