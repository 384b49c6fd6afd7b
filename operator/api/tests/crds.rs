//! The CRD YAML checked in under `crds/` is what the Rust types generate: regenerate it with
//! `sluice crds --dir crds` (or `make crds`) after changing a type.

#[test]
fn checked_in_crds_are_fresh() {
    let dir =
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
            .join("../../crds");
    let mut stale = Vec::new();
    let generated = sluice_api::crds();
    for (file, yaml) in &generated {
        let on_disk = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        if on_disk != *yaml {
            stale.push(*file);
        }
    }
    let extra: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| !generated.iter().any(|(file, _)| file == name))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        stale.is_empty() && extra.is_empty(),
        "crds/ is stale (changed: {stale:?}, not generated: {extra:?}): run `make crds`"
    );
}
