/*
 * twophase: training data on the device: mini-batches gathered by index, one-hot targets built
 * from labels, and the count of correct predictions (accuracy), so that a training run moves only
 * indices and scalars between host and device.
 *
 * Row numbers and class labels are float values in device buffers (the only element type of the
 * backends' buffers): exact integers below 2^24, which the Java side checks for a data set. An
 * index or label that is not an integer in its range (negative, too large, fractional, NaN) is
 * not dereferenced: the kernels write a row of NaN instead (a device cannot throw; the NaN makes
 * the loss non-finite, which the trainer reports), and the count of correct predictions becomes
 * NaN (the Java side turns it into an exception).
 *
 * Kernels (extern "C", in twophase.fatbin and libtwophase_cuda.so), block = TP_BLOCK, no dynamic
 * shared memory:
 *
 *   tp_gather_rows_kernel(const float* src, long long src_rows, int cols, const float* idx,
 *                         long long rows, float* dst)
 *     grid = tp_elementwise_grid(rows * cols); dst[r][c] = src[idx[r]][c].
 *   tp_one_hot_kernel(const float* labels, long long rows, int classes, float* dst)
 *     grid = tp_elementwise_grid(rows * classes); dst[r][c] = c == labels[r] ? 1 : 0.
 *   tp_count_correct_partials(const float* out, const float* labels, long long rows, int cols,
 *                             double* partials)
 *     grid G = tp_elementwise_grid(rows); thread t takes rows t, t + stride, ... (stride = G *
 *     TP_BLOCK) and counts those whose first maximum (the first c with out[r][c] greater than
 *     every earlier value, as the Java loop: NaN never wins, a tie keeps the earlier column) is
 *     labels[r]; partials[blockIdx.x] = the block's count (tp_block_sum, in double: exact).
 *     Then tp_reduce_partials(partials, 1, G, result) (cg.cu). Integer counts in double are exact
 *     below 2^53, so the result is the same in any order; the order is fixed all the same.
 *
 * Loops over run-time sizes count in 64 bits.
 */
#include "common.cuh"

/* The row number held by a float, or -1 when it is not an integer in [0, limit). */
__device__ __forceinline__ long long tp_row_of(const float f, const long long limit)
{
    /* NaN fails every comparison; floorf(f) != f rejects fractions (and is exact for integers) */
    if (!(f >= 0.0f) || floorf(f) != f) return -1;
    const double d = (double)f;
    return d < (double)limit ? (long long)d : -1;
}

/* Row and column of element i of a row-major matrix as a grid-stride loop advances i by `stride`:
 * updated incrementally, without a division per element. */
struct TpRowCol {
    long long r, c;
    const long long cols, step_r, step_c;
    __device__ TpRowCol(const long long first, const long long stride, const long long cols_)
        : r(first / cols_), c(first % cols_), cols(cols_), step_r(stride / cols_), step_c(stride % cols_) {}
    __device__ void advance()
    {
        r += step_r;
        c += step_c;
        if (c >= cols) {
            c -= cols;
            ++r;
        }
    }
};

/* ------------------------------------------------------------------ gather and one-hot */

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_gather_rows_kernel(const float *src, long long src_rows, int cols, const float *idx, long long rows, float *dst)
{
    const long long n = rows * (long long)cols;
    const long long first = tp_thread_index();
    const long long stride = tp_grid_stride();
    if (first >= n) return;
    for (TpRowCol at(first, stride, cols); at.r < rows; at.advance()) {
        const long long s = tp_row_of(idx[at.r], src_rows);
        dst[at.r * cols + at.c] = s >= 0 ? src[s * cols + at.c] : tp_nanf();
    }
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_one_hot_kernel(const float *labels, long long rows, int classes, float *dst)
{
    const long long n = rows * (long long)classes;
    const long long first = tp_thread_index();
    const long long stride = tp_grid_stride();
    if (first >= n) return;
    for (TpRowCol at(first, stride, classes); at.r < rows; at.advance()) {
        const long long label = tp_row_of(labels[at.r], classes);
        dst[at.r * classes + at.c] = label < 0 ? tp_nanf() : (at.c == label ? 1.0f : 0.0f);
    }
}

/* ------------------------------------------------------------------ accuracy */

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_count_correct_partials(const float *out, const float *labels, long long rows, int cols, double *partials)
{
    __shared__ double sh[TP_BLOCK];
    if (blockDim.x != TP_BLOCK) {
        if (threadIdx.x == 0) partials[blockIdx.x] = tp_nan();
        return;
    }
    const long long stride = tp_grid_stride();
    double count = 0.0;
    for (long long r = tp_thread_index(); r < rows; r += stride) {
        const float *o = out + r * cols;
        long long best = 0;
        for (long long c = 1; c < cols; ++c)
            if (o[c] > o[best]) best = c;
        const long long label = tp_row_of(labels[r], cols);
        if (label < 0) count = tp_nan();
        else if (best == label) count += 1.0;
    }
    const double s = tp_block_sum(count, sh);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

/* ------------------------------------------------------------------ host wrappers */
#ifndef TP_KERNELS_ONLY

extern "C" int tp_gather_rows(const float *src, int64_t src_rows, int cols, const float *idx, int64_t rows, float *dst)
{
    int64_t n = 0, src_n = 0;
    TP_REQUIRE(tp_matrix_size(rows, cols, &n) && tp_matrix_size(src_rows, cols, &src_n));
    if (n == 0) return 0;
    TP_REQUIRE(idx != nullptr && dst != nullptr && (src != nullptr || src_rows == 0));
    TP_LAUNCH(tp_gather_rows_kernel, tp_elementwise_grid(n), TP_BLOCK, src, (long long)src_rows, cols, idx, (long long)rows,
              dst);
    TP_LAUNCH_CHECK();
    return 0;
}

extern "C" int tp_one_hot(const float *labels, int64_t rows, int classes, float *dst)
{
    int64_t n = 0;
    TP_REQUIRE(tp_matrix_size(rows, classes, &n));
    if (n == 0) return 0;
    TP_REQUIRE(labels != nullptr && dst != nullptr);
    TP_LAUNCH(tp_one_hot_kernel, tp_elementwise_grid(n), TP_BLOCK, labels, (long long)rows, classes, dst);
    TP_LAUNCH_CHECK();
    return 0;
}

extern "C" int tp_count_correct(const float *out, const float *labels, int64_t rows, int cols, double *correct)
{
    int64_t n = 0;
    TP_REQUIRE(tp_matrix_size(rows, cols, &n) && correct != nullptr);
    if (rows == 0) {
        *correct = 0.0;
        return 0;
    }
    TP_REQUIRE(out != nullptr && labels != nullptr);
    const int grid = tp_elementwise_grid(rows);
    double *partials = nullptr, *result = nullptr;
    TP_CHECK_RC(tp_reduce_scratch(1, (size_t)grid, &partials, &result));
    TP_LAUNCH(tp_count_correct_partials, grid, TP_BLOCK, out, labels, (long long)rows, cols, partials);
    TP_LAUNCH_CHECK();
    return tp_reduce_to_host(partials, 1, grid, result, correct);
}
#endif /* TP_KERNELS_ONLY */
