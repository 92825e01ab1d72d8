//! A real terminal for a test, as a terminal emulator makes one: a pty whose slave is the
//! program's stdin, stdout, stderr and controlling terminal (the program leads a session of its
//! own). The test types into the master, reads what the screen would show, resizes the window,
//! and looks at the terminal's settings as `stty -g` would.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::pty::{openpty, Winsize};
use nix::sys::termios::{tcgetattr, Termios};

pub struct Terminal {
    master: std::fs::File,
    /// The test's own hold on the terminal, for its settings.
    slave: std::fs::File,
    child: Child,
    /// The settings of a new terminal, before the program changed any.
    initial: Termios,
    screen: Arc<Mutex<Vec<u8>>>,
    /// How much of `screen` the test has looked past.
    seen: usize,
}

impl Terminal {
    /// Starts `command` on a new terminal of `rows` × `cols`.
    pub fn spawn(command: &mut Command, rows: u16, cols: u16) -> Terminal {
        let size = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None).expect("openpty");
        // Close-on-exec, so that the programs of tests running beside this one (and the
        // monitors they leave running) never hold this terminal.
        for fd in [pty.master.as_raw_fd(), pty.slave.as_raw_fd()] {
            // SAFETY: sets a flag on an fd this function owns.
            assert_eq!(
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) },
                0
            );
        }
        let slave = std::fs::File::from(pty.slave);
        let initial = tcgetattr(slave.as_fd()).expect("tcgetattr");
        let io = |f: &std::fs::File| Stdio::from(f.try_clone().expect("dup the slave"));
        command
            .stdin(io(&slave))
            .stdout(io(&slave))
            .stderr(io(&slave));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        let master = std::fs::File::from(pty.master);
        let screen = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().expect("dup the master");
        let shown = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            // EIO once every program holding the slave has closed it.
            while let Ok(n @ 1..) = reader.read(&mut buffer) {
                shown.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        Terminal {
            master,
            slave,
            child,
            initial,
            screen,
            seen: 0,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Types `keys`.
    pub fn send(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
        self.master.flush().unwrap();
    }

    /// Waits until `text` appears after what was already looked past, and looks past it.
    pub fn expect(&mut self, text: &str) {
        if !self.shows_within(text, Duration::from_secs(30)) {
            let screen = self.screen.lock().unwrap();
            panic!(
                "timed out waiting for {text:?}; the terminal shows:\n{}",
                String::from_utf8_lossy(&screen[self.seen..])
            );
        }
    }

    /// Whether `text` appears within `limit` (looked past if so): for keys that must be typed
    /// again when they came too early (Ctrl-Z before the shell has started the job).
    pub fn shows_within(&mut self, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        // Each byte is searched once, however much the program prints.
        let mut from = self.seen;
        loop {
            {
                let screen = self.screen.lock().unwrap();
                if let Some(at) = find(&screen[from..], text) {
                    self.seen = from + at + text.len();
                    return true;
                }
                from = screen.len().saturating_sub(text.len()).max(from);
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything the terminal has shown.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Resizes the window (the kernel signals SIGWINCH to the foreground process group).
    pub fn resize(&mut self, rows: u16, cols: u16) {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize.
        let done = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        assert_eq!(done, 0, "{}", std::io::Error::last_os_error());
    }

    /// The terminal's settings now.
    pub fn settings(&self) -> Termios {
        tcgetattr(self.slave.as_fd()).expect("tcgetattr")
    }

    /// Whether the terminal's settings are what they were before the program ran.
    pub fn settings_are_initial(&self) -> bool {
        same_settings(&self.settings(), &self.initial)
    }

    /// Whether the line discipline is cooked (echo and canonical input), as a shell leaves it
    /// and a raw relay does not.
    pub fn is_cooked(&self) -> bool {
        use nix::sys::termios::LocalFlags;
        let local = self.settings().local_flags;
        local.contains(LocalFlags::ICANON | LocalFlags::ECHO)
    }

    /// Waits for the program to end; returns how, and what the terminal showed.
    pub fn wait(&mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // What it wrote last is read by the reader thread: give it a moment.
                std::thread::sleep(Duration::from_millis(100));
                return (status, self.screen());
            }
            assert!(
                Instant::now() < deadline,
                "still running; the terminal shows:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn find(haystack: &[u8], text: &str) -> Option<usize> {
    haystack
        .windows(text.len())
        .position(|w| w == text.as_bytes())
}

/// Whether two sets of settings are the same, as `stty -g` would print them.
fn same_settings(a: &Termios, b: &Termios) -> bool {
    let (a, b): (libc::termios, libc::termios) = (a.clone().into(), b.clone().into());
    a.c_iflag == b.c_iflag
        && a.c_oflag == b.c_oflag
        && a.c_cflag == b.c_cflag
        && a.c_lflag == b.c_lflag
        && a.c_cc == b.c_cc
}
