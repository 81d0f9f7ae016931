import zlib, struct, sys
def png(size, path):
    S = size
    def px(x, y):
        # rounded square (radius 18%), full bleed for maskable safety the bars stay in the middle 60%
        r = 0.18 * S
        cx = min(max(x, r), S - r); cy = min(max(y, r), S - r)
        if (x - cx) ** 2 + (y - cy) ** 2 > r * r:
            return (0, 0, 0, 0)
        u, v = x / S, y / S
        # four bars, stacked colours: memory over time; the tallest one is the peak
        bars = [(0.22, 0.55), (0.36, 0.30), (0.50, 0.42), (0.64, 0.25)]
        for bx, top in bars:
            if bx <= u < bx + 0.11 and top <= v < 0.78:
                return (0xf2, 0x8e, 0x2b, 255) if v < top + (0.78 - top) * 0.4 else (255, 255, 255, 255)
        # dashed budget line
        if 0.18 <= u < 0.82 and 0.265 <= v < 0.285 and int(u * 20) % 2 == 0:
            return (0xff, 0xd0, 0xd0, 255)
        return (0x2f, 0x6f, 0xde, 255)
    raw = b''.join(b'\x00' + b''.join(bytes(px(x + 0.5, y + 0.5)) for x in range(S)) for y in range(S))
    def chunk(t, d):
        return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    data = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', S, S, 8, 6, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b'')
    open(path, 'wb').write(data)
for s in (192, 512):
    png(s, f'icon-{s}.png')
