//! A timeline of one run as an SVG a browser shows (`sim replay --svg FILE`): block heights of the node and the
//! canonical tip with forks and rebranches, the share of key space downloaded with resets and completion, and one
//! lane per peer with every request from send to answer and every penalty.

use std::fmt::Write;

#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// A label per peer lane.
    pub peers: Vec<String>,
    /// `(t, node head, canonical tip)`.
    pub heads: Vec<(u64, u32, u32)>,
    /// `(t, share of each lane's key space known)`, one share per lane (§2.13).
    pub progress: Vec<(u64, Vec<f64>)>,
    pub requests: Vec<RequestMark>,
    pub marks: Vec<(u64, Mark)>,
    pub liveness_ms: u64,
    pub end_ms: u64,
    /// The first simulated millisecond drawn (0 unless zoomed with `window`).
    pub start_ms: u64,
}

#[derive(Clone, Debug)]
pub struct RequestMark {
    pub sent: u64,
    pub peer: u32,
    /// `c` chunk, `d` diff, `b` missing blocks.
    pub kind: char,
    pub answered: Option<u64>,
}

#[derive(Clone, Debug)]
pub enum Mark {
    Fork(String),
    Rebranch(u32),
    Reset(String),
    Penalty(u32, String),
    Complete,
}

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 140.0;
const HEIGHTS: f64 = 180.0;
const PROGRESS: f64 = 120.0;
const LANE: f64 = 22.0;

impl Timeline {
    /// Only what happened in `[start_ms, end_ms]`, for a closer look.
    pub fn window(mut self, start_ms: u64, end_ms: u64) -> Timeline {
        let end_ms = end_ms.max(start_ms + 1);
        let inside = |t: u64| t >= start_ms && t <= end_ms;
        // The last sample before the window, so that lines start at the right level.
        let before_heads = self.heads.iter().rposition(|(t, _, _)| *t < start_ms);
        let before_progress = self.progress.iter().rposition(|(t, _)| *t < start_ms);
        let mut heads: Vec<_> =
            before_heads.map(|i| self.heads[i]).into_iter().map(|(_, a, b)| (start_ms, a, b)).collect();
        heads.extend(self.heads.iter().copied().filter(|(t, _, _)| inside(*t)));
        let mut progress: Vec<_> =
            before_progress.map(|i| (start_ms, self.progress[i].1.clone())).into_iter().collect();
        progress.extend(self.progress.iter().filter(|(t, _)| inside(*t)).cloned());
        self.heads = heads;
        self.progress = progress;
        self.requests.retain(|r| inside(r.sent) || r.answered.is_some_and(inside));
        self.marks.retain(|(t, _)| inside(*t));
        self.start_ms = start_ms;
        self.end_ms = end_ms;
        self
    }

    pub fn render(&self, title: &str) -> String {
        let frame = Frame::new(self);
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{}" font-family="monospace" font-size="11">"#,
            frame.height
        );
        let _ = writeln!(svg, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
        let _ = writeln!(svg, r#"<text x="10" y="20" font-size="14">{}</text>"#, escape(title));
        let _ = writeln!(
            svg,
            r##"<text x="10" y="38" fill="#555">time {} – {} ms · liveness phase from {} ms (dashed)</text>"##,
            self.start_ms, self.end_ms, self.liveness_ms
        );
        self.heights_panel(&frame, &mut svg);
        self.progress_panel(&frame, &mut svg);
        self.request_lanes(&frame, &mut svg);
        for (t, mark) in &self.marks {
            mark.render(&frame, frame.x(*t), &mut svg);
        }
        let (live, top, height) =
            (frame.x(self.liveness_ms.clamp(self.start_ms, self.end_ms)), frame.top, frame.height);
        let _ = writeln!(
            svg,
            r##"<line x1="{live:.1}" x2="{live:.1}" y1="{top}" y2="{height}" stroke="#555" stroke-dasharray="6,4"/>"##
        );
        let _ = writeln!(
            svg,
            r##"<text x="10" y="{}" fill="#555">lanes: chunk (blue), diff (purple), missing blocks (grey); dashed = never answered; ✕ = penalty; orange = reset; green = complete</text>"##,
            height - 12.0
        );
        svg.push_str("</svg>\n");
        svg
    }

    /// Panel 1: the node's head and the canonical tip over time.
    fn heights_panel(&self, frame: &Frame, svg: &mut String) {
        let top = frame.top;
        let max_height = self.heads.iter().map(|&(_, a, b)| a.max(b)).max().unwrap_or(1).max(1) as f64;
        let y_height = |h: u32| top + HEIGHTS - (f64::from(h) / max_height) * HEIGHTS;
        panel(svg, top, HEIGHTS, "block height", &format!("0 – {max_height}"));
        let tip: Vec<(f64, f64)> = self.heads.iter().map(|&(t, _, tip)| (frame.x(t), y_height(tip))).collect();
        let head: Vec<(f64, f64)> = self.heads.iter().map(|&(t, head, _)| (frame.x(t), y_height(head))).collect();
        polyline(svg, &tip, "#aaaaaa", 3.0);
        polyline(svg, &head, "#1f6feb", 1.5);
        let _ = writeln!(
            svg,
            r##"<text x="{}" y="{}" fill="#1f6feb">node head</text><text x="{}" y="{}" fill="#888">canonical tip</text>"##,
            LEFT + 5.0,
            top + 12.0,
            LEFT + 80.0,
            top + 12.0
        );
    }

    /// Panel 2: the share of key space known over time, one band per lane (lane 0 at the bottom); each band
    /// fills as its lane is known. With one lane, one band of the panel's height.
    fn progress_panel(&self, frame: &Frame, svg: &mut String) {
        let ptop = frame.progress_top;
        let lanes = self.progress.first().map_or(1, |(_, shares)| shares.len()).max(1);
        let label = if lanes == 1 { "0 – 100 %".to_string() } else { format!("{lanes} lanes, each 0 – 100 %") };
        panel(svg, ptop, PROGRESS, "key space known", &label);
        let band = PROGRESS / lanes as f64;
        for lane in 0..lanes {
            let bottom = ptop + PROGRESS - band * lane as f64;
            let mut area: Vec<(f64, f64)> = vec![(frame.x(self.start_ms), bottom)];
            let mut last = 0.0;
            for (t, shares) in &self.progress {
                let share = shares.get(lane).copied().unwrap_or(0.0);
                area.push((frame.x(*t), bottom - last * band));
                area.push((frame.x(*t), bottom - share * band));
                last = share;
            }
            area.push((frame.x(self.end_ms), bottom - last * band));
            area.push((frame.x(self.end_ms), bottom));
            let points: Vec<String> = area.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
            let _ = writeln!(
                svg,
                r##"<polygon points="{}" fill="#2da44e" fill-opacity="0.35" stroke="#2da44e"/>"##,
                points.join(" ")
            );
        }
    }

    /// One lane per peer with every request from send to answer.
    fn request_lanes(&self, frame: &Frame, svg: &mut String) {
        for (index, label) in self.peers.iter().enumerate() {
            let y = frame.lanes_top + LANE * index as f64;
            let _ = writeln!(
                svg,
                r##"<text x="10" y="{}">{}</text><line x1="{LEFT}" x2="{}" y1="{}" y2="{}" stroke="#eeeeee"/>"##,
                y + 14.0,
                escape(label),
                WIDTH - 20.0,
                y + LANE,
                y + LANE
            );
        }
        for request in &self.requests {
            let (offset, color) = match request.kind {
                'c' => (0.0, "#1f6feb"),
                'd' => (5.0, "#8250df"),
                _ => (10.0, "#6e7781"),
            };
            let y = frame.lanes_top + LANE * f64::from(request.peer) + 4.0 + offset;
            let sent = frame.x(request.sent);
            let (x1, x2) = (sent, frame.x(request.answered.unwrap_or(request.sent)).max(sent + 1.0));
            let dash = if request.answered.is_none() { r#" stroke-dasharray="2,2""# } else { "" };
            let _ = writeln!(
                svg,
                r#"<line x1="{x1:.1}" x2="{x2:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{color}" stroke-width="3"{dash}/>"#
            );
        }
    }
}

/// Where everything goes on the drawing: time to x, and the top of each panel.
struct Frame {
    start: u64,
    span: f64,
    top: f64,
    progress_top: f64,
    lanes_top: f64,
    height: f64,
}

impl Frame {
    fn new(timeline: &Timeline) -> Frame {
        let top = 60.0;
        let progress_top = top + HEIGHTS + 30.0;
        let lanes_top = progress_top + PROGRESS + 30.0;
        Frame {
            start: timeline.start_ms,
            span: timeline.end_ms.saturating_sub(timeline.start_ms).max(1) as f64,
            top,
            progress_top,
            lanes_top,
            height: lanes_top + LANE * timeline.peers.len() as f64 + 40.0,
        }
    }

    fn x(&self, t: u64) -> f64 {
        LEFT + (t.saturating_sub(self.start) as f64 / self.span) * (WIDTH - LEFT - 20.0)
    }
}

impl Mark {
    fn render(&self, frame: &Frame, at: f64, svg: &mut String) {
        let (top, ptop, height) = (frame.top, frame.progress_top, frame.height);
        let _ = match self {
            Mark::Fork(text) => writeln!(
                svg,
                r##"<path d="M{at:.1},{top} l-4,-7 h8 z" fill="#d29922"><title>{}</title></path>"##,
                escape(text)
            ),
            Mark::Rebranch(depth) => writeln!(
                svg,
                r##"<circle cx="{at:.1}" cy="{}" r="4" fill="#cf222e"><title>rebranch reverting {depth}</title></circle>"##,
                top + 6.0
            ),
            Mark::Reset(reason) => writeln!(
                svg,
                r##"<line x1="{at:.1}" x2="{at:.1}" y1="{ptop}" y2="{}" stroke="#fb8500"><title>reset: {}</title></line>"##,
                ptop + PROGRESS,
                escape(reason)
            ),
            Mark::Penalty(peer, violation) => writeln!(
                svg,
                r##"<text x="{:.1}" y="{}" fill="#cf222e" font-weight="bold">✕<title>{}</title></text>"##,
                at - 4.0,
                frame.lanes_top + LANE * f64::from(*peer) + 15.0,
                escape(violation)
            ),
            Mark::Complete => writeln!(
                svg,
                r##"<line x1="{at:.1}" x2="{at:.1}" y1="{top}" y2="{height}" stroke="#2da44e" stroke-width="2"><title>complete</title></line>"##
            ),
        };
    }
}

fn panel(svg: &mut String, top: f64, height: f64, label: &str, range: &str) {
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{top}" width="{}" height="{height}" fill="#f6f8fa" stroke="#d0d7de"/>"##,
        WIDTH - LEFT - 20.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="10" y="{}">{label}</text><text x="10" y="{}" fill="\#888">{range}</text>"#,
        top + 14.0,
        top + 28.0
    );
}

fn polyline(svg: &mut String, points: &[(f64, f64)], color: &str, width: f64) {
    if points.is_empty() {
        return;
    }
    let mut stepped = Vec::with_capacity(points.len() * 2);
    for window in points.windows(2) {
        stepped.push(window[0]);
        stepped.push((window[1].0, window[0].1));
    }
    stepped.extend(points.last());
    let text: Vec<String> = stepped.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
    let _ =
        writeln!(svg, r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="{width}"/>"#, text.join(" "));
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
