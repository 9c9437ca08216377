/*
 * twophase: shared plumbing for the kernel files.
 *
 * - TP_CUDA_CHECK(call): every CUDA runtime call goes through it; on failure it clears the
 *   (non-sticky) last error and RETURNS the cudaError_t code from the enclosing tp_*
 *   function. Nothing here aborts or prints: the Java side turns codes into exceptions.
 * - TP_LAUNCH(kernel, grid, block, args...): every kernel launch goes through it: <<<>>> under
 *   nvcc, the emulator's launch when compiled by a host compiler against cuda/emu/cuda_runtime.h
 *   (which defines TP_EMU). TP_LAUNCH_CHECK() after every launch (launch-configuration errors).
 * - Launch geometry (tp_elementwise_grid, the norm chunk table) lives in geometry.h as
 *   plain host C++ so that it is testable without a GPU.
 * - Grid-stride index helpers, the row and column index helpers of the warp-per-row and
 *   column-block kernels, the 16-byte alignment test for the float4 paths, and a fixed-order
 *   block reduction (shared-memory tree) used by every reduction kernel.
 * - Lazily grown device scratch buffers (runtime.cu owns them).
 *
 * Compile with TP_KERNELS_ONLY defined to get device code only (used by all_kernels.cu,
 * which builds twophase.fatbin for the JCuda backend).
 */
#ifndef TWOPHASE_COMMON_CUH
#define TWOPHASE_COMMON_CUH

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "geometry.h"
#include "kernels.cuh"
#include "twophase.h"

static_assert(TP_ERR_INVALID_VALUE == (int)cudaErrorInvalidValue,
              "TP_ERR_INVALID_VALUE must equal cudaErrorInvalidValue");
static_assert((TP_BLOCK & (TP_BLOCK - 1)) == 0 && TP_BLOCK >= 64,
              "TP_BLOCK must be a power of two (tree reductions)");
static_assert(TP_BLOCK % 32 == 0, "TP_BLOCK must be a multiple of the warp size");

/* ------------------------------------------------------------------ host: error handling */

#define TP_CUDA_CHECK(call)                                                                 \
    do {                                                                                    \
        const cudaError_t tp_err_ = (call);                                                 \
        if (tp_err_ != cudaSuccess) {                                                       \
            (void)cudaGetLastError(); /* clear a non-sticky error for the next call */      \
            return (int)tp_err_;                                                            \
        }                                                                                   \
    } while (0)

#ifdef TP_EMU
#define TP_LAUNCH(kernel, grid, block, ...) ::tp_emu::launch(#kernel, kernel, dim3(grid), dim3(block), __VA_ARGS__)
#else
#define TP_LAUNCH(kernel, grid, block, ...) kernel<<<(grid), (block)>>>(__VA_ARGS__)
#endif

#define TP_LAUNCH_CHECK() TP_CUDA_CHECK(cudaGetLastError())

/* Returns the code of a tp_* helper from the enclosing function when it is not 0. */
#define TP_CHECK_RC(call)                                                                   \
    do {                                                                                    \
        const int tp_rc_ = (call);                                                          \
        if (tp_rc_ != 0) return tp_rc_;                                                     \
    } while (0)

#define TP_REQUIRE(cond)                                                                    \
    do {                                                                                    \
        if (!(cond)) return TP_ERR_INVALID_VALUE;                                           \
    } while (0)

/* ------------------------------------------------------------------ device: helpers */

/* First index of this thread and the grid-wide stride, in 64-bit. */
__device__ __forceinline__ long long tp_thread_index()
{
    return (long long)blockIdx.x * (long long)blockDim.x + (long long)threadIdx.x;
}

__device__ __forceinline__ long long tp_grid_stride()
{
    return (long long)gridDim.x * (long long)blockDim.x;
}

/*
 * Row kernels (softmax, cross-entropy, layer norm): one warp per row, TP_ROWS_PER_BLOCK rows per
 * block (geometry.h). The loop over a warp's rows is
 *     for (long long r = tp_warp_row(); r < rows; r += tp_warp_row_stride())
 * with tp_lane() the thread's lane in its warp. r is the same for all lanes of a warp, so the warp
 * primitives inside the loop see full warps.
 */
__device__ __forceinline__ int tp_lane() { return (int)threadIdx.x & 31; }

__device__ __forceinline__ long long tp_warp_row()
{
    return (long long)blockIdx.x * TP_ROWS_PER_BLOCK + (long long)(threadIdx.x >> 5);
}

__device__ __forceinline__ long long tp_warp_row_stride() { return (long long)gridDim.x * TP_ROWS_PER_BLOCK; }

/*
 * Column kernels (the bias and layer norm parameter gradients): a block is TP_BIAS_COLS_PER_BLOCK
 * columns x TP_BLOCK / TP_BIAS_COLS_PER_BLOCK lanes (geometry.h). Consecutive threads take
 * consecutive columns (coalesced reads of a row); each lane walks its own rows or row chunks.
 * The thread's column in its block, its column in the matrix, and its lane.
 */
__device__ __forceinline__ int tp_col_in_block() { return (int)threadIdx.x % TP_BIAS_COLS_PER_BLOCK; }

__device__ __forceinline__ long long tp_block_col()
{
    return (long long)blockIdx.x * TP_BIAS_COLS_PER_BLOCK + tp_col_in_block();
}

__device__ __forceinline__ int tp_col_lane() { return (int)threadIdx.x / TP_BIAS_COLS_PER_BLOCK; }

__device__ __forceinline__ bool tp_aligned16(const void *p)
{
    return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

/* Java's Math.max for floats: NaN wins (either argument). Exact, so any order of a max
 * reduction gives the same value (up to the sign of a zero maximum). */
__device__ __forceinline__ float tp_max_nan(const float a, const float b)
{
    return a != a ? a : (b != b ? b : fmaxf(a, b));
}

/* IEEE 754-2019 maximum, as Java's Math.max: NaN if either operand is NaN (the first one), and
 * +0 above -0; what the CPU backend's max pooling and AMSGrad compute. */
__device__ __forceinline__ float tp_java_max(const float a, const float b)
{
    if (a != a) return a;
    if (b != b) return b;
    if (a == b) return __float_as_uint(a) == 0x80000000u ? b : a;
    return a > b ? a : b;
}

/* Quiet NaN, written by kernels launched with the wrong block size. */
__device__ __forceinline__ double tp_nan() { return __longlong_as_double(0x7ff8000000000000LL); }
__device__ __forceinline__ float tp_nanf() { return __int_as_float(0x7fc00000); }

/*
 * Sums values[lane] over one block of TP_BLOCK threads with a fixed tree in shared
 * memory: the same association for every run, so results are bit-reproducible. Returns
 * the sum in thread 0 (other threads get an unspecified partial). `sh` must hold TP_BLOCK
 * doubles; contains __syncthreads(), so every thread of the block must call it.
 */
__device__ __forceinline__ double tp_block_sum(double value, double *sh)
{
    const int tid = (int)threadIdx.x;
    sh[tid] = value;
    __syncthreads();
#pragma unroll
    for (int s = TP_BLOCK / 2; s > 0; s >>= 1) {
        if (tid < s) sh[tid] += sh[tid + s];
        __syncthreads();
    }
    return sh[0];
}

/* ------------------------------------------------------------------ host: scratch */
#ifndef TP_KERNELS_ONLY

/* A device buffer that only grows. `generation` changes on every (re)allocation and free,
 * so a cache of its contents can tell that they are gone. */
struct TpDeviceBuffer {
    void *ptr;
    size_t bytes;
    unsigned long long generation;
};

enum TpScratchSlot {
    TP_SCRATCH_REDUCE = 0,     /* partial sums and outputs of multi-dot and norms */
    TP_SCRATCH_NORM_TABLE = 1, /* the cached chunk table of tp_segmented_norms    */
    TP_SCRATCH_ADAM_TABLE = 2, /* the segment table of tp_adam_step (> 1 segment) */
    TP_SCRATCH_SLOTS = 3
};

/* Returns the slot's buffer with at least `bytes` bytes (grown geometrically, contents
 * lost on growth), or an error code. Defined in runtime.cu. Not thread-safe. */
int tp_scratch_reserve(int slot, size_t bytes, TpDeviceBuffer **out);

/* The reduction tail shared by every op that returns sums to the host (defined in cg.cu):
 * tp_reduce_scratch carves the TP_SCRATCH_REDUCE slot into k x nparts partial sums followed by
 * the k doubles they reduce to; tp_reduce_to_host sums each of the k rows of partials in a fixed
 * order (tp_reduce_partials) and copies the k results to `out` on the host. */
int tp_reduce_scratch(int k, size_t nparts, double **partials, double **result);
int tp_reduce_to_host(const double *partials, int k, int nparts, double *result, double *out);

/* Copies between host and device memory inside the library (results of reductions, tables):
 * cudaMemcpy, counted for tp_transfer_bytes. Every host<->device copy of the library goes through
 * these two or tp_memcpy_htod/dtoh (the lint host_copies checks it), so the counters are exact.
 * A copy to the host waits for the work queued before it (stream order): it is where the errors
 * of earlier asynchronous kernels surface. Defined in runtime.cu; return 0 or the error code. */
int tp_copy_to_host(void *dst, const void *src, size_t bytes);
int tp_copy_to_device(void *dst, const void *src, size_t bytes);

/* Round up to 256 bytes, the layout unit of sub-buffers carved from one scratch buffer. */
static inline size_t tp_align256(size_t bytes) { return (bytes + 255u) & ~(size_t)255u; }

/* rows * cols without overflow (rows >= 0, cols > 0) */
static inline bool tp_matrix_size(int64_t rows, int cols, int64_t *n)
{
    if (rows < 0 || cols <= 0 || rows > INT64_MAX / cols) return false;
    *n = rows * (int64_t)cols;
    return true;
}

#endif /* TP_KERNELS_ONLY */

#endif /* TWOPHASE_COMMON_CUH */
