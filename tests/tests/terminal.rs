//! `-it` through a real terminal (a pty the test drives as a terminal emulator would): job
//! control, resizes, Ctrl-C, detach keys and `attach`, `exec -it`, hoist itself stopped and
//! continued, and the caller's terminal settings given back whatever way the session ends.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use hoist_e2e::terminal::Terminal;
use hoist_e2e::{
    edit_config, env, expect_ok, hoist, is_root, run, scratch, stderr, stdout, unique_id, wait_for,
    RunContainersGuard,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn busybox() -> Option<String> {
    let env = env()?;
    is_root().then(|| format!("{}/busybox:latest", env.registry))
}

/// `hoist run --network=none --tls-verify=false ARGS...` on a new terminal.
fn run_on_terminal(scratch: &Path, args: &[&str]) -> Terminal {
    let mut command = hoist(scratch);
    command
        .args(["run", "--network=none", "--tls-verify=false"])
        .args(args);
    Terminal::spawn(&mut command, 24, 80)
}

/// `hoist run DETACH --name NAME IMAGE CMD...` (`-d` or `-dit`), which must succeed.
fn start_detached(scratch: &Path, detach: &str, name: &str, image_and_command: &[&str]) {
    let mut command = hoist(scratch);
    command.args([
        "run",
        detach,
        "--network=none",
        "--tls-verify=false",
        "--name",
        name,
    ]);
    expect_ok(command.args(image_and_command));
}

fn hoist_on_terminal(scratch: &Path, args: &[&str]) -> Terminal {
    Terminal::spawn(hoist(scratch).args(args), 24, 80)
}

/// Types `keys` until `text` shows: for keys that act only once the shell has started a job
/// (Ctrl-Z, Ctrl-C), which a test cannot see happen.
fn press_until(terminal: &mut Terminal, keys: &[u8], text: &str) {
    for _ in 0..50 {
        terminal.send(keys);
        if terminal.shows_within(text, Duration::from_millis(200)) {
            return;
        }
    }
    panic!(
        "{text:?} never showed; the terminal shows:\n{}",
        terminal.screen()
    );
}

/// A shell's job control, a resize and Ctrl-C, checked in a session on `terminal` whose shell
/// has the terminal `tty` (of the container's own devpts, never the caller's): `sleep &` runs
/// in the background, Ctrl-Z stops the foreground job and `fg` brings it back, Ctrl-C ends it
/// and leaves the shell, `stty size` follows the window.
fn check_shell_session(terminal: &mut Terminal, tty: &str) {
    terminal.expect("/ # ");
    assert!(
        !terminal.is_cooked(),
        "the relay holds the caller's terminal raw"
    );
    terminal.send(b"tty\r");
    terminal.expect(&format!("{tty}\r\n"));
    terminal.send(b"sleep 30 &\r");
    terminal.send(b"jobs\r");
    terminal.expect("Running");
    terminal.send(b"sleep 100\r");
    press_until(terminal, b"\x1a", "Stopped");
    terminal.expect("/ # ");
    terminal.send(b"fg\r");
    terminal.expect("sleep 100");
    press_until(terminal, b"\x03", "/ # ");
    terminal.send(b"echo job-$((40+2))\r");
    terminal.expect("job-42");
    terminal.resize(33, 101);
    // The new size travels as a message beside the keys typed: ask until it has arrived.
    press_until(terminal, b"stty size\r", "33 101");
}

#[test]
fn an_interactive_run_has_job_control_resizes_and_ctrl_c_and_gives_the_terminal_back() {
    let Some(image) = busybox() else { return };
    let dir = scratch();
    let _cleanup = RunContainersGuard(dir.path());
    let mut terminal = run_on_terminal(dir.path(), &["-it", "--rm", &image, "sh"]);
    check_shell_session(&mut terminal, "/dev/pts/0");
    terminal.send(b"exit 5\r");
    let (status, screen) = terminal.wait();
    assert_eq!(status.code(), Some(5), "{screen}");
    assert!(!screen.contains("job control turned off"), "{screen}");
    assert!(
        terminal.settings_are_initial(),
        "the caller's settings are back"
    );
    assert_no_containers(dir.path());
}

#[test]
fn detach_keys_leave_the_container_running_and_attach_joins_it_again() {
    let Some(image) = busybox() else { return };
    let dir = scratch();
    let _cleanup = RunContainersGuard(dir.path());
    let name = unique_id("detach");
    let mut terminal = run_on_terminal(dir.path(), &["-it", "--name", &name, &image, "sh"]);
    terminal.expect("/ # ");
    terminal.send(b"echo one-$((0+1))\r");
    terminal.expect("one-1");
    terminal.send(b"\x10\x11");
    let (status, screen) = terminal.wait();
    assert_eq!(status.code(), Some(0), "{screen}");
    assert!(
        screen.ends_with("\r\n"),
        "the prompt after it starts a line: {screen:?}"
    );
    assert!(terminal.settings_are_initial());
    assert!(running(dir.path()).contains(&name), "it runs on");

    // Other keys, from `attach`.
    let mut attached = hoist_on_terminal(dir.path(), &["attach", "--detach-keys", "ctrl-x", &name]);
    wait_for("attach to take the terminal", || !attached.is_cooked());
    attached.send(b"echo two-$((1+1))\r");
    attached.expect("two-2");
    attached.send(b"\x18");
    assert_eq!(attached.wait().0.code(), Some(0));
    assert!(attached.settings_are_initial());
    assert!(running(dir.path()).contains(&name));

    let mut again = hoist_on_terminal(dir.path(), &["attach", &name]);
    wait_for("attach to take the terminal", || !again.is_cooked());
    again.send(b"echo three-$((1+2))\r");
    again.expect("three-3");
    again.send(b"exit 6\r");
    let (status, screen) = again.wait();
    assert_eq!(
        status.code(),
        Some(6),
        "attach ends with the container's code: {screen}"
    );
    assert!(again.settings_are_initial());
    let listed = stdout(&expect_ok(hoist(dir.path()).args(["ps", "-a"])));
    assert!(listed.contains("Exited (6)"), "{listed}");
    let log = stdout(&expect_ok(hoist(dir.path()).args(["logs", &name])));
    assert!(
        log.contains("three-3"),
        "a terminal's output is kept in the log: {log}"
    );
    expect_ok(hoist(dir.path()).args(["rm", &name]));
}

#[test]
fn exec_it_gets_a_terminal_of_its_own_and_runs_on_after_a_detach() {
    let Some(image) = busybox() else { return };
    let dir = scratch();
    let _cleanup = RunContainersGuard(dir.path());
    let name = unique_id("exec");
    start_detached(dir.path(), "-dit", &name, &[&image, "sh"]);
    let pid_file = dir.path().join("exec.pid");
    let pid_file_arg = pid_file.to_string_lossy().into_owned();
    let mut terminal = hoist_on_terminal(
        dir.path(),
        &["exec", "-it", "--pid-file", &pid_file_arg, &name, "sh"],
    );
    // The container's own terminal (-dit) is pts/0.
    check_shell_session(&mut terminal, "/dev/pts/1");
    terminal.send(b"\x10\x11");
    let (status, screen) = terminal.wait();
    assert_eq!(status.code(), Some(0), "{screen}");
    assert!(terminal.settings_are_initial());
    // The exec'd shell runs on, its terminal held by the session host.
    let shell: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        process_state(Pid::from_raw(shell)),
        'S',
        "the shell waits for input"
    );
    let comm = std::fs::read_to_string(format!("/proc/{shell}/comm")).unwrap();
    assert_eq!(comm.trim(), "sh");

    // The caller's size from the first moment, not only after a resize message lands.
    let mut sized = hoist_on_terminal(dir.path(), &["exec", "-it", &name, "stty", "size"]);
    let (status, screen) = sized.wait();
    assert!(status.success() && screen.contains("24 80"), "{screen}");

    let mut second = hoist_on_terminal(dir.path(), &["exec", "-it", &name, "sh"]);
    second.expect("/ # ");
    second.send(b"exit 9\r");
    assert_eq!(second.wait().0.code(), Some(9));
    assert!(second.settings_are_initial());

    // The container's own terminal (-dit) is there for `attach`.
    let mut attached = hoist_on_terminal(dir.path(), &["attach", &name]);
    wait_for("attach to take the terminal", || !attached.is_cooked());
    attached.send(b"tty; exit 3\r");
    let (status, screen) = attached.wait();
    assert_eq!(status.code(), Some(3), "{screen}");
    assert!(screen.contains("/dev/pts/0"), "{screen}");
    expect_ok(hoist(dir.path()).args(["rm", "-f", &name]));
}

#[test]
fn hoist_stopped_gives_the_terminal_back_and_the_session_survives_what_it_missed() {
    let Some(image) = busybox() else { return };
    let dir = scratch();
    let _cleanup = RunContainersGuard(dir.path());
    let name = unique_id("stopped");
    let mut terminal = run_on_terminal(dir.path(), &["-it", "--rm", "--name", &name, &image, "sh"]);
    terminal.expect("/ # ");
    assert!(!terminal.is_cooked());
    // Megabytes of output once hoist is stopped (the test says when): more than its socket
    // and its outbox at the host hold. One line of the 80-column terminal, so that its echo
    // shows whole.
    let command = "until [ -e /go ];do sleep .1;done;yes|head -c 6000000;echo fin-$((1+1))";
    terminal.send(format!("{command}\r").as_bytes());
    // Echoed, Enter included, by the container's terminal: hoist has passed it all on.
    terminal.expect(&format!("{command}\r\n"));
    let hoist_pid = Pid::from_raw(terminal.pid());
    kill(hoist_pid, Signal::SIGTSTP).unwrap();
    wait_for("hoist to stop with the terminal given back", || {
        process_state(hoist_pid) == 'T' && terminal.settings_are_initial()
    });
    let log = dir
        .path()
        .join("hoist-root/containers")
        .join(&name)
        .join("ctr.log");
    let done = || log_ends_with(&log, b"fin-2");
    assert!(!done());
    expect_ok(hoist(dir.path()).args(["exec", &name, "touch", "/go"]));
    wait_for("the container to write it all while hoist is stopped", done);
    kill(hoist_pid, Signal::SIGCONT).unwrap();
    wait_for("hoist to take the terminal again", || !terminal.is_cooked());
    terminal.send(b"echo still-$((4+4))\r");
    terminal.expect("still-8");
    terminal.send(b"exit\r");
    assert_eq!(terminal.wait().0.code(), Some(0));
    assert!(terminal.settings_are_initial());
}

#[test]
fn signals_to_hoist_reach_the_container_as_podman_passes_them() {
    let Some(image) = busybox() else { return };
    let dir = scratch();
    let _cleanup = RunContainersGuard(dir.path());
    let mut terminal = run_on_terminal(
        dir.path(),
        &[
            "-it",
            "--rm",
            &image,
            "sh",
            "-c",
            "trap 'echo got-term; exit 4' TERM; echo armed; sleep 30 & wait",
        ],
    );
    terminal.expect("armed");
    kill(Pid::from_raw(terminal.pid()), Signal::SIGTERM).unwrap();
    let (status, screen) = terminal.wait();
    assert!(screen.contains("got-term"), "{screen}");
    assert_eq!(status.code(), Some(4));
    assert!(terminal.settings_are_initial());
}

#[test]
fn without_a_terminal_t_still_runs_and_i_streams_stdin_to_its_end() {
    let Some(image) = busybox() else { return };
    let dir = scratch();
    let _cleanup = RunContainersGuard(dir.path());
    let piped = |args: &[&str], input: &[u8]| {
        let mut child = hoist(dir.path())
            .args(["run", "--rm", "--network=none", "--tls-verify=false"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (mut stdin, input) = (child.stdin.take().unwrap(), input.to_vec());
        std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
        // A session that hangs fails the test instead of hanging it.
        let pid = Pid::from_raw(child.id() as i32);
        let (done, finished) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if finished.recv_timeout(Duration::from_secs(60)).is_err() {
                let _ = kill(pid, Signal::SIGKILL);
            }
        });
        let output = child.wait_with_output().unwrap();
        let _ = done.send(());
        assert_ne!(
            output.status.signal(),
            Some(9),
            "hoist hung: {}",
            stderr(&output)
        );
        output
    };
    // More than a terminal's input queue holds, all there before the container starts.
    let mut script = b": a line the shell reads and does nothing with\n".repeat(2000);
    script.extend_from_slice(b"echo hi-$((1+1)); exit 3\n");
    let shell = piped(&["-it", &image, "sh"], &script);
    assert_eq!(shell.status.code(), Some(3), "{}", stderr(&shell));
    assert!(stdout(&shell).contains("hi-2"), "{}", stdout(&shell));
    let cat = piped(&["-i", &image, "cat"], b"a\nb\n");
    assert_eq!(stdout(&cat), "a\nb\n", "{}", stderr(&cat));
    assert!(cat.status.success());

    let name = unique_id("plain");
    start_detached(dir.path(), "-d", &name, &[&image, "sleep", "300"]);
    let refused = run(hoist(dir.path())
        .args(["attach", &name])
        .stdin(Stdio::null()));
    assert!(
        stderr(&refused).contains("without a terminal"),
        "{}",
        stderr(&refused)
    );
    expect_ok(hoist(dir.path()).args(["rm", "-f", &name]));
    let bad_keys = run(hoist(dir.path()).args(["run", "--detach-keys", "ctrl-1", &image, "true"]));
    assert!(
        stderr(&bad_keys).contains("--detach-keys"),
        "{}",
        stderr(&bad_keys)
    );
}

#[test]
fn a_bundle_run_with_a_terminal_relays_a_pty_of_its_own_as_runc_does() {
    let Some((_env, dir, bundle)) = hoist_e2e::busybox_bundle() else {
        return;
    };
    edit_config(&bundle, |c| {
        c["process"]["terminal"] = serde_json::json!(true);
        c["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "tty; stty size; read line; echo got-$line; exit 7"
        ]);
    });
    let id = unique_id("bundle-tty");
    let _cleanup = hoist_e2e::ContainerGuard::new(dir.path(), &id);
    let bundle = bundle.to_string_lossy().into_owned();
    let mut terminal = hoist_on_terminal(dir.path(), &["run", "--bundle", &bundle, &id]);
    // A terminal of its own, not the caller's, at the caller's size.
    terminal.expect("/dev/pts/0");
    terminal.expect("24 80");
    assert!(!terminal.is_cooked());
    terminal.send(b"x\r");
    terminal.expect("got-x");
    assert_eq!(terminal.wait().0.code(), Some(7));
    assert!(terminal.settings_are_initial());
}

#[test]
fn a_client_that_reads_slowly_gets_every_byte() {
    let Some(image) = busybox() else { return };
    let dir = scratch();
    let _cleanup = RunContainersGuard(dir.path());
    // stdout a pipe nobody reads for a while: hoist blocks writing it, and the container's
    // output waits for it (at the host, not lost).
    let child = hoist(dir.path())
        .args(["run", "-t", "--rm", "--network=none", "--tls-verify=false"])
        .args([image.as_str(), "seq", "1", "200000"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<&str> = std::str::from_utf8(&output.stdout)
        .unwrap()
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 200_000);
    assert_eq!(lines.last(), Some(&"200000"));
}

/// The names `hoist ps` lists as running.
fn running(scratch: &Path) -> String {
    stdout(&expect_ok(hoist(scratch).args([
        "ps",
        "--format",
        "{{.Names}}",
    ])))
}

fn assert_no_containers(scratch: &Path) {
    let left = std::fs::read_dir(scratch.join("hoist-root/containers"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "--rm leaves nothing");
}

/// Whether the last bytes of the file at `path` hold `text`.
fn log_ends_with(path: &Path, text: &[u8]) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut tail = Vec::new();
    let _ = file.seek(SeekFrom::End(-256));
    let _ = file.read_to_end(&mut tail);
    tail.windows(text.len()).any(|w| w == text)
}

/// A process's state letter (R, S, T, ...) from /proc.
fn process_state(pid: Pid) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next())
        .unwrap_or('?')
}
