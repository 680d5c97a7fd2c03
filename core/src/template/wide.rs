//! Masking of tokens with non-ASCII characters (the ASCII fast path is in `mask`): the
//! delimiters include their full-width and CJK forms, and a segment is classified on an
//! ASCII image of it, so that full-width `２２３２MB` or Arabic-Indic `٣٤٥` are numbers.

use super::WILDCARD;
use super::mask::{MaskRule, RuleBits, is_delim, segment_is_variable};
use super::names::is_local_date_name;

/// Full-width and CJK forms of the delimiters.
#[inline]
fn is_wide_delim(c: char) -> bool {
    matches!(
        c,
        '＝' | '：'
            | '，'
            | '；'
            | '（'
            | '）'
            | '［'
            | '］'
            | '｛'
            | '｝'
            | '＂'
            | '＇'
            | '｜'
            | '＃'
            | '＜'
            | '＞'
            | '、'
            | '。'
            | '「'
            | '」'
            | '『'
            | '』'
            | '【'
            | '】'
            | '《'
            | '》'
            | '〈'
            | '〉'
            | '«'
            | '»'
            | '،'
            | '؛'
    )
}

/// [`mask_token`] for a token with non-ASCII characters: delimiters include their
/// full-width and CJK forms; a segment is classified on its ASCII image (every Unicode
/// digit, e.g. full-width `２` or Arabic-Indic `٣`, reads as `0`, full-width ASCII as
/// ASCII, other letters as `x`), and a segment without digits may be a month or day name
/// of several languages.
pub(super) fn mask_unicode_token(t: &str, rules: RuleBits, out: &mut String) -> bool {
    let mut masked = false;
    let mut start = 0;
    let mut image: Vec<u8> = Vec::with_capacity(t.len());
    let mut iter = t.char_indices().peekable();
    loop {
        let next = iter.next();
        let at_delim = match next {
            None => true,
            Some((_, c)) => (c.is_ascii() && is_delim(c as u8)) || is_wide_delim(c),
        };
        if !at_delim {
            continue;
        }
        let end = next.map_or(t.len(), |(i, _)| i);
        let seg = &t[start..end];
        image.clear();
        for c in seg.chars() {
            image.push(match c {
                _ if c.is_ascii() => c as u8,
                _ if c.is_numeric() => b'0',
                '\u{FF01}'..='\u{FF5E}' => (c as u32 - 0xFEE0) as u8,
                _ => b'x',
            });
        }
        let var = if image.iter().any(u8::is_ascii_digit) {
            segment_is_variable(&image, rules)
        } else {
            rules.has(MaskRule::DateName) && !seg.is_empty() && is_local_date_name(seg)
        };
        if var {
            out.push_str(WILDCARD);
            masked = true;
        } else {
            out.push_str(seg);
        }
        match next {
            Some((_, c)) => {
                out.push(c);
                start = end + c.len_utf8();
            }
            None => break,
        }
    }
    masked
}
