//! One file per operation; each reads as: load the state, check the operation is allowed,
//! act, save.

pub mod create;
pub mod delete;
pub mod exec;
mod exec_helper;
mod init_clone;
pub mod kill;
pub mod pause;
mod pid_file;
pub mod ps;
pub mod run;
pub mod start;
pub mod state;
mod terminal;
pub mod update;
