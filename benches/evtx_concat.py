#!/usr/bin/env python3
"""One big EVTX file: the chunks of every SigmaHQ regression .evtx file, repeated COPIES
times, after one file header (chunk count and header CRC32 rewritten)."""
import struct, sys, zlib, glob
src = sorted(glob.glob(sys.argv[1] + "/**/*.evtx", recursive=True))
copies = int(sys.argv[2]); out = sys.argv[3]
chunks = []
for f in src:
    b = open(f, "rb").read()
    for off in range(4096, len(b) - 65535, 65536):
        c = b[off:off + 65536]
        if c[:8] == b"ElfChnk\x00":
            chunks.append(c)
head = bytearray(open(src[0], "rb").read()[:4096])
n = len(chunks) * copies
# header: first chunk 0, last chunk n-1, chunk count (u16 at 42), flags clean.
struct.pack_into("<Q", head, 8, 0)
struct.pack_into("<Q", head, 16, n - 1)
struct.pack_into("<H", head, 42, min(n, 0xFFFF))
struct.pack_into("<I", head, 120, 0)  # flags: not dirty / not full
struct.pack_into("<I", head, 124, zlib.crc32(bytes(head[:120])) & 0xFFFFFFFF)
with open(out, "wb") as o:
    o.write(head)
    for _ in range(copies):
        for c in chunks:
            o.write(c)
print(len(chunks), "chunks x", copies, "=", n, "chunks,", 4096 + n * 65536, "bytes")
