//! What `ps`, `inspect` and `wait` say of a container: its record joined with what the
//! runtime knows of it now.

use std::time::SystemTime;

use hoist_runtime::{Runtime, Status};

use crate::{Activity, Container, Record};

/// A container as `ps` and `inspect` show it.
#[derive(Debug, Clone)]
pub struct ContainerView {
    pub record: Record,
    pub activity: Activity,
    /// Its init's pid while it runs, else 0.
    pub pid: i32,
    pub created: Option<SystemTime>,
    /// When the runtime last made it (podman's `StartedAt`).
    pub started: Option<SystemTime>,
    pub finished: Option<SystemTime>,
}

impl ContainerView {
    pub fn of(runtime: &Runtime, container: &Container) -> ContainerView {
        let activity = Activity::of(runtime, container);
        let state = match activity {
            Activity::Runtime(_) => runtime.state(&container.record.name).ok(),
            _ => None,
        };
        let time = |text: &str| humantime::parse_rfc3339_weak(text).ok();
        ContainerView {
            pid: state.as_ref().map_or(0, |s| s.pid),
            created: time(&container.record.created),
            started: state.as_ref().and_then(|s| time(&s.created)),
            finished: container.record.finished.as_deref().and_then(time),
            record: container.record.clone(),
            activity,
        }
    }

    /// podman's one-word state: created, running, paused, exited (or stopped, when the
    /// runtime says so and nobody has recorded the end yet).
    pub fn state(&self) -> &'static str {
        match &self.activity {
            Activity::Exited(_) => "exited",
            Activity::Created => "created",
            Activity::Runtime(Status::Creating | Status::Created) => "created",
            Activity::Runtime(Status::Running) => "running",
            Activity::Runtime(Status::Paused) => "paused",
            Activity::Runtime(Status::Stopped) => "stopped",
        }
    }

    pub fn exit_code(&self) -> i32 {
        self.record.exit_code.unwrap_or(0)
    }
}
