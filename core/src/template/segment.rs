//! Splitting a message into tokens, for scripts written with and without spaces.
//!
//! A message is first split at white space (any Unicode white space, so the ideographic
//! space U+3000 too). A token made of ASCII only is kept whole (the fast path: most log
//! text). Inside other tokens, runs of characters of scripts written without spaces
//! between words (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar, Tibetan) and of
//! CJK and full-width punctuation are cut out of the token and split further by the
//! chosen [`Segmenter`]; the rest of the token (Latin, Cyrillic, Arabic words, numbers,
//! addresses, paths, full-width digits) stays one token each, so the masks see
//! `web-gateway`, `/var/log/app.log` or `２２３２MB` whole, not cut at every hyphen.
//!
//! `用户张三登录成功，来自3号终端` becomes, with [`Segmenter::Words`], `用 户 张 三 登 录 成
//! 功 ， 来 自 3 号 终 端`: without a dictionary every ideograph is its own word (Unicode
//! word segmentation, UAX #29, through the `unicode-segmentation` crate, which keeps
//! Katakana words such as `ログイン` whole), and a variable spanning several ideographs is
//! found by the miner as a run of positions (see the tree's merge rule).

use serde::{Deserialize, Serialize};
use unicode_segmentation::{UWordBounds, UnicodeSegmentation};

/// How runs of characters of scripts written without spaces are cut into tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segmenter {
    /// Unicode word boundaries (UAX #29) inside such runs: one token per ideograph, per
    /// Hiragana character and per punctuation mark; a Katakana word stays one token.
    #[default]
    Words,
    /// Script boundaries only: one token per character inside such runs.
    Chars,
    /// White space only (the behaviour of state version 1): such runs are not cut.
    Whitespace,
}

/// Whether `c` belongs to a script written without spaces between words, or is CJK /
/// full-width punctuation (full-width digits and letters are not: they stay in tokens).
#[inline]
pub(crate) fn is_unspaced(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF   // Thai, Lao
        | 0x0F00..=0x0FFF // Tibetan
        | 0x1000..=0x109F // Myanmar
        | 0x1780..=0x17FF // Khmer
        | 0x2E80..=0x2FDF // CJK radicals, Kangxi
        | 0x3000..=0x303F // CJK symbols and punctuation
        | 0x3040..=0x30FF // Hiragana, Katakana
        | 0x3100..=0x31FF // Bopomofo, Kanbun, Katakana extensions
        | 0x3400..=0x4DBF // CJK extension A
        | 0x4E00..=0x9FFF // CJK unified ideographs
        | 0xF900..=0xFAFF // CJK compatibility ideographs
        | 0xFE30..=0xFE4F // CJK compatibility forms
        | 0xFF01..=0xFF0F | 0xFF1A..=0xFF20 | 0xFF3B..=0xFF40 | 0xFF5B..=0xFF65 // full-width punctuation
        | 0x20000..=0x3FFFF // CJK extensions B and later
    )
}

/// The tokens of a message under `seg`, in order (never empty strings).
pub(crate) fn tokens(s: &str, seg: Segmenter) -> Tokens<'_> {
    Tokens {
        ws: s.split_whitespace(),
        rest: "",
        run: "",
        words: None,
        seg,
    }
}

/// Iterator of [`tokens`].
pub(crate) struct Tokens<'a> {
    ws: std::str::SplitWhitespace<'a>,
    /// The unread part of the current white-space token.
    rest: &'a str,
    /// The unread part of the current unspaced run ([`Segmenter::Chars`]).
    run: &'a str,
    /// Word bounds of the current unspaced run ([`Segmenter::Words`]).
    words: Option<UWordBounds<'a>>,
    seg: Segmenter,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            if let Some(w) = self.words.as_mut() {
                match w.next() {
                    Some(x) if x.chars().all(char::is_whitespace) => continue,
                    Some(x) => return Some(x),
                    None => self.words = None,
                }
            }
            if let Some(c) = self.run.chars().next() {
                let (x, r) = self.run.split_at(c.len_utf8());
                self.run = r;
                return Some(x);
            }
            if let Some(first) = self.rest.chars().next() {
                let r = self.rest;
                let unspaced = is_unspaced(first);
                let end = r
                    .char_indices()
                    .find(|(_, c)| is_unspaced(*c) != unspaced)
                    .map_or(r.len(), |(i, _)| i);
                let (piece, rest) = r.split_at(end);
                self.rest = rest;
                if !unspaced {
                    return Some(piece);
                }
                match self.seg {
                    Segmenter::Words => self.words = Some(piece.split_word_bounds()),
                    _ => self.run = piece,
                }
                continue;
            }
            let t = self.ws.next()?;
            if self.seg == Segmenter::Whitespace || t.is_ascii() {
                return Some(t);
            }
            self.rest = t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str, seg: Segmenter) -> Vec<&str> {
        tokens(s, seg).collect()
    }

    #[test]
    fn segments() {
        let s = "用户张三登录成功，来自3号终端";
        assert_eq!(
            split(s, Segmenter::Words),
            [
                "用", "户", "张", "三", "登", "录", "成", "功", "，", "来", "自", "3", "号", "终",
                "端"
            ]
        );
        assert_eq!(split(s, Segmenter::Chars), split(s, Segmenter::Words));
        assert_eq!(split(s, Segmenter::Whitespace), [s]);
        assert_eq!(
            split("ユーザー田中が10.0.0.7からログイン", Segmenter::Words),
            [
                "ユーザー",
                "田",
                "中",
                "が",
                "10.0.0.7",
                "か",
                "ら",
                "ログイン"
            ]
        );
        assert_eq!(
            split("ユーザー", Segmenter::Chars),
            ["ユ", "ー", "ザ", "ー"]
        );
        assert_eq!(
            split("用户从web-gateway登录　失败 a=b", Segmenter::Words),
            [
                "用",
                "户",
                "从",
                "web-gateway",
                "登",
                "录",
                "失",
                "败",
                "a=b"
            ]
        );
        assert_eq!(
            split("Benutzer müller hat sich angemeldet", Segmenter::Words),
            ["Benutzer", "müller", "hat", "sich", "angemeldet"]
        );
        assert_eq!(
            split("残り２２３２MB", Segmenter::Words),
            ["残", "り", "２２３２MB"]
        );
    }
}
