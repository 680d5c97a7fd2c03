//! Sigma rules over Arrow: load SigmaHQ-style YAML rules (files, directory trees, strings),
//! report every rule that cannot be evaluated with the exact reason, compile all rules once
//! into column tests (one multi-pattern pass per field), and evaluate them over any
//! RecordBatch whose columns are named as Windows names them (`CommandLine`, `Image`, ...,
//! with `EventID`/`event_id`, `Channel`/`channel` for the logsource conditions).
//!
//! ```no_run
//! # fn main() -> vigil::Result<()> {
//! # let batch: arrow::array::RecordBatch = todo!();
//! let rules = vigil::sigma::SigmaRules::load("rules/windows")?;
//! println!("{} rules, {} not evaluated", rules.len(), rules.report().len());
//! let hits = rules.matches(&batch)?; // row, rule_id, title, level, tags, timestamp
//! # Ok(()) }
//! ```

mod compile;
mod condition;
mod correlation;
mod eval;
mod files;
mod hunt;
mod logsource;
mod output;
mod prefilter;
mod rule;
mod stage;
mod value;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use yaml_serde::Value;

use crate::error::{Error, Result};
pub use correlation::{CorrelationInfo, CorrelationKind, Correlator, Threshold};
pub use files::{DEFAULT_BATCH_ROWS, MatchBatches, ParquetBatches, parquet_files};
pub use hunt::{Hunt, filter_min_level, hunt_files, hunt_inputs, timeline_schema};
pub use logsource::Pipeline;
pub use rule::{LogSource, Reason};
pub use stage::SigmaStage;
pub use value::Placeholders;

/// A rule that was loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleInfo {
    /// The file it came from (`<string>` for text).
    pub file: String,
    /// `id`.
    pub id: String,
    /// `title`.
    pub title: String,
    /// `status`.
    pub status: String,
    /// `level` (informational, low, medium, high, critical).
    pub level: String,
    /// `tags`.
    pub tags: Vec<String>,
    /// `logsource`.
    pub logsource: LogSource,
}

/// A rule (or file) that cannot be evaluated, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    /// The file.
    pub file: String,
    /// The rule's `id` (empty when unreadable).
    pub rule_id: String,
    /// The rule's `title`.
    pub title: String,
    /// The rule's `status`.
    pub status: String,
    /// Why.
    pub reason: Reason,
}

/// Options for loading rules: the processing pipeline and `|expand` placeholder values.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Logsource conditions, field renames and aliases (default: [`Pipeline::windows`]).
    pub pipeline: Pipeline,
    /// Values of `%placeholder%`s for the `expand` modifier.
    pub placeholders: Placeholders,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            pipeline: Pipeline::windows(),
            placeholders: Placeholders::new(),
        }
    }
}

/// A set of compiled Sigma rules.
pub struct SigmaRules {
    rules: Vec<RuleInfo>,
    issues: Vec<Issue>,
    plan: compile::Plan,
    options: LoadOptions,
    /// (file, YAML text) of everything loaded, for saving as a pipeline stage.
    sources: Vec<(String, String)>,
    /// Correlation rules, their named rules resolved.
    correlations: Vec<correlation::Correlation>,
}

impl std::fmt::Debug for SigmaRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SigmaRules({} rules, {} not evaluated)",
            self.rules.len(),
            self.issues.len()
        )
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            yaml_files(&p, out)?;
        } else if p
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Parses one file's YAML documents.
fn documents(text: &str) -> Vec<std::result::Result<Value, String>> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(text) {
        let parsed = Value::deserialize(doc).map_err(|e| e.to_string());
        let failed = parsed.is_err();
        out.push(parsed);
        if failed {
            // The stream cannot resync after a syntax error: one error for the rest.
            break;
        }
        if out.len() > 1000 {
            out.push(Err("more than 1000 YAML documents in one file".into()));
            break;
        }
    }
    out
}

impl SigmaRules {
    /// Loads every `.yml`/`.yaml` rule under `path` (a file or a directory tree) with the
    /// shipped Windows pipeline. Rules that cannot be evaluated are in [`SigmaRules::report`];
    /// only an unreadable `path` itself is an error.
    pub fn load(path: impl AsRef<Path>) -> Result<SigmaRules> {
        SigmaRules::load_with(&[path.as_ref()], LoadOptions::default())
    }

    /// Loads rules from YAML text (one or more documents).
    pub fn from_yaml(text: &str) -> Result<SigmaRules> {
        SigmaRules::from_sources(
            vec![("<string>".to_string(), text.to_string())],
            LoadOptions::default(),
        )
    }

    /// Loads every rule under `paths` with `options`.
    pub fn load_with<P: AsRef<Path>>(paths: &[P], options: LoadOptions) -> Result<SigmaRules> {
        let mut files = Vec::new();
        for p in paths {
            let p = p.as_ref();
            if p.is_dir() {
                yaml_files(p, &mut files)?;
            } else {
                files.push(p.to_path_buf());
            }
        }
        let mut sources = Vec::with_capacity(files.len());
        for f in files {
            let name = f.display().to_string();
            let bytes = std::fs::read(&f).map_err(|source| Error::Io {
                path: name.clone(),
                source,
            })?;
            sources.push((name, String::from_utf8_lossy(&bytes).into_owned()));
        }
        SigmaRules::from_sources(sources, options)
    }

    /// Compiles `(file, YAML text)` sources with `options`.
    pub fn from_sources(
        sources: Vec<(String, String)>,
        options: LoadOptions,
    ) -> Result<SigmaRules> {
        let mut builder = compile::Builder::new(&options.pipeline);
        let mut rules = Vec::new();
        let mut exprs = Vec::new();
        let mut issues = Vec::new();
        // Loaded rules' `name`s (for correlations naming them) and the correlations found.
        let mut names = Vec::new();
        let mut pending = Vec::new();
        for (file, text) in &sources {
            let issue = |meta: &rule::Meta, reason: Reason| Issue {
                file: file.clone(),
                rule_id: meta.id.clone(),
                title: meta.title.clone(),
                status: meta.status.clone(),
                reason,
            };
            if text.len() > rule::MAX_RULE_BYTES {
                issues.push(issue(
                    &rule::Meta::default(),
                    Reason::new(
                        "limit",
                        format!("file larger than {} bytes", rule::MAX_RULE_BYTES),
                    ),
                ));
                continue;
            }
            let docs = std::panic::catch_unwind(|| documents(text))
                .unwrap_or_else(|_| vec![Err("the YAML parser failed on this file".into())]);
            for doc in docs {
                let doc = match doc {
                    Ok(d) => d,
                    Err(e) => {
                        issues.push(issue(&rule::Meta::default(), Reason::new("yaml", e)));
                        continue;
                    }
                };
                if doc.is_null() {
                    continue;
                }
                if doc
                    .as_mapping()
                    .is_some_and(|m| m.contains_key("correlation"))
                {
                    let meta = rule::meta(&doc);
                    match correlation::parse(&doc, &meta, file) {
                        Ok(c) => pending.push(c),
                        Err(reason) => issues.push(issue(&meta, reason)),
                    }
                    continue;
                }
                let name = doc
                    .as_mapping()
                    .and_then(|m| m.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                match rule::parse(&doc, &options.placeholders) {
                    rule::Parsed::NotEvaluated(meta, reason) => issues.push(issue(&meta, reason)),
                    rule::Parsed::Rule(r) => match builder.rule(&r) {
                        Ok(expr) => {
                            exprs.push((rules.len(), expr));
                            names.push(name);
                            let m = r.meta;
                            rules.push(RuleInfo {
                                file: file.clone(),
                                id: m.id,
                                title: m.title,
                                status: m.status,
                                level: m.level,
                                tags: m.tags,
                                logsource: m.logsource,
                            });
                        }
                        Err(reason) => issues.push(issue(&r.meta, reason)),
                    },
                }
            }
        }
        let plan = builder.finish(exprs);
        let correlations = correlation::resolve(pending, &rules, &names, &mut issues);
        Ok(SigmaRules {
            rules,
            issues,
            plan,
            options,
            sources,
            correlations,
        })
    }

    /// Number of rules loaded (ready to evaluate).
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rule loaded.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The loaded rules, in evaluation order.
    pub fn rules(&self) -> &[RuleInfo] {
        &self.rules
    }

    /// The correlation rules loaded (evaluated by [`SigmaRules::correlate`] and
    /// [`Correlator`]), in load order.
    pub fn correlations(&self) -> Vec<&CorrelationInfo> {
        self.correlations.iter().map(|c| &c.info).collect()
    }

    /// Whether rule `index` (into [`SigmaRules::rules`]) reports its own matches: false when
    /// a correlation names it without `generate: true` (Sigma's default), true otherwise.
    pub fn generates(&self, index: usize) -> bool {
        !self
            .correlations
            .iter()
            .any(|c| !c.info.generate && c.refs.contains(&Some(index)))
    }

    /// A [`Correlator`] for these rules' correlations, to push batches into one by one.
    pub fn correlator(&self) -> Correlator<'_> {
        Correlator::new(self)
    }

    /// The correlation hits over all of `batches` (one input: rows numbered across the
    /// batches); see [`Correlator::finish`] for the columns.
    pub fn correlate(&self, batches: &[RecordBatch]) -> Result<RecordBatch> {
        let mut c = self.correlator();
        for b in batches {
            c.push(b)?;
        }
        c.finish()
    }

    /// Every rule or file that cannot be evaluated, with the exact reason.
    pub fn report(&self) -> &[Issue] {
        &self.issues
    }

    /// The report as a table: `file`, `rule_id`, `title`, `status`, `kind`, `reason`.
    pub fn report_batch(&self) -> Result<RecordBatch> {
        output::report(&self.issues)
    }

    /// Counts of issues by reason kind, most frequent first.
    pub fn counts_by_reason(&self) -> Vec<(String, usize)> {
        let mut m: HashMap<&str, usize> = HashMap::new();
        for i in &self.issues {
            *m.entry(i.reason.kind).or_default() += 1;
        }
        let mut v: Vec<(String, usize)> = m.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// Every (event, matching rule): `row` (UInt64, the input row), `rule_id`, `title`,
    /// `level`, `tags` (List<Utf8>) and `timestamp` (the input's `timestamp` column as UTC
    /// nanoseconds, null when absent), ordered by row then rule load order.
    pub fn matches(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let pairs = eval::matches(&self.plan, batch);
        output::hits(self, batch, &pairs)
    }

    /// The (row, rule index into [`SigmaRules::rules`]) pairs that match, ordered by row.
    pub fn match_pairs(&self, batch: &RecordBatch) -> Vec<(usize, usize)> {
        eval::matches(&self.plan, batch)
            .into_iter()
            .filter_map(|(row, r)| {
                self.plan
                    .rules
                    .get(r as usize)
                    .map(|(i, _)| (row as usize, *i))
            })
            .collect()
    }

    /// `batch` with two columns appended: `sigma_max_level` (UInt8: 0 no hit, 1
    /// informational, 2 low, 3 medium, 4 high, 5 critical) and `sigma_rules` (List<Utf8> of
    /// the matching rules' ids), for ranking rule hits with anomaly scores.
    pub fn annotate(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let cols = self.annotation_columns(batch);
        let mut fields: Vec<_> = batch.schema().fields().iter().cloned().collect();
        let mut arrays = batch.columns().to_vec();
        for (f, a) in output::annotation_fields().into_iter().zip(cols) {
            if fields.iter().any(|x| x.name() == f.name()) {
                return Err(Error::InvalidInput(format!(
                    "column `{}` is already in the input",
                    f.name()
                )));
            }
            fields.push(std::sync::Arc::new(f));
            arrays.push(a);
        }
        let schema =
            arrow::datatypes::Schema::new_with_metadata(fields, batch.schema().metadata().clone());
        Ok(RecordBatch::try_new(std::sync::Arc::new(schema), arrays)?)
    }

    pub(crate) fn annotation_columns(&self, batch: &RecordBatch) -> Vec<arrow::array::ArrayRef> {
        let pairs = self.match_pairs(batch);
        output::annotation(&self.rules, batch.num_rows(), &pairs)
    }

    /// The sources and options, for saving as a pipeline stage.
    pub(crate) fn parts(&self) -> (&[(String, String)], &LoadOptions) {
        (&self.sources, &self.options)
    }
}

/// Numeric rank of a Sigma `level`: informational 1, low 2, medium 3, high 4, critical 5,
/// anything else 0.
pub fn level_rank(level: &str) -> u8 {
    match level.to_ascii_lowercase().as_str() {
        "informational" => 1,
        "low" => 2,
        "medium" => 3,
        "high" => 4,
        "critical" => 5,
        _ => 0,
    }
}
