//! Charts as SVG strings, drawn with plotters' SVG backend (text is left to the viewer's
//! sans-serif font, so no font files are needed). Every chart labels both axes with units.

use plotters::coord::Shift;
use plotters::prelude::*;

/// Width and height of a chart in SVG pixels (it scales with the page).
pub const SIZE: (u32, u32) = (960, 340);

/// spillway's palette (distinct in print and for common colour-vision deficiencies).
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
];
/// Reference lines (capacity, thresholds).
pub const REFERENCE: RGBColor = RGBColor(200, 30, 30);

/// A named series of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A labelled horizontal line.
pub struct HLine {
    pub name: String,
    pub y: f64,
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("drawing a chart: {e:?}")
}

/// "08:30" for minutes since midnight UTC of `day0_us`.
pub fn clock(minutes_since_start: f64, start_us: i64) -> String {
    let us = start_us + (minutes_since_start * 60e6) as i64;
    let m = us.div_euclid(60_000_000).rem_euclid(24 * 60);
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// A number for an axis: 1,200 → "1.2k", 3,400,000 → "3.4M".
pub fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn frame(svg: &mut String) -> DrawingArea<SVGBackend<'_>, Shift> {
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    let _ = root.fill(&WHITE);
    root
}

/// Lines over time: `x` in minutes since `start_us`, labelled as UTC clock times.
pub fn over_time(
    title: &str,
    y_desc: &str,
    start_us: i64,
    series: &[Series],
    hlines: &[HLine],
    stacked_area: bool,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = frame(&mut svg);
        let x_max = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .fold(1.0f64, f64::max);
        let y_top = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .chain(hlines.iter().map(|h| h.y))
            .fold(0.0f64, f64::max);
        let y_max = if y_top > 0.0 { y_top * 1.1 } else { 1.0 };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(235, 235, 235))
            .x_desc("time (UTC)")
            .y_desc(y_desc)
            .x_label_formatter(&|x| clock(*x, start_us))
            .y_label_formatter(&|y| short(*y))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .map_err(err)?;
        for (i, s) in series.iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            if stacked_area {
                chart
                    .draw_series(
                        AreaSeries::new(s.points.iter().copied(), 0.0, c.mix(0.35))
                            .border_style(c.stroke_width(2)),
                    )
                    .map_err(err)?
                    .label(s.name.clone())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 6), (x + 18, y + 6)], c.filled())
                    });
            } else {
                chart
                    .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))
                    .map_err(err)?
                    .label(s.name.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3))
                    });
            }
        }
        for (i, h) in hlines.iter().enumerate() {
            // The first reference line in red, the others in greys, dashed.
            let c = if i == 0 {
                REFERENCE
            } else {
                RGBColor(110, 110, 110)
            };
            let style = c.stroke_width(2);
            if i == 0 {
                chart
                    .draw_series(LineSeries::new([(0.0, h.y), (x_max, h.y)], style))
                    .map_err(err)?
            } else {
                chart
                    .draw_series(DashedLineSeries::new(
                        [(0.0, h.y), (x_max, h.y)],
                        10,
                        6,
                        style,
                    ))
                    .map_err(err)?
            }
            .label(h.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A histogram: `bins` of (low, high, count).
pub fn histogram(title: &str, x_desc: &str, bins: &[(f64, f64, u64)]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = frame(&mut svg);
        let x_min = bins.first().map_or(0.0, |b| b.0);
        let x_max = bins.last().map_or(1.0, |b| b.1).max(x_min + 1.0);
        let y_max = bins.iter().map(|b| b.2).max().unwrap_or(1).max(1) as f64 * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(x_min..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(RGBColor(235, 235, 235))
            .x_desc(x_desc)
            .y_desc("requests")
            .x_label_formatter(&|x| short(*x))
            .y_label_formatter(&|y| short(*y))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .map_err(err)?;
        let c = PALETTE[0];
        chart
            .draw_series(bins.iter().map(|&(lo, hi, n)| {
                Rectangle::new([(lo, 0.0), (hi, n as f64)], c.mix(0.7).filled())
            }))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A marked point on a curve.
pub struct Mark {
    pub name: String,
    pub x: f64,
    pub y: f64,
}

/// The cost curve: monthly cost against PTUs up to `x_limit`, candidates that miss the service
/// level hollow, the marks named.
pub fn cost_curve(
    title: &str,
    meeting: &[(f64, f64)],
    missing: &[(f64, f64)],
    marks: &[Mark],
    x_limit: f64,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = frame(&mut svg);
        let inside = |p: &&(f64, f64)| p.0 <= x_limit;
        let meeting: Vec<(f64, f64)> = meeting.iter().filter(inside).copied().collect();
        let missing: Vec<(f64, f64)> = missing.iter().filter(inside).copied().collect();
        let all = meeting.iter().chain(&missing).copied();
        let x_max = all.clone().map(|p| p.0).fold(1.0f64, f64::max) * 1.05;
        let y_max = all.map(|p| p.1).fold(1.0f64, f64::max) * 1.15;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(235, 235, 235))
            .x_desc("PTUs of the sized deployment(s)")
            .y_desc("cost per month (USD)")
            .x_label_formatter(&|x| short(*x))
            .y_label_formatter(&|y| format!("${}", short(*y)))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .map_err(err)?;
        let mut line: Vec<(f64, f64)> = meeting.iter().chain(&missing).copied().collect();
        line.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(
                line,
                RGBColor(150, 150, 150).stroke_width(1),
            ))
            .map_err(err)?;
        let c = PALETTE[0];
        chart
            .draw_series(meeting.iter().map(|&p| Circle::new(p, 4, c.filled())))
            .map_err(err)?
            .label("meets the service level")
            .legend(move |(x, y)| Circle::new((x + 9, y), 4, c.filled()));
        chart
            .draw_series(
                missing
                    .iter()
                    .map(|&p| Circle::new(p, 4, c.stroke_width(1))),
            )
            .map_err(err)?
            .label("misses it")
            .legend(move |(x, y)| Circle::new((x + 9, y), 4, c.stroke_width(1)));
        for (i, m) in marks.iter().enumerate() {
            let mc = if i == 0 {
                REFERENCE
            } else {
                PALETTE[(i + 1) % PALETTE.len()]
            };
            chart
                .draw_series([Circle::new((m.x, m.y), 8, mc.stroke_width(3))])
                .map_err(err)?
                .label(m.name.clone())
                .legend(move |(x, y)| Circle::new((x + 9, y), 6, mc.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_their_axis_labels() {
        let s = Series {
            name: "requests".into(),
            points: (0..60).map(|m| (m as f64, (m % 7) as f64)).collect(),
        };
        let svg = over_time(
            "RPM",
            "requests per minute",
            0,
            &[s],
            &[HLine {
                name: "cap".into(),
                y: 5.0,
            }],
            false,
        )
        .unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("requests per minute") && svg.contains("time (UTC)"));
        let h = histogram(
            "prompts",
            "prompt tokens",
            &[(0.0, 10.0, 3), (10.0, 20.0, 5)],
        )
        .unwrap();
        assert!(h.contains("prompt tokens"));
        let c = cost_curve(
            "curve",
            &[(10.0, 100.0)],
            &[(0.0, 50.0)],
            &[Mark {
                name: "★".into(),
                x: 10.0,
                y: 100.0,
            }],
            100.0,
        )
        .unwrap();
        assert!(c.contains("cost per month (USD)"));
        assert_eq!(short(1_234.0), "1.2k");
        assert_eq!(clock(90.0, 0), "01:30");
    }
}
