//! sacreBLEU's default tokeniser, `13a` (the tokenisation of WMT's `mteval-v13a.pl`), and the
//! text conventions of sacreBLEU that BLEU and chrF share.
//!
//! sacreBLEU is written in Python, so "whitespace" is what Python's `str.split()` splits on
//! ([`is_python_space`]: Unicode's spaces and separators plus the ASCII information separators
//! U+001C to U+001F, which Rust's `char::is_whitespace` leaves out), "lower-case" is
//! `str.lower()` (full Unicode case mapping, as Rust's [`str::to_lowercase`]), and the regular
//! expressions of the tokeniser match ASCII digits only (`[0-9]`).

use serde::{Deserialize, Serialize};

/// How sentences are cut into words before n-grams are counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tokenize {
    /// sacreBLEU's default: punctuation split off, numbers kept whole ([`tokenize_13a`]).
    #[default]
    #[serde(rename = "13a")]
    Tok13a,
    /// Words are what whitespace separates: for text tokenised beforehand.
    #[serde(rename = "none")]
    None,
}

impl Tokenize {
    /// The name sacreBLEU gives it (`13a`, `none`), as in its signature.
    pub fn name(self) -> &'static str {
        match self {
            Tokenize::Tok13a => "13a",
            Tokenize::None => "none",
        }
    }

    /// `line` tokenised: words separated by single spaces for `13a`, unchanged for `none`.
    pub fn apply(self, line: &str) -> String {
        match self {
            Tokenize::Tok13a => tokenize_13a(line),
            Tokenize::None => line.to_string(),
        }
    }
}

impl std::str::FromStr for Tokenize {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "13a" => Ok(Tokenize::Tok13a),
            "none" => Ok(Tokenize::None),
            other => Err(crate::Error::Config(format!(
                "`tokenize` must be 13a or none, got {other:?}"
            ))),
        }
    }
}

/// Whether Python's `str.isspace()` holds for `c`: the characters `str.split()` and
/// `str.rstrip()` treat as whitespace.
pub fn is_python_space(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | '\u{1c}'..=' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// The words of `line` as Python's `line.split()` gives them.
pub fn python_split(line: &str) -> impl Iterator<Item = &str> {
    line.split(is_python_space).filter(|w| !w.is_empty())
}

/// `line` tokenised as sacreBLEU's `Tokenizer13a` does: `<skipped>` removed, the HTML entities
/// `&quot; &amp; &lt; &gt;` decoded, punctuation and symbols split off, periods and commas split
/// off unless between digits, a dash split off after a digit, and single spaces between words.
pub fn tokenize_13a(line: &str) -> String {
    let mut text = line
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    if text.contains('&') {
        text = text
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    let chars: Vec<char> = format!(" {text} ").chars().collect();
    // The four substitutions of sacreBLEU's `TokenizerRegexp`, in its order.
    let mut spaced = Vec::with_capacity(chars.len() * 2);
    for &c in &chars {
        if splits_off(c) {
            spaced.extend([' ', c, ' ']);
        } else {
            spaced.push(c);
        }
    }
    let not_digit = |c: char| !c.is_ascii_digit();
    let period_or_comma = |c: char| c == '.' || c == ',';
    // `([^0-9])([\.,])` -> `\1 \2 `
    let spaced = substitute_pairs(&spaced, not_digit, period_or_comma, |a, b| {
        vec![a, ' ', b, ' ']
    });
    // `([\.,])([^0-9])` -> ` \1 \2`
    let spaced = substitute_pairs(&spaced, period_or_comma, not_digit, |a, b| {
        vec![' ', a, ' ', b]
    });
    // `([0-9])(-)` -> `\1 \2 `
    let spaced = substitute_pairs(
        &spaced,
        |c| c.is_ascii_digit(),
        |c| c == '-',
        |a, b| vec![a, ' ', b, ' '],
    );
    let spaced: String = spaced.into_iter().collect();
    python_split(&spaced).collect::<Vec<_>>().join(" ")
}

/// The characters of 13a's first rule, `[\{-\~\[-\` -\&\(-\+\:-\@\/]`, that get a space on
/// either side: ASCII punctuation and symbols except `'`, `,`, `-` and `.`, and the space.
fn splits_off(c: char) -> bool {
    matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/')
}

/// `re.sub` of a two-character pattern `(first)(second)`: scanning left to right, each
/// non-overlapping match is replaced by `with(first, second)`.
fn substitute_pairs(
    chars: &[char],
    first: impl Fn(char) -> bool,
    second: impl Fn(char) -> bool,
    with: impl Fn(char, char) -> Vec<char>,
) -> Vec<char> {
    let mut out = Vec::with_capacity(chars.len() + chars.len() / 2);
    let mut i = 0;
    while i < chars.len() {
        if i + 1 < chars.len() && first(chars[i]) && second(chars[i + 1]) {
            out.extend(with(chars[i], chars[i + 1]));
            i += 2;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_splits_off_but_numbers_stay_whole() {
        assert_eq!(
            tokenize_13a("It costs 1,000.50 dollars, i.e. 3.14 (or 2-3)!"),
            "It costs 1,000.50 dollars , i . e . 3.14 ( or 2 - 3 ) !"
        );
        assert_eq!(tokenize_13a("Tom &amp; Jerry<skipped>."), "Tom & Jerry .");
        assert_eq!(tokenize_13a("don't"), "don't");
    }

    #[test]
    fn python_whitespace_includes_the_information_separators() {
        assert!(is_python_space('\u{1f}') && !'\u{1f}'.is_whitespace());
        assert!(!is_python_space('\u{200b}'));
        assert_eq!(
            python_split(" a\u{a0}b\u{1c}c ").collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
    }
}
