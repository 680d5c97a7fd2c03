// Character-class counts of each string's bytes. Output: 10 u32 per row, in this order:
// 0 ASCII digits, 1 lowercase a-z, 2 uppercase A-Z, 3 '.', 4 '-', 5 other ASCII punctuation,
// 6 non-ASCII bytes (>= 0x80), 7 vowels (aeiou, either case), 8 longest run of ASCII
// consonants (letters that are not vowels; 'y' is a consonant), 9 hex-only flag (1 when the
// string is non-empty and every byte is 0-9, a-f or A-F). The host divides counts 0-7 by
// the byte length to get ratios. CPU twin: core/src/cpu/char_classes.rs
//!include shared/strings.wgsl

@group(0) @binding(3) var<storage, read_write> out: array<u32>;

fn is_vowel(b: u32) -> bool {
    let l = b | 0x20u;
    return l == 0x61u || l == 0x65u || l == 0x69u || l == 0x6fu || l == 0x75u;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = string_row(gid, groups);
    if (!r.in_range) {
        return;
    }
    let row = r.index;
    let span = vec2<u32>(r.start, r.end);
    var c: array<u32, 10>;
    var run = 0u;
    var hex = 1u;
    for (var i = span.x; i < span.y; i = i + 1u) {
        let b = byte_at(i);
        let digit = b >= 0x30u && b <= 0x39u;
        let lower = b >= 0x61u && b <= 0x7au;
        let upper = b >= 0x41u && b <= 0x5au;
        if (digit) { c[0] = c[0] + 1u; }
        if (lower) { c[1] = c[1] + 1u; }
        if (upper) { c[2] = c[2] + 1u; }
        if (b == 0x2eu) {
            c[3] = c[3] + 1u;
        } else if (b == 0x2du) {
            c[4] = c[4] + 1u;
        } else if ((b >= 0x21u && b <= 0x2fu) || (b >= 0x3au && b <= 0x40u) || (b >= 0x5bu && b <= 0x60u) || (b >= 0x7bu && b <= 0x7eu)) {
            c[5] = c[5] + 1u;
        }
        if (b >= 0x80u) { c[6] = c[6] + 1u; }
        let vowel = is_vowel(b);
        if (vowel) { c[7] = c[7] + 1u; }
        if ((lower || upper) && !vowel) {
            run = run + 1u;
            c[8] = max(c[8], run);
        } else {
            run = 0u;
        }
        let l = b | 0x20u;
        if (!(digit || (l >= 0x61u && l <= 0x66u))) {
            hex = 0u;
        }
    }
    if (span.y == span.x) {
        hex = 0u;
    }
    c[9] = hex;
    for (var k = 0u; k < 10u; k = k + 1u) {
        out[10u * row + k] = c[k];
    }
}
