"""Regenerates the seed corpus of fuzz_gguf: small valid GGUF files (hand-packed with every value
type and tensor type, and tiny `rightsize gguf synth` models) plus corrupt variants of each kind
the reader must refuse. Usage: /usr/bin/python3 tests/fuzz/make_corpus_gguf.py [RIGHTSIZE_BIN]
"""
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "fuzz_gguf")
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "build", "rightsize")


def s(x):
    b = x.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, payload):
    return s(key) + struct.pack("<I", vtype) + payload


def tensor(name, ne, ttype, offset):
    return s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne) + struct.pack("<IQ", ttype, offset)


def gguf(kvs, tensors, data, n_tensors=None, n_kv=None, align=32):
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors) if n_tensors is None else n_tensors,
                                 len(kvs) if n_kv is None else n_kv)
    body = head + b"".join(kvs) + b"".join(tensors)
    body += b"\0" * (-len(body) % align)
    return body + data


def all_types():
    kvs = [
        kv("general.alignment", 4, struct.pack("<I", 32)),
        kv("t.u8", 0, b"\xc8"), kv("t.i8", 1, b"\x9c"), kv("t.u16", 2, struct.pack("<H", 60000)),
        kv("t.i16", 3, struct.pack("<h", -3)), kv("t.u32", 4, struct.pack("<I", 7)),
        kv("t.i32", 5, struct.pack("<i", -7)), kv("t.f32", 6, struct.pack("<f", 0.5)), kv("t.bool", 7, b"\x01"),
        kv("t.str", 8, s("hello")), kv("t.u64", 10, struct.pack("<Q", 1 << 40)),
        kv("t.i64", 11, struct.pack("<q", -(1 << 40))), kv("t.f64", 12, struct.pack("<d", 2.5)),
        kv("t.astr", 9, struct.pack("<IQ", 8, 3) + s("<unk>") + s("") + s("\u2581the")),
        kv("t.af32", 9, struct.pack("<IQ", 6, 2) + struct.pack("<2f", 1.0, -1.0)),
        kv("t.abool", 9, struct.pack("<IQ", 7, 2) + b"\x00\x01"),
        kv("t.aempty", 9, struct.pack("<IQ", 5, 0)),
    ]
    # f32 [32] at 0, f16 [32, 2] at 128, bf16 [32] at 256, q8_0 [32, 2] at 320, q4_0 [64] at 416
    tens = [tensor("a.f32", [32], 0, 0), tensor("b.f16", [32, 2], 1, 128), tensor("c.bf16", [32], 30, 256),
            tensor("d.q8_0", [32, 2], 8, 320), tensor("e.q4_0", [64], 2, 416)]
    data = bytes((i * 37) & 0xFF for i in range(416 + 36))
    data += b"\0" * (-len(data) % 32)
    return kvs, tens, data


def main():
    os.makedirs(OUT, exist_ok=True)
    files = {}
    kvs, tens, data = all_types()
    good = gguf(kvs, tens, data)
    files["valid_all_types.gguf"] = good
    files["valid_no_tensors.gguf"] = gguf(kvs[:5], [], b"")
    for cut in (3, 20, 60, len(good) // 2, len(good) - 40):
        files[f"trunc_{cut}.gguf"] = good[:cut]
    files["bad_magic.gguf"] = b"GGML" + good[4:]
    files["n_tensors_2_63.gguf"] = gguf(kvs, tens, data, n_tensors=1 << 63)
    files["huge_string.gguf"] = gguf([kv("k", 8, struct.pack("<Q", (1 << 64) - 5) + b"abc")], [], b"")
    files["misaligned.gguf"] = gguf(kvs, [tensor("x", [32], 0, 8)], b"\0" * 256)
    files["beyond.gguf"] = gguf(kvs, [tensor("x", [32], 0, 1 << 20)], b"\0" * 256)
    files["unknown_type.gguf"] = gguf(kvs, [tensor("x", [32], 99, 0)], b"\0" * 256)
    files["ndims0.gguf"] = gguf(kvs, [s("x") + struct.pack("<I", 0) + struct.pack("<IQ", 0, 0)], b"\0" * 64)
    files["ndims5.gguf"] = gguf(kvs, [tensor("x", [32, 1, 1, 1, 1], 0, 0)], b"\0" * 256)
    files["ne_overflow.gguf"] = gguf(kvs, [tensor("x", [1 << 32, 1 << 32], 0, 0)], b"\0" * 64)
    files["dup_key.gguf"] = gguf(kvs + kvs[1:2], [], b"")
    files["overlap.gguf"] = gguf(kvs, [tensor("x", [32], 0, 0), tensor("y", [32], 0, 64)], b"\0" * 256)
    files["nested_array.gguf"] = gguf([kv("k", 9, struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 0, 0))], [], b"")
    for name in files:
        with open(os.path.join(OUT, name), "wb") as fp:
            fp.write(files[name])
    # Tiny synthesized models: the real tokenizer arrays and tensor tables of a Llama model.
    dims = ["--dim", "32", "--layers", "1", "--heads", "2", "--kv-heads", "1", "--ffn", "32", "--vocab", "259", "--ctx", "16"]
    for extra, name in ((["--type", "q4_0"], "synth_q4_0.gguf"), (["--type", "q8_0", "--tied"], "synth_q8_0_tied.gguf"),
                        (["--type", "bf16", "--output-type", "q4_0", "--chat-template", "chatml"], "synth_bf16.gguf")):
        subprocess.run([BIN, "gguf", "synth", *dims, *extra, "--force", "-q", "-o", os.path.join(OUT, name)], check=True)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"{len(os.listdir(OUT))} files, {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
