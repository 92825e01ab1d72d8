//! podman's question for a short name that could mean an image of several registries (in
//! registries.conf's enforcing mode): asked on the terminal when both standard input and
//! output are one, as podman asks; with no terminal the name is refused instead.

use std::io::IsTerminal;

use hoist_oci::Reference;

/// The index of the image the user picks from `candidates` (arrow keys and Enter, as in
/// podman), or `None` without a terminal or when the user leaves the list (Esc, q).
pub fn choose(name: &str, candidates: &[Reference]) -> Option<usize> {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return None;
    }
    let items: Vec<String> = candidates.iter().map(ToString::to_string).collect();
    dialoguer::Select::new()
        .with_prompt(format!("Please select an image for {name:?}"))
        .items(&items)
        .default(0)
        .interact_opt()
        .ok()
        .flatten()
}
