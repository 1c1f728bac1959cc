//! Labelled training and evaluation data: CSV or JSON Lines with named columns, or the CLINC150
//! layout (a JSON object whose values are lists of `[text, intent]` pairs, `oos` meaning out of
//! scope). Errors name the row.

use crate::NlpError;
use std::path::Path;

/// The label CLINC150 gives out-of-scope examples.
pub const OOS: &str = "oos";

/// One labelled example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub text: String,
    pub label: String,
}

/// File layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    Clinc,
}

impl std::str::FromStr for Format {
    type Err = NlpError;
    fn from_str(s: &str) -> Result<Self, NlpError> {
        match s {
            "csv" => Ok(Self::Csv),
            "jsonl" => Ok(Self::Jsonl),
            "clinc" => Ok(Self::Clinc),
            other => Err(NlpError::Data(format!(
                "unknown format {other:?} (csv, jsonl or clinc)"
            ))),
        }
    }
}

/// Column names for CSV and JSON Lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    pub text: String,
    pub label: String,
}

impl Default for Columns {
    fn default() -> Self {
        Self {
            text: "text".into(),
            label: "category".into(),
        }
    }
}

/// Named lists of examples (CSV and JSON Lines files are one list, `all`).
pub type Lists = Vec<(String, Vec<Example>)>;

/// Reads a file in `format`.
pub fn load(path: &Path, format: Format, columns: &Columns) -> Result<Lists, NlpError> {
    let raw = std::fs::read(path)
        .map_err(|e| NlpError::Data(format!("cannot read {}: {e}", path.display())))?;
    parse(&raw, format, columns)
}

/// Parses file contents in `format`.
pub fn parse(raw: &[u8], format: Format, columns: &Columns) -> Result<Lists, NlpError> {
    match format {
        Format::Csv => Ok(vec![("all".into(), csv_rows(raw, columns)?)]),
        Format::Jsonl => Ok(vec![("all".into(), jsonl_rows(raw, columns)?)]),
        Format::Clinc => clinc(raw),
    }
}

/// The texts of one column of a CSV file (no labels needed: for benchmarks and bulk scoring).
pub fn load_texts(path: &Path, column: &str) -> Result<Vec<String>, NlpError> {
    let raw = std::fs::read(path)
        .map_err(|e| NlpError::Data(format!("cannot read {}: {e}", path.display())))?;
    let mut reader = csv::ReaderBuilder::new().from_reader(raw.as_slice());
    let headers = reader
        .headers()
        .map_err(|e| NlpError::Data(format!("row 1 (header): {e}")))?
        .clone();
    let t = headers
        .iter()
        .position(|h| h == column)
        .ok_or_else(|| NlpError::Data(format!("no column {column:?} in the header")))?;
    reader
        .records()
        .enumerate()
        .map(|(i, r)| {
            r.map(|r| r.get(t).unwrap_or_default().to_owned())
                .map_err(|e| NlpError::Data(format!("row {}: {e}", i + 2)))
        })
        .collect()
}

fn example(row: usize, text: &str, label: &str) -> Result<Example, NlpError> {
    let (text, label) = (text.trim(), label.trim());
    if text.is_empty() {
        return Err(NlpError::Data(format!("row {row}: empty text")));
    }
    if label.is_empty() {
        return Err(NlpError::Data(format!("row {row}: empty label")));
    }
    Ok(Example {
        text: text.to_owned(),
        label: label.to_owned(),
    })
}

fn csv_rows(raw: &[u8], columns: &Columns) -> Result<Vec<Example>, NlpError> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(raw);
    let headers = reader
        .headers()
        .map_err(|e| NlpError::Data(format!("row 1 (header): {e}")))?
        .clone();
    let find = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            NlpError::Data(format!(
                "no column {name:?} in the header (columns: {})",
                headers.iter().collect::<Vec<_>>().join(", ")
            ))
        })
    };
    let (t, l) = (find(&columns.text)?, find(&columns.label)?);
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        // Row numbers count the header as row 1, like a spreadsheet.
        let row = i + 2;
        let record = record.map_err(|e| NlpError::Data(format!("row {row}: {e}")))?;
        out.push(example(
            row,
            record.get(t).unwrap_or_default(),
            record.get(l).unwrap_or_default(),
        )?);
    }
    Ok(out)
}

fn jsonl_rows(raw: &[u8], columns: &Columns) -> Result<Vec<Example>, NlpError> {
    let text = std::str::from_utf8(raw).map_err(|e| NlpError::Data(format!("not UTF-8: {e}")))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let row = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| NlpError::Data(format!("row {row}: {e}")))?;
        let field = |name: &str| {
            v.get(name)
                .and_then(|x| x.as_str())
                .ok_or_else(|| NlpError::Data(format!("row {row}: no string field {name:?}")))
        };
        out.push(example(row, field(&columns.text)?, field(&columns.label)?)?);
    }
    Ok(out)
}

fn clinc(raw: &[u8]) -> Result<Lists, NlpError> {
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(raw)
        .map_err(|e| NlpError::Data(format!("not a CLINC150 JSON object: {e}")))?;
    let mut out = Vec::new();
    for (name, list) in v {
        let items = list
            .as_array()
            .ok_or_else(|| NlpError::Data(format!("{name}: not a list")))?;
        let mut examples = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let row = i + 1;
            let pair = item.as_array().filter(|p| p.len() == 2);
            let (Some(text), Some(label)) = (
                pair.and_then(|p| p[0].as_str()),
                pair.and_then(|p| p[1].as_str()),
            ) else {
                return Err(NlpError::Data(format!(
                    "{name} row {row}: expected [text, intent]"
                )));
            };
            examples.push(example(row, text, label).map_err(|e| match e {
                NlpError::Data(m) => NlpError::Data(format!("{name} {m}")),
                other => other,
            })?);
        }
        out.push((name, examples));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_needs_its_columns_and_names_bad_rows() {
        let cols = Columns::default();
        let ok = parse(
            b"text,category\nhello,greet\n\"a, b\",x\n",
            Format::Csv,
            &cols,
        )
        .unwrap();
        assert_eq!(ok[0].1.len(), 2);
        let err = parse(b"body,category\nhello,greet\n", Format::Csv, &cols).unwrap_err();
        assert!(err.to_string().contains("no column \"text\""), "{err}");
        let err = parse(b"text,category\nhello,greet\nbye,\n", Format::Csv, &cols).unwrap_err();
        assert!(err.to_string().contains("row 3: empty label"), "{err}");
        let err = parse(b"text,category\nhello,greet,extra\n", Format::Csv, &cols).unwrap_err();
        assert!(err.to_string().contains("row 2"), "{err}");
    }

    #[test]
    fn jsonl_and_clinc_report_malformed_rows() {
        let cols = Columns::default();
        let err = parse(
            b"{\"text\":\"a\",\"category\":\"b\"}\n{oops\n",
            Format::Jsonl,
            &cols,
        )
        .unwrap_err();
        assert!(err.to_string().contains("row 2"), "{err}");
        let lists = parse(
            br#"{"train": [["hi", "greet"]], "oos_val": [["what", "oos"]]}"#,
            Format::Clinc,
            &cols,
        )
        .unwrap();
        assert_eq!(lists.len(), 2);
        let err = parse(br#"{"train": [["hi"]]}"#, Format::Clinc, &cols).unwrap_err();
        assert!(err.to_string().contains("train row 1"), "{err}");
    }
}
