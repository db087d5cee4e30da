//! Expected log streams (`*.expect` next to a scenario): readable, order-aware
//! checks on events and key fields, not on internals.
//!
//! ```text
//! # comment
//! disk.seen disk=sda verdict=unused          expected, in this order (a subsequence)
//! dhcp.gave_up nic=eth0 after_ms>=29000      comparisons: = != >= <= ~ (contains)
//! service.started service=redis t_ms>=60000  t_ms: the record's time in milliseconds
//! * disk.seen disk=sdb verdict=in-use        must appear somewhere (order-free)
//! ! cache.selected disk=sdb                  must not appear anywhere
//! ---                                        start a new in-order chain from the top
//! ```
//! Values with spaces are written in double quotes: `reason="no usable disk"`.

use crate::core::event::Record;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Ge,
    Le,
    Contains,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cond {
    pub key: String,
    pub op: Op,
    pub value: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Must appear after the previous in-order match.
    InOrder,
    /// Must appear somewhere (`* …`).
    Anywhere,
    /// Must not appear (`! …`).
    Absent,
    /// `---`: the next in-order line is searched from the first record again, so a
    /// file can state several independent orderings (a partial order).
    Reset,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    pub line: usize,
    pub kind: Kind,
    pub event: String,
    pub conds: Vec<Cond>,
    pub text: String,
}

/// Parse an expect file; errors name the line.
pub fn parse(text: &str) -> Result<Vec<Expectation>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "---" {
            out.push(Expectation {
                line: i + 1,
                kind: Kind::Reset,
                event: String::new(),
                conds: Vec::new(),
                text: line.to_owned(),
            });
            continue;
        }
        let (kind, rest) = if let Some(r) = line.strip_prefix('!') {
            (Kind::Absent, r.trim_start())
        } else if let Some(r) = line.strip_prefix('*') {
            (Kind::Anywhere, r.trim_start())
        } else {
            (Kind::InOrder, line)
        };
        let words = split_words(rest).map_err(|e| format!("line {}: {e}", i + 1))?;
        let Some((event, conds)) = words.split_first() else {
            return Err(format!("line {}: no event name", i + 1));
        };
        let conds = conds
            .iter()
            .map(|w| parse_cond(w).ok_or_else(|| format!("line {}: bad condition {w:?}", i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Expectation {
            line: i + 1,
            kind,
            event: event.clone(),
            conds,
            text: line.to_owned(),
        });
    }
    Ok(out)
}

fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    Ok(words)
}

fn parse_cond(word: &str) -> Option<Cond> {
    for (sym, op) in [
        ("!=", Op::Ne),
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("~", Op::Contains),
        ("=", Op::Eq),
    ] {
        if let Some((k, v)) = word.split_once(sym) {
            if k.is_empty() || k.contains(['=', '!', '<', '>', '~']) {
                continue;
            }
            return Some(Cond {
                key: k.to_owned(),
                op,
                value: v.to_owned(),
            });
        }
    }
    None
}

/// A record as the checks see it: the event's fields, `level`, and `t_ms`.
pub fn record_value(record: &Record) -> Value {
    let mut v = serde_json::to_value(&record.event).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("level".into(), Value::from(record.level.as_str()));
        m.insert("t_ms".into(), Value::from(record.at.as_millis()));
    }
    v
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn cond_holds(c: &Cond, record: &Value) -> bool {
    let Some(field) = record.get(&c.key) else {
        return false;
    };
    let have = text_of(field);
    match c.op {
        Op::Eq => have == c.value,
        Op::Ne => have != c.value,
        Op::Contains => have.contains(&c.value),
        Op::Ge | Op::Le => match (field.as_f64(), c.value.parse::<f64>()) {
            (Some(h), Ok(w)) => {
                if c.op == Op::Ge {
                    h >= w
                } else {
                    h <= w
                }
            }
            _ => false,
        },
    }
}

pub fn matches(e: &Expectation, record: &Value) -> bool {
    record.get("event").and_then(Value::as_str) == Some(e.event.as_str())
        && e.conds.iter().all(|c| cond_holds(c, record))
}

/// Check `records` against `expectations`; the error lists every failed line and
/// what the stream held around it.
pub fn check(expectations: &[Expectation], records: &[Value]) -> Result<(), String> {
    let mut failures = Vec::new();
    let mut pos = 0usize;
    for e in expectations {
        match e.kind {
            Kind::Absent => {
                if let Some(r) = records.iter().find(|r| matches(e, r)) {
                    failures.push(format!("line {}: `{}` but found {r}", e.line, e.text));
                }
                continue;
            }
            Kind::Anywhere => {
                if !records.iter().any(|r| matches(e, r)) {
                    failures.push(format!(
                        "line {}: `{}` not found anywhere; {}",
                        e.line,
                        e.text,
                        same_event(e, records)
                    ));
                }
                continue;
            }
            Kind::Reset => {
                pos = 0;
                continue;
            }
            Kind::InOrder => {}
        }
        let rest = records.get(pos..).unwrap_or_default();
        match rest.iter().position(|r| matches(e, r)) {
            Some(i) => pos += i + 1,
            None => {
                let earlier = records
                    .get(..pos)
                    .unwrap_or_default()
                    .iter()
                    .any(|r| matches(e, r));
                failures.push(format!(
                    "line {}: `{}` not found{}; {}",
                    e.line,
                    e.text,
                    if earlier {
                        " after the previous match (it appears earlier)"
                    } else {
                        ""
                    },
                    same_event(e, records)
                ));
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// The records carrying the expectation's event, for failure reports.
fn same_event(e: &Expectation, records: &[Value]) -> String {
    let same: Vec<String> = records
        .iter()
        .filter(|r| r.get("event").and_then(Value::as_str) == Some(e.event.as_str()))
        .map(Value::to_string)
        .collect();
    if same.is_empty() {
        format!("no `{}` record at all", e.event)
    } else {
        format!("`{}` records:\n    {}", e.event, same.join("\n    "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subsequence_comparisons_and_absence() {
        let exp = parse(
            "# c\n\
             disk.seen disk=sda verdict=unused\n\
             cache.none reason~\"no usable\"\n\
             gate.released after_ms>=60000 after_ms<=60000 reason!=reachable\n\
             ! cache.selected\n\
             * boot.start\n\
             ---\n\
             disk.seen disk=sda\n",
        )
        .unwrap();
        assert_eq!(exp.len(), 7);
        let records = vec![
            json!({"event":"boot.start"}),
            json!({"event":"disk.seen","disk":"sda","verdict":"unused"}),
            json!({"event":"cache.none","reason":"no usable disk"}),
            json!({"event":"gate.released","reason":"timeout","after_ms":60000}),
        ];
        check(&exp, &records).unwrap();
        // Order matters.
        let mut swapped = records.clone();
        swapped.swap(1, 2);
        let err = check(&exp, &swapped).unwrap_err();
        assert!(err.contains("line 3"), "{err}");
        // Absence fails when present.
        let mut with = records.clone();
        with.push(json!({"event":"cache.selected","disk":"sdb"}));
        assert!(check(&exp, &with).unwrap_err().contains("line 5"));
        assert!(parse("disk.seen =x").is_err());
        assert!(parse("disk.seen reason=\"open").is_err());
    }
}
