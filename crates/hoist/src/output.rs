//! Standard output that ends hoist the way a C tool ends once its reader has gone (`hoist ps |
//! head -1`): by SIGPIPE, after what was written. SIGPIPE itself stays ignored, as Rust leaves
//! it, so that a write to a socket whose peer has closed (a registry that hangs up, a cut
//! connection) is an error hoist handles — retried, or said — never a silent death.

use std::io::{self, Write};

/// `println!` through [`stdout`].
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!($crate::output::stdout(), $($arg)*);
    }};
}
pub(crate) use outln;

/// Writes `text` to standard output as it is.
pub fn out(text: &str) -> io::Result<()> {
    let mut out = stdout();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Standard output, locked; a write that fails ends hoist (see the module's comment).
pub struct Stdout(io::StdoutLock<'static>);

pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(|e| end(&e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(|e| end(&e))
    }
}

/// Ends hoist after a failed write to stdout: by SIGPIPE if the reader has gone, else with a
/// message and hoist's own exit code.
fn end(error: &io::Error) -> ! {
    if error.kind() == io::ErrorKind::BrokenPipe {
        // SAFETY: restoring the default disposition, then raising it, from this thread.
        unsafe {
            let _ = nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGPIPE,
                nix::sys::signal::SigHandler::SigDfl,
            );
        }
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGPIPE);
    }
    let _ = writeln!(io::stderr(), "hoist: writing to standard output: {error}");
    std::process::exit(i32::from(crate::EXIT_HOIST_ERROR))
}
