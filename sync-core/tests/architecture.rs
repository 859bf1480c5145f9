//! Architecture invariants that a test can check (ARCHITECTURE.md), in the spirit of a tidy test.

use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn source_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source tree") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn sync_core_depends_on_no_simulator_and_no_runtime() {
    let manifest = read("Cargo.toml");
    let dependencies = manifest.split("[dev-dependencies]").next().expect("a manifest");
    for forbidden in ["sim", "madsim", "tokio", "async-std", "rand "] {
        let named = dependencies.lines().any(|line| line.trim_start().starts_with(forbidden));
        assert!(!named, "sync-core must not depend on {forbidden} (ARCHITECTURE.md)");
    }
}

#[test]
fn sync_core_reads_no_clock_and_starts_no_thread() {
    let mut files = Vec::new();
    source_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    assert!(files.len() > 5, "the source tree was found");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable source");
        for forbidden in ["Instant::now", "SystemTime", "thread::spawn", "thread_rng", "HashMap", "HashSet", "async fn"]
        {
            assert!(!text.contains(forbidden), "{} uses {forbidden} (ARCHITECTURE.md)", file.display());
        }
    }
}
