//! Where a run's options come from: a seed's swarm draw (or the small or large world), a JSON file, `--set`.

use clap::Args;
use sim::fixture::Fixture;
use sim::Options;
use std::path::{Path, PathBuf};

/// Where a run's options come from: the swarm draw for its seed, a JSON file, then `--set` overrides.
#[derive(Args, Debug, Clone, Default)]
pub struct OptionArgs {
    /// Options as JSON (a full `Options` object, or a fixture file); the seed still comes from the run.
    #[arg(long, value_name = "FILE")]
    pub options: Option<PathBuf>,
    /// Overrides one knob: `--set loss=0.1 --set key_shape=clustered` (repeatable; a list knob takes JSON or comma-separated words: `--set byzantine=one_lane,cross_lane`; `sim explore --list-knobs` lists the knobs).
    #[arg(long = "set", value_name = "KNOB=VALUE")]
    pub sets: Vec<String>,
    /// Which world a seed starts from: its swarm draw, the small world, or the large one.
    #[arg(long, value_enum, default_value_t = World::Swarm)]
    pub world: World,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum World {
    /// Every knob drawn from the seed.
    #[default]
    Swarm,
    /// 3 honest peers, 2 000 accounts, 100 blocks of 1 s, a mildly lossy network (`Options::default`).
    Small,
    /// 20 honest peers, 10⁵ accounts, 2 000 blocks (`Options::large`).
    Large,
}

impl OptionArgs {
    pub fn for_seed(&self, seed: u64) -> Result<Options, String> {
        let mut options = match &self.options {
            Some(path) => load_options(path)?,
            None => match self.world {
                World::Swarm => Options::swarm(seed),
                World::Small => Options::default(),
                World::Large => Options::large(),
            },
        };
        options.seed = seed;
        for set in &self.sets {
            let (name, value) = set.split_once('=').ok_or_else(|| format!("--set {set}: expected KNOB=VALUE"))?;
            options.set(name.trim(), value.trim())?;
        }
        // A JSON file is not checked by `set`: a lane count outside 1, 2, 4, 8, 16 is an error here, not a crash.
        options.validate()?;
        Ok(options)
    }

    /// The flags that reproduce these overrides on a command line.
    pub fn replay_flags(&self) -> String {
        let mut flags = String::new();
        if let Some(path) = &self.options {
            flags.push_str(&format!(" --options {}", path.display()));
        }
        if self.world != World::Swarm {
            flags.push_str(&format!(" --world {}", format!("{:?}", self.world).to_lowercase()));
        }
        for set in &self.sets {
            flags.push_str(&format!(" --set '{set}'"));
        }
        flags
    }
}

fn load_options(path: &Path) -> Result<Options, String> {
    let text = std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    serde_json::from_str::<Options>(&text)
        .or_else(|_| serde_json::from_str::<Fixture>(&text).map(|fixture| fixture.options))
        .map_err(|error| format!("{}: {error}", path.display()))
}
