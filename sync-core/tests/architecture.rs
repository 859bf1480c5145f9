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

/// The top-level module a source file belongs to: `engine` for `src/engine/chunks.rs`, `trie` for
/// `src/trie/mod.rs`, `chain` for `src/chain.rs`; `None` for the crate root.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_string_lossy().to_string();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib").then_some(name)
}

/// Every `crate::module` a file names (in `use` lines or inline paths).
fn named_modules(text: &str) -> std::collections::BTreeSet<String> {
    let mut named = std::collections::BTreeSet::new();
    for (index, _) in text.match_indices("crate::") {
        let rest = &text[index + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            named.insert(name);
        }
    }
    named
}

/// No two modules of sync-core import each other, directly or through others: the queues hold state and know
/// nothing of the engine, and the engine's own files (`engine/`) drive them (ARCHITECTURE.md).
#[test]
fn sync_core_modules_import_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let mut edges: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for file in &files {
        let Some(module) = top_module(&src, file) else { continue };
        let text = std::fs::read_to_string(file).expect("readable source");
        let targets = edges.entry(module.clone()).or_default();
        targets.extend(named_modules(&text).into_iter().filter(|target| *target != module));
    }
    assert!(edges.contains_key("engine") && edges.contains_key("state_queue"), "the module graph was read");
    // Depth-first search for a back edge; report the cycle it closes.
    fn visit(
        node: &str,
        edges: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) {
        if let Some(at) = path.iter().position(|step| step == node) {
            panic!("an import cycle: {} → {node}", path[at..].join(" → "));
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, path, done);
        }
        path.pop();
        done.insert(node.to_string());
    }
    let mut done = std::collections::BTreeSet::new();
    for node in edges.keys() {
        visit(node, &edges, &mut Vec::new(), &mut done);
    }
}
