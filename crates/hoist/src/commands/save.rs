//! `hoist save` / `hoist load`: images carried between machines as one OCI archive; and
//! `hoist info`.

use crate::output::outln;
use hoist_engine::{driver_in_use, Store};
use hoist_oci::Platform;

use crate::cli::{LoadArgs, SaveArgs};

pub fn save(args: SaveArgs) -> anyhow::Result<()> {
    hoist_engine::save_images(
        &Store::locate(),
        &args.images,
        args.all_platforms,
        &args.output,
    )?;
    eprintln!(
        "Saved {} image(s) to {}",
        args.images.len(),
        args.output.display()
    );
    Ok(())
}

pub fn load(args: LoadArgs) -> anyhow::Result<()> {
    for name in hoist_engine::load_images(&Store::locate(), &args.input)? {
        outln!("Loaded image: {name}");
    }
    Ok(())
}

pub fn info(runtime: &hoist_runtime::Runtime) -> anyhow::Result<()> {
    let store = Store::locate();
    let info = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "store": store.root(),
        "images": store.root().join("images"),
        "layers": store.layers(),
        "containers": store.containers(),
        "storageDriver": driver_in_use(),
        "runtimeRoot": runtime.root(),
        "platform": Platform::host().to_string(),
    });
    outln!("{}", serde_json::to_string_pretty(&info)?);
    Ok(())
}
