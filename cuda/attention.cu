/*
 * twophase: multi-head scaled dot-product attention: the batched matrix products (our own
 * kernel, where cuBLAS is not loaded) and the row softmax with its backward.
 *
 * The caller composes the op from these launches (GpuBackend does, for both Java bindings; the
 * recipe is in twophase.h): per sequence b and head h, Q_bh, K_bh, V_bh are tokens x head_dim
 * blocks of the (batch * tokens) x (heads * head_dim) matrices q, k, v, and P_bh is tokens x
 * tokens in probs (batch, heads, tokens, tokens):
 *
 *   forward   probs_bh = scale * Q_bh K_bh^T          batched matmul
 *             probs    = softmax of each row          tp_attention_softmax_rows (in place)
 *             out_bh   = P_bh V_bh                    batched matmul
 *   backward  g_bh     = dOut_bh V_bh^T (dP)          batched matmul, into scratch
 *             g        = P * (g - rowsum(P * g)) * scale (dS)   tp_attention_softmax_backward_rows
 *             dq_bh = dS_bh K_bh, dk_bh = dS_bh^T Q_bh, dv_bh = P_bh^T dOut_bh   batched matmul
 *
 * Kernels (extern "C", in twophase.fatbin and libtwophase_cuda.so), block = TP_BLOCK:
 *
 *   tp_batched_matmul_kernel(int trans_a, int trans_b, int m, int n, int k, float alpha,
 *       const float* a, int lda, long long sa_outer, long long sa_inner,
 *       const float* b, int ldb, long long sb_outer, long long sb_inner,
 *       float* c, int ldc, long long sc_outer, long long sc_inner, long long outer, int inner)
 *     grid = tp_batched_matmul_grid(outer * inner, m, n). For every o < outer, i < inner, the
 *     row-major matrices at a + o*sa_outer + i*sa_inner (and likewise b, c):
 *     C = alpha * (op(A) op(B)), op(A) m x k, op(B) k x n, leading dimensions as in CBLAS; C is
 *     overwritten (not read). Each output is one thread's sum over p = 0..k-1 in order of
 *     op(A)[i][p] * op(B)[p][j], every product and sum rounded to float (no FMA), started from
 *     +0, then multiplied by alpha: bit for bit the plain loop the CPU backend runs. alpha = 1 is
 *     exact; unlike BLAS, alpha = 0 still reads A and B. A block computes TP_BMM_TILE x
 *     TP_BMM_TILE outputs of one matrix (one per thread), stepping k through shared memory;
 *     loads follow the memory order of op(A) and op(B), transposed or not; blocks loop over
 *     (matrix, tile) items past the grid cap. Launched with another block size it writes NaN
 *     over C instead.
 *   tp_attention_softmax_rows(float* probs, long long rows, int cols)
 *     grid = tp_row_grid(rows), one warp per row, in place, as the CPU backend:
 *     mx = max of the row (Java's Math.max: NaN wins); e_j = (float) exp((double)(s_j - mx))
 *     (the difference in float); z = sum of the e_j in double, in order (one lane);
 *     inv = (float)(1 / z); p_j = e_j * inv (float).
 *   tp_attention_softmax_backward_rows(const float* probs, float* grad, long long rows, int cols,
 *       float scale)
 *     grid = tp_row_grid(rows), one warp per row; grad holds dP and receives dS:
 *     dot = sum_j dP_j * p_j in float, in order (one lane); dS_j = (p_j * (dP_j - dot)) * scale.
 *
 * What matches the CPU backend (HostKernels) bit for bit: every batched matmul, the softmax
 * backward, and so the whole attention backward; the forward except where the device's double
 * exp and the JVM's Math.exp round to different floats (both are within an ulp of the exact
 * value, so only when it lies within a double ulp of a float rounding boundary: rare; then that
 * e_j moves by one float ulp, z, inv and the row's probabilities by at most about 4 float ulps,
 * the parity test's bound). cuBLAS (another summation order, FMA) is compared within the float
 * error bound of the products instead (GpuAttentionParityTest).
 *
 * Sums whose order the CPU fixes (z, dot) run in one lane in that order: rows are short (16-49
 * tokens in the paper's models) and many (batch * heads * tokens), so rows, not lanes, carry the
 * parallelism. Loops over run-time sizes count in 64 bits.
 */
#include "common.cuh"

static_assert(TP_BLOCK == TP_BMM_TILE * TP_BMM_TILE, "the batched matmul maps one thread to one output of a tile");

#define TP_BMM_PAD 1 /* shared-memory row padding: the transposed tile stores are conflict-free */

/* ------------------------------------------------------------------ batched matmul */

/* One work item of the batched matmul: matrix (o, i) and the first row and column of a tile. */
struct TpBmmItem {
    long long o, i, row0, col0;
};

/* Item w of the sequence matrix-major, tiles row-major within a matrix. */
__device__ __forceinline__ TpBmmItem tp_bmm_item(long long w, int m, int n, int inner)
{
    const long long tiles_n = ((long long)n + TP_BMM_TILE - 1) / TP_BMM_TILE;
    const long long tiles = tiles_n * (((long long)m + TP_BMM_TILE - 1) / TP_BMM_TILE);
    const long long z = w / tiles, t = w % tiles;
    return TpBmmItem{z / inner, z % inner, t / tiles_n * TP_BMM_TILE, t % tiles_n * TP_BMM_TILE};
}

template <bool TA, bool TB>
__device__ __forceinline__ void tp_bmm_body(int m, int n, int k, float alpha, const float *a, int lda, long long sa_outer,
                                            long long sa_inner, const float *b, int ldb, long long sb_outer,
                                            long long sb_inner, float *c, int ldc, long long sc_outer, long long sc_inner,
                                            long long items, int inner, float (*As)[TP_BMM_TILE + TP_BMM_PAD],
                                            float (*Bs)[TP_BMM_TILE + TP_BMM_PAD])
{
    const int tx = (int)threadIdx.x % TP_BMM_TILE, ty = (int)threadIdx.x / TP_BMM_TILE;
    for (long long w = blockIdx.x; w < items; w += gridDim.x) {
        const TpBmmItem it = tp_bmm_item(w, m, n, inner);
        const float *A = a + it.o * sa_outer + it.i * sa_inner;
        const float *B = b + it.o * sb_outer + it.i * sb_inner;
        float acc = 0.0f;
        for (long long p0 = 0; p0 < k; p0 += TP_BMM_TILE) {
            { /* As[r][p] = op(A)[row0 + r][p0 + p]; consecutive threads read consecutive addresses */
                const int r = TA ? tx : ty, p = TA ? ty : tx;
                const long long gr = it.row0 + r, gp = p0 + p;
                As[r][p] = gr < m && gp < k ? (TA ? A[gp * lda + gr] : A[gr * lda + gp]) : 0.0f;
            }
            { /* Bs[p][j] = op(B)[p0 + p][col0 + j] */
                const int p = TB ? tx : ty, j = TB ? ty : tx;
                const long long gp = p0 + p, gc = it.col0 + j;
                Bs[p][j] = gp < k && gc < n ? (TB ? B[gc * ldb + gp] : B[gp * ldb + gc]) : 0.0f;
            }
            __syncthreads();
            const int steps = k - p0 < TP_BMM_TILE ? (int)(k - p0) : TP_BMM_TILE;
            for (int p = 0; p < steps; ++p) acc = __fadd_rn(acc, __fmul_rn(As[ty][p], Bs[p][tx]));
            __syncthreads();
        }
        const long long r = it.row0 + ty, j = it.col0 + tx;
        if (r < m && j < n) c[it.o * sc_outer + it.i * sc_inner + r * ldc + j] = __fmul_rn(acc, alpha);
    }
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_batched_matmul_kernel(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                         long long sa_outer, long long sa_inner, const float *b, int ldb, long long sb_outer,
                         long long sb_inner, float *c, int ldc, long long sc_outer, long long sc_inner, long long outer,
                         int inner)
{
    __shared__ float As[TP_BMM_TILE][TP_BMM_TILE + TP_BMM_PAD];
    __shared__ float Bs[TP_BMM_TILE][TP_BMM_TILE + TP_BMM_PAD];
    const long long tiles = (((long long)m + TP_BMM_TILE - 1) / TP_BMM_TILE) * (((long long)n + TP_BMM_TILE - 1) / TP_BMM_TILE);
    const long long items = m <= 0 || n <= 0 ? 0 : outer * inner * tiles;
    if (blockDim.x != TP_BLOCK) { /* the mapping needs TP_BLOCK threads: NaN over C, not a silently partial C */
        for (long long w = blockIdx.x; w < items; w += gridDim.x) {
            const TpBmmItem it = tp_bmm_item(w, m, n, inner);
            for (long long e = threadIdx.x; e < TP_BMM_TILE * TP_BMM_TILE; e += blockDim.x) {
                const long long r = it.row0 + e / TP_BMM_TILE, j = it.col0 + e % TP_BMM_TILE;
                if (r < m && j < n) c[it.o * sc_outer + it.i * sc_inner + r * ldc + j] = tp_nanf();
            }
        }
        return;
    }
    if (trans_a) {
        if (trans_b) tp_bmm_body<true, true>(m, n, k, alpha, a, lda, sa_outer, sa_inner, b, ldb, sb_outer, sb_inner, c, ldc, sc_outer, sc_inner, items, inner, As, Bs);
        else tp_bmm_body<true, false>(m, n, k, alpha, a, lda, sa_outer, sa_inner, b, ldb, sb_outer, sb_inner, c, ldc, sc_outer, sc_inner, items, inner, As, Bs);
    } else {
        if (trans_b) tp_bmm_body<false, true>(m, n, k, alpha, a, lda, sa_outer, sa_inner, b, ldb, sb_outer, sb_inner, c, ldc, sc_outer, sc_inner, items, inner, As, Bs);
        else tp_bmm_body<false, false>(m, n, k, alpha, a, lda, sa_outer, sa_inner, b, ldb, sb_outer, sb_inner, c, ldc, sc_outer, sc_inner, items, inner, As, Bs);
    }
}

/* ------------------------------------------------------------------ softmax rows */

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_attention_softmax_rows(float *probs, long long rows, int cols)
{
    if (blockDim.x != TP_BLOCK) {
        if (blockIdx.x == 0 && threadIdx.x == 0 && rows > 0) probs[0] = tp_nanf();
        return;
    }
    const unsigned full = 0xffffffffu;
    const int lane = tp_lane();
    for (long long r = tp_warp_row(); r < rows; r += tp_warp_row_stride()) {
        float *p = probs + r * cols;
        /* exact, so every lane holds the maximum (a zero maximum's sign may differ between lanes:
         * s - (+0) and s - (-0) differ only for s = +-0, where exp gives 1 either way) */
        float mx = -INFINITY;
        for (long long j = lane; j < cols; j += 32) mx = tp_max_nan(mx, p[j]);
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) mx = tp_max_nan(mx, __shfl_xor_sync(full, mx, off));
        for (long long j = lane; j < cols; j += 32) p[j] = __double2float_rn(exp((double)__fsub_rn(p[j], mx)));
        __syncwarp(); /* lane 0 reads what the other lanes wrote */
        double z = 0.0;
        if (lane == 0)
            for (long long j = 0; j < cols; ++j) z = __dadd_rn(z, (double)p[j]);
        z = __shfl_sync(full, z, 0); /* also: no lane writes p before lane 0 has read it */
        const float inv = __double2float_rn(__ddiv_rn(1.0, z));
        for (long long j = lane; j < cols; j += 32) p[j] = __fmul_rn(p[j], inv);
    }
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_attention_softmax_backward_rows(const float *probs, float *grad, long long rows, int cols, float scale)
{
    if (blockDim.x != TP_BLOCK) {
        if (blockIdx.x == 0 && threadIdx.x == 0 && rows > 0) grad[0] = tp_nanf();
        return;
    }
    const unsigned full = 0xffffffffu;
    const int lane = tp_lane();
    for (long long r = tp_warp_row(); r < rows; r += tp_warp_row_stride()) {
        const float *p = probs + r * cols;
        float *g = grad + r * cols;
        float dot = 0.0f;
        if (lane == 0)
            for (long long j = 0; j < cols; ++j) dot = __fadd_rn(dot, __fmul_rn(g[j], p[j]));
        dot = __shfl_sync(full, dot, 0); /* also: no lane writes g before lane 0 has read it */
        for (long long j = lane; j < cols; j += 32) g[j] = __fmul_rn(__fmul_rn(p[j], __fsub_rn(g[j], dot)), scale);
    }
}

/* ------------------------------------------------------------------ host wrappers */
#ifndef TP_KERNELS_ONLY

/* A matrix of rows x cols with leading dimension ld: ld >= max(1, cols). */
static bool tp_valid_ld(int ld, int cols) { return ld >= (cols > 1 ? cols : 1); }

extern "C" int tp_batched_matmul(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                                 int64_t sa_outer, int64_t sa_inner, const float *b, int ldb, int64_t sb_outer,
                                 int64_t sb_inner, float *c, int ldc, int64_t sc_outer, int64_t sc_inner, int64_t outer,
                                 int inner)
{
    TP_REQUIRE(m >= 0 && n >= 0 && k >= 0 && outer >= 0 && inner >= 1);
    TP_REQUIRE(tp_valid_ld(lda, trans_a ? m : k) && tp_valid_ld(ldb, trans_b ? k : n) && tp_valid_ld(ldc, n));
    TP_REQUIRE(sa_outer >= 0 && sa_inner >= 0 && sb_outer >= 0 && sb_inner >= 0 && sc_outer >= 0 && sc_inner >= 0);
    TP_REQUIRE(outer <= INT64_MAX / inner);
    const int64_t batches = outer * inner, tiles = tp_bmm_tiles(m, n);
    if (batches == 0 || tiles == 0) return 0;
    TP_REQUIRE(batches <= INT64_MAX / tiles); /* the kernel counts (matrix, tile) items in 64 bits */
    TP_REQUIRE(c != nullptr && (k == 0 || (a != nullptr && b != nullptr)));
    TP_LAUNCH(tp_batched_matmul_kernel, tp_batched_matmul_grid(batches, m, n), TP_BLOCK, trans_a != 0, trans_b != 0, m, n,
              k, alpha, a, lda, (long long)sa_outer, (long long)sa_inner, b, ldb, (long long)sb_outer,
              (long long)sb_inner, c, ldc, (long long)sc_outer, (long long)sc_inner, (long long)outer, inner);
    TP_LAUNCH_CHECK();
    return 0;
}

extern "C" int tp_attention_softmax(float *probs, int64_t rows, int cols)
{
    int64_t n = 0;
    TP_REQUIRE(tp_matrix_size(rows, cols, &n));
    if (n == 0) return 0;
    TP_REQUIRE(probs != nullptr);
    TP_LAUNCH(tp_attention_softmax_rows, tp_row_grid(rows), TP_BLOCK, probs, (long long)rows, cols);
    TP_LAUNCH_CHECK();
    return 0;
}

extern "C" int tp_attention_softmax_backward(const float *probs, float *grad, int64_t rows, int cols, float scale)
{
    int64_t n = 0;
    TP_REQUIRE(tp_matrix_size(rows, cols, &n));
    if (n == 0) return 0;
    TP_REQUIRE(probs != nullptr && grad != nullptr);
    TP_LAUNCH(tp_attention_softmax_backward_rows, tp_row_grid(rows), TP_BLOCK, probs, grad, (long long)rows, cols, scale);
    TP_LAUNCH_CHECK();
    return 0;
}

#endif /* TP_KERNELS_ONLY */
