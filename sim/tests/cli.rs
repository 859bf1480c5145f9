//! The `sim` command line as a user runs it.

use std::process::Command;

fn sim(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sim")).args(args).output().expect("the sim binary runs");
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `explore --shard i/n` slices the seed range; `merge` of the slices gives exactly the summary of one machine
/// running everything, but for the machine time of the slowest runs, which `merge` names from the files too.
#[test]
fn merged_shards_equal_one_machine() {
    let dir = std::env::temp_dir().join(format!("livesync-shards-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let (ok, _) = sim(&["explore", "--seeds", "9", "--seed-start", "300", "--quiet", "--jsonl", &path("all.jsonl")]);
    assert!(ok, "the seeds pass");
    for shard in 0..3 {
        let spec = format!("{shard}/3");
        let (ok, _) = sim(&[
            "explore",
            "--seeds",
            "9",
            "--seed-start",
            "300",
            "--quiet",
            "--shard",
            &spec,
            "--jsonl",
            &path(&format!("s{shard}.jsonl")),
        ]);
        assert!(ok, "shard {spec} passes");
        let lines = std::fs::read_to_string(path(&format!("s{shard}.jsonl"))).unwrap().lines().count();
        assert_eq!(lines, 3, "shard {spec} runs a third of the seeds");
    }
    let (ok_all, all) = sim(&["merge", &path("all.jsonl")]);
    let (ok_shards, shards) = sim(&["merge", &path("s0.jsonl"), &path("s1.jsonl"), &path("s2.jsonl")]);
    assert!(ok_all && ok_shards);
    let verdict = |summary: &str| -> String {
        summary.lines().filter(|line| !line.starts_with("slowest runs")).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(verdict(&all), verdict(&shards), "the merged summary is the one-machine summary");
    assert!(all.contains("runs                 9 (0 failed)"), "{all}");
    let slowest = |summary: &str| summary.lines().find(|line| line.starts_with("slowest runs")).map(str::to_owned);
    let (one, sharded) = (slowest(&all).expect("timed runs are named"), slowest(&shards).expect("named"));
    assert_eq!(one.matches(" ms").count(), 5, "the five slowest of nine: {one}");
    assert_eq!(sharded.matches(" ms").count(), 5, "the five slowest of the merged shards: {sharded}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_arguments_are_refused_with_a_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_sim")).args(["explore", "--set", "no_such_knob=1"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no knob named"));
    let output = Command::new(env!("CARGO_BIN_EXE_sim")).args(["explore", "--shard", "3/3"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

/// `sim sweep` prints its table and passes; a sweep kind nobody knows is refused.
#[test]
fn a_sweep_prints_its_table() {
    let (ok, out) = sim(&["sweep", "floods", "--seeds", "1", "--peers", "2", "--quiet"]);
    assert!(ok, "{out}");
    assert!(out.contains("| attack | runs | failed | lies |"), "{out}");
    for row in ["| no liars | 1 | 0 |", "| future_flood 1/2 | 1 | 0 |", "| max_chunks 1/2 | 1 | 0 |"] {
        assert!(out.contains(row), "missing {row:?} in {out}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_sim")).args(["sweep", "nonsense"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

/// A reader that has gone (`sim explore | head`) ends the command as SIGPIPE would: exit code 141, no panic.
#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["explore", "--seeds", "2", "--quiet"])
        .stdout(writer)
        .output()
        .expect("the sim binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
