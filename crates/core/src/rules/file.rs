//! Reading one rules file: TOML parsed into a spanned tree (`toml::de::DeTable`), walked
//! key by key so that every problem — syntax, unknown key, wrong type, bad value — is
//! reported with its line, and all of them at once rather than the first.

use super::RulesError;
use super::schema::{self, Field, Key, Section};
use super::validate::Problem;
use crate::core::policy::{Policy, ServiceSpec};
use std::collections::BTreeMap;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A file's text with its name, for turning byte offsets into lines.
pub(crate) struct Source<'a> {
    pub name: String,
    pub text: &'a str,
}

impl Source<'_> {
    pub fn line_of(&self, offset: usize) -> u32 {
        let newlines = self
            .text
            .bytes()
            .take(offset)
            .filter(|b| *b == b'\n')
            .count();
        u32::try_from(newlines)
            .unwrap_or(u32::MAX - 1)
            .saturating_add(1)
    }
    pub fn error(&self, offset: usize, message: impl Into<String>) -> RulesError {
        RulesError {
            file: self.name.clone(),
            line: self.line_of(offset),
            message: message.into(),
        }
    }
    /// Parse the whole file; syntax errors (all of them, with lines) on failure.
    pub fn parse(&self) -> Result<Spanned<DeTable<'_>>, Vec<RulesError>> {
        let (table, errors) = DeTable::parse_recoverable(self.text);
        if errors.is_empty() {
            return Ok(table);
        }
        Err(errors
            .iter()
            .map(|e| {
                let at = e.span().map(|s| s.start).unwrap_or(0);
                self.error(at, format!("syntax error: {}", e.message()))
            })
            .collect())
    }
}

/// Apply the keys of one table to `target`. Returns the line of each key seen (to
/// place semantic errors), and pushes an error for each unknown or mistyped key.
pub(crate) fn apply_table<T>(
    src: &Source<'_>,
    table: &DeTable<'_>,
    keys: &'static [Key<T>],
    what: &str,
    target: &mut T,
    errors: &mut Vec<RulesError>,
) -> BTreeMap<&'static str, u32> {
    let mut lines = BTreeMap::new();
    for (key, value) in table.iter() {
        let name: &str = key.get_ref();
        let Some(known) = schema::find_key(keys, name) else {
            let hint = schema::suggest(name, keys.iter().map(|k| k.name))
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            errors.push(src.error(
                key.span().start,
                format!("unknown key `{name}` in {what}{hint}"),
            ));
            continue;
        };
        lines.insert(known.name, src.line_of(key.span().start));
        if let Err(m) = set_from_toml(&known.field, target, value) {
            errors.push(src.error(value.span().start, format!("`{name}`: {m}")));
        }
    }
    lines
}

fn set_from_toml<T>(
    field: &Field<T>,
    target: &mut T,
    value: &Spanned<DeValue<'_>>,
) -> Result<(), String> {
    let v = value.get_ref();
    let found = v.type_str();
    match field {
        Field::Str(f) => {
            *f(target) = v
                .as_str()
                .ok_or(format!("expected a string, found {found}"))?
                .to_owned()
        }
        Field::Bool(f) => {
            *f(target) = v
                .as_bool()
                .ok_or(format!("expected true or false, found {found}"))?
        }
        Field::Count(f, lo, hi) => {
            let n = integer(v).ok_or(format!("expected a whole number, found {found}"))?;
            let n = usize::try_from(n)
                .map_err(|_| format!("must be between {lo} and {hi}, found {n}"))?;
            *f(target) = schema::check_count(n, *lo, *hi)?;
        }
        Field::Dur(f, max) | Field::DurOrZero(f, max) => {
            let zero_ok = matches!(field, Field::DurOrZero(..));
            let d = if let Some(s) = v.as_str() {
                schema::parse_duration(s)?
            } else if let Some(n) = integer(v) {
                let secs = u64::try_from(n).map_err(|_| "must be greater than zero".to_string())?;
                std::time::Duration::from_secs(secs)
            } else {
                return Err(format!(
                    "expected a duration (\"30s\", \"500ms\", \"2m\" or whole seconds), found {found}"
                ));
            };
            *f(target) = schema::check_duration_or_zero(d, *max, zero_ok)?;
        }
        Field::List(f) => *f(target) = string_list(v)?,
        Field::OptList(f) => *f(target) = Some(string_list(v)?),
    }
    Ok(())
}

fn integer(v: &DeValue<'_>) -> Option<i64> {
    let i = v.as_integer()?;
    i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok()
}

fn string_list(v: &DeValue<'_>) -> Result<Vec<String>, String> {
    let arr = v.as_array().ok_or(format!(
        "expected a list of strings, found {}",
        v.type_str()
    ))?;
    arr.iter()
        .map(|item| {
            item.get_ref().as_str().map(str::to_owned).ok_or(format!(
                "expected a list of strings, found {} in it",
                with_article(item.get_ref().type_str())
            ))
        })
        .collect()
}

/// Read one flat section file into `policy`. Any error leaves the section at the
/// built-in defaults (it is reset), and the errors are pushed.
pub(crate) fn load_section(
    section: &Section,
    src: &Source<'_>,
    policy: &mut Policy,
    errors: &mut Vec<RulesError>,
) {
    let table = match src.parse() {
        Ok(t) => t,
        Err(e) => {
            errors.extend(e);
            (section.reset)(policy);
            return;
        }
    };
    let mut candidate = policy.clone();
    (section.reset)(&mut candidate);
    let mut found = Vec::new();
    // Keys may sit at the top of the file or under one header naming the file's
    // section (`[gate]` in gate.toml); both forms read the same.
    let mut top = table.get_ref().clone();
    let mut tables = Vec::new();
    for header in section.headers {
        if top.get(*header).is_some_and(|v| v.get_ref().is_table())
            && let Some(v) = top.remove(*header)
            && let DeValue::Table(t) = v.into_inner()
        {
            tables.push(t);
        }
    }
    tables.insert(0, top);
    let mut lines: BTreeMap<&'static str, u32> = BTreeMap::new();
    for t in &tables {
        let here = apply_table(
            src,
            t,
            section.keys,
            section.file,
            &mut candidate,
            &mut found,
        );
        for (key, line) in here {
            if let Some(first) = lines.insert(key, line) {
                let message = format!("duplicate key `{key}` (also set on line {first})");
                found.push(RulesError {
                    file: src.name.clone(),
                    line,
                    message,
                });
            }
        }
    }
    // Mistyped keys kept their defaults, so the semantic checks still say something
    // true about the keys that did parse.
    for problem in (section.validate)(&candidate) {
        let line = problem_line(src, &tables, &lines, &problem);
        found.push(RulesError {
            file: src.name.clone(),
            line,
            message: problem.message,
        });
    }
    if found.is_empty() {
        *policy = candidate;
    } else {
        (section.reset)(policy);
        errors.extend(found);
    }
}

/// The line of the value a problem blames: the list element when there is one, else
/// the key, else line 1 (the key was not in the file).
fn problem_line(
    src: &Source<'_>,
    tables: &[DeTable<'_>],
    lines: &BTreeMap<&'static str, u32>,
    p: &Problem,
) -> u32 {
    let element = p.item.and_then(|i| {
        let value = tables.iter().find_map(|t| t.get(p.key))?;
        let item = value.get_ref().as_array()?.get(i)?;
        Some(src.line_of(item.span().start))
    });
    element.or_else(|| lines.get(p.key).copied()).unwrap_or(1)
}

/// One `[[service]]` entry as read, with the lines needed for later checks.
pub(crate) struct ServiceEntry {
    pub spec: ServiceSpec,
    /// Line of the entry (its `name` key, else the table).
    pub line: u32,
    /// Line of its `after` key (or the entry's line).
    pub after_line: u32,
}

/// Read `services.toml`: the well-formed entries, each checked on its own. A syntax
/// error drops the whole file (no services).
/// The names of entries rejected on their own are returned too, so that services that
/// run after them can be told why they are skipped.
pub(crate) fn load_services(
    src: &Source<'_>,
    errors: &mut Vec<RulesError>,
) -> (Vec<ServiceEntry>, Vec<String>) {
    let table = match src.parse() {
        Ok(t) => t,
        Err(e) => {
            errors.extend(e);
            return (Vec::new(), Vec::new());
        }
    };
    let mut entries = Vec::new();
    let mut rejected = Vec::new();
    for (key, value) in table.get_ref().iter() {
        let name: &str = key.get_ref();
        if name != "service" {
            let hint = if schema::suggest(name, ["service"].into_iter()).is_some() {
                " (did you mean `[[service]]`?)"
            } else {
                " (services.toml holds only `[[service]]` tables)"
            };
            errors.push(src.error(key.span().start, format!("unknown key `{name}`{hint}")));
            continue;
        }
        let Some(items) = value.get_ref().as_array() else {
            errors.push(src.error(
                value.span().start,
                "`service` must be an array of tables: write `[[service]]`",
            ));
            continue;
        };
        for item in items.iter() {
            let item_line = src.line_of(item.span().start);
            let Some(t) = item.get_ref().as_table() else {
                errors.push(src.error(
                    item.span().start,
                    format!(
                        "expected a `[[service]]` table, found {}",
                        item.get_ref().type_str()
                    ),
                ));
                continue;
            };
            let mut spec = ServiceSpec::default();
            let mut found = Vec::new();
            let lines = apply_table(
                src,
                t,
                schema::SERVICE_KEYS,
                "a [[service]]",
                &mut spec,
                &mut found,
            );
            let line = lines.get("name").copied().unwrap_or(item_line);
            {
                found.extend(
                    check_service(&spec, &lines, line)
                        .into_iter()
                        .map(|(l, m)| RulesError {
                            file: src.name.clone(),
                            line: l,
                            message: m,
                        }),
                );
            }
            if found.is_empty() {
                let after_line = lines.get("after").copied().unwrap_or(line);
                entries.push(ServiceEntry {
                    spec,
                    line,
                    after_line,
                });
            } else {
                if !spec.name.is_empty() {
                    rejected.push(spec.name);
                }
                errors.extend(found);
            }
        }
    }
    (entries, rejected)
}

fn check_service(
    s: &ServiceSpec,
    lines: &BTreeMap<&'static str, u32>,
    line: u32,
) -> Vec<(u32, String)> {
    let at = |k: &str| lines.get(k).copied().unwrap_or(line);
    let mut out = Vec::new();
    if s.name.is_empty() {
        out.push((at("name"), "service name is missing or empty".to_string()));
    } else if s.name.contains('/') || s.name.chars().any(char::is_whitespace) {
        out.push((
            at("name"),
            format!("service name {:?} must not contain `/` or spaces", s.name),
        ));
    }
    if s.argv.first().is_none_or(|a| a.is_empty()) {
        let who = if s.name.is_empty() {
            "service"
        } else {
            s.name.as_str()
        };
        out.push((at("argv"), format!("`{who}`: argv must not be empty")));
    }
    if s.backoff_initial > s.backoff_max {
        out.push((
            at("backoff_initial"),
            "backoff_initial must not exceed backoff_max".into(),
        ));
    }
    out
}

fn with_article(kind: &str) -> String {
    let vowel = kind.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {kind}", if vowel { "an" } else { "a" })
}
