//! What installing hoist gives a shell user: completion scripts for every verb.

use std::process::Command;

use hoist_e2e::{expect_ok, hoist, scratch, stdout};

#[test]
fn bash_completes_verbs_and_their_flags() {
    let dir = scratch();
    let script = dir.path().join("hoist.bash");
    let generated = expect_ok(hoist(dir.path()).args(["completion", "bash"]));
    std::fs::write(&script, &generated.stdout).unwrap();
    // What bash offers after `hoist list-` and after `hoist sync --s`.
    let complete = |words: &str| {
        let probe = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); \
             _hoist hoist \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        stdout(&expect_ok(Command::new("bash").args(["-c", &probe])))
    };
    assert!(complete("hoist list-").lines().any(|w| w == "list-tags"));
    let flags = complete("hoist sync --s");
    assert!(flags.lines().any(|w| w == "--scoped"), "{flags}");
    assert!(
        !complete("hoist ").contains("storage-helper"),
        "internal verbs are not offered"
    );
    for shell in ["zsh", "fish"] {
        let script = stdout(&expect_ok(hoist(dir.path()).args(["completion", shell])));
        assert!(script.contains("list-tags"), "{shell}");
    }
}
