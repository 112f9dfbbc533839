// Shared pieces of the CPU decode kernels (ops.cpp, step.cpp): row-parallel GEMV and one-query attention over an
// fp16 KV cache. Both are written for use inside an OpenMP parallel region (orphaned `omp for`); called outside
// one they run on the calling thread.
#pragma once
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "simd.h"

namespace lh {

// y[n] = W[n, :] . x for rows n in [0, N); W: N rows of nb blocks of `fmt`.
inline void gemv_for(const uint8_t* W, int fmt, int64_t N, int64_t nb, const XBlocks& x, float* y) {
  const int64_t rb = nb * block_bytes(fmt);
#pragma omp for schedule(static)
  for (int64_t n = 0; n < N; ++n) y[n] = dot_row(W + n * rb, fmt, x, nb);
}

// One query per head against keys [0, n) of one layer: q (H, D) f32; k, v fp16 (Hkv, cap, D); out (H, D) f32.
struct AttnShape {
  int64_t H, Hkv, D, cap;
};

inline int64_t attn_splits(int64_t n) { return std::clamp<int64_t>((n + 511) / 512, 1, 16); }
inline int64_t attn_scratch(const AttnShape& s, int64_t n) {
  return s.Hkv * attn_splits(n) * (s.H / s.Hkv) * (s.D + 2);
}

void attention_for(const float* q, const uint16_t* k, const uint16_t* v, int64_t n, const AttnShape& s, float scale,
                   float* scratch, float* out);

// A decode step of the whole model (defined in step.cpp).
at::Tensor decode_step(int64_t token, int64_t pos, const at::Tensor& embed, const std::vector<at::Tensor>& layers,
                       const at::Tensor& k_cache, const at::Tensor& v_cache, const at::Tensor& cos,
                       const at::Tensor& sin, const at::Tensor& norm, const at::Tensor& head, int64_t fmt,
                       int64_t head_fmt, int64_t n_heads, int64_t n_kv_heads, double eps);

}  // namespace lh
