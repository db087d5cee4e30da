//! The flag reader every subcommand of the command line (src/cli) parses its flags with
//! (`--name value`, `--name=value`, boolean `--flag`, positionals). A module of the
//! binary, like `cli`: no library module can read argv. No clap: this binary is `/init`.

/// A tiny flag reader: `--name value`, `--name=value`, boolean `--flag`, positionals.
#[derive(Debug, Default)]
pub struct Args {
    pub positional: Vec<String>,
    pub flags: Vec<(String, Option<String>)>,
}

impl Args {
    /// `takes_value` lists the flags that take a value (`--root DIR`); others are booleans.
    pub fn parse(args: &[String], takes_value: &[&str]) -> Result<Args, String> {
        let mut out = Args::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if let Some(stripped) = a
                .strip_prefix("--")
                .or_else(|| a.strip_prefix('-').filter(|s| !s.is_empty()))
            {
                let (name, inline) = match stripped.split_once('=') {
                    Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                    None => (stripped.to_owned(), None),
                };
                if takes_value.contains(&name.as_str()) {
                    let value = match inline {
                        Some(v) => v,
                        None => it
                            .next()
                            .cloned()
                            .ok_or_else(|| format!("--{name} needs a value"))?,
                    };
                    out.flags.push((name, Some(value)));
                } else if inline.is_some() {
                    return Err(format!("--{name} takes no value"));
                } else {
                    out.flags.push((name, None));
                }
            } else {
                out.positional.push(a.clone());
            }
        }
        Ok(out)
    }

    pub fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|(n, _)| n == name)
    }

    /// The last value given for `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Every value given for a repeatable flag.
    pub fn values(&self, name: &str) -> Vec<String> {
        self.flags
            .iter()
            .filter(|(n, _)| n == name)
            .filter_map(|(_, v)| v.clone())
            .collect()
    }

    /// Flags not in `known` (for a clear error).
    pub fn unknown(&self, known: &[&str]) -> Option<String> {
        self.flags
            .iter()
            .map(|(n, _)| n)
            .find(|n| !known.contains(&n.as_str()))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_values_booleans_and_positionals() {
        let a = Args::parse(
            &s(&[
                "t.trace",
                "--disk",
                "loop*",
                "--disk=sdz",
                "--dry-run",
                "-f",
            ]),
            &["disk"],
        )
        .unwrap();
        assert_eq!(a.positional, vec!["t.trace"]);
        assert_eq!(a.values("disk"), vec!["loop*", "sdz"]);
        assert!(a.has("dry-run") && a.has("f"));
        assert_eq!(a.unknown(&["disk", "dry-run"]), Some("f".into()));
        assert!(Args::parse(&s(&["--disk"]), &["disk"]).is_err());
    }
}
