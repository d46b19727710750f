//! End-to-end tests through the facade only. One test binary (regex's `tests/lib.rs` pattern).

mod access;
mod bad_input;
mod crash;
mod documents;
mod group_commit;
mod index;
mod query;
mod resident;
mod stress;
mod update;
mod watch;
