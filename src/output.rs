//! Rendering helpers shared by the commands: tables (comfy-table), JSON, CSV and number
//! formatting. Everything writes to the `Write` it is given; nothing here decides what to show.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use comfy_table::presets::{ASCII_MARKDOWN, UTF8_FULL_CONDENSED};
use comfy_table::{Cell, CellAlignment, ColumnConstraint, ContentArrangement, Table, Width};
use serde::Serialize;

/// Tables are written as Markdown (`--format markdown`); set once per run by the command layer.
static MARKDOWN: AtomicBool = AtomicBool::new(false);

/// Makes every table of this run Markdown (`true`) or terminal tables.
pub fn set_markdown(on: bool) {
    MARKDOWN.store(on, Ordering::Relaxed);
}

/// A table with spillway's look: condensed UTF-8 borders, header row, columns right-aligned
/// where `numeric[i]` is true. On a terminal, cells wrap so that the table fits its width
/// (piped output keeps whole lines); with `--format markdown`, a Markdown table.
pub fn table(header: &[&str], numeric: &[bool]) -> Table {
    let mut t = Table::new();
    if MARKDOWN.load(Ordering::Relaxed) {
        t.load_preset(ASCII_MARKDOWN)
            .set_content_arrangement(ContentArrangement::Disabled);
    } else {
        t.load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic);
    }
    t.set_header(header.iter().map(Cell::new));
    for (i, &n) in numeric.iter().enumerate() {
        if n && let Some(col) = t.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

/// Writes `value` as pretty JSON followed by a newline.
pub fn write_json<T: Serialize>(out: &mut dyn Write, value: &T) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

/// Writes a table followed by a newline (Markdown tables also after an empty line, so that
/// they never run into the text before them).
///
/// On a terminal too narrow for the table even with every cell wrapped between words, the
/// columns are written in panels, each led by the first column again, as pandas and R print
/// wide frames, so that rows stay side by side; where the first column and another cannot
/// stand side by side, each row is a block of its own — field names down the left, values on
/// the right — as `psql`'s expanded display does. The terminal never folds a table's lines
/// into one another. Piped output keeps the full table.
pub fn write_table(out: &mut dyn Write, t: &Table) -> std::io::Result<()> {
    if MARKDOWN.load(Ordering::Relaxed) {
        return writeln!(out, "\n{}", markdown_alignment(&t.to_string()));
    }
    let widths = word_widths(t);
    let t = with_min_widths(t, &widths);
    let Some(width) = t.width() else {
        return writeln!(out, "{t}");
    };
    let parts = if table_width(&widths) <= width as usize {
        vec![t]
    } else {
        panels(&t, &widths, width as usize).unwrap_or_else(|| expanded(&t, width))
    };
    for part in parts {
        writeln!(out, "{part}")?;
    }
    Ok(())
}

/// The width of a table whose columns are `widths` wide: each column adds its padding (2) and
/// a border (1), the table one border more.
fn table_width(widths: &[usize]) -> usize {
    widths.iter().map(|w| w + 3).sum::<usize>() + 1
}

/// `t` split into tables of the first column and as many of the next ones as fit in `width`
/// (at their narrowest); None when the first column and some other one do not fit together.
fn panels(t: &Table, widths: &[usize], width: usize) -> Option<Vec<Table>> {
    let (first, rest) = widths.split_first()?;
    let lead = table_width(&[*first]);
    let mut groups: Vec<Vec<usize>> = vec![Vec::new()];
    let mut used = lead;
    for (i, w) in rest.iter().enumerate().map(|(i, w)| (i + 1, w + 3)) {
        if lead + w > width {
            return None;
        }
        if used + w > width {
            groups.push(Vec::new());
            used = lead;
        }
        groups.last_mut()?.push(i);
        used += w;
    }
    Some(
        groups
            .into_iter()
            .map(|cols| {
                let mut p = t.clone();
                for i in 1..widths.len() {
                    if !cols.contains(&i)
                        && let Some(col) = p.column_mut(i)
                    {
                        col.set_constraint(ColumnConstraint::Hidden);
                    }
                }
                p
            })
            .collect(),
    )
}

/// `t`'s rows as two-column tables (field, value) of at most `width` columns where the words
/// allow it; a table with no rows stays its header.
fn expanded(t: &Table, width: u16) -> Vec<Table> {
    if t.row_iter().next().is_none() {
        return vec![t.clone()];
    }
    let names: Vec<String> = t
        .header()
        .map(|h| h.cell_iter().map(|c| c.content()).collect())
        .unwrap_or_default();
    let name = |i: usize| {
        names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("column {}", i + 1))
    };
    let mut blocks: Vec<Table> = t
        .row_iter()
        .map(|row| {
            let cells: Vec<String> = row.cell_iter().map(|c| c.content()).collect();
            let mut block = Table::new();
            block
                .load_preset(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(width);
            let mut cells = cells.into_iter().enumerate();
            if let Some((i, first)) = cells.next() {
                block.set_header([name(i), first]);
            }
            for (i, value) in cells {
                block.add_row([name(i), value]);
            }
            block
        })
        .collect();
    // One width for all blocks: the names' column as wide as its longest name, the values'
    // as its longest line where the terminal has room, and never narrower than a word.
    let widest = |f: fn(&Table) -> Vec<usize>| {
        blocks.iter().map(f).fold(vec![0, 0], |a, b| {
            (0..2)
                .map(|i| a[i].max(b.get(i).copied().unwrap_or(0)))
                .collect::<Vec<_>>()
        })
    };
    let (words, lines) = (widest(word_widths), widest(line_widths));
    let names_w = lines[0]
        .min((width as usize).saturating_sub(words[1] + 7))
        .max(words[0]);
    let values_w = lines[1]
        .min((width as usize).saturating_sub(names_w + 7))
        .max(words[1]);
    blocks.iter_mut().for_each(|b| {
        for (i, w) in [names_w, values_w].into_iter().enumerate() {
            if let Some(col) = b.column_mut(i) {
                col.set_constraint(ColumnConstraint::Absolute(Width::Fixed(w as u16 + 2)));
            }
        }
    });
    blocks
}

/// The longest line of each column of `t` (header included).
fn line_widths(t: &Table) -> Vec<usize> {
    column_max(t, |content| {
        content.lines().map(|l| l.chars().count()).max()
    })
}

/// The longest word of each column of `t` (header included), up to `MAX_WORD` characters.
fn word_widths(t: &Table) -> Vec<usize> {
    const MAX_WORD: usize = 32;
    column_max(t, |content| {
        content
            .split_whitespace()
            .map(|w| w.chars().count().min(MAX_WORD))
            .max()
    })
}

/// `measure` of each column's cells (header included), the largest per column.
fn column_max(t: &Table, measure: impl Fn(&str) -> Option<usize>) -> Vec<usize> {
    let mut widths: Vec<usize> = Vec::new();
    for row in t.header().into_iter().chain(t.row_iter()) {
        for (i, cell) in row.cell_iter().enumerate() {
            let m = measure(&cell.content()).unwrap_or(0);
            if widths.len() <= i {
                widths.resize(i + 1, 0);
            }
            widths[i] = widths[i].max(m);
        }
    }
    widths
}

/// `t` with column `i` at least `widths[i]` characters wide (comfy-table counts the padding
/// in).
fn with_min_widths(t: &Table, widths: &[usize]) -> Table {
    let mut t = t.clone();
    for (i, &w) in widths.iter().enumerate() {
        if let Some(col) = t.column_mut(i) {
            col.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(w as u16 + 2)));
        }
    }
    t
}

/// Marks right-aligned columns in a Markdown table's delimiter row (`---:`): comfy-table pads
/// them on the left, which Markdown renderers ignore. A column is right-aligned when some cell
/// of it is padded on the left and not on the right.
fn markdown_alignment(table: &str) -> String {
    let lines: Vec<&str> = table.lines().collect();
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(str::to_string)
            .collect()
    };
    let Some(delimiter) = lines.get(1) else {
        return table.to_string();
    };
    let mut right = vec![false; cells(delimiter).len()];
    for line in lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| l)
    {
        for (c, cell) in cells(line).iter().enumerate().take(right.len()) {
            let padded_left = cell.starts_with("  ");
            let tight_right = cell.ends_with(' ') && !cell.trim_end().ends_with(' ');
            if padded_left && tight_right && cell.trim_end().len() + 1 == cell.len() {
                right[c] = true;
            }
        }
    }
    let delim: Vec<String> = cells(delimiter)
        .iter()
        .zip(&right)
        .map(|(d, &r)| {
            if r {
                format!("{}:", &d[..d.len().saturating_sub(1)])
            } else {
                d.clone()
            }
        })
        .collect();
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    out[1] = format!("|{}|", delim.join("|"));
    out.join("\n")
}

/// A CSV writer over `out`.
pub fn csv_writer(out: &mut dyn Write) -> csv::Writer<&mut dyn Write> {
    csv::WriterBuilder::new().from_writer(out)
}

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Signed variant of [`thousands`].
pub fn thousands_i(n: i64) -> String {
    if n < 0 {
        format!("-{}", thousands(n.unsigned_abs()))
    } else {
        thousands(n as u64)
    }
}

/// A float with thousands separators and `decimals` decimals.
pub fn thousands_f(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let s = format!("{:.*}", decimals, x.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let int: u64 = int.parse().unwrap_or(0);
    let sign = if x < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{}", thousands(int))
    } else {
        format!("{sign}{}.{frac}", thousands(int))
    }
}

/// A USD amount, the one money format of every table: cents with thousands separators
/// (`$1,234.56`, `−$12.00`); an amount that is not zero but rounds to no cent reads `<$0.01`,
/// so a column never mixes precisions and never shows a cost as nothing.
pub fn usd(x: f64) -> String {
    let sign = if x < 0.0 { "−" } else { "" };
    let a = x.abs();
    if a == 0.0 || !a.is_finite() {
        return format!("${}", thousands_f(a, 2));
    }
    if a < 0.005 {
        return format!("{sign}<$0.01");
    }
    format!("{sign}${}", thousands_f(a, 2))
}

/// A column of USD amounts in one precision: cents, or as many decimals (up to 6) as its
/// smallest non-zero amount needs to show two significant digits, for columns of per-request
/// costs (`$0.0200` beside `$0.0043`, never `$0.02` beside `$0.004311`). `None` reads `–`.
pub fn usd_column(values: &[Option<f64>]) -> Vec<String> {
    let smallest = values
        .iter()
        .flatten()
        .map(|x| x.abs())
        .filter(|&x| x > 0.0 && x.is_finite())
        .fold(f64::INFINITY, f64::min);
    let mut decimals = 2;
    while decimals < 6 && smallest < 10f64.powi(1 - decimals as i32) {
        decimals += 1;
    }
    values
        .iter()
        .map(|v| match v {
            None => "–".to_string(),
            Some(x) => {
                let sign = if *x < 0.0 { "−" } else { "" };
                format!("{sign}${}", thousands_f(x.abs(), decimals))
            }
        })
        .collect()
}

/// [`usd`] of an exact decimal amount already rounded to cents (`"1234.56"`, `"-0.50"`).
pub fn usd_cents(s: &str) -> String {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let neg = int.starts_with('-') && s.chars().any(|c| c.is_ascii_digit() && c != '0');
    let digits = int.trim_start_matches('-');
    let grouped = thousands(digits.parse().unwrap_or(0));
    format!(
        "{}${grouped}.{:0<2}",
        if neg { "−" } else { "" },
        &frac[..frac.len().min(2)]
    )
}

/// `s` cut to at most `max` characters, with an ellipsis and the length when cut: user values
/// quoted in messages stay readable whatever their size.
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((end, _)) => format!("{}… ({} bytes)", &s[..end], s.len()),
    }
}

/// `part` of `whole` as a percentage with as many decimals as it takes never to round a
/// failure away: 19,357 of 19,366 is "99.95%", not "100.0%"; 1 of 100,000 is "0.001%".
pub fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".into();
    }
    let p = part as f64 / whole as f64 * 100.0;
    let mut d = 1;
    loop {
        let s = format!("{p:.d$}");
        let rounded_to_all = part < whole && s.parse::<f64>().is_ok_and(|v| v >= 100.0);
        let rounded_to_none = part > 0 && s.parse::<f64>().is_ok_and(|v| v == 0.0);
        if d >= 6 || !(rounded_to_all || rounded_to_none) {
            return format!("{s}%");
        }
        d += 1;
    }
}

/// A ratio (1.0 = 100%) as a percentage with the decimals it takes to show a small non-zero
/// value as non-zero: 0.001 → "0.1%", 0.0004 → "0.04%", 0.25 → "25.0%".
pub fn pct_fine(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let p = x * 100.0;
    let mut d = 1;
    while d < 4 && p != 0.0 && format!("{p:.d$}").parse::<f64>().is_ok_and(|v| v == 0.0) {
        d += 1;
    }
    format!("{p:.d$}%")
}

/// A ratio (1.0 = 100%) as a percentage with one decimal.
pub fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// A duration in words a person reads at a glance: "0.4 s", "42 s", "58 min 12 s",
/// "3 h 05 min", "2 d 4 h".
pub fn duration(us: i64) -> String {
    let s = us.max(0) as f64 / 1e6;
    if s < 10.0 {
        return format!("{s:.1} s");
    }
    let s = s.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3_600 => format!("{} min {} s", s / 60, s % 60),
        3_600..86_400 => format!("{} h {:02} min", s / 3_600, s % 3_600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3_600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_tables_mark_numeric_columns_right_aligned() {
        let md = markdown_alignment(
            "| name  | count |\n|-------|-------|\n| a     |     5 |\n| bb    | 1,234 |",
        );
        assert_eq!(md.lines().nth(1), Some("|-------|------:|"));
    }

    fn render(t: &Table) -> String {
        let mut out = Vec::new();
        write_table(&mut out, t).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn wide_table(width: u16) -> Table {
        let mut t = table(
            &[
                "deployment",
                "sku",
                "capacity",
                "attempts",
                "tokens",
                "cost",
            ],
            &[false, false, true, true, true, true],
        );
        t.add_row(["ptu-swedencentral", "GlobalProvisionedManaged", "250 PTU"])
            .add_row([
                "payg-eastus",
                "GlobalStandard",
                "450K TPM",
                "440",
                "660,504",
                "$2.10",
            ]);
        t.set_width(width);
        t
    }

    #[test]
    fn a_table_that_fits_the_terminal_is_one_table() {
        let out = render(&wide_table(200));
        assert_eq!(out.lines().filter(|l| l.starts_with('┌')).count(), 1);
        assert!(out.lines().any(|l| l.contains("GlobalProvisionedManaged")));
    }

    #[test]
    fn a_table_wider_than_the_terminal_is_split_into_panels_led_by_its_first_column() {
        let out = render(&wide_table(60));
        assert!(out.lines().all(|l| l.chars().count() <= 60), "{out}");
        assert_eq!(
            out.lines().filter(|l| l.starts_with('┌')).count(),
            2,
            "{out}"
        );
        assert_eq!(out.matches("deployment").count(), 2, "{out}");
        assert_eq!(out.matches("payg-eastus").count(), 2, "{out}");
        // Rows stay side by side, and every value is written once.
        let second = out.split('┌').nth(2).unwrap();
        assert!(
            second.contains("ptu-swedencentral") && second.contains("660,504"),
            "{out}"
        );
        assert_eq!(out.matches("GlobalStandard").count(), 1, "{out}");
    }

    #[test]
    fn a_table_whose_columns_cannot_stand_beside_the_first_becomes_a_block_per_row() {
        let out = render(&wide_table(45));
        assert!(out.lines().all(|l| l.chars().count() <= 45), "{out}");
        assert_eq!(out.lines().filter(|l| l.starts_with('┌')).count(), 2);
        // Each block is titled by its first column; missing cells are left out.
        assert!(out.contains("│ deployment ┆ ptu-swedencentral"), "{out}");
        assert!(out.contains("│ tokens     ┆ 660,504"), "{out}");
        assert!(!out.contains("column 7"));
        assert_eq!(out.matches("tokens").count(), 1, "{out}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn word() -> impl Strategy<Value = String> {
            "[a-z0-9,.$%]{1,12}"
        }

        fn cell() -> impl Strategy<Value = String> {
            proptest::collection::vec(word(), 1..4).prop_map(|w| w.join(" "))
        }

        proptest! {
            /// A terminal too narrow for any word still gets every table, without a panic.
            #[test]
            fn any_terminal_width_renders(
                header in proptest::collection::vec(cell(), 1..6),
                rows in proptest::collection::vec(proptest::collection::vec(cell(), 1..6), 0..3),
                width in 0u16..31,
            ) {
                let mut t = table(&header.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
                for r in &rows {
                    t.add_row(r.iter().take(header.len()));
                }
                t.set_width(width);
                prop_assert!(render(&t).contains(header[0].split(' ').next().unwrap_or("")));
            }

            /// Whatever the terminal's width (room for the longest field name and word beside
            /// each other), no line is wider, and every word of every cell is written.
            #[test]
            fn every_table_fits_its_terminal_and_loses_no_word(
                header in proptest::collection::vec(cell(), 1..14),
                rows in proptest::collection::vec(proptest::collection::vec(cell(), 1..14), 0..5),
                width in 31u16..200,
            ) {
                let mut t = table(
                    &header.iter().map(String::as_str).collect::<Vec<_>>(),
                    &[true, false, true],
                );
                for r in &rows {
                    t.add_row(r.iter().take(header.len()));
                }
                t.set_width(width);
                let out = render(&t);
                for line in out.lines() {
                    prop_assert!(line.chars().count() <= width as usize, "{line}\n{out}");
                }
                let words: Vec<&str> = out.split(|c: char| !c.is_alphanumeric() && !",.$%".contains(c)).collect();
                // Every word of every cell; a table with no rows keeps its header.
                let cells = rows.iter().flat_map(|r| r.iter().take(header.len()));
                let cells: Vec<&String> = if rows.is_empty() { header.iter().collect() } else { cells.collect() };
                for c in cells {
                    for w in c.split_whitespace() {
                        prop_assert!(words.contains(&w), "{w} missing:\n{out}");
                    }
                }
            }
        }
    }

    #[test]
    fn money_reads_in_cents_everywhere() {
        assert_eq!(usd(1234.5), "$1,234.50");
        assert_eq!(usd(0.02), "$0.02");
        assert_eq!(usd(0.004311), "<$0.01");
        assert_eq!(usd(0.0), "$0.00");
        assert_eq!(usd(-12.0), "−$12.00");
        assert_eq!(usd_cents("1234.56"), "$1,234.56");
        assert_eq!(usd_cents("-0.50"), "−$0.50");
        assert_eq!(usd_cents("-0.00"), "$0.00");
        assert_eq!(usd_cents("7"), "$7.00");
        assert_eq!(usd_cents("1000000.1"), "$1,000,000.10");
        assert_eq!(
            usd_column(&[Some(0.02), Some(0.004311), None, Some(0.0)]),
            ["$0.0200", "$0.0043", "–", "$0.0000"]
        );
        assert_eq!(
            usd_column(&[Some(12.5), Some(1234.0)]),
            ["$12.50", "$1,234.00"]
        );
        assert_eq!(usd_column(&[Some(0.00000077)]), ["$0.000001"]);
    }

    #[test]
    fn shares_never_round_a_failure_away() {
        assert_eq!(share(19_357, 19_366), "99.95%");
        assert_eq!(share(1, 100_000), "0.001%");
        assert_eq!(share(5, 10), "50.0%");
        assert_eq!(share(10, 10), "100.0%");
        assert_eq!(share(0, 10), "0.0%");
        assert_eq!(share(999_999, 1_000_000), "99.9999%");
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(400_000), "0.4 s");
        assert_eq!(duration(3_492_000_000), "58 min 12 s");
        assert_eq!(duration(11_100_000_000), "3 h 05 min");
        assert_eq!(duration(187_200_000_000), "2 d 4 h");
    }

    #[test]
    fn clips_long_values() {
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip(&"x".repeat(9_000_000), 3), "xxx… (9000000 bytes)");
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands_i(-1234), "-1,234");
        assert_eq!(thousands_f(1234.5678, 1), "1,234.6");
        assert_eq!(usd(0.000005), "<$0.01");
        assert_eq!(usd(1234.5), "$1,234.50");
    }
}
