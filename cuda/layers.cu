/*
 * twophase: the model ops other than GEMM (bias, activations, losses), row-major matrices.
 *
 * Kernels (extern "C", in twophase.fatbin and libtwophase_cuda.so), block = TP_BLOCK, no
 * dynamic shared memory; grids from geometry.h:
 *
 *   tp_add_bias_kernel(float* y, const float* bias, long long rows, int cols)
 *     grid = tp_elementwise_grid(rows * cols); y[r][c] = y[r][c] + bias[c].
 *   tp_bias_grad_partials(const float* dy, long long rows, int cols, long long rows_per_chunk,
 *                         double* partials)
 *     grid = (tp_bias_column_blocks(cols), tp_bias_chunks(rows)), rows_per_chunk = tp_bias_rows_per_chunk(rows).
 *     partials[chunk * cols + c] = sum of dy[r][c] over the chunk's rows, in double: lane l of
 *     8 sums rows chunk_start + l, + 8, ... in order, then lane 0 adds the 8 lane sums in order.
 *   tp_bias_grad_finish(const double* partials, int nchunks, int cols, float* dbias)
 *     grid = tp_bias_finish_grid(cols); dbias[c] = dbias[c] + (float)(sum of its chunks in order).
 *   tp_activation_kernel(int act, const float* x, float* y, long long n)
 *     grid = tp_elementwise_grid(n); y = f(x), act one of TP_ACT_* (others: nothing written).
 *   tp_activation_backward_kernel(int act, const float* x, const float* y, const float* dy,
 *                                 float* dx, long long n)
 *     grid = tp_elementwise_grid(n); dx = dy * f'(x) (dx may alias dy).
 *   tp_squared_error_partials(const float* out, const float* target, long long n,
 *                             float two_scale, float* dout, double* partials)
 *     grid G = tp_elementwise_grid(n); partials[blockIdx.x] = block's sum of (double)diff^2
 *     with diff = out - target in float; dout (may be NULL) = two_scale * diff.
 *     Then tp_reduce_partials(partials, 1, G, result) (cg.cu).
 *   tp_softmax_xent_rows(const float* logits, const float* target, long long rows, int cols,
 *                        float grad_scale, float* dout, double* row_loss)
 *     grid = tp_row_grid(rows); one warp per row (grid-stride over rows):
 *     row_loss[r] = -sum_c target * log softmax; dout (may be NULL) = grad_scale *
 *     (float)(softmax - target). Then tp_reduce_partials(row_loss, 1, rows, result).
 *
 * The per-element math is written once, below, as __device__ functions, in the same order
 * and precision as dev.twophase.backend.Activation and the CPU backend: float operations
 * rounded separately (_rn intrinsics, no FMA contraction), transcendentals in double and
 * rounded once to float. The elementwise results match the Java loops bit for bit except
 * where the double tanh/exp of the device and of the JVM differ in their last bit AND that
 * bit decides the float rounding (rare; the tests allow one float ulp there). GELU's gate
 * 0.5 (1 + tanh u) is evaluated as the equal 1 / (1 + exp(-2u)), which stays accurate where
 * tanh u is near -1 (x < -3: 1 + tanh u cancels, and is 0 in float below about x = -5).
 *
 * Every double operation of the losses is written with an _rn intrinsic too: nvcc would
 * otherwise contract loss - t * logp into an FMA, which a separately rounded reference (the
 * CPU backend) does not compute.
 *
 * Loops over a run-time size count in 64 bits (a 32-bit counter stepping by 32 wraps for
 * sizes near 2^31); grids are computed in 64 bits by geometry.h.
 *
 * Reductions (bias gradient, squared error, cross-entropy) accumulate in double with a fixed
 * order (per-thread sequential, fixed trees, chunk order), no atomics: identical bits run to
 * run. Every reduction kernel needs blockDim.x == TP_BLOCK and writes NaN otherwise.
 */
#include "common.cuh"

#define TP_GELU_C 0.7978845608028654f /* sqrt(2/pi), the float Activation.GELU_C */
#define TP_GELU_A 0.044715f

/* ------------------------------------------------------------------ per-element math */

/* Java's Math.max(x, 0f): NaN stays NaN, -0 becomes +0. */
__device__ __forceinline__ float tp_relu(const float x) { return x > 0.0f ? x : (x != x ? x : 0.0f); }

/* u = C * (x + A*x*x*x), left to right in float */
__device__ __forceinline__ float tp_gelu_u(const float x)
{
    return __fmul_rn(TP_GELU_C, __fadd_rn(x, __fmul_rn(__fmul_rn(__fmul_rn(TP_GELU_A, x), x), x)));
}

/* (float) tanh((double) u) */
__device__ __forceinline__ float tp_tanh_f(const float u) { return __double2float_rn(tanh((double)u)); }

/* GELU's gate s = 0.5 (1 + tanh u) = 1 / (1 + exp(-2u)), in double, rounded once */
__device__ __forceinline__ float tp_gelu_gate(const float u)
{
    return __double2float_rn(__ddiv_rn(1.0, __dadd_rn(1.0, exp(__dmul_rn(-2.0, (double)u)))));
}

template <int ACT> __device__ __forceinline__ float tp_act_forward(const float x)
{
    if constexpr (ACT == TP_ACT_IDENTITY) {
        return x;
    } else if constexpr (ACT == TP_ACT_RELU) {
        return tp_relu(x);
    } else if constexpr (ACT == TP_ACT_TANH) {
        return tp_tanh_f(x);
    } else if constexpr (ACT == TP_ACT_SIGMOID) {
        return __double2float_rn(__ddiv_rn(1.0, __dadd_rn(1.0, exp(-(double)x))));
    } else { /* GELU: x * s */
        return __fmul_rn(x, tp_gelu_gate(tp_gelu_u(x)));
    }
}

/* dx for one element: dy * f'(x), with y = f(x) */
template <int ACT> __device__ __forceinline__ float tp_act_backward(const float x, const float y, const float dy)
{
    if constexpr (ACT == TP_ACT_IDENTITY) {
        return dy;
    } else if constexpr (ACT == TP_ACT_RELU) {
        return x > 0.0f ? dy : 0.0f;
    } else if constexpr (ACT == TP_ACT_TANH) {
        return __fmul_rn(dy, __fsub_rn(1.0f, __fmul_rn(y, y)));
    } else if constexpr (ACT == TP_ACT_SIGMOID) {
        return __fmul_rn(dy, __fmul_rn(y, __fsub_rn(1.0f, y)));
    } else { /* GELU: s + x*s*(1 - s)*2*du, du = C*(1 + 3A*x*x) */
        const float s = tp_gelu_gate(tp_gelu_u(x));
        const float du = __fmul_rn(TP_GELU_C, __fadd_rn(1.0f, __fmul_rn(__fmul_rn(__fmul_rn(3.0f, TP_GELU_A), x), x)));
        const float d = __fadd_rn(s, __fmul_rn(__fmul_rn(__fmul_rn(__fmul_rn(x, s), __fsub_rn(1.0f, s)), 2.0f), du));
        return __fmul_rn(dy, d);
    }
}

/* ------------------------------------------------------------------ bias */

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_add_bias_kernel(float *y, const float *bias, long long rows, int cols)
{
    const long long n = rows * (long long)cols;
    const long long first = tp_thread_index();
    const long long stride = tp_grid_stride();
    if (first >= n) return;
    /* column of the current element, advanced incrementally (no 64-bit modulo per element) */
    long long c = first % cols;
    const long long step = stride % cols;
    for (long long i = first; i < n; i += stride) {
        y[i] = __fadd_rn(y[i], bias[c]);
        c += step;
        if (c >= cols) c -= cols;
    }
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_bias_grad_partials(const float *dy, long long rows, int cols, long long rows_per_chunk, double *partials)
{
    __shared__ double sh[TP_BIAS_ROW_LANES][TP_BIAS_COLS_PER_BLOCK];
    const int col_in = tp_col_in_block(), lane = tp_col_lane();
    const long long c = tp_block_col();
    if (blockDim.x != TP_BLOCK) {
        if (lane == 0 && c < cols) partials[(long long)blockIdx.y * cols + c] = tp_nan();
        return;
    }
    const long long r0 = (long long)blockIdx.y * rows_per_chunk;
    const long long r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
    double acc = 0.0;
    if (c < cols)
        for (long long r = r0 + lane; r < r1; r += TP_BIAS_ROW_LANES) acc += (double)dy[r * cols + c];
    sh[lane][col_in] = acc;
    __syncthreads();
    if (lane == 0 && c < cols) {
        double s = 0.0;
#pragma unroll
        for (int l = 0; l < TP_BIAS_ROW_LANES; ++l) s += sh[l][col_in];
        partials[(long long)blockIdx.y * cols + c] = s;
    }
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_bias_grad_finish(const double *partials, int nchunks, int cols, float *dbias)
{
    const long long c = tp_thread_index();
    if (c >= cols) return;
    double s = 0.0;
    for (int k = 0; k < nchunks; ++k) s += partials[(long long)k * cols + c];
    dbias[c] = __fadd_rn(dbias[c], __double2float_rn(s));
}

/* ------------------------------------------------------------------ activations */

template <int ACT> __device__ __forceinline__ void tp_activation_loop(const float *x, float *y, long long n)
{
    const long long stride = tp_grid_stride();
    for (long long i = tp_thread_index(); i < n; i += stride) y[i] = tp_act_forward<ACT>(x[i]);
}

template <int ACT>
__device__ __forceinline__ void tp_activation_backward_loop(const float *x, const float *y, const float *dy,
                                                            float *dx, long long n)
{
    const long long stride = tp_grid_stride();
    for (long long i = tp_thread_index(); i < n; i += stride) dx[i] = tp_act_backward<ACT>(x[i], y[i], dy[i]);
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_activation_kernel(int act, const float *x, float *y, long long n)
{
    switch (act) {
    case TP_ACT_IDENTITY: tp_activation_loop<TP_ACT_IDENTITY>(x, y, n); break;
    case TP_ACT_RELU: tp_activation_loop<TP_ACT_RELU>(x, y, n); break;
    case TP_ACT_TANH: tp_activation_loop<TP_ACT_TANH>(x, y, n); break;
    case TP_ACT_SIGMOID: tp_activation_loop<TP_ACT_SIGMOID>(x, y, n); break;
    case TP_ACT_GELU: tp_activation_loop<TP_ACT_GELU>(x, y, n); break;
    default: break;
    }
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_activation_backward_kernel(int act, const float *x, const float *y, const float *dy, float *dx, long long n)
{
    switch (act) {
    case TP_ACT_IDENTITY: tp_activation_backward_loop<TP_ACT_IDENTITY>(x, y, dy, dx, n); break;
    case TP_ACT_RELU: tp_activation_backward_loop<TP_ACT_RELU>(x, y, dy, dx, n); break;
    case TP_ACT_TANH: tp_activation_backward_loop<TP_ACT_TANH>(x, y, dy, dx, n); break;
    case TP_ACT_SIGMOID: tp_activation_backward_loop<TP_ACT_SIGMOID>(x, y, dy, dx, n); break;
    case TP_ACT_GELU: tp_activation_backward_loop<TP_ACT_GELU>(x, y, dy, dx, n); break;
    default: break;
    }
}

/* ------------------------------------------------------------------ losses */

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_squared_error_partials(const float *out, const float *target, long long n, float two_scale, float *dout,
                          double *partials)
{
    __shared__ double sh[TP_BLOCK];
    if (blockDim.x != TP_BLOCK) {
        if (threadIdx.x == 0) partials[blockIdx.x] = tp_nan();
        return;
    }
    const long long stride = tp_grid_stride();
    double acc = 0.0;
    for (long long i = tp_thread_index(); i < n; i += stride) {
        const float diff = __fsub_rn(out[i], target[i]);
        acc += (double)diff * (double)diff;
        if (dout != nullptr) dout[i] = __fmul_rn(two_scale, diff);
    }
    const double s = tp_block_sum(acc, sh);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_softmax_xent_rows(const float *logits, const float *target, long long rows, int cols, float grad_scale,
                     float *dout, double *row_loss)
{
    if (blockDim.x != TP_BLOCK) {
        if (blockIdx.x == 0 && threadIdx.x == 0 && rows > 0) row_loss[0] = tp_nan();
        return;
    }
    const unsigned full = 0xffffffffu;
    const int lane = tp_lane();
    for (long long r = tp_warp_row(); r < rows; r += tp_warp_row_stride()) {
        const float *l = logits + r * cols;
        const float *t = target + r * cols;
        /* max in float (exact, so any order gives the same value in every lane) */
        float mx = -INFINITY;
        for (long long c = lane; c < cols; c += 32) mx = tp_max_nan(mx, l[c]);
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) mx = tp_max_nan(mx, __shfl_xor_sync(full, mx, off));
        /* sum of exp(l - max) in double: lane-strided, then a fixed tree, lane 0's value broadcast */
        double sum = 0.0;
        for (long long c = lane; c < cols; c += 32) sum = __dadd_rn(sum, exp((double)__fsub_rn(l[c], mx)));
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) sum = __dadd_rn(sum, __shfl_down_sync(full, sum, off));
        sum = __shfl_sync(full, sum, 0);
        const double log_sum = __dadd_rn(log(sum), (double)mx);
        double loss = 0.0;
        for (long long c = lane; c < cols; c += 32) {
            const double logp = __dsub_rn((double)l[c], log_sum);
            const float tc = t[c];
            if (tc != 0.0f) loss = __dsub_rn(loss, __dmul_rn((double)tc, logp));
            if (dout != nullptr) dout[r * cols + c] = __fmul_rn(grad_scale, __double2float_rn(__dsub_rn(exp(logp), (double)tc)));
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) loss = __dadd_rn(loss, __shfl_down_sync(full, loss, off));
        if (lane == 0) row_loss[r] = loss;
    }
}

/* ------------------------------------------------------------------ host wrappers */
#ifndef TP_KERNELS_ONLY

static bool tp_valid_act(int act) { return act >= TP_ACT_IDENTITY && act <= TP_ACT_GELU; }

extern "C" int tp_add_bias(float *y, const float *bias, int64_t rows, int cols)
{
    int64_t n = 0;
    TP_REQUIRE(tp_matrix_size(rows, cols, &n));
    if (n == 0) return 0;
    TP_REQUIRE(y != nullptr && bias != nullptr);
    TP_LAUNCH(tp_add_bias_kernel, tp_elementwise_grid(n), TP_BLOCK, y, bias, (long long)rows, cols);
    TP_LAUNCH_CHECK();
    return 0;
}

extern "C" int tp_bias_grad(const float *dy, float *dbias, int64_t rows, int cols)
{
    int64_t n = 0;
    TP_REQUIRE(tp_matrix_size(rows, cols, &n));
    TP_REQUIRE(dbias != nullptr && (dy != nullptr || n == 0));
    const int nchunks = tp_bias_chunks(rows);
    double *partials = nullptr;
    if (nchunks > 0) {
        TpDeviceBuffer *scratch = nullptr;
        TP_CHECK_RC(tp_scratch_reserve(TP_SCRATCH_REDUCE, sizeof(double) * (size_t)nchunks * (size_t)cols, &scratch));
        partials = static_cast<double *>(scratch->ptr);
        const dim3 grid((unsigned)tp_bias_column_blocks(cols), (unsigned)nchunks);
        TP_LAUNCH(tp_bias_grad_partials, grid, TP_BLOCK, dy, (long long)rows, cols,
                  (long long)tp_bias_rows_per_chunk(rows), partials);
        TP_LAUNCH_CHECK();
    }
    /* rows == 0 still adds 0 to every dbias[c], as the Java loop does (-0 becomes +0) */
    TP_LAUNCH(tp_bias_grad_finish, tp_bias_finish_grid(cols), TP_BLOCK, partials, nchunks, cols, dbias);
    TP_LAUNCH_CHECK();
    return 0;
}

extern "C" int tp_activation(int act, const float *x, float *y, int64_t n)
{
    TP_REQUIRE(tp_valid_act(act) && n >= 0);
    if (n == 0) return 0;
    TP_REQUIRE(x != nullptr && y != nullptr);
    TP_LAUNCH(tp_activation_kernel, tp_elementwise_grid(n), TP_BLOCK, act, x, y, (long long)n);
    TP_LAUNCH_CHECK();
    return 0;
}

extern "C" int tp_activation_backward(int act, const float *x, const float *y, const float *dy, float *dx,
                                      int64_t n)
{
    TP_REQUIRE(tp_valid_act(act) && n >= 0);
    if (n == 0) return 0;
    TP_REQUIRE(x != nullptr && y != nullptr && dy != nullptr && dx != nullptr);
    TP_LAUNCH(tp_activation_backward_kernel, tp_elementwise_grid(n), TP_BLOCK, act, x, y, dy, dx, (long long)n);
    TP_LAUNCH_CHECK();
    return 0;
}

extern "C" int tp_squared_error(const float *out, const float *target, int64_t n, float grad_scale, float *dout,
                                double *loss)
{
    TP_REQUIRE(n >= 0 && loss != nullptr);
    if (n == 0) {
        *loss = 0.0;
        return 0;
    }
    TP_REQUIRE(out != nullptr && target != nullptr);
    const int grid = tp_elementwise_grid(n);
    double *partials = nullptr, *result = nullptr;
    TP_CHECK_RC(tp_reduce_scratch(1, (size_t)grid, &partials, &result));
    const float two_scale = 2.0f * grad_scale; /* as the Java loop: 2f * gradScale */
    TP_LAUNCH(tp_squared_error_partials, grid, TP_BLOCK, out, target, (long long)n, two_scale, dout, partials);
    TP_LAUNCH_CHECK();
    return tp_reduce_to_host(partials, 1, grid, result, loss);
}

extern "C" int tp_softmax_cross_entropy(const float *logits, const float *target, int64_t rows, int cols,
                                        float grad_scale, float *dout, double *loss)
{
    int64_t n = 0;
    TP_REQUIRE(tp_matrix_size(rows, cols, &n) && rows <= (int64_t)INT_MAX && loss != nullptr);
    if (rows == 0) {
        *loss = 0.0;
        return 0;
    }
    TP_REQUIRE(logits != nullptr && target != nullptr);
    double *row_loss = nullptr, *result = nullptr;
    TP_CHECK_RC(tp_reduce_scratch(1, (size_t)rows, &row_loss, &result));
    TP_LAUNCH(tp_softmax_xent_rows, tp_row_grid(rows), TP_BLOCK, logits, target, (long long)rows, cols, grad_scale,
              dout, row_loss);
    TP_LAUNCH_CHECK();
    return tp_reduce_to_host(row_loss, 1, (int)rows, result, loss);
}

#endif /* TP_KERNELS_ONLY */
