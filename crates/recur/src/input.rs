//! Reading input files: UTF-8 text with an optional byte-order mark, and CSV with a header row.
//!
//! Every reader of the crate (sequences, texts, series) goes through here, so a UTF-8 byte-order
//! mark (`EF BB BF`, written by many spreadsheet programs) is dropped everywhere, and CSV files
//! accept quoted fields (commas, newlines and doubled quotes inside quotes), quoted header names
//! and CRLF line ends. Errors name the file and the line.

use crate::error::{Error, Result};
use std::path::Path;

/// The byte-order mark as a character.
pub const BOM: char = '\u{feff}';

/// `text` without a leading byte-order mark.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix(BOM).unwrap_or(text)
}

/// The largest input file recur reads (1 GiB): a device such as `/dev/zero` or a mistaken path
/// ends with this error instead of exhausting the memory.
pub const MAX_INPUT_BYTES: u64 = 1 << 30;

/// Reads `path` as UTF-8 text and drops a leading byte-order mark; the error names the file and
/// the offset of the first invalid byte.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, [`Error::Format`] when it is a directory, larger
/// than [`MAX_INPUT_BYTES`], or not UTF-8.
pub fn read_utf8(path: &Path) -> Result<String> {
    read_decoded(path, None, "")
}

/// The encoding of the WHATWG Encoding Standard that `label` names (`utf-8`, `windows-1252`,
/// `latin1`, `shift_jis`, …; case and surrounding spaces ignored).
///
/// # Errors
/// [`Error::Config`] naming `encoding` when no encoding has that label.
pub fn encoding_for(label: &str) -> Result<&'static encoding_rs::Encoding> {
    encoding_rs::Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| {
        Error::Config(format!(
            "`encoding` {label:?} is not an encoding label (e.g. utf-8, windows-1252, latin1, utf-16le)"
        ))
    })
}

/// Reads `path` as text in `encoding` (through `encoding_rs`; `None` is UTF-8) and drops a
/// leading byte-order mark. Bytes that are invalid in the encoding are an error naming the
/// file, the byte offset and the line of the first one, and the `encoding` setting.
///
/// # Errors
/// As [`read_utf8`].
pub fn read_text(path: &Path, encoding: Option<&'static encoding_rs::Encoding>) -> Result<String> {
    read_decoded(
        path,
        encoding,
        "; name the file's encoding with `encoding` (e.g. windows-1252)",
    )
}

/// Reads and decodes `path`; a decoding error ends with `hint`.
fn read_decoded(
    path: &Path,
    encoding: Option<&'static encoding_rs::Encoding>,
    hint: &str,
) -> Result<String> {
    use std::io::Read;
    if path.is_dir() {
        return Err(Error::format(path, "is a directory, expected a file"));
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(Error::format(
            path,
            format!("larger than the limit of {MAX_INPUT_BYTES} bytes (1 GiB) for an input file"),
        ));
    }
    let mut text = match encoding {
        Some(enc) if enc != encoding_rs::UTF_8 => decode(path, &bytes, enc, hint)?,
        _ => String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
            Error::format(
                path,
                format!(
                    "not UTF-8 text (invalid byte 0x{:02x} at offset {at}, line {line}){hint}",
                    e.as_bytes()[at]
                ),
            )
        })?,
    };
    if text.starts_with(BOM) {
        text.drain(..BOM.len_utf8());
    }
    Ok(text)
}

/// `bytes` decoded from `enc`; the error names the offset and line of the first byte that is
/// not valid in it.
fn decode(
    path: &Path,
    bytes: &[u8],
    enc: &'static encoding_rs::Encoding,
    hint: &str,
) -> Result<String> {
    let (text, had_errors) = enc.decode_without_bom_handling(bytes);
    if !had_errors {
        return Ok(text.into_owned());
    }
    // Find the first bad byte: decode incrementally until the decoder reports a malformation.
    let mut decoder = enc.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(bytes.len() * 3);
    let mut at = 0;
    loop {
        let (result, read) =
            decoder.decode_to_string_without_replacement(&bytes[at..], &mut out, true);
        at += read;
        match result {
            encoding_rs::DecoderResult::Malformed(len, _) => {
                let bad = at.saturating_sub(len as usize);
                let line = 1 + bytes[..bad].iter().filter(|&&b| b == b'\n').count();
                return Err(Error::format(
                    path,
                    format!(
                        "not {} text (invalid byte at offset {bad}, line {line}){hint}",
                        enc.name()
                    ),
                ));
            }
            encoding_rs::DecoderResult::OutputFull => out.reserve(bytes.len()),
            encoding_rs::DecoderResult::InputEmpty => return Ok(out),
        }
    }
}

/// One CSV record: the 1-based line it starts on and its fields.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvRecord {
    /// Line of the file where the record starts (the header is on line 1 unless blank lines
    /// come first).
    pub line: usize,
    /// The fields, unquoted, as written (not trimmed).
    pub fields: Vec<String>,
}

/// A CSV file: its header names (unquoted and trimmed) and its records.
#[derive(Clone, Debug, PartialEq)]
pub struct Csv {
    /// Column names.
    pub header: Vec<String>,
    /// Data records, blank lines left out.
    pub records: Vec<CsvRecord>,
}

impl Csv {
    /// Index of the column called `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|c| c == name)
    }
}

/// The line of a quote that opens a field and is never closed, if any.
fn unclosed_quote(text: &str, delimiter: char) -> Option<usize> {
    let (mut line, mut opened, mut quoted, mut at_start) = (1, 0, false, true);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                }
                '"' => quoted = false,
                '\n' => line += 1,
                _ => {}
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                opened = line;
            }
            c if c == delimiter => at_start = true,
            '\n' => {
                line += 1;
                at_start = true;
            }
            '\r' => {}
            _ => at_start = false,
        }
        if c == '"' {
            at_start = false;
        }
    }
    quoted.then_some(opened)
}

/// Parses CSV `text` read from `path` (only named in errors): the first non-blank record is the
/// header. A byte-order mark at the start is dropped; blank lines are skipped.
pub fn parse_csv(path: &Path, text: &str) -> Result<Csv> {
    parse_csv_with(path, text, b',')
}

/// [`parse_csv`] with another field separator (`;`, a tab, …): one ASCII byte.
pub fn parse_csv_with(path: &Path, text: &str, delimiter: u8) -> Result<Csv> {
    let text = strip_bom(text);
    if let Some(line) = unclosed_quote(text, char::from(delimiter)) {
        return Err(Error::format(
            path,
            format!("line {line}: a quoted field is never closed"),
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let bytes = text.as_bytes();
    // Lines counted here: the crate's own count skips blank lines and CRLF ends.
    let (mut pos, mut line) = (0usize, 1usize);
    let mut line_at = |byte: usize| {
        let mut b = byte.min(bytes.len());
        while b < bytes.len() && (bytes[b] == b'\r' || bytes[b] == b'\n') {
            b += 1;
        }
        if b >= pos {
            line += bytes[pos..b].iter().filter(|&&c| c == b'\n').count();
            pos = b;
        }
        line
    };
    let mut records = Vec::new();
    for r in reader.records() {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| line_at(p.byte() as usize));
                return Err(Error::format(path, format!("line {line}: not CSV ({e})")));
            }
        };
        let line = r.position().map_or(0, |p| line_at(p.byte() as usize));
        if r.iter().all(|f| f.trim().is_empty()) && r.len() <= 1 {
            continue;
        }
        records.push(CsvRecord {
            line,
            fields: r.iter().map(str::to_string).collect(),
        });
    }
    if records.is_empty() {
        return Err(Error::format(path, "the file is empty"));
    }
    let first = records.remove(0);
    let header: Vec<String> = first
        .fields
        .iter()
        .map(|n| strip_bom(n.trim()).trim().to_string())
        .collect();
    for (i, name) in header.iter().enumerate() {
        if !name.is_empty() && header[..i].contains(name) {
            return Err(Error::format(
                path,
                format!(
                    "line {}: the header names column '{name}' twice (columns {} and {})",
                    first.line,
                    header[..i].iter().position(|n| n == name).unwrap_or(0) + 1,
                    i + 1
                ),
            ));
        }
    }
    Ok(Csv { header, records })
}

/// Reads and parses the CSV file `path` (see [`parse_csv`]).
pub fn read_csv(path: &Path) -> Result<Csv> {
    parse_csv(path, &read_utf8(path)?)
}

/// Reads and parses the CSV file `path` with fields separated by `delimiter`
/// ([`parse_csv_with`]).
pub fn read_csv_with(path: &Path, delimiter: u8) -> Result<Csv> {
    parse_csv_with(path, &read_utf8(path)?, delimiter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_naming_a_column_twice_is_refused() {
        let e = parse_csv(Path::new("x.csv"), "seq,label,seq,x\na,b,1,2\n").unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains("x.csv") && e.contains("'seq' twice") && e.contains("line 1"),
            "{e}"
        );
    }

    #[test]
    fn bom_quotes_and_crlf_are_read() {
        let p = Path::new("x.csv");
        let c = parse_csv(
            p,
            "\u{feff}\"YEAR\",\"SUN ACTIVITY\"\r\n1700,\"5,0\"\r\n\r\n1701,\"say \"\"hi\"\"\"\r\n",
        )
        .unwrap();
        assert_eq!(c.header, ["YEAR", "SUN ACTIVITY"]);
        assert_eq!(c.column("SUN ACTIVITY"), Some(1));
        assert_eq!(c.records.len(), 2);
        assert_eq!(c.records[0].fields, ["1700", "5,0"]);
        assert_eq!(c.records[1].line, 4);
        assert_eq!(c.records[1].fields, ["1701", "say \"hi\""]);
    }

    #[test]
    fn an_unclosed_quote_names_its_line() {
        let e = parse_csv(Path::new("q.csv"), "a,b\n1,2\n3,\"open\n4,5\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("q.csv: line 3") && e.contains("never closed"),
            "{e}"
        );
        // A quote inside an unquoted field is literal.
        let c = parse_csv(Path::new("q.csv"), "a,b\n1,2\"x\n").unwrap();
        assert_eq!(c.records[0].fields, ["1", "2\"x"]);
        assert!(parse_csv(Path::new("e.csv"), "\u{feff}\n\n").is_err());
    }

    #[test]
    fn another_delimiter_splits_fields_and_keeps_commas() {
        let c = parse_csv_with(Path::new("s.csv"), "date;\"y\"\n2020-01;1,5\n", b';').unwrap();
        assert_eq!(c.header, ["date", "y"]);
        assert_eq!(c.records[0].fields, ["2020-01", "1,5"]);
        let e = parse_csv_with(Path::new("s.csv"), "a;b\n1;\"x\n", b';').unwrap_err();
        assert!(e.to_string().contains("never closed"), "{e}");
    }
}
