// cmd_quantize.c — `rightsize quantize IN.gguf OUT.gguf --type TYPE`: convert a model's weights,
// choosing each tensor's type and quantizing it as llama.cpp's llama-quantize does.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "cli/cli.h"
#include "engine/quant.h"
#include "quantize/qref.h"
#include "quantize/quantize.h"

static void quantize_usage(FILE *out) {
    fprintf(out,
"usage: rightsize quantize IN.gguf OUT.gguf --type TYPE [options]\n"
"\n"
"Converts a GGUF model's weights to file type TYPE with the per-tensor choices and the\n"
"quantizers of llama.cpp's llama-quantize (without an importance matrix): the output is the\n"
"file llama-quantize writes, byte for byte, for every TYPE below. Norms and other 1-D tensors\n"
"keep their type; output.weight (or a tied token_embd.weight) gets Q6_K (Q8_0 when its rows\n"
"are not a multiple of the type's block); a row length a block does not divide falls back\n"
"(Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0, Q2_K/Q3_K->Q4_0, then F16). Metadata is copied,\n"
"general.file_type and general.quantization_version set. One progress line per tensor goes\n"
"to stderr.\n"
"\n"
"  --type TYPE            (case-insensitive; also as the 3rd argument)\n"
"     floats              f32, f16, bf16\n"
"     one type            q8_0, q4_0, q4_1, q5_0, q5_1, q6_k (all but output.weight)\n"
"     mixes               q4_k_m, q5_k_m: attn_v and ffn_down get Q6_K in the first and last\n"
"                         eighth of the layers and every third between;\n"
"                         q4_k_s, q5_k_s: Q4_K/Q5_K, q4_k_s gives Q5_K to the first 4 attn_v\n"
"                         and the first eighth of ffn_down;\n"
"                         q3_k_s, q3_k_m, q3_k_l, q2_k, iq4_nl: llama-quantize's rules for them\n"
"                         (q4_k, q5_k, q3_k mean the _m mixes, as for llama-quantize)\n"
"  --output-type TYPE     type of output.weight instead of the rule (like llama-quantize's\n"
"                         --output-tensor-type): f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1,\n"
"                         iq4_nl, q2_k, q3_k, q4_k, q5_k, q6_k\n"
"  --allow-requantize     accept an input that is already quantized (error compounds)\n"
"  -t, --threads N        conversion threads (default: all cores; the bytes do not depend on it)\n"
"  -q, --quiet            no progress lines\n"
"  -h, --help             this help\n"
"\n"
"Mixture-of-experts models are refused. The output is written to OUT.gguf.tmp and renamed at\n"
"the end; OUT.gguf may not be IN.gguf.\n");
}

static void progress(void *ctx, int64_t i, int64_t n, const char *name, QuantType from, QuantType to,
                     const int64_t *ne) {
    (void)ctx;
    fprintf(stderr, "[%4lld/%4lld] %-36s %5s -> %-5s [%lld x %lld]\n", (long long)i, (long long)n, name,
            QUANT_TRAITS[from].name, QUANT_TRAITS[to].name, (long long)ne[0], (long long)ne[1]);
}

int cmd_quantize(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { quantize_usage(stdout); return 0; }
    const char *pos[3] = {0}, *type = NULL, *out_type = NULL;
    int n_pos = 0;
    bool quiet = false, requant = false;
    int n_threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--type") || !strcmp(a, "--output-type")) {
            if (i + 1 >= argc) { fprintf(stderr, "quantize: %s needs a value (see --help)\n", a); return 2; }
            if (!strcmp(a, "--type")) type = argv[++i]; else out_type = argv[++i];
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            char *end = NULL;
            long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : -1;
            if (i + 1 >= argc || !end || *end || v < 1 || v > 1024) {
                fprintf(stderr, "quantize: %s needs a thread count from 1 to 1024 (see --help)\n", a);
                return 2;
            }
            n_threads = (int)v;
            i++;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = true;
        else if (!strcmp(a, "--allow-requantize")) requant = true;
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "quantize: unknown option '%s' (see rightsize quantize --help)\n", a); return 2; }
        else if (n_pos < 3) pos[n_pos++] = a;
        else { fprintf(stderr, "quantize: unexpected argument '%s'\n", a); return 2; }
    }
    if (n_pos == 3 && !type) type = pos[2];
    else if (n_pos != 2) { fprintf(stderr, "quantize: give IN.gguf OUT.gguf and --type TYPE (see --help)\n"); return 2; }
    if (!type) { fprintf(stderr, "quantize: --type TYPE is required (%s)\n", quantize_ftype_names()); return 2; }
    QuantizeOptions o = {.ftype = quantize_ftype_by_name(type), .output_type = -1, .allow_requantize = requant, .n_threads = n_threads,
                         .progress = quiet ? NULL : progress};
    if (!o.ftype) {
        fprintf(stderr, "quantize: unknown --type '%s' (this build writes %s)\n", type, quantize_ftype_names());
        return 2;
    }
    if (out_type) {
        int ot = quant_from_name(out_type);
        if (ot < 0 || !qref_supported((QuantType)ot)) {
            fprintf(stderr, "quantize: unknown --output-type '%s' (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl, "
                            "q2_k, q3_k, q4_k, q5_k, q6_k)\n", out_type);
            return 2;
        }
        o.output_type = ot;
    }
    char err[320];
    QuantizeStats st;
    int64_t t0 = clock_now_us();
    if (quantize_file(pos[0], pos[1], &o, &st, err, sizeof err)) {
        fprintf(stderr, "quantize: %s\n", err);
        return 1;
    }
    fprintf(stderr, "quantize: %s -> %s (%s): %lld tensors, %lld converted, %.2f MiB -> %.2f MiB in %.2f s\n", pos[0],
            pos[1], o.ftype->name, (long long)st.n_tensors, (long long)st.n_quantized, (double)st.bytes_in / 1048576.0,
            (double)st.bytes_out / 1048576.0, (double)(clock_now_us() - t0) / 1e6);
    return 0;
}
