//! `index.html`: the write-up's sections, each with its claims beside ours, its figures
//! (inline SVG, so the page is one file with no requests of its own) and the stage's tables
//! rendered from the same structs as the terminal's.

use super::Drawn;
use super::claims::{Claim, ClaimVerdict, Section};
use super::document::ReportDocument;
use crate::commands::query::QueryDocument;
use crate::commands::seed::SeedDocument;
use crate::render::output::{CommandReport, Table};

const STYLE: &str = "
body { font-family: sans-serif; max-width: 1000px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; }
.meta { color: #555; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
.verdict { font-weight: bold; white-space: nowrap; }
.agrees { color: #006d2c; } .differs { color: #b2182b; } .unclear { color: #8c6d00; }
figure { margin: 1.5em 0; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
code { background: #f5f5f5; padding: 0 0.2em; }
details { margin: 0.8em 0; }
";

pub fn render(doc: &ReportDocument, drawn: &[Drawn], svgs: &[String]) -> String {
    let mut html = String::new();
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<title>concert-bench report: the write-up, reproduced</title>\n");
    html.push_str(&format!("<style>{STYLE}</style>\n</head>\n<body>\n"));
    html.push_str("<h1>The write-up, reproduced</h1>\n");
    html.push_str(&format!(
        "<p class=\"meta\">concert-bench {} on {} {} and Redis; {} run in {:.0} s on scratch databases ({}) created and dropped by the run. Every figure says the command that made it.</p>\n",
        env!("CARGO_PKG_VERSION"),
        doc.query.server.flavor,
        esc(&doc.query.server.version),
        if doc.quick { "a --quick" } else { "a full" },
        doc.seconds,
        esc(&doc.scratch_databases.join(", ")),
    ));
    html.push_str("<section id=\"summary\">\n<h2>At a glance</h2>\n");
    html.push_str(&claims_table(doc.claims.iter()));
    html.push_str("</section>\n");

    for section in Section::ALL {
        html.push_str(&format!(
            "<section id=\"{}\">\n<h2>{}</h2>\n",
            section.id(),
            esc(section.title())
        ));
        for claim in doc.claims.iter().filter(|c| c.section == section) {
            html.push_str(&claim_paragraph(claim));
        }
        for (d, svg) in drawn.iter().zip(svgs) {
            if section_of(&d.figure.name) == section {
                html.push_str(&format!(
                    "<figure id=\"{}\">\n{}\n<figcaption>{} &mdash; made by <code>{}</code> (also <a href=\"{}.svg\">{}.svg</a>)</figcaption>\n</figure>\n",
                    esc(&d.figure.name),
                    svg,
                    esc(&d.figure.title),
                    esc(&d.made_by),
                    esc(&d.figure.name),
                    esc(&d.figure.name),
                ));
            }
        }
        html.push_str("<details><summary>All numbers of this section</summary>\n");
        for table in tables_of(doc, section) {
            html.push_str(&html_table(&table));
        }
        html.push_str("</details>\n</section>\n");
    }

    html.push_str("<section id=\"reproduce\">\n<h2>How to reproduce</h2>\n<p>Each stage is one command; run them in this order against a database of your own (<code>seed</code> first, on a database you can reset), or run <code>concert-bench report</code> again.</p>\n<ol>\n");
    for stage in &doc.stages {
        html.push_str(&format!(
            "<li><code>{}</code> ({:.1} s)</li>\n",
            esc(&stage.command),
            stage.seconds
        ));
    }
    html.push_str("</ol>\n</section>\n</body>\n</html>\n");
    html
}

fn section_of(figure: &str) -> Section {
    if figure.starts_with("cache-bench") {
        Section::Caching
    } else if figure.starts_with("queue-sim") {
        Section::Queue
    } else if figure.starts_with("reserve") {
        Section::Services
    } else {
        Section::Indexes
    }
}

fn tables_of(doc: &ReportDocument, section: Section) -> Vec<Table> {
    match section {
        Section::Caching => doc.cache_bench.tables(),
        Section::Queue => doc.queue_sim.tables(),
        Section::Indexes => [
            SeedDocument::Loaded(doc.seed.clone()).tables(),
            QueryDocument::Variants(Box::new(doc.query.clone())).tables(),
            QueryDocument::Sweep(doc.scales.clone()).tables(),
            doc.explain.tables(),
        ]
        .concat(),
        Section::Services => [doc.flows.tables(), doc.hot_seat.tables()].concat(),
    }
}

fn claims_table<'a>(claims: impl Iterator<Item = &'a Claim>) -> String {
    let mut html = String::from(
        "<table>\n<tr><th>section</th><th>the write-up</th><th>measured here</th><th>verdict</th></tr>\n",
    );
    for c in claims {
        html.push_str(&format!(
            "<tr><td><a href=\"#{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            c.section.id(),
            esc(c.section.title()),
            esc(&c.writeup),
            esc(&c.here),
            verdict(c.verdict),
        ));
    }
    html.push_str("</table>\n");
    html
}

fn claim_paragraph(c: &Claim) -> String {
    let mut html = format!(
        "<p><strong>The write-up:</strong> {}.<br><strong>Here:</strong> {}. {}",
        esc(&c.writeup),
        esc(&c.here),
        verdict(c.verdict)
    );
    if let Some(why) = &c.why {
        html.push_str(&format!(" &mdash; {}.", esc(why)));
    }
    html.push_str("</p>\n");
    html
}

fn verdict(v: ClaimVerdict) -> String {
    format!(
        "<span class=\"verdict {}\">{}</span>",
        v.word(),
        match v {
            ClaimVerdict::Agrees => "Agrees",
            ClaimVerdict::Differs => "Differs",
            ClaimVerdict::Unclear => "Unclear",
        }
    )
}

fn html_table(table: &Table) -> String {
    let mut html = format!("<h4>{}</h4>\n<table>\n<tr>", esc(&table.title));
    for h in &table.header {
        html.push_str(&format!("<th>{}</th>", esc(h)));
    }
    html.push_str("</tr>\n");
    for row in &table.rows {
        html.push_str("<tr>");
        for cell in row {
            html.push_str(&format!("<td>{}</td>", esc(cell)));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    html
}

/// Text as HTML: the five characters that could open markup or end an attribute.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cannot_open_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn figures_land_in_the_write_ups_sections() {
        assert_eq!(section_of("cache-bench-throughput"), Section::Caching);
        assert_eq!(section_of("queue-sim-wait"), Section::Queue);
        assert_eq!(section_of("query-scales"), Section::Indexes);
        assert_eq!(section_of("explain-advice"), Section::Indexes);
        assert_eq!(section_of("reserve-hot-throughput"), Section::Services);
    }
}
