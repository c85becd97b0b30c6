"""gguf_write.py — a minimal GGUF v3 writer for tests (numpy only), independent of our C writer.

Used to derive model variants from a synthesized file (other metadata, a tensor dropped or
added) so tests can cover rope scaling, llama3 rope_freqs and tied embeddings.

    from gguf_read import read_gguf
    from gguf_write import write_gguf
    kv, tensors = read_gguf("a.gguf")
    kv["llama.rope.scaling.type"] = "linear"; kv["llama.rope.scaling.factor"] = 4.0
    write_gguf("b.gguf", kv, tensors)         # tensors: name -> (type id, ne list, raw bytes)

Value types come from kv["__kv_types__"] when the key was read from a file; new keys are typed
by their Python value (str → string, bool → bool, int → uint32, float → float32, list → array
of the first element's type: str → string, float → float32, int → int32).
"""
import struct

UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
_FMT = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
        FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}


def _str(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def _guess(v):
    if isinstance(v, bool):
        return BOOL
    if isinstance(v, str):
        return STRING
    if isinstance(v, int):
        return UINT32
    if isinstance(v, float):
        return FLOAT32
    if isinstance(v, list):
        return ARRAY
    raise TypeError(f"cannot store {type(v)}")


def _elem_type(lst):
    if not lst:
        return INT32
    v = lst[0]
    if isinstance(v, (str, bytes)):
        return STRING
    if isinstance(v, float):
        return FLOAT32
    return INT32


def _value(vtype, v):
    if vtype == STRING:
        return _str(v)
    if vtype == ARRAY:
        et = _elem_type(v)
        out = struct.pack("<IQ", et, len(v))
        if et == STRING:
            return out + b"".join(_str(x) for x in v)
        return out + struct.pack("<%d%s" % (len(v), _FMT[et][1]), *v)
    return struct.pack(_FMT[vtype], v)


TYPE_SIZE = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 30: (1, 2)}


def write_gguf(path, kv, tensors, alignment=32):
    types = kv.get("__kv_types__", {})
    items = [(k, v) for k, v in kv.items() if not k.startswith("__")]
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(items)))
    for k, v in items:
        vt = types.get(k, _guess(v))
        if vt == ARRAY and not isinstance(v, list):
            vt = _guess(v)
        out += _str(k) + struct.pack("<I", vt) + _value(vt, v)
    offset = 0
    blobs = []
    for name, (ttype, ne, raw) in tensors.items():
        out += _str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", int(x)) for x in ne)
        out += struct.pack("<IQ", ttype, offset)
        blobs.append((offset, raw))
        offset += (len(raw) + alignment - 1) // alignment * alignment
    out += b"\0" * ((-len(out)) % alignment)
    base = len(out)
    for off, raw in blobs:
        out += b"\0" * (base + off - len(out))
        out += raw
    with open(path, "wb") as fp:
        fp.write(out)
