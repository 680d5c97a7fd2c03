//! The Sigma condition language: `and`, `or`, `not`, parentheses, `1 of x*`, `all of x*`,
//! `1 of them`, `all of them`, over the rule's named searches.

/// A parsed condition over search indices.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cond {
    /// The search at this index in the rule.
    Search(usize),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

/// Deepest nesting of parentheses and `not` accepted.
const MAX_DEPTH: usize = 64;
/// Longest condition accepted, in bytes.
const MAX_LEN: usize = 16 << 10;

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Open,
    Close,
    Word(String),
}

fn tokens(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in s.chars() {
        match c {
            '(' | ')' => {
                if !word.is_empty() {
                    out.push(Tok::Word(std::mem::take(&mut word)));
                }
                out.push(if c == '(' { Tok::Open } else { Tok::Close });
            }
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(Tok::Word(std::mem::take(&mut word)));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(Tok::Word(word));
    }
    out
}

struct Parser<'a> {
    toks: Vec<Tok>,
    at: usize,
    names: &'a [&'a str],
    depth: usize,
}

fn is_kw(t: Option<&Tok>, kw: &str) -> bool {
    matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
}

/// Whether search name `name` matches a `1 of` pattern (`*` any run of characters).
fn name_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Patterns are short; bound the backtracking by refusing many stars.
    p.iter().filter(|&&c| c == '*').count() <= 8 && go(&p, &n)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn or(&mut self) -> Result<Cond, String> {
        let mut parts = vec![self.and()?];
        while is_kw(self.peek(), "or") {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut parts = vec![self.not()?];
        while is_kw(self.peek(), "and") {
            self.at += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Cond::And(parts)
        })
    }

    fn not(&mut self) -> Result<Cond, String> {
        if is_kw(self.peek(), "not") {
            self.at += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(format!("nested deeper than {MAX_DEPTH} levels"));
            }
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Cond::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, String> {
        match self.next() {
            Some(Tok::Open) => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(format!("nested deeper than {MAX_DEPTH} levels"));
                }
                let inner = self.or()?;
                self.depth -= 1;
                match self.next() {
                    Some(Tok::Close) => Ok(inner),
                    _ => Err("a `(` is never closed".into()),
                }
            }
            Some(Tok::Close) => Err("unexpected `)`".into()),
            None => Err("the condition ends where a search was expected".into()),
            Some(Tok::Word(w)) => {
                if is_kw(self.peek(), "of") {
                    self.at += 1;
                    let all = if w.eq_ignore_ascii_case("all") {
                        true
                    } else if w == "1" || w.eq_ignore_ascii_case("any") {
                        false
                    } else {
                        return Err(format!(
                            "`{w} of` is not supported (only `1 of` and `all of`)"
                        ));
                    };
                    let target = match self.next() {
                        Some(Tok::Word(t)) => t,
                        _ => return Err(format!("`{w} of` needs a search pattern or `them`")),
                    };
                    let picked: Vec<usize> = if target.eq_ignore_ascii_case("them") {
                        (0..self.names.len())
                            .filter(|&i| !self.names[i].starts_with('_'))
                            .collect()
                    } else {
                        (0..self.names.len())
                            .filter(|&i| name_matches(&target, self.names[i]))
                            .collect()
                    };
                    if picked.is_empty() {
                        return Err(format!("`{w} of {target}` matches no search"));
                    }
                    let parts: Vec<Cond> = picked.into_iter().map(Cond::Search).collect();
                    return Ok(if all {
                        Cond::And(parts)
                    } else {
                        Cond::Or(parts)
                    });
                }
                if ["and", "or", "not", "of"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k))
                {
                    return Err(format!("unexpected `{w}`"));
                }
                match self.names.iter().position(|n| *n == w) {
                    Some(i) => Ok(Cond::Search(i)),
                    None => Err(format!("the condition names `{w}`, which is not a search")),
                }
            }
        }
    }
}

/// Parses `condition` over the searches `names`.
pub(crate) fn parse(condition: &str, names: &[&str]) -> Result<Cond, String> {
    if condition.len() > MAX_LEN {
        return Err(format!("the condition is longer than {MAX_LEN} bytes"));
    }
    if condition.contains('|') {
        return Err(
            "aggregation conditions (`| count() ...`, Sigma v1) are not supported; use correlation rules"
                .into(),
        );
    }
    let mut p = Parser {
        toks: tokens(condition),
        at: 0,
        names,
        depth: 0,
    };
    let cond = p.or()?;
    if let Some(t) = p.peek() {
        return Err(format!("unexpected {t:?} after a complete condition"));
    }
    Ok(cond)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_of() {
        let names = ["sel", "filter_a", "filter_b", "_hidden"];
        assert_eq!(
            parse("sel and not 1 of filter_*", &names),
            Ok(Cond::And(vec![
                Cond::Search(0),
                Cond::Not(Box::new(Cond::Or(vec![Cond::Search(1), Cond::Search(2)])))
            ]))
        );
        // `and` binds tighter than `or`.
        assert_eq!(
            parse("sel or filter_a and filter_b", &names),
            Ok(Cond::Or(vec![
                Cond::Search(0),
                Cond::And(vec![Cond::Search(1), Cond::Search(2)])
            ]))
        );
        assert_eq!(
            parse("all of them", &names),
            Ok(Cond::And(vec![
                Cond::Search(0),
                Cond::Search(1),
                Cond::Search(2)
            ]))
        );
        assert_eq!(
            parse("(sel OR filter_a) AND NOT _hidden", &names),
            Ok(Cond::And(vec![
                Cond::Or(vec![Cond::Search(0), Cond::Search(1)]),
                Cond::Not(Box::new(Cond::Search(3)))
            ]))
        );
        assert!(parse("sel and", &names).is_err());
        assert!(parse("(sel", &names).is_err());
        assert!(parse("missing", &names).is_err());
        assert!(parse("1 of nothing*", &names).is_err());
        assert!(parse("sel | count() > 5", &names).is_err());
        let deep = format!("{}sel{}", "(".repeat(500), ")".repeat(500));
        assert!(parse(&deep, &names).is_err());
    }
}
