//! Phase 3: each line gets its cluster's final template, its template id and its
//! parameters (the text under each `<*>`), as Arrow columns.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, DictionaryArray, ListBuilder, RecordBatch, StringArray, StringBuilder,
    UInt64Array,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema};
use rayon::prelude::*;

use super::mask::{glob_params, masked_groups};
use super::segment::tokens;
use super::tree::interleave;
use super::{FnvMap, PARAMETERS, TEMPLATE, TEMPLATE_ID, TemplateMiner, WILDCARD, get, template_id};
use crate::error::Result;

/// Appends the parameters of template token `t` over message text `orig`.
fn push_params<'a>(
    lb: &mut ListBuilder<StringBuilder>,
    t: &str,
    orig: &'a str,
    scratch: &mut Vec<&'a str>,
) {
    if t == orig {
        return;
    }
    if t == WILDCARD {
        lb.values().append_value(orig);
    } else {
        scratch.clear();
        glob_params(t, orig, scratch);
        for p in scratch.iter() {
            lb.values().append_value(p);
        }
    }
}

impl TemplateMiner {
    /// Phase 3 (parallel): the [`TEMPLATE_ID`], [`TEMPLATE`] and [`PARAMETERS`] columns of
    /// `strings`, given each line's cluster from phase 2 (`u32::MAX` for a null line).
    pub(super) fn assign(
        &self,
        strings: &StringArray,
        line_cluster: Vec<u32>,
    ) -> Result<RecordBatch> {
        let rules = self.rules;
        let seg = rules.segmenter();
        // Only the templates this call's lines use are built (not every live template: a
        // call costs its lines, not the number of clusters). `slot[k]`: the k-th distinct
        // template of the call, in order of first use; `line_slot`: each line's slot.
        let placed = line_cluster;
        let mut slot_of: FnvMap<u32, u32> = FnvMap::default();
        let mut roots: Vec<u32> = Vec::new();
        let line_slot: Vec<u32> = placed
            .iter()
            .map(|&c| {
                if c == u32::MAX {
                    return c;
                }
                let r = self.resolve(c);
                *slot_of.entry(r).or_insert_with(|| {
                    roots.push(r);
                    roots.len() as u32 - 1
                })
            })
            .collect();
        let outs: Vec<(Vec<Box<str>>, Vec<bool>)> =
            roots.iter().map(|&r| self.output_template(r)).collect();
        let texts: Vec<String> = outs.iter().map(|(t, g)| interleave(t, g)).collect();
        let placed = &placed;
        let ids: Vec<u64> = texts.iter().map(|t| template_id(t)).collect();
        let template_ids: UInt64Array = line_slot
            .iter()
            .map(|&k| (k != u32::MAX).then(|| ids[k as usize]))
            .collect();
        let keys: arrow::array::Int32Array = line_slot
            .iter()
            .map(|&k| (k != u32::MAX).then_some(k as i32))
            .collect();
        let dict = DictionaryArray::<Int32Type>::try_new(
            keys,
            Arc::new(StringArray::from_iter_values(texts.iter())),
        )?;
        let clusters = &self.clusters;
        // Templates that are their cluster's own token list (no optional variables merged
        // in): parameters align token by token.
        let own: Vec<bool> = roots
            .iter()
            .zip(&texts)
            .map(|(&r, t)| clusters[r as usize].tokens.join(" ") == *t)
            .collect();
        let roots = &roots;
        let outs = &outs;
        const OUT_CHUNK: usize = 8192;
        let parts: Vec<ArrayRef> = line_slot
            .par_chunks(OUT_CHUNK)
            .enumerate()
            .map(|(k, cs)| {
                let mut lb = ListBuilder::new(StringBuilder::new());
                let mut groups = Vec::new();
                let mut buf = String::new();
                let mut scratch = Vec::new();
                for (j, &slot) in cs.iter().enumerate() {
                    let c = roots.get(slot as usize).copied().unwrap_or(u32::MAX);
                    let (Some(s), Some(cl)) =
                        (get(strings, k * OUT_CHUNK + j), clusters.get(c as usize))
                    else {
                        lb.append(false);
                        continue;
                    };
                    let plain = own[slot as usize] && cl.tokens.len() == tokens(s, seg).count();
                    if plain {
                        // Token i of the template covers whitespace token i of the message.
                        for (t, orig) in cl.tokens.iter().zip(tokens(s, seg)) {
                            push_params(&mut lb, t, orig, &mut scratch);
                        }
                        lb.append(true);
                        continue;
                    }
                    // Otherwise the message's masked groups say what each token covers.
                    groups.clear();
                    masked_groups(s, rules, &mut buf, Some(&mut groups));
                    if own[slot as usize] {
                        for (t, &(a, b)) in cl.tokens.iter().zip(&groups) {
                            push_params(&mut lb, t, s.get(a..b).unwrap_or_default(), &mut scratch);
                        }
                        lb.append(true);
                        continue;
                    }
                    // A template with optional variables, or a variable spanning several
                    // tokens: align skeletons (the cluster's own `<*>` tokens say which
                    // tokens of the message are variables; a run of them is one variable),
                    // "" for an absent optional variable.
                    let (sk, gaps) = &outs[slot as usize];
                    let mut gap_text: Vec<Option<(usize, usize)>> = vec![None];
                    let mut skel_text: Vec<&str> = Vec::new();
                    // The tokens of the cluster the line was placed in (its own length).
                    let at = placed[k * OUT_CHUNK + j] as usize;
                    let mine = clusters
                        .get(at)
                        .map(|p| &p.tokens)
                        .filter(|t| t.len() == groups.len());
                    for (i, (f, &(a, b))) in buf.split(' ').zip(&groups).enumerate() {
                        let wild = f == WILDCARD
                            || mine.is_some_and(|t| t.get(i).is_some_and(|t| &**t == WILDCARD));
                        if wild {
                            if let Some(g) = gap_text.last_mut() {
                                *g = Some(g.map_or((a, b), |(a0, _)| (a0, b)));
                            }
                        } else {
                            skel_text.push(s.get(a..b).unwrap_or_default());
                            gap_text.push(None);
                        }
                    }
                    let gap_text: Vec<Option<&str>> = gap_text
                        .into_iter()
                        .map(|g| g.map(|(a, b)| s.get(a..b).unwrap_or_default()))
                        .collect();
                    for (i, has_gap) in gaps.iter().enumerate() {
                        if *has_gap {
                            lb.values()
                                .append_value(gap_text.get(i).copied().flatten().unwrap_or(""));
                        }
                        if let (Some(t), Some(orig)) = (sk.get(i), skel_text.get(i)) {
                            push_params(&mut lb, t, orig, &mut scratch);
                        }
                    }
                    lb.append(true);
                }
                Arc::new(lb.finish()) as ArrayRef
            })
            .collect();
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        let params: ArrayRef = if refs.is_empty() {
            Arc::new(ListBuilder::new(StringBuilder::new()).finish())
        } else {
            arrow::compute::concat(&refs)?
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new(TEMPLATE_ID, DataType::UInt64, true),
            Field::new(
                TEMPLATE,
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                true,
            ),
            Field::new(PARAMETERS, params.data_type().clone(), true),
        ]));
        Ok(RecordBatch::try_new(
            schema,
            vec![Arc::new(template_ids), Arc::new(dict), params],
        )?)
    }
}
