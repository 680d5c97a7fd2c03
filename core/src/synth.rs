//! Seeded synthetic data for examples, tests and benchmarks: DGA families written for vigil
//! (no third-party data) and a DNS query generator.

pub use crate::rng::SplitMix64;

/// A DGA family vigil's scenario uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DgaFamily {
    /// Conficker.A-style: 8-11 random lowercase letters and a TLD from a fixed list.
    ConfickerStyle,
    /// Random alphanumerics, 12-24 characters, under `.com`/`.net`/`.org`/`.info`.
    RandomChars,
    /// Two dictionary words joined (suppobox-style): hard for character features.
    Dictionary,
}

impl DgaFamily {
    /// Every family.
    pub const ALL: [DgaFamily; 3] = [
        DgaFamily::ConfickerStyle,
        DgaFamily::RandomChars,
        DgaFamily::Dictionary,
    ];

    /// Short name, e.g. `conficker_style`.
    pub fn name(self) -> &'static str {
        match self {
            DgaFamily::ConfickerStyle => "conficker_style",
            DgaFamily::RandomChars => "random_chars",
            DgaFamily::Dictionary => "dictionary",
        }
    }
}

const CONFICKER_TLDS: [&str; 8] = ["com", "net", "org", "info", "biz", "ws", "cn", "cc"];
const COMMON_TLDS: [&str; 4] = ["com", "net", "org", "info"];
const WORDS: [&str; 48] = [
    "anchor", "basket", "candle", "dinner", "engine", "forest", "garden", "harbor", "island",
    "jacket", "kitten", "ladder", "market", "needle", "orange", "pencil", "quiet", "rocket",
    "silver", "timber", "umbrella", "velvet", "window", "yellow", "zipper", "bright", "castle",
    "driver", "effort", "flower", "ground", "health", "indoor", "jungle", "kernel", "lemon",
    "mirror", "nature", "office", "planet", "record", "season", "travel", "valley", "wonder",
    "spring", "winter", "summer",
];

/// `count` domains of `family`, seeded.
pub fn dga_domains(family: DgaFamily, count: usize, seed: u64) -> Vec<String> {
    let mut rng = SplitMix64(seed ^ (family as u64).wrapping_mul(0x1234_5678_9abc_def1));
    (0..count)
        .map(|_| match family {
            DgaFamily::ConfickerStyle => {
                let len = 8 + rng.below(4);
                let label: String = (0..len)
                    .map(|_| (b'a' + rng.below(26) as u8) as char)
                    .collect();
                format!(
                    "{label}.{}",
                    CONFICKER_TLDS[rng.below(CONFICKER_TLDS.len())]
                )
            }
            DgaFamily::RandomChars => {
                const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
                let len = 12 + rng.below(13);
                let label: String = (0..len)
                    .map(|_| ALNUM[rng.below(ALNUM.len())] as char)
                    .collect();
                format!("{label}.{}", COMMON_TLDS[rng.below(COMMON_TLDS.len())])
            }
            DgaFamily::Dictionary => {
                let a = WORDS[rng.below(WORDS.len())];
                let b = WORDS[rng.below(WORDS.len())];
                format!("{a}{b}.{}", COMMON_TLDS[rng.below(2)])
            }
        })
        .collect()
}

/// `count` DNS query names: mostly subdomains of `benign` domains (hosts like `www`, `api`,
/// `cdn1`), with a fraction `dga_fraction` from the DGA families; seeded.
pub fn dns_queries(benign: &[&str], count: usize, dga_fraction: f64, seed: u64) -> Vec<String> {
    const HOSTS: [&str; 8] = ["www", "api", "mail", "cdn1", "static", "login", "img", "m"];
    let mut rng = SplitMix64(seed);
    let dga_every = if dga_fraction > 0.0 {
        (1.0 / dga_fraction).round().max(1.0) as usize
    } else {
        usize::MAX
    };
    (0..count)
        .map(|i| {
            if i % dga_every == dga_every - 1 {
                let family = DgaFamily::ALL[rng.below(3)];
                dga_domains(family, 1, rng.next_u64())
                    .pop()
                    .unwrap_or_default()
            } else {
                let base = benign
                    .get(rng.below(benign.len()))
                    .copied()
                    .unwrap_or("example.com");
                match rng.below(3) {
                    0 => base.to_string(),
                    _ => format!("{}.{base}", HOSTS[rng.below(HOSTS.len())]),
                }
            }
        })
        .collect()
}

/// Writes `rows` DNS query names (column `query`, Utf8) built by [`dns_queries`] from
/// `benign` domains (0.1% DGA) to a zstd Parquet file in row groups of 1M rows.
pub fn write_dns_parquet(
    path: &std::path::Path,
    rows: usize,
    seed: u64,
    benign: &[&str],
) -> crate::Result<()> {
    use arrow::array::{RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    use std::sync::Arc;

    const GROUP: usize = 1 << 20;
    let schema = Arc::new(Schema::new(vec![Field::new(
        "query",
        DataType::Utf8,
        false,
    )]));
    let file = std::fs::File::create(path).map_err(|source| crate::Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let props = WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .set_max_row_group_row_count(Some(GROUP))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
    let mut done = 0;
    let mut part = 0u64;
    while done < rows {
        let n = GROUP.min(rows - done);
        let queries = dns_queries(benign, n, 0.001, seed.wrapping_add(part));
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(queries))])?;
        writer.write(&batch)?;
        writer.flush()?;
        done += n;
        part += 1;
    }
    writer.close()?;
    Ok(())
}
