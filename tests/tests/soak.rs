//! The fault and load suite (`hoist_e2e::soak`), the short plan; `cargo xtask soak` runs the
//! full one and prints its figures.

use hoist_e2e::soak::{render, Figures, Plan, Soak};
use hoist_e2e::{env, in_private_network, is_root, scratch};

#[test]
fn killed_anywhere_and_loaded_nothing_is_lost_and_nothing_leaks() {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let mut soak = Soak::new(&env, dir.path(), Plan::from_env());
    let mut figures = vec![soak.kill_image_commands()];
    let mut setup = Figures::default();
    soak.pull(&mut setup, "busybox");
    assert!(setup.failures.is_empty(), "{:?}", setup.failures);
    // Containers go on a bridge in a network namespace of the test's own; the registry is not
    // there, so the images they need are pulled before.
    let (mut soak, on_the_bridge) = in_private_network(move || {
        let killed = soak.kill_container_commands();
        let loaded = soak.load_containers();
        (soak, [killed, loaded])
    });
    figures.extend(on_the_bridge);
    figures.push(soak.pulls_racing_removals());
    figures.push(soak.pulls_through_a_failing_network());
    println!("soak (seed {}):\n{}", soak.plan.seed, render(&figures));
    for phase in &figures {
        assert!(
            phase.failures.is_empty() && phase.leaks.is_empty(),
            "{}: failures {:#?}, leaks {:#?}",
            phase.phase,
            phase.failures,
            phase.leaks
        );
    }
}
