// AVX2/FMA/F16C building blocks for the CPU decode kernels: GGUF block formats, int8 activation blocks, dot
// products, exp. Layouts are GGUF's, so a file's own blocks and ours are the same bytes:
//   Q8_0: {fp16 d; int8 qs[32]}        value = d * qs[i]                          34 bytes / 32 weights
//   Q4_1: {fp16 d; fp16 m; u8 qs[16]}  value = d * nibble + m (low nibbles: 0-15) 20 bytes / 32 weights
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace lh {

constexpr int QK = 32;  // weights per block
enum Fmt : int { Q8_0 = 0, Q4_1 = 1 };
inline int64_t block_bytes(int fmt) { return fmt == Q8_0 ? 34 : 20; }

inline float h2f(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// An activation row quantized in blocks of 32 (llama.cpp's Q8_1): qs int8[K], d[K/32] scales, s[K/32] = d * sum(qs).
struct XBlocks {
  const int8_t* qs;
  const float* d;
  const float* s;
};

inline void quantize_x(const float* x, int64_t K, int8_t* qs, float* d, float* s) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < K / QK; ++b) {
    const float* xb = x + b * QK;
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int j = 0; j < 4; ++j) {
      v[j] = _mm256_loadu_ps(xb + 8 * j);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[j]));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float mx = _mm_cvtss_f32(m4);
    const float scale = mx / 127.0f, inv = mx > 0.0f ? 127.0f / mx : 0.0f;
    __m256i q[4];
    for (int j = 0; j < 4; ++j)
      q[j] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[j], _mm256_set1_ps(inv)), _MM_FROUND_TO_NEAREST_INT));
    __m256i total = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + b * QK), _mm256_permutevar8x32_epi32(p, perm));
    d[b] = scale;
    s[b] = scale * hsum(_mm256_cvtepi32_ps(total));
  }
}

// sum_k W[row, k] * x[k] for one row of blocks against a quantized activation row.
inline float dot_row(const uint8_t* row, int fmt, const XBlocks& x, int64_t nb) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc = _mm256_setzero_ps();
  if (fmt == Q8_0) {
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = row + b * 34;
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + b * QK));
      const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(xv, w));
      const __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
      acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(blk) * x.d[b]), f, acc);
    }
    return hsum(acc);
  }
  const __m256i low = _mm256_set1_epi8(0x0F);
  float mins = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = row + b * 20;
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 4));
    const __m256i w = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), low);
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + b * QK));
    const __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(w, xv), ones));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(blk) * x.d[b]), f, acc);
    mins += h2f(blk + 2) * x.s[b];
  }
  return hsum(acc) + mins;
}

inline void dequantize_row(const uint8_t* row, int fmt, int64_t nb, float* out) {
  for (int64_t b = 0; b < nb; ++b) {
    float* o = out + b * QK;
    if (fmt == Q8_0) {
      const uint8_t* blk = row + b * 34;
      const float d = h2f(blk);
      for (int i = 0; i < QK; ++i) o[i] = d * static_cast<float>(static_cast<int8_t>(blk[2 + i]));
    } else {
      const uint8_t* blk = row + b * 20;
      const float d = h2f(blk), m = h2f(blk + 2);
      for (int i = 0; i < QK / 2; ++i) {
        o[i] = d * static_cast<float>(blk[4 + i] & 0x0F) + m;
        o[i + QK / 2] = d * static_cast<float>(blk[4 + i] >> 4) + m;
      }
    }
  }
}

// exp of 8 floats (Cephes polynomial, inputs clamped to +-88.37; relative error ~1e-7).
inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-88.3762626647949f)), _mm256_set1_ps(88.3762626647949f));
  __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(0x7f)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

}  // namespace lh
