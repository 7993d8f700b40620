/* Fused attention for short bfloat16 sequences on an AVX-512 BF16 CPU (recsys/search/attention.py).

   One (text, head) pair at a time, all in fp32 registers and a few KiB of cache: keys and values are widened to
   fp32 once, scores come 4 query rows by up to 64 keys per pass, softmax uses a polynomial exp, and the weighted
   values are rounded to bfloat16 once at the end. Padded keys are dropped before any work. */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define MAXL 512 /* longest sequence taken (BERT-style models read at most 512 tokens) */
#define MAXD 64  /* widest head taken: 16, 32, 48 or 64 */
#define RB 4     /* query rows per pass */
#define AI static inline __attribute__((always_inline))

/* e^x for x <= 0: 2^n * 2^f with |f| <= 0.5, 2^f by a degree-6 polynomial (relative error below 2e-7). */
AI __m512 exp512(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.f));
  __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f));
  __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_sub_ps(t, n);
  __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.339887440266574e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618437357674640e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550332471162809e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402264791363012e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931472028550421e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, n);
}

AI float widen(uint16_t x) {
  union { uint32_t u; float f; } a;
  a.u = (uint32_t)x << 16;
  return a.f;
}

/* Scores of RB query rows (qf) against key vectors c0 .. c0+CN-1 (16 keys each, kt is keys x dims transposed). */
AI void scores(float *s, long ss, const float *kt, long ks, const float *qf, long D, long c0, const int CN,
               float scale) {
  __m512 acc[RB][4];
  for (int r = 0; r < RB; r++)
    for (int c = 0; c < CN; c++) acc[r][c] = _mm512_setzero_ps();
  for (long d = 0; d < D; d++) {
    __m512 kv[4];
    for (int c = 0; c < CN; c++) kv[c] = _mm512_load_ps(kt + d * ks + (c0 + c) * 16);
    for (int r = 0; r < RB; r++) {
      __m512 qb = _mm512_set1_ps(qf[r * D + d]);
      for (int c = 0; c < CN; c++) acc[r][c] = _mm512_fmadd_ps(qb, kv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < RB; r++)
    for (int c = 0; c < CN; c++) _mm512_store_ps(s + r * ss + (c0 + c) * 16, _mm512_mul_ps(acc[r][c], _mm512_set1_ps(scale)));
}

/* Softmax of one row of nk scores in place (the padding after nk becomes 0). */
AI void softmax(float *s, long nk) {
  long nv = (nk + 15) / 16;
  __mmask16 tail = nk % 16 ? (__mmask16)((1u << (nk % 16)) - 1) : (__mmask16)0xFFFF;
  __m512 m = _mm512_set1_ps(-INFINITY);
  for (long c = 0; c < nv; c++) m = _mm512_mask_max_ps(m, c == nv - 1 ? tail : 0xFFFF, m, _mm512_load_ps(s + c * 16));
  __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(m));
  __m512 sum = _mm512_setzero_ps();
  for (long c = 0; c < nv; c++) {
    __m512 e = _mm512_maskz_mov_ps(c == nv - 1 ? tail : 0xFFFF, exp512(_mm512_sub_ps(_mm512_load_ps(s + c * 16), mx)));
    _mm512_store_ps(s + c * 16, e);
    sum = _mm512_add_ps(sum, e);
  }
  __m512 inv = _mm512_set1_ps(1.f / _mm512_reduce_add_ps(sum));
  for (long c = 0; c < nv; c++) _mm512_store_ps(s + c * 16, _mm512_mul_ps(_mm512_load_ps(s + c * 16), inv));
}

/* rb output rows (of RB computed): probabilities s times the nk value rows vf, rounded to bfloat16. */
AI void weighted(uint16_t *out, long ostride, long rb, const float *s, long ss, const float *vf, long nk, const int DV) {
  __m512 o[RB][4];
  for (int r = 0; r < RB; r++)
    for (int e = 0; e < DV; e++) o[r][e] = _mm512_setzero_ps();
  for (long j = 0; j < nk; j++) {
    __m512 vv[4];
    for (int e = 0; e < DV; e++) vv[e] = _mm512_load_ps(vf + j * DV * 16 + e * 16);
    for (int r = 0; r < RB; r++) {
      __m512 p = _mm512_set1_ps(s[r * ss + j]);
      for (int e = 0; e < DV; e++) o[r][e] = _mm512_fmadd_ps(p, vv[e], o[r][e]);
    }
  }
  for (long r = 0; r < rb; r++)
    for (int e = 0; e < DV; e++)
      _mm256_storeu_si256((__m256i *)(out + r * ostride + e * 16), (__m256i)_mm512_cvtneps_pbh(o[r][e]));
}

/* One (text, head): q, k, v point at its first row (rows sl apart), keep at its L key flags (or NULL). */
AI void one_head(const uint16_t *q, const uint16_t *k, const uint16_t *v, const uint8_t *keep, uint16_t *out,
                 long L, long sl, long ostride, float scale, float *buf, const int DV) {
  const long D = DV * 16;
  float *kt = buf, *vf = kt + MAXD * MAXL, *s = vf + MAXL * MAXD, *qf = s + RB * MAXL;
  long nk = 0;
  for (long j = 0; j < L; j++)
    if (!keep || keep[j]) nk++;
  long nv = (nk + 15) / 16, ks = nv * 16;
  for (long j = 0, jj = 0; j < L; j++) {
    if (keep && !keep[j]) continue;
    for (long d = 0; d < D; d++) {
      kt[d * ks + jj] = widen(k[j * sl + d]);
      vf[jj * D + d] = widen(v[j * sl + d]);
    }
    jj++;
  }
  for (long jj = nk; jj < ks; jj++)
    for (long d = 0; d < D; d++) kt[d * ks + jj] = 0.f;
  for (long i0 = 0; i0 < L; i0 += RB) {
    long rb = L - i0 < RB ? L - i0 : RB;
    if (nk == 0) { /* nothing to attend to: zeros, where sdpa would give NaN */
      for (long r = 0; r < rb; r++)
        for (long d = 0; d < D; d++) out[(i0 + r) * ostride + d] = 0;
      continue;
    }
    for (long r = 0; r < RB; r++) {
      const uint16_t *qr = q + (i0 + (r < rb ? r : 0)) * sl;
      for (long d = 0; d < D; d++) qf[r * D + d] = widen(qr[d]);
    }
    long c0 = 0;
    for (; c0 + 4 <= nv; c0 += 4) scores(s, ks, kt, ks, qf, D, c0, 4, scale);
    switch (nv - c0) {
      case 3: scores(s, ks, kt, ks, qf, D, c0, 3, scale); break;
      case 2: scores(s, ks, kt, ks, qf, D, c0, 2, scale); break;
      case 1: scores(s, ks, kt, ks, qf, D, c0, 1, scale); break;
    }
    for (long r = 0; r < RB; r++) softmax(s + r * ks, nk);
    weighted(out + i0 * ostride, ostride, rb, s, ks, vf, nk, DV);
  }
}

/* softmax(q k^T * scale) v for B texts x H heads. q, k, v: bfloat16 element [b*sb + l*sl + h*sh + d] (the same
   strides for all three, d contiguous); keep: B x L bytes, nonzero where a key is attended to, or NULL for all;
   out: bfloat16 B x L x H x D. Runs on `threads` OpenMP threads. 0 when done, 1 for a shape it does not take. */
int attend_bf16(const uint16_t *q, const uint16_t *k, const uint16_t *v, const uint8_t *keep, uint16_t *out,
                long B, long H, long L, long D, long sb, long sl, long sh, float scale, int threads) {
  if (D % 16 || D < 16 || D > MAXD || L < 1 || L > MAXL) return 1;
  const size_t floats = 2 * MAXD * MAXL + RB * MAXL + RB * MAXD;
  int failed = 0;
#pragma omp parallel num_threads(threads)
  {
    float *buf = aligned_alloc(64, floats * sizeof(float));
    if (!buf) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp for schedule(static)
    for (long bh = 0; bh < B * H; bh++) {
      if (!buf) continue;
      long b = bh / H, h = bh % H, off = b * sb + h * sh;
      const uint8_t *kp = keep ? keep + b * L : NULL;
      uint16_t *o = out + (b * L * H + h) * D;
      switch (D / 16) {
        case 1: one_head(q + off, k + off, v + off, kp, o, L, sl, H * D, scale, buf, 1); break;
        case 2: one_head(q + off, k + off, v + off, kp, o, L, sl, H * D, scale, buf, 2); break;
        case 3: one_head(q + off, k + off, v + off, kp, o, L, sl, H * D, scale, buf, 3); break;
        case 4: one_head(q + off, k + off, v + off, kp, o, L, sl, H * D, scale, buf, 4); break;
      }
    }
    free(buf);
  }
  return failed ? 2 : 0;
}
