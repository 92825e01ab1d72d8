//! Links hoist as a fixed-address executable, as Debian builds runc, skopeo and containerd.
//!
//! As a position-independent executable, every start of hoist first applies ~25 000 relative
//! relocations, which copy-on-write fault in every page of its read-only data: about 2 ms, a
//! quarter of a container's whole start-to-exit (`cargo xtask bench`), paid again by the init
//! it clones. What ASLR of the main image would add against memory corruption, Rust's memory
//! safety already gives; the libraries, heap and stacks are still placed at random.
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
