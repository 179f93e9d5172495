//! What is printed from the declarations: the reference in docs/configuration.md and the
//! variable listing of `portal config check`.

use std::fmt::Write as _;

use super::var::{DefaultValue, Var};
use super::{SECTIONS, Vars};

/// The lines in docs/configuration.md between which `markdown()` is kept.
pub const BEGIN_MARKER: &str = "<!-- BEGIN GENERATED CONFIGURATION REFERENCE -->";
pub const END_MARKER: &str = "<!-- END GENERATED CONFIGURATION REFERENCE -->";

/// The configuration reference: one table per section (`portal config reference`).
pub fn markdown() -> String {
    let mut out = String::from(
        "<!-- Generated from api/src/config/*.rs: edit the declarations, then run \
         `portal config reference` or `UPDATE_DOCS=1 cargo test -p portal-api --lib config::reference`. -->\n",
    );
    for section in SECTIONS {
        let _ = write!(
            out,
            "\n### {}\n\n{}\n\n| Variable | Type | Default | Meaning |\n|---|---|---|---|\n",
            section.title, section.intro
        );
        for var in section.vars {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                var.name,
                cell(&var.type_text()),
                cell(&var.default_text()),
                cell(var.help)
            );
        }
    }
    out
}

/// A table cell: a `|` would end it.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// `doc` with the text between the markers replaced by `markdown()`; `None` without markers.
pub fn update(doc: &str) -> Option<String> {
    let begin = doc.find(BEGIN_MARKER)? + BEGIN_MARKER.len();
    let end = begin + doc[begin..].find(END_MARKER)?;
    Some(format!("{}\n{}{}", &doc[..begin], markdown(), &doc[end..]))
}

/// Every declared variable with the value it has in `vars`: set (secrets as `[secret]`),
/// or the default for the environment. For `portal config check`.
pub fn listing(vars: &dyn Vars, development: bool) -> String {
    let mut out = String::from("variables (set, or the default):");
    for section in SECTIONS {
        let _ = write!(out, "\n  {}:", section.title);
        for var in section.vars {
            let _ = write!(
                out,
                "\n    {} = {}",
                var.name,
                value(var, vars, development)
            );
        }
    }
    out
}

fn value(var: &Var, vars: &dyn Vars, development: bool) -> String {
    match vars.get(var.name) {
        Some(_) if var.secret => "[secret] (set)".to_owned(),
        Some(value) => format!("{value:?} (set)"),
        None => match (var.default_value(development), var.default) {
            (Some(value), _) => format!("{value:?} (default)"),
            (None, DefaultValue::Derived(description)) => format!("default: {description}"),
            (None, _) => "unset".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    fn doc_path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md")
    }

    /// Fails when docs/configuration.md is not what the declarations generate;
    /// `UPDATE_DOCS=1` rewrites it.
    #[test]
    fn the_committed_reference_is_generated_from_the_declarations() {
        let path = doc_path();
        let doc = std::fs::read_to_string(&path).expect("docs/configuration.md");
        let updated = update(&doc).expect("docs/configuration.md has both markers");
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, &updated).expect("write docs/configuration.md");
        } else {
            assert!(
                doc == updated,
                "docs/configuration.md is stale: run `UPDATE_DOCS=1 cargo test -p portal-api --lib config::reference`"
            );
        }
    }

    #[test]
    fn every_variable_is_declared_once_with_help() {
        let mut seen = HashSet::new();
        for var in super::super::variables() {
            assert!(seen.insert(var.name), "{} is declared twice", var.name);
            assert!(!var.help.is_empty(), "{} has no help", var.name);
            let upper = var
                .name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            assert!(upper, "{} is not an environment variable name", var.name);
        }
    }

    #[test]
    fn defaults_parse_as_their_declarations_say() {
        let vars: HashMap<String, String> = HashMap::new();
        for development in [true, false] {
            let reader = super::super::var::Reader::new(&vars, development);
            for var in super::super::variables() {
                if var.default_value(development).is_none() {
                    continue;
                }
                if !var.choices.is_empty() {
                    reader.choice(var).expect("default among the choices");
                } else if var.kind == super::super::var::kind::BOOL {
                    reader.flag(var).expect("default flag");
                } else if var.min.is_some() || var.max.is_some() {
                    reader.number::<u64>(var).expect("default within bounds");
                }
            }
        }
    }

    #[test]
    fn the_listing_names_every_variable_and_never_prints_a_secret() {
        let vars: HashMap<String, String> = [
            ("REDIS_URL", "redis://:s3cret@127.0.0.1:6379/0"),
            ("NOTIFY_POLL_MS", "750"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let listing = listing(&vars, true);
        for var in super::super::variables() {
            assert!(listing.contains(var.name), "{} is not listed", var.name);
        }
        assert!(!listing.contains("s3cret"), "{listing}");
        assert!(listing.contains("REDIS_URL = [secret] (set)"), "{listing}");
        assert!(
            listing.contains("NOTIFY_POLL_MS = \"750\" (set)"),
            "{listing}"
        );
        assert!(
            listing.contains("PORTAL_BIND = \"127.0.0.1:8080\" (default)"),
            "{listing}"
        );
        assert!(
            listing.contains("PORTAL_SEED_DEMO = \"true\" (default)"),
            "{listing}"
        );
        let production = super::listing(&HashMap::new(), false);
        assert!(
            production.contains("PORTAL_SEED_DEMO = \"false\" (default)"),
            "{production}"
        );
    }
}
