/*
 * twophase: a plain tiled SGEMM, the fallback when cuBLAS cannot be loaded.
 *
 * Kernel (extern "C", in twophase.fatbin and libtwophase_cuda.so):
 *
 *   tp_sgemm_kernel(int trans_a, int trans_b, int m, int n, int k, float alpha,
 *                   const float* a, int lda, const float* b, int ldb, float beta,
 *                   float* c, int ldc)
 *     grid  = (tp_gemm_grid_x(n), tp_gemm_grid_y(m)), block = TP_BLOCK (16 x 16 threads)
 *     C = alpha * op(A) * op(B) + beta * C, row-major with CBLAS row-major leading
 *     dimensions: op(A) is m x k (A is k x m when trans_a), op(B) is k x n (B is n x k when
 *     trans_b), C is m x n. BLAS semantics: beta == 0 does not read C, alpha == 0 does not
 *     read A or B (NaN there is ignored; C becomes beta * C). Launched with a block of other
 *     than TP_BLOCK threads it writes NaN over its tile of C (a loud wrong answer, like the
 *     reduction kernels) instead of silently leaving C as it was.
 *
 * Each block computes a TP_GEMM_TILE x TP_GEMM_TILE tile of C (rows grid-stride past the
 * grid.y cap), stepping k by TP_GEMM_TILE_K through shared memory; each thread owns a 4 x 4
 * set of outputs (rows ty + 16 i, columns tx + 16 j, so that shared-memory reads are
 * broadcast or conflict-free and the C stores are coalesced). Loads follow the memory order
 * of A and B (transposed or not) so that consecutive threads read consecutive addresses.
 * Accumulation is in float with fused multiply-adds in k order: like any BLAS it is compared
 * with a tolerance, not bitwise. Not tuned for speed: cuBLAS is the fast path. The k loop and
 * every index derived from it are 64-bit (p0 + TP_GEMM_TILE_K wraps an int for k near 2^31).
 */
#include "common.cuh"

#define TP_GEMM_PAD 4 /* shared-memory row padding against bank conflicts */

static_assert(TP_BLOCK == 256 && TP_GEMM_TILE == 64 && TP_GEMM_TILE_K == 16,
              "the sgemm fallback's thread mapping assumes 256 threads, 64 x 64 tiles, k steps of 16");

template <bool TA, bool TB>
__device__ __forceinline__ void tp_sgemm_body(int m, int n, int k, float alpha, const float *A, int lda,
                                              const float *B, int ldb, float beta, float *C, int ldc,
                                              float (*As)[TP_GEMM_TILE + TP_GEMM_PAD],
                                              float (*Bs)[TP_GEMM_TILE + TP_GEMM_PAD])
{
    const int tid = (int)threadIdx.x;
    const int tx = tid % 16, ty = tid / 16;
    const long long col0 = (long long)blockIdx.x * TP_GEMM_TILE;
    for (long long row0 = (long long)blockIdx.y * TP_GEMM_TILE; row0 < m;
         row0 += (long long)gridDim.y * TP_GEMM_TILE) {
        float acc[4][4];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;

        /* alpha == 0: A and B are not read, C = beta * C (acc stays 0) */
        const long long kk = alpha == 0.0f ? 0 : k;
        for (long long p0 = 0; p0 < kk; p0 += TP_GEMM_TILE_K) {
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                const int idx = tid + q * TP_BLOCK;
                /* A tile: op(A)[row0 + r][p0 + p] */
                const int r = TA ? idx % TP_GEMM_TILE : idx / TP_GEMM_TILE_K;
                const int p = TA ? idx / TP_GEMM_TILE : idx % TP_GEMM_TILE_K;
                const long long gr = row0 + r;
                const long long gp = p0 + p;
                float v = 0.0f;
                if (gr < m && gp < k) v = TA ? A[gp * lda + gr] : A[gr * lda + gp];
                As[p][r] = v;
                /* B tile: op(B)[p0 + pb][col0 + cb] */
                const int cb = TB ? idx / TP_GEMM_TILE_K : idx % TP_GEMM_TILE;
                const int pb = TB ? idx % TP_GEMM_TILE_K : idx / TP_GEMM_TILE;
                const long long gc = col0 + cb;
                const long long gpb = p0 + pb;
                float w = 0.0f;
                if (gc < n && gpb < k) w = TB ? B[gc * ldb + gpb] : B[gpb * ldb + gc];
                Bs[pb][cb] = w;
            }
            __syncthreads();
#pragma unroll
            for (int p = 0; p < TP_GEMM_TILE_K; ++p) {
                float a[4], b[4];
#pragma unroll
                for (int i = 0; i < 4; ++i) a[i] = As[p][ty + 16 * i];
#pragma unroll
                for (int j = 0; j < 4; ++j) b[j] = Bs[p][tx + 16 * j];
#pragma unroll
                for (int i = 0; i < 4; ++i)
#pragma unroll
                    for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
            }
            __syncthreads();
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const long long r = row0 + ty + 16 * i;
            if (r >= m) continue;
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const long long c = col0 + tx + 16 * j;
                if (c >= n) continue;
                float *out = C + r * ldc + c;
                const float ab = alpha == 0.0f ? 0.0f : alpha * acc[i][j];
                *out = beta == 0.0f ? ab : ab + beta * *out;
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_sgemm_kernel(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                const float *b, int ldb, float beta, float *c, int ldc)
{
    __shared__ float As[TP_GEMM_TILE_K][TP_GEMM_TILE + TP_GEMM_PAD];
    __shared__ float Bs[TP_GEMM_TILE_K][TP_GEMM_TILE + TP_GEMM_PAD];
    if (blockDim.x != TP_BLOCK) { /* the thread mapping needs exactly TP_BLOCK threads: NaN over this block's tiles */
        const long long col0 = (long long)blockIdx.x * TP_GEMM_TILE;
        for (long long row0 = (long long)blockIdx.y * TP_GEMM_TILE; row0 < m; row0 += (long long)gridDim.y * TP_GEMM_TILE)
            for (long long e = threadIdx.x; e < (long long)TP_GEMM_TILE * TP_GEMM_TILE; e += blockDim.x) {
                const long long r = row0 + e / TP_GEMM_TILE, col = col0 + e % TP_GEMM_TILE;
                if (r < m && col < n) c[r * ldc + col] = tp_nanf();
            }
        return;
    }
    if (trans_a) {
        if (trans_b) tp_sgemm_body<true, true>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, As, Bs);
        else tp_sgemm_body<true, false>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, As, Bs);
    } else {
        if (trans_b) tp_sgemm_body<false, true>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, As, Bs);
        else tp_sgemm_body<false, false>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, As, Bs);
    }
}

#ifndef TP_KERNELS_ONLY
extern "C" int tp_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                        const float *b, int ldb, float beta, float *c, int ldc)
{
    TP_REQUIRE(m >= 0 && n >= 0 && k >= 0);
    const int a_cols = trans_a ? m : k, b_cols = trans_b ? k : n;
    TP_REQUIRE(lda >= (a_cols > 1 ? a_cols : 1) && ldb >= (b_cols > 1 ? b_cols : 1) && ldc >= (n > 1 ? n : 1));
    if (m == 0 || n == 0) return 0;
    TP_REQUIRE(c != nullptr && (k == 0 || alpha == 0.0f || (a != nullptr && b != nullptr)));
    const dim3 grid((unsigned)tp_gemm_grid_x(n), (unsigned)tp_gemm_grid_y(m));
    TP_LAUNCH(tp_sgemm_kernel, grid, TP_BLOCK, trans_a != 0, trans_b != 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    TP_LAUNCH_CHECK();
    return 0;
}
#endif /* TP_KERNELS_ONLY */
