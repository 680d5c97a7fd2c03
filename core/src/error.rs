//! The one error type of vigil.

use arrow::datatypes::DataType;

/// Everything that can go wrong in vigil. Messages name the column, field or file at fault
/// and say what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A column the pipeline needs is not in the input.
    #[error("column `{column}` not found in the input (columns present: {available})")]
    MissingColumn {
        /// The column asked for.
        column: String,
        /// The input's column names, comma separated.
        available: String,
    },
    /// A column has a type the feature cannot read.
    #[error("column `{column}` has type {found}, but {expected} is needed")]
    WrongType {
        /// The column.
        column: String,
        /// What the feature accepts.
        expected: String,
        /// The Arrow type found.
        found: DataType,
    },
    /// A parameter is out of range or inconsistent.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The input cannot be used as given (empty baseline, all-null feature, name clash, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// No GPU adapter could be found or opened, or the GPU failed.
    #[error("GPU: {0}")]
    Gpu(String),
    /// A saved model could not be read: corrupted, another version, or another shape.
    #[error("model file: {0}")]
    Model(String),
    /// Reading or writing a file failed.
    #[error("I/O on `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An Arrow operation failed.
    #[error("Arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A Parquet operation failed.
    #[error("Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// A stage or threshold cannot be computed exactly batch by batch (a stream, Parquet
    /// batches), so the call refuses rather than give per-batch values.
    #[error("cannot stream `{stage}` exactly: {reason}")]
    Unstreamable {
        /// The stage's first output column (or `threshold`).
        stage: String,
        /// Why, and what to do instead.
        reason: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn param(name: &str, reason: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name: name.to_string(),
            reason: reason.into(),
        }
    }
}

/// Reads at most `max + 1` bytes of the file `path` (so callers can tell "over `max`" from
/// "exactly `max`"); I/O errors name the file.
pub(crate) fn read_capped(path: &std::path::Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(io)?;
    Ok(buf)
}

/// [`read_capped`] as UTF-8 text; invalid UTF-8 is an I/O error naming the file.
pub(crate) fn read_capped_text(path: &std::path::Path, max: u64) -> Result<String> {
    String::from_utf8(read_capped(path, max)?).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}
