/*
 * twophase: fused Adam / AdamW step over the flat parameter buffer.
 *
 * Kernel (extern "C", in twophase.fatbin and libtwophase_cuda.so):
 *
 *   tp_adam_kernel(float* p, const float* g, float* m, float* v, long long n,
 *                  float beta1, float one_minus_beta1, float beta2, float one_minus_beta2,
 *                  float step_size, float bc2_sqrt, float eps,
 *                  float l2_wd, float decay_factor, float grad_scale, const int* skip)
 *     grid  = tp_elementwise_grid(n) = min(ceil(n / (TP_BLOCK*4)), TP_MAX_GRID)
 *     block = TP_BLOCK
 *     skip may be NULL; when *skip != 0 the kernel returns before touching anything.
 *
 * Per element (tp_adam_update, the only place the math is written), every operation
 * rounded to float separately (IEEE round-to-nearest intrinsics, so nvcc cannot contract
 * them into FMAs) and in exactly this order, so that a plain float implementation in
 * Java or C that evaluates the same expressions left to right gets identical bits:
 *
 *   gs  = (grad * grad_scale) + (l2_wd * p)
 *   p   = p * decay_factor
 *   m   = (beta1 * m) + (one_minus_beta1 * gs)
 *   v   = (beta2 * v) + ((one_minus_beta2 * gs) * gs)
 *   den = (sqrt(v) / bc2_sqrt) + eps
 *   p   = p - ((step_size * m) / den)
 *
 * one_minus_beta1/2 come from the host (1 - beta in double, rounded to float, as PyTorch
 * does), not 1.0f - beta on the device.
 *
 * Memory plumbing: float4 loads/stores when p, g, m and v are all 16-byte aligned (then
 * the last n % 4 elements go through the scalar loop), scalar loads otherwise; grid-stride
 * loops with 64-bit indices. 28 bytes per element (4 reads, 3 writes).
 */
#include "common.cuh"

struct TpAdamScalars {
    float beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, bc2_sqrt, eps, l2_wd, decay_factor,
        grad_scale;
};

/* The Adam/AdamW math for one element; see the formula above. */
__device__ __forceinline__ void tp_adam_update(float &p, const float grad, float &m, float &v,
                                               const TpAdamScalars &s)
{
    const float gs = __fadd_rn(__fmul_rn(grad, s.grad_scale), __fmul_rn(s.l2_wd, p));
    p = __fmul_rn(p, s.decay_factor);
    m = __fadd_rn(__fmul_rn(s.beta1, m), __fmul_rn(s.one_minus_beta1, gs));
    v = __fadd_rn(__fmul_rn(s.beta2, v), __fmul_rn(__fmul_rn(s.one_minus_beta2, gs), gs));
    const float den = __fadd_rn(__fdiv_rn(__fsqrt_rn(v), s.bc2_sqrt), s.eps);
    p = __fsub_rn(p, __fdiv_rn(__fmul_rn(s.step_size, m), den));
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_adam_kernel(float *p, const float *g, float *m, float *v, long long n,
               float beta1, float one_minus_beta1, float beta2, float one_minus_beta2,
               float step_size, float bc2_sqrt, float eps,
               float l2_wd, float decay_factor, float grad_scale, const int *skip)
{
    if (skip != nullptr && *skip != 0) return;
    const TpAdamScalars s = {beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, bc2_sqrt, eps,
                             l2_wd, decay_factor, grad_scale};
    const long long first = tp_thread_index();
    const long long stride = tp_grid_stride();

    long long tail = 0;
    if (tp_aligned16(p) && tp_aligned16(g) && tp_aligned16(m) && tp_aligned16(v)) {
        const long long n4 = n / 4;
        float4 *p4 = reinterpret_cast<float4 *>(p);
        const float4 *g4 = reinterpret_cast<const float4 *>(g);
        float4 *m4 = reinterpret_cast<float4 *>(m);
        float4 *v4 = reinterpret_cast<float4 *>(v);
        for (long long i = first; i < n4; i += stride) {
            float4 pp = p4[i];
            const float4 gg = g4[i];
            float4 mm = m4[i];
            float4 vv = v4[i];
            tp_adam_update(pp.x, gg.x, mm.x, vv.x, s);
            tp_adam_update(pp.y, gg.y, mm.y, vv.y, s);
            tp_adam_update(pp.z, gg.z, mm.z, vv.z, s);
            tp_adam_update(pp.w, gg.w, mm.w, vv.w, s);
            p4[i] = pp;
            m4[i] = mm;
            v4[i] = vv;
        }
        tail = n4 * 4;
    }
    for (long long i = tail + first; i < n; i += stride) {
        float pp = p[i], mm = m[i], vv = v[i];
        tp_adam_update(pp, g[i], mm, vv, s);
        p[i] = pp;
        m[i] = mm;
        v[i] = vv;
    }
}

#ifndef TP_KERNELS_ONLY
extern "C" int tp_adam_step(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                            int64_t n, float beta1, float one_minus_beta1, float beta2,
                            float one_minus_beta2, float step_size,
                            float bias_correction2_sqrt, float eps, float l2_weight_decay,
                            float decay_factor, float grad_scale, const int *skip_flag)
{
    TP_REQUIRE(n >= 0);
    if (n == 0) return 0;
    TP_REQUIRE(param != nullptr && grad != nullptr && exp_avg != nullptr && exp_avg_sq != nullptr);
    const int grid = tp_elementwise_grid(n);
    TP_LAUNCH(tp_adam_kernel, grid, TP_BLOCK, param, grad, exp_avg, exp_avg_sq, (long long)n, beta1, one_minus_beta1,
              beta2, one_minus_beta2, step_size, bias_correction2_sqrt, eps, l2_weight_decay, decay_factor, grad_scale,
              skip_flag);
    TP_LAUNCH_CHECK();
    return 0;
}
#endif /* TP_KERNELS_ONLY */
