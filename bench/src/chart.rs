//! SVG charts written by hand: one chart per scenario, one panel per metric, one row per server.
//!
//! Each row shows the median as a bar, the spread (min to max) as a whisker, and every run as a
//! dot, so that a reader sees at once how far apart the runs were.

use std::fmt::Write;

use crate::stats::Summary;

/// One server's values for one metric.
#[derive(Debug, Clone)]
pub struct Row {
    /// Server name.
    pub label: String,
    /// One value per run.
    pub values: Vec<f64>,
}

/// One metric across the servers.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Metric name and unit, e.g. `p99 latency (µs)`.
    pub title: String,
    /// `true` when smaller is better (shown in the panel title).
    pub lower_is_better: bool,
    /// One row per server.
    pub rows: Vec<Row>,
}

const LABEL_W: f64 = 190.0;
const PANEL_W: f64 = 260.0;
const ROW_H: f64 = 24.0;
const TOP: f64 = 66.0;
const COLORS: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Renders `panels` side by side under `title`; rows are matched across panels by position.
pub fn render(title: &str, panels: &[Panel]) -> String {
    let rows = panels.iter().map(|p| p.rows.len()).max().unwrap_or(0);
    let w = LABEL_W + PANEL_W * panels.len().max(1) as f64 + 10.0;
    let h = TOP + ROW_H * rows as f64 + 30.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="8" y="18" font-size="14" font-weight="bold">{}</text>"#,
        esc(title)
    );
    if let Some(p) = panels.first() {
        for (r, row) in p.rows.iter().enumerate() {
            let y = TOP + ROW_H * r as f64 + ROW_H * 0.65;
            let _ = writeln!(s, r#"<text x="8" y="{y}">{}</text>"#, esc(&row.label));
        }
    }
    for (k, p) in panels.iter().enumerate() {
        let x0 = LABEL_W + PANEL_W * k as f64;
        let plot_w = PANEL_W - 70.0;
        let max = p
            .rows
            .iter()
            .flat_map(|r| r.values.iter().copied())
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let scale = if max > 0.0 { plot_w / max } else { 0.0 };
        let hint = if p.lower_is_better {
            "lower is better"
        } else {
            "higher is better"
        };
        let _ = writeln!(
            s,
            r##"<text x="{x0}" y="{}" font-weight="bold">{}</text><text x="{x0}" y="{}" fill="#666" font-size="10">{hint}</text>"##,
            TOP - 22.0,
            esc(&p.title),
            TOP - 8.0
        );
        let _ = writeln!(
            s,
            r##"<line x1="{x0}" y1="{TOP}" x2="{x0}" y2="{}" stroke="#999"/>"##,
            TOP + ROW_H * rows as f64
        );
        for (r, row) in p.rows.iter().enumerate() {
            let y = TOP + ROW_H * r as f64;
            let color = COLORS[r % COLORS.len()];
            let Some(sum) = Summary::of(&row.values) else {
                let _ = writeln!(
                    s,
                    r##"<text x="{}" y="{}" fill="#999">n/a</text>"##,
                    x0 + 4.0,
                    y + ROW_H * 0.65
                );
                continue;
            };
            let _ = writeln!(
                s,
                r#"<rect x="{x0}" y="{}" width="{:.1}" height="{}" fill="{color}" opacity="0.75"/>"#,
                y + 5.0,
                sum.median * scale,
                ROW_H - 10.0
            );
            let cy = y + ROW_H / 2.0;
            let _ = writeln!(
                s,
                r#"<line x1="{:.1}" y1="{cy}" x2="{:.1}" y2="{cy}" stroke="black"/>"#,
                x0 + sum.min * scale,
                x0 + sum.max * scale
            );
            for v in row.values.iter().filter(|v| v.is_finite()) {
                let _ = writeln!(
                    s,
                    r#"<circle cx="{:.1}" cy="{cy}" r="2" fill="black"/>"#,
                    x0 + v * scale
                );
            }
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{}">{}</text>"#,
                x0 + sum.max * scale + 4.0,
                y + ROW_H * 0.65,
                fmt_num(sum.median)
            );
        }
    }
    let _ = writeln!(
        s,
        r##"<text x="8" y="{}" fill="#666" font-size="10">bar: median; whisker: min to max; dots: individual runs</text>"##,
        h - 10.0
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rows_and_escapes() {
        let p = Panel {
            title: "p99 <µs>".into(),
            lower_is_better: true,
            rows: vec![
                Row {
                    label: "a&b".into(),
                    values: vec![1.0, 2.0, 3.0],
                },
                Row {
                    label: "none".into(),
                    values: vec![],
                },
            ],
        };
        let svg = render("S1", &[p]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("a&amp;b") && svg.contains("p99 &lt;µs&gt;"));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("n/a"));
    }
}
