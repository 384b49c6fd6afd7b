//! `sluice plan` keeps the queries it parsed and the state it read from a DuckDB warehouse in
//! the project's `.sluice/cache`. A plan from the caches must say exactly what an uncached
//! plan says, and never what the warehouse said before it changed.

mod fixture;
mod support;

use std::path::Path;
use std::process::{Command, Output};

use fixture::{Backend, Fixture, add_orders_column, model, orders_project};

fn sluice(f: &Fixture, args: &[&str], cache: bool) -> Output {
    let mut cmd = f.command();
    cmd.args(args)
        .env("SLUICE_EXECUTION_TIME", "2024-01-04")
        .env("SLUICE_LOG", "sluice=debug");
    if !cache {
        cmd.env("SLUICE_PLAN_CACHE", "off");
    }
    cmd.output().unwrap()
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// `sluice plan ENV --json`: the plan, and whether the warehouse was opened for it.
fn plan(f: &Fixture, env: &str, cache: bool) -> (String, bool) {
    let out = ok(sluice(f, &["plan", env, "--json"], cache));
    let log = strip_colours(&String::from_utf8_lossy(&out.stderr));
    let connected = log.lines().any(|l| l.contains(" connect: "));
    (String::from_utf8(out.stdout).unwrap(), connected)
}

/// The debug log without its terminal colour codes.
fn strip_colours(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

const PRODUCTS: &str = "products:
  - name: revenue
    owners: {users: [fiona]}
    models: [mart.daily]
";

fn project(backend: Backend) -> Fixture {
    orders_project(backend, &[("products.yaml", PRODUCTS)])
}

/// The project applied to prod, then a column added to `stg.orders`.
#[cfg(feature = "duckdb")]
fn applied_then_edited() -> Fixture {
    let f = project(Backend::Duckdb);
    ok(sluice(&f, &["apply", "--yes"], true));
    add_orders_column(&f);
    f
}

fn cache_file(f: &Fixture, name: &str) -> std::path::PathBuf {
    f.root().join(".sluice").join("cache").join(name)
}

#[cfg(feature = "duckdb")]
#[test]
fn a_repeated_plan_reads_the_cache_and_says_the_same() {
    let f = applied_then_edited();

    std::fs::remove_dir_all(f.root().join(".sluice/cache")).unwrap();
    let (uncached, connected) = plan(&f, "dev", false);
    assert!(connected);
    assert!(!cache_file(&f, "state.json").exists());
    let (first, connected) = plan(&f, "dev", true);
    assert!(connected, "nothing cached yet: the warehouse is read");
    assert!(cache_file(&f, "state.json").exists());
    let (second, connected) = plan(&f, "dev", true);
    assert!(
        !connected,
        "the warehouse did not change: its state comes from the cache"
    );
    assert_eq!(first, uncached);
    assert_eq!(second, uncached);
    let json: serde_json::Value = serde_json::from_str(&second).unwrap();
    assert_eq!(json["changes"][0]["model"], "stg.orders");
    assert_eq!(json["products"][0]["product"], "revenue", "{second}");

    // Any environment is planned from the same cache, prod included.
    let (prod, connected) = plan(&f, "prod", true);
    assert!(!connected);
    assert_eq!(prod, plan(&f, "prod", false).0);

    // Editing a query again is seen: queries are cached by their text.
    f.write(
        "models/stg/orders.sql",
        &model(
            "stg.orders",
            "kind VIEW",
            "SELECT 2 AS id, CAST('2024-01-01' AS DATE) AS d",
        ),
    );
    let (edited, connected) = plan(&f, "dev", true);
    assert!(!connected);
    assert_eq!(edited, plan(&f, "dev", false).0);
    assert!(edited.contains("\"breaking\""), "{edited}");
}

#[cfg(feature = "duckdb")]
#[test]
fn apply_leaves_the_state_cached_and_any_other_write_is_seen() {
    let f = applied_then_edited();
    let (before, _) = plan(&f, "dev", true);
    assert!(before.contains("stg.orders"));

    // Applying dev changes the warehouse, and caches the state it leaves.
    ok(sluice(&f, &["apply", "dev", "--yes"], true));
    let (after, connected) = plan(&f, "dev", true);
    assert!(!connected, "apply cached the state it left");
    let json: serde_json::Value = serde_json::from_str(&after).unwrap();
    assert_eq!(json["changes"], serde_json::json!([]), "{after}");
    assert_eq!(after, plan(&f, "dev", false).0);

    // Any other writer changes the file: the cached state no longer describes it.
    f.warehouse()
        .execute("DELETE FROM sluice.environments WHERE name = 'dev'")
        .unwrap();
    let (forgotten, connected) = plan(&f, "dev", true);
    assert!(connected, "the warehouse changed: it is read again");
    let json: serde_json::Value = serde_json::from_str(&forgotten).unwrap();
    assert_eq!(
        json["changes"][0]["change"], "directly_modified",
        "dev is gone: planned from prod again\n{forgotten}"
    );
    assert_eq!(forgotten, plan(&f, "dev", false).0);
    let (again, connected) = plan(&f, "dev", true);
    assert!(!connected);
    assert_eq!(again, forgotten);
}

#[cfg(feature = "duckdb")]
#[test]
fn a_damaged_cache_is_ignored_and_rewritten() {
    let f = applied_then_edited();
    let (good, _) = plan(&f, "dev", true);
    for name in ["state.json", "queries.json"] {
        let text = std::fs::read_to_string(cache_file(&f, name)).unwrap();
        // The header kept, the body cut short: as if a disk filled up mid-write.
        let header = text.lines().next().unwrap();
        std::fs::write(cache_file(&f, name), format!("{header}\n{{\"environm")).unwrap();
    }
    let (damaged, connected) = plan(&f, "dev", true);
    assert!(connected);
    assert_eq!(damaged, good);
    let (repaired, connected) = plan(&f, "dev", true);
    assert!(!connected, "the cache was written again");
    assert_eq!(repaired, good);
    std::fs::write(cache_file(&f, "state.json"), "not json at all").unwrap();
    assert_eq!(plan(&f, "dev", true).0, good);
}

#[cfg(feature = "duckdb")]
#[test]
fn the_cache_is_never_part_of_the_project_sources() {
    let f = project(Backend::Duckdb);
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(f.root())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    f.write(".gitignore", "warehouse.duckdb*\n");
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-qm",
        "models",
    ]);
    ok(sluice(&f, &["apply", "--yes"], true));
    plan(&f, "dev", true);
    assert!(cache_file(&f, "queries.json").exists());
    assert_eq!(git(&["status", "--porcelain"]), "");
}

#[cfg(feature = "postgres")]
#[test]
fn a_server_warehouse_is_always_read() {
    let f = project(Backend::Postgres);
    ok(sluice(&f, &["apply", "--yes"], true));
    add_orders_column(&f);
    let (first, _) = plan(&f, "dev", true);
    let (second, connected) = plan(&f, "dev", true);
    assert!(connected);
    assert_eq!(first, second);
    assert!(!cache_file(&f, "state.json").exists());
    assert!(Path::new(&cache_file(&f, "queries.json")).exists());
}
