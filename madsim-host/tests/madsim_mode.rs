//! Runs `tests/simulated.rs` under `--cfg madsim` from a plain `cargo test`, in its own target directory, so that
//! both halves of the host are tested by one command. The cfg is set here through `RUSTFLAGS` explicitly (a
//! `RUSTFLAGS` in the environment would otherwise silently replace a config-file setting), and the run must
//! show that the simulated tests really ran: a build without the cfg has no tests in that file at all.
#![cfg(not(madsim))]

use std::path::Path;
use std::process::Command;

#[test]
fn the_simulated_half_runs_under_cfg_madsim() {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().expect("the workspace root");
    let target = workspace.join("target").join("madsim");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let seed = std::env::var("MADSIM_TEST_SEED").unwrap_or_else(|_| "1".to_string());
    let output = Command::new(cargo)
        .current_dir(workspace)
        .args(["test", "--locked", "-p", "madsim-host", "--test", "simulated"])
        .env("RUSTFLAGS", "--cfg madsim")
        .env("CARGO_TARGET_DIR", &target)
        .env("MADSIM_TEST_SEED", &seed)
        .env_remove("RUSTC_WRAPPER")
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the madsim run failed (seed {seed}):\n{stdout}\n{stderr}");
    assert!(stdout.contains("test madsim_cfg_is_set ... ok"), "the cfg was not set:\n{stdout}");
    assert!(
        stdout.contains("test simulated_nodes_sync_through_kill_restart_and_a_clogged_link ... ok"),
        "the simulated sync did not run:\n{stdout}"
    );
}
