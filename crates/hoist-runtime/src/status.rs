//! A container's lifecycle status, and which operations each allows (the runtime spec's
//! lifecycle): one table instead of a check written out in every operation.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A container's lifecycle status, as the runtime spec names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`: tables align it with `{:<10}`.
        f.pad(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// The operations the lifecycle restricts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Start,
    Exec,
    Pause,
    Resume,
    /// Without `--force`.
    Delete,
}

impl Operation {
    /// Whether a container in `status` allows it, and how the refusal names what is needed.
    fn rule(self) -> (&'static str, fn(Status) -> bool, &'static str) {
        match self {
            Operation::Start => ("start", |s| s == Status::Created, "created"),
            Operation::Exec => (
                "exec",
                |s| matches!(s, Status::Running | Status::Created),
                "running",
            ),
            Operation::Pause => ("pause", |s| s == Status::Running, "running"),
            Operation::Resume => ("resume", |s| s == Status::Paused, "paused"),
            Operation::Delete => (
                "delete",
                |s| matches!(s, Status::Stopped | Status::Created),
                "stopped (or use --force)",
            ),
        }
    }
}

/// An operation refused in the container's present state.
#[derive(Debug, thiserror::Error)]
#[error("container {id} is {status}, but {operation} needs it {needed}")]
pub struct WrongState {
    pub id: String,
    pub status: Status,
    pub operation: &'static str,
    pub needed: &'static str,
}

impl Status {
    /// Refuses `operation` on container `id` unless this status allows it.
    pub(crate) fn require(self, operation: Operation, id: &str) -> Result<(), WrongState> {
        let (name, allows, needed) = operation.rule();
        if allows(self) {
            return Ok(());
        }
        Err(WrongState {
            id: id.to_string(),
            status: self,
            operation: name,
            needed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_operation_is_allowed_only_where_the_lifecycle_says() {
        use Operation::*;
        use Status::*;
        let allowed = |status: Status, op: Operation| status.require(op, "c").is_ok();
        assert!(allowed(Created, Start) && !allowed(Running, Start));
        assert!(allowed(Running, Exec) && allowed(Created, Exec) && !allowed(Stopped, Exec));
        assert!(allowed(Running, Pause) && !allowed(Paused, Pause));
        assert!(allowed(Paused, Resume) && !allowed(Running, Resume));
        assert!(allowed(Stopped, Delete) && allowed(Created, Delete) && !allowed(Running, Delete));
        let refused = Running.require(Delete, "web").unwrap_err().to_string();
        assert_eq!(
            refused,
            "container web is running, but delete needs it stopped (or use --force)"
        );
    }
}
