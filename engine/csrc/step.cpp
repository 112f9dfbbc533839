// One decode step of a Llama-family model on quantized weights, in one OpenMP parallel region:
//   x = embed[token]; per layer: x += wo(attn(rope(wqkv(rms(x))))); x += w2(silu(gate) * up), gate|up = w13(rms(x));
//   logits = head(rms(x)). K and V of the token go into the fp16 cache at `pos`; attention reads keys [0, pos].
// Serial pieces (norms, rope, activation quantization) run in `omp single`; GEMV rows and attention splits are
// shared by the threads.
#include "kernels.h"

namespace lh {

namespace {

constexpr int kPerLayer = 7;  // attn_norm, wqkv, qkv bias (empty if none), wo, mlp_norm, w13, w2

struct Act {  // an activation row and its int8 blocks
  std::vector<int8_t> qs;
  std::vector<float> d, s;
  explicit Act(int64_t kmax) : qs(kmax), d(kmax / QK), s(kmax / QK) {}
  XBlocks quantize(const float* x, int64_t K) {
    quantize_x(x, K, qs.data(), d.data(), s.data());
    return XBlocks{qs.data(), d.data(), s.data()};
  }
};

void rmsnorm(const float* x, const float* w, int64_t n, double eps, float* out) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float r = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = w[i] * (x[i] * r);
}

void rope(float* x, const float* cos, const float* sin, int64_t D) {  // HF rotate-half
  const int64_t half = D / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float a = x[i], b = x[i + half];
    x[i] = a * cos[i] - b * sin[i];
    x[i + half] = b * cos[i + half] + a * sin[i + half];
  }
}

int64_t blocks_of(const at::Tensor& w, int64_t fmt) { return w.size(1) / block_bytes(fmt); }

}  // namespace

at::Tensor decode_step(int64_t token, int64_t pos, const at::Tensor& embed, const std::vector<at::Tensor>& layers,
                       const at::Tensor& k_cache, const at::Tensor& v_cache, const at::Tensor& cos,
                       const at::Tensor& sin, const at::Tensor& norm, const at::Tensor& head, int64_t fmt,
                       int64_t head_fmt, int64_t n_heads, int64_t n_kv_heads, double eps) {
  const int64_t L = static_cast<int64_t>(layers.size()) / kPerLayer, dim = embed.size(1), V = head.size(0);
  TORCH_CHECK(static_cast<int64_t>(layers.size()) == L * kPerLayer && L > 0, "layers: 7 tensors per layer");
  TORCH_CHECK(k_cache.dim() == 5 && k_cache.size(0) == L && k_cache.size(1) == 1 && k_cache.size(2) == n_kv_heads &&
                  k_cache.scalar_type() == at::kHalf && k_cache.is_contiguous() && v_cache.sizes() == k_cache.sizes() &&
                  v_cache.scalar_type() == at::kHalf && v_cache.is_contiguous(),
              "KV cache must be contiguous fp16 (n_layers, 1, n_kv_heads, capacity, head_dim)");
  const AttnShape as{n_heads, n_kv_heads, k_cache.size(4), k_cache.size(3)};
  const int64_t D = as.D, qd = n_heads * D, kvd = n_kv_heads * D;
  TORCH_CHECK(0 <= token && token < embed.size(0) && 0 <= pos && pos < as.cap, "token or position out of range");
  TORCH_CHECK(cos.numel() == D && sin.numel() == D && D % 8 == 0 && dim % QK == 0, "bad rope row or head_dim");
  const int64_t F = layers[6].size(0) == dim ? blocks_of(layers[6], fmt) * QK : 0;  // ffn_dim from w2's K
  TORCH_CHECK(F > 0 && layers[5].size(0) == 2 * F, "w13 must be (2 * ffn_dim, dim), w2 (dim, ffn_dim)");

  std::vector<float> x(embed.data_ptr<float>() + token * dim, embed.data_ptr<float>() + (token + 1) * dim);
  std::vector<float> h(dim), o(dim), qkv(qd + 2 * kvd), att(qd), ff(2 * F), scratch(attn_scratch(as, pos + 1));
  at::Tensor logits = at::empty({1, V}, embed.options());
  Act act(std::max(dim, F));
  XBlocks xb{};
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  auto* kc = reinterpret_cast<uint16_t*>(k_cache.data_ptr<at::Half>());
  auto* vc = reinterpret_cast<uint16_t*>(v_cache.data_ptr<at::Half>());
  const int64_t layer_stride = n_kv_heads * as.cap * D;

#pragma omp parallel num_threads(at::get_num_threads())
  {
    for (int64_t l = 0; l < L; ++l) {
      const at::Tensor* w = &layers[l * kPerLayer];
      uint16_t *kl = kc + l * layer_stride, *vl = vc + l * layer_stride;
#pragma omp single
      {
        rmsnorm(x.data(), w[0].data_ptr<float>(), dim, eps, h.data());
        xb = act.quantize(h.data(), dim);
      }
      gemv_for(w[1].data_ptr<uint8_t>(), fmt, qd + 2 * kvd, dim / QK, xb, qkv.data());
#pragma omp single
      {
        if (w[2].numel() > 0)
          for (int64_t i = 0; i < qd + 2 * kvd; ++i) qkv[i] += w[2].data_ptr<float>()[i];
        for (int64_t hh = 0; hh < n_heads + n_kv_heads; ++hh) rope(&qkv[hh * D], cos.data_ptr<float>(), sin.data_ptr<float>(), D);
        for (int64_t hh = 0; hh < n_kv_heads; ++hh)
          for (int64_t d = 0; d < D; d += 8) {
            const int64_t at_ = (hh * as.cap + pos) * D + d;
            const __m128i kh = _mm256_cvtps_ph(_mm256_loadu_ps(&qkv[qd + hh * D + d]), _MM_FROUND_TO_NEAREST_INT);
            const __m128i vh = _mm256_cvtps_ph(_mm256_loadu_ps(&qkv[qd + kvd + hh * D + d]), _MM_FROUND_TO_NEAREST_INT);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(kl + at_), kh);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(vl + at_), vh);
          }
      }
      attention_for(qkv.data(), kl, vl, pos + 1, as, scale, scratch.data(), att.data());
#pragma omp single
      xb = act.quantize(att.data(), qd);
      gemv_for(w[3].data_ptr<uint8_t>(), fmt, dim, qd / QK, xb, o.data());
#pragma omp single
      {
        for (int64_t i = 0; i < dim; ++i) x[i] += o[i];
        rmsnorm(x.data(), w[4].data_ptr<float>(), dim, eps, h.data());
        xb = act.quantize(h.data(), dim);
      }
      gemv_for(w[5].data_ptr<uint8_t>(), fmt, 2 * F, dim / QK, xb, ff.data());
#pragma omp single
      {
        for (int64_t i = 0; i < F; ++i) ff[i] = ff[i] / (1.0f + std::exp(-ff[i])) * ff[F + i];
        xb = act.quantize(ff.data(), F);
      }
      gemv_for(w[6].data_ptr<uint8_t>(), fmt, dim, F / QK, xb, o.data());
#pragma omp single
      for (int64_t i = 0; i < dim; ++i) x[i] += o[i];
    }
#pragma omp single
    {
      rmsnorm(x.data(), norm.data_ptr<float>(), dim, eps, h.data());
      xb = act.quantize(h.data(), dim);
    }
    gemv_for(head.data_ptr<uint8_t>(), head_fmt, V, dim / QK, xb, logits.data_ptr<float>());
  }
  return logits;
}

}  // namespace lh
