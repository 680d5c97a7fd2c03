//! Variables of another length in scripts written without spaces. A name of three
//! ideographs makes a message one token longer than a name of two, so it lands among
//! clusters of another token count. Live clusters with such tokens are also listed by their
//! first and last token; a template with variables matches a message of another length
//! when each run of its `<*>` stands for one token, or for up to 8 plain tokens of a script
//! written without spaces, and every other token is equal or generalised. A new cluster that
//! matches joins the template (for output, staying live at its own length); when a template
//! gains a variable, the clusters of other lengths it now matches join it.

use super::TemplateMiner;
use super::WILDCARD;
use super::tree::{MAX_RUN, generalises, unspaced};

/// Most steps of one match (a bound on backtracking).
const MAX_STEPS: usize = 4096;

/// Which tokens of `m` a run of `<*>` of `p` stands for, or `None` when `p` does not match.
fn stretch(p: &[Box<str>], m: &[Box<str>]) -> Option<Vec<bool>> {
    let mut under = vec![false; m.len()];
    let mut steps = 0;
    go(p, m, 0, 0, &mut under, &mut steps).then_some(under)
}

fn go(
    p: &[Box<str>],
    m: &[Box<str>],
    i: usize,
    j: usize,
    under: &mut [bool],
    steps: &mut usize,
) -> bool {
    *steps += 1;
    if *steps > MAX_STEPS {
        return false;
    }
    let (Some(pt), rest) = (p.get(i), m.len() - j) else {
        return j == m.len();
    };
    if &**pt == WILDCARD {
        let mut end = i;
        while p.get(end).is_some_and(|t| &**t == WILDCARD) {
            end += 1;
        }
        for k in 1..=rest.min(MAX_RUN) {
            let run = &m[j..j + k];
            if k > 1 && !run.iter().all(|t| unspaced(t) && !t.contains(WILDCARD)) {
                break;
            }
            if go(p, m, end, j + k, under, steps) {
                for u in &mut under[j..j + k] {
                    *u = true;
                }
                return true;
            }
        }
        return false;
    }
    let Some(mt) = m.get(j) else {
        return false;
    };
    (pt == mt || generalises(pt, mt)) && go(p, m, i + 1, j + 1, under, steps)
}

/// `m` with the tokens under a variable replaced by `<*>`, and `p`'s generalised tokens.
fn generalised(p: &[Box<str>], m: &[Box<str>], under: &[bool]) -> Vec<Box<str>> {
    let mut out: Vec<Box<str>> = Vec::with_capacity(m.len());
    let mut pi = p.iter().filter(|t| &***t != WILDCARD);
    for (t, u) in m.iter().zip(under) {
        if *u {
            out.push(WILDCARD.into());
        } else {
            out.push(pi.next().cloned().unwrap_or_else(|| t.clone()));
        }
    }
    out
}

impl TemplateMiner {
    /// A live template of another length, with variables, that `toks` stretch-matches, and
    /// the tokens of the new cluster.
    pub(super) fn stretch_match(&self, toks: &[Box<str>]) -> Option<(u32, Vec<Box<str>>)> {
        for &c in self.index.by_ends(toks)? {
            let r = self.resolve(c);
            let p = &self.clusters[r as usize].tokens;
            if p.len() == toks.len() || !p.iter().any(|t| &**t == WILDCARD) {
                continue;
            }
            if let Some(under) = stretch(p, toks) {
                return Some((r, generalised(p, toks, &under)));
            }
        }
        None
    }

    /// After template `r` gained variables: the live clusters of other lengths with its
    /// first and last token that it now stretch-matches join it.
    pub(super) fn adopt_stretched(&mut self, r: u32) {
        let p = self.clusters[r as usize].tokens.clone();
        if !p.iter().any(|t| &**t == WILDCARD) {
            return;
        }
        let Some(list) = self.index.by_ends(&p) else {
            return;
        };
        let mut found = Vec::new();
        for &c in list {
            let t = &self.clusters[c as usize].tokens;
            if c == r || t.len() == p.len() || self.resolve(c) == r {
                continue;
            }
            if let Some(under) = stretch(&p, t) {
                found.push((c, generalised(&p, t, &under)));
            }
        }
        let mut root = r;
        for (c, tokens) in found {
            // `c` takes the generalised tokens and stays live at its length; its template
            // and `r`'s become one, kept under the earlier of the two (merges always point
            // to an earlier cluster).
            self.index.remove(c, &self.clusters[c as usize].tokens);
            self.index.insert(c, &tokens);
            self.clusters[c as usize].tokens = tokens;
            self.detach(c);
            let (keep, gone) = (root.min(c), root.max(c));
            let mut moved = self.members.remove(&gone).unwrap_or_default();
            for &m in &moved {
                self.alias[m as usize] = keep;
            }
            moved.push(gone);
            self.alias[gone as usize] = keep;
            let size = std::mem::take(&mut self.clusters[gone as usize].size);
            self.clusters[keep as usize].size += size;
            let used = std::mem::take(&mut self.clusters[gone as usize].used);
            let ku = &mut self.clusters[keep as usize].used;
            *ku = (*ku).max(used);
            self.members.entry(keep).or_default().extend(moved);
            root = keep;
        }
    }
}
