// Threat-intel hash probe: every row of an event column probed against the indicator table
// built on the host (open addressing over 64-bit fingerprints, 4 words per slot: fingerprint
// low, high, first member, member count; count 0 = empty). Per row, 2 output words: status
// (0 ok, 1 empty, 2 invalid, 3 deferred to the host) and the mask of probes whose fingerprint
// is in the table. Addresses: one probe per prefix length held (bit i = lens[i], longest
// first); domains: bit 0 exact, bit 1 + j the label suffix with j + 1 labels; hashes: bit 0.
// The host verifies every candidate against the stored text. CPU twin:
// core/src/cpu/intel_probe.rs
//!include shared/params.wgsl

@group(0) @binding(0) var<uniform> params: ProbeParams;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read> bytes: array<u32>;
@group(0) @binding(3) var<storage, read> slots: array<u32>;
@group(0) @binding(4) var<storage, read> lens: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<u32>;

const OK: u32 = 0u;
const EMPTY: u32 = 1u;
const INVALID: u32 = 2u;
const DEFER: u32 = 3u;
const TAG_NET: u32 = 1u;
const TAG_DOMAIN: u32 = 2u;
const TAG_SUFFIX: u32 = 3u;
const MAX_PROBES: u32 = 32u;

fn byte_at(i: u32) -> u32 {
    return (bytes[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
}

fn lower(b: u32) -> u32 {
    if (b >= 65u && b <= 90u) {
        return b + 32u;
    }
    return b;
}

fn rotl(x: u32, k: u32) -> u32 {
    return (x << k) | (x >> (32u - k));
}

fn step(h: vec2<u32>, c: u32) -> vec2<u32> {
    return vec2<u32>((h.x ^ c) * 0x01000193u, rotl((h.y + c) * 0x9E3779B1u, 13u));
}

fn fmix(x: u32) -> u32 {
    var h = x;
    h = h ^ (h >> 16u);
    h = h * 0x85ebca6bu;
    h = h ^ (h >> 13u);
    h = h * 0xc2b2ae35u;
    return h ^ (h >> 16u);
}

fn finish(h: vec2<u32>, tag: u32) -> vec2<u32> {
    let lo = fmix(h.x ^ (tag * 0x27d4eb2fu) ^ fmix(h.y));
    let hi = fmix(h.y ^ (tag * 0x165667b1u) ^ rotl(h.x, 16u));
    return vec2<u32>(lo, hi);
}

fn has(fp: vec2<u32>) -> bool {
    if (params.slots == 0u) {
        return false;
    }
    let mask = params.slots - 1u;
    var i = fp.x & mask;
    for (var k = 0u; k <= params.max_probe; k = k + 1u) {
        let count = slots[4u * i + 3u];
        if (count == 0u) {
            return false;
        }
        if (slots[4u * i] == fp.x && slots[4u * i + 1u] == fp.y) {
            return true;
        }
        i = (i + 1u) & mask;
    }
    return false;
}

fn is_space(b: u32) -> bool {
    return b <= 32u || b >= 128u;
}

fn is_digit(b: u32) -> bool {
    return b >= 48u && b <= 57u;
}

fn is_hex(b: u32) -> bool {
    return is_digit(b) || (b >= 65u && b <= 70u) || (b >= 97u && b <= 102u);
}

// Bytes a domain may not hold: controls, space, DEL and / \ @ # ? : % < > [ ] | ^ " ' ` { }.
fn domain_reject(b: u32) -> bool {
    return b <= 32u || b == 127u || b == 47u || b == 92u || b == 64u || b == 35u || b == 63u
        || b == 58u || b == 37u || b == 60u || b == 62u || b == 91u || b == 93u || b == 124u
        || b == 94u || b == 34u || b == 39u || b == 96u || b == 123u || b == 125u;
}

// Strict dotted quad; x = the address, y = 1 when it parsed.
fn dotted_quad(start: u32, end: u32) -> vec2<u32> {
    var v = 0u;
    var parts = 0u;
    var i = start;
    loop {
        let first = i;
        var octet = 0u;
        while (i < end && is_digit(byte_at(i))) {
            octet = octet * 10u + (byte_at(i) - 48u);
            i = i + 1u;
            if (i - first > 3u) {
                return vec2<u32>(0u, 0u);
            }
        }
        let digits = i - first;
        if (digits == 0u || octet > 255u || (digits > 1u && byte_at(first) == 48u)) {
            return vec2<u32>(0u, 0u);
        }
        v = (v << 8u) | octet;
        parts = parts + 1u;
        if (i == end) {
            break;
        }
        if (byte_at(i) != 46u || parts == 4u) {
            return vec2<u32>(0u, 0u);
        }
        i = i + 1u;
    }
    if (parts != 4u) {
        return vec2<u32>(0u, 0u);
    }
    return vec2<u32>(v, 1u);
}

// Fingerprint of the network (len, 128-bit address masked to len); address words high first.
fn net_fp(w: vec4<u32>, len: u32) -> vec2<u32> {
    var m = vec4<u32>(0u, 0u, 0u, 0u);
    for (var k = 0u; k < 4u; k = k + 1u) {
        let lo = 32u * k;
        if (len >= lo + 32u) {
            m[k] = 0xffffffffu;
        } else if (len > lo) {
            m[k] = 0xffffffffu << (32u - (len - lo));
        }
    }
    var h = step(vec2<u32>(params.seed0, params.seed1), len);
    for (var k = 0u; k < 4u; k = k + 1u) {
        h = step(h, w[k] & m[k]);
    }
    return finish(h, TAG_NET);
}

fn probe_ip(start: u32, end: u32) -> vec2<u32> {
    if (params.lens > MAX_PROBES) {
        return vec2<u32>(DEFER, 0u);
    }
    let q = dotted_quad(start, end);
    if (q.y == 0u) {
        return vec2<u32>(DEFER, 0u);
    }
    let w = vec4<u32>(0u, 0u, 0xffffu, q.x);
    var mask = 0u;
    for (var i = 0u; i < params.lens; i = i + 1u) {
        if (has(net_fp(w, lens[i]))) {
            mask = mask | (1u << i);
        }
    }
    return vec2<u32>(OK, mask);
}

fn probe_domain(start: u32, n: u32) -> vec2<u32> {
    var end = start + n;
    if (byte_at(end - 1u) == 46u) {
        end = end - 1u;
    }
    if (end == start || end - start > 253u) {
        return vec2<u32>(INVALID, 0u);
    }
    var h = vec2<u32>(params.seed0, params.seed1);
    var label = 0u;
    var j = 0u;
    var mask = 0u;
    for (var i = end; i > start; i = i - 1u) {
        let b = byte_at(i - 1u);
        if (domain_reject(b)) {
            return vec2<u32>(INVALID, 0u);
        }
        if (b == 46u) {
            if (label == 0u) {
                return vec2<u32>(INVALID, 0u);
            }
            if (j + 1u >= MAX_PROBES) {
                return vec2<u32>(DEFER, 0u);
            }
            if (has(finish(h, TAG_SUFFIX))) {
                mask = mask | (1u << (1u + j));
            }
            j = j + 1u;
            label = 0u;
        } else {
            label = label + 1u;
            if (label > 63u) {
                return vec2<u32>(INVALID, 0u);
            }
        }
        h = step(h, lower(b));
    }
    if (label == 0u) {
        return vec2<u32>(INVALID, 0u);
    }
    if (j + 1u >= MAX_PROBES) {
        return vec2<u32>(DEFER, 0u);
    }
    if (has(finish(h, TAG_SUFFIX))) {
        mask = mask | (1u << (1u + j));
    }
    if (has(finish(h, TAG_DOMAIN))) {
        mask = mask | 1u;
    }
    return vec2<u32>(OK, mask);
}

fn probe_hash(start: u32, n: u32) -> vec2<u32> {
    for (var i = start; i < start + n; i = i + 1u) {
        if (!is_hex(byte_at(i))) {
            return vec2<u32>(INVALID, 0u);
        }
    }
    var tag = 0u;
    if (n == 32u) {
        tag = 4u;
    } else if (n == 40u) {
        tag = 5u;
    } else if (n == 64u) {
        tag = 6u;
    } else {
        return vec2<u32>(INVALID, 0u);
    }
    var h = vec2<u32>(params.seed0, params.seed1);
    for (var i = start + n; i > start; i = i - 1u) {
        h = step(h, lower(byte_at(i - 1u)));
    }
    if (has(finish(h, tag))) {
        return vec2<u32>(OK, 1u);
    }
    return vec2<u32>(OK, 0u);
}

fn probe(start: u32, n: u32) -> vec2<u32> {
    if (n == 0u || (n == 1u && byte_at(start) == 45u)) {
        return vec2<u32>(EMPTY, 0u);
    }
    if (n > params.max_row_bytes) {
        return vec2<u32>(DEFER, 0u);
    }
    if (byte_at(start) == 40u || is_space(byte_at(start)) || is_space(byte_at(start + n - 1u))) {
        return vec2<u32>(DEFER, 0u);
    }
    for (var i = start; i < start + n; i = i + 1u) {
        if (byte_at(i) >= 128u) {
            return vec2<u32>(DEFER, 0u);
        }
    }
    if (params.mode == 0u) {
        return probe_ip(start, start + n);
    }
    if (params.mode == 1u) {
        return probe_domain(start, n);
    }
    return probe_hash(start, n);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_index(gid, groups);
    if (row >= params.rows) {
        return;
    }
    let start = offsets[row] - params.base;
    let end = offsets[row + 1u] - params.base;
    let r = probe(start, end - start);
    out[2u * row] = r.x;
    out[2u * row + 1u] = r.y;
}
