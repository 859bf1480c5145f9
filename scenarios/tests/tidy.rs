//! Tidy checks over the whole repository (ARCHITECTURE.md): the repository carries its own documentation, files
//! and functions stay readable.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every file under `dir` (skipping `target` and hidden directories) whose name ends in one of `extensions`.
fn files(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                files(&path, extensions, out);
            }
        } else if extensions.iter().any(|extension| name.ends_with(extension)) {
            out.push(path);
        }
    }
}

/// A user who clones the repository has only the repository: nothing may point outside it.
#[test]
fn nothing_refers_outside_the_repository() {
    let mut all = Vec::new();
    files(&root(), &[".rs", ".md", ".toml", ".json", ".yml", ".snap"], &mut all);
    all.extend([root().join(".ci/run")]);
    assert!(all.len() > 50, "the repository was found");
    // Spelled in pieces, so that this file does not name them itself.
    let outside = [["..", "/shared"].concat(), ["DEVELOPERS", ".md"].concat(), ["SPEC", ".md"].concat()];
    let offenders: Vec<String> = all
        .iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            let hit = outside.iter().find(|needle| text.contains(needle.as_str()))?;
            Some(format!("{} names {hit}", path.display()))
        })
        .collect();
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
    assert!(root().join("docs/protocol.md").exists(), "docs/protocol.md is the reference the code cites");
}

/// The sources of the engine and the simulator, outside tests.
fn library_sources() -> Vec<PathBuf> {
    let mut sources = Vec::new();
    files(&root().join("sync-core/src"), &[".rs"], &mut sources);
    files(&root().join("sim/src"), &[".rs"], &mut sources);
    sources
}

#[test]
fn no_source_file_is_over_600_lines() {
    let sources = library_sources();
    assert!(sources.len() > 30, "the sources were found");
    let long: Vec<String> = sources
        .iter()
        .filter_map(|path| {
            let lines = std::fs::read_to_string(path).ok()?.lines().count();
            (lines > 600).then(|| format!("{}: {lines} lines", path.display()))
        })
        .collect();
    assert!(long.is_empty(), "{}", long.join("\n"));
}

/// The length of every function that starts at `lines[start]`, counted from its signature to its closing brace.
fn function_length(lines: &[&str], start: usize) -> Option<usize> {
    let mut depth = 0i64;
    let mut opened = false;
    for (offset, line) in lines[start..].iter().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        let code: String = strip_strings(code);
        depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
        opened |= code.contains('{');
        if opened && depth <= 0 {
            return Some(offset + 1);
        }
        if !opened && code.trim_end().ends_with(';') {
            return None;
        }
    }
    None
}

/// The line without its string literals (their braces are not code).
fn strip_strings(code: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    let mut escaped = false;
    for character in code.chars() {
        match (in_string, escaped, character) {
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (true, _, _) => escaped = false,
            (false, _, '"') => in_string = true,
            (false, _, other) => out.push(other),
        }
    }
    out
}

/// No function over 70 lines outside test modules: a function fits on a screen.
#[test]
fn no_function_is_over_70_lines() {
    let mut long = Vec::new();
    for path in library_sources().iter().filter(|path| !path.ends_with("tests.rs")) {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let is_fn = ["fn ", "pub fn ", "pub(crate) fn ", "pub(super) fn ", "const fn ", "pub const fn "]
                .iter()
                .any(|prefix| trimmed.starts_with(prefix));
            if let Some(length) = is_fn.then(|| function_length(&lines, index)).flatten() {
                if length > 70 {
                    long.push(format!("{}:{}: {length} lines", path.display(), index + 1));
                }
            }
        }
    }
    assert!(long.is_empty(), "{}", long.join("\n"));
}
