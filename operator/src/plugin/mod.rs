//! The `kubectl-sluice` plugin's commands (and `sluice render`, which shares `render`).

pub mod render;
