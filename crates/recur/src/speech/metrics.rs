//! Error rates by edit distance: word error rate (WER) over whitespace-separated words and
//! character error rate (CER) over Unicode characters, each the total Levenshtein distance
//! (substitutions + deletions + insertions) over the total reference length of a corpus.

/// The Levenshtein distance between two token sequences: the fewest substitutions, deletions
/// and insertions that turn `hypothesis` into `reference`.
pub fn edit_distance<T: PartialEq>(reference: &[T], hypothesis: &[T]) -> usize {
    // One row of the dynamic programme: row[j] = distance(reference[..i], hypothesis[..j]).
    let mut row: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, h) in hypothesis.iter().enumerate() {
            let substitute = diagonal + usize::from(r != h);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[hypothesis.len()]
}

/// Errors and reference length accumulated over a corpus; the rate is their quotient.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorCount {
    /// Total edit distance.
    pub errors: usize,
    /// Total reference tokens.
    pub reference_len: usize,
}

impl ErrorCount {
    /// Adds one pair of token sequences.
    pub fn add<T: PartialEq>(&mut self, reference: &[T], hypothesis: &[T]) {
        self.errors += edit_distance(reference, hypothesis);
        self.reference_len += reference.len();
    }

    /// Adds one pair of transcripts compared word by word (split at whitespace).
    pub fn add_words(&mut self, reference: &str, hypothesis: &str) {
        let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        self.add(&words(reference), &words(hypothesis));
    }

    /// Adds one pair of transcripts compared character by character (spaces included, with
    /// runs of whitespace and the ends trimmed as for words).
    pub fn add_chars(&mut self, reference: &str, hypothesis: &str) {
        let chars = |s: &str| {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .collect::<Vec<_>>()
        };
        self.add(&chars(reference), &chars(hypothesis));
    }

    /// `errors / reference_len` (can exceed 1 with many insertions); 0 for an empty reference
    /// without errors, infinity for one with errors.
    pub fn rate(&self) -> f64 {
        match (self.errors, self.reference_len) {
            (0, _) => 0.0,
            (_, 0) => f64::INFINITY,
            (e, n) => e as f64 / n as f64,
        }
    }
}

/// The word error rate of `hypotheses` against `references`, pair by pair.
pub fn word_error_rate<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> ErrorCount {
    let mut count = ErrorCount::default();
    for (r, h) in pairs {
        count.add_words(r, h);
    }
    count
}

/// The character error rate of `hypotheses` against `references`, pair by pair.
pub fn char_error_rate<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> ErrorCount {
    let mut count = ErrorCount::default();
    for (r, h) in pairs {
        count.add_chars(r, h);
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_each_kind_of_error() {
        let d = |a: &str, b: &str| {
            edit_distance(
                &a.chars().collect::<Vec<_>>(),
                &b.chars().collect::<Vec<_>>(),
            )
        };
        assert_eq!(d("kitten", "sitting"), 3); // 2 substitutions, 1 insertion
        assert_eq!(d("", "abc"), 3);
        assert_eq!(d("abc", ""), 3);
        assert_eq!(d("abc", "abc"), 0);
        assert_eq!(d("flaw", "lawn"), 2); // a deletion and an insertion
        assert_eq!(d("abcd", "acbd"), 2); // no transpositions in Levenshtein
    }

    #[test]
    fn word_and_character_rates_over_a_corpus() {
        let pairs = [
            ("one two three", "one too three"), // 1 substitution of 3 words
            ("four five", "four five six"),     // 1 insertion of 2 words
            ("seven", ""),                      // 1 deletion of 1 word
        ];
        let wer = word_error_rate(pairs);
        assert_eq!((wer.errors, wer.reference_len), (3, 6));
        assert!((wer.rate() - 0.5).abs() < 1e-15);
        // Characters: "two"->"too" 1; "four five" -> "four five six" 4 (" six");
        // "seven" -> "" 5. References: 13 + 9 + 5 = 27.
        let cer = char_error_rate(pairs);
        assert_eq!((cer.errors, cer.reference_len), (10, 27));
        // Extra whitespace changes nothing.
        assert_eq!(word_error_rate([(" a  b ", "a b")]).errors, 0);
        assert_eq!(char_error_rate([(" a  b ", "a b")]).errors, 0);
        assert_eq!(ErrorCount::default().rate(), 0.0);
        assert_eq!(word_error_rate([("", "x")]).rate(), f64::INFINITY);
    }
}
