//! Charts drawn on the server as SVG: no chart library, no script, nothing that a strict CSP
//! would block (colours come from classes in our stylesheet). Every text is escaped here, since
//! the markup goes into the page as is.

use std::fmt::Write;

/// Escapes text for SVG/HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One series of a bar chart: its name, the CSS class that colours it, a value per label.
pub struct Series<'a> {
    pub name: &'a str,
    pub class: &'a str,
    pub values: &'a [f64],
}

const W: f64 = 720.0;
const H: f64 = 220.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 36.0;
const TOP: f64 = 12.0;

/// A tidy upper bound for an axis: 1, 2 or 5 × a power of ten.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|m| *m >= v)
        .unwrap_or(10.0 * p)
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Grouped vertical bars, one group per label; at most every n-th label is written so they
/// never overlap.
pub fn bars(title: &str, labels: &[String], series: &[Series<'_>]) -> String {
    // At least 4 on the axis, so counts get whole-number ticks.
    let max = nice_max(
        series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .fold(4.0, f64::max),
    );
    let n = labels.len().max(1) as f64;
    let plot_w = W - LEFT - 8.0;
    let plot_h = H - TOP - BOTTOM;
    let group_w = plot_w / n;
    let bar_w = (group_w * 0.8 / series.len().max(1) as f64).max(1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\"><title>{}</title>",
        escape(title),
        escape(title)
    );
    // Whole steps: 2 × 10ⁿ splits in four, 1 × and 5 × 10ⁿ in five.
    let lead = (max / 10f64.powf(max.log10().floor())).round();
    let intervals = if lead == 2.0 { 4 } else { 5 };
    for i in 0..=intervals {
        let v = max * f64::from(i) / f64::from(intervals);
        let y = TOP + plot_h - plot_h * f64::from(i) / f64::from(intervals);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/><text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - 8.0,
            LEFT - 4.0,
            y + 4.0,
            number(v)
        );
    }
    let every = labels.len().div_ceil(8).max(1);
    for (i, label) in labels.iter().enumerate() {
        let x0 = LEFT + group_w * i as f64 + group_w * 0.1;
        for (k, s) in series.iter().enumerate() {
            let v = s.values.get(i).copied().unwrap_or(0.0);
            let h = plot_h * v / max;
            let x = x0 + bar_w * k as f64;
            let _ = write!(
                svg,
                "<rect class=\"{}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\"><title>{}: {} {}</title></rect>",
                escape(s.class),
                TOP + plot_h - h,
                (bar_w - 1.0).max(0.5),
                escape(label),
                number(v),
                escape(s.name)
            );
        }
        if i % every == 0 {
            let _ = write!(
                svg,
                "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x0 + group_w * 0.4,
                H - BOTTOM + 16.0,
                escape(label)
            );
        }
    }
    for (k, s) in series.iter().enumerate() {
        let x = LEFT + 130.0 * k as f64;
        let _ = write!(
            svg,
            "<rect class=\"{}\" x=\"{x}\" y=\"{}\" width=\"10\" height=\"10\"/><text class=\"axis\" x=\"{}\" y=\"{}\">{}</text>",
            escape(s.class),
            H - 12.0,
            x + 14.0,
            H - 3.0,
            escape(s.name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars: a histogram over named buckets.
pub fn histogram(title: &str, labels: &[&str], values: &[usize], class: &str) -> String {
    let max = nice_max(values.iter().copied().max().unwrap_or(0).max(4) as f64);
    let row = 24.0;
    let left = 96.0;
    let h = row * labels.len() as f64 + 8.0;
    let plot_w = W / 2.0 - left - 40.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart half\" viewBox=\"0 0 {} {h}\" role=\"img\" aria-label=\"{}\"><title>{}</title>",
        W / 2.0,
        escape(title),
        escape(title)
    );
    for (i, (label, v)) in labels.iter().zip(values).enumerate() {
        let y = 4.0 + row * i as f64;
        let w = plot_w * (*v as f64) / max;
        let _ = write!(
            svg,
            "<text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect class=\"{}\" x=\"{left}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{}\"/><text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\">{v}</text>",
            left - 6.0,
            y + 15.0,
            escape(label),
            escape(class),
            row - 6.0,
            left + w + 4.0,
            y + 15.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Weekday × hour grid; darker cells had more conversations.
pub fn heatmap(title: &str, grid: &[Vec<usize>]) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let max = grid.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
    let cell = 26.0;
    let left = 40.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart\" viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\"><title>{}</title>",
        left + cell * 24.0 + 4.0,
        cell * 7.0 + 22.0,
        escape(title),
        escape(title)
    );
    for (d, row) in grid.iter().enumerate().take(7) {
        let y = cell * d as f64;
        let _ = write!(
            svg,
            "<text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            y + 17.0,
            DAYS[d]
        );
        for (h, n) in row.iter().enumerate().take(24) {
            // Presentation attributes, not inline styles: allowed under `style-src 'self'`.
            let opacity = if *n == 0 {
                0.0
            } else {
                0.15 + 0.85 * (*n as f64) / max
            };
            let _ = write!(
                svg,
                "<rect class=\"cell\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{}\" height=\"{}\" fill-opacity=\"{opacity:.2}\"><title>{} {h:02}:00 — {n}</title></rect>",
                left + cell * h as f64,
                cell - 2.0,
                cell - 2.0,
                DAYS[d]
            );
        }
    }
    for h in (0..24).step_by(3) {
        let _ = write!(
            svg,
            "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\">{h:02}</text>",
            left + cell * f64::from(h),
            cell * 7.0 + 16.0
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        let svg = bars(
            "<script>",
            &["<b>&\"x\"".into()],
            &[Series {
                name: "a'b",
                class: "s1",
                values: &[3.0],
            }],
        );
        assert!(!svg.contains("<script>") && !svg.contains("<b>"));
        assert!(svg.contains("&lt;b&gt;&amp;&quot;x&quot;") && svg.contains("a&#39;b"));
    }

    #[test]
    fn axes_round_up_to_tidy_numbers() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(13.0), 20.0);
        assert_eq!(nice_max(450.0), 500.0);
    }

    #[test]
    fn empty_data_draws_an_empty_chart() {
        let svg = heatmap("none", &vec![vec![0; 24]; 7]);
        assert_eq!(svg.matches("<rect").count(), 7 * 24);
        assert!(svg.contains("fill-opacity=\"0.00\""));
        let h = histogram("none", &["a", "b"], &[0, 0], "s1");
        assert!(h.contains("width=\"0.0\""));
    }
}
