//! `switchboard kb eval`: how well knowledge-base retrieval finds the article that answers a
//! question, on a labelled set. Prints one JSON object (the last line of standard output).
//!
//! The data file is one of:
//! - an evaluation pack (`packs/kb/ecommerce/eval.json`): `{"articles_dir": "articles",
//!   "splits": {"dev": [{"question", "article"}], …}}`, the directory relative to the file;
//! - a self-contained set: `{"articles": [{"id", "title"?, "body"}], "questions":
//!   [{"question", "article"}]}` (`body` is Markdown);
//! - questions only (`.jsonl` lines `{"question", "article"}`, or `.csv` with those columns),
//!   with the articles from `--articles DIR` (`<id>.md` files).

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use switchboard_nlp::encoder::SentenceEncoder;
use switchboard_nlp::retrieval::{
    article_passages, embed_passages, evaluate, evaluate_ranked, load_articles, rerank, Bm25Index,
    Bm25Params, Passage, RetrievalEval,
};

/// Largest data file read.
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Labelled {
    question: String,
    article: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InlineArticle {
    id: String,
    #[serde(default)]
    title: Option<String>,
    body: String,
}

/// The articles and the questions by split (`all` when the file has no splits).
struct EvalSet {
    passages: Vec<Passage>,
    splits: Vec<(String, Vec<(String, String)>)>,
}

fn read(path: &Path) -> anyhow::Result<String> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > MAX_FILE_BYTES {
        bail!("{} is larger than 256 MiB", path.display());
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn labelled(v: &Value, at: &str) -> anyhow::Result<(String, String)> {
    let l: Labelled = serde_json::from_value(v.clone())
        .with_context(|| format!("{at}: want {{question, article}}"))?;
    if l.question.trim().is_empty() || l.article.trim().is_empty() {
        bail!("{at}: an empty question or article");
    }
    Ok((l.question, l.article))
}

fn questions_file(path: &Path, text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let mut out = Vec::new();
    if csv {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().context("reading the CSV header")?.clone();
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim() == name)
                .with_context(|| format!("the CSV has no `{name}` column"))
        };
        let (q, a) = (col("question")?, col("article")?);
        for (i, row) in reader.records().enumerate() {
            let line = i + 2;
            let row = row.with_context(|| format!("line {line}"))?;
            let (Some(question), Some(article)) = (row.get(q), row.get(a)) else {
                bail!("line {line}: missing columns");
            };
            if question.trim().is_empty() || article.trim().is_empty() {
                bail!("line {line}: an empty question or article");
            }
            out.push((question.to_owned(), article.to_owned()));
        }
    } else {
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: Value =
                serde_json::from_str(line).with_context(|| format!("line {}: not JSON", i + 1))?;
            out.push(labelled(&v, &format!("line {}", i + 1))?);
        }
    }
    Ok(out)
}

fn load(data: &Path, articles: Option<&Path>) -> anyhow::Result<EvalSet> {
    let text = read(data)?;
    let as_object = serde_json::from_str::<Map<String, Value>>(&text).ok();
    let (passages, splits) = match as_object {
        Some(obj) if obj.contains_key("splits") => {
            let dir = match articles {
                Some(d) => d.to_path_buf(),
                None => {
                    let rel = obj
                        .get("articles_dir")
                        .and_then(Value::as_str)
                        .context("the file names no `articles_dir` (or pass --articles)")?;
                    if Path::new(rel).is_absolute() || rel.split(['/', '\\']).any(|p| p == "..") {
                        bail!("articles_dir must be a path inside the file's directory");
                    }
                    data.parent().unwrap_or(Path::new(".")).join(rel)
                }
            };
            let Some(Value::Object(splits)) = obj.get("splits") else {
                bail!("`splits` must be an object of lists");
            };
            let mut out = Vec::new();
            for (name, list) in splits {
                let Value::Array(items) = list else {
                    bail!("split {name:?} is not a list");
                };
                let qs = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| labelled(v, &format!("splits.{name}[{i}]")))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                out.push((name.clone(), qs));
            }
            (load_dir(&dir)?, out)
        }
        Some(obj) if obj.contains_key("articles") => {
            let items: Vec<InlineArticle> =
                serde_json::from_value(obj.get("articles").cloned().unwrap_or_default())
                    .context("`articles` must be a list of {id, title?, body}")?;
            let mut passages = Vec::new();
            for a in items {
                let body = match a.title {
                    Some(t) => format!("# {t}\n\n{}", a.body),
                    None => a.body,
                };
                passages.extend(article_passages(&a.id, &body));
            }
            let qs = obj
                .get("questions")
                .and_then(Value::as_array)
                .context("`questions` must be a list")?
                .iter()
                .enumerate()
                .map(|(i, v)| labelled(v, &format!("questions[{i}]")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            (passages, vec![("all".to_owned(), qs)])
        }
        _ => {
            let dir = articles.context(
                "a questions-only file needs --articles DIR (a directory of <id>.md articles)",
            )?;
            (
                load_dir(dir)?,
                vec![("all".to_owned(), questions_file(data, &text)?)],
            )
        }
    };
    if passages.is_empty() {
        bail!("no articles to search");
    }
    let known: BTreeSet<&str> = passages.iter().map(|p| p.doc_id.as_str()).collect();
    for (name, qs) in &splits {
        if let Some((q, a)) = qs.iter().find(|(_, a)| !known.contains(a.as_str())) {
            bail!("split {name:?}: {q:?} expects article {a:?}, which is not in the articles");
        }
    }
    Ok(EvalSet { passages, splits })
}

fn load_dir(dir: &Path) -> anyhow::Result<Vec<Passage>> {
    load_articles(dir).with_context(|| format!("reading articles from {}", dir.display()))
}

/// The optional dense re-ranker: a sentence encoder and how much its similarity weighs.
#[derive(Debug, Clone)]
pub struct Rerank<'a> {
    pub encoder: &'a Path,
    /// 0–1: the share of the score the embedding similarity takes.
    pub weight: f32,
    /// BM25 articles re-ranked per question.
    pub depth: usize,
}

fn measure(
    index: &Bm25Index,
    questions: &[(String, String)],
    dense: Option<(&SentenceEncoder, &[Vec<f32>], f32, usize)>,
) -> anyhow::Result<RetrievalEval> {
    let Some((encoder, vectors, weight, depth)) = dense else {
        return Ok(evaluate(index, questions));
    };
    let texts: Vec<&str> = questions.iter().map(|(q, _)| q.as_str()).collect();
    let mut query_vecs = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(32) {
        query_vecs.extend(encoder.embed(chunk)?);
    }
    let by_question: std::collections::HashMap<&str, &Vec<f32>> =
        texts.iter().copied().zip(query_vecs.iter()).collect();
    Ok(evaluate_ranked(questions, |q| {
        let mut hits = index.search_documents(q, depth);
        if let Some(v) = by_question.get(q) {
            rerank(&mut hits, v, &|i| vectors.get(i).cloned(), weight);
        }
        hits.into_iter().map(|h| h.doc_id).collect()
    }))
}

/// Measures recall@1, recall@5 and MRR over every split of `data` (or only `split`), and over
/// all of them together; with `dense`, BM25's top articles are re-ranked by a sentence encoder.
pub fn eval(
    data: &Path,
    articles: Option<&PathBuf>,
    split: Option<&str>,
    dense: Option<Rerank<'_>>,
) -> anyhow::Result<Value> {
    let set = load(data, articles.map(PathBuf::as_path))?;
    let articles_n = set
        .passages
        .iter()
        .map(|p| p.doc_id.as_str())
        .collect::<BTreeSet<_>>()
        .len();
    let index = Bm25Index::build(set.passages, Bm25Params::default());
    let chosen: Vec<&(String, Vec<(String, String)>)> = set
        .splits
        .iter()
        .filter(|(name, _)| split.is_none_or(|s| s == name))
        .collect();
    if chosen.is_empty() {
        bail!("no split named {:?}", split.unwrap_or_default());
    }
    let all: Vec<(String, String)> = chosen.iter().flat_map(|(_, q)| q.clone()).collect();
    if all.is_empty() {
        bail!("no questions");
    }
    let encoder = match &dense {
        Some(d) => {
            if !(0.0..=1.0).contains(&d.weight) || !(1..=100).contains(&d.depth) {
                bail!("--rerank-weight is 0 to 1 and --rerank-depth 1 to 100");
            }
            let e = SentenceEncoder::load(d.encoder)
                .with_context(|| format!("loading the encoder in {}", d.encoder.display()))?;
            let vectors = embed_passages(&e, &index)?;
            Some((e, vectors, d.weight, d.depth))
        }
        None => None,
    };
    let dense_ref = encoder
        .as_ref()
        .map(|(e, v, w, d)| (e, v.as_slice(), *w, *d));
    let started = std::time::Instant::now();
    let overall = measure(&index, &all, dense_ref)?;
    let per_query_us = started.elapsed().as_secs_f64() * 1e6 / all.len() as f64;
    let mut out = serde_json::to_value(&overall)?;
    if let Value::Object(o) = &mut out {
        o.insert("articles".into(), json!(articles_n));
        o.insert("passages".into(), json!(index.len()));
        o.insert(
            "search_us_per_question".into(),
            json!((per_query_us * 10.0).round() / 10.0),
        );
        if let Some(d) = &dense {
            o.insert(
                "rerank".into(),
                json!({"encoder": d.encoder.display().to_string(), "weight": d.weight, "depth": d.depth}),
            );
        }
        if chosen.len() > 1 || chosen.first().is_some_and(|(n, _)| n != "all") {
            let mut splits = Map::new();
            for (name, qs) in &chosen {
                let e = measure(&index, qs, dense_ref)?;
                splits.insert(
                    name.clone(),
                    json!({"n": e.n, "recall_at_1": e.recall_at_1, "recall_at_5": e.recall_at_5, "mrr": e.mrr}),
                );
            }
            o.insert("splits".into(), Value::Object(splits));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_self_contained_set_is_measured() {
        let dir = tempfile::tempdir().unwrap();
        let data = write(
            dir.path(),
            "set.json",
            &json!({"articles": [
                {"id": "refunds", "title": "Getting a refund", "body": "Ask for a refund within 30 days of delivery; the money goes back to your card."},
                {"id": "shipping", "title": "Shipping times", "body": "Parcels arrive in 3 to 5 working days."}
            ], "questions": [
                {"question": "how do I get my money back", "article": "refunds"},
                {"question": "when will my parcel arrive", "article": "shipping"}
            ]})
            .to_string(),
        );
        let v = eval(&data, None, None, None).unwrap();
        assert_eq!(v["n"], 2);
        assert_eq!(v["recall_at_1"], 1.0, "{v}");
        assert_eq!(v["articles"], 2);
        assert!(v.get("splits").is_none());
    }

    #[test]
    fn questions_files_need_articles_and_known_ids() {
        let dir = tempfile::tempdir().unwrap();
        let arts = dir.path().join("arts");
        std::fs::create_dir(&arts).unwrap();
        write(
            &arts,
            "refunds.md",
            "# Refunds\n\nWe refund within 30 days.",
        );
        let csv = write(
            dir.path(),
            "q.csv",
            "question,article\nrefund please,refunds\n",
        );
        assert!(eval(&csv, None, None, None).is_err(), "no --articles");
        let v = eval(&csv, Some(&arts), None, None).unwrap();
        assert_eq!(v["n"], 1);
        let unknown = write(
            dir.path(),
            "u.jsonl",
            "{\"question\": \"x\", \"article\": \"nope\"}\n",
        );
        let e = eval(&unknown, Some(&arts), None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope"), "{e}");
        let bad = write(dir.path(), "b.jsonl", "{\"question\": \"x\"}\n");
        let e = format!("{:#}", eval(&bad, Some(&arts), None, None).unwrap_err());
        assert!(e.contains("line 1"), "{e}");
        let empty = write(dir.path(), "e.csv", "question,article\n,refunds\n");
        let e = format!("{:#}", eval(&empty, Some(&arts), None, None).unwrap_err());
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn a_pack_cannot_point_outside_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let data = write(
            dir.path(),
            "eval.json",
            &json!({"articles_dir": "../../etc", "splits": {"dev": []}}).to_string(),
        );
        let e = eval(&data, None, None, None).unwrap_err().to_string();
        assert!(e.contains("inside"), "{e}");
    }

    #[test]
    fn the_shipped_pack_reports_each_split() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packs/kb/ecommerce/eval.json");
        let v = eval(&data, None, None, None).unwrap();
        assert_eq!(v["articles"], 27);
        assert_eq!(v["splits"]["dev"]["n"], 270);
        assert_eq!(v["splits"]["test"]["n"], 540);
        let dev = eval(&data, None, Some("dev"), None).unwrap();
        assert_eq!(dev["n"], 270);
        assert!(eval(&data, None, Some("nope"), None).is_err());
    }
}
