//! The `kubectl-sluice` plugin (`kubectl sluice ...`), shaped like Argo Rollouts' plugin: one
//! module per verb, the connection flags and client in `client`, printing in `output`, what
//! `get` shows in `views`; each mutation is a plain function its command calls. `render` is
//! shared with `sluice render`.
//!
//! | verb | module |
//! |---|---|
//! | `get` / `inspect` | `get` (trees in `views`, `--watch` in `watch`) |
//! | `approve`, `reject` | `approve` |
//! | `promote`, `rollback` | `promote` |
//! | `releases` | `releases` |
//! | `evidence` | `evidence` |
//! | `status` | `status` |
//! | `retry` | `retry` |
//! | `render` | `render` |
//! | `completion` | `cli` |

pub mod approve;
pub mod cli;
pub mod client;
pub mod evidence;
pub mod get;
pub mod output;
pub mod promote;
pub mod releases;
pub mod render;
pub mod retry;
pub mod status;
pub mod views;
pub mod watch;
