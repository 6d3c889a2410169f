//! The CRD YAML committed under `crds/` must be what `crdgen` renders from the Rust types.
#![allow(clippy::unwrap_used)]

use std::path::Path;

#[test]
fn committed_crds_match_the_rust_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds");
    for (name, rendered) in mes_operator::crdgen::crd_files().unwrap() {
        let committed = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| {
            panic!("crds/{name}: {e}; run `cargo run -p mes-operator --bin crdgen`")
        });
        assert!(
            committed == rendered,
            "crds/{name} is stale: run `cargo run -p mes-operator --bin crdgen` and commit the result"
        );
    }
}
