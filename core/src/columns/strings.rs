//! Uniform row access to Arrow string and binary arrays, without copying their buffers.

use arrow::array::{Array, AsArray, BinaryViewArray, GenericByteArray, StringViewArray};
use arrow::datatypes::{BinaryType, ByteArrayType, DataType, LargeBinaryType, LargeUtf8Type};

use crate::error::{Error, Result};

/// Borrowed string/binary column: offsets + value bytes as Arrow has them, or a view array.
pub(crate) enum Strings<'a> {
    /// Utf8 / Binary: `offsets` has `len + 1` entries indexing `values`.
    Small {
        offsets: &'a [i32],
        values: &'a [u8],
    },
    /// LargeUtf8 / LargeBinary.
    Large {
        offsets: &'a [i64],
        values: &'a [u8],
    },
    /// Utf8View.
    StrView(&'a StringViewArray),
    /// BinaryView.
    BinView(&'a BinaryViewArray),
}

/// What string features accept, for error messages.
pub(crate) const STRING_TYPES: &str = "a string or binary column (Utf8, LargeUtf8, Utf8View, Binary, LargeBinary, BinaryView or a dictionary of these)";

fn small<T: ByteArrayType<Offset = i32>>(a: &GenericByteArray<T>) -> Strings<'_> {
    Strings::Small {
        offsets: a.value_offsets(),
        values: a.value_data(),
    }
}

fn large<T: ByteArrayType<Offset = i64>>(a: &GenericByteArray<T>) -> Strings<'_> {
    Strings::Large {
        offsets: a.value_offsets(),
        values: a.value_data(),
    }
}

impl<'a> Strings<'a> {
    /// Borrows `array` (not a dictionary: resolve those first).
    pub(crate) fn new(array: &'a dyn Array, column: &str) -> Result<Self> {
        Ok(match array.data_type() {
            DataType::Utf8 => small(array.as_string::<i32>()),
            DataType::Binary => small::<BinaryType>(array.as_binary::<i32>()),
            DataType::LargeUtf8 => large::<LargeUtf8Type>(array.as_string::<i64>()),
            DataType::LargeBinary => large::<LargeBinaryType>(array.as_binary::<i64>()),
            DataType::Utf8View => Strings::StrView(array.as_string_view()),
            DataType::BinaryView => Strings::BinView(array.as_binary_view()),
            other => {
                return Err(Error::WrongType {
                    column: column.to_string(),
                    expected: STRING_TYPES.to_string(),
                    found: other.clone(),
                });
            }
        })
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Strings::Small { offsets, .. } => offsets.len().saturating_sub(1),
            Strings::Large { offsets, .. } => offsets.len().saturating_sub(1),
            Strings::StrView(a) => a.len(),
            Strings::BinView(a) => a.len(),
        }
    }

    /// Bytes of row `i` (whatever a null slot holds; callers mask nulls afterwards).
    #[inline(always)]
    pub(crate) fn row(&self, i: usize) -> &[u8] {
        match self {
            Strings::Small { offsets, values } => {
                &values[offsets[i] as usize..offsets[i + 1] as usize]
            }
            Strings::Large { offsets, values } => {
                &values[offsets[i] as usize..offsets[i + 1] as usize]
            }
            Strings::StrView(a) => a.value(i).as_bytes(),
            Strings::BinView(a) => a.value(i),
        }
    }

    /// Byte length of row `i`.
    #[inline]
    pub(crate) fn row_len(&self, i: usize) -> usize {
        match self {
            Strings::Small { offsets, .. } => (offsets[i + 1] - offsets[i]) as usize,
            Strings::Large { offsets, .. } => (offsets[i + 1] - offsets[i]) as usize,
            Strings::StrView(a) => a.views()[i] as u32 as usize,
            Strings::BinView(a) => a.views()[i] as u32 as usize,
        }
    }

    /// End of the GPU chunk that starts at row `start`: rows are added while the chunk stays
    /// within `max_rows` rows and `budget` bytes (always at least one row).
    pub(crate) fn chunk_end(&self, start: usize, max_rows: usize, budget: usize) -> usize {
        let rows = self.len();
        let mut end = start + 1;
        let mut span = self.row_len(start);
        while end < rows && end - start < max_rows {
            let next = span + self.row_len(end);
            if next > budget {
                break;
            }
            span = next;
            end += 1;
        }
        end
    }

    /// Total bytes of rows `[start, end)`.
    pub(crate) fn span_bytes(&self, start: usize, end: usize) -> usize {
        match self {
            Strings::Small { offsets, .. } => (offsets[end] - offsets[start]) as usize,
            Strings::Large { offsets, .. } => (offsets[end] - offsets[start]) as usize,
            _ => (start..end).map(|i| self.row_len(i)).sum(),
        }
    }
}

/// One chunk ready for upload: offsets (as u32 words), the value bytes they index, and the
/// offset value that marks byte 0 of `bytes`.
pub(crate) struct GpuChunk<'a> {
    pub offsets: std::borrow::Cow<'a, [u8]>,
    pub bytes: std::borrow::Cow<'a, [u8]>,
    pub base: u32,
}

impl<'a> Strings<'a> {
    /// The chunk of rows `[start, end)`. Utf8/Binary are uploaded as they are (no copy);
    /// large offsets are rebased to u32; view arrays are packed into offsets + bytes.
    pub(crate) fn gpu_chunk(&self, start: usize, end: usize) -> GpuChunk<'a> {
        use std::borrow::Cow;
        match *self {
            Strings::Small { offsets, values } => {
                let first = offsets[start] as usize;
                let aligned = first & !3;
                GpuChunk {
                    offsets: Cow::Borrowed(bytemuck::cast_slice(&offsets[start..=end])),
                    bytes: Cow::Borrowed(&values[aligned..offsets[end] as usize]),
                    base: aligned as u32,
                }
            }
            Strings::Large { offsets, values } => {
                let first = offsets[start] as usize;
                let aligned = first & !3;
                let rebased: Vec<u32> = offsets[start..=end]
                    .iter()
                    .map(|&o| (o as usize - aligned) as u32)
                    .collect();
                GpuChunk {
                    offsets: Cow::Owned(bytemuck::cast_slice(&rebased).to_vec()),
                    bytes: Cow::Borrowed(&values[aligned..offsets[end] as usize]),
                    base: 0,
                }
            }
            _ => {
                let mut bytes = Vec::with_capacity(self.span_bytes(start, end));
                let mut offs = Vec::with_capacity(end - start + 1);
                offs.push(0u32);
                for i in start..end {
                    bytes.extend_from_slice(self.row(i));
                    offs.push(bytes.len() as u32);
                }
                GpuChunk {
                    offsets: Cow::Owned(bytemuck::cast_slice(&offs).to_vec()),
                    bytes: Cow::Owned(bytes),
                    base: 0,
                }
            }
        }
    }
}
