//! The Rust twin of every WGSL kernel: the same name as its shader, the same arithmetic,
//! one function per row, meant to be read side by side with `shaders/`.

pub(crate) mod char_classes;
pub(crate) mod count_vectors;
pub(crate) mod entropy;
pub(crate) mod histogram;
pub(crate) mod hll_hash;
pub(crate) mod iforest;
pub(crate) mod intel_probe;
pub(crate) mod intel_v4;
pub(crate) mod length;
pub(crate) mod log1p;
pub(crate) mod multi_pattern;
pub(crate) mod ngrams;
pub(crate) mod robust_z;
pub(crate) mod segment_reduce;
pub(crate) mod standardize;
pub(crate) mod time_features;

/// `n` zeroed words whose whole 2 MiB pages Linux may back with huge pages
/// (`madvise(MADV_HUGEPAGE)`, a hint; elsewhere plain zeroed words). For large tables probed
/// at random (fewer TLB misses) and large outputs written once (one page fault per 2 MiB
/// instead of per 4 KiB).
pub(crate) fn huge_page_words(n: usize) -> Vec<u32> {
    huge_zeroed(n)
}

/// [`huge_page_words`] for any element type whose default is all zero bits (integers,
/// `bool`): `n` of them, zeroed.
pub(crate) fn huge_zeroed<T: Clone + Default>(n: usize) -> Vec<T> {
    let v = vec![T::default(); n];
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = v.as_ptr() as usize;
        let from = start.next_multiple_of(HUGE);
        let to = (start + std::mem::size_of::<T>() * n) / HUGE * HUGE;
        if to > from {
            // SAFETY: advice over whole pages inside `v`'s live allocation; MADV_HUGEPAGE
            // changes no contents (an error only means the hint was not taken).
            unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE) };
        }
    }
    v
}
