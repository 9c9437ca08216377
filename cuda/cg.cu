/*
 * twophase: vector ops of nonlinear Conjugate Gradient.
 *
 * Kernels (extern "C", in twophase.fatbin and libtwophase_cuda.so), block = TP_BLOCK:
 *
 *   tp_multi_dot_partials(const float* x, const float* y0, const float* y1,
 *                         const float* y2, const float* y3, int k, long long n,
 *                         double* partials)
 *     grid G = tp_elementwise_grid(n) (depends only on n); y_j for j >= k may be NULL.
 *     Writes partials[j*G + blockIdx.x] for j < k (1 <= k <= TP_MAX_DOTS).
 *   tp_reduce_partials(const double* partials, int k, int nparts, double* out)
 *     grid = k, nparts = G; out[j] = sum of partials[j*nparts + 0 .. nparts-1].
 *   tp_cg_direction_kernel(float* d, const float* g, float* g_prev, long long n, float beta)
 *     grid = tp_elementwise_grid(n); d = -g + beta*d and g_prev = g.
 *   tp_trial_point_kernel(float* x, const float* x0, const float* d, long long n, float alpha)
 *     grid = tp_elementwise_grid(n); x = x0 + alpha*d (x may alias x0).
 *   tp_axpy_kernel(float a, const float* x, float* y, long long n)
 *     grid = tp_elementwise_grid(n); y = y + a*x.
 *
 * Multi-dot: each thread accumulates (double)x[i] * (double)y_j[i] (the product of two
 * floats is exact in double) over its grid-stride elements, then a fixed shared-memory
 * tree per block, then one block per j sums the partials in a fixed order: deterministic
 * two-pass reduction, no atomics. Both reduction kernels need blockDim.x == TP_BLOCK and
 * write NaN if launched otherwise (a loud wrong answer rather than a silent one).
 *
 * Elementwise math, each operation rounded separately (no FMA contraction), so a plain
 * float implementation evaluating the same expression gets identical bits:
 *   direction: d = (-g) + (beta * d)        trial point: x = x0 + (alpha * d)
 *   axpy:      y = y + (a * x)
 * Bytes per element: multi-dot (k+1)*4 read; direction 16 (g, d read; d, g_prev written);
 * trial point 12 (x0, d read; x written); axpy 12 (x, y read; y written).
 */
#include "common.cuh"

/* ------------------------------------------------------------------ multi-dot */

/* The K dot products of one block: per-thread double accumulation over the grid-stride
 * elements, then one fixed shared-memory tree per j; thread 0 writes the partials. K is
 * a template parameter so that acc[] stays in registers. */
template <int K>
__device__ __forceinline__ void tp_multi_dot_block(const float *x, const float *const (&y)[TP_MAX_DOTS],
                                                   long long n, double *partials, double *sh)
{
    const long long first = tp_thread_index();
    const long long stride = tp_grid_stride();
    double acc[K];
#pragma unroll
    for (int j = 0; j < K; ++j) acc[j] = 0.0;
    bool aligned = tp_aligned16(x);
#pragma unroll
    for (int j = 0; j < K; ++j) aligned = aligned && tp_aligned16(y[j]);

    long long tail = 0;
    if (aligned) {
        const long long n4 = n / 4;
        const float4 *x4 = reinterpret_cast<const float4 *>(x);
        for (long long i = first; i < n4; i += stride) {
            const float4 a = x4[i];
#pragma unroll
            for (int j = 0; j < K; ++j) {
                const float4 b = reinterpret_cast<const float4 *>(y[j])[i];
                acc[j] += (double)a.x * (double)b.x;
                acc[j] += (double)a.y * (double)b.y;
                acc[j] += (double)a.z * (double)b.z;
                acc[j] += (double)a.w * (double)b.w;
            }
        }
        tail = n4 * 4;
    }
    for (long long i = tail + first; i < n; i += stride) {
        const double a = (double)x[i];
#pragma unroll
        for (int j = 0; j < K; ++j) acc[j] += a * (double)y[j][i];
    }
#pragma unroll
    for (int j = 0; j < K; ++j) {
        const double s = tp_block_sum(acc[j], sh);
        if (threadIdx.x == 0) partials[(long long)j * gridDim.x + blockIdx.x] = s;
        __syncthreads(); /* sh is reused by the next j */
    }
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_multi_dot_partials(const float *x, const float *y0, const float *y1, const float *y2,
                      const float *y3, int k, long long n, double *partials)
{
    __shared__ double sh[TP_BLOCK];
    if (k < 1 || k > TP_MAX_DOTS) return;
    if (blockDim.x != TP_BLOCK) {
        if (threadIdx.x == 0)
            for (int j = 0; j < k; ++j) partials[(long long)j * gridDim.x + blockIdx.x] = tp_nan();
        return;
    }
    const float *const y[TP_MAX_DOTS] = {y0, y1, y2, y3};
    switch (k) {
    case 1: tp_multi_dot_block<1>(x, y, n, partials, sh); break;
    case 2: tp_multi_dot_block<2>(x, y, n, partials, sh); break;
    case 3: tp_multi_dot_block<3>(x, y, n, partials, sh); break;
    default: tp_multi_dot_block<4>(x, y, n, partials, sh); break;
    }
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_reduce_partials(const double *partials, int k, int nparts, double *out)
{
    __shared__ double sh[TP_BLOCK];
    const int j = (int)blockIdx.x;
    if (j >= k) return;
    if (blockDim.x != TP_BLOCK) {
        if (threadIdx.x == 0) out[j] = tp_nan();
        return;
    }
    const double *row = partials + (long long)j * nparts;
    double acc = 0.0;
    /* 64-bit: nparts is up to INT_MAX (the rows of a cross-entropy), and i + TP_BLOCK must not wrap */
    for (long long i = threadIdx.x; i < nparts; i += TP_BLOCK) acc += row[i];
    const double s = tp_block_sum(acc, sh);
    if (threadIdx.x == 0) out[j] = s;
}

/* ------------------------------------------------------------------ direction, trial point */

/* d = (-g) + (beta * d) */
__device__ __forceinline__ float tp_cg_direction_math(const float d, const float g, const float beta)
{
    return __fadd_rn(-g, __fmul_rn(beta, d));
}

/* x = x0 + (alpha * d) */
__device__ __forceinline__ float tp_trial_point_math(const float x0, const float d, const float alpha)
{
    return __fadd_rn(x0, __fmul_rn(alpha, d));
}

/* y = y + (a * x) */
__device__ __forceinline__ float tp_axpy_math(const float a, const float x, const float y)
{
    return __fadd_rn(y, __fmul_rn(a, x));
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_cg_direction_kernel(float *d, const float *g, float *g_prev, long long n, float beta)
{
    const long long first = tp_thread_index();
    const long long stride = tp_grid_stride();
    long long tail = 0;
    if (tp_aligned16(d) && tp_aligned16(g) && tp_aligned16(g_prev)) {
        const long long n4 = n / 4;
        float4 *d4 = reinterpret_cast<float4 *>(d);
        const float4 *g4 = reinterpret_cast<const float4 *>(g);
        float4 *gp4 = reinterpret_cast<float4 *>(g_prev);
        for (long long i = first; i < n4; i += stride) {
            float4 dd = d4[i];
            const float4 gg = g4[i];
            dd.x = tp_cg_direction_math(dd.x, gg.x, beta);
            dd.y = tp_cg_direction_math(dd.y, gg.y, beta);
            dd.z = tp_cg_direction_math(dd.z, gg.z, beta);
            dd.w = tp_cg_direction_math(dd.w, gg.w, beta);
            d4[i] = dd;
            gp4[i] = gg;
        }
        tail = n4 * 4;
    }
    for (long long i = tail + first; i < n; i += stride) {
        const float gg = g[i];
        d[i] = tp_cg_direction_math(d[i], gg, beta);
        g_prev[i] = gg;
    }
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_trial_point_kernel(float *x, const float *x0, const float *d, long long n, float alpha)
{
    const long long first = tp_thread_index();
    const long long stride = tp_grid_stride();
    long long tail = 0;
    if (tp_aligned16(x) && tp_aligned16(x0) && tp_aligned16(d)) {
        const long long n4 = n / 4;
        float4 *x4 = reinterpret_cast<float4 *>(x);
        const float4 *x04 = reinterpret_cast<const float4 *>(x0);
        const float4 *d4 = reinterpret_cast<const float4 *>(d);
        for (long long i = first; i < n4; i += stride) {
            const float4 a = x04[i];
            const float4 b = d4[i];
            float4 r;
            r.x = tp_trial_point_math(a.x, b.x, alpha);
            r.y = tp_trial_point_math(a.y, b.y, alpha);
            r.z = tp_trial_point_math(a.z, b.z, alpha);
            r.w = tp_trial_point_math(a.w, b.w, alpha);
            x4[i] = r;
        }
        tail = n4 * 4;
    }
    for (long long i = tail + first; i < n; i += stride) x[i] = tp_trial_point_math(x0[i], d[i], alpha);
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_axpy_kernel(float a, const float *x, float *y, long long n)
{
    const long long first = tp_thread_index();
    const long long stride = tp_grid_stride();
    long long tail = 0;
    if (tp_aligned16(x) && tp_aligned16(y)) {
        const long long n4 = n / 4;
        const float4 *x4 = reinterpret_cast<const float4 *>(x);
        float4 *y4 = reinterpret_cast<float4 *>(y);
        for (long long i = first; i < n4; i += stride) {
            const float4 b = x4[i];
            float4 r = y4[i];
            r.x = tp_axpy_math(a, b.x, r.x);
            r.y = tp_axpy_math(a, b.y, r.y);
            r.z = tp_axpy_math(a, b.z, r.z);
            r.w = tp_axpy_math(a, b.w, r.w);
            y4[i] = r;
        }
        tail = n4 * 4;
    }
    for (long long i = tail + first; i < n; i += stride) y[i] = tp_axpy_math(a, x[i], y[i]);
}

/* ------------------------------------------------------------------ host wrappers */
#ifndef TP_KERNELS_ONLY
extern "C" int tp_multi_dot(const float *x, const float *const *ys, int k, int64_t n, double *out)
{
    TP_REQUIRE(k >= 0 && k <= TP_MAX_DOTS && n >= 0);
    if (k == 0) return 0;
    TP_REQUIRE(out != nullptr && ys != nullptr);
    if (n == 0) {
        for (int j = 0; j < k; ++j) out[j] = 0.0;
        return 0;
    }
    TP_REQUIRE(x != nullptr);
    const float *y[TP_MAX_DOTS] = {nullptr, nullptr, nullptr, nullptr};
    for (int j = 0; j < k; ++j) {
        TP_REQUIRE(ys[j] != nullptr);
        y[j] = ys[j];
    }
    const int grid = tp_elementwise_grid(n);
    double *partials = nullptr, *result = nullptr;
    TP_CHECK_RC(tp_reduce_scratch(k, (size_t)grid, &partials, &result));
    TP_LAUNCH(tp_multi_dot_partials, grid, TP_BLOCK, x, y[0], y[1], y[2], y[3], k, (long long)n, partials);
    TP_LAUNCH_CHECK();
    return tp_reduce_to_host(partials, k, grid, result, out);
}

int tp_reduce_scratch(int k, size_t nparts, double **partials, double **result)
{
    const size_t partial_bytes = tp_align256(sizeof(double) * (size_t)k * nparts);
    TpDeviceBuffer *scratch = nullptr;
    TP_CHECK_RC(tp_scratch_reserve(TP_SCRATCH_REDUCE, partial_bytes + sizeof(double) * (size_t)k, &scratch));
    *partials = static_cast<double *>(scratch->ptr);
    *result = reinterpret_cast<double *>(static_cast<char *>(scratch->ptr) + partial_bytes);
    return 0;
}

int tp_reduce_to_host(const double *partials, int k, int nparts, double *result, double *out)
{
    TP_LAUNCH(tp_reduce_partials, k, TP_BLOCK, partials, k, nparts, result);
    TP_LAUNCH_CHECK();
    return tp_copy_to_host(out, result, sizeof(double) * (size_t)k);
}

extern "C" int tp_cg_direction(float *d, const float *g, float *g_prev, int64_t n, float beta)
{
    TP_REQUIRE(n >= 0);
    if (n == 0) return 0;
    TP_REQUIRE(d != nullptr && g != nullptr && g_prev != nullptr);
    TP_LAUNCH(tp_cg_direction_kernel, tp_elementwise_grid(n), TP_BLOCK, d, g, g_prev, (long long)n, beta);
    TP_LAUNCH_CHECK();
    return 0;
}

extern "C" int tp_trial_point(float *x, const float *x0, const float *d, int64_t n, float alpha)
{
    TP_REQUIRE(n >= 0);
    if (n == 0) return 0;
    TP_REQUIRE(x != nullptr && x0 != nullptr && d != nullptr);
    TP_LAUNCH(tp_trial_point_kernel, tp_elementwise_grid(n), TP_BLOCK, x, x0, d, (long long)n, alpha);
    TP_LAUNCH_CHECK();
    return 0;
}

extern "C" int tp_axpy(float a, const float *x, float *y, int64_t n)
{
    TP_REQUIRE(n >= 0);
    if (n == 0) return 0;
    TP_REQUIRE(x != nullptr && y != nullptr);
    TP_LAUNCH(tp_axpy_kernel, tp_elementwise_grid(n), TP_BLOCK, a, x, y, (long long)n);
    TP_LAUNCH_CHECK();
    return 0;
}
#endif /* TP_KERNELS_ONLY */
