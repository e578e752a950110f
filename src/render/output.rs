//! The one report layer every command shares. A command returns a typed result (a
//! [`CommandReport`]: `Serialize` for its JSON document, `JsonSchema` for the schema published
//! for it, and the tables people read, rendered from the same struct). [`Report::of`] turns it
//! into a [`Report`], and one [`Exporter`] per output format renders that. Commands never
//! print their results themselves, so `-o json` always yields exactly one document on stdout.

use anyhow::Result;
use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table as ComfyTable, presets::UTF8_FULL_CONDENSED};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::render::plot::Figure;

/// The version of every command's JSON document. It changes only when a field is renamed or
/// removed (adding fields keeps it), so a CI job can refuse a document it does not understand.
/// 2: `query`'s and `explain`'s statements come from a workload, so `query`'s `params` (three
/// fixed ids) became a list of each statement's parameters and their distributions.
pub const SCHEMA_VERSION: u32 = 2;

/// A command's typed result.
pub trait CommandReport: Serialize + JsonSchema {
    /// The command's name: the document's `command` field.
    const COMMAND: &'static str;

    /// The tables people read; the first is the main one (what `-o csv` prints).
    fn tables(&self) -> Vec<Table>;

    /// Short findings printed under the tables (table format only).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// Broken invariants found: the report is still printed, then the run exits with 3.
    fn violations(&self) -> Vec<String> {
        Vec::new()
    }

    /// The figures of this run, drawn with `--plot DIR` and by `concert-bench report`.
    fn figures(&self) -> Vec<Figure> {
        Vec::new()
    }
}

/// The JSON document of a command: its version and name, then the command's own fields.
#[derive(Serialize, JsonSchema)]
struct Document<'a, R> {
    /// The document's version ([`SCHEMA_VERSION`]).
    schema_version: u32,
    /// The command that made it.
    command: &'static str,
    #[serde(flatten)]
    report: &'a R,
}

/// The JSON Schema of a command's document, generated from its types (what `concert-bench
/// schema` prints and `schemas/` holds). `schema_version` and `command` are constants in it,
/// so a document of another command or version does not validate.
pub fn schema_of<R: CommandReport + 'static>() -> Value {
    let mut schema = schemars::schema_for!(Document<'static, R>).to_value();
    schema["title"] = Value::from(format!("concert-bench {} document", R::COMMAND));
    schema["properties"]["schema_version"] = serde_json::json!({ "const": SCHEMA_VERSION });
    schema["properties"]["command"] = serde_json::json!({ "const": R::COMMAND });
    schema
}

/// Output format, shared by all commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable tables.
    #[default]
    Table,
    /// Exactly one JSON document.
    Json,
    /// The main results table as CSV with a header row.
    Csv,
    /// Every table as GitHub Markdown (for a pull-request comment), then the notes.
    Markdown,
}

/// A rectangular table of already formatted cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: impl Into<String>, header: &[&str]) -> Self {
        Self {
            title: title.into(),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        debug_assert_eq!(row.len(), self.header.len());
        self.rows.push(row);
    }

    /// The "Ratios" table of a report's comparisons.
    pub fn ratios(comparisons: &[Ratio]) -> Self {
        let mut table = Self::new("Ratios", &["what", "ratio"]);
        for c in comparisons {
            table.push(vec![c.what.clone(), format!("{:.2}x", c.ratio)]);
        }
        table
    }
}

/// One measured thing against another in the same run (e.g. the tool against its anchor).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Ratio {
    pub what: String,
    pub ratio: f64,
}

/// What a command produced, ready to render: the machine-readable document and the tables
/// for people. The first table is the main one (the one `-o csv` prints).
#[derive(Debug, Clone)]
pub struct Report {
    pub json: Value,
    pub tables: Vec<Table>,
    /// Short findings printed under the tables (table format only).
    pub notes: Vec<String>,
    /// Broken invariants the command found. The report is still printed, then the run fails
    /// with exit code 3, so a CI job notices.
    pub violations: Vec<String>,
    /// Metrics worse than a baseline beyond the noise: the report is still printed, then the
    /// run fails with exit code 4.
    pub regressions: Vec<String>,
    pub figures: Vec<Figure>,
    /// Text printed as it is in every output format (`schema` prints a JSON Schema, not a
    /// document).
    pub verbatim: Option<String>,
}

impl Report {
    pub fn of<R: CommandReport>(report: &R) -> Result<Self> {
        let document = Document {
            schema_version: SCHEMA_VERSION,
            command: R::COMMAND,
            report,
        };
        Ok(Self {
            json: serde_json::to_value(&document)?,
            tables: report.tables(),
            notes: report.notes(),
            violations: report.violations(),
            regressions: Vec::new(),
            figures: report.figures(),
            verbatim: None,
        })
    }

    /// A report that is this text in every format.
    pub fn verbatim(text: String) -> Self {
        Self {
            json: Value::Null,
            tables: Vec::new(),
            notes: Vec::new(),
            violations: Vec::new(),
            regressions: Vec::new(),
            figures: Vec::new(),
            verbatim: Some(text),
        }
    }
}

/// Renders a report in one output format.
pub trait Exporter {
    fn render(&self, report: &Report) -> Result<String>;
}

pub struct TableExporter;
pub struct JsonExporter;
pub struct CsvExporter;
pub struct MarkdownExporter;

impl Exporter for TableExporter {
    fn render(&self, report: &Report) -> Result<String> {
        let mut out = String::new();
        for table in &report.tables {
            if !table.title.is_empty() {
                out.push_str(&table.title);
                out.push('\n');
            }
            let mut t = ComfyTable::new();
            t.load_style(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(table.header.clone());
            for row in &table.rows {
                t.add_row(row.clone());
            }
            out.push_str(&t.to_string());
            out.push_str("\n\n");
        }
        for note in &report.notes {
            out.push_str(note);
            out.push('\n');
        }
        Ok(out.trim_end().to_string() + "\n")
    }
}

impl Exporter for JsonExporter {
    fn render(&self, report: &Report) -> Result<String> {
        Ok(serde_json::to_string_pretty(&report.json)? + "\n")
    }
}

impl Exporter for CsvExporter {
    fn render(&self, report: &Report) -> Result<String> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        if let Some(main) = report.tables.first() {
            writer.write_record(&main.header)?;
            for row in &main.rows {
                writer.write_record(row)?;
            }
        }
        Ok(String::from_utf8(writer.into_inner()?)?)
    }
}

impl Exporter for MarkdownExporter {
    fn render(&self, report: &Report) -> Result<String> {
        let cell = |c: &str| c.replace('|', "\\|").replace('\n', " ");
        let mut out = String::new();
        for table in &report.tables {
            if !table.title.is_empty() {
                out.push_str(&format!("**{}**\n\n", cell(&table.title)));
            }
            let row = |cells: &[String]| {
                let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
                format!("| {} |\n", cells.join(" | "))
            };
            out.push_str(&row(&table.header));
            out.push_str(&format!("|{}\n", " --- |".repeat(table.header.len())));
            for r in &table.rows {
                out.push_str(&row(r));
            }
            out.push('\n');
        }
        for note in &report.notes {
            out.push_str(note);
            out.push_str("\n\n");
        }
        Ok(out.trim_end().to_string() + "\n")
    }
}

impl OutputFormat {
    pub fn exporter(self) -> &'static dyn Exporter {
        match self {
            OutputFormat::Table => &TableExporter,
            OutputFormat::Json => &JsonExporter,
            OutputFormat::Csv => &CsvExporter,
            OutputFormat::Markdown => &MarkdownExporter,
        }
    }
}

/// Formats a rate or count with thousands separators, for tables.
pub fn thousands(n: f64) -> String {
    let rounded = n.round() as i128;
    let digits = rounded.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if rounded < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut table = Table::new("rows", &["table", "rows"]);
        table.push(vec!["seat".into(), "200,000".into()]);
        Report {
            json: serde_json::json!({"command": "x", "n": 1}),
            tables: vec![table],
            notes: vec!["a note".into()],
            violations: Vec::new(),
            regressions: Vec::new(),
            figures: Vec::new(),
            verbatim: None,
        }
    }

    #[test]
    fn csv_prints_the_main_table_with_header_and_quotes_commas() {
        let csv = OutputFormat::Csv.exporter().render(&sample()).unwrap();
        assert_eq!(csv, "table,rows\nseat,\"200,000\"\n");
    }

    #[test]
    fn json_is_one_parseable_document() {
        let json = OutputFormat::Json.exporter().render(&sample()).unwrap();
        let value: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["command"], "x");
    }

    #[test]
    fn table_shows_title_cells_and_notes() {
        let text = OutputFormat::Table.exporter().render(&sample()).unwrap();
        assert!(text.starts_with("rows\n"));
        assert!(text.contains("200,000"));
        assert!(text.ends_with("a note\n"));
    }

    #[test]
    fn markdown_has_a_header_rule_and_escapes_pipes() {
        let mut report = sample();
        report.tables[0].push(vec!["a|b".into(), "1".into()]);
        let md = OutputFormat::Markdown.exporter().render(&report).unwrap();
        assert!(
            md.starts_with("**rows**\n\n| table | rows |\n| --- | --- |\n| seat | 200,000 |\n"),
            "{md}"
        );
        assert!(md.contains("| a\\|b | 1 |"), "{md}");
        assert!(md.ends_with("a note\n"), "{md}");
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1234567.0), "1,234,567");
        assert_eq!(thousands(-1000.0), "-1,000");
    }
}
