//! The effective policy written back in the rules format: one block per rules file,
//! each block valid on its own (`nodeboot check --dump`).

use super::schema::{self, Field, Key, SECTIONS};
use crate::core::policy::Policy;

/// The policy as rules files, concatenated, each introduced by `# ==> <file> <==`.
pub fn to_toml(policy: &Policy) -> String {
    let mut out = String::new();
    let mut p = policy.clone();
    for section in SECTIONS {
        out.push_str(&format!("# ==> {} <==\n", section.file));
        write_keys(section.keys, &mut p, &mut out);
        out.push('\n');
    }
    out.push_str(&format!("# ==> {} <==\n", schema::SERVICES_FILE));
    for s in &policy.services {
        let mut s = s.clone();
        out.push_str("[[service]]\n");
        write_keys(schema::SERVICE_KEYS, &mut s, &mut out);
        out.push('\n');
    }
    out
}

fn write_keys<T>(keys: &'static [Key<T>], target: &mut T, out: &mut String) {
    for k in keys {
        let value = match &k.field {
            Field::Str(f) => Some(quote(f(target))),
            Field::Bool(f) => Some(f(target).to_string()),
            Field::Count(f, _, _) => Some(f(target).to_string()),
            Field::Dur(f, _) | Field::DurOrZero(f, _) => {
                Some(quote(&schema::format_duration(*f(target))))
            }
            Field::List(f) => Some(list(f(target))),
            Field::OptList(f) => f(target).as_deref().map(list),
        };
        match value {
            Some(v) => out.push_str(&format!("{} = {v}\n", k.name)),
            None => out.push_str(&format!("# {} unset (no restriction)\n", k.name)),
        }
    }
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", inner.join(", "))
}
