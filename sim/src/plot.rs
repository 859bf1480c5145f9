//! Plots of sweep results as SVG (plotters), for BENCHMARKS.md: the strategy comparison against block time.

use crate::sweep::ComparisonRow;
use plotters::prelude::*;

const COLORS: [RGBColor; 2] = [RGBColor(31, 119, 180), RGBColor(214, 39, 40)];

/// Two panels over block time, one slot per block time: median completion time of the runs that finished, and the share of
/// runs that finished within the budget. One line per strategy, in the order they first appear in `rows`.
pub fn comparison_svg(rows: &[(u64, &str, ComparisonRow)], budget_ms: u64) -> Result<String, String> {
    let mut strategies: Vec<&str> = Vec::new();
    for (_, strategy, _) in rows {
        if !strategies.contains(strategy) {
            strategies.push(strategy);
        }
    }
    // One evenly spaced slot per block time, in the order of `rows` (slowest chain first): the reader follows
    // the block time falling from left to right.
    let mut block_times: Vec<u64> = Vec::new();
    for (ms, _, _) in rows {
        if !block_times.contains(ms) {
            block_times.push(*ms);
        }
    }
    let slowest = rows.iter().filter_map(|(_, _, row)| row.completion_s[1]).fold(0f64, f64::max);
    let budget_s = (budget_ms as f64 / 1000.0).min((slowest * 1.3).max(1.0));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (left, right) = root.split_horizontally(480);
        let axes = Axes { block_times: &block_times, strategies: &strategies, rows };
        let completion = |row: &ComparisonRow| row.completion_s[0];
        let finished = |row: &ComparisonRow| Some(100.0 * row.finished as f64 / row.runs.max(1) as f64);
        axes.panel(&left, "completion time of finished runs (p50)", budget_s, "seconds", &completion)?;
        axes.panel(&right, "runs finished within the budget", 100.0, "% of runs", &finished)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// What both panels share: one evenly spaced slot per block time, one line per strategy.
struct Axes<'a> {
    block_times: &'a [u64],
    strategies: &'a [&'a str],
    rows: &'a [(u64, &'a str, ComparisonRow)],
}

impl Axes<'_> {
    fn slot(&self, ms: u64) -> f64 {
        self.block_times.iter().position(|&b| b == ms).unwrap_or_default() as f64
    }

    /// One panel: `value` of each strategy's row at each block time.
    fn panel(
        &self,
        area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
        caption: &str,
        y_max: f64,
        y_desc: &str,
        value: &dyn Fn(&ComparisonRow) -> Option<f64>,
    ) -> Result<(), String> {
        let x_range = -0.5..(self.block_times.len() as f64 - 0.5);
        let mut chart = ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(x_range, 0f64..y_max * 1.05)
            .map_err(|e| e.to_string())?;
        let block_times = self.block_times;
        chart
            .configure_mesh()
            .x_desc("block time (ms)")
            .y_desc(y_desc)
            .x_labels(block_times.len())
            .disable_x_mesh()
            .light_line_style(WHITE)
            .x_label_formatter(&|x| {
                let index = x.round();
                match block_times.get(index as usize) {
                    Some(ms) if (x - index).abs() < 0.01 && index >= 0.0 => format!("{ms}"),
                    _ => String::new(),
                }
            })
            .draw()
            .map_err(|e| e.to_string())?;
        for (index, strategy) in self.strategies.iter().enumerate() {
            let color = COLORS[index % COLORS.len()];
            let points: Vec<(f64, f64)> = self
                .rows
                .iter()
                .filter(|(_, s, _)| s == strategy)
                .filter_map(|(ms, _, row)| Some((self.slot(*ms), value(row)?)))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(*strategy)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            chart
                .draw_series(points.into_iter().map(|point| Circle::new(point, 3, color.filled())))
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|e| e.to_string())
    }
}
