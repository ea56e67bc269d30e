/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "heat-sweep.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* One granule in plain C: the tails of the vector loops, and every granule without SSE2. */
static inline void sweep_one(uint8_t *heat, bool accessed, const HeatSweepParams *p, bool stats, unsigned before,
                             HeatSweepResult *res) {
        unsigned v = *heat, nv = accessed ? heat_sweep_accessed(v, p->keep) : heat_sweep_idle(v, p->keep);

        *heat = (uint8_t) nv;
        for (unsigned t = 0; t < HEAT_SWEEP_THRESHOLDS; t++)
                res->ge[t] += nv >= p->ge[t];
        if (stats && accessed) {
                res->any_accessed = true;
                if (v <= before && nv > res->max_masked)
                        res->max_masked = (uint8_t) nv;
        }
}

#ifdef __SSE2__

/* Granules per round of 8-bit counters: they must not wrap (255 adds at most). */
#define ROUND_VECTORS 255u

static inline __attribute__((always_inline)) void sweep_vectors(uint8_t *heat, const uint8_t *acc, bool all_accessed, size_t n_vec,
                                                                const HeatSweepParams *p, bool stats, unsigned before,
                                                                HeatSweepResult *res) {
        const __m128i zero = _mm_setzero_si128(), keep = _mm_set1_epi16((short) p->keep);
        const __m128i mul = _mm_set1_epi16((short) HEAT_SWEEP_MUL), weight = _mm_set1_epi8((char) HEAT_SWEEP_WEIGHT);
        const __m128i bias = _mm_set1_epi8((char) 0x80), bound = _mm_set1_epi8((char) before);
        __m128i thr[HEAT_SWEEP_THRESHOLDS], any = zero, mx = zero;

        for (unsigned t = 0; t < HEAT_SWEEP_THRESHOLDS; t++)
                thr[t] = _mm_set1_epi8((char) ((p->ge[t] - 1) ^ 0x80)); /* x ≥ t ⇔ (x ^ 0x80) > (t - 1) ^ 0x80, signed */

        for (size_t done = 0; done < n_vec;) {
                size_t round = n_vec - done < ROUND_VECTORS ? n_vec - done : ROUND_VECTORS;
                __m128i cnt[HEAT_SWEEP_THRESHOLDS];

                for (unsigned t = 0; t < HEAT_SWEEP_THRESHOLDS; t++)
                        cnt[t] = zero;
                for (size_t i = done; i < done + round; i++) {
                        __m128i v = _mm_loadu_si128((const __m128i *) (heat + 16 * i)), a, lo, hi, nv, x;

                        a = acc ? _mm_loadu_si128((const __m128i *) (acc + 16 * i)) : _mm_set1_epi8(all_accessed ? (char) 0xff : 0);
                        lo = _mm_mullo_epi16(_mm_unpacklo_epi8(v, zero), keep);
                        hi = _mm_mullo_epi16(_mm_unpackhi_epi8(v, zero), keep);
                        lo = _mm_srli_epi16(_mm_mulhi_epu16(lo, mul), HEAT_SWEEP_SHIFT - 16);
                        hi = _mm_srli_epi16(_mm_mulhi_epu16(hi, mul), HEAT_SWEEP_SHIFT - 16);
                        nv = _mm_adds_epu8(_mm_packus_epi16(lo, hi), _mm_and_si128(a, weight));
                        _mm_storeu_si128((__m128i *) (heat + 16 * i), nv);

                        x = _mm_xor_si128(nv, bias);
                        for (unsigned t = 0; t < HEAT_SWEEP_THRESHOLDS; t++)
                                cnt[t] = _mm_sub_epi8(cnt[t], _mm_cmpgt_epi8(x, thr[t]));
                        if (stats) {
                                __m128i le = _mm_cmpeq_epi8(_mm_max_epu8(v, bound), bound);

                                any = _mm_or_si128(any, a);
                                mx = _mm_max_epu8(mx, _mm_and_si128(nv, _mm_and_si128(le, a)));
                        }
                }
                for (unsigned t = 0; t < HEAT_SWEEP_THRESHOLDS; t++) {
                        __m128i s = _mm_sad_epu8(cnt[t], zero);

                        res->ge[t] += (uint64_t) _mm_cvtsi128_si32(s) + (uint64_t) _mm_cvtsi128_si32(_mm_srli_si128(s, 8));
                }
                done += round;
        }
        if (stats) {
                uint8_t m[16];

                if (_mm_movemask_epi8(_mm_cmpeq_epi8(any, zero)) != 0xffff)
                        res->any_accessed = true;
                _mm_storeu_si128((__m128i *) m, mx);
                for (unsigned i = 0; i < 16; i++)
                        if (m[i] > res->max_masked)
                                res->max_masked = m[i];
        }
}

static void sweep_vectors_plain(uint8_t *heat, const uint8_t *acc, bool all_accessed, size_t n_vec, const HeatSweepParams *p,
                                HeatSweepResult *res) {
        sweep_vectors(heat, acc, all_accessed, n_vec, p, false, 0, res);
}

static void sweep_vectors_stats(uint8_t *heat, const uint8_t *acc, bool all_accessed, size_t n_vec, const HeatSweepParams *p,
                                unsigned before, HeatSweepResult *res) {
        sweep_vectors(heat, acc, all_accessed, n_vec, p, true, before, res);
}

void heat_sweep(uint8_t *heat, const uint8_t *acc, bool all_accessed, size_t n, const HeatSweepParams *p, bool stats,
                unsigned before, HeatSweepResult *res) {
        size_t n_vec = n / 16;

        if (stats)
                sweep_vectors_stats(heat, acc, all_accessed, n_vec, p, before, res);
        else
                sweep_vectors_plain(heat, acc, all_accessed, n_vec, p, res);
        for (size_t i = n_vec * 16; i < n; i++)
                sweep_one(heat + i, acc ? acc[i] != 0 : all_accessed, p, stats, before, res);
}

bool heat_sweep_uniform(const uint8_t *heat, size_t n) {
        __m128i first = _mm_set1_epi8((char) heat[0]);
        size_t i = 0;

        for (; i + 16 <= n; i += 16)
                if (_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *) (heat + i)), first)) != 0xffff)
                        return false;
        for (; i < n; i++)
                if (heat[i] != heat[0])
                        return false;
        return true;
}

bool heat_sweep_plain_records(const uint8_t *buf, size_t n) {
        const __m128i low = _mm_set1_epi8(0x0f), zero = _mm_setzero_si128(), cmd = _mm_set1_epi8((char) 0xa0);
        __m128i bad = zero;
        size_t i = 0;

        for (; i + 16 <= n; i += 16) {
                __m128i x = _mm_loadu_si128((const __m128i *) (buf + i));

                /* type ≥ 10 (x ≥ 0xa0), or count 0 */
                bad = _mm_or_si128(bad, _mm_cmpeq_epi8(_mm_max_epu8(x, cmd), x));
                bad = _mm_or_si128(bad, _mm_cmpeq_epi8(_mm_and_si128(x, low), zero));
        }
        if (_mm_movemask_epi8(bad) != 0)
                return false;
        for (; i < n; i++)
                if (buf[i] >= 0xa0 || (buf[i] & 0x0f) == 0)
                        return false;
        return true;
}

#else /* !__SSE2__ */

void heat_sweep(uint8_t *heat, const uint8_t *acc, bool all_accessed, size_t n, const HeatSweepParams *p, bool stats,
                unsigned before, HeatSweepResult *res) {
        for (size_t i = 0; i < n; i++)
                sweep_one(heat + i, acc ? acc[i] != 0 : all_accessed, p, stats, before, res);
}

bool heat_sweep_uniform(const uint8_t *heat, size_t n) {
        for (size_t i = 1; i < n; i++)
                if (heat[i] != heat[0])
                        return false;
        return true;
}

bool heat_sweep_plain_records(const uint8_t *buf, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (buf[i] >= 0xa0 || (buf[i] & 0x0f) == 0)
                        return false;
        return true;
}

#endif
