//! Generated projects for benchmarks: layers of FULL models, each reading two models of the
//! layer before (shared by the plan benchmark and the operator benchmark).

// Each benchmark uses only part of this.
#![allow(dead_code)]

use std::path::Path;

pub const WIDTH: usize = 100;

/// Writes `models` FULL models in layers of `WIDTH`; each model after the first layer joins
/// two models of the layer before it.
pub fn generate(root: &Path, models: usize) {
    std::fs::create_dir_all(root.join("models")).unwrap();
    std::fs::write(
        root.join("config.yaml"),
        "model_defaults:\n  dialect: duckdb\n  start: '2024-01-01'\n  cron: '@daily'\n",
    )
    .unwrap();
    for n in 0..models {
        let (layer, i) = (n / WIDTH, n % WIDTH);
        let query = if layer == 0 {
            format!("SELECT x AS id, x * {i} AS v FROM (VALUES (1), (2), (3)) AS t(x)")
        } else {
            let (a, b) = (i, (i * 7 + 3) % WIDTH);
            format!(
                "SELECT a.id, (a.v + b.v) % 1000 AS v FROM l{p}.m{a} AS a JOIN l{p}.m{b} AS b ON a.id = b.id",
                p = layer - 1
            )
        };
        let text =
            format!("MODEL (\n  name l{layer}.m{i},\n  kind FULL,\n  owner bench\n);\n\n{query}\n");
        let path = model_path(root, n);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// The file of the `n`th generated model.
pub fn model_path(root: &Path, n: usize) -> std::path::PathBuf {
    root.join("models")
        .join(format!("l{}", n / WIDTH))
        .join(format!("m{}.sql", n % WIDTH))
}
