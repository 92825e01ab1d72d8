//! Names for containers that were not given one, readable as podman's are: `adjective_noun`.

/// Kept short and plain, so that a generated name is easy to type and to say.
const ADJECTIVES: &[&str] = &[
    "agile", "amber", "ample", "bold", "brave", "brisk", "calm", "clever", "cosy", "crisp",
    "curious", "daring", "eager", "early", "fair", "fond", "gentle", "glad", "golden", "happy",
    "hardy", "honest", "jolly", "keen", "kind", "lively", "loyal", "lucid", "merry", "mighty",
    "modest", "neat", "nimble", "noble", "patient", "plucky", "polite", "proud", "quick", "quiet",
    "rapid", "ready", "serene", "sharp", "shiny", "silent", "snug", "steady", "sunny", "swift",
    "tender", "tidy", "trusty", "vivid", "warm", "wise", "witty", "zealous",
];

const NOUNS: &[&str] = &[
    "albatross",
    "badger",
    "beaver",
    "bison",
    "condor",
    "crane",
    "dolphin",
    "eagle",
    "falcon",
    "ferret",
    "finch",
    "fox",
    "gecko",
    "gibbon",
    "heron",
    "ibex",
    "jackal",
    "jaguar",
    "kestrel",
    "koala",
    "lemur",
    "lynx",
    "magpie",
    "marmot",
    "marten",
    "mole",
    "moose",
    "newt",
    "ocelot",
    "otter",
    "owl",
    "panda",
    "pelican",
    "puffin",
    "quail",
    "raven",
    "robin",
    "salmon",
    "seal",
    "sparrow",
    "stork",
    "swan",
    "tapir",
    "tern",
    "thrush",
    "toucan",
    "turtle",
    "walrus",
    "weasel",
    "whale",
    "wombat",
    "wren",
    "yak",
    "zebra",
];

/// A name from two random words (about 3 000 of them: the caller tries again when one is
/// taken).
pub(crate) fn generate() -> String {
    let adjective = ADJECTIVES[fastrand::usize(..ADJECTIVES.len())];
    let noun = NOUNS[fastrand::usize(..NOUNS.len())];
    format!("{adjective}_{noun}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_valid_container_names() {
        for _ in 0..200 {
            let name = generate();
            crate::check_name(&name).unwrap();
            let (adjective, noun) = name.split_once('_').unwrap();
            assert!(
                ADJECTIVES.contains(&adjective) && NOUNS.contains(&noun),
                "{name}"
            );
        }
    }
}
