"""gguf_read.py — a small, independent GGUF v2/v3 reader for tests (numpy only, Debian python3).

Written from the format description (not from our C code), so tests can use it to check the C
reader/writer byte layout and to feed numpy reference models.

    from gguf_read import read_gguf, dequant
    kv, tensors = read_gguf("model.gguf")
    kv["llama.block_count"]                  # python int / float / bool / str / list
    ttype, ne, raw = tensors["token_embd.weight"]
    w = dequant(ttype, raw, ne)              # np.float64, numpy shape = reversed(ne): (vocab, dim)

Tensor shapes are GGML's `ne` lists (ne[0] is the contiguous row length); `dequant` returns the
row-major numpy array of shape tuple(reversed(ne)), so w[i] is row i.
"""
import struct
import sys

import numpy as np

# GGUF value types
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
_SCALAR = {
    UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
    FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d",
}

# GGML tensor types this project uses: id -> (name, block size, bytes per block)
F32, F16, Q4_0, Q8_0, BF16 = 0, 1, 2, 8, 30
TYPES = {F32: ("f32", 1, 4), F16: ("f16", 1, 2), Q4_0: ("q4_0", 32, 18), Q8_0: ("q8_0", 32, 34),
         BF16: ("bf16", 1, 2)}


class GgufError(ValueError):
    pass


class _Cursor:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise GgufError(f"truncated at offset {self.pos} (need {n} bytes of {len(self.data)})")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self):
        raw = bytes(self.take(self.unpack("<Q")))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw


def _value(c, vtype):
    if vtype in _SCALAR:
        return c.unpack(_SCALAR[vtype])
    if vtype == STRING:
        return c.string()
    if vtype == ARRAY:
        etype, n = c.unpack("<I"), c.unpack("<Q")
        if etype == ARRAY:
            raise GgufError("nested arrays are not supported")
        if etype in _SCALAR:
            fmt = _SCALAR[etype]
            size = struct.calcsize(fmt)
            return list(struct.unpack("<%d%s" % (n, fmt[1]), c.take(n * size)))
        return [_value(c, etype) for _ in range(n)]
    raise GgufError(f"unknown value type {vtype}")


def read_gguf(path):
    """Returns (kv, tensors): kv maps key -> value; tensors maps name -> (type id, ne list, raw bytes).

    Also sets kv["__alignment__"], kv["__data_offset__"], kv["__tensor_offsets__"] (name -> offset
    relative to the data section) and kv["__kv_types__"] (key -> GGUF value type, for type checks).
    """
    with open(path, "rb") as fp:
        data = memoryview(fp.read())
    c = _Cursor(data)
    if bytes(c.take(4)) != b"GGUF":
        raise GgufError("bad magic")
    version = c.unpack("<I")
    if version not in (2, 3):
        raise GgufError(f"unsupported version {version}")
    n_tensors, n_kv = c.unpack("<Q"), c.unpack("<Q")
    kv, kv_types = {}, {}
    for _ in range(n_kv):
        key = c.string()
        vtype = c.unpack("<I")
        if key in kv:
            raise GgufError(f"duplicate key {key}")
        kv[key] = _value(c, vtype)
        kv_types[key] = vtype
    infos = []
    for _ in range(n_tensors):
        name = c.string()
        n_dims = c.unpack("<I")
        ne = [c.unpack("<Q") for _ in range(n_dims)]
        ttype, offset = c.unpack("<I"), c.unpack("<Q")
        infos.append((name, ttype, ne, offset))
    align = kv.get("general.alignment", 32)
    data_offset = (c.pos + align - 1) // align * align
    tensors, offsets = {}, {}
    for name, ttype, ne, offset in infos:
        if ttype not in TYPES:
            raise GgufError(f"tensor {name}: unsupported type {ttype}")
        _, bs, ts = TYPES[ttype]
        n = int(np.prod(ne))
        if ne[0] % bs:
            raise GgufError(f"tensor {name}: row {ne[0]} not a multiple of {bs}")
        nbytes = n // bs * ts
        if offset % align or data_offset + offset + nbytes > len(data):
            raise GgufError(f"tensor {name}: bad offset {offset}")
        tensors[name] = (ttype, ne, bytes(data[data_offset + offset:data_offset + offset + nbytes]))
        offsets[name] = offset
    kv["__alignment__"], kv["__data_offset__"] = align, data_offset
    kv["__tensor_offsets__"], kv["__kv_types__"] = offsets, kv_types
    return kv, tensors


def dequant(ttype, raw, ne):
    """Decodes raw tensor bytes to np.float64 with numpy shape tuple(reversed(ne))."""
    shape = tuple(reversed([int(x) for x in ne]))
    if ttype == F32:
        w = np.frombuffer(raw, dtype="<f4")
    elif ttype == F16:
        w = np.frombuffer(raw, dtype="<f2")
    elif ttype == BF16:
        w = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view("<f4")
    elif ttype == Q8_0:
        blk = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "i1", 32)]))
        w = blk["d"].astype(np.float64)[:, None] * blk["qs"].astype(np.float64)
    elif ttype == Q4_0:
        blk = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]))
        q = np.concatenate([blk["qs"] & 0x0F, blk["qs"] >> 4], axis=1).astype(np.float64) - 8.0
        w = blk["d"].astype(np.float64)[:, None] * q
    else:
        raise GgufError(f"dequant: unsupported type {ttype}")
    return np.asarray(w, dtype=np.float64).reshape(shape)


def _main(argv):
    kv, tensors = read_gguf(argv[1])
    for k, v in kv.items():
        if k.startswith("__"):
            continue
        if isinstance(v, list) and len(v) > 8:
            v = f"{v[:8]}... ({len(v)} items)"
        print(f"{k} = {v}")
    for name, (ttype, ne, raw) in tensors.items():
        print(f"{name}\t{TYPES[ttype][0]}\t{ne}\t{len(raw)}")


if __name__ == "__main__":
    _main(sys.argv)
