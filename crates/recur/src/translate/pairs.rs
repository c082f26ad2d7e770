//! Sentence pairs for translation, read from one tab-separated file or two files aligned by line.
//!
//! A TSV line is `source<TAB>target`, optionally followed by more tab-separated fields that are
//! ignored (the Tatoeba/Anki export adds an attribution there). Two aligned files hold one
//! sentence a line each, line `i` of the one translating line `i` of the other. Both are UTF-8
//! with an optional byte-order mark; CRLF line ends are accepted. A line that is empty or only
//! whitespace on either side is an error naming it, unless [`PairOptions::skip_empty`] asks to
//! leave such pairs out (they are then counted in [`Pairs::skipped`]). Sentences are kept exactly
//! as written (no trimming), so that a subword vocabulary can give them back unchanged.

use crate::error::{Error, Result};
use crate::input::read_utf8;
use std::path::{Path, PathBuf};

/// One aligned pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentencePair {
    /// The sentence to translate.
    pub source: String,
    /// Its translation.
    pub target: String,
    /// The 1-based line it was read from (the same line in both files of an aligned pair).
    pub line: usize,
}

/// How pairs are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PairOptions {
    /// Leave out pairs with an empty (or whitespace-only) side instead of failing on them.
    pub skip_empty: bool,
}

/// Which side of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The sentence to translate.
    Source,
    /// The translation.
    Target,
}

impl Side {
    /// `"source"` or `"target"`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }
}

/// Sentence pairs and where they came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pairs {
    /// The file of the source sentences (the TSV file itself for a TSV).
    pub source_file: PathBuf,
    /// The file of the target sentences (the TSV file itself for a TSV).
    pub target_file: PathBuf,
    /// The pairs, in file order.
    pub pairs: Vec<SentencePair>,
    /// The lines left out by [`PairOptions::skip_empty`].
    pub skipped: Vec<usize>,
}

/// Reads `source<TAB>target[<TAB>anything]` lines from `path`.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Format`] naming the file (and line) when
/// it is not UTF-8, holds a NUL byte (a binary file), is empty, has a line without a tab, or an
/// empty side (unless skipped).
pub fn read_tsv(path: &Path, options: PairOptions) -> Result<Pairs> {
    let text = read_utf8(path)?;
    parse_tsv(path, &text, options)
}

/// The pairs of a TSV text read from `path` (named in errors); see [`read_tsv`].
///
/// # Errors
/// As [`read_tsv`], without the reading.
pub fn parse_tsv(path: &Path, text: &str, options: PairOptions) -> Result<Pairs> {
    let lines = sentence_lines(path, text)?;
    let mut out = Pairs::empty(path, path);
    for (i, line) in lines.into_iter().enumerate() {
        let number = i + 1;
        if line.trim().is_empty() {
            out.empty_line(number, Side::Source, "empty line", options)?;
            continue;
        }
        let mut fields = line.split('\t');
        let source = fields.next().unwrap_or_default();
        let Some(target) = fields.next() else {
            return Err(Error::format(
                path,
                format!("line {number}: no tab; expected source<TAB>target"),
            ));
        };
        out.push(source, target, number, options)?;
    }
    out.finish()
}

/// Reads pairs from two files aligned by line: line `i` of `target` translates line `i` of
/// `source`.
///
/// # Errors
/// As [`read_tsv`] for each file (without the tab), and [`Error::Format`] naming both files and
/// both line counts when they differ.
pub fn read_aligned(source: &Path, target: &Path, options: PairOptions) -> Result<Pairs> {
    let source_text = read_utf8(source)?;
    let target_text = read_utf8(target)?;
    parse_aligned((source, &source_text), (target, &target_text), options)
}

/// The pairs of two aligned texts, each with the path that errors name; see [`read_aligned`].
///
/// # Errors
/// As [`read_aligned`], without the reading.
pub fn parse_aligned(
    source: (&Path, &str),
    target: (&Path, &str),
    options: PairOptions,
) -> Result<Pairs> {
    let (source_path, target_path) = (source.0, target.0);
    let source_lines = sentence_lines(source_path, source.1)?;
    let target_lines = sentence_lines(target_path, target.1)?;
    check_same_count(
        (source_path, source_lines.len()),
        (target_path, target_lines.len()),
    )?;
    let mut out = Pairs::empty(source_path, target_path);
    for (i, (s, t)) in source_lines.into_iter().zip(target_lines).enumerate() {
        out.push(s, t, i + 1, options)?;
    }
    out.finish()
}

/// Fails unless two files aligned by line have the same number of lines; the error names both
/// files and both counts.
///
/// # Errors
/// [`Error::Format`] naming the first file when the counts differ.
pub fn check_same_count(first: (&Path, usize), second: (&Path, usize)) -> Result<()> {
    if first.1 == second.1 {
        return Ok(());
    }
    Err(Error::format(
        first.0,
        format!(
            "has {} lines but {} has {}; the two files must be aligned line by line",
            first.1,
            second.0.display(),
            second.1
        ),
    ))
}

/// The lines of `text` (without line ends, a final line end not starting another line); an
/// error for an empty text or a NUL byte.
///
/// # Errors
/// [`Error::Format`] naming `path` (and the line of a NUL byte).
pub fn sentence_lines<'t>(path: &Path, text: &'t str) -> Result<Vec<&'t str>> {
    if let Some(at) = text.find('\0') {
        let line = 1 + text[..at].matches('\n').count();
        return Err(Error::format(
            path,
            format!("line {line}: a NUL byte; expected text, one sentence a line (is this a binary file?)"),
        ));
    }
    if text.is_empty() {
        return Err(Error::format(
            path,
            "is empty; expected one sentence a line",
        ));
    }
    Ok(text
        .split_terminator('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect())
}

impl Pairs {
    fn empty(source: &Path, target: &Path) -> Self {
        Pairs {
            source_file: source.to_path_buf(),
            target_file: target.to_path_buf(),
            pairs: Vec::new(),
            skipped: Vec::new(),
        }
    }

    /// Skips `line` when empty lines are skipped, or else fails naming it (in `side`'s file)
    /// and `what` is empty.
    fn empty_line(
        &mut self,
        line: usize,
        side: Side,
        what: &str,
        options: PairOptions,
    ) -> Result<()> {
        if options.skip_empty {
            self.skipped.push(line);
            return Ok(());
        }
        Err(Error::format(
            self.file(side),
            format!("line {line}: {what}; remove the line or skip empty lines"),
        ))
    }

    /// Adds one pair read from `line`, or skips or rejects it when a side is empty.
    fn push(
        &mut self,
        source: &str,
        target: &str,
        line: usize,
        options: PairOptions,
    ) -> Result<()> {
        for (side, text) in [(Side::Source, source), (Side::Target, target)] {
            if text.trim().is_empty() {
                let what = format!("empty {} sentence", side.name());
                return self.empty_line(line, side, &what, options);
            }
        }
        self.pairs.push(SentencePair {
            source: source.to_string(),
            target: target.to_string(),
            line,
        });
        Ok(())
    }

    fn finish(self) -> Result<Self> {
        if self.pairs.is_empty() {
            return Err(Error::format(
                &self.source_file,
                "holds no sentence pair (every line has an empty side)",
            ));
        }
        Ok(self)
    }

    /// The file that `side`'s sentences were read from.
    pub fn file(&self, side: Side) -> &Path {
        match side {
            Side::Source => &self.source_file,
            Side::Target => &self.target_file,
        }
    }

    /// The sentences of one side, in order.
    pub fn side(&self, side: Side) -> impl Iterator<Item = &str> + '_ {
        self.pairs.iter().map(move |p| match side {
            Side::Source => p.source.as_str(),
            Side::Target => p.target.as_str(),
        })
    }

    /// Fails on the first sentence of `side` longer than `max_len` tokens, as `count` counts
    /// them (a vocabulary's encoding, for instance); the error names the file, the line, the
    /// count and the `max_len` setting.
    ///
    /// # Errors
    /// [`Error::Format`] for a sentence that is too long, and any error of `count`.
    pub fn check_max_len(
        &self,
        side: Side,
        max_len: usize,
        mut count: impl FnMut(&str) -> Result<usize>,
    ) -> Result<()> {
        for pair in &self.pairs {
            let text = match side {
                Side::Source => &pair.source,
                Side::Target => &pair.target,
            };
            let n = count(text)?;
            if n > max_len {
                return Err(Error::format(
                    self.file(side),
                    format!(
                        "line {}: the {} sentence has {n} tokens, more than `max_len` {max_len}",
                        pair.line,
                        side.name()
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tsv(text: &str) -> Result<Pairs> {
        parse_tsv(Path::new("p.tsv"), text, PairOptions::default())
    }

    #[test]
    fn tsv_lines_give_pairs_and_extra_fields_are_ignored() {
        let p = tsv("Go.\tVa !\tCC-BY 2.0 (France)\r\nHi.\tSalut !\n").unwrap();
        assert_eq!(p.pairs.len(), 2);
        assert_eq!(p.pairs[0].source, "Go.");
        assert_eq!(p.pairs[0].target, "Va !");
        assert_eq!(p.pairs[1].target, "Salut !");
        assert_eq!(p.pairs[1].line, 2);
    }

    #[test]
    fn a_line_without_a_tab_is_named() {
        let e = tsv("a\tb\nno tab here\n").unwrap_err().to_string();
        assert_eq!(e, "p.tsv: line 2: no tab; expected source<TAB>target");
    }

    #[test]
    fn empty_sides_are_named_or_skipped_on_request() {
        let e = tsv("a\tb\n\tc\n").unwrap_err().to_string();
        assert!(e.contains("line 2: empty source sentence"), "{e}");
        let e = tsv("a\tb\nc\t  \n").unwrap_err().to_string();
        assert!(e.contains("line 2: empty target sentence"), "{e}");
        let e = tsv("a\tb\n\r\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "p.tsv: line 2: empty line; remove the line or skip empty lines"
        );
        let skip = PairOptions { skip_empty: true };
        let p = parse_tsv(Path::new("p.tsv"), "a\tb\nc\t \n\n d\te\n", skip).unwrap();
        assert_eq!(p.skipped, vec![2, 3]);
        assert_eq!(p.pairs.len(), 2);
        assert_eq!((p.pairs[1].source.as_str(), p.pairs[1].line), (" d", 4));
    }

    #[test]
    fn aligned_files_of_different_lengths_name_both_counts() {
        let e = parse_aligned(
            (Path::new("a.de"), "eins\nzwei\ndrei\n"),
            (Path::new("a.en"), "one\ntwo\n"),
            PairOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "a.de: has 3 lines but a.en has 2; the two files must be aligned line by line"
        );
    }

    #[test]
    fn empty_and_binary_inputs_are_refused() {
        let e = tsv("").unwrap_err().to_string();
        assert_eq!(e, "p.tsv: is empty; expected one sentence a line");
        let e = tsv("a\tb\nc\0\td\n").unwrap_err().to_string();
        assert!(e.starts_with("p.tsv: line 2: a NUL byte"), "{e}");
        let skip = PairOptions { skip_empty: true };
        let e = parse_tsv(Path::new("p.tsv"), "\t\n", skip).unwrap_err();
        assert!(e.to_string().contains("holds no sentence pair"), "{e}");
    }

    #[test]
    fn files_with_a_byte_order_mark_crlf_or_bad_bytes() {
        let dir = std::env::temp_dir().join(format!("recur-pairs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (tsv, de, en) = (dir.join("p.tsv"), dir.join("a.de"), dir.join("a.en"));
        std::fs::write(&tsv, "\u{feff}Hallo.\tHello.\r\nJa.\tYes.\r\n").unwrap();
        let p = read_tsv(&tsv, PairOptions::default()).unwrap();
        assert_eq!(
            (p.pairs[0].source.as_str(), p.pairs[1].target.as_str()),
            ("Hallo.", "Yes.")
        );
        std::fs::write(&de, "\u{feff}Hallo.\r\nJa.\n").unwrap();
        std::fs::write(&en, b"Hello.\nYes\xff.\n").unwrap();
        let e = read_aligned(&de, &en, PairOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a.en: not UTF-8 text") && e.contains("line 2"),
            "{e}"
        );
        std::fs::write(&en, "Hello.\r\nYes.").unwrap();
        let p = read_aligned(&de, &en, PairOptions::default()).unwrap();
        assert_eq!(p.pairs[0].source, "Hallo.");
        assert_eq!(p.pairs[1].target, "Yes.");
        assert_eq!(p.file(Side::Target), en.as_path());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn too_long_sentences_are_named_by_line() {
        let p = parse_aligned(
            (Path::new("s.txt"), "a b\na b c d\n"),
            (Path::new("t.txt"), "x\ny\n"),
            PairOptions::default(),
        )
        .unwrap();
        let words = |s: &str| Ok(s.split_whitespace().count());
        p.check_max_len(Side::Source, 4, words).unwrap();
        let e = p.check_max_len(Side::Source, 3, words).unwrap_err();
        assert_eq!(
            e.to_string(),
            "s.txt: line 2: the source sentence has 4 tokens, more than `max_len` 3"
        );
        assert_eq!(p.side(Side::Target).collect::<Vec<_>>(), ["x", "y"]);
    }
}
