//! Prefilters for the literal pass: a byte trie for prefix and suffix tests, and the
//! literals a regex's every match must contain (from its `regex-syntax` tree), so a regex
//! runs only on values where the substring pass found one of them.

/// Patterns matched only at the start of the value: a byte trie walked from the first byte
/// until no pattern continues (suffixes: reversed patterns on the reversed value).
#[derive(Debug, Default)]
pub(crate) struct Trie {
    nodes: Vec<Node>,
}

/// A trie node: its children (byte, node) sorted by byte, and the leaves of the pattern
/// ending there.
type Node = (Vec<(u8, u32)>, Vec<u32>);

impl Trie {
    pub(crate) fn insert(&mut self, pattern: &[u8], leaf: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(Default::default());
        }
        let mut at = 0usize;
        for &b in pattern {
            let Some((children, _)) = self.nodes.get(at) else {
                return;
            };
            at = match children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => children[i].1 as usize,
                Err(i) => {
                    let new = self.nodes.len() as u32;
                    self.nodes.push(Default::default());
                    if let Some((children, _)) = self.nodes.get_mut(at) {
                        children.insert(i, (b, new));
                    }
                    new as usize
                }
            };
        }
        if let Some((_, leaves)) = self.nodes.get_mut(at)
            && !leaves.contains(&leaf)
        {
            leaves.push(leaf);
        }
    }

    /// Calls `hit` with every leaf whose pattern starts `hay`.
    #[inline]
    pub(crate) fn walk(&self, mut hay: impl Iterator<Item = u8>, mut hit: impl FnMut(u32)) {
        let mut at = 0usize;
        loop {
            let Some((children, leaves)) = self.nodes.get(at) else {
                return;
            };
            for &l in leaves {
                hit(l);
            }
            let Some(b) = hay.next() else { return };
            at = match children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => children[i].1 as usize,
                Err(_) => return,
            };
        }
    }
}

/// A regex's prefilter: the ASCII literals (lower-cased) one of which every match in an
/// ASCII value contains, and the shortest match in bytes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Required {
    /// Empty when no ASCII value can match.
    pub literals: Vec<Vec<u8>>,
    pub min_len: usize,
}

pub(crate) fn parse_regex(pattern: &str) -> Option<regex_syntax::hir::Hir> {
    regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()
}

/// The prefilter of `pattern`, or `None` when some match may contain no literal (e.g. `.*`,
/// `\d+`): literal runs of a concatenation (case-insensitive letters count as literals:
/// the literal pass ignores ASCII case), alternatives' sets joined, repetitions of at least
/// one; the longest shortest-literal wins. Literals that are not ASCII are dropped (no ASCII
/// value holds them); values that are not ASCII are tested against every such regex.
pub(crate) fn required_literals(pattern: &str) -> Option<Required> {
    let hir = parse_regex(pattern)?;
    let min_len = hir.properties().minimum_len().unwrap_or(0);
    let mut literals = required(&hir)?;
    literals.retain(|l| l.is_ascii());
    for l in &mut literals {
        l.make_ascii_lowercase();
    }
    literals.sort();
    literals.dedup();
    Some(Required { literals, min_len })
}

/// The one lower-case ASCII byte a class stands for in ASCII text (`[Aa]`, `[Kk\u{212A}]`,
/// `[x]`), if any.
fn class_byte(c: &regex_syntax::hir::Class) -> Option<u8> {
    use regex_syntax::hir::Class;
    let mut byte: Option<u8> = None;
    let mut add = |lo: u32, hi: u32| -> bool {
        if lo > 127 {
            return true;
        }
        if hi - lo >= 64 {
            return false;
        }
        for x in lo..=hi.min(127) {
            let b = (x as u8).to_ascii_lowercase();
            if byte.is_some_and(|y| y != b) {
                return false;
            }
            byte = Some(b);
        }
        true
    };
    let ok = match c {
        Class::Unicode(u) => u
            .ranges()
            .iter()
            .all(|r| add(r.start() as u32, r.end() as u32)),
        Class::Bytes(b) => b
            .ranges()
            .iter()
            .all(|r| add(r.start() as u32, r.end() as u32)),
    };
    if ok { byte } else { None }
}

fn shortest(set: &[Vec<u8>]) -> usize {
    set.iter().map(Vec::len).min().unwrap_or(0)
}

fn required(hir: &regex_syntax::hir::Hir) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::HirKind;
    match hir.kind() {
        HirKind::Literal(l) => Some(vec![l.0.to_vec()]),
        HirKind::Class(c) => class_byte(c).map(|b| vec![vec![b]]),
        HirKind::Capture(c) => required(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => required(&r.sub),
        HirKind::Alternation(xs) => {
            let mut out = Vec::new();
            for x in xs {
                out.extend(required(x)?);
            }
            (!out.is_empty() && out.len() <= 64).then_some(out)
        }
        HirKind::Concat(xs) => {
            let mut best: Option<Vec<Vec<u8>>> = None;
            let consider = |cand: Vec<Vec<u8>>, best: &mut Option<Vec<Vec<u8>>>| {
                if !cand.is_empty()
                    && cand.iter().all(|l| !l.is_empty())
                    && best.as_ref().is_none_or(|b| shortest(&cand) > shortest(b))
                {
                    *best = Some(cand);
                }
            };
            let mut run: Vec<u8> = Vec::new();
            for x in xs {
                match x.kind() {
                    HirKind::Literal(l) => run.extend_from_slice(&l.0),
                    HirKind::Class(c) if class_byte(c).is_some() => run.extend(class_byte(c)),
                    // Zero-width assertions do not split a run.
                    HirKind::Look(_) => {}
                    _ => {
                        consider(vec![std::mem::take(&mut run)], &mut best);
                        if let Some(c) = required(x) {
                            consider(c, &mut best);
                        }
                    }
                }
            }
            consider(vec![run], &mut best);
            best
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lits(p: &str) -> Option<(Vec<&'static str>, usize)> {
        required_literals(p).map(|r| {
            let v = r
                .literals
                .into_iter()
                .map(|l| &*String::from_utf8(l).expect("ascii").leak())
                .collect();
            (v, r.min_len)
        })
    }

    #[test]
    fn required_literals_of_regexes() {
        // Worked by hand from each pattern.
        assert_eq!(lits(r"\s-c\s"), Some((vec!["-c"], 4)));
        assert_eq!(
            lits(r"(?i)Invoke-Mimikatz"),
            Some((vec!["invoke-mimikatz"], 15))
        );
        assert_eq!(lits("foo|ba"), Some((vec!["ba", "foo"], 2)));
        assert_eq!(lits(r"a.*bcd\d"), Some((vec!["bcd"], 5)));
        assert_eq!(lits(r"^(?:net|net1)\s+user"), Some((vec!["user"], 8)));
        // `(?i)k` also matches the Kelvin sign; in ASCII text only k/K.
        assert_eq!(lits("(?i)k"), Some((vec!["k"], 1)));
        assert_eq!(lits("[FTd]x"), Some((vec!["x"], 2)));
        // Only non-ASCII literals: no ASCII value matches.
        assert_eq!(lits("é+"), Some((vec![], 2)));
        assert_eq!(lits(".*"), None);
        assert_eq!(lits(r"\d+"), None);
        assert_eq!(lits(r"a?b?"), None);
        assert_eq!(lits("x|.*"), None);
        assert_eq!(lits("(unclosed"), None);
    }

    #[test]
    fn trie_finds_every_prefix() {
        let mut t = Trie::default();
        for (p, l) in [("ab", 1), ("abc", 2), ("b", 3), ("abcd", 4), ("ab", 5)] {
            t.insert(p.as_bytes(), l);
        }
        let mut got = Vec::new();
        t.walk(b"abcx".iter().copied(), |l| got.push(l));
        assert_eq!(got, vec![1, 5, 2]);
        got.clear();
        t.walk(b"xabc".iter().copied(), |l| got.push(l));
        assert!(got.is_empty());
        got.clear();
        t.walk(b"".iter().copied(), |l| got.push(l));
        assert!(got.is_empty());
    }
}
