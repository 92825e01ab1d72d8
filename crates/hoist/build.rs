//! Links hoist so that each start costs the loader as little as it can, without giving up
//! position independence (ASLR for its own code and data, as a tool running as root should
//! have). hoist starts twice for every container (once more from its sealed copy; see
//! `hoist_runtime::reexec_sealed`), so what the loader does on each start counts double.
//!
//! - Relative relocations are packed (DT_RELR). A PIE applies them on every start; packed,
//!   the ~30 000 relocations are a 9 KiB bitmap instead of 700 KiB of RELA entries that the
//!   loader must read; what remains is the copy-on-write of the ~500 KiB of data they point
//!   into. Needs binutils 2.38 or later to link and glibc 2.36 or later to run (the linker
//!   records that, so an older glibc refuses it by name).
//! - Rust's unwinder is linked in from libgcc_eh.a instead of loaded from libgcc_s.so.1: one
//!   library fewer to map and relocate, and no run of libgcc_s's CPU-model constructor, whose
//!   `cpuid`s trap to the hypervisor in a VM; about 0.13 ms per start on the bench's VM. GCC's
//!   `-static-libgcc` does this for C programs, but rustc names `-lgcc_s` itself, so a linker
//!   script of that name, found first, stands for it. GCC's runtime library exception allows
//!   linking libgcc into any program.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if !target.contains("-linux-gnu") {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out_dir.join("libgcc_s.so"), "INPUT(-lgcc_eh)\n")
        .expect("writing the libgcc_s linker script into OUT_DIR");
    println!("cargo:rustc-link-search=native={}", out_dir.display());
}
