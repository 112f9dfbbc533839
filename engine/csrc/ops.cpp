// GEMV on GGUF blocks, dequantization, one-query attention over an fp16 cache; the Python bindings.
#include <omp.h>

#include "kernels.h"

namespace lh {

namespace {

// fp16 rows [0, n * D) -> f32
void widen(const uint16_t* src, int64_t count, float* dst) {
  for (int64_t i = 0; i < count; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
}

// s[t] = scale * q . k[t] for t < n; k: (n, D) f32. Four keys at a time, one accumulator each (independent chains).
void scores(const float* q, const float* k, int64_t n, int64_t D, float scale, float* s) {
  int64_t t = 0;
  for (; t + 4 <= n; t += 4) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const float* kt = k + t * D;
    for (int64_t d = 0; d < D; d += 8) {
      const __m256 qv = _mm256_loadu_ps(q + d);
      a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kt + d), a0);
      a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kt + D + d), a1);
      a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kt + 2 * D + d), a2);
      a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kt + 3 * D + d), a3);
    }
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));  // [s0..s3 | s0..s3] halves
    const __m128 r = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    _mm_storeu_ps(s + t, _mm_mul_ps(r, _mm_set1_ps(scale)));
  }
  for (; t < n; ++t) {
    __m256 a = _mm256_setzero_ps();
    for (int64_t d = 0; d < D; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(k + t * D + d), a);
    s[t] = hsum(a) * scale;
  }
}

// acc[0, D) += sum_t p[t] * v[t]; v: (n, D) f32. Columns in strips of 64 held in eight registers.
void weighted_sum(const float* p, const float* v, int64_t n, int64_t D, float* acc) {
  int64_t d0 = 0;
  for (; d0 + 64 <= D; d0 += 64) {
    __m256 r[8];
    for (int j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(acc + d0 + 8 * j);
    for (int64_t t = 0; t < n; ++t) {
      const __m256 w = _mm256_set1_ps(p[t]);
      const float* vt = v + t * D + d0;
      for (int j = 0; j < 8; ++j) r[j] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vt + 8 * j), r[j]);
    }
    for (int j = 0; j < 8; ++j) _mm256_storeu_ps(acc + d0 + 8 * j, r[j]);
  }
  for (int64_t t = 0; t < n && d0 < D; ++t)  // head_dim not a multiple of 64: the rest, through memory
    for (int64_t d = d0; d < D; d += 8)
      _mm256_storeu_ps(acc + d, _mm256_fmadd_ps(_mm256_set1_ps(p[t]), _mm256_loadu_ps(v + t * D + d),
                                                _mm256_loadu_ps(acc + d)));
}

// Keys [t0, t1) of one KV head for its G queries: res = {m[G], l[G], acc[G * D]} (max score, sum of exp, sum p*v).
void attn_chunk(const float* q, int64_t G, int64_t D, const uint16_t* k, const uint16_t* v, int64_t t0, int64_t t1,
                float scale, float* res) {
  thread_local std::vector<float> sbuf, rows;
  const int64_t n = t1 - t0;
  float *m = res, *l = res + G, *acc = res + 2 * G;
  std::fill(acc, acc + G * D, 0.0f);
  if (n <= 0) {
    std::fill(m, m + G, -INFINITY);
    std::fill(l, l + G, 0.0f);
    return;
  }
  sbuf.resize(G * n);
  rows.resize(n * D);
  widen(k + t0 * D, n * D, rows.data());
  for (int64_t g = 0; g < G; ++g) scores(q + g * D, rows.data(), n, D, scale, sbuf.data() + g * n);
  for (int64_t g = 0; g < G; ++g) {
    float* s = sbuf.data() + g * n;
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; ++i) mx = std::max(mx, s[i]);
    __m256 sum8 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256 p = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + i), _mm256_set1_ps(mx)));
      _mm256_storeu_ps(s + i, p);
      sum8 = _mm256_add_ps(sum8, p);
    }
    float sum = hsum(sum8);
    for (; i < n; ++i) sum += (s[i] = std::exp(s[i] - mx));
    m[g] = mx;
    l[g] = sum;
  }
  widen(v + t0 * D, n * D, rows.data());
  for (int64_t g = 0; g < G; ++g) weighted_sum(sbuf.data() + g * n, rows.data(), n, D, acc + g * D);
}

}  // namespace

void attention_for(const float* q, const uint16_t* k, const uint16_t* v, int64_t n, const AttnShape& s, float scale,
                   float* scratch, float* out) {
  const int64_t G = s.H / s.Hkv, S = attn_splits(n), chunk = (n + S - 1) / S, stride = G * (s.D + 2);
#pragma omp for schedule(dynamic, 1)
  for (int64_t item = 0; item < s.Hkv * S; ++item) {
    const int64_t h = item / S, i = item % S, t0 = std::min(n, i * chunk), t1 = std::min(n, t0 + chunk);
    attn_chunk(q + h * G * s.D, G, s.D, k + h * s.cap * s.D, v + h * s.cap * s.D, t0, t1, scale,
               scratch + item * stride);
  }
#pragma omp for schedule(static)
  for (int64_t h = 0; h < s.H; ++h) {
    const int64_t kh = h / G, g = h % G;
    float mx = -INFINITY;
    for (int64_t i = 0; i < S; ++i) mx = std::max(mx, scratch[(kh * S + i) * stride + g]);
    float total = 0.0f;
    float* o = out + h * s.D;
    std::fill(o, o + s.D, 0.0f);
    for (int64_t i = 0; i < S; ++i) {
      const float* r = scratch + (kh * S + i) * stride;
      const float w = r[g] == -INFINITY ? 0.0f : std::exp(r[g] - mx);
      total += w * r[G + g];
      for (int64_t d = 0; d < s.D; ++d) o[d] += w * r[2 * G + g * s.D + d];
    }
    for (int64_t d = 0; d < s.D; ++d) o[d] /= total;
  }
}

namespace {

void check_blocks(const at::Tensor& blocks, int64_t fmt) {
  TORCH_CHECK(fmt == Q8_0 || fmt == Q4_1, "unknown block format ", fmt, " (0 = Q8_0, 1 = Q4_1)");
  TORCH_CHECK(blocks.dim() == 2 && blocks.scalar_type() == at::kByte && blocks.is_contiguous() && blocks.is_cpu(),
              "weights must be contiguous uint8 CPU blocks (N, K / 32 * bytes_per_block)");
  TORCH_CHECK(blocks.size(1) % block_bytes(fmt) == 0, "row bytes not a whole number of blocks");
}

// x (M, K) f32 times blocks (N, K) -> (M, N)
at::Tensor gemv(const at::Tensor& x_in, const at::Tensor& blocks, int64_t fmt) {
  check_blocks(blocks, fmt);
  const at::Tensor x = x_in.contiguous().to(at::kFloat);
  const int64_t nb = blocks.size(1) / block_bytes(fmt), K = nb * QK, N = blocks.size(0);
  TORCH_CHECK(x.dim() == 2 && x.size(1) == K, "x must be (M, ", K, ")");
  const int64_t M = x.size(0);
  at::Tensor y = at::empty({M, N}, x.options());
  std::vector<int8_t> qs(M * K);
  std::vector<float> d(M * nb), s(M * nb);
  for (int64_t r = 0; r < M; ++r) quantize_x(x.data_ptr<float>() + r * K, K, &qs[r * K], &d[r * nb], &s[r * nb]);
  const uint8_t* W = blocks.data_ptr<uint8_t>();
  float* out = y.data_ptr<float>();
  const int64_t rb = blocks.size(1);
#pragma omp parallel for schedule(static) num_threads(at::get_num_threads())
  for (int64_t n = 0; n < N; ++n)
    for (int64_t r = 0; r < M; ++r) out[r * N + n] = dot_row(W + n * rb, fmt, XBlocks{&qs[r * K], &d[r * nb], &s[r * nb]}, nb);
  return y;
}

at::Tensor dequantize(const at::Tensor& blocks, int64_t fmt) {
  check_blocks(blocks, fmt);
  const int64_t nb = blocks.size(1) / block_bytes(fmt), N = blocks.size(0), rb = blocks.size(1);
  at::Tensor out = at::empty({N, nb * QK}, at::kFloat);
  const uint8_t* W = blocks.data_ptr<uint8_t>();
  float* o = out.data_ptr<float>();
#pragma omp parallel for schedule(static) num_threads(at::get_num_threads())
  for (int64_t n = 0; n < N; ++n) dequantize_row(W + n * rb, fmt, nb, o + n * nb * QK);
  return out;
}

// q (H, D) f32; k, v (Hkv, cap, D) fp16; first n keys -> (H, D)
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t n, double scale) {
  TORCH_CHECK(q.dim() == 2 && q.scalar_type() == at::kFloat && q.is_contiguous(), "q must be contiguous (H, D) f32");
  TORCH_CHECK(k.dim() == 3 && k.scalar_type() == at::kHalf && k.is_contiguous() && v.sizes() == k.sizes() &&
                  v.scalar_type() == at::kHalf && v.is_contiguous(), "k, v must be contiguous (Hkv, cap, D) fp16");
  const AttnShape s{q.size(0), k.size(0), q.size(1), k.size(1)};
  TORCH_CHECK(s.D == k.size(2) && s.D % 8 == 0 && s.H % s.Hkv == 0 && n >= 1 && n <= s.cap, "bad attention shapes");
  std::vector<float> scratch(attn_scratch(s, n));
  at::Tensor out = at::empty({s.H, s.D}, q.options());
  const auto* kp = reinterpret_cast<const uint16_t*>(k.data_ptr<at::Half>());
  const auto* vp = reinterpret_cast<const uint16_t*>(v.data_ptr<at::Half>());
#pragma omp parallel num_threads(at::get_num_threads())
  attention_for(q.data_ptr<float>(), kp, vp, n, s, static_cast<float>(scale), scratch.data(), out.data_ptr<float>());
  return out;
}

}  // namespace
}  // namespace lh

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("gemv", &lh::gemv, "x (M, K) f32 times GGUF blocks (N, K) -> (M, N); x quantized to int8 blocks");
  m.def("dequantize", &lh::dequantize, "GGUF blocks (N, row bytes) -> (N, K) f32");
  m.def("decode_attention", &lh::decode_attention, "one query per head over an fp16 cache");
  m.def("decode_step", &lh::decode_step, "one decode step of the whole model; returns logits (vocab,)");
  m.def("max_threads", []() { return omp_get_max_threads(); });
}
