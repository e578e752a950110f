//! The crate's shape, checked. A module is a top-level file or folder of `src/`, or one
//! entry of the `commands/` and `domain/` folders (`commands::seed`, `domain::booking`).
//! Every `crate::` path in a module's files is an edge. Two rules: no import cycles (no group
//! of modules that reach each other), and edges point down the layers of `docs/architecture.md`:
//! `cli` -> `commands` -> `index_lab` -> `domain` -> `gate`, `context` -> `render` ->
//! `measure` -> `storage`, `keyspace`, never up.
//! The crate root (`lib.rs`: `run` and the exit codes) is left out: it dispatches to every
//! command. The layout itself is described once, in `docs/architecture.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Folders whose entries are modules of their own.
const FOLDERS: [&str; 2] = ["commands", "domain"];

fn module_of(path: &Path, src: &Path) -> String {
    let parts: Vec<String> = path
        .strip_prefix(src)
        .unwrap()
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    match parts.as_slice() {
        [folder, entry, ..] if FOLDERS.contains(&folder.as_str()) && entry != "mod" => {
            format!("{folder}::{entry}")
        }
        [first, ..] => first.clone(),
        [] => unreachable!(),
    }
}

/// The layer a module sits in: edges may only point to the same layer or below.
fn layer(module: &str) -> u8 {
    match module.split("::").next().unwrap() {
        "cli" => 7,
        "commands" => 6,
        "index_lab" => 5,
        "domain" => 4,
        "gate" | "context" => 3,
        "render" => 2,
        "measure" => 1,
        "storage" | "keyspace" => 0,
        other => panic!("src/{other} has no layer: give it one here and in docs/architecture.md"),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules a piece of code names through `crate::` (`crate::domain::booking::X` names
/// `domain::booking`; `crate::{db, schema}` names both).
fn referenced(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("")
            .to_string()
    };
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let names: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            group.split(',').map(|part| ident(part.trim())).collect()
        } else {
            let first = ident(rest);
            let after = &rest[first.len()..];
            match after.strip_prefix("::") {
                Some(next) if FOLDERS.contains(&first.as_str()) => {
                    vec![format!("{first}::{}", ident(next)), first]
                }
                _ => vec![first],
            }
        };
        // The most specific name that is a module: `domain::booking`, else `domain`.
        if let Some(name) = names.iter().find(|n| modules.contains(*n)) {
            found.insert(name.clone());
        }
        if rest.starts_with('{') {
            found.extend(names.into_iter().filter(|n| modules.contains(n)));
        }
    }
    found
}

/// Groups of two or more modules that reach each other (Tarjan-free: reachability sets are
/// small enough at this size).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(m) = todo.pop() {
            for next in graph.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|m| (m, reach(m))).collect();
    let mut groups: BTreeSet<Vec<String>> = BTreeSet::new();
    for (m, from_m) in &reachable {
        let mut group: Vec<String> = from_m
            .iter()
            .filter(|other| reachable.get(other).is_some_and(|r| r.contains(*m)))
            .cloned()
            .collect();
        if !group.is_empty() {
            if !group.contains(m) {
                group.push((*m).clone());
            }
            group.sort();
            groups.insert(group);
        }
    }
    groups.into_iter().filter(|g| g.len() > 1).collect()
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(f, &src))
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(file, &src);
        if !modules.contains(&module) {
            continue;
        }
        let code = std::fs::read_to_string(file).unwrap();
        let edges = graph.entry(module.clone()).or_default();
        edges.extend(
            referenced(&code, &modules)
                .into_iter()
                .filter(|m| *m != module),
        );
    }
    graph
}

#[test]
fn no_import_cycles_between_modules() {
    let graph = graph();
    assert!(graph.contains_key("domain::booking") && graph.contains_key("commands::seed"));
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "import cycles between modules: {found:?} (edges: {graph:#?})"
    );
}

#[test]
fn dependencies_point_down_the_layers() {
    let upward: Vec<String> = graph()
        .iter()
        .flat_map(|(from, to)| {
            to.iter()
                .filter(|to| layer(to) > layer(from))
                .map(move |to| format!("{from} -> {to}"))
        })
        .collect();
    assert!(
        upward.is_empty(),
        "edges that point up the layers: {upward:?}"
    );
}

#[test]
fn the_layout_doc_names_every_folder() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    for entry in std::fs::read_dir(root.join("src")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            assert!(
                doc.contains(&format!("src/{name}/ ")),
                "docs/architecture.md's layout does not name src/{name}/"
            );
            layer(&name); // every folder has a layer
        }
    }
}
