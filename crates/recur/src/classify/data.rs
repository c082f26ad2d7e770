//! Labelled sequences from files: the UCR/UEA `.ts` format, a CSV with one row per frame, a CSV
//! of texts, and JSON lines of texts. Errors name the file, the line (or row) and what was
//! expected.
//!
//! Every reader drops a UTF-8 byte-order mark at the start of the file. Numbers must be finite
//! 32-bit floats: NaN, infinities and values beyond `f32::MAX` are refused with their line and
//! column, except trailing NaN at the end of a `.ts` series, which is how the UCR/UEA archives
//! pad the series of unequal-length problems and is read as padding (dropped).

use crate::error::{Error, Result};
use crate::input::{encoding_for, parse_csv, read_text, read_utf8, Csv};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One labelled sequence.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `len × dims` numbers, row-major (one row per time step).
    Numeric(Vec<f32>),
    /// Characters of a text.
    Text(Vec<char>),
}

/// Labelled sequences of one kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    /// Features per step for numeric data; 0 for text.
    pub dims: usize,
    /// The sequences.
    pub items: Vec<Item>,
    /// The label of each sequence, as written in the file (empty where an unlabelled file was
    /// read with [`read_unlabelled`]).
    pub labels: Vec<String>,
    /// The file the sequences were read from, if any (named in errors).
    pub source: Option<PathBuf>,
    /// The line of [`Dataset::source`] where each sequence starts (for a frames CSV the row
    /// of its first frame); empty when the data did not come from a file.
    pub lines: Vec<usize>,
    /// Regression data: the numeric target of each sequence (a `.ts` with `@targetlabel true`,
    /// a `target` column or field instead of `label`); empty for class labels. The labels then
    /// hold the targets as written.
    pub targets: Vec<f32>,
}

impl Dataset {
    /// Steps of sequence `i`.
    pub fn len_of(&self, i: usize) -> usize {
        match &self.items[i] {
            Item::Numeric(v) => v.len() / self.dims.max(1),
            Item::Text(c) => c.len(),
        }
    }

    /// The sequences at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        Dataset {
            dims: self.dims,
            items: idx.iter().map(|&i| self.items[i].clone()).collect(),
            labels: idx.iter().map(|&i| self.labels[i].clone()).collect(),
            source: self.source.clone(),
            lines: if self.lines.is_empty() {
                Vec::new()
            } else {
                idx.iter().map(|&i| self.lines[i]).collect()
            },
            targets: if self.targets.is_empty() {
                Vec::new()
            } else {
                idx.iter().map(|&i| self.targets[i]).collect()
            },
        }
    }

    /// Whether the sequences carry numeric targets (regression) rather than class labels.
    pub fn is_regression(&self) -> bool {
        !self.targets.is_empty()
    }

    /// Where sequence `i` comes from: `file: line N`, or `sequence N` without a file.
    pub fn locate(&self, i: usize) -> String {
        match (&self.source, self.lines.get(i)) {
            (Some(p), Some(l)) => format!("{}: line {l}", p.display()),
            (Some(p), None) => format!("{}: sequence {}", p.display(), i + 1),
            _ => format!("sequence {}", i + 1),
        }
    }

    /// Class ids of the labels under `classes`; a label the model never saw is an error naming
    /// the file and the line of its sequence.
    pub fn class_ids(&self, classes: &[String]) -> Result<Vec<u32>> {
        let ids: HashMap<&str, u32> = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i as u32))
            .collect();
        self.labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                ids.get(l.as_str()).copied().ok_or_else(|| {
                    Error::Input(format!(
                        "{}: label '{l}' was not seen in training (classes: {})",
                        self.locate(i),
                        classes.join(", ")
                    ))
                })
            })
            .collect()
    }

    fn from_file(path: &Path, dims: usize) -> Dataset {
        Dataset {
            dims,
            source: Some(path.to_path_buf()),
            ..Dataset::default()
        }
    }

    fn push(&mut self, item: Item, label: String, line: usize) {
        self.items.push(item);
        self.labels.push(label);
        self.lines.push(line);
    }

    /// Pushes a sequence with a numeric target, written as `text`; the error says why `text`
    /// is not a finite number.
    fn push_target(
        &mut self,
        item: Item,
        text: &str,
        line: usize,
    ) -> std::result::Result<(), String> {
        let v = number(text).map_err(|m| format!("target: {m}"))?;
        self.targets.push(v);
        self.push(item, text.trim().to_string(), line);
        Ok(())
    }
}

/// Whether a reader needs a label for every sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Labels {
    Required,
    Optional,
}

/// A finite 32-bit number, or a message saying why `cell` is not one.
fn number(cell: &str) -> std::result::Result<f32, String> {
    let cell = cell.trim();
    match cell.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) if v.is_nan() => Err(format!("{cell:?} is not a finite number")),
        Ok(_) => match cell.parse::<f64>() {
            Ok(w) if w.is_finite() => Err(format!(
                "{cell:?} is beyond the 32-bit range (±{:e})",
                f32::MAX
            )),
            _ => Err(format!("{cell:?} is not a finite number")),
        },
        Err(_) if cell.is_empty() => Err("the cell is empty".into()),
        Err(_) => Err(format!("{cell:?} is not a number")),
    }
}

/// Reads the sktime/UEA `.ts` format: `#` comments, `@` header lines, then after `@data` one
/// series per line, its dimensions separated by `:`, values by `,`, the label last (no label
/// when the header says `@classLabel false`; such a file can be predicted on, not trained on).
/// With `@targetlabel true` (the UEA regression format) the last part is a numeric target,
/// read into [`Dataset::targets`]; a value that is not a finite number is an error naming the
/// line.
///
/// Trailing `NaN` values of a series are the padding of an unequal-length problem (as the
/// UCR/UEA archives ship them) and are dropped; `NaN` before the last real value, infinities and
/// values beyond the 32-bit range are errors naming the line, the dimension and the position.
pub fn read_ts(path: &Path) -> Result<Dataset> {
    ts(path, &read_utf8(path)?, Labels::Required)
}

fn ts(path: &Path, text: &str, need: Labels) -> Result<Dataset> {
    let mut dims = None;
    let mut labelled = true;
    // `@targetlabel true`: the last part of a line is a numeric target (UEA regression).
    let mut regression = false;
    let mut declared: Vec<String> = Vec::new();
    let mut in_data = false;
    let mut ds = Dataset::from_file(path, 0);
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let at = |m: String| Error::format(path, format!("line {}: {m}", i + 1));
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let lower = line.to_ascii_lowercase();
        if in_data && line.starts_with('@') {
            let word = lower.split_whitespace().next().unwrap_or_default();
            return Err(at(format!(
                "header line '{word}' after @data (header lines must come before @data)"
            )));
        }
        if !in_data {
            if lower.starts_with("@data") {
                in_data = true;
            } else if let Some(d) = lower.strip_prefix("@dimensions") {
                let n = d
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| at(format!("bad @dimensions {:?}", d.trim())))?;
                if n == 0 {
                    return Err(at("@dimensions must be at least 1".into()));
                }
                dims = Some(n);
            } else if let Some(c) = lower.strip_prefix("@targetlabel") {
                regression = match c.split_whitespace().next() {
                    Some("true") => true,
                    Some("false") => false,
                    _ => return Err(at("@targetlabel must be followed by true or false".into())),
                };
            } else if let Some(c) = lower.strip_prefix("@classlabel") {
                labelled = match c.split_whitespace().next() {
                    Some("true") => true,
                    Some("false") => false,
                    _ => return Err(at("@classLabel must be followed by true or false".into())),
                };
                // The class names as written (case kept), after `true`.
                declared = line
                    .split_whitespace()
                    .skip(2)
                    .map(str::to_string)
                    .collect();
            } else if !line.starts_with('@') {
                return Err(at(
                    "a data line before @data (is the @data line missing?)".into()
                ));
            }
            continue;
        }
        let labelled = labelled || regression;
        if !labelled && need == Labels::Required {
            return Err(at(
                "the file has no labels (@classLabel false); training and evaluation need them"
                    .into(),
            ));
        }
        let mut parts: Vec<&str> = line.split(':').collect();
        let label = if labelled {
            if parts.len() < 2 {
                return Err(at(
                    "no ':' before the label (expected values:label, dimensions separated by ':')"
                        .into(),
                ));
            }
            parts.pop().unwrap_or_default().trim().to_string()
        } else {
            String::new()
        };
        let d = *dims.get_or_insert(parts.len());
        if parts.len() != d {
            return Err(at(format!("{} dimensions, expected {d}", parts.len())));
        }
        let mut series: Vec<Vec<f32>> = Vec::with_capacity(d);
        for (k, p) in parts.iter().enumerate() {
            let cells: Vec<&str> = p.split(',').map(str::trim).collect();
            // Trailing NaN is padding.
            let real = cells
                .iter()
                .rposition(|c| !c.eq_ignore_ascii_case("nan"))
                .map_or(0, |j| j + 1);
            let mut s = Vec::with_capacity(real);
            for (j, c) in cells[..real].iter().enumerate() {
                let v = if c.eq_ignore_ascii_case("nan") {
                    Err(format!(
                        "{c:?} inside the series (only trailing NaN is read as padding)"
                    ))
                } else {
                    number(c)
                };
                s.push(v.map_err(|m| at(format!("dimension {}, value {}: {m}", k + 1, j + 1)))?);
            }
            series.push(s);
        }
        let len = series[0].len();
        if series.iter().any(|s| s.len() != len) {
            return Err(at("its dimensions have different lengths".into()));
        }
        if len == 0 || (labelled && label.is_empty()) {
            return Err(at("empty series or missing label".into()));
        }
        if regression {
            let mut v = Vec::with_capacity(len * d);
            for t in 0..len {
                v.extend(series.iter().map(|s| s[t]));
            }
            ds.push_target(Item::Numeric(v), &label, i + 1)
                .map_err(at)?;
            ds.dims = d;
            continue;
        }
        if labelled && !declared.is_empty() && !declared.contains(&label) {
            return Err(at(format!(
                "label '{label}' is not one of the classes @classLabel declares ({})",
                declared.join(", ")
            )));
        }
        let mut v = Vec::with_capacity(len * d);
        for t in 0..len {
            v.extend(series.iter().map(|s| s[t]));
        }
        ds.push(Item::Numeric(v), label, i + 1);
        ds.dims = d;
    }
    if ds.items.is_empty() {
        return Err(Error::format(
            path,
            "no series (is the @data line missing?)",
        ));
    }
    Ok(ds)
}

/// Reads a CSV with one row per frame: a sequence-id column `seq`, a `label` column, an optional
/// `frame` column, and the features in every other column. Each sequence's rows are put in
/// `frame` order (numbers; a frame given twice is an error naming both rows); without a `frame`
/// column rows are taken in file order. Sequences keep the order of their first row.
pub fn read_frames_csv(path: &Path) -> Result<Dataset> {
    frames_csv(path, &parse_csv(path, &read_utf8(path)?)?, Labels::Required)
}

fn frames_csv(path: &Path, csv: &Csv, need: Labels) -> Result<Dataset> {
    let names = &csv.header;
    let seq = csv
        .column("seq")
        .ok_or_else(|| Error::format(path, "no 'seq' column"))?;
    // A numeric `target` column in place of `label` makes regression data.
    let target = csv
        .column("label")
        .is_none()
        .then(|| csv.column("target"))
        .flatten();
    let label = csv.column("label").or(target);
    if label.is_none() && need == Labels::Required {
        return Err(Error::format(
            path,
            "no 'label' column (nor a numeric 'target' column)",
        ));
    }
    let frame = csv.column("frame");
    let features: Vec<usize> = (0..names.len())
        .filter(|&c| c != seq && Some(c) != label && Some(c) != frame)
        .collect();
    if features.is_empty() {
        return Err(Error::format(
            path,
            format!(
                "no feature columns (columns: {}; every column other than seq, label and frame is a feature)",
                names.join(", ")
            ),
        ));
    }
    // Per sequence: label, first row, and (frame, row, values) of each row.
    type Rows = Vec<(f64, usize, Vec<f32>)>;
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, (String, usize, Rows)> = HashMap::new();
    for rec in &csv.records {
        let row = rec.line;
        let f: Vec<&str> = rec.fields.iter().map(|s| s.trim()).collect();
        let at = |m: String| Error::format(path, format!("row {row}: {m}"));
        if f.len() != names.len() {
            return Err(at(format!(
                "{} fields, the header has {}",
                f.len(),
                names.len()
            )));
        }
        let lab = label.map_or("", |c| f[c]);
        let key = f[seq].to_string();
        let entry = groups.entry(key.clone()).or_insert_with(|| {
            order.push(key.clone());
            (lab.to_string(), row, Vec::new())
        });
        if entry.0 != lab {
            return Err(at(format!(
                "sequence {} changes label from {} to {}",
                f[seq], entry.0, lab
            )));
        }
        let position = match frame {
            Some(c) => match f[c].parse::<f64>() {
                Ok(v) if v.is_finite() => v,
                _ => {
                    return Err(Error::format(
                        path,
                        format!(
                            "row {row}, column 'frame': {:?} is not a frame number",
                            f[c]
                        ),
                    ))
                }
            },
            None => entry.2.len() as f64,
        };
        let mut values = Vec::with_capacity(features.len());
        for &c in &features {
            values.push(number(f[c]).map_err(|m| {
                Error::format(path, format!("row {row}, column '{}': {m}", names[c]))
            })?);
        }
        entry.2.push((position, row, values));
    }
    let mut ds = Dataset::from_file(path, features.len());
    for id in order {
        let Some((label, first, mut rows)) = groups.remove(&id) else {
            continue;
        };
        rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        if let Some(w) = rows.windows(2).find(|w| w[0].0 == w[1].0) {
            let (a, b) = (w[0].1.min(w[1].1), w[0].1.max(w[1].1));
            return Err(Error::format(
                path,
                format!("rows {a} and {b}: sequence {id} has frame {} twice", w[0].0),
            ));
        }
        let values: Vec<f32> = rows.into_iter().flat_map(|r| r.2).collect();
        if target.is_some() {
            ds.push_target(Item::Numeric(values), &label, first)
                .map_err(|m| Error::format(path, format!("row {first}, column {m}")))?;
        } else {
            ds.push(Item::Numeric(values), label, first);
        }
    }
    if ds.items.is_empty() {
        return Err(Error::format(path, "no data rows after the header"));
    }
    Ok(ds)
}

/// Reads JSON lines with a `text` and a `label` field; texts are cut to `max_len` characters.
pub fn read_jsonl(path: &Path, max_len: usize) -> Result<Dataset> {
    jsonl(path, &read_utf8(path)?, max_len, Labels::Required)
}

fn jsonl(path: &Path, text: &str, max_len: usize, need: Labels) -> Result<Dataset> {
    let mut ds = Dataset::from_file(path, 0);
    let mut regression = None;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = |m: String| Error::format(path, format!("line {}: {m}", i + 1));
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| at(format!("not JSON ({e})")))?;
        let body = v["text"]
            .as_str()
            .ok_or_else(|| at("no string field 'text'".into()))?;
        let chars: Vec<char> = body.chars().take(max_len).collect();
        if chars.is_empty() {
            return Err(at("the text is empty".into()));
        }
        // The first record decides: a numeric "target" without "label" makes regression data.
        let regression = *regression.get_or_insert(v["label"].is_null() && !v["target"].is_null());
        if regression {
            let target = match &v["target"] {
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null if need == Labels::Optional => {
                    ds.push(Item::Text(chars), String::new(), i + 1);
                    continue;
                }
                _ => return Err(at("no numeric field 'target'".into())),
            };
            ds.push_target(Item::Text(chars), &target, i + 1)
                .map_err(at)?;
            continue;
        }
        let label = match &v["label"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Null if need == Labels::Optional => String::new(),
            _ => return Err(at("no field 'label'".into())),
        };
        ds.push(Item::Text(chars), label, i + 1);
    }
    if ds.items.is_empty() {
        return Err(Error::format(path, "no records"));
    }
    Ok(ds)
}

/// Reads a CSV with a `text` and a `label` column (other columns ignored); texts are cut to
/// `max_len` characters.
pub fn read_text_csv(path: &Path, max_len: usize) -> Result<Dataset> {
    text_csv(
        path,
        &parse_csv(path, &read_utf8(path)?)?,
        max_len,
        Labels::Required,
    )
}

fn text_csv(path: &Path, csv: &Csv, max_len: usize, need: Labels) -> Result<Dataset> {
    let header = &csv.header;
    let target = csv
        .column("label")
        .is_none()
        .then(|| csv.column("target"))
        .flatten();
    let (tc, lc) = match (csv.column("text"), csv.column("label").or(target)) {
        (Some(t), l) if l.is_some() || need == Labels::Optional => (t, l),
        _ => {
            return Err(Error::format(
                path,
                "needs a 'text' and a 'label' column (or a numeric 'target' one)",
            ))
        }
    };
    let mut ds = Dataset::from_file(path, 0);
    for rec in &csv.records {
        let line = rec.line;
        let fields = &rec.fields;
        let at = |m: String| Error::format(path, format!("line {line}: {m}"));
        if fields.len() != header.len() {
            return Err(at(format!(
                "{} fields, the header has {}",
                fields.len(),
                header.len()
            )));
        }
        let chars: Vec<char> = fields[tc].chars().take(max_len).collect();
        if chars.is_empty() {
            return Err(at("the text is empty".into()));
        }
        let label = lc.map_or(String::new(), |c| fields[c].trim().to_string());
        if target.is_some() {
            ds.push_target(Item::Text(chars), &label, line)
                .map_err(at)?;
        } else {
            ds.push(Item::Text(chars), label, line);
        }
    }
    if ds.items.is_empty() {
        return Err(Error::format(path, "no records"));
    }
    Ok(ds)
}

/// The text of an input file in `encoding` (`None`: UTF-8).
type Enc = Option<&'static encoding_rs::Encoding>;

fn dataset(path: &Path, max_len: usize, need: Labels, enc: Enc) -> Result<Dataset> {
    let text = || read_text(path, enc);
    match path.extension().and_then(|e| e.to_str()) {
        Some("ts") => ts(path, &text()?, need),
        Some("jsonl") => jsonl(path, &text()?, max_len, need),
        Some("csv") => {
            let csv = parse_csv(path, &text()?)?;
            if csv.column("text").is_some() {
                text_csv(path, &csv, max_len, need)
            } else {
                frames_csv(path, &csv, need)
            }
        }
        _ => Err(Error::format(
            path,
            "unknown format: expected a .ts, .csv (texts, or one row per frame) or .jsonl file",
        )),
    }
}

/// Reads `path` by its extension: `.ts`, `.jsonl`, or `.csv` (texts when its header has a
/// `text` column, otherwise one row per frame). Every sequence needs a label (or a target).
pub fn read_dataset(path: &Path, max_len: usize) -> Result<Dataset> {
    dataset(path, max_len, Labels::Required, None)
}

/// [`read_dataset`] of a file in `encoding` (an `encoding_rs` label such as `windows-1252`;
/// `None` is UTF-8).
///
/// # Errors
/// As [`read_dataset`]; [`Error::Config`] naming `encoding` for an unknown label.
pub fn read_dataset_in(path: &Path, max_len: usize, encoding: Option<&str>) -> Result<Dataset> {
    let enc = encoding.map(encoding_for).transpose()?;
    dataset(path, max_len, Labels::Required, enc)
}

/// Reads `path` as [`read_dataset`] does, for prediction: labels may be absent (a `.ts` with
/// `@classLabel false`, JSON lines without `label`, a CSV without a `label` column); the
/// labels of such sequences are empty strings.
pub fn read_unlabelled(path: &Path, max_len: usize) -> Result<Dataset> {
    dataset(path, max_len, Labels::Optional, None)
}

/// [`read_unlabelled`] of a file in `encoding` (as [`read_dataset_in`]).
///
/// # Errors
/// As [`read_dataset_in`].
pub fn read_unlabelled_in(path: &Path, max_len: usize, encoding: Option<&str>) -> Result<Dataset> {
    let enc = encoding.map(encoding_for).transpose()?;
    dataset(path, max_len, Labels::Optional, enc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("recur-cls-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_the_three_formats() {
        let p = write("a.ts", "# c\n@dimensions 2\n@data\n1,2,3:4,5,6:x\n7:8:y\n");
        let d = read_ts(&p).unwrap();
        assert_eq!(
            d.items[0],
            Item::Numeric(vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0])
        );
        assert_eq!(d.labels, ["x", "y"]);
        assert_eq!((d.dims, d.len_of(0), d.len_of(1)), (2, 3, 1));
        let p = write(
            "f.csv",
            "seq,label,frame,a,b\n0,5,0,1,2\n0,5,1,3,4\n1,6,0,5,6\n",
        );
        let d = read_frames_csv(&p).unwrap();
        assert_eq!(
            d.items,
            [
                Item::Numeric(vec![1.0, 2.0, 3.0, 4.0]),
                Item::Numeric(vec![5.0, 6.0])
            ]
        );
        assert_eq!(d.labels, ["5", "6"]);
        let p = write(
            "t.jsonl",
            "{\"label\": \"spam\", \"text\": \"buy now\"}\n{\"label\": 1, \"text\": \"hi\"}\n",
        );
        let d = read_jsonl(&p, 3).unwrap();
        assert_eq!(d.items[0], Item::Text(vec!['b', 'u', 'y']));
        assert_eq!(d.labels, ["spam", "1"]);
    }

    #[test]
    fn text_csv_with_quotes_commas_and_newlines() {
        let p = write(
            "t.csv",
            "label,text\nspam,\"buy, now\"\nham,\"line one\nline \"\"two\"\"\"\n",
        );
        let d = read_dataset(&p, 100).unwrap();
        assert_eq!(d.labels, ["spam", "ham"]);
        assert_eq!(d.items[0], Item::Text("buy, now".chars().collect()));
        assert_eq!(
            d.items[1],
            Item::Text("line one\nline \"two\"".chars().collect())
        );
        let e = read_text_csv(&write("u.csv", "label,text\na,\"open\n"), 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("never closed"), "{e}");
    }

    #[test]
    fn malformed_files_name_the_line() {
        let e = read_ts(&write("b.ts", "@dimensions 2\n@data\n1,2:3:x\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 3") && e.contains("different lengths"),
            "{e}"
        );
        let e = read_ts(&write("c.ts", "@dimensions 2\n@data\n1,2:x\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 3") && e.contains("1 dimensions, expected 2"),
            "{e}"
        );
        let e = read_ts(&write("d.ts", "@dimensions 1\n@data\n:x\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3"), "{e}");
        let e = read_frames_csv(&write("g.csv", "seq,label,a\n0,1,2\n0,2,3\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 3") && e.contains("changes label"), "{e}");
        let e = read_jsonl(
            &write("h.jsonl", "{\"label\": \"a\", \"text\": \"\"}\n"),
            10,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 1") && e.contains("empty"), "{e}");
    }

    fn err(r: Result<Dataset>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn ts_line_without_colon_names_file_and_line() {
        let p = write("nocolon.ts", "@data\nhello\n");
        let e = err(read_ts(&p));
        assert!(
            e.contains("nocolon.ts: line 2") && e.contains("no ':'"),
            "{e}"
        );
        // Multivariate without the label part is the same fault.
        let e = err(read_ts(&write("nolab.ts", "@dimensions 1\n@data\n1,2,3\n")));
        assert!(e.contains("line 3") && e.contains("no ':'"), "{e}");
    }

    #[test]
    fn ts_header_after_data_is_refused() {
        let p = write("late.ts", "@data\n@dimensions 1\n1,2:a\n");
        let e = err(read_ts(&p));
        assert!(
            e.contains("line 2") && e.contains("'@dimensions' after @data"),
            "{e}"
        );
        let e = err(read_ts(&write("nodata.ts", "@dimensions 1\n1,2:a\n")));
        assert!(e.contains("line 2") && e.contains("@data"), "{e}");
        let e = err(read_ts(&write("zero.ts", "@dimensions 0\n@data\n1:a\n")));
        assert!(e.contains("line 1") && e.contains("at least 1"), "{e}");
    }

    #[test]
    fn frames_csv_without_feature_columns_is_refused() {
        let p = write("nofeat.csv", "seq,label,frame\n0,a,0\n0,a,1\n1,b,0\n");
        let e = err(read_frames_csv(&p));
        assert!(
            e.contains("nofeat.csv") && e.contains("no feature columns"),
            "{e}"
        );
        let e = err(read_dataset(&p, 10));
        assert!(e.contains("no feature columns"), "{e}");
    }

    #[test]
    fn trailing_nan_in_ts_is_padding() {
        let p = write(
            "pad.ts",
            "@dimensions 2\n@data\n1,2,NaN,nan:3,4,NaN,NaN:a\n5,6,7:8,9,10:b\n",
        );
        let d = read_ts(&p).unwrap();
        assert_eq!(d.items[0], Item::Numeric(vec![1.0, 3.0, 2.0, 4.0]));
        assert_eq!((d.len_of(0), d.len_of(1)), (2, 3));
        assert_eq!(d.lines, [3, 4]);
    }

    #[test]
    fn non_finite_values_are_refused_with_line_and_column() {
        let e = err(read_ts(&write("mid.ts", "@data\n1,NaN,3:a\n")));
        assert!(
            e.contains("line 2")
                && e.contains("dimension 1, value 2")
                && e.contains("only trailing NaN"),
            "{e}"
        );
        let e = err(read_ts(&write("inf.ts", "@data\n1,inf,3:a\n")));
        assert!(
            e.contains("value 2") && e.contains("not a finite number"),
            "{e}"
        );
        let e = err(read_ts(&write("big.ts", "@data\n1,2,1e39:a\n")));
        assert!(e.contains("value 3") && e.contains("32-bit range"), "{e}");
        let e = err(read_ts(&write("allnan.ts", "@data\nNaN,NaN:a\n")));
        assert!(e.contains("line 2") && e.contains("empty series"), "{e}");
        for (cell, needle) in [
            ("NaN", "not a finite number"),
            ("-inf", "not a finite number"),
            ("3.5e38", "32-bit range"),
        ] {
            let p = write(
                "nan.csv",
                &format!("seq,label,x,y\n0,a,1,2\n0,a,{cell},4\n"),
            );
            let e = err(read_frames_csv(&p));
            assert!(e.contains("row 3, column 'x'") && e.contains(needle), "{e}");
        }
    }

    #[test]
    fn frames_are_put_in_frame_order() {
        let sorted = write(
            "sorted.csv",
            "seq,label,frame,x\ns0,a,0,1\ns0,a,1,2\ns0,a,2,3\ns1,b,0,4\ns1,b,1,5\n",
        );
        let shuffled = write(
            "shuffled.csv",
            "seq,label,frame,x\ns0,a,2,3\ns1,b,1,5\ns0,a,0,1\ns1,b,0,4\ns0,a,1,2\n",
        );
        let (a, b) = (
            read_frames_csv(&sorted).unwrap(),
            read_frames_csv(&shuffled).unwrap(),
        );
        assert_eq!(a.items, b.items);
        assert_eq!(a.items[0], Item::Numeric(vec![1.0, 2.0, 3.0]));
        assert_eq!(b.lines, [2, 3]);
        // Frame numbers compare as numbers, not text.
        let p = write("ten.csv", "seq,label,frame,x\n0,a,10,2\n0,a,9,1\n");
        assert_eq!(
            read_frames_csv(&p).unwrap().items[0],
            Item::Numeric(vec![1.0, 2.0])
        );
    }

    #[test]
    fn duplicate_frames_are_refused() {
        let p = write(
            "dupframe.csv",
            "seq,label,frame,x\n0,a,0,1\n0,a,1,2\n0,a,1,3\n",
        );
        let e = err(read_frames_csv(&p));
        assert!(
            e.contains("rows 3 and 4") && e.contains("frame 1 twice"),
            "{e}"
        );
        let p = write("badframe.csv", "seq,label,frame,x\n0,a,one,1\n");
        let e = err(read_frames_csv(&p));
        assert!(e.contains("row 2, column 'frame'"), "{e}");
    }

    #[test]
    fn bom_is_stripped_from_every_format() {
        let d = read_dataset(&write("bom.ts", "\u{feff}@dimensions 1\n@data\n1,2:a\n"), 9).unwrap();
        assert_eq!(d.labels, ["a"]);
        let d = read_dataset(
            &write(
                "bom.jsonl",
                "\u{feff}{\"text\": \"hi\", \"label\": \"x\"}\n",
            ),
            9,
        )
        .unwrap();
        assert_eq!(d.items[0], Item::Text(vec!['h', 'i']));
        let d = read_dataset(&write("bomt.csv", "\u{feff}text,label\nhi,x\n"), 9).unwrap();
        assert_eq!((d.dims, d.labels.as_slice()), (0, &["x".to_string()][..]));
        let d = read_dataset(&write("bomf.csv", "\u{feff}seq,label,x\n0,a,1\n"), 9).unwrap();
        assert_eq!((d.dims, d.items[0].clone()), (1, Item::Numeric(vec![1.0])));
    }

    #[test]
    fn quoted_header_names_and_crlf_are_read() {
        let p = write("q.csv", "\"seq\",\"label\",\"x\"\r\n0,\"a\",1\r\n0,a,2\r\n");
        let d = read_dataset(&p, 9).unwrap();
        assert_eq!(d.items[0], Item::Numeric(vec![1.0, 2.0]));
        assert_eq!(d.labels, ["a"]);
    }

    #[test]
    fn unseen_label_names_file_and_line() {
        let p = write(
            "unseen.ts",
            "@dimensions 1\n@data\n1,2,3:a\n\n1,2,3,4:zzz\n",
        );
        let d = read_ts(&p).unwrap();
        let e = d.class_ids(&["a".into()]).unwrap_err().to_string();
        assert!(
            e.contains("unseen.ts: line 5: label 'zzz' was not seen in training"),
            "{e}"
        );
        // A subset keeps the lines.
        let e = d
            .subset(&[1])
            .class_ids(&["a".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 5"), "{e}");
        assert_eq!(d.class_ids(&["zzz".into(), "a".into()]).unwrap(), [1, 0]);
    }

    #[test]
    fn predict_reads_files_without_labels() {
        let ts = write(
            "nolabel.ts",
            "@dimensions 1\n@classLabel false\n@data\n1,2,3\n4,5,6,7\n",
        );
        let d = read_unlabelled(&ts, 9).unwrap();
        assert_eq!((d.items.len(), d.len_of(1)), (2, 4));
        assert_eq!(d.labels, ["", ""]);
        let e = err(read_dataset(&ts, 9));
        assert!(
            e.contains("line 4") && e.contains("@classLabel false"),
            "{e}"
        );
        let j = write(
            "nolabel.jsonl",
            "{\"text\":\"loved it\"}\n{\"text\":\"awful\"}\n",
        );
        assert_eq!(read_unlabelled(&j, 9).unwrap().items.len(), 2);
        assert!(err(read_dataset(&j, 9)).contains("no field 'label'"));
        let c = write("nolabel.csv", "text\nloved it\nawful plot\n");
        assert_eq!(read_unlabelled(&c, 9).unwrap().items.len(), 2);
        assert!(err(read_dataset(&c, 9)).contains("'label' column"));
        let f = write("nolabelf.csv", "seq,frame,x\n0,0,1\n0,1,2\n");
        assert_eq!(
            read_unlabelled(&f, 9).unwrap().items[0],
            Item::Numeric(vec![1.0, 2.0])
        );
        assert!(err(read_dataset(&f, 9)).contains("no 'label' column"));
        // Labels that are there are still read.
        let l = write("lab.jsonl", "{\"text\":\"x\",\"label\":\"pos\"}\n");
        assert_eq!(read_unlabelled(&l, 9).unwrap().labels, ["pos"]);
    }

    #[test]
    fn numeric_targets_are_read_as_regression_data() {
        let p = write(
            "reg.ts",
            "@univariate true\n@targetlabel true\n@data\n1,2,3:0.25\n4,5:-1e-3\n",
        );
        let d = read_ts(&p).unwrap();
        assert!(d.is_regression());
        assert_eq!(d.targets, [0.25, -1e-3]);
        assert_eq!(d.subset(&[1]).targets, [-1e-3]);
        let e = err(read_ts(&write(
            "regbad.ts",
            "@targetlabel true\n@data\n1,2:x1\n",
        )));
        assert!(
            e.contains("regbad.ts: line 3") && e.contains("target: \"x1\" is not a number"),
            "{e}"
        );
        let j = write(
            "reg.jsonl",
            "{\"text\":\"ab\",\"target\":2}\n{\"text\":\"c\",\"target\":-0.5}\n",
        );
        assert_eq!(read_dataset(&j, 9).unwrap().targets, [2.0, -0.5]);
        let c = write("reg.csv", "text,target\nab,1.5\n");
        assert_eq!(read_dataset(&c, 9).unwrap().targets, [1.5]);
        let f = write("regf.csv", "seq,target,x\n0,3,1\n0,3,2\n");
        let d = read_dataset(&f, 9).unwrap();
        assert_eq!((d.targets.as_slice(), d.dims), (&[3.0f32][..], 1));
        // Class labels stay class labels.
        assert!(!read_ts(&write("cls.ts", "@data\n1,2:0.5\n"))
            .unwrap()
            .is_regression());
    }
}
