//! Sweeps: many worlds that differ in one dimension, summarised as a table (BENCHMARKS.md, `sim sweep`).
//!
//! - `byzantine`: every byzantine class × k liars among n peers, against the same seeds without the liars;
//! - `efficiency`: bytes fetched, waste and completion against the lower bound, at fork rates 0 %, 10 %, 30 %;
//! - `sensitivity`: chunk size × chunk requests in flight against completion time;
//! - `floods`: every buffer's peak under flood and size attacks, next to its bound;
//! - `baseline`: live sync against pivot-style snapshot sync as the block time falls;
//! - `lanes`: lanes × honest peers at 10 % forks against the lower bound `state / min(downlink, Σ uplinks)`.
//!
//! `--lanes` and `--downlink` set those knobs in every world of any sweep (the byzantine sweep with lanes).
//!
//! A sweep is a [`Plan`]: labelled worlds, and a table over their outcomes grouped by label. Every plan is a pure
//! function of its seeds; the CLI runs its worlds on all cores.

mod rows;

pub use rows::*;

use crate::options::Options;
use crate::outcome::{FailureClass, RunOutcome};
use std::collections::BTreeMap;

/// The sweeps there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum SweepKind {
    /// Every byzantine class × k liars of n peers, against the same seeds without liars.
    Byzantine,
    /// Bytes, waste and completion against the lower bound at fork rates 0 %, 10 %, 30 %.
    Efficiency,
    /// Chunk size × chunk requests in flight against completion time (10 % forks).
    Sensitivity,
    /// Flood and size attacks: every buffer's peak next to its configured bound.
    Floods,
    /// Live sync against pivot-style snapshot sync on the same seeds, as the block time falls.
    Baseline,
    /// Lanes × honest peers at 10 % forks: bytes, waste and completion against the lower bound (§4.12).
    Lanes,
}

/// Outcomes grouped by the label of their world.
pub type Groups = BTreeMap<String, Vec<RunOutcome>>;

/// What a sweep prints: its table, whether every promise held, and (the baseline) a plot.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub text: String,
    pub ok: bool,
    pub svg: Option<Result<String, String>>,
}

/// A sweep's worlds, each with the label of its group, and how to tabulate them.
#[derive(Clone, Debug)]
pub struct Plan {
    pub worlds: Vec<(String, Options)>,
    kind: SweepKind,
    peers: u32,
}

/// The label prefix of worlds the baseline strategy runs.
const PIVOT: &str = "pivot ";

impl Plan {
    /// The worlds of sweep `kind` over `seeds` (`peers`: the byzantine and flood sweeps' n).
    pub fn new(kind: SweepKind, seeds: &[u64], peers: u32) -> Plan {
        let peers = peers.max(2);
        let worlds = match kind {
            SweepKind::Byzantine => byzantine_worlds(seeds, peers),
            SweepKind::Efficiency => labelled(
                seeds,
                EFFICIENCY_RATES.iter().map(|&(name, rate)| {
                    (name.to_string(), Box::new(move |seed| efficiency_options(seed, rate)) as WorldOf)
                }),
            ),
            SweepKind::Sensitivity => labelled(
                seeds,
                sensitivity_cells().into_iter().map(|(label, chunk, in_flight)| {
                    (label, Box::new(move |seed| sensitivity_options(seed, chunk, in_flight)) as WorldOf)
                }),
            ),
            SweepKind::Floods => flood_worlds(seeds, peers),
            SweepKind::Baseline => baseline_worlds(seeds),
            SweepKind::Lanes => labelled(
                seeds,
                lanes_cells().into_iter().map(|(label, lanes, honest)| {
                    (label, Box::new(move |seed| lanes_options(seed, lanes, honest)) as WorldOf)
                }),
            ),
        };
        Plan { worlds, kind, peers }
    }

    /// Sets `lanes` and the node's downlink in every world (`None`: as the sweep draws them). A lane count
    /// outside 1, 2, 4, 8, 16 is an error.
    pub fn with_lanes(mut self, lanes: Option<u32>, downlink: Option<u64>) -> Result<Plan, String> {
        for (_, options) in &mut self.worlds {
            options.lanes = lanes.unwrap_or(options.lanes);
            options.downlink_bytes_per_ms = downlink.unwrap_or(options.downlink_bytes_per_ms);
            options.validate()?;
        }
        Ok(self)
    }

    /// Runs one world of the plan with the strategy its label names.
    pub fn run(label: &str, options: &Options) -> RunOutcome {
        if label.starts_with(PIVOT) {
            crate::baseline::run(options)
        } else {
            crate::world::run(options)
        }
    }

    /// Whether a failed outcome is what the sweep measures rather than a broken promise: a pivot sync that
    /// does not finish.
    pub fn expected_failure(label: &str, outcome: &RunOutcome) -> bool {
        label.starts_with(PIVOT) && outcome.failure.as_ref().is_some_and(|f| f.class == FailureClass::Liveness)
    }

    /// The replay flag of a label's strategy.
    pub fn replay_flag(label: &str) -> &'static str {
        if label.starts_with(PIVOT) {
            " --pivot"
        } else {
            ""
        }
    }

    pub fn table(&self, groups: &Groups) -> Table {
        let group = |label: &str| group_of(groups, label);
        match self.kind {
            SweepKind::Byzantine => {
                let rows: Vec<(ByzantineCell, ByzantineRow)> = byzantine_cells(self.peers)
                    .into_iter()
                    .map(|cell| (cell, byzantine_row(group(&run_label(&cell)), group(&reference_label(&cell)))))
                    .collect();
                let failures = |row: &ByzantineRow| row.crashes + row.safety + row.liveness + row.waste;
                let ok = rows.iter().all(|(_, row)| failures(row) == 0 && row.honest_evicted == 0);
                Table { text: render_byzantine(&rows), ok, svg: None }
            }
            SweepKind::Efficiency | SweepKind::Sensitivity | SweepKind::Lanes => {
                let (title, labels): (&str, Vec<String>) = match self.kind {
                    SweepKind::Efficiency => {
                        ("fork rate", EFFICIENCY_RATES.iter().map(|(name, _)| name.to_string()).collect())
                    }
                    SweepKind::Lanes => {
                        ("lanes, honest peers", lanes_cells().into_iter().map(|(label, ..)| label).collect())
                    }
                    _ => (
                        "chunk size, requests in flight",
                        sensitivity_cells().into_iter().map(|(label, ..)| label).collect(),
                    ),
                };
                let rows: Vec<(String, EfficiencyRow)> = labels
                    .into_iter()
                    .map(|label| {
                        let row = efficiency_row(group(&label));
                        (label, row)
                    })
                    .collect();
                let ok = rows.iter().all(|(_, row)| row.failed == 0);
                Table { text: render_efficiency(title, &rows), ok, svg: None }
            }
            SweepKind::Floods => {
                let rows: Vec<(String, FloodRow)> = flood_labels(self.peers)
                    .into_iter()
                    .map(|label| {
                        let row = flood_row(group(&label));
                        (label, row)
                    })
                    .collect();
                let ok = rows.iter().all(|(_, row)| row.failed == 0);
                Table { text: render_floods(&rows), ok, svg: None }
            }
            SweepKind::Baseline => baseline_table(groups),
        }
    }
}

/// The outcomes of one label (none if nothing ran under it).
fn group_of<'a>(groups: &'a Groups, label: &str) -> &'a [RunOutcome] {
    groups.get(label).map_or(&[][..], Vec::as_slice)
}

/// A world for a seed.
type WorldOf = Box<dyn Fn(u64) -> Options>;

/// Every seed of every labelled cell, cell by cell.
fn labelled(seeds: &[u64], cells: impl Iterator<Item = (String, WorldOf)>) -> Vec<(String, Options)> {
    cells
        .flat_map(|(label, world)| seeds.iter().map(move |&seed| (label.clone(), world(seed))).collect::<Vec<_>>())
        .collect()
}

fn run_label(cell: &ByzantineCell) -> String {
    format!("run {:?} {}", cell.class, cell.liars)
}

fn reference_label(cell: &ByzantineCell) -> String {
    format!("ref {}", cell.liars)
}

/// Every cell's runs; the reference of a cell (same seeds, the liars' places left empty) depends only on k, so
/// it runs once per k.
fn byzantine_worlds(seeds: &[u64], peers: u32) -> Vec<(String, Options)> {
    let mut worlds = Vec::new();
    let mut referenced = Vec::new();
    for cell in byzantine_cells(peers) {
        if !referenced.contains(&cell.liars) {
            referenced.push(cell.liars);
            worlds.extend(seeds.iter().map(|&seed| (reference_label(&cell), cell.reference(seed))));
        }
        worlds.extend(seeds.iter().map(|&seed| (run_label(&cell), cell.options(seed))));
    }
    worlds
}

/// The fork rates of the efficiency sweep.
const EFFICIENCY_RATES: [(&str, f64); 3] = [("0 %", 0.0), ("10 %", 0.1), ("30 %", 0.3)];

/// The cells of the sensitivity sweep: (label, chunk size, requests in flight).
fn sensitivity_cells() -> Vec<(String, u32, u8)> {
    let mut cells = Vec::new();
    for chunk in [16u32, 64, 256, 1_000, 4_096] {
        for in_flight in [1u8, 2, 3] {
            cells.push((format!("chunk {chunk:>4}, {in_flight} in flight"), chunk, in_flight));
        }
    }
    cells
}

/// The cells of the lanes sweep: (label, lanes, honest peers).
fn lanes_cells() -> Vec<(String, u32, u32)> {
    let mut cells = Vec::new();
    for honest in [1u32, 3, 6] {
        for lanes in sync_core::trie::LANE_COUNTS {
            cells.push((format!("{lanes:>2} lanes, {honest} peers"), lanes, honest));
        }
    }
    cells
}

fn flood_label(cell: &ByzantineCell) -> String {
    format!("{} {}/{}", cell.class.name(), cell.liars, cell.peers)
}

/// "no liars", then every flood cell.
fn flood_labels(peers: u32) -> Vec<String> {
    std::iter::once("no liars".to_string()).chain(flood_cells(peers).iter().map(flood_label)).collect()
}

fn flood_worlds(seeds: &[u64], peers: u32) -> Vec<(String, Options)> {
    let cells = flood_cells(peers);
    let mut worlds: Vec<(String, Options)> =
        seeds.iter().map(|&seed| ("no liars".to_string(), cells[0].reference(seed))).collect();
    for cell in &cells {
        worlds.extend(seeds.iter().map(|&seed| (flood_label(cell), cell.options(seed))));
    }
    worlds
}

/// Each world twice: the label says which strategy runs it.
fn baseline_worlds(seeds: &[u64]) -> Vec<(String, Options)> {
    let mut worlds = Vec::new();
    for block_time in COMPARISON_BLOCK_TIMES_MS {
        for &seed in seeds {
            let options = crate::baseline::comparison_options(seed, block_time, COMPARISON_BUDGET_MS);
            worlds.push((format!("live {block_time}"), options.clone()));
            worlds.push((format!("{PIVOT}{block_time}"), options));
        }
    }
    worlds
}

/// Live sync must finish wherever the chain is sustainable; neither strategy may break a safety check.
fn baseline_table(groups: &Groups) -> Table {
    let mut rows = Vec::new();
    for block_time in COMPARISON_BLOCK_TIMES_MS {
        for strategy in ["live", "pivot"] {
            let runs = group_of(groups, &format!("{strategy} {block_time}"));
            rows.push((block_time, strategy, comparison_row(runs, COMPARISON_BUDGET_MS)));
        }
    }
    let ok = rows.iter().all(|(_, _, row)| row.broken == 0)
        && rows.iter().filter(|(_, s, _)| *s == "live").all(|(_, _, row)| row.finished == row.runs);
    #[cfg(feature = "cli")]
    let svg = Some(crate::plot::comparison_svg(&rows, COMPARISON_BUDGET_MS));
    #[cfg(not(feature = "cli"))]
    let svg = None;
    Table { text: render_comparison(&rows), ok, svg }
}
