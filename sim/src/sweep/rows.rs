//! The worlds each sweep varies, and what its tables show: one row per group of runs.

use crate::adversary::ByzantineClass;
use crate::options::Options;
use crate::outcome::{FailureClass, RunOutcome};
use crate::summary::quantile;
use std::fmt::Write;

/// The world every sweep varies: the small world's network with a longer chain and a bigger state.
pub fn base(seed: u64) -> Options {
    Options { seed, accounts: 3_000, blocks: 40, late_join_ms_max: 1_000, ..Options::default() }
}

/// One cell of the byzantine sweep: `liars` peers of `class` among `peers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByzantineCell {
    pub class: ByzantineClass,
    pub liars: u32,
    pub peers: u32,
}

impl ByzantineCell {
    pub fn options(&self, seed: u64) -> Options {
        Options {
            honest_peers: self.peers - self.liars,
            byzantine: vec![self.class; self.liars as usize],
            lie_chance: 1.0,
            ..base(seed)
        }
    }

    /// The same world without the liars: the reference for the slowdown.
    pub fn reference(&self, seed: u64) -> Options {
        Options { byzantine: Vec::new(), ..self.options(seed) }
    }
}

/// The cells of a byzantine sweep over `peers` peers: every class × k ∈ {1, n/2, n−1}.
pub fn byzantine_cells(peers: u32) -> Vec<ByzantineCell> {
    let mut liars = vec![1, peers / 2, peers - 1];
    liars.dedup();
    ByzantineClass::ALL
        .iter()
        .flat_map(|&class| liars.iter().map(move |&liars| ByzantineCell { class, liars, peers }))
        .collect()
}

/// What one cell measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ByzantineRow {
    pub runs: usize,
    pub crashes: usize,
    pub safety: usize,
    pub liveness: usize,
    /// Wasted work with no cause the world produced (the accounting oracle, docs/protocol.md §7.7).
    pub waste: usize,
    pub slowdown_median: Option<f64>,
    pub evicted: u64,
    pub honest_evicted: u64,
    pub lies: u64,
}

/// Aggregates the runs of one cell with their references (same seeds, no liars).
pub fn byzantine_row(runs: &[RunOutcome], references: &[RunOutcome]) -> ByzantineRow {
    let class = |class| runs.iter().filter(|o| o.failure.as_ref().is_some_and(|f| f.class == class)).count();
    let mut slowdowns: Vec<f64> = runs
        .iter()
        .zip(references)
        .filter_map(|(run, reference)| {
            Some(run.stats.completed_ms? as f64 / reference.stats.completed_ms?.max(1) as f64)
        })
        .collect();
    slowdowns.sort_by(f64::total_cmp);
    ByzantineRow {
        runs: runs.len(),
        crashes: class(FailureClass::Crash),
        safety: class(FailureClass::Safety),
        liveness: class(FailureClass::Liveness),
        waste: class(FailureClass::Waste),
        slowdown_median: quantile(&slowdowns, 0.5),
        evicted: runs.iter().map(|o| o.stats.evictions).sum(),
        honest_evicted: runs.iter().map(|o| o.stats.honest_evictions).sum(),
        lies: runs.iter().map(|o| o.stats.lies).sum(),
    }
}

pub fn render_byzantine(rows: &[(ByzantineCell, ByzantineRow)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| class | liars/peers | runs | crash | safety | liveness | waste | slowdown p50 | lies | evicted | honest evicted |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (cell, row) in rows {
        let slowdown = row.slowdown_median.map_or("n/a".to_string(), |s| format!("{s:.2}×"));
        let _ = writeln!(
            out,
            "| {} | {}/{} | {} | {} | {} | {} | {} | {slowdown} | {} | {} | {} |",
            cell.class.name(),
            cell.liars,
            cell.peers,
            row.runs,
            row.crashes,
            row.safety,
            row.liveness,
            row.waste,
            row.lies,
            row.evicted,
            row.honest_evicted
        );
    }
    out
}

/// Efficiency figures of a set of runs (what users ask).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EfficiencyRow {
    pub runs: usize,
    pub failed: usize,
    pub bytes_over_state: [Option<f64>; 2],
    pub completion_over_bound: [Option<f64>; 2],
    pub completion_s: [Option<f64>; 2],
    pub wasted_share: f64,
}

/// p50 and p90 of bytes fetched / state, completion / lower bound, completion time; the share of chunks wasted.
pub fn efficiency_row(runs: &[RunOutcome]) -> EfficiencyRow {
    let passed: Vec<&RunOutcome> = runs.iter().filter(|o| o.passed()).collect();
    let sorted = |values: Vec<f64>| {
        let mut values = values;
        values.sort_by(f64::total_cmp);
        [quantile(&values, 0.5), quantile(&values, 0.9)]
    };
    let bytes = passed
        .iter()
        .filter(|o| o.stats.state_bytes > 0)
        .map(|o| o.stats.bytes_fetched as f64 / o.stats.state_bytes as f64);
    let bound = passed.iter().filter_map(|o| Some(o.stats.completed_ms? as f64 / o.stats.lower_bound_ms.max(1) as f64));
    let completion = passed.iter().filter_map(|o| o.stats.completed_ms.map(|ms| ms as f64 / 1000.0));
    let wasted: u64 = passed.iter().map(|o| o.stats.chunks_wasted).sum();
    let committed: u64 = passed.iter().map(|o| o.stats.chunks_committed).sum();
    EfficiencyRow {
        runs: runs.len(),
        failed: runs.len() - passed.len(),
        bytes_over_state: sorted(bytes.collect()),
        completion_over_bound: sorted(bound.collect()),
        completion_s: sorted(completion.collect()),
        wasted_share: wasted as f64 / (wasted + committed).max(1) as f64,
    }
}

fn pair(values: &[Option<f64>; 2], unit: &str) -> String {
    match values {
        [Some(p50), Some(p90)] => format!("{p50:.2}{unit} / {p90:.2}{unit}"),
        _ => "n/a".to_string(),
    }
}

pub fn render_efficiency(label: &str, rows: &[(String, EfficiencyRow)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {label} | runs | failed | bytes/state p50 / p90 | completion/lower bound p50 / p90 | completion p50 / p90 | chunks wasted |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for (name, row) in rows {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {:.1} % |",
            row.runs,
            row.failed,
            pair(&row.bytes_over_state, "×"),
            pair(&row.completion_over_bound, "×"),
            pair(&row.completion_s, " s"),
            100.0 * row.wasted_share
        );
    }
    out
}

/// The efficiency world at a fork rate: a calm, well-provisioned network, so that the bound is meaningful.
pub fn efficiency_options(seed: u64, fork_chance: f64) -> Options {
    Options {
        fork_chance,
        fork_depth_max: 3,
        rebranch_chance: 0.5,
        chunk_size_max: 1_000,
        loss: 0.0,
        duplication: 0.0,
        reorder_chance: 0.0,
        late_join_ms_max: 0,
        accounts: 20_000,
        blocks: 60,
        ..base(seed)
    }
}

/// The sensitivity world: `efficiency_options` at 10 % forks with a chunk size and requests in flight.
pub fn sensitivity_options(seed: u64, chunk_size: u32, in_flight: u8) -> Options {
    Options { chunk_size_max: chunk_size, chunk_requests_in_flight: in_flight, ..efficiency_options(seed, 0.1) }
}

/// The lanes world (§4.12): `efficiency_options` at 10 % forks with `lanes` and `honest` peers, and a node downlink
/// of ten links, so that the honest peers' uplinks bound the download up to ten peers.
pub fn lanes_options(seed: u64, lanes: u32, honest: u32) -> Options {
    let link = efficiency_options(seed, 0.1).bandwidth_bytes_per_ms;
    Options { lanes, honest_peers: honest, downlink_bytes_per_ms: 10 * link, ..efficiency_options(seed, 0.1) }
}

/// The flood sweep: `liars` of the `peers` flood with `class` (§7.4; every buffer is bounded, ARCHITECTURE.md). Every buffer's
/// peak over the runs is reported next to its configured bound; a peak over its bound already fails the run.
pub fn flood_cells(peers: u32) -> Vec<ByzantineCell> {
    let mut liars = vec![1, peers - 1];
    liars.dedup();
    ByzantineClass::FLOODS
        .iter()
        .flat_map(|&class| liars.iter().map(move |&liars| ByzantineCell { class, liars, peers }))
        .collect()
}

/// The peaks of a flood cell, each next to its bound: chunk buffer in chunks and bytes, block buffer, pending.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FloodRow {
    pub runs: usize,
    pub failed: usize,
    pub lies: u64,
    /// (peak over the runs, bound) for each buffer, in the order of [`FLOOD_BUFFERS`].
    pub peaks: [(u64, u64); 4],
}

/// The buffers a flood row reports, in order.
pub const FLOOD_BUFFERS: [&str; 4] =
    ["chunk buffer (chunks)", "chunk buffer (bytes)", "block buffer", "pending blocks"];

pub fn flood_row(runs: &[RunOutcome]) -> FloodRow {
    let mut peaks = [(0, 0); 4];
    for run in runs {
        let s = &run.stats;
        let figures = [
            (s.chunk_buffer_peak, s.chunk_buffer_max),
            (s.chunk_buffer_bytes_peak, s.chunk_buffer_bytes_max),
            (s.block_buffer_peak, s.block_buffer_max),
            (s.pending_blocks_peak, s.pending_blocks_max),
        ];
        for (slot, (peak, max)) in peaks.iter_mut().zip(figures) {
            *slot = (slot.0.max(peak), slot.1.max(max));
        }
    }
    FloodRow {
        runs: runs.len(),
        failed: runs.iter().filter(|o| !o.passed()).count(),
        lies: runs.iter().map(|o| o.stats.lies).sum(),
        peaks,
    }
}

pub fn render_floods(rows: &[(String, FloodRow)]) -> String {
    let mut out = String::new();
    let _ = write!(out, "| attack | runs | failed | lies |");
    for name in FLOOD_BUFFERS {
        let _ = write!(out, " {name}: peak / bound |");
    }
    let _ = writeln!(out, "\n|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, row) in rows {
        let _ = write!(out, "| {name} | {} | {} | {} |", row.runs, row.failed, row.lies);
        for (peak, max) in row.peaks {
            let _ = write!(out, " {peak} / {max} |");
        }
        let _ = writeln!(out);
    }
    out
}

/// The block times of the strategy comparison, slowest first.
pub const COMPARISON_BLOCK_TIMES_MS: [u64; 7] = [2_000, 1_000, 500, 250, 150, 100, 50];
/// The comparison's budget: the chain keeps its block time this long; a run that has not finished by then failed.
pub const COMPARISON_BUDGET_MS: u64 = 60_000;

/// One strategy at one block time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ComparisonRow {
    pub runs: usize,
    /// Runs that finished within the budget.
    pub finished: usize,
    /// Runs that failed a safety check or crashed (must be 0 for both).
    pub broken: usize,
    pub completion_s: [Option<f64>; 2],
    pub bytes_over_state: Option<f64>,
    pub diff_kib: Option<f64>,
    pub restarts_mean: f64,
}

/// Aggregates one strategy's runs at one block time; `budget_ms` decides what finished.
pub fn comparison_row(runs: &[RunOutcome], budget_ms: u64) -> ComparisonRow {
    let broken = |o: &&RunOutcome| {
        o.failure.as_ref().is_some_and(|f| matches!(f.class, FailureClass::Crash | FailureClass::Safety))
    };
    let finished: Vec<&RunOutcome> =
        runs.iter().filter(|o| o.stats.completed_ms.is_some_and(|ms| ms <= budget_ms) && !broken(o)).collect();
    let sorted = |values: Vec<f64>| {
        let mut values = values;
        values.sort_by(f64::total_cmp);
        values
    };
    let completion =
        sorted(finished.iter().filter_map(|o| o.stats.completed_ms).map(|ms| ms as f64 / 1000.0).collect());
    let bytes = sorted(
        finished
            .iter()
            .filter(|o| o.stats.state_bytes > 0)
            .map(|o| o.stats.bytes_fetched as f64 / o.stats.state_bytes as f64)
            .collect(),
    );
    let diffs = sorted(finished.iter().map(|o| o.stats.diff_bytes_fetched as f64 / 1024.0).collect());
    ComparisonRow {
        runs: runs.len(),
        finished: finished.len(),
        broken: runs.iter().filter(broken).count(),
        completion_s: [quantile(&completion, 0.5), quantile(&completion, 0.9)],
        bytes_over_state: quantile(&bytes, 0.5),
        diff_kib: quantile(&diffs, 0.5),
        restarts_mean: runs.iter().map(|o| o.stats.resets as f64).sum::<f64>() / runs.len().max(1) as f64,
    }
}

pub fn render_comparison(rows: &[(u64, &str, ComparisonRow)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| block time | strategy | runs | finished | broken | completion p50 / p90 | chunk bytes/state p50 | diff KiB p50 | restarts (mean) |"
    );
    let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    let figure = |value: Option<f64>, unit: &str| value.map_or("n/a".to_string(), |v| format!("{v:.2}{unit}"));
    for (block_time, strategy, row) in rows {
        let _ = writeln!(
            out,
            "| {block_time} ms | {strategy} | {} | {} | {} | {} | {} | {} | {:.1} |",
            row.runs,
            row.finished,
            row.broken,
            pair(&row.completion_s, " s"),
            figure(row.bytes_over_state, "×"),
            figure(row.diff_kib, ""),
            row.restarts_mean
        );
    }
    out
}
