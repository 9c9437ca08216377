/*
 * twophase: segmented sums of squares (per-tensor and total gradient norms) and maximum
 * magnitudes (per-tensor and total max-norms) with a non-finite flag, after apex's
 * multi_tensor_l2norm: a chunk pass plus a cleanup pass instead of atomics, so the result is
 * bit-identical run to run.
 *
 * Kernels (extern "C", in twophase.fatbin and libtwophase_cuda.so), block = TP_BLOCK:
 *
 *   tp_norm_chunks(const float* g, const long long* chunk_start, const long long* chunk_end,
 *                  double* chunk_sumsq, unsigned int* chunk_maxabs, int* nonfinite)
 *     grid = nchunks (one block per chunk; do not launch when nchunks == 0).
 *     chunk_sumsq[c] = sum over [chunk_start[c], chunk_end[c]) of (double)g[i]^2;
 *     chunk_maxabs[c] = max over the same range of the bits of |g[i]| (below).
 *     *nonfinite must be zeroed before the launch; any thread whose partial sum is not
 *     finite writes 1 (the same value from every writer: a benign race, no atomics).
 *   tp_norm_cleanup(const double* chunk_sumsq, const unsigned int* chunk_maxabs,
 *                   const int* tensor_first_chunk, int ntensors, double* out,
 *                   unsigned int* maxabs_out)
 *     grid = 1. tensor_first_chunk has ntensors + 1 entries; out and maxabs_out have ntensors + 1
 *     entries: out[t] = sum of tensor t's chunks in chunk order (0 for an empty tensor),
 *     maxabs_out[t] = the largest of its chunks' maxima (0 for an empty tensor), then
 *     out[ntensors] = sum of out[0..ntensors) (thread-strided in tensor order, then a fixed
 *     tree) and maxabs_out[ntensors] = the largest of all.
 *
 * Maximum magnitude: the bits of |x| (x's bits with the sign cleared), compared as unsigned
 * integers. For non-negative floats that order is the numeric one, and every NaN's bits lie
 * above +Inf's (0x7f800000), so the maximum is the largest |x| when all are finite, +Inf when
 * there is an infinity and no NaN, and a NaN whenever there is one: NaN propagates, as
 * Java's Math.max does, and an integer maximum is exact and order-independent (any grid, any
 * device, the same bits). An empty range gives 0 (+0.0f).
 *
 * The chunk table (chunk_start, chunk_end, tensor_first_chunk) is built on the host from
 * the offsets by tp_build_norm_chunk_table (geometry.h); the JCuda backend must build the
 * same one. Protocol of tp_segmented_norms: [upload table if the offsets changed] ->
 * memset flag 0 -> tp_norm_chunks -> tp_norm_cleanup -> [flag -> device_flag] -> copy
 * out[], the flag and maxabs_out[] to the host.
 *
 * Why the flag test on the partial sum is exact: a float squared is exact in double and at
 * most ~1.2e77, and a thread sums at most a few hundred of them, so a partial sum is
 * finite if and only if every element it covers is finite (NaN and +-Inf propagate:
 * squares are non-negative, so no Inf - Inf). One test per thread instead of per element.
 *
 * Indices: chunk bounds, tensor and chunk counters are 64-bit; within a chunk (<= TP_NORM_CHUNK
 * elements) 32-bit.
 * Loads are float4 from the first 16-byte-aligned element of the chunk on (scalar head
 * and tail), 4 bytes read per element; the maximum costs an AND and an integer max per element
 * beside the square and add, on data already in registers.
 */
#include <string.h>

#include <vector>

#include "common.cuh"

__device__ __forceinline__ double tp_sq(const float x) { return (double)x * (double)x; }

/* The bits of |x|: ordered as the magnitudes, NaNs above +Inf (see the header). */
__device__ __forceinline__ unsigned int tp_abs_bits(const float x) { return __float_as_uint(x) & 0x7fffffffu; }

/* One accumulation step: the square into the sum, the magnitude's bits into the maximum. */
__device__ __forceinline__ void tp_norm_add(const float x, double &acc, unsigned int &mx)
{
    acc += tp_sq(x);
    mx = max(mx, tp_abs_bits(x));
}

/*
 * tp_block_sum's fixed tree for the sum (the same association, so the same bits), with the
 * maximum of the bits reduced alongside at the same barriers. Thread 0 gets both; `sh` and `shm`
 * hold TP_BLOCK entries; every thread of the block must call it.
 */
__device__ __forceinline__ double tp_block_sum_max(double value, unsigned int bits, double *sh, unsigned int *shm,
                                                   unsigned int *max_out)
{
    const int tid = (int)threadIdx.x;
    sh[tid] = value;
    shm[tid] = bits;
    __syncthreads();
#pragma unroll
    for (int s = TP_BLOCK / 2; s > 0; s >>= 1) {
        if (tid < s) {
            sh[tid] += sh[tid + s];
            shm[tid] = max(shm[tid], shm[tid + s]);
        }
        __syncthreads();
    }
    *max_out = shm[0];
    return sh[0];
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_norm_chunks(const float *g, const long long *chunk_start, const long long *chunk_end,
               double *chunk_sumsq, unsigned int *chunk_maxabs, int *nonfinite)
{
    __shared__ double sh[TP_BLOCK];
    __shared__ unsigned int shm[TP_BLOCK];
    if (blockDim.x != TP_BLOCK) {
        if (threadIdx.x == 0) {
            chunk_sumsq[blockIdx.x] = tp_nan();
            chunk_maxabs[blockIdx.x] = 0x7fc00000u; /* a NaN */
        }
        return;
    }
    const long long start = chunk_start[blockIdx.x];
    const int len = (int)(chunk_end[blockIdx.x] - start);
    const float *base = g + start;
    const int tid = (int)threadIdx.x;

    /* scalar head up to the first 16-byte boundary (all scalar if g is not even 4-byte aligned) */
    const unsigned misalign = (unsigned)(reinterpret_cast<uintptr_t>(base) & 15u);
    int head = (misalign & 3u) != 0 ? len : (int)(((16u - misalign) & 15u) >> 2);
    if (head > len) head = len;
    const int nvec = (len - head) >> 2;
    const float4 *body = reinterpret_cast<const float4 *>(base + head);

    double acc = 0.0;
    unsigned int mx = 0u;
    for (int i = tid; i < head; i += TP_BLOCK) tp_norm_add(base[i], acc, mx); /* int: head <= len <= TP_NORM_CHUNK */
    for (int i = tid; i < nvec; i += TP_BLOCK) {                               /* int: len <= TP_NORM_CHUNK */
        const float4 q = body[i];
        tp_norm_add(q.x, acc, mx);
        tp_norm_add(q.y, acc, mx);
        tp_norm_add(q.z, acc, mx);
        tp_norm_add(q.w, acc, mx);
    }
    for (int i = head + 4 * nvec + tid; i < len; i += TP_BLOCK) /* int: len <= TP_NORM_CHUNK */
        tp_norm_add(base[i], acc, mx);

    if (!isfinite(acc)) *nonfinite = 1;
    unsigned int block_max = 0u;
    const double s = tp_block_sum_max(acc, mx, sh, shm, &block_max);
    if (tid == 0) {
        chunk_sumsq[blockIdx.x] = s;
        chunk_maxabs[blockIdx.x] = block_max;
    }
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_norm_cleanup(const double *chunk_sumsq, const unsigned int *chunk_maxabs, const int *tensor_first_chunk,
                int ntensors, double *out, unsigned int *maxabs_out)
{
    __shared__ double sh[TP_BLOCK];
    __shared__ unsigned int shm[TP_BLOCK];
    if (blockIdx.x != 0) return;
    if (blockDim.x != TP_BLOCK) {
        if (threadIdx.x == 0) {
            out[ntensors] = tp_nan();
            maxabs_out[ntensors] = 0x7fc00000u; /* a NaN */
        }
        return;
    }
    const int tid = (int)threadIdx.x;
    const int lane = tid & 31;
    const int warp = tid >> 5;
    const int nwarps = TP_BLOCK / 32;

    /* (1) tensors with few chunks: one thread each, chunks in order (64-bit counters over
     * tensors and chunks: ntensors and the chunk count go up to INT_MAX) */
    for (long long t = tid; t < ntensors; t += TP_BLOCK) {
        const int c0 = tensor_first_chunk[t];
        const int c1 = tensor_first_chunk[t + 1];
        if (c1 - c0 <= TP_NORM_SMALL_CHUNKS) {
            double s = 0.0;
            unsigned int mx = 0u;
            for (int c = c0; c < c1; ++c) {
                s += chunk_sumsq[c];
                mx = max(mx, chunk_maxabs[c]);
            }
            out[t] = s;
            maxabs_out[t] = mx;
        }
    }
    /* (2) tensors with many chunks: one warp each, lane-strided, then a fixed shuffle tree */
    for (long long t = warp; t < ntensors; t += nwarps) {
        const int c0 = tensor_first_chunk[t];
        const int c1 = tensor_first_chunk[t + 1];
        if (c1 - c0 > TP_NORM_SMALL_CHUNKS) { /* uniform across the warp */
            double s = 0.0;
            unsigned int mx = 0u;
            for (long long c = c0 + lane; c < c1; c += 32) {
                s += chunk_sumsq[c];
                mx = max(mx, chunk_maxabs[c]);
            }
#pragma unroll
            for (int off = 16; off > 0; off >>= 1) {
                s += __shfl_down_sync(0xffffffffu, s, off);
                mx = max(mx, __shfl_down_sync(0xffffffffu, mx, off));
            }
            if (lane == 0) {
                out[t] = s;
                maxabs_out[t] = mx;
            }
        }
    }
    __syncthreads(); /* makes this block's writes to out[] and maxabs_out[] visible to all its threads */

    /* (3) the total over the per-tensor sums, the maximum over the per-tensor maxima */
    double acc = 0.0;
    unsigned int mx = 0u;
    for (long long t = tid; t < ntensors; t += TP_BLOCK) {
        acc += out[t];
        mx = max(mx, maxabs_out[t]);
    }
    unsigned int total_max = 0u;
    const double total = tp_block_sum_max(acc, mx, sh, shm, &total_max);
    if (tid == 0) {
        out[ntensors] = total;
        maxabs_out[ntensors] = total_max;
    }
}

#ifndef TP_KERNELS_ONLY

/* The chunk table of the last call, uploaded to TP_SCRATCH_NORM_TABLE: the layout of a
 * model's flat buffer does not change between steps, so it is uploaded once. */
static std::vector<int64_t> s_cached_offsets;
static int s_cached_nchunks = -1;
static unsigned long long s_cached_generation = 0;
static const TpDeviceBuffer *s_cached_buffer = nullptr;

extern "C" int tp_segmented_norms(const float *g, const int64_t *offsets, int ntensors,
                                  double *sumsq_out, float *maxabs_out, int *nonfinite_out, int *device_flag)
{
    TP_REQUIRE(offsets != nullptr && ntensors >= 0 && sumsq_out != nullptr && nonfinite_out != nullptr);
    TP_REQUIRE(offsets[0] == 0);
    TP_REQUIRE(g != nullptr || offsets[ntensors] == 0);
    const size_t ntab = (size_t)ntensors + 1;

    /* ---- chunk table: rebuild and upload only when the offsets changed */
    TpDeviceBuffer *table_buf = nullptr;
    const bool hit = s_cached_buffer != nullptr && s_cached_offsets.size() == ntab &&
                     s_cached_buffer->ptr != nullptr && s_cached_buffer->generation == s_cached_generation &&
                     memcmp(s_cached_offsets.data(), offsets, ntab * sizeof(int64_t)) == 0;
    int nchunks = s_cached_nchunks;
    if (!hit) {
        TpNormChunkTable table;
        TP_CHECK_RC(tp_build_norm_chunk_table(offsets, ntensors, &table));
        nchunks = table.nchunks();
        const size_t bytes_ll = tp_align256(sizeof(long long) * (size_t)nchunks);
        const size_t total = 2 * bytes_ll + sizeof(int) * ntab;
        s_cached_buffer = nullptr; /* invalid until the upload succeeded */
        TP_CHECK_RC(tp_scratch_reserve(TP_SCRATCH_NORM_TABLE, total, &table_buf));
        char *base = static_cast<char *>(table_buf->ptr);
        if (nchunks > 0) {
            TP_CHECK_RC(tp_copy_to_device(base, table.chunk_start.data(), sizeof(long long) * (size_t)nchunks));
            TP_CHECK_RC(tp_copy_to_device(base + bytes_ll, table.chunk_end.data(), sizeof(long long) * (size_t)nchunks));
        }
        TP_CHECK_RC(tp_copy_to_device(base + 2 * bytes_ll, table.tensor_first_chunk.data(), sizeof(int) * ntab));
        s_cached_offsets.assign(offsets, offsets + ntab);
        s_cached_nchunks = nchunks;
        s_cached_generation = table_buf->generation;
        s_cached_buffer = table_buf;
    } else {
        table_buf = const_cast<TpDeviceBuffer *>(s_cached_buffer);
    }
    const size_t bytes_ll = tp_align256(sizeof(long long) * (size_t)nchunks);
    const long long *d_start = reinterpret_cast<const long long *>(table_buf->ptr);
    const long long *d_end = reinterpret_cast<const long long *>(static_cast<char *>(table_buf->ptr) + bytes_ll);
    const int *d_first = reinterpret_cast<const int *>(static_cast<char *>(table_buf->ptr) + 2 * bytes_ll);

    /* ---- reduction scratch: [chunk_sumsq | chunk_maxabs | out (ntensors+1 doubles), flag (one
     * double slot), maxabs (ntensors+1 uints)]: the results in one block for one copy */
    const size_t chunk_bytes = tp_align256(sizeof(double) * (size_t)nchunks);
    const size_t chunk_max_bytes = tp_align256(sizeof(unsigned int) * (size_t)nchunks);
    const size_t result_bytes = sizeof(double) * (ntab + 1) + sizeof(unsigned int) * ntab;
    TpDeviceBuffer *scratch = nullptr;
    TP_CHECK_RC(tp_scratch_reserve(TP_SCRATCH_REDUCE, chunk_bytes + chunk_max_bytes + result_bytes, &scratch));
    char *sbase = static_cast<char *>(scratch->ptr);
    double *d_chunk = reinterpret_cast<double *>(sbase);
    unsigned int *d_chunk_max = reinterpret_cast<unsigned int *>(sbase + chunk_bytes);
    double *d_out = reinterpret_cast<double *>(sbase + chunk_bytes + chunk_max_bytes);
    int *d_flag = reinterpret_cast<int *>(d_out + ntab);
    unsigned int *d_max = reinterpret_cast<unsigned int *>(d_out + ntab + 1);

    TP_CUDA_CHECK(cudaMemsetAsync(d_flag, 0, sizeof(int), 0));
    if (nchunks > 0) {
        TP_LAUNCH(tp_norm_chunks, nchunks, TP_BLOCK, g, d_start, d_end, d_chunk, d_chunk_max, d_flag);
        TP_LAUNCH_CHECK();
    }
    TP_LAUNCH(tp_norm_cleanup, 1, TP_BLOCK, d_chunk, d_chunk_max, d_first, ntensors, d_out, d_max);
    TP_LAUNCH_CHECK();
    if (device_flag != nullptr)
        TP_CUDA_CHECK(cudaMemcpyAsync(device_flag, d_flag, sizeof(int), cudaMemcpyDeviceToDevice, 0));

    /* one synchronous copy brings back the sums, the flag and the maxima */
    std::vector<char> host(result_bytes);
    TP_CHECK_RC(tp_copy_to_host(host.data(), d_out, result_bytes));
    memcpy(sumsq_out, host.data(), sizeof(double) * ntab);
    int flag = 0;
    memcpy(&flag, host.data() + sizeof(double) * ntab, sizeof(int));
    *nonfinite_out = flag != 0 ? 1 : 0;
    if (maxabs_out != nullptr) /* the bits of |g| are the float's */
        memcpy(maxabs_out, host.data() + sizeof(double) * (ntab + 1), sizeof(float) * ntab);
    return 0;
}
#endif /* TP_KERNELS_ONLY */
