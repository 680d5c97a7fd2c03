//! Header-format specs such as `<Date> <Time> <Level> <Component>: <Content>` (the Loghub
//! notation), compiled to an anchored regular expression.
//!
//! Syntax: `<Name>` is a field (letters, digits, `_`; names must be unique); a run of
//! whitespace matches one or more whitespace characters; `(` ... `)?` is an optional group
//! when its `)` is directly followed by `?`; `\x` is the literal `x`; everything else is
//! literal. Each field matches as little as possible, except a field that ends the format,
//! which takes the rest of the line.

use regex::Regex;

use crate::error::{Error, Result};

/// Longest header-format spec accepted, in bytes.
pub const MAX_SPEC_BYTES: usize = 4096;

/// A compiled header format.
#[derive(Clone, Debug)]
pub struct HeaderFormat {
    spec: String,
    fields: Vec<String>,
    regex: Regex,
}

fn bad(spec: &str, why: impl Into<String>) -> Error {
    Error::param("format", format!("header format `{spec}`: {}", why.into()))
}

impl HeaderFormat {
    /// Compiles `spec`, or says what is wrong with it.
    pub fn new(spec: &str) -> Result<Self> {
        if spec.len() > MAX_SPEC_BYTES {
            return Err(bad("...", format!("longer than {MAX_SPEC_BYTES} bytes")));
        }
        let chars: Vec<char> = spec.chars().collect();
        // Positions of `(` that open an optional group: the matching `)` is followed by `?`.
        let mut open_stack = Vec::new();
        let mut group_open = vec![false; chars.len()];
        let mut group_close = vec![false; chars.len()];
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '\\' => i += 1,
                '(' => open_stack.push(i),
                ')' => {
                    if let Some(o) = open_stack.pop()
                        && chars.get(i + 1) == Some(&'?')
                    {
                        group_open[o] = true;
                        group_close[i] = true;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        let mut re = String::from("^");
        let mut fields: Vec<String> = Vec::new();
        let mut i = 0;
        let mut depth = 0usize;
        let mut last_field_end_at = None;
        while i < chars.len() {
            let c = chars[i];
            if c == '<' {
                let close = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '>')
                    .map(|p| p + i + 1)
                    .ok_or_else(|| bad(spec, format!("`<` at character {i} is not closed")))?;
                let name: String = chars[i + 1..close].iter().collect();
                if name.is_empty()
                    || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    || name.starts_with(|c: char| c.is_ascii_digit())
                {
                    return Err(bad(
                        spec,
                        format!(
                            "field name `{name}` must be letters, digits and `_`, not starting with a digit"
                        ),
                    ));
                }
                if name.starts_with('_') {
                    return Err(bad(
                        spec,
                        format!("field name `{name}` must not start with `_` (reserved)"),
                    ));
                }
                if fields.contains(&name) {
                    return Err(bad(spec, format!("field `{name}` appears twice")));
                }
                re.push_str(&format!("(?P<{name}>.*?)"));
                last_field_end_at = Some(re.len());
                fields.push(name);
                i = close + 1;
                continue;
            }
            if c.is_whitespace() {
                while i < chars.len() && chars[i].is_whitespace() {
                    i += 1;
                }
                re.push_str(r"\s+");
                continue;
            }
            if c == '(' && group_open[i] {
                re.push_str("(?:");
                depth += 1;
            } else if c == ')' && group_close[i] {
                re.push_str(")?");
                depth = depth.saturating_sub(1);
                i += 2;
                continue;
            } else if c == '\\' {
                if let Some(&n) = chars.get(i + 1) {
                    re.push_str(&regex::escape(&n.to_string()));
                }
                i += 2;
                continue;
            } else {
                re.push_str(&regex::escape(&c.to_string()));
            }
            i += 1;
        }
        if fields.is_empty() {
            return Err(bad(spec, "has no `<Field>`"));
        }
        if last_field_end_at == Some(re.len()) && depth == 0 {
            // The format ends with a field: it takes the rest of the line.
            re.truncate(re.len() - ".*?)".len());
            re.push_str(".*)");
        }
        re.push('$');
        let regex = regex::RegexBuilder::new(&re)
            .dot_matches_new_line(true)
            .size_limit(1 << 22)
            .build()
            .map_err(|e| bad(spec, e.to_string()))?;
        Ok(HeaderFormat {
            spec: spec.to_string(),
            fields,
            regex,
        })
    }

    /// The spec this was compiled from.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// Field names in order.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The fields of `line`, each trimmed of surrounding whitespace (as is the line), or
    /// `None` when the line does not match. Fields of an optional group that did not match
    /// are `None`.
    pub fn parse<'a>(&self, line: &'a str) -> Option<Vec<Option<&'a str>>> {
        let caps = self.regex.captures(line.trim())?;
        Some(
            (1..=self.fields.len())
                .map(|i| caps.get(i).map(|m| m.as_str().trim()))
                .collect(),
        )
    }
}

/// The Loghub header format of `system` (HDFS, BGL, Apache, OpenSSH, Linux, HealthApp,
/// Proxifier, Zookeeper, case-insensitive), as listed with the Loghub benchmark.
pub fn loghub_format(system: &str) -> Option<&'static str> {
    Some(match system.to_ascii_lowercase().as_str() {
        "hdfs" => "<Date> <Time> <Pid> <Level> <Component>: <Content>",
        "bgl" => {
            "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>"
        }
        "apache" => "[<Time>] [<Level>] <Content>",
        "openssh" => "<Date> <Day> <Time> <Component> sshd[<Pid>]: <Content>",
        "linux" => "<Month> <Date> <Time> <Level> <Component>([<PID>])?: <Content>",
        "healthapp" => "<Time>|<Component>|<Pid>|<Content>",
        "proxifier" => "[<Time>] <Program> - <Content>",
        "zookeeper" => "<Date> <Time> - <Level>  [<Node>:<Component>@<Id>] - <Content>",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hdfs() {
        let f = HeaderFormat::new(loghub_format("HDFS").unwrap()).unwrap();
        let p = f
            .parse("081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating")
            .unwrap();
        assert_eq!(p[4], Some("dfs.DataNode$PacketResponder"));
        assert_eq!(
            p[5],
            Some("PacketResponder 1 for block blk_38865049064139660 terminating")
        );
    }

    #[test]
    fn linux_optional_group() {
        let f = HeaderFormat::new(loghub_format("linux").unwrap()).unwrap();
        let p = f
            .parse("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown ")
            .unwrap();
        assert_eq!(p[4], Some("sshd(pam_unix)"));
        assert_eq!(p[5], Some("19939"));
        assert_eq!(p[6], Some("check pass; user unknown"));
        let p = f.parse("Jun 15 04:06:18 combo su: session opened").unwrap();
        assert_eq!(p[4], Some("su"));
        assert_eq!(p[5], None);
    }

    #[test]
    fn errors() {
        assert!(HeaderFormat::new("no fields").is_err());
        assert!(HeaderFormat::new("<A> <A>").is_err());
        assert!(HeaderFormat::new("<A").is_err());
        assert!(HeaderFormat::new("<a b>").is_err());
        assert!(HeaderFormat::new("(<A>").is_ok());
    }
}
