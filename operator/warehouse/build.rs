// Lets binaries and tests find a prebuilt libduckdb at run time: when DuckDB is linked from
// `DUCKDB_LIB_DIR` (see `scripts/libduckdb`), record that directory as the executables' rpath.
fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    let bundled = std::env::var_os("CARGO_FEATURE_DUCKDB_BUNDLED").is_some();
    if let (false, Some(dir)) = (bundled, std::env::var_os("DUCKDB_LIB_DIR")) {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.to_string_lossy());
    }
}
