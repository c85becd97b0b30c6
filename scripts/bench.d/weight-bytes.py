# weight-bytes.py — bytes of weights a decode step reads: every tensor of a GGUF file except the
# token embedding (only one row of it is read per token), plus the embedding when it doubles as
# the output matrix (no output.weight). Standalone GGUF v2/v3 header walk; no numpy needed.
#   /usr/bin/python3 scripts/bench.d/weight-bytes.py FILE   -> prints an integer
import struct
import sys

# ggml type id -> (weights per block, bytes per block)
TYPES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
         10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 30: (1, 2)}
SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # GGUF value types


def main(path):
    with open(path, "rb") as f:
        data = f.read(64 << 20)  # the header and tensor table are far smaller than this
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]

    def skip_value(t):
        nonlocal pos
        if t == 8:  # string
            n = take("Q")  # (not `pos += take(..)`: that would add to the old pos)
            pos += n
        elif t == 9:  # array
            et, n = take("I"), take("Q")
            if et in SCALAR:
                pos += SCALAR[et] * n
            else:
                for _ in range(n):
                    skip_value(et)
        else:
            pos += SCALAR[t]

    if data[:4] != b"GGUF":
        sys.exit(f"weight-bytes: {path}: not a GGUF file")
    pos = 4
    take("I")  # version
    n_tensors, n_kv = take("Q"), take("Q")
    for _ in range(n_kv):
        n = take("Q")
        pos += n
        skip_value(take("I"))
    sizes = {}
    for _ in range(n_tensors):
        name = data[pos + 8:pos + 8 + struct.unpack_from("<Q", data, pos)[0]].decode()
        pos += 8 + len(name.encode())
        n_dims = take("I")
        n = 1
        for _ in range(n_dims):
            n *= take("Q")
        t = take("I")
        take("Q")  # offset
        if t not in TYPES:
            sys.exit(f"weight-bytes: {path}: tensor {name} has type {t} this script does not size")
        bs, ts = TYPES[t]
        sizes[name] = n // bs * ts
    total = sum(v for k, v in sizes.items() if k != "token_embd.weight")
    if "output.weight" not in sizes:
        total += sizes.get("token_embd.weight", 0)
    print(total)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: weight-bytes.py FILE.gguf")
    main(sys.argv[1])
