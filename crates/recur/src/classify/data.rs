//! Labelled sequences from files: the UCR/UEA `.ts` format, a CSV with one row per frame, and
//! JSON lines of texts. Errors name the file, the line and what was expected.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// One labelled sequence.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `len × dims` numbers, row-major (one row per time step).
    Numeric(Vec<f32>),
    /// Characters of a text.
    Text(Vec<char>),
}

/// Labelled sequences of one kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Features per step for numeric data; 0 for text.
    pub dims: usize,
    /// The sequences.
    pub items: Vec<Item>,
    /// The label of each sequence, as written in the file.
    pub labels: Vec<String>,
}

impl Dataset {
    /// Steps of sequence `i`.
    pub fn len_of(&self, i: usize) -> usize {
        match &self.items[i] {
            Item::Numeric(v) => v.len() / self.dims,
            Item::Text(c) => c.len(),
        }
    }

    /// The sequences at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        Dataset {
            dims: self.dims,
            items: idx.iter().map(|&i| self.items[i].clone()).collect(),
            labels: idx.iter().map(|&i| self.labels[i].clone()).collect(),
        }
    }
}

fn read(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        Error::format(
            path,
            format!(
                "not UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Reads the sktime/UEA `.ts` format: `#` comments, `@` header lines, then after `@data` one
/// series per line, its dimensions separated by `:`, values by `,`, the label last.
pub fn read_ts(path: &Path) -> Result<Dataset> {
    let text = read(path)?;
    let mut dims = None;
    let mut in_data = false;
    let mut ds = Dataset {
        dims: 0,
        items: Vec::new(),
        labels: Vec::new(),
    };
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let at = |m: String| Error::format(path, format!("line {}: {m}", i + 1));
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !in_data {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("@data") {
                in_data = true;
            } else if let Some(d) = lower.strip_prefix("@dimensions") {
                dims = Some(
                    d.trim()
                        .parse::<usize>()
                        .map_err(|_| at(format!("bad @dimensions {d:?}")))?,
                );
            }
            continue;
        }
        let mut parts: Vec<&str> = line.split(':').collect();
        let label = parts.pop().unwrap_or_default().trim().to_string();
        let d = *dims.get_or_insert(parts.len());
        if parts.len() != d {
            return Err(at(format!("{} dimensions, expected {d}", parts.len())));
        }
        let series: Vec<Vec<f32>> = parts
            .iter()
            .map(|p| {
                p.split(',')
                    .map(|v| {
                        v.trim()
                            .parse::<f32>()
                            .map_err(|_| at(format!("{v:?} is not a number")))
                    })
                    .collect::<Result<Vec<f32>>>()
            })
            .collect::<Result<_>>()?;
        let len = series[0].len();
        if series.iter().any(|s| s.len() != len) {
            return Err(at("its dimensions have different lengths".into()));
        }
        if len == 0 || label.is_empty() {
            return Err(at("empty series or missing label".into()));
        }
        let mut v = Vec::with_capacity(len * d);
        for t in 0..len {
            v.extend(series.iter().map(|s| s[t]));
        }
        ds.items.push(Item::Numeric(v));
        ds.labels.push(label);
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
/// `frame` column (ignored; rows are taken in file order), and the features in every other column.
pub fn read_frames_csv(path: &Path) -> Result<Dataset> {
    frames_csv(path, &read(path)?)
}

fn frames_csv(path: &Path, text: &str) -> Result<Dataset> {
    let mut lines = text.lines().enumerate();
    let (_, header) = lines
        .next()
        .ok_or_else(|| Error::format(path, "the file is empty"))?;
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let col = |n: &str| names.iter().position(|c| *c == n);
    let seq = col("seq").ok_or_else(|| Error::format(path, "no 'seq' column"))?;
    let label = col("label").ok_or_else(|| Error::format(path, "no 'label' column"))?;
    let frame = col("frame");
    let features: Vec<usize> = (0..names.len())
        .filter(|&c| c != seq && c != label && Some(c) != frame)
        .collect();
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, (String, Vec<f32>)> = BTreeMap::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let at = |m: String| Error::format(path, format!("row {}: {m}", i + 1));
        if f.len() != names.len() {
            return Err(at(format!(
                "{} fields, the header has {}",
                f.len(),
                names.len()
            )));
        }
        let entry = groups.entry(f[seq].to_string()).or_insert_with(|| {
            order.push(f[seq].to_string());
            (f[label].to_string(), Vec::new())
        });
        if entry.0 != f[label] {
            return Err(at(format!(
                "sequence {} changes label from {} to {}",
                f[seq], entry.0, f[label]
            )));
        }
        for &c in &features {
            let v = f[c]
                .parse::<f32>()
                .map_err(|_| at(format!("column '{}': {:?} is not a number", names[c], f[c])))?;
            entry.1.push(v);
        }
    }
    let mut ds = Dataset {
        dims: features.len(),
        items: Vec::new(),
        labels: Vec::new(),
    };
    for id in order {
        let (label, values) = groups.remove(&id).expect("grouped");
        ds.items.push(Item::Numeric(values));
        ds.labels.push(label);
    }
    if ds.items.is_empty() {
        return Err(Error::format(path, "no data rows after the header"));
    }
    Ok(ds)
}

/// Reads JSON lines with a `text` and a `label` field; texts are cut to `max_len` characters.
pub fn read_jsonl(path: &Path, max_len: usize) -> Result<Dataset> {
    let text = read(path)?;
    let mut ds = Dataset {
        dims: 0,
        items: Vec::new(),
        labels: Vec::new(),
    };
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
        let label = match &v["label"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return Err(at("no field 'label'".into())),
        };
        let chars: Vec<char> = body.chars().take(max_len).collect();
        if chars.is_empty() {
            return Err(at("the text is empty".into()));
        }
        ds.items.push(Item::Text(chars));
        ds.labels.push(label);
    }
    if ds.items.is_empty() {
        return Err(Error::format(path, "no records"));
    }
    Ok(ds)
}

/// Splits CSV text into records of fields (RFC 4180: quoted fields may hold commas, newlines and
/// doubled quotes). Returns each record with the 1-based line it starts on, or the line of an
/// unclosed quote.
fn csv_records(text: &str) -> std::result::Result<Vec<(usize, Vec<String>)>, usize> {
    let mut records = Vec::new();
    let (mut field, mut record) = (String::new(), Vec::new());
    let (mut line, mut start, mut quoted) = (1, 1, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                let blank = record.len() == 1 && record[0].trim().is_empty();
                if !blank {
                    records.push((start, std::mem::take(&mut record)));
                }
                record.clear();
                line += 1;
                start = line;
            }
            (false, '\r') => {}
            (_, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
        }
    }
    if quoted {
        return Err(start);
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push((start, record));
    }
    Ok(records)
}

/// Reads a CSV with a `text` and a `label` column (other columns ignored); texts are cut to
/// `max_len` characters.
pub fn read_text_csv(path: &Path, max_len: usize) -> Result<Dataset> {
    text_csv(path, &read(path)?, max_len)
}

fn text_csv(path: &Path, text: &str, max_len: usize) -> Result<Dataset> {
    let records = csv_records(text).map_err(|line| {
        Error::format(path, format!("line {line}: a quoted field is never closed"))
    })?;
    let mut it = records.into_iter();
    let (_, header) = it
        .next()
        .ok_or_else(|| Error::format(path, "the file is empty"))?;
    let col = |n: &str| header.iter().position(|c| c.trim() == n);
    let (tc, lc) = match (col("text"), col("label")) {
        (Some(t), Some(l)) => (t, l),
        _ => return Err(Error::format(path, "needs a 'text' and a 'label' column")),
    };
    let mut ds = Dataset {
        dims: 0,
        items: Vec::new(),
        labels: Vec::new(),
    };
    for (line, fields) in it {
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
        ds.items.push(Item::Text(chars));
        ds.labels.push(fields[lc].trim().to_string());
    }
    if ds.items.is_empty() {
        return Err(Error::format(path, "no records"));
    }
    Ok(ds)
}

/// Reads `path` by its extension: `.ts`, `.jsonl`, or `.csv` (texts when its header has a
/// `text` column, otherwise one row per frame).
pub fn read_dataset(path: &Path, max_len: usize) -> Result<Dataset> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("ts") => read_ts(path),
        Some("jsonl") => read_jsonl(path, max_len),
        Some("csv") => {
            let head = read(path)?;
            let first = head.lines().next().unwrap_or_default();
            if first
                .split(',')
                .any(|c| c.trim().trim_matches('"') == "text")
            {
                read_text_csv(path, max_len)
            } else {
                read_frames_csv(path)
            }
        }
        _ => Err(Error::format(
            path,
            "unknown format: expected a .ts, .csv (texts, or one row per frame) or .jsonl file",
        )),
    }
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
}
