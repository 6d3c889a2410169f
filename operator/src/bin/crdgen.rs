//! Writes the CRD YAML to `crds/` (or the directory given as the first argument).

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let dir = match std::env::args_os().nth(1) {
        Some(arg) if arg.to_string_lossy().starts_with('-') => {
            println!("usage: crdgen [DIRECTORY]   (default: the repository's crds/)");
            return Ok(());
        }
        Some(arg) => PathBuf::from(arg),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crds"),
    };
    std::fs::create_dir_all(&dir)?;
    for (name, yaml) in mes_operator::crdgen::crd_files()? {
        let path = dir.join(name);
        std::fs::write(&path, yaml)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
