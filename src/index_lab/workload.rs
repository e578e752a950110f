//! Workload files: named SELECT statements with parameters drawn from the data, in the
//! `-- name:` comment convention of yesql and sqlc (see `workloads/week8.sql`, the built-in
//! one, and `docs/workloads.md`). Parsing here is text only; where a statement's columns live
//! is settled against the server's `information_schema` when the workload is opened.
//!
//! From each statement's SQL the parser takes what the index lab needs without a fixed list:
//! every table it reads (each gets a slot where a variant's `IGNORE INDEX` hint goes, so a
//! user's SQL needs no markup), and the columns it filters, joins or groups on (where an index
//! could help) apart from those it only reads or sorts by (what a covering index would add).

use std::fmt;

use thiserror::Error;

/// The built-in workload: the write-up's six scenarios.
pub const WEEK8: &str = include_str!("../../workloads/week8.sql");
/// How the built-in workload is named in reports and errors.
pub const WEEK8_NAME: &str = "workloads/week8.sql (built in)";

/// A workload file that cannot be used, named with its file and line: exit code 1, one line.
#[derive(Debug, Error)]
#[error("{file}:{line}: {message}")]
pub struct WorkloadError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// A parsed workload: its statements in file order.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The file it came from, as given (or [`WEEK8_NAME`]).
    pub source: String,
    pub statements: Vec<Statement>,
}

/// One named statement of a workload.
#[derive(Debug, Clone)]
pub struct Statement {
    pub name: String,
    pub about: Option<String>,
    /// The line of its `-- name:`.
    pub line: usize,
    /// Its parameters, declared with `-- param:`.
    pub params: Vec<ParamSpec>,
    /// The parameter each `?` binds, in order (a parameter may be used more than once).
    pub binds: Vec<String>,
    /// An UPDATE or DELETE (allowed with `--allow-writes`): each execution runs in a
    /// transaction that is rolled back, so every run and variant sees the same data.
    pub writes: bool,
    /// Every table it reads, once each, in order of appearance.
    pub tables: Vec<String>,
    /// Columns it filters, joins or groups on, as (table, column) where the text says
    /// which table; unqualified names are in `unqualified` until the schema settles them.
    pub access_columns: Vec<(String, String)>,
    /// The access columns compared with a value (`col = :p`, `col IN (..)`), not with another
    /// table's column: what an index should lead with.
    pub filter_columns: Vec<(String, String)>,
    /// Columns it only reads or sorts by (the select list, ORDER BY).
    pub read_columns: Vec<(String, String)>,
    /// Unqualified column names and whether each was an access (true) or a read.
    pub unqualified: Vec<(String, bool)>,
    /// The unqualified names compared with a value.
    unqualified_filters: Vec<String>,
    /// Each alias (and each table name) and the table it stands for.
    aliases: Vec<(String, String)>,
    parts: Vec<Part>,
    /// Value tuples seen in production, one per logged execution, in `binds` order (from a
    /// slow log or the digest table); the draws pick whole tuples, so values that belong
    /// together stay together. Empty for a workload file.
    pub observed: Vec<Vec<String>>,
    /// How the statement ranked where it was found (a slow log, the digest table).
    pub logged: Option<Logged>,
}

/// What a report says of each statement it ran.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct StatementSummary {
    pub name: String,
    pub about: Option<String>,
    /// Its rank where it was found (a slow log, the digest table); null for a workload file.
    pub logged: Option<Logged>,
}

impl StatementSummary {
    /// `slow_1: 57 executions, 1.234 s in all: select ...`, for a report's notes.
    pub fn note(&self) -> Option<String> {
        self.about
            .as_ref()
            .filter(|_| self.logged.is_some())
            .map(|about| format!("{}: {about}", self.name))
    }
}

/// A statement's record in a slow log or the server's digest table.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Logged {
    /// Literals as `?`, names lowercased, IN lists collapsed (as pt-query-digest does).
    pub fingerprint: String,
    pub executions: u64,
    /// Its total time there, the rank it was chosen by.
    pub total_seconds: f64,
}

/// The SQL text, cut where index hints go.
#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Hint(String),
}

/// A parameter and where its values come from.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    pub distribution: Distribution,
}

/// How a parameter's values are drawn, one per execution.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    /// Every value of the source equally likely.
    Uniform(Source),
    /// The values logged executions bound (a slow log's literals), tuple by tuple.
    Observed,
    /// Value k of the source (in its order) with probability proportional to 1/k^s.
    Zipf { s: f64, source: Source },
    /// One fixed value, as written (a number or a quoted string).
    Fixed(String),
}

/// Where a distribution's values come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The values of one column of one table.
    Column { table: String, column: String },
    /// The first column of a SELECT of the user's own.
    Query(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Column { table, column } => write!(f, "{table}.{column}"),
            Source::Query(sql) => write!(f, "{sql}"),
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Distribution::Uniform(source) => write!(f, "uniform({source})"),
            Distribution::Zipf { s, source } => write!(f, "zipf({s}, {source})"),
            Distribution::Fixed(value) => write!(f, "value({value})"),
            Distribution::Observed => write!(f, "observed"),
        }
    }
}

impl Statement {
    pub fn summary(&self) -> StatementSummary {
        StatementSummary {
            name: self.name.clone(),
            about: self.about.clone(),
            logged: self.logged.clone(),
        }
    }

    /// The table an alias in the text (or a plan's `table` column) stands for; an unknown
    /// name is returned as it is.
    pub fn table_of(&self, alias: &str) -> String {
        self.aliases
            .iter()
            .find(|(a, _)| a.eq_ignore_ascii_case(alias))
            .map_or_else(|| alias.to_string(), |(_, t)| t.clone())
    }

    /// The SQL with each table's hint filled in by `hint(table)` and `?` for each parameter.
    pub fn sql(&self, hint: impl Fn(&str) -> String) -> String {
        let mut sql = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => sql.push_str(text),
                Part::Hint(table) => {
                    let hint = hint(table);
                    if !hint.is_empty() {
                        sql.push(' ');
                        sql.push_str(&hint);
                    }
                }
            }
        }
        sql
    }

    /// Settles the unqualified column names against the columns of the statement's tables
    /// (`columns_of(table)`): a name that exactly one of them has is that table's.
    pub fn resolve(&mut self, columns_of: impl Fn(&str) -> Vec<String>) {
        for (column, access) in std::mem::take(&mut self.unqualified) {
            let owners: Vec<&String> = self
                .tables
                .iter()
                .filter(|t| {
                    columns_of(t)
                        .iter()
                        .any(|c| c.eq_ignore_ascii_case(&column))
                })
                .collect();
            if let [table] = owners[..] {
                let pair = (table.clone(), column.to_ascii_lowercase());
                if self.unqualified_filters.contains(&column)
                    && !self.filter_columns.contains(&pair)
                {
                    self.filter_columns.push(pair.clone());
                }
                let list = if access {
                    &mut self.access_columns
                } else {
                    &mut self.read_columns
                };
                if !list.contains(&pair) {
                    list.push(pair);
                }
            }
        }
    }
}

impl Workload {
    /// The built-in workload.
    pub fn week8() -> Self {
        Self::parse(WEEK8, WEEK8_NAME).expect("the built-in workload parses")
    }

    /// Whether this is the built-in workload (which needs the tool's own seeded tables).
    pub fn is_builtin(&self) -> bool {
        self.source == WEEK8_NAME
    }

    /// Parses a workload file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, WorkloadError> {
        let err = |line: usize, message: String| WorkloadError {
            file: file.to_string(),
            line,
            message,
        };
        let mut blocks: Vec<Block> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if let Some(directive) = trimmed.strip_prefix("--").map(str::trim)
                && let Some((key, value)) = directive.split_once(':')
                && matches!(key.trim(), "name" | "about" | "param")
            {
                let value = value.trim();
                match key.trim() {
                    "name" => {
                        if !is_name(value) {
                            return Err(err(
                                line,
                                format!(
                                    "statement name {value:?} must be letters, digits and _ (e.g. -- name: concert_detail)"
                                ),
                            ));
                        }
                        if blocks.iter().any(|b| b.name == value) {
                            return Err(err(line, format!("statement {value} is named twice")));
                        }
                        blocks.push(Block::new(value, line));
                    }
                    "about" => match blocks.last_mut() {
                        Some(block) => block.about = Some(value.to_string()),
                        None => return Err(err(line, "-- about: before any -- name:".into())),
                    },
                    _ => {
                        let Some(block) = blocks.last_mut() else {
                            return Err(err(line, "-- param: before any -- name:".into()));
                        };
                        let param = parse_param(value).map_err(|m| err(line, m))?;
                        if block.params.iter().any(|p| p.name == param.name) {
                            return Err(err(
                                line,
                                format!("parameter {} is declared twice", param.name),
                            ));
                        }
                        block.params.push(param);
                    }
                }
                continue;
            }
            match blocks.last_mut() {
                Some(block) => {
                    if !trimmed.is_empty() && block.first_sql_line.is_none() {
                        block.first_sql_line = Some(line);
                    }
                    block.sql.push_str(raw);
                    block.sql.push('\n');
                }
                None if trimmed.is_empty() || trimmed.starts_with("--") => {}
                None => {
                    return Err(err(
                        line,
                        "SQL before the first -- name: (each statement starts with -- name: NAME)"
                            .into(),
                    ));
                }
            }
        }
        if blocks.is_empty() {
            return Err(err(
                1,
                "no statements: each starts with a line -- name: NAME, then its SELECT".into(),
            ));
        }
        let statements = blocks
            .into_iter()
            .map(|block| block.into_statement().map_err(|(line, m)| err(line, m)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            source: file.to_string(),
            statements,
        })
    }

    /// Reads and parses a workload file.
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the workload {}: {e}", path.display()))?;
        Ok(Self::parse(&text, &path.display().to_string())?)
    }

    /// Refuses a write statement (`--allow-writes` not given), naming its file and line.
    pub fn require_reads_only(&self) -> Result<(), WorkloadError> {
        match self.statements.iter().find(|s| s.writes) {
            Some(write) => Err(WorkloadError {
                file: self.source.clone(),
                line: write.line,
                message: format!(
                    "statement {} is an UPDATE or DELETE, not a SELECT: writes are timed only with --allow-writes (each execution then runs in a transaction that is rolled back, so the data stays as it was)",
                    write.name
                ),
            }),
            None => Ok(()),
        }
    }

    /// Keeps the statements named in `names` (all when empty), in file order; an unknown name
    /// is an error that lists the known ones.
    pub fn select(mut self, names: &[String]) -> anyhow::Result<Self> {
        for name in names {
            if !self.statements.iter().any(|s| &s.name == name) {
                let known: Vec<&str> = self.statements.iter().map(|s| s.name.as_str()).collect();
                anyhow::bail!(
                    "--scenario {name}: {} has no statement of that name (it has {})",
                    self.source,
                    known.join(", ")
                );
            }
        }
        if !names.is_empty() {
            self.statements.retain(|s| names.contains(&s.name));
        }
        Ok(self)
    }
}

impl Statement {
    /// A statement from a logged one (`sql`, with its literals): each literal becomes a
    /// parameter whose values are those the logged executions bound (`observed`, one tuple
    /// per execution, in literal order). Refused (with the reason) where the workload would
    /// refuse it: not a SELECT, another database's table.
    pub(crate) fn from_logged(
        name: &str,
        sql: &str,
        observed: Vec<Vec<String>>,
        logged: Logged,
    ) -> Result<Self, String> {
        let (template, count) = parameterize(sql)?;
        let mut block = Block::new(name, 0);
        block.about = Some(format!(
            "{} executions, {:.3} s in all: {}",
            logged.executions, logged.total_seconds, logged.fingerprint
        ));
        block.sql = template;
        block.params = (1..=count)
            .map(|i| ParamSpec {
                name: format!("p{i}"),
                distribution: Distribution::Observed,
            })
            .collect();
        let mut statement = block.into_statement().map_err(|(_, m)| m)?;
        statement.observed = observed
            .into_iter()
            .filter(|tuple| tuple.len() == count)
            .collect();
        statement.logged = Some(logged);
        Ok(statement)
    }
}

/// A logged statement's fingerprint (literals as `?`, unquoted names and keywords lowercased,
/// whitespace and comments gone, `IN (?, ?, ..)` as `in(?+)`, as pt-query-digest writes it)
/// and its literals in order.
pub(crate) fn fingerprint(sql: &str) -> Result<(String, Vec<String>), String> {
    let text = sql.trim().trim_end_matches(';').trim_end();
    let tokens = lex(text)?;
    let mut words: Vec<String> = Vec::new();
    let mut literals = Vec::new();
    for lexed in &tokens {
        words.push(match &lexed.token {
            Token::Literal => {
                literals.push(text[lexed.start..lexed.end].to_string());
                "?".into()
            }
            Token::Ident {
                text,
                quoted: false,
            } => text.to_ascii_lowercase(),
            Token::Ident { text, quoted: true } => format!("`{text}`"),
            Token::Param(name) => format!(":{name}"),
            Token::Other(c) => c.to_string(),
        });
    }
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        // `in ( ? , ? , ... )` -> `in(?+)`
        if words[i] == "in" && words.get(i + 1).is_some_and(|w| w == "(") {
            let mut j = i + 2;
            let mut only_values = true;
            while j < words.len() && words[j] != ")" {
                only_values &= words[j] == "?" || words[j] == ",";
                j += 1;
            }
            if only_values && j < words.len() && j > i + 2 {
                out.push("in(?+)".into());
                i = j + 1;
                continue;
            }
        }
        out.push(words[i].clone());
        i += 1;
    }
    Ok((out.join(" "), literals))
}

/// The SQL without its index hints (`USE|IGNORE|FORCE INDEX|KEY [FOR JOIN|ORDER BY|GROUP BY]
/// (..)`). A logged statement is replayed under the advisor's own variants, so the hints it
/// was logged with (the application's, or those of a `query` run's variant) are not part of
/// it: `none` must be able to hide an index, and a variant to use it.
pub(crate) fn without_index_hints(sql: &str) -> Result<String, String> {
    let tokens = lex(sql)?;
    let kw = |i: usize, word: &str| {
        matches!(tokens.get(i).map(|t| &t.token),
            Some(Token::Ident { text, quoted: false }) if text.eq_ignore_ascii_case(word))
    };
    let mut out = String::new();
    let mut cursor = 0;
    let mut i = 0;
    while i < tokens.len() {
        if (kw(i, "USE") || kw(i, "IGNORE") || kw(i, "FORCE"))
            && (kw(i + 1, "INDEX") || kw(i + 1, "KEY"))
        {
            let mut open = i + 2;
            if kw(open, "FOR") {
                open += if kw(open + 1, "JOIN") { 2 } else { 3 };
            }
            let close = (open..tokens.len()).find(|&k| tokens[k].token == Token::Other(')'));
            if let (Some(Token::Other('(')), Some(close)) =
                (tokens.get(open).map(|t| &t.token), close)
            {
                out.push_str(sql[cursor..tokens[i].start].trim_end());
                cursor = tokens[close].end;
                i = close + 1;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&sql[cursor..]);
    Ok(out)
}

/// The SQL with each literal replaced by a parameter `:p1`, `:p2`, ..., and how many.
fn parameterize(sql: &str) -> Result<(String, usize), String> {
    let text = sql.trim().trim_end_matches(';').trim_end();
    let tokens = lex(text)?;
    let mut out = String::new();
    let mut cursor = 0;
    let mut count = 0;
    for lexed in tokens.iter().filter(|t| t.token == Token::Literal) {
        count += 1;
        out.push_str(&text[cursor..lexed.start]);
        out.push_str(&format!(":p{count}"));
        cursor = lexed.end;
    }
    out.push_str(&text[cursor..]);
    Ok((out, count))
}

/// A statement as read, before its SQL is analyzed.
struct Block {
    name: String,
    about: Option<String>,
    line: usize,
    first_sql_line: Option<usize>,
    params: Vec<ParamSpec>,
    sql: String,
}

impl Block {
    fn new(name: &str, line: usize) -> Self {
        Self {
            name: name.to_string(),
            about: None,
            line,
            first_sql_line: None,
            params: Vec::new(),
            sql: String::new(),
        }
    }

    fn into_statement(self) -> Result<Statement, (usize, String)> {
        let at = self.first_sql_line.unwrap_or(self.line);
        let analyzed = analyze(&self.sql).map_err(|m| (at, format!("{}: {m}", self.name)))?;
        let Some(first) = analyzed.first_keyword.as_deref() else {
            return Err((self.line, format!("statement {} has no SQL", self.name)));
        };
        let writes = match first {
            "SELECT" | "WITH" => false,
            "UPDATE" | "DELETE" => true,
            _ => {
                return Err((
                    at,
                    format!(
                        "statement {} is a {first}: a workload times SELECTs, and UPDATEs and DELETEs with --allow-writes (the statements that look rows up, where an index can help)",
                        self.name
                    ),
                ));
            }
        };
        for bind in &analyzed.binds {
            if !self.params.iter().any(|p| &p.name == bind) {
                return Err((
                    at,
                    format!(
                        "statement {} uses :{bind}, which no -- param: line declares",
                        self.name
                    ),
                ));
            }
        }
        if let Some(unused) = self
            .params
            .iter()
            .find(|p| !analyzed.binds.contains(&p.name))
        {
            return Err((
                self.line,
                format!(
                    "statement {} declares parameter {} but never uses :{}",
                    self.name, unused.name, unused.name
                ),
            ));
        }
        Ok(Statement {
            name: self.name,
            about: self.about,
            line: self.line,
            params: self.params,
            binds: analyzed.binds,
            writes,
            tables: analyzed.tables,
            access_columns: analyzed.access,
            filter_columns: analyzed.filters,
            read_columns: analyzed.read,
            unqualified: analyzed.unqualified,
            unqualified_filters: analyzed.unqualified_filters,
            aliases: analyzed.aliases,
            parts: analyzed.parts,
            observed: Vec::new(),
            logged: None,
        })
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// `NAME = uniform(table.column)`, `zipf(1.1, SELECT ...)`, `value(42)`, ...
fn parse_param(text: &str) -> Result<ParamSpec, String> {
    let usage = "expected -- param: NAME = uniform(TABLE.COLUMN), zipf(S, TABLE.COLUMN), uniform(SELECT ...) or value(LITERAL)";
    let (name, spec) = text.split_once('=').ok_or_else(|| usage.to_string())?;
    let name = name.trim();
    if !is_name(name) {
        return Err(format!(
            "parameter name {name:?} must be letters, digits and _"
        ));
    }
    let spec = spec.trim();
    let (function, inner) = spec
        .split_once('(')
        .and_then(|(f, rest)| Some((f.trim(), rest.trim().strip_suffix(')')?.trim())))
        .ok_or_else(|| format!("{spec:?}: {usage}"))?;
    let distribution = match function {
        "uniform" => Distribution::Uniform(parse_source(inner)?),
        "zipf" => {
            let (s, source) = inner.split_once(',').ok_or_else(|| {
                format!("{spec:?}: expected zipf(S, SOURCE), e.g. zipf(1.1, seat.id)")
            })?;
            let s: f64 = s
                .trim()
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 10.0)
                .ok_or_else(|| {
                    format!("{spec:?}: the zipf exponent must be a number above 0, at most 10")
                })?;
            Distribution::Zipf {
                s,
                source: parse_source(source.trim())?,
            }
        }
        "value" => {
            let quoted = inner.len() >= 2 && inner.starts_with('\'') && inner.ends_with('\'');
            if !(quoted || inner.parse::<f64>().is_ok()) {
                return Err(format!(
                    "{spec:?}: value() takes a number or a 'quoted string'"
                ));
            }
            Distribution::Fixed(inner.to_string())
        }
        other => return Err(format!("unknown distribution {other:?}; {usage}")),
    };
    Ok(ParamSpec {
        name: name.to_string(),
        distribution,
    })
}

fn parse_source(text: &str) -> Result<Source, String> {
    let upper = text.to_ascii_uppercase();
    if upper.starts_with("SELECT") || upper.starts_with("WITH") {
        return Ok(Source::Query(text.to_string()));
    }
    match text.split_once('.') {
        Some((table, column)) if is_name(table.trim()) && is_name(column.trim()) => {
            Ok(Source::Column {
                table: table.trim().to_string(),
                column: column.trim().to_string(),
            })
        }
        _ => Err(format!(
            "{text:?} is not TABLE.COLUMN nor a SELECT (the values to draw from)"
        )),
    }
}

/// What the parser reads out of one statement's SQL.
#[derive(Default)]
struct Analyzed {
    first_keyword: Option<String>,
    parts: Vec<Part>,
    binds: Vec<String>,
    tables: Vec<String>,
    access: Vec<(String, String)>,
    read: Vec<(String, String)>,
    unqualified: Vec<(String, bool)>,
    filters: Vec<(String, String)>,
    unqualified_filters: Vec<String>,
    aliases: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A name, bare or in backticks (backticks removed).
    Ident {
        text: String,
        quoted: bool,
    },
    Param(String),
    Other(char),
    /// A string or number literal, or an operator of several characters.
    Literal,
}

/// One token and where it ends in the text.
struct Lexed {
    token: Token,
    start: usize,
    end: usize,
}

fn lex(sql: &str) -> Result<Vec<Lexed>, String> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let close = sql[i + 2..]
                    .find("*/")
                    .ok_or("a /* comment is never closed")?;
                i += 2 + close + 2;
                continue;
            }
            b'\'' | b'"' => {
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err("a string literal is never closed".into()),
                        Some(b'\\') => i += 2,
                        Some(&q) if q == c => {
                            if bytes.get(i + 1) == Some(&c) {
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(_) => i += 1,
                    }
                }
                out.push(Lexed {
                    token: Token::Literal,
                    start,
                    end: i,
                });
            }
            b'`' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err("a `quoted` name is never closed".into()),
                        Some(b'`') if bytes.get(i + 1) == Some(&b'`') => {
                            text.push('`');
                            i += 2;
                        }
                        Some(b'`') => {
                            i += 1;
                            break;
                        }
                        Some(_) => {
                            let ch = sql[i..].chars().next().expect("in bounds");
                            text.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                out.push(Lexed {
                    token: Token::Ident { text, quoted: true },
                    start,
                    end: i,
                });
            }
            b':' if bytes
                .get(i + 1)
                .is_some_and(|n| n.is_ascii_alphabetic() || *n == b'_') =>
            {
                i += 1;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                out.push(Lexed {
                    token: Token::Param(sql[start + 1..i].to_string()),
                    start,
                    end: i,
                });
            }
            b'?' => {
                return Err("use a named parameter (:name, declared with -- param:), not ?".into());
            }
            _ if c.is_ascii_digit() => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                    i += 1;
                }
                out.push(Lexed {
                    token: Token::Literal,
                    start,
                    end: i,
                });
            }
            _ if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c >= 0x80 => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || bytes[i] == b'_'
                        || bytes[i] == b'$'
                        || bytes[i] >= 0x80)
                {
                    i += 1;
                }
                out.push(Lexed {
                    token: Token::Ident {
                        text: sql[start..i].to_string(),
                        quoted: false,
                    },
                    start,
                    end: i,
                });
            }
            _ => {
                i += 1;
                out.push(Lexed {
                    token: Token::Other(c as char),
                    start,
                    end: i,
                });
            }
        }
    }
    Ok(out)
}

/// Words that end a table reference or start a clause: never an alias, never a column.
const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "CROSS",
    "OUTER",
    "NATURAL",
    "STRAIGHT_JOIN",
    "ON",
    "USING",
    "WHERE",
    "GROUP",
    "BY",
    "HAVING",
    "ORDER",
    "LIMIT",
    "OFFSET",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "BETWEEN",
    "ASC",
    "DESC",
    "DISTINCT",
    "UNION",
    "ALL",
    "EXISTS",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "FORCE",
    "IGNORE",
    "USE",
    "INDEX",
    "KEY",
    "FOR",
    "WITH",
    "WINDOW",
    "OVER",
    "PARTITION",
    "TRUE",
    "FALSE",
    "INTERVAL",
    "DIV",
    "MOD",
    "XOR",
    "REGEXP",
    "RLIKE",
    "ESCAPE",
    "LOCK",
    "SHARE",
    "MODE",
    "UPDATE",
    "ROLLUP",
    "RECURSIVE",
    "SQL_NO_CACHE",
    "SQL_CALC_FOUND_ROWS",
    "HIGH_PRIORITY",
    "LATERAL",
    "DUAL",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "BINARY",
    "COLLATE",
    "INSERT",
    "REPLACE",
    "DELETE",
    "CALL",
    "SET",
    "VALUES",
    "ROWS",
    "RANGE",
    "UNBOUNDED",
    "PRECEDING",
    "FOLLOWING",
    "CURRENT",
    "ROW",
];

fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// Which part of a query a name appears in.
#[derive(Clone, Copy, PartialEq)]
enum Clause {
    Select,
    From,
    Filter,
    Other,
}

/// Whether the column reference at tokens `first..=last` is compared with a value (a
/// parameter or a literal: `col = :p`, `:p < col`, `col IN (:a, :b)`, `col LIKE 'x%'`), not
/// with another column.
fn compared_with_value(tokens: &[Lexed], first: usize, last: usize) -> bool {
    let is_value = |i: usize| {
        matches!(
            tokens.get(i).map(|t| &t.token),
            Some(Token::Param(_) | Token::Literal)
        )
    };
    let is_operator = |i: usize| {
        matches!(
            tokens.get(i).map(|t| &t.token),
            Some(Token::Other('=' | '<' | '>' | '!'))
        )
    };
    let is_word = |i: usize, words: &[&str]| {
        matches!(tokens.get(i).map(|t| &t.token),
            Some(Token::Ident { text, quoted: false }) if words.iter().any(|w| w.eq_ignore_ascii_case(text)))
    };
    // After: operators, or IN / LIKE / BETWEEN (and an opening parenthesis), then a value.
    let mut after = last + 1;
    while is_operator(after) || is_word(after, &["IN", "LIKE", "BETWEEN", "NOT"]) {
        after += 1;
    }
    if tokens.get(after).map(|t| &t.token) == Some(&Token::Other('(')) {
        after += 1;
    }
    if after > last + 1 && is_value(after) {
        return true;
    }
    // Before: a value, then operators.
    let mut before = first;
    while before > 0 && is_operator(before - 1) {
        before -= 1;
    }
    before < first && before > 0 && is_value(before - 1)
}

fn analyze(sql: &str) -> Result<Analyzed, String> {
    let text = sql.trim().trim_end_matches(';').trim_end();
    let tokens = lex(text)?;
    if tokens.iter().any(|t| t.token == Token::Other(';')) {
        return Err("holds more than one statement (one per -- name:)".into());
    }
    let mut out = Analyzed {
        first_keyword: tokens.iter().find_map(|t| match &t.token {
            Token::Ident {
                text,
                quoted: false,
            } => Some(text.to_ascii_uppercase()),
            Token::Other('(') => None,
            _ => Some(String::new()),
        }),
        ..Analyzed::default()
    };
    // Aliases and the tables they stand for (a table is its own alias too).
    let mut aliases: Vec<(String, String)> = Vec::new();
    // Where hint slots go: after the token at this index, for this table.
    let mut slots: Vec<(usize, String)> = Vec::new();
    let word = |i: usize| -> Option<(&str, bool)> {
        match &tokens.get(i)?.token {
            Token::Ident { text, quoted } => Some((text.as_str(), *quoted)),
            _ => None,
        }
    };
    let is_kw = |i: usize, kw: &str| word(i).is_some_and(|(w, q)| !q && w.eq_ignore_ascii_case(kw));
    // A statement's first word, which an UPDATE's table references follow (not a SELECT's
    // trailing FOR UPDATE).
    let leads = |kw: &str| is_kw(0, kw);
    // Table references: after FROM or JOIN, after a leading UPDATE (and its modifiers), and
    // after commas of a FROM or UPDATE list.
    let mut i = 0;
    while i < tokens.len() {
        let update = i == 0 && leads("UPDATE");
        if is_kw(i, "FROM") || is_kw(i, "JOIN") || is_kw(i, "STRAIGHT_JOIN") || update {
            let mut at = i + 1;
            while update && (is_kw(at, "LOW_PRIORITY") || is_kw(at, "IGNORE")) {
                at += 1;
            }
            // A derived table `(SELECT ...)` (or nothing) ends the list: no slot.
            while let Some((table, quoted)) = word(at) {
                if !quoted && is_keyword(table) {
                    break;
                }
                if tokens.get(at + 1).map(|t| &t.token) == Some(&Token::Other('.')) {
                    return Err(format!(
                        "names a table of another database ({table}.…): a workload reads the database --database-url names"
                    ));
                }
                let table = table.to_string();
                let mut last = at;
                if is_kw(at + 1, "AS") {
                    last = at + 2;
                } else if let Some((alias, quoted)) = word(at + 1)
                    && (quoted || !is_keyword(alias))
                {
                    last = at + 1;
                }
                let alias = if last == at {
                    table.clone()
                } else {
                    word(last).map(|(a, _)| a.to_string()).unwrap_or_default()
                };
                aliases.push((alias, table.clone()));
                aliases.push((table.clone(), table.clone()));
                if !out.tables.contains(&table) {
                    out.tables.push(table.clone());
                }
                slots.push((last, table));
                if tokens.get(last + 1).map(|t| &t.token) == Some(&Token::Other(','))
                    && (is_kw(i, "FROM") || update)
                {
                    at = last + 2;
                } else {
                    break;
                }
            }
        }
        i += 1;
    }
    let table_of = |alias: &str| {
        aliases
            .iter()
            .find(|(a, _)| a.eq_ignore_ascii_case(alias))
            .map(|(_, t)| t.clone())
    };
    // Columns, by the clause they appear in (one clause per parenthesis depth).
    let mut clause = vec![Clause::Other];
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i].token {
            Token::Other('(') => clause.push(*clause.last().expect("never empty")),
            Token::Other(')') if clause.len() > 1 => {
                clause.pop();
            }
            Token::Param(name) => out.binds.push(name.clone()),
            Token::Ident { text, quoted } => {
                let upper = text.to_ascii_uppercase();
                let here = clause.last_mut().expect("never empty");
                if !quoted && is_keyword(text) {
                    *here = match upper.as_str() {
                        "SELECT" => Clause::Select,
                        "FROM" | "JOIN" | "STRAIGHT_JOIN" => Clause::From,
                        "ON" | "USING" | "WHERE" | "HAVING" | "GROUP" => Clause::Filter,
                        // What a query sorts by can finish an index (a covering one), but
                        // the rows to read are chosen by the filters and joins.
                        "ORDER" => Clause::Select,
                        "LIMIT" | "OFFSET" | "SET" => Clause::Other,
                        // An UPDATE's table references.
                        "UPDATE" if i == 0 => Clause::From,
                        _ => *here,
                    };
                } else if tokens.get(i + 1).map(|t| &t.token) == Some(&Token::Other('.')) {
                    if let (Some(table), Some((column, _))) = (table_of(text), word(i + 2)) {
                        let pair = (table, column.to_ascii_lowercase());
                        let list = match *here {
                            Clause::Select => Some(&mut out.read),
                            Clause::Filter => Some(&mut out.access),
                            _ => None,
                        };
                        if *here == Clause::Filter
                            && compared_with_value(&tokens, i, i + 2)
                            && !out.filters.contains(&pair)
                        {
                            out.filters.push(pair.clone());
                        }
                        if let Some(list) = list
                            && !list.contains(&pair)
                        {
                            list.push(pair);
                        }
                    }
                    i += 2;
                } else {
                    let after_as = i > 0 && is_kw(i - 1, "AS");
                    let call = tokens.get(i + 1).map(|t| &t.token) == Some(&Token::Other('('));
                    if !after_as
                        && !call
                        && table_of(text).is_none()
                        && matches!(*here, Clause::Select | Clause::Filter)
                    {
                        let entry = (text.clone(), *here == Clause::Filter);
                        if *here == Clause::Filter
                            && compared_with_value(&tokens, i, i)
                            && !out.unqualified_filters.contains(text)
                        {
                            out.unqualified_filters.push(text.clone());
                        }
                        if !out.unqualified.contains(&entry) {
                            out.unqualified.push(entry);
                        }
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    out.aliases = aliases;
    // The read list keeps only what is not also an access: the covering index adds those.
    let access = out.access.clone();
    out.read.retain(|pair| !access.contains(pair));
    // A single-table DELETE takes no index hints; its multi-table form (`DELETE t FROM t
    // <hint> WHERE ...`) deletes the same rows and does, but allows no ORDER BY or LIMIT.
    let mut delete_target = None;
    if leads("DELETE") && is_kw(1, "FROM") {
        if (0..tokens.len()).any(|i| is_kw(i, "ORDER") || is_kw(i, "LIMIT")) {
            return Err(
                "a DELETE with ORDER BY or LIMIT cannot take the variants' index hints (only the multi-table form can, and it allows neither): time it without them".into(),
            );
        }
        let Some(&(last, _)) = slots.first() else {
            return Err("a DELETE needs a table after FROM".into());
        };
        delete_target = Some(&text[tokens[last].start..tokens[last].end]);
    }
    // The text, with `?` for each parameter and a slot after each table reference.
    let mut cursor = 0;
    for (index, lexed) in tokens.iter().enumerate() {
        if let (0, Some(target)) = (index, delete_target) {
            out.parts
                .push(Part::Text(format!("{} {target}", &text[cursor..lexed.end])));
            cursor = lexed.end;
        }
        if let Token::Param(_) = lexed.token {
            out.parts
                .push(Part::Text(text[cursor..lexed.start].to_string()));
            out.parts.push(Part::Text("?".into()));
            cursor = lexed.end;
        }
        for (_, table) in slots.iter().filter(|(after, _)| *after == index) {
            out.parts
                .push(Part::Text(text[cursor..lexed.end].to_string()));
            out.parts.push(Part::Hint(table.clone()));
            cursor = lexed.end;
        }
    }
    out.parts.push(Part::Text(text[cursor..].to_string()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(String, String)]) -> Vec<String> {
        list.iter().map(|(t, c)| format!("{t}.{c}")).collect()
    }

    #[test]
    fn the_built_in_workload_is_the_six_scenarios() {
        let w = Workload::week8();
        let names: Vec<&str> = w.statements.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "concerts_with_dates",
                "concert_detail",
                "concert_by_seat",
                "performance_by_seat",
                "seat_by_id",
                "reservation_by_id"
            ]
        );
        let detail = &w.statements[1];
        assert_eq!(detail.tables, ["concert", "performance", "seat"]);
        assert_eq!(
            pairs(&detail.access_columns),
            [
                "performance.concert_id",
                "concert.id",
                "seat.performance_id",
                "performance.id"
            ]
        );
        assert!(pairs(&detail.read_columns).contains(&"seat.grade".to_string()));
        assert_eq!(detail.binds, ["concert_id"]);
        let hinted = detail.sql(|t| format!("/*{t}*/"));
        assert_eq!(
            hinted,
            "SELECT c.id, c.title, p.id, p.starts_at, s.id, s.seat_no, s.grade, s.price, s.status, s.version\n\
             FROM concert c /*concert*/ JOIN performance p /*performance*/ ON p.concert_id = c.id\n\
             JOIN seat s /*seat*/ ON s.performance_id = p.id\n\
             WHERE c.id = ?"
        );
        assert_eq!(
            detail.params[0].distribution.to_string(),
            "uniform(SELECT id FROM concert WHERE status = 'OPEN')"
        );
    }

    #[test]
    fn the_concert_service_runs_the_workloads_first_two_statements() {
        let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let w = Workload::week8();
        let sql = |i: usize| flat(&w.statements[i].sql(|_| String::new()));
        assert_eq!(sql(0), flat(crate::domain::concerts::LIST_SQL));
        assert_eq!(sql(1), flat(crate::domain::concerts::DETAIL_SQL));
    }

    #[test]
    fn unaliased_tables_comma_lists_and_unqualified_columns() {
        let w = Workload::parse(
            "-- name: loans\n-- param: m = zipf(1.2, member.id)\n\
             SELECT title, due_at FROM loan, book WHERE loan.book_id = book.id AND member_id = :m ORDER BY due_at",
            "x.sql",
        )
        .unwrap();
        let mut s = w.statements[0].clone();
        assert_eq!(s.tables, ["loan", "book"]);
        assert_eq!(pairs(&s.access_columns), ["loan.book_id", "book.id"]);
        s.resolve(|t| match t {
            "loan" => vec!["member_id".into(), "due_at".into(), "book_id".into()],
            _ => vec!["id".into(), "title".into()],
        });
        assert_eq!(
            pairs(&s.access_columns),
            ["loan.book_id", "book.id", "loan.member_id"]
        );
        assert_eq!(pairs(&s.read_columns), ["book.title", "loan.due_at"]);
        assert_eq!(
            s.sql(|t| format!("IGNORE INDEX (x_{t})")),
            "SELECT title, due_at FROM loan IGNORE INDEX (x_loan), book IGNORE INDEX (x_book) WHERE loan.book_id = book.id AND member_id = ? ORDER BY due_at"
        );
        assert_eq!(
            s.params[0].distribution,
            Distribution::Zipf {
                s: 1.2,
                source: Source::Column {
                    table: "member".into(),
                    column: "id".into()
                }
            }
        );
    }

    #[test]
    fn strings_comments_and_quoted_names_are_not_parsed_as_sql() {
        let w = Workload::parse(
            "-- name: q\n-- param: t = value('a')\n\
             SELECT `order`.id /* FROM x */ FROM `order` WHERE `order`.note = ':not_a_param -- FROM y' AND `order`.tag = :t",
            "x.sql",
        )
        .unwrap();
        let s = &w.statements[0];
        assert_eq!(s.tables, ["order"]);
        assert_eq!(s.binds, ["t"]);
        assert_eq!(pairs(&s.access_columns), ["order.note", "order.tag"]);
    }

    #[test]
    fn updates_and_deletes_get_hint_slots_and_are_refused_without_allow_writes() {
        let text = "-- name: renew\n-- param: m = uniform(loan.member_id)\n\
             UPDATE LOW_PRIORITY loan l SET l.due_at = l.due_at + INTERVAL 7 DAY WHERE l.member_id = :m\n\
             -- name: forget\n-- param: b = uniform(loan.book_id)\n\
             DELETE FROM `loan` WHERE book_id = :b\n\
             -- name: locked\n-- param: m = uniform(loan.member_id)\n\
             SELECT id FROM loan WHERE member_id = :m FOR UPDATE NOWAIT";
        let workload = Workload::parse(text, "w.sql").expect("parses");
        let [renew, forget, locked] = &workload.statements[..] else {
            panic!("three statements");
        };
        assert!(renew.writes && forget.writes && !locked.writes);
        let hint = |t: &str| format!("IGNORE INDEX (x_{t})");
        assert_eq!(
            renew.sql(hint),
            "UPDATE LOW_PRIORITY loan l IGNORE INDEX (x_loan) SET l.due_at = l.due_at + INTERVAL 7 DAY WHERE l.member_id = ?"
        );
        assert_eq!(pairs(&renew.filter_columns), ["loan.member_id"]);
        assert_eq!(renew.tables, ["loan"]);
        // The multi-table form, which takes hints and deletes the same rows.
        assert_eq!(
            forget.sql(hint),
            "DELETE `loan` FROM `loan` IGNORE INDEX (x_loan) WHERE book_id = ?"
        );
        assert_eq!(locked.tables, ["loan"], "FOR UPDATE names no table");
        let err = workload.require_reads_only().unwrap_err().to_string();
        assert!(
            err.starts_with("w.sql:1: statement renew is an UPDATE or DELETE")
                && err.contains("--allow-writes"),
            "{err}"
        );
        assert!(Workload::week8().require_reads_only().is_ok());
    }

    #[test]
    fn logged_index_hints_are_removed() {
        let logged = "SELECT s.id FROM seat s IGNORE INDEX (idx_seat_performance,`x`) \
             JOIN performance p USE KEY FOR ORDER BY (i) ON p.id = s.performance_id \
             WHERE s.grade = 'FORCE INDEX (a)' AND p.concert_id = 3";
        assert_eq!(
            without_index_hints(logged).unwrap(),
            "SELECT s.id FROM seat s JOIN performance p ON p.id = s.performance_id \
             WHERE s.grade = 'FORCE INDEX (a)' AND p.concert_id = 3"
        );
        let plain = "SELECT id FROM seat WHERE id = 1";
        assert_eq!(without_index_hints(plain).unwrap(), plain);
    }

    #[test]
    fn bad_files_name_the_file_and_line() {
        for (text, line, says) in [
            ("SELECT 1", 1, "SQL before the first -- name:"),
            ("", 1, "no statements"),
            (
                "-- name: a\nSELECT 1\n-- name: a\nSELECT 2",
                3,
                "named twice",
            ),
            ("-- name: a b\nSELECT 1", 1, "letters, digits and _"),
            (
                "-- name: a\n\nINSERT INTO t VALUES (1)",
                3,
                "is a INSERT: a workload times SELECTs, and UPDATEs and DELETEs with --allow-writes",
            ),
            (
                "-- name: a\nDELETE FROM t WHERE x = 1 LIMIT 10",
                2,
                "a DELETE with ORDER BY or LIMIT cannot take the variants' index hints",
            ),
            (
                "-- name: a\nSELECT * FROM t WHERE id = :id",
                2,
                "uses :id, which no -- param: line declares",
            ),
            (
                "-- name: a\n-- param: id = uniform(t.id)\nSELECT 1",
                1,
                "never uses :id",
            ),
            (
                "-- name: a\n-- param: id = normal(t.id)\nSELECT 1",
                2,
                "unknown distribution \"normal\"",
            ),
            (
                "-- name: a\n-- param: id = uniform(t)\nSELECT 1",
                2,
                "not TABLE.COLUMN nor a SELECT",
            ),
            (
                "-- name: a\n-- param: id = zipf(0, t.id)\nSELECT :id",
                2,
                "exponent",
            ),
            (
                "-- name: a\n-- param: id = value(abc)\nSELECT :id",
                2,
                "a number or a 'quoted string'",
            ),
            ("-- name: a\nSELECT 'x", 2, "never closed"),
            (
                "-- name: a\nSELECT 1; SELECT 2",
                2,
                "more than one statement",
            ),
            (
                "-- name: a\nSELECT * FROM t WHERE id = ?",
                2,
                "named parameter",
            ),
            ("-- name: a\nSELECT * FROM other.t", 2, "another database"),
            ("-- name: a\n", 1, "has no SQL"),
        ] {
            let err = Workload::parse(text, "w.sql").unwrap_err();
            let shown = err.to_string();
            assert!(
                shown.starts_with(&format!("w.sql:{line}: ")) && shown.contains(says),
                "{text:?}: {shown}"
            );
            assert!(!shown.contains('\n'), "{shown}");
        }
    }
}
