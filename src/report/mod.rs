//! The architect's capacity report as a document: sections of paragraphs, tables and charts,
//! rendered to one self-contained HTML file (inline CSS and SVG; nothing loaded from the
//! network, readable offline and in print) or to Markdown with the charts as SVG files beside
//! it. Charts are drawn by [`charts`] (plotters' SVG backend). The command layer decides what
//! goes in; this module only lays it out.

pub mod charts;

/// A piece of a section.
pub enum Block {
    Para(String),
    /// A paragraph set apart (a note, an assumption).
    Note(String),
    List(Vec<String>),
    Table {
        head: Vec<String>,
        rows: Vec<Vec<String>>,
        /// Right-align these columns (numbers).
        numeric: Vec<bool>,
    },
    Chart {
        /// File stem of the chart in Markdown output.
        id: String,
        svg: String,
        caption: String,
    },
}

pub struct Section {
    pub id: String,
    pub title: String,
    pub blocks: Vec<Block>,
}

pub struct Report {
    pub title: String,
    /// One line under the title: what was planned, from what.
    pub subtitle: String,
    /// The recommendation in one sentence.
    pub lead: String,
    pub sections: Vec<Section>,
    /// Footer: tool, version, date of the catalog.
    pub footer: String,
}

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            _ => o.push(c),
        }
    }
    o
}

const CSS: &str = "
:root { color-scheme: light; }
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #1d1d1f;
  max-width: 1040px; margin: 2rem auto; padding: 0 1.5rem; line-height: 1.5; font-size: 15px; }
h1 { font-size: 1.7rem; margin-bottom: .2rem; }
.subtitle { color: #555; margin-top: 0; }
.lead { font-size: 1.15rem; background: #f2f7fb; border-left: 5px solid #0072b2;
  padding: .9rem 1.1rem; margin: 1.2rem 0 1.6rem; }
nav { font-size: .9rem; margin-bottom: 1.5rem; }
nav a { color: #0072b2; margin-right: .9rem; text-decoration: none; white-space: nowrap; }
h2 { font-size: 1.3rem; border-bottom: 1px solid #ddd; padding-bottom: .25rem; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: .8rem 0 1.2rem; font-size: .88rem; width: 100%; }
th, td { border: 1px solid #d7d7d7; padding: .3rem .5rem; vertical-align: top; }
th { background: #f4f4f4; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1rem 0 1.6rem; }
figure svg { width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .85rem; color: #555; margin-top: .3rem; }
.note { font-size: .9rem; color: #444; background: #fafafa; border-left: 3px solid #bbb;
  padding: .4rem .8rem; }
footer { margin-top: 3rem; font-size: .8rem; color: #777; border-top: 1px solid #ddd; padding-top: .6rem; }
@media print { body { margin: 0; max-width: none; font-size: 11pt; } nav { display: none; }
  h2 { break-after: avoid; } figure, table { break-inside: avoid; } .lead { border-left-color: #000; } }
";

/// The report as one self-contained HTML file.
pub fn html(r: &Report) -> String {
    let mut o = String::new();
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    o.push_str(&format!(
        "<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(&r.title)
    ));
    o.push_str(&format!(
        "<h1>{}</h1>\n<p class=\"subtitle\">{}</p>\n",
        esc(&r.title),
        esc(&r.subtitle)
    ));
    o.push_str(&format!("<p class=\"lead\">{}</p>\n<nav>", esc(&r.lead)));
    for s in &r.sections {
        o.push_str(&format!(
            "<a href=\"#{}\">{}</a>",
            esc(&s.id),
            esc(&s.title)
        ));
    }
    o.push_str("</nav>\n");
    for s in &r.sections {
        o.push_str(&format!(
            "<section id=\"{}\">\n<h2>{}</h2>\n",
            esc(&s.id),
            esc(&s.title)
        ));
        for b in &s.blocks {
            match b {
                Block::Para(t) => o.push_str(&format!("<p>{}</p>\n", esc(t))),
                Block::Note(t) => o.push_str(&format!("<p class=\"note\">{}</p>\n", esc(t))),
                Block::List(items) => {
                    o.push_str("<ul>\n");
                    for i in items {
                        o.push_str(&format!("<li>{}</li>\n", esc(i)));
                    }
                    o.push_str("</ul>\n");
                }
                Block::Table {
                    head,
                    rows,
                    numeric,
                } => {
                    let cls = |i: usize| {
                        if numeric.get(i).copied().unwrap_or(false) {
                            " class=\"n\""
                        } else {
                            ""
                        }
                    };
                    o.push_str("<table>\n<thead><tr>");
                    for (i, h) in head.iter().enumerate() {
                        o.push_str(&format!("<th{}>{}</th>", cls(i), esc(h)));
                    }
                    o.push_str("</tr></thead>\n<tbody>\n");
                    for row in rows {
                        o.push_str("<tr>");
                        for (i, c) in row.iter().enumerate() {
                            o.push_str(&format!("<td{}>{}</td>", cls(i), esc(c)));
                        }
                        o.push_str("</tr>\n");
                    }
                    o.push_str("</tbody>\n</table>\n");
                }
                Block::Chart { svg, caption, .. } => {
                    o.push_str("<figure>\n");
                    // The SVG's own XML declaration is not allowed inside HTML.
                    let body = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
                    o.push_str(body);
                    o.push_str(&format!(
                        "\n<figcaption>{}</figcaption>\n</figure>\n",
                        esc(caption)
                    ));
                }
            }
        }
        o.push_str("</section>\n");
    }
    o.push_str(&format!(
        "<footer>{}</footer>\n</body>\n</html>\n",
        esc(&r.footer)
    ));
    o
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The report as Markdown, with each chart as an SVG file in `chart_dir` (returned as
/// (file name, SVG) to write), linked by a relative path.
pub fn markdown(r: &Report, chart_dir: &str) -> (String, Vec<(String, String)>) {
    let mut o = String::new();
    let mut files = Vec::new();
    o.push_str(&format!(
        "# {}\n\n{}\n\n> {}\n\n",
        r.title, r.subtitle, r.lead
    ));
    for s in &r.sections {
        o.push_str(&format!("## {}\n\n", s.title));
        for b in &s.blocks {
            match b {
                Block::Para(t) => o.push_str(&format!("{t}\n\n")),
                Block::Note(t) => o.push_str(&format!("> {t}\n\n")),
                Block::List(items) => {
                    for i in items {
                        o.push_str(&format!("- {i}\n"));
                    }
                    o.push('\n');
                }
                Block::Table {
                    head,
                    rows,
                    numeric,
                } => {
                    o.push_str(&format!(
                        "| {} |\n|{}|\n",
                        head.iter()
                            .map(|h| md_cell(h))
                            .collect::<Vec<_>>()
                            .join(" | "),
                        head.iter()
                            .enumerate()
                            .map(|(i, _)| if numeric.get(i).copied().unwrap_or(false) {
                                "---:"
                            } else {
                                "---"
                            })
                            .collect::<Vec<_>>()
                            .join("|")
                    ));
                    for row in rows {
                        o.push_str(&format!(
                            "| {} |\n",
                            row.iter()
                                .map(|c| md_cell(c))
                                .collect::<Vec<_>>()
                                .join(" | ")
                        ));
                    }
                    o.push('\n');
                }
                Block::Chart { id, svg, caption } => {
                    let name = format!("{id}.svg");
                    o.push_str(&format!(
                        "![{}]({chart_dir}/{name})\n\n*{}*\n\n",
                        md_cell(caption),
                        caption
                    ));
                    files.push((name, svg.clone()));
                }
            }
        }
    }
    o.push_str(&format!("---\n{}\n", r.footer));
    (o, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            title: "Capacity <plan>".into(),
            subtitle: "from a trace".into(),
            lead: "245 PTU & spillover".into(),
            sections: vec![Section {
                id: "s".into(),
                title: "S".into(),
                blocks: vec![
                    Block::Para("p".into()),
                    Block::Table {
                        head: vec!["a".into(), "b".into()],
                        rows: vec![vec!["x|y".into(), "1".into()]],
                        numeric: vec![false, true],
                    },
                    Block::Chart {
                        id: "c".into(),
                        svg: "<?xml version=\"1.0\"?><svg></svg>".into(),
                        caption: "cap".into(),
                    },
                ],
            }],
            footer: "f".into(),
        }
    }

    #[test]
    fn html_escapes_text_and_inlines_charts() {
        let h = html(&sample());
        assert!(h.contains("Capacity &lt;plan&gt;"));
        assert!(h.contains("245 PTU &amp; spillover"));
        assert!(h.contains("<figure>\n<svg></svg>"));
        assert!(!h.contains("<?xml"));
        assert!(h.contains("<td class=\"n\">1</td>"));
    }

    #[test]
    fn markdown_writes_charts_beside_it() {
        let (md, files) = markdown(&sample(), "report-charts");
        assert!(md.contains("![cap](report-charts/c.svg)"));
        assert!(md.contains("| x\\|y | 1 |"));
        assert_eq!(files.len(), 1);
    }
}
