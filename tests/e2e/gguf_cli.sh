#!/bin/sh
# `rightsize gguf info|synth` end to end: every small shape × type synthesizes and re-opens,
# the same seed gives the same bytes, info names the keys and tensors, and bad arguments exit 2
# with a message.
set -u
BIN=${RS_BIN:-build/rightsize}
T=$(mktemp -d /tmp/rs-gguf-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect CODE PATTERN CMD... — runs CMD, checks its exit status and that stderr+stdout match PATTERN.
expect() {
    want=$1; pat=$2; shift 2
    "$@" >"$T/out" 2>&1; rc=$?
    [ "$rc" -eq "$want" ] || { fail "'$*' exited $rc, expected $want: $(head -c 300 "$T/out")"; return; }
    [ -z "$pat" ] || grep -q -- "$pat" "$T/out" || fail "'$*' output lacks '$pat': $(head -c 300 "$T/out")"
}

for shape in tiny small; do
    for type in f32 f16 bf16 q8_0 q4_0; do
        f="$T/$shape-$type.gguf"
        expect 0 "" "$BIN" gguf synth "$shape" --type "$type" --seed 11 -q -o "$f"
        "$BIN" gguf info "$f" >"$T/info" 2>&1 || { fail "info $shape $type"; continue; }
        grep -q "general.architecture .*\"llama\"" "$T/info" || fail "$shape $type: architecture"
        grep -q "blk.0.attn_q.weight *$type " "$T/info" || fail "$shape $type: attn_q type"
        grep -q "blk.0.attn_norm.weight *f32 " "$T/info" || fail "$shape $type: norm is f32"
        grep -q "tokenizer.ggml.tokens *string\[" "$T/info" || fail "$shape $type: tokens"
    done
done

# llama.cpp's metadata keys, all present in info's output.
for k in general.architecture general.name general.alignment llama.context_length llama.embedding_length \
         llama.block_count llama.feed_forward_length llama.attention.head_count llama.attention.head_count_kv \
         llama.rope.freq_base llama.rope.dimension_count llama.attention.layer_norm_rms_epsilon llama.vocab_size \
         general.file_type tokenizer.ggml.model tokenizer.ggml.tokens tokenizer.ggml.scores \
         tokenizer.ggml.token_type tokenizer.ggml.bos_token_id tokenizer.ggml.eos_token_id \
         tokenizer.ggml.unknown_token_id tokenizer.ggml.add_bos_token; do
    grep -q "^  $k " "$T/info" || fail "info lacks key $k"
done
grep -q "embedding_length  *u32  *256" "$T/info" || fail "small: embedding_length 256"
grep -q "(4096 items)" "$T/info" || fail "long arrays are abbreviated with their count"
grep -q "^totals: 39 tensors, 5245184 parameters" "$T/info" || fail "small totals: $(grep totals "$T/info")"
grep -q "output.weight *q4_0 *\[256, 4096\]" "$T/info" || fail "output.weight shape"

# Determinism: same seed same bytes, other seed other bytes.
"$BIN" gguf synth tiny --type q8_0 --seed 11 -q -o "$T/again.gguf" || fail "synth again"
cmp -s "$T/tiny-q8_0.gguf" "$T/again.gguf" || fail "same seed gave different bytes"
"$BIN" gguf synth tiny --type q8_0 --seed 12 -q -o "$T/other.gguf" || fail "synth other seed"
cmp -s "$T/tiny-q8_0.gguf" "$T/other.gguf" && fail "different seeds gave the same bytes"

# Explicit dimensions, tied output, output type, chat template, a real vocabulary.
expect 0 "" "$BIN" gguf synth --dim 128 --layers 1 --heads 4 --kv-heads 1 --ffn 320 --vocab 300 --ctx 64 \
    --rope-theta 500000 --tied --type q4_0 -q -o "$T/x.gguf"
"$BIN" gguf info "$T/x.gguf" >"$T/info" 2>&1 || fail "info explicit"
grep -q "llama.rope.freq_base *f32 *500000" "$T/info" || fail "explicit theta"
grep -q "^  output.weight" "$T/info" && fail "tied model has output.weight"
grep -q "llama.attention.head_count_kv *u32 *1$" "$T/info" || fail "explicit kv heads"
expect 0 "" "$BIN" gguf synth tiny --type q8_0 --output-type f16 --chat-template chatml -q -o "$T/y.gguf"
"$BIN" gguf info "$T/y.gguf" >"$T/info" 2>&1
grep -q "output.weight *f16" "$T/info" || fail "--output-type f16"
grep -q "token_embd.weight *q8_0" "$T/info" || fail "token_embd in --type"
grep -q "tokenizer.chat_template .*im_start" "$T/info" || fail "chat template"
VOCAB="$RS_ROOT/tests/data/vocab/ggml-vocab-llama-spm.gguf"
expect 0 "" "$BIN" gguf synth tiny --vocab "$VOCAB" -q -o "$T/v.gguf"
"$BIN" gguf info "$T/v.gguf" >"$T/info" 2>&1
grep -q "llama.vocab_size *u32 *32000" "$T/info" || fail "--vocab FILE sets vocab size"
grep -q "token_embd.weight *f32 *\[64, 32000\]" "$T/info" || fail "--vocab FILE embedding shape"

# --list-shapes, --help.
expect 0 "tinyllama-1.1b" "$BIN" gguf synth --list-shapes
expect 0 "8030261248" "$BIN" gguf synth --list-shapes
expect 0 "usage: rightsize gguf" "$BIN" gguf --help

# Refusals: usage errors exit 2 with a message naming the problem; an existing file exits 1.
expect 2 "unknown shape 'huge'" "$BIN" gguf synth huge -o "$T/z.gguf"
expect 2 "-o FILE is required" "$BIN" gguf synth tiny
expect 2 "--type 'iq2_xxs' is not a type the engine writes" "$BIN" gguf synth tiny --type iq2_xxs -o "$T/z.gguf"
expect 2 "must be multiples of 256 for q3_k" "$BIN" gguf synth tiny --type q3_k -o "$T/z.gguf"
expect 2 "multiples of 32" "$BIN" gguf synth tiny --dim 48 --heads 4 --type q8_0 -o "$T/z.gguf"
expect 2 "--kv-heads 3" "$BIN" gguf synth tiny --kv-heads 3 -o "$T/z.gguf"
expect 2 "--layers 'x'" "$BIN" gguf synth tiny --layers x -o "$T/z.gguf"
expect 2 "unknown option '--bogus'" "$BIN" gguf synth tiny --bogus 1 -o "$T/z.gguf"
expect 2 "unknown --chat-template 'vicuna'" "$BIN" gguf synth tiny --chat-template vicuna -o "$T/z.gguf"
expect 2 "give a SHAPE" "$BIN" gguf synth --dim 64 -o "$T/z.gguf"
expect 2 "needs a value" "$BIN" gguf synth tiny -o
expect 2 "unknown subcommand 'frobnicate'" "$BIN" gguf frobnicate x
expect 2 "expected FILE and TENSOR" "$BIN" gguf dump x
expect 2 "exactly one FILE" "$BIN" gguf info
expect 1 "exists (add --force" "$BIN" gguf synth tiny -o "$T/x.gguf"
expect 0 "" "$BIN" gguf synth tiny --force -q -o "$T/x.gguf"
cmp -s "$T/x.gguf" "$T/tiny-f32.gguf" && fail "--force did not overwrite" || true
[ -e "$T/z.gguf" ] && fail "a refused synth left a file"
expect 1 "No such file" "$BIN" gguf synth tiny --vocab "$T/missing.gguf" -o "$T/z.gguf"
[ -e "$T/z.gguf" ] || [ -e "$T/z.gguf.tmp" ] && fail "a failed synth left a file"
expect 1 "No such file" "$BIN" gguf info "$T/missing.gguf"
head -c 1000 "$T/tiny-f32.gguf" >"$T/cut.gguf"
expect 1 "key 'tokenizer.ggml.tokens': array of 512 strings cannot fit" "$BIN" gguf info "$T/cut.gguf"
head -c 30000 "$T/tiny-f32.gguf" >"$T/cut.gguf"
expect 1 "tensor 'token_embd.weight': data \[0, 131072) beyond the end" "$BIN" gguf info "$T/cut.gguf"
printf 'GGML\003\000\000\000' >"$T/bad.gguf"; head -c 100 /dev/zero >>"$T/bad.gguf"
expect 1 "bad magic" "$BIN" gguf info "$T/bad.gguf"

# A mixture of experts: info counts the parameters a token runs. 64 wide, 2 layers, 6 experts of 96
# (3 matrices of 64 x 96: 18432 parameters an expert), 2 per token: 2 layers x 4 idle experts x 18432.
"$BIN" gguf synth --arch qwen3moe --dim 64 --layers 2 --heads 4 --ffn 96 --vocab 300 --experts 6 --experts-used 2 \
    -q -o "$T/moe.gguf" || fail "synth qwen3moe"
total=$("$BIN" gguf info "$T/moe.gguf" | sed -n 's/^totals: [0-9]* tensors, \([0-9]*\) parameters.*/\1/p')
active=$((total - 2 * 4 * 18432))
expect 0 "mixture of experts: 6 experts, 2 per token: $active parameters" "$BIN" gguf info "$T/moe.gguf"

[ "$fails" -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "gguf cli: all checks passed"
