// Tests for the paged KV cache: block accounting (alloc, free, reuse, exhaustion), storage of
// interleaved sequences (F32 exact, F16 as round-to-nearest-even), and attention over blocks
// against a straightforward float64 softmax-attention computed here from the written values.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/rng.h"
#include "engine/kv_attn.h"
#include "engine/kv_cache.h"
#include "test.h"

static KvCacheConfig small_cfg(QuantType t, int64_t n_blocks) {
    return (KvCacheConfig){.n_layer = 2, .n_kv_head = 2, .head_dim = 8, .block_tokens = 4,
                           .n_blocks = n_blocks, .max_seqs = 8, .max_seq_len = 64, .type = t};
}

// Deterministic value of element i of K (sel 0) or V (sel 1) at (layer, seq, pos).
static float kv_val(int64_t layer, int64_t seq, int64_t pos, int sel, int64_t i) {
    uint32_t h = (uint32_t)(layer * 1000003 + seq * 7919 + pos * 131 + sel * 17 + i * 3 + 1);
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    return ((float)(h % 20001) - 10000.0f) / 3000.0f;
}

static void write_pos(KvCache *kv, const KvCacheConfig *c, int64_t seq, int64_t pos) {
    float k[64], v[64];
    int64_t dim = c->n_kv_head * c->head_dim;
    for (int64_t l = 0; l < c->n_layer; l++) {
        for (int64_t i = 0; i < dim; i++) {
            k[i] = kv_val(l, seq, pos, 0, i);
            v[i] = kv_val(l, seq, pos, 1, i);
        }
        kv_cache_write(kv, l, seq, pos, k, v);
    }
}

static float stored(QuantType t, float x) {
    return t == QT_F32 ? x : quant_f16_to_f32(quant_f32_to_f16(x));
}

TEST(kv_cache_alloc_free_reuse) {
    KvCacheConfig c = small_cfg(QT_F32, 6);
    KvCache *kv = kv_cache_create(&c);
    ASSERT(kv);
    EXPECT_EQ_INT(kv_cache_blocks_total(kv), 6);
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 6);
    EXPECT_EQ_INT(kv_cache_blocks_needed(kv, 0, 9), 3);  // ceil(9/4)
    EXPECT_EQ_INT(kv_cache_reserve(kv, 0, 9), 0);
    EXPECT_EQ_INT(kv_cache_seq_blocks(kv, 0), 3);
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 3);
    EXPECT_EQ_INT(kv_cache_blocks_needed(kv, 0, 12), 0);  // the third block has room
    EXPECT_EQ_INT(kv_cache_blocks_needed(kv, 0, 13), 1);
    EXPECT_EQ_INT(kv_cache_reserve(kv, 0, 12), 0);
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 3);
    for (int64_t p = 0; p < 9; p++) write_pos(kv, &c, 0, p);
    kv_cache_set_len(kv, 0, 9);
    EXPECT_EQ_INT(kv_cache_seq_len(kv, 0), 9);
    kv_cache_seq_free(kv, 0);
    EXPECT_EQ_INT(kv_cache_seq_len(kv, 0), 0);
    EXPECT_EQ_INT(kv_cache_seq_blocks(kv, 0), 0);
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 6);
    kv_cache_seq_free(kv, 0);  // freeing a free sequence is a no-op
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 6);
    // Reuse: another sequence takes all six blocks (some previously held by seq 0) and its data
    // reads back intact.
    EXPECT_EQ_INT(kv_cache_reserve(kv, 5, 24), 0);
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 0);
    for (int64_t p = 0; p < 24; p++) write_pos(kv, &c, 5, p);
    kv_cache_set_len(kv, 5, 24);
    float out[16];
    int bad = 0;
    for (int64_t p = 0; p < 24; p++)
        for (int sel = 0; sel < 2; sel++) {
            kv_cache_read(kv, 1, 5, p, sel, out);
            for (int64_t i = 0; i < 16; i++) bad += out[i] != kv_val(1, 5, p, sel, i);
        }
    EXPECT_EQ_INT(bad, 0);
    kv_cache_destroy(kv);
}

TEST(kv_cache_exhaustion_changes_nothing) {
    KvCacheConfig c = small_cfg(QT_F16, 4);
    KvCache *kv = kv_cache_create(&c);
    ASSERT(kv);
    EXPECT_EQ_INT(kv_cache_reserve(kv, 1, 10), 0);  // 3 blocks
    EXPECT_EQ_INT(kv_cache_reserve(kv, 2, 8), ERR_FULL);  // needs 2, 1 free
    EXPECT_EQ_INT(kv_cache_seq_blocks(kv, 2), 0);
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 1);
    EXPECT_EQ_INT(kv_cache_reserve(kv, 1, 17), ERR_FULL);  // seq 1 would need 2 more
    EXPECT_EQ_INT(kv_cache_seq_blocks(kv, 1), 3);
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 1);
    EXPECT_EQ_INT(kv_cache_reserve(kv, 3, 65), ERR_RANGE);  // beyond max_seq_len
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 1);
    EXPECT_EQ_INT(kv_cache_reserve(kv, 2, 4), 0);  // exactly the last block
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 0);
    EXPECT_EQ_INT(kv_cache_reserve(kv, 4, 1), ERR_FULL);
    kv_cache_seq_free(kv, 1);
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 3);
    EXPECT_EQ_INT(kv_cache_reserve(kv, 4, 12), 0);
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 0);
    kv_cache_destroy(kv);
}

// Many sequences written position by position in interleaved order, some freed and restarted in
// between; every stored value must read back as written (F16: as rounded to nearest even).
static void interleaved(QuantType t) {
    KvCacheConfig c = small_cfg(t, 40);
    KvCache *kv = kv_cache_create(&c);
    ASSERT(kv);
    int64_t len[8] = {0};
    Rng rng;
    rng_seed(&rng, 42);
    for (int step = 0; step < 400; step++) {
        int64_t s = (int64_t)(rng_below(&rng, 8));
        if (rng_below(&rng, 23) == 0) {
            kv_cache_seq_free(kv, s);
            len[s] = 0;
            continue;
        }
        if (kv_cache_reserve(kv, s, len[s] + 1) != 0) continue;  // full or at max length
        write_pos(kv, &c, s, len[s]);
        kv_cache_set_len(kv, s, ++len[s]);
    }
    int64_t held = 0, bad = 0, checked = 0;
    float out[16];
    for (int64_t s = 0; s < 8; s++) {
        EXPECT_EQ_INT(kv_cache_seq_len(kv, s), len[s]);
        EXPECT_EQ_INT(kv_cache_seq_blocks(kv, s), (len[s] + 3) / 4);
        held += kv_cache_seq_blocks(kv, s);
        for (int64_t p = 0; p < len[s]; p++)
            for (int64_t l = 0; l < 2; l++)
                for (int sel = 0; sel < 2; sel++) {
                    kv_cache_read(kv, l, s, p, sel, out);
                    for (int64_t i = 0; i < 16; i++, checked++)
                        bad += out[i] != stored(t, kv_val(l, s, p, sel, i));
                }
    }
    EXPECT_EQ_INT(held + kv_cache_blocks_free(kv), 40);
    EXPECT(checked > 1000);
    EXPECT_EQ_INT(bad, 0);
    kv_cache_destroy(kv);
}

TEST(kv_cache_interleaved_f32) { interleaved(QT_F32); }
TEST(kv_cache_interleaved_f16) { interleaved(QT_F16); }

// Attention over a sequence that spans several blocks (with another sequence's blocks between
// them) against float64 softmax attention over the stored values; pos0 > 0 is a sliding window
// (starting inside a block), softcap > 0 Gemma 2's c·tanh(s/c) on the scaled scores.
static void attend_check(QuantType t, int64_t pos0, float softcap) {
    KvCacheConfig c = small_cfg(t, 16);
    c.head_dim = 32;
    KvCache *kv = kv_cache_create(&c);
    ASSERT(kv);
    int64_t n_pos = 11, dim = c.n_kv_head * c.head_dim;
    float k[64], v[64];
    // Interleave seq 3 and seq 6 so their blocks alternate in the pool.
    for (int64_t p = 0; p < n_pos; p++)
        for (int64_t s = 3; s <= 6; s += 3) {
            ASSERT(kv_cache_reserve(kv, s, p + 1) == 0);
            for (int64_t l = 0; l < c.n_layer; l++) {
                for (int64_t i = 0; i < dim; i++) {
                    k[i] = kv_val(l, s, p, 0, i) * 0.5f;
                    v[i] = kv_val(l, s, p, 1, i);
                }
                kv_cache_write(kv, l, s, p, k, v);
            }
            kv_cache_set_len(kv, s, p + 1);
        }
    int64_t hd = c.head_dim, n_q = 3, layer = 1, head = 1, seq = 6;
    float q[3 * 32], scores[3 * 11], out[3 * 32];
    for (int64_t i = 0; i < n_q * hd; i++) q[i] = kv_val(9, 9, i, 0, i) * 0.7f;
    float scale = 1.0f / sqrtf((float)hd);
    kv_cache_attend(kv, layer, seq, head, pos0, n_pos, q, n_q, scale, softcap, scores, out);
    double max_err = 0;
    for (int64_t g = 0; g < n_q; g++) {
        double s[11], mx = -1e300, sum = 0;
        for (int64_t p = pos0; p < n_pos; p++) {
            s[p] = 0;
            for (int64_t i = 0; i < hd; i++)
                s[p] += (double)q[g * hd + i] * stored(t, kv_val(layer, seq, p, 0, head * hd + i) * 0.5f);
            s[p] *= scale;
            if (softcap > 0) s[p] = softcap * tanh(s[p] / softcap);
            mx = s[p] > mx ? s[p] : mx;
        }
        for (int64_t p = pos0; p < n_pos; p++) sum += (s[p] = exp(s[p] - mx));
        for (int64_t i = 0; i < hd; i++) {
            double o = 0;
            for (int64_t p = pos0; p < n_pos; p++) o += s[p] / sum * stored(t, kv_val(layer, seq, p, 1, head * hd + i));
            double e = fabs(o - out[g * hd + i]);
            max_err = e > max_err ? e : max_err;
        }
    }
    // Values are O(3), softmax is peaked (scores O(10)); float32 accumulation over 32 terms.
    EXPECT(max_err < 2e-5);
    if (max_err >= 2e-5) printf("  attend max_err %g\n", max_err);
    kv_cache_destroy(kv);
}

TEST(kv_cache_attend_f32) { attend_check(QT_F32, 0, 0.0f); }
TEST(kv_cache_attend_f16) { attend_check(QT_F16, 0, 0.0f); }
TEST(kv_cache_attend_window) { attend_check(QT_F32, 6, 0.0f); attend_check(QT_F16, 1, 0.0f); }
TEST(kv_cache_attend_softcap) { attend_check(QT_F32, 0, 3.0f); attend_check(QT_F32, 5, 2.0f); }

// The SIMD attention kernels agree with the plain-C ones (both stored types, odd lengths, groups
// of 1..9 query heads — a group of four and the leftovers, and multiples of four for the
// grouped paths — and tiles of 1..13 stored rows, padded apart, so both the four-rows-at-once path
// and its leftovers run).
TEST(kv_attn_kernels_match_ref) {
    enum { N = 144, G = 9, R = 13, PAD = 3 };
    enum { S = N + PAD };  // elements from one stored row to the next
    float q[G * N], kf[R * S], big[N];
    uint16_t kh[R * S], sa[N], sb[N];
    for (int i = 0; i < G * N; i++) q[i] = kv_val(1, 2, 3, 0, i);
    for (int i = 0; i < R * S; i++) {
        kf[i] = kv_val(4, 5, 6, 1, i);
        kh[i] = quant_f32_to_f16(kf[i]);
    }
    static const int ns[] = {1, 8, 20, 32, 64, 77, 144};
    for (int ti = 0; ti < 2; ti++) {
        QuantType t = ti ? QT_F16 : QT_F32;
        const void *k = ti ? (const void *)kh : (const void *)kf;
        size_t stride = (size_t)S * (ti ? 2 : 4);
        const KvAttnKernels *a = kv_attn_kernels(t), *r = kv_attn_kernels_ref(t);
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
            for (int g = 1; g <= G; g += g == 3 || g == 4 || g == 7 || g == 8 ? 1 : 2)  // 1 3 4 5 7 8 9
                for (int nk = 1; nk <= R; nk += 3) {
                    int n = ns[ni];
                    enum { OS = R + 2 };  // out_stride / a_stride, wider than the tile
                    float da[G * OS], dr[G * OS], oa[G * N], orf[G * N], coef[G * OS];
                    a->dots(q, g, k, nk, stride, n, da, OS);
                    r->dots(q, g, k, nk, stride, n, dr, OS);
                    for (int j = 0; j < g; j++)
                        for (int c = 0; c < nk; c++)
                            EXPECT_NEAR(da[j * OS + c], dr[j * OS + c], 1e-4 * (1 + fabsf(dr[j * OS + c])));
                    for (int j = 0; j < G * OS; j++) coef[j] = 0.1f * (float)(j % 7 + 1) - 0.3f;
                    memcpy(oa, q, sizeof(float) * (size_t)(g * n));
                    memcpy(orf, q, sizeof(float) * (size_t)(g * n));
                    a->axpys(oa, g, coef, OS, k, nk, stride, n);
                    r->axpys(orf, g, coef, OS, k, nk, stride, n);
                    for (int j = 0; j < g * n; j++) EXPECT_NEAR(oa[j], orf[j], 1e-4);
                }
        // store is bit-exact with the reference conversion (round to nearest even)
        for (int i = 0; i < N; i++) big[i] = q[i] * (i % 7 == 0 ? 7000.0f : 1.0f) * (i % 11 == 0 ? 1e-6f : 1.0f);
        if (t == QT_F16) {
            a->store(sa, big, N);
            r->store(sb, big, N);
            EXPECT(memcmp(sa, sb, sizeof sa) == 0);
        }
    }
}

// ---- prefix caching ----

static KvCacheConfig prefix_cfg(int64_t n_blocks) {
    KvCacheConfig c = small_cfg(QT_F32, n_blocks);
    c.prefix_caching = true;
    return c;
}

// Writes positions [from, to) of seq with tokens[pos] and K/V of (seq `as`, pos), then seals.
static void fill_seq(KvCache *kv, const KvCacheConfig *c, int64_t seq, int64_t as, const int32_t *tokens,
                     int64_t from, int64_t to) {
    ASSERT(kv_cache_reserve(kv, seq, to) == 0);
    kv_cache_set_len(kv, seq, to);
    for (int64_t p = from; p < to; p++) {
        float k[64], v[64];
        for (int64_t l = 0; l < c->n_layer; l++) {
            for (int64_t i = 0; i < c->n_kv_head * c->head_dim; i++)
                k[i] = kv_val(l, as, p, 0, i), v[i] = kv_val(l, as, p, 1, i);
            kv_cache_write(kv, l, seq, p, k, v);
        }
        kv_cache_set_token(kv, seq, p, tokens[p]);
    }
    kv_cache_seal(kv, seq);
}

TEST(kv_cache_prefix_share_and_refcount) {
    KvCacheConfig c = prefix_cfg(8);
    KvCache *kv = kv_cache_create(&c);
    ASSERT(kv);
    int32_t a[16], b[16];
    for (int i = 0; i < 16; i++) a[i] = b[i] = 100 + i;
    b[6] = 7;  // b shares a's first 6 tokens: one full block of 4
    fill_seq(kv, &c, 0, 0, a, 0, 11);  // two full blocks named, a partial third
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 5);
    EXPECT_EQ_INT(kv_cache_prefix_lookup(kv, a, 16, 16), 8);
    EXPECT_EQ_INT(kv_cache_prefix_lookup(kv, a, 16, 7), 4);   // capped by max_pos
    EXPECT_EQ_INT(kv_cache_prefix_lookup(kv, a, 3, 16), 0);   // shorter than a block
    EXPECT_EQ_INT(kv_cache_prefix_lookup(kv, b, 16, 16), 4);  // diverges inside block 1
    // A running sequence's full blocks are shared at once.
    EXPECT_EQ_INT(kv_cache_seq_attach(kv, 1, a, 8), 8);
    EXPECT_EQ_INT(kv_cache_seq_len(kv, 1), 8);
    EXPECT_EQ_INT(kv_cache_seq_blocks(kv, 1), 2);
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 5);  // shared: nothing taken
    float got[64];
    for (int64_t p = 0; p < 8; p++) {
        kv_cache_read(kv, 1, 1, p, 1, got);
        for (int64_t i = 0; i < c.n_kv_head * c.head_dim; i++) EXPECT(got[i] == kv_val(1, 0, p, 1, i));
    }
    // seq 1 continues privately from position 8: a new block, never a shared one.
    fill_seq(kv, &c, 1, 1, a, 8, 10);
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 4);
    kv_cache_read(kv, 0, 0, 9, 0, got);
    EXPECT(got[0] == kv_val(0, 0, 9, 0, 0));  // seq 0's position 9 untouched
    // Freeing seq 0: its two named blocks are still held by seq 1, the third goes back.
    kv_cache_seq_free(kv, 0);
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 5);
    EXPECT_EQ_INT(kv_cache_blocks_cached(kv), 0);
    kv_cache_seq_free(kv, 1);
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 8);
    EXPECT_EQ_INT(kv_cache_blocks_cached(kv), 2);  // kept, evictable
    EXPECT_EQ_INT(kv_cache_prefix_lookup(kv, a, 16, 16), 8);
    kv_cache_destroy(kv);
}

TEST(kv_cache_prefix_evicts_lru_tail_first) {
    KvCacheConfig c = prefix_cfg(4);
    KvCache *kv = kv_cache_create(&c);
    ASSERT(kv);
    int32_t a[16], d[16];
    for (int i = 0; i < 16; i++) a[i] = 1 + i, d[i] = 500 + i;
    fill_seq(kv, &c, 0, 0, a, 0, 12);  // three named blocks
    kv_cache_seq_free(kv, 0);
    EXPECT_EQ_INT(kv_cache_blocks_cached(kv), 3);
    // Needs 2 blocks: the never-named one, then the least recently freed cached one — a's last
    // block (freed first), so a's first two blocks stay findable.
    fill_seq(kv, &c, 1, 1, d, 0, 5);
    EXPECT_EQ_INT(kv_cache_blocks_cached(kv), 2);
    EXPECT_EQ_INT(kv_cache_prefix_lookup(kv, a, 16, 16), 8);
    // Taking everything evicts the rest; a block is never handed out while a sequence holds it.
    EXPECT_EQ_INT(kv_cache_reserve(kv, 1, 16), 0);
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 0);
    EXPECT_EQ_INT(kv_cache_prefix_lookup(kv, a, 16, 16), 0);
    EXPECT_EQ_INT(kv_cache_reserve(kv, 2, 1), ERR_FULL);
    kv_cache_seq_free(kv, 1);
    EXPECT_EQ_INT(kv_cache_blocks_free(kv), 4);
    EXPECT_EQ_INT(kv_cache_blocks_cached(kv), 1);  // d's one full block
    EXPECT_EQ_INT(kv_cache_prefix_lookup(kv, d, 16, 16), 4);
    kv_cache_destroy(kv);
}

TEST(kv_cache_prefix_off_names_nothing) {
    KvCacheConfig c = small_cfg(QT_F32, 4);
    KvCache *kv = kv_cache_create(&c);
    ASSERT(kv);
    int32_t a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    fill_seq(kv, &c, 0, 0, a, 0, 8);
    kv_cache_seq_free(kv, 0);
    EXPECT_EQ_INT(kv_cache_blocks_cached(kv), 0);
    EXPECT_EQ_INT(kv_cache_prefix_lookup(kv, a, 8, 8), 0);
    kv_cache_destroy(kv);
}
