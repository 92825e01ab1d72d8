//! `--log FILE --log-format json|text`: where engines look for the runtime's error message.
//! containerd reads a stream of `{"level","msg","time"}` objects; podman parses the whole file
//! as one object, so a failed call writes exactly one line.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use crate::cli::LogFormat;

pub struct RuntimeLog {
    path: Option<PathBuf>,
    format: LogFormat,
}

impl RuntimeLog {
    pub fn new(path: Option<PathBuf>, format: LogFormat) -> Self {
        RuntimeLog { path, format }
    }

    pub fn error(&self, message: &str) {
        let Some(path) = &self.path else { return };
        let time = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let line = match self.format {
            LogFormat::Json => {
                serde_json::json!({ "level": "error", "msg": message, "time": time }).to_string()
            }
            LogFormat::Text => format!("time={time:?} level=error msg={message:?}"),
        };
        if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(file, "{line}");
        }
    }
}
