//! Layers and archives built to exhaust the memory of whatever reads them: a PAX header of
//! 256 MiB, a few hundred KiB once compressed. hoist must refuse each at its header, naming it,
//! within its memory budget. A binary of its own: a child's peak memory (from wait4) starts at
//! its parent's, which fork copies, so no other test may grow this process.

use hoist_e2e::image::{write_image_of, write_pax_bomb, Layer, Lies, Tar};
use hoist_e2e::{env, hoist, run, run_measuring_peak, scratch, stderr, unpack_command};
use serde_json::json;

/// What hoist may hold in memory whatever an image holds (the unpack budget of earlier work).
const MEMORY_BUDGET_KIB: u64 = 64 * 1024;

#[test]
fn a_pax_header_bomb_is_refused_at_its_header_within_the_memory_budget() {
    if env().is_none() {
        return;
    }
    let dir = scratch();
    let layout = dir.path().join("layout");
    // 256 MiB of PAX record, a few hundred KiB once gzipped.
    let layer = Layer::gzip_from(|out| write_pax_bomb(out, "victim", 256 << 20));
    write_image_of(&layout, "bomb", vec![layer], Lies::default(), json!({}));
    let bundle = dir.path().join("bundle");
    let (output, peak_kib) =
        run_measuring_peak(&mut unpack_command(dir.path(), &layout, "bomb", &bundle));
    assert!(
        peak_kib < MEMORY_BUDGET_KIB,
        "hoist peaked at {peak_kib} KiB reading a PAX bomb"
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("PaxHeaders/bomb") && message.contains("PAX header"),
        "the error names the entry and what it is: {message}"
    );
    assert!(!bundle.exists(), "no bundle from a refused layer");
}

#[test]
fn an_archive_with_a_pax_bomb_or_an_oversized_index_is_refused_within_the_memory_budget() {
    if env().is_none() {
        return;
    }
    let dir = scratch();
    let bomb = dir.path().join("bomb.tar");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&bomb).unwrap());
    write_pax_bomb(&mut file, "index.json", 256 << 20);
    drop(file);
    let (output, peak_kib) = run_measuring_peak(hoist(dir.path()).args(["load", "-i"]).arg(&bomb));
    assert!(
        peak_kib < MEMORY_BUDGET_KIB,
        "load peaked at {peak_kib} KiB"
    );
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("PAX header"),
        "{}",
        stderr(&output)
    );

    let huge_index = dir.path().join("index.tar");
    let index = vec![b' '; 9 << 20];
    std::fs::write(
        &huge_index,
        Tar::default()
            .file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
            .file("index.json", &index)
            .finish(),
    )
    .unwrap();
    let output = run(hoist(dir.path()).args(["load", "-i"]).arg(&huge_index));
    assert_eq!(output.status.code(), Some(125));
    assert!(stderr(&output).contains("limit"), "{}", stderr(&output));
}
