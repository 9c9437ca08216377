/*
 * twophase: layer normalization (forward, backward with the gamma and beta gradients) and the
 * mean over tokens (forward, backward), row-major, as the CPU backend (HostKernels) computes them.
 *
 * Kernels (extern "C", in twophase.fatbin and libtwophase_cuda.so), block = TP_BLOCK:
 *
 *   tp_layer_norm_rows(const float* x, const float* gamma, const float* beta, float* y,
 *                      long long rows, int dim, float eps)
 *     grid = tp_row_grid(rows), one warp per row (y may be x): lane 0 sums the row in double, in
 *     order: mean = sum / dim, var = sum (x - mean)^2 / dim; mu = (float) mean,
 *     rstd = (float)(1 / sqrt(var + eps)); then y = ((x - mu) * rstd) * gamma + beta in float.
 *   tp_layer_norm_backward_rows(const float* x, const float* gamma, const float* dy, float* dx,
 *                               double* row_stats, long long rows, int dim, float eps)
 *     grid = tp_row_grid(rows), one warp per row: lane 0 recomputes mean and rstd = 1 / sqrt(var
 *     + eps) (double, not rounded) and sums in order, in double, with xhat = (x - mean) * rstd and
 *     g = dy * gamma: sum_g = sum g, sum_gx = sum g * xhat; then
 *     dx = (float)(rstd * ((g - sum_g / dim) - (xhat * sum_gx) / dim)); row_stats[2r] = mean,
 *     row_stats[2r + 1] = rstd for the next pass.
 *   tp_layer_norm_param_partials(const float* x, const float* dy, const double* row_stats,
 *                                long long rows, int dim, long long rows_per_chunk, int nchunks,
 *                                double* partials)
 *     grid = (tp_bias_column_blocks(dim), tp_layer_norm_chunk_blocks(nchunks)) with the bias
 *     gradient's chunks (rows_per_chunk = tp_bias_rows_per_chunk(rows), nchunks =
 *     tp_bias_chunks(rows)); a block is 32 columns x TP_LN_CHUNK_LANES chunks, one thread per
 *     (chunk, column) summing the chunk's rows in order, in double:
 *     partials[chunk * dim + c] = sum dy * ((x - mean) * rstd) (gamma),
 *     partials[(nchunks + chunk) * dim + c] = sum dy (beta).
 *     Then tp_bias_grad_finish (layers.cu) once on each half: dgamma[c] += (float)(sum of its
 *     chunks in order), dbeta likewise.
 *   tp_token_mean_kernel(const float* x, float* y, long long batch, int tokens, int dim)
 *     grid = tp_elementwise_grid(batch * dim): y[b][i] = (float)(sum over t in order of
 *     x[b][t][i], in double, / tokens).
 *   tp_token_mean_backward_kernel(const float* dy, float* dx, long long batch, int tokens, int dim)
 *     grid = tp_elementwise_grid(batch * tokens * dim): dx[b][t][i] = dy[b][i] * (1f / tokens).
 *
 * What matches the CPU backend bit for bit: y, dx, both token means, and dgamma and dbeta up to
 * one chunk of rows (TP_BIAS_CHUNK_ROWS = 256: one partial, added to 0.0, is the CPU's row-order
 * sum). Over more rows the chunks' double sums are added in chunk order, a different association
 * than the CPU's single row-order sum: the float results then differ by at most about an ulp
 * (the parity test's bound). No atomics: every sum has one order, whatever the grid or device.
 *
 * The row statistics are one lane's sums in the CPU's order, as sequential as the CPU's loop:
 * rows (batch * tokens, 8192 at the paper's batch) carry the parallelism, not lanes. Every double
 * and float operation is written with an _rn intrinsic (no FMA contraction), as in layers.cu.
 * Reduction kernels need blockDim.x == TP_BLOCK and write NaN otherwise.
 */
#include "common.cuh"

/* Mean and 1 / sqrt(var + eps) of one row of dim floats, in double, summed in order. */
__device__ __forceinline__ void tp_row_moments(const float *x, int dim, float eps, double *mean, double *rstd)
{
    double s = 0.0;
    for (int i = 0; i < dim; ++i) s = __dadd_rn(s, (double)x[i]);
    const double m = __ddiv_rn(s, (double)dim);
    double sq = 0.0;
    for (int i = 0; i < dim; ++i) {
        const double d = __dsub_rn((double)x[i], m);
        sq = __dadd_rn(sq, __dmul_rn(d, d));
    }
    *mean = m;
    *rstd = __ddiv_rn(1.0, __dsqrt_rn(__dadd_rn(__ddiv_rn(sq, (double)dim), (double)eps)));
}

/* ------------------------------------------------------------------ layer norm */

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_layer_norm_rows(const float *x, const float *gamma, const float *beta, float *y, long long rows, int dim, float eps)
{
    if (blockDim.x != TP_BLOCK) {
        if (blockIdx.x == 0 && threadIdx.x == 0 && rows > 0) y[0] = tp_nanf();
        return;
    }
    const unsigned full = 0xffffffffu;
    const int lane = tp_lane();
    for (long long r = tp_warp_row(); r < rows; r += tp_warp_row_stride()) {
        const float *xr = x + r * dim;
        float *yr = y + r * dim;
        double mean = 0.0, rstd = 0.0;
        if (lane == 0) tp_row_moments(xr, dim, eps, &mean, &rstd);
        /* also: no lane writes y (which may be x) before lane 0 has read the row */
        const float mu = __double2float_rn(__shfl_sync(full, mean, 0));
        const float rs = __double2float_rn(__shfl_sync(full, rstd, 0));
        for (long long i = lane; i < dim; i += 32)
            yr[i] = __fadd_rn(__fmul_rn(__fmul_rn(__fsub_rn(xr[i], mu), rs), gamma[i]), beta[i]);
    }
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_layer_norm_backward_rows(const float *x, const float *gamma, const float *dy, float *dx, double *row_stats,
                            long long rows, int dim, float eps)
{
    if (blockDim.x != TP_BLOCK) {
        if (blockIdx.x == 0 && threadIdx.x == 0 && rows > 0) row_stats[0] = tp_nan();
        return;
    }
    const unsigned full = 0xffffffffu;
    const int lane = tp_lane();
    for (long long r = tp_warp_row(); r < rows; r += tp_warp_row_stride()) {
        const float *xr = x + r * dim, *dyr = dy + r * dim;
        double mean = 0.0, rstd = 0.0, sum_g = 0.0, sum_gx = 0.0;
        if (lane == 0) {
            tp_row_moments(xr, dim, eps, &mean, &rstd);
            for (int i = 0; i < dim; ++i) {
                const double xhat = __dmul_rn(__dsub_rn((double)xr[i], mean), rstd);
                const double g = __dmul_rn((double)dyr[i], (double)gamma[i]);
                sum_g = __dadd_rn(sum_g, g);
                sum_gx = __dadd_rn(sum_gx, __dmul_rn(g, xhat));
            }
            row_stats[2 * r] = mean;
            row_stats[2 * r + 1] = rstd;
        }
        mean = __shfl_sync(full, mean, 0);
        rstd = __shfl_sync(full, rstd, 0);
        const double mean_g = __ddiv_rn(__shfl_sync(full, sum_g, 0), (double)dim);
        sum_gx = __shfl_sync(full, sum_gx, 0);
        float *dxr = dx + r * dim;
        for (long long i = lane; i < dim; i += 32) {
            const double xhat = __dmul_rn(__dsub_rn((double)xr[i], mean), rstd);
            const double g = __dmul_rn((double)dyr[i], (double)gamma[i]);
            dxr[i] = __double2float_rn(__dmul_rn(rstd, __dsub_rn(__dsub_rn(g, mean_g), __ddiv_rn(__dmul_rn(xhat, sum_gx), (double)dim))));
        }
    }
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_layer_norm_param_partials(const float *x, const float *dy, const double *row_stats, long long rows, int dim,
                             long long rows_per_chunk, int nchunks, double *partials)
{
    const long long c = tp_block_col();
    const long long chunk = (long long)blockIdx.y * TP_LN_CHUNK_LANES + tp_col_lane();
    if (c >= dim || chunk >= nchunks) return;
    double *gamma_part = partials + chunk * dim + c, *beta_part = partials + (nchunks + chunk) * dim + c;
    if (blockDim.x != TP_BLOCK) { /* chunks past this block's threads would be left unwritten */
        *gamma_part = tp_nan();
        *beta_part = tp_nan();
        return;
    }
    const long long r0 = chunk * rows_per_chunk;
    const long long r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
    double sg = 0.0, sb = 0.0;
    for (long long r = r0; r < r1; ++r) {
        const double d = (double)dy[r * dim + c];
        sg = __dadd_rn(sg, __dmul_rn(d, __dmul_rn(__dsub_rn((double)x[r * dim + c], row_stats[2 * r]), row_stats[2 * r + 1])));
        sb = __dadd_rn(sb, d);
    }
    *gamma_part = sg;
    *beta_part = sb;
}

/* ------------------------------------------------------------------ token mean */

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_token_mean_kernel(const float *x, float *y, long long batch, int tokens, int dim)
{
    const long long n = batch * dim, stride = tp_grid_stride();
    for (long long e = tp_thread_index(); e < n; e += stride) {
        const long long b = e / dim, i = e % dim;
        const float *col = x + b * tokens * dim + i;
        double s = 0.0;
        for (long long t = 0; t < tokens; ++t) s = __dadd_rn(s, (double)col[t * dim]);
        y[e] = __double2float_rn(__ddiv_rn(s, (double)tokens));
    }
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_token_mean_backward_kernel(const float *dy, float *dx, long long batch, int tokens, int dim)
{
    const float inv = __fdiv_rn(1.0f, __int2float_rn(tokens)); /* Java's 1f / tokens */
    const long long per_sample = (long long)tokens * dim, n = batch * per_sample, stride = tp_grid_stride();
    for (long long e = tp_thread_index(); e < n; e += stride) dx[e] = __fmul_rn(dy[e / per_sample * dim + e % dim], inv);
}

/* ------------------------------------------------------------------ host wrappers */
#ifndef TP_KERNELS_ONLY

extern "C" int tp_layer_norm(const float *x, const float *gamma, const float *beta, float *y, int64_t rows, int dim,
                             float eps)
{
    int64_t n = 0;
    TP_REQUIRE(tp_matrix_size(rows, dim, &n));
    if (n == 0) return 0;
    TP_REQUIRE(x != nullptr && gamma != nullptr && beta != nullptr && y != nullptr);
    TP_LAUNCH(tp_layer_norm_rows, tp_row_grid(rows), TP_BLOCK, x, gamma, beta, y, (long long)rows, dim, eps);
    TP_LAUNCH_CHECK();
    return 0;
}

extern "C" int tp_layer_norm_backward(const float *x, const float *gamma, const float *dy, float *dx, float *dgamma,
                                      float *dbeta, int64_t rows, int dim, float eps)
{
    int64_t n = 0;
    TP_REQUIRE(tp_matrix_size(rows, dim, &n) && rows <= INT64_MAX / 16);
    TP_REQUIRE(dgamma != nullptr && dbeta != nullptr);
    TP_REQUIRE(n == 0 || (x != nullptr && gamma != nullptr && dy != nullptr && dx != nullptr));
    const int nchunks = tp_bias_chunks(rows);
    double *partials = nullptr;
    if (nchunks > 0) {
        /* scratch: [row statistics: 2 * rows doubles | partials: 2 * nchunks * dim doubles] */
        const size_t stats_bytes = tp_align256(sizeof(double) * 2 * (size_t)rows);
        TpDeviceBuffer *scratch = nullptr;
        TP_CHECK_RC(tp_scratch_reserve(TP_SCRATCH_REDUCE, stats_bytes + sizeof(double) * 2 * (size_t)nchunks * (size_t)dim,
                               &scratch));
        double *row_stats = static_cast<double *>(scratch->ptr);
        partials = reinterpret_cast<double *>(static_cast<char *>(scratch->ptr) + stats_bytes);
        TP_LAUNCH(tp_layer_norm_backward_rows, tp_row_grid(rows), TP_BLOCK, x, gamma, dy, dx, row_stats, (long long)rows,
                  dim, eps);
        TP_LAUNCH_CHECK();
        const dim3 grid((unsigned)tp_bias_column_blocks(dim), (unsigned)tp_layer_norm_chunk_blocks(nchunks));
        TP_LAUNCH(tp_layer_norm_param_partials, grid, TP_BLOCK, x, dy, row_stats, (long long)rows, dim,
                  (long long)tp_bias_rows_per_chunk(rows), nchunks, partials);
        TP_LAUNCH_CHECK();
    }
    /* rows == 0 still adds 0 to every dgamma[c] and dbeta[c], as the Java loop does (-0 becomes +0) */
    TP_LAUNCH(tp_bias_grad_finish, tp_bias_finish_grid(dim), TP_BLOCK, partials, nchunks, dim, dgamma);
    TP_LAUNCH_CHECK();
    TP_LAUNCH(tp_bias_grad_finish, tp_bias_finish_grid(dim), TP_BLOCK,
              partials == nullptr ? nullptr : partials + (size_t)nchunks * (size_t)dim, nchunks, dim, dbeta);
    TP_LAUNCH_CHECK();
    return 0;
}

extern "C" int tp_token_mean(const float *x, float *y, int64_t batch, int tokens, int dim)
{
    int64_t per_sample = 0, n = 0;
    TP_REQUIRE(tokens > 0 && tp_matrix_size(tokens, dim, &per_sample) && tp_matrix_size(batch, dim, &n) &&
               batch <= INT64_MAX / per_sample);
    if (n == 0) return 0;
    TP_REQUIRE(x != nullptr && y != nullptr);
    TP_LAUNCH(tp_token_mean_kernel, tp_elementwise_grid(n), TP_BLOCK, x, y, (long long)batch, tokens, dim);
    TP_LAUNCH_CHECK();
    return 0;
}

extern "C" int tp_token_mean_backward(const float *dy, float *dx, int64_t batch, int tokens, int dim)
{
    int64_t per_sample = 0;
    TP_REQUIRE(tokens > 0 && tp_matrix_size(tokens, dim, &per_sample) && batch >= 0 && batch <= INT64_MAX / per_sample);
    const int64_t n = batch * per_sample;
    if (n == 0) return 0;
    TP_REQUIRE(dy != nullptr && dx != nullptr);
    TP_LAUNCH(tp_token_mean_backward_kernel, tp_elementwise_grid(n), TP_BLOCK, dy, dx, (long long)batch, tokens, dim);
    TP_LAUNCH_CHECK();
    return 0;
}

#endif /* TP_KERNELS_ONLY */
