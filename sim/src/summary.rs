//! The `explore` summary (and, for sharded runs, the merge of shard outputs): failures by class, throughput,
//! the simulated-to-real ratio, completion-time percentiles, efficiency.

use crate::outcome::{FailureClass, RunOutcome};
use std::fmt::Write;

/// The `q`-quantile (0..=1) of sorted values, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn sorted(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut values: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    values.sort_by(f64::total_cmp);
    values
}

fn percentiles(values: &[f64], unit: &str, scale: f64) -> String {
    match (quantile(values, 0.5), quantile(values, 0.9), quantile(values, 0.99), values.last()) {
        (Some(p50), Some(p90), Some(p99), Some(max)) => {
            format!(
                "p50 {:.2}{unit} · p90 {:.2}{unit} · p99 {:.2}{unit} · max {:.2}{unit}",
                p50 * scale,
                p90 * scale,
                p99 * scale,
                max * scale
            )
        }
        _ => "n/a".to_string(),
    }
}

/// The summary table. `elapsed_s` and `jobs` describe the machine time spent (0 when merging shards).
pub fn render(outcomes: &[RunOutcome], elapsed_s: f64, jobs: usize) -> String {
    let mut out = String::new();
    let runs = outcomes.len();
    let by_class =
        |class: FailureClass| outcomes.iter().filter(|o| o.failure.as_ref().is_some_and(|f| f.class == class)).count();
    let failed = outcomes.iter().filter(|o| o.failure.is_some()).count();
    let _ = writeln!(out, "runs                 {runs} ({failed} failed)");
    let _ = writeln!(
        out,
        "failures             crash {} · safety {} · liveness {} · waste {} · determinism {}",
        by_class(FailureClass::Crash),
        by_class(FailureClass::Safety),
        by_class(FailureClass::Liveness),
        by_class(FailureClass::Waste),
        by_class(FailureClass::Determinism)
    );
    render_throughput(&mut out, outcomes, elapsed_s, jobs);
    render_efficiency(&mut out, outcomes);
    out
}

/// Runs, events and simulated time per second of machine time; only the totals when merging.
fn render_throughput(out: &mut String, outcomes: &[RunOutcome], elapsed_s: f64, jobs: usize) {
    let events: u64 = outcomes.iter().map(|o| o.stats.events).sum();
    let inputs: u64 = outcomes.iter().map(|o| o.stats.inputs).sum();
    let simulated_ms: u64 = outcomes.iter().map(|o| o.stats.simulated_ms).sum();
    if elapsed_s > 0.0 {
        let _ = writeln!(out, "wall time            {elapsed_s:.1} s on {jobs} threads");
        let _ = writeln!(out, "runs/s               {:.1}", outcomes.len() as f64 / elapsed_s);
        let _ = writeln!(
            out,
            "events/s             {:.0} ({inputs} node inputs, {events} agenda events)",
            events as f64 / elapsed_s
        );
        let _ = writeln!(
            out,
            "simulated : real     {:.0} : 1 (per core: {:.0} : 1)",
            simulated_ms as f64 / 1000.0 / elapsed_s,
            simulated_ms as f64 / 1000.0 / elapsed_s / jobs as f64
        );
    } else {
        let _ = writeln!(
            out,
            "events               {events} ({inputs} node inputs), simulated {:.0} s",
            simulated_ms as f64 / 1000.0
        );
    }
}

/// Completion times, bytes, chunks, resets, lies, evictions, the buffer peak.
fn render_efficiency(out: &mut String, outcomes: &[RunOutcome]) {
    let passed: Vec<&RunOutcome> = outcomes.iter().filter(|o| o.failure.is_none()).collect();
    let completion = sorted(passed.iter().filter_map(|o| o.stats.completed_ms).map(|ms| ms as f64));
    let _ =
        writeln!(out, "completion time      {} (simulated, last completion)", percentiles(&completion, " s", 0.001));
    let ratio = sorted(
        passed
            .iter()
            .filter(|o| o.stats.state_bytes > 0)
            .map(|o| o.stats.bytes_fetched as f64 / o.stats.state_bytes as f64),
    );
    let _ = writeln!(out, "bytes fetched/state  {}", percentiles(&ratio, "×", 1.0));
    let wasted: u64 = outcomes.iter().map(|o| o.stats.chunks_wasted).sum();
    let committed: u64 = outcomes.iter().map(|o| o.stats.chunks_committed).sum();
    let _ = writeln!(
        out,
        "chunks               {committed} committed · {wasted} wasted ({:.1} %)",
        100.0 * wasted as f64 / (committed + wasted).max(1) as f64
    );
    let total = |f: fn(&RunOutcome) -> u64| outcomes.iter().map(f).sum::<u64>();
    let _ = writeln!(
        out,
        "wire                 {} messages decoded ({:.1} MB) · {} undecodable",
        total(|o| o.stats.messages_decoded),
        total(|o| o.stats.bytes_decoded) as f64 / 1e6,
        total(|o| o.stats.messages_undecodable)
    );
    let _ = writeln!(
        out,
        "resets {} · rebranches {} · lies told {} · penalties {} · evictions {} (honest {})",
        total(|o| o.stats.resets),
        total(|o| o.stats.rebranches),
        total(|o| o.stats.lies),
        total(|o| o.stats.penalties),
        total(|o| o.stats.evictions),
        total(|o| o.stats.honest_evictions)
    );
    render_oracles(out, outcomes);
    render_waste(out, outcomes);
    let peak = outcomes
        .iter()
        .map(|o| (o.stats.chunk_buffer_peak, o.stats.chunk_buffer_max))
        .max_by_key(|(peak, max)| peak * 1000 / max.max(&1));
    if let Some((peak, max)) = peak {
        let _ = writeln!(out, "chunk buffer peak    {peak} of its bound {max} (highest share over all runs)");
    }
}

/// The calm worlds' budgets, the determinism sample, the stranded reference runs.
fn render_oracles(out: &mut String, outcomes: &[RunOutcome]) {
    let mut calm: Vec<(u32, u32)> = outcomes
        .iter()
        .filter(|o| o.stats.calm)
        .map(|o| (o.stats.calm_time_used_pct, o.stats.calm_bytes_used_pct))
        .collect();
    if !calm.is_empty() {
        let (mut time, mut bytes): (Vec<u32>, Vec<u32>) = calm.drain(..).unzip();
        time.sort_unstable();
        bytes.sort_unstable();
        let (n, mid) = (time.len(), time.len() / 2);
        let _ = writeln!(
            out,
            "calm worlds          {n} judged (§7.9) · budget used: time p50 {} % max {} % · bytes p50 {} % max {} %",
            time[mid],
            time[n - 1],
            bytes[mid],
            bytes[n - 1]
        );
    }
    let replayed = outcomes.iter().filter(|o| o.stats.replayed).count();
    if replayed > 0 {
        let _ = writeln!(out, "determinism          {replayed} runs replayed, the same trace hash each time");
    }
    let stranded = outcomes.iter().filter(|o| o.stats.stranded).count();
    if stranded > 0 {
        let _ = writeln!(
            out,
            "stranded             {stranded} runs of the reference beyond the window before it reached the tip (H26)"
        );
    }
    let hijacked = outcomes.iter().filter(|o| o.stats.hijacked).count();
    if hijacked > 0 {
        let _ = writeln!(
            out,
            "hijacked             {hijacked} runs of the reference tag rule whose chunk chains lies kept resetting (H14)"
        );
    }
}

/// Wasted work by cause (the accounting oracle: every piece has one), and by effect.
fn render_waste(out: &mut String, outcomes: &[RunOutcome]) {
    let mut by_cause: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    let mut by_effect: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for (key, count) in outcomes.iter().flat_map(|o| o.stats.waste.iter()) {
        let (effect, cause) = key.split_once(": ").unwrap_or((key.as_str(), "?"));
        let effect = effect.split_whitespace().next().unwrap_or(effect);
        *by_cause.entry(cause).or_default() += count;
        *by_effect.entry(effect).or_default() += count;
    }
    let line = |map: std::collections::BTreeMap<&str, u64>| {
        let mut entries: Vec<(&str, u64)> = map.into_iter().collect();
        entries.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        entries.iter().map(|(name, count)| format!("{name} {count}")).collect::<Vec<_>>().join(" · ")
    };
    let _ = writeln!(out, "waste by effect      {}", line(by_effect));
    let _ = writeln!(out, "waste by cause       {}", line(by_cause));
}
