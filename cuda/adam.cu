/*
 * twophase: fused Adam / AdamW step over the flat parameter buffer, optionally AMSGrad, with one
 * set of scalars for the whole buffer or a segment table of per-tensor scalars (AdamUpdate).
 *
 * Kernels (extern "C", in twophase.fatbin and libtwophase_cuda.so), block = TP_BLOCK:
 *
 *   tp_adam_kernel(float* p, const float* g, float* m, float* v, long long n,
 *                  float beta1, float one_minus_beta1, float beta2, float one_minus_beta2,
 *                  float step_size, float bc2_sqrt, float eps,
 *                  float l2_wd, float decay_factor, float grad_scale, const int* skip)
 *     the default configuration: one set of scalars for every element, no AMSGrad, the scalars
 *     as arguments (no table to upload); grid = tp_elementwise_grid(n), grid-stride loops. The
 *     same instructions as before the segment table existed (48 registers on sm_80, 40 on sm_90).
 *   tp_adam_segments_kernel(float* p, const float* g, float* m, float* v, float* vmax, long long n,
 *                           const long long* seg_offsets, const float* seg_scalars, int nseg,
 *                           const int* skip)
 *     every other case (per-tensor scalars, AMSGrad); vmax is NULL for Adam, AMSGrad's running
 *     maximum of v otherwise. Segment k = elements [seg_offsets[k], seg_offsets[k+1]) with the
 *     TP_ADAM_SCALARS floats seg_scalars[k * TP_ADAM_SCALARS ...] (device memory; the order of
 *     TpAdamScalars below);
 *     seg_offsets[0] == 0, non-decreasing, seg_offsets[nseg] == n, nseg >= 1 (empty segments
 *     allowed). grid = tp_elementwise_grid(n); block b owns one contiguous range of the buffer.
 *   Both: skip may be NULL, and when *skip != 0 the kernel returns before touching anything.
 *
 * Per element (tp_adam_update, the only place the math is written), every operation rounded to
 * float separately (IEEE round-to-nearest intrinsics, so nvcc cannot contract them into FMAs)
 * and in exactly this order, so that a plain float implementation in Java or C that evaluates
 * the same expressions left to right gets identical bits:
 *
 *   gs   = (grad * grad_scale) + (l2_wd * p)
 *   p    = p * decay_factor
 *   m    = (beta1 * m) + (one_minus_beta1 * gs)
 *   v    = (beta2 * v) + ((one_minus_beta2 * gs) * gs)
 *   vmax = maximum(vmax, v)          AMSGrad only; IEEE 754-2019 maximum (Java's Math.max):
 *                                    NaN if either is NaN, +0 above -0
 *   den  = (sqrt(v, or vmax with AMSGrad) / bc2_sqrt) + eps
 *   p    = p - ((step_size * m) / den)
 *
 * one_minus_beta1/2 come from the host (1 - beta in double, rounded to float, as PyTorch
 * does), not 1.0f - beta on the device.
 *
 * Memory plumbing: float4 loads/stores when p, g, m, v (and vmax) are all 16-byte aligned (then
 * the last n % 4 elements go through a scalar loop), scalar loads otherwise; 64-bit indices.
 * 28 bytes per element (4 reads, 3 writes), 36 with AMSGrad.
 *
 * Cost of the segment table (tp_adam_segments_kernel). Each thread keeps the scalars of its
 * current segment in registers and the end of that segment; a float4 inside the segment, the
 * common case, costs one 64-bit compare more than the uniform kernel. Block b streams one
 * contiguous range (about n / grid elements, coalesced within each TP_BLOCK-float4 step), so
 * a thread's elements rise by TP_BLOCK * 4 and it crosses only the boundaries inside its
 * block's range: on a crossing it looks up the next segment (one probe of the next offset, a
 * binary search over the rest of the table only when segments are shorter than a step) and
 * loads that segment's 10 scalars, from a table of (nseg + 1) * 8 + nseg * 40 bytes that every
 * block reads and the caches keep. A float4 that straddles a boundary (or an empty segment) is
 * updated element by element with each element's own segment. No shared memory and no barrier:
 * a per-block copy of the table would cost every block a pass over all of it, where a thread
 * needs only the few segments it crosses. The grid-stride order of the uniform kernel would
 * move each thread by the whole grid (up to 1M elements) per step, across many segments.
 */
#include "common.cuh"

struct TpAdamScalars {
    float beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, bc2_sqrt, eps, l2_wd, decay_factor,
        grad_scale;
};
static_assert(sizeof(TpAdamScalars) == TP_ADAM_SCALARS * sizeof(float), "TpAdamScalars is the table row");

/* The Adam/AdamW/AMSGrad math for one element; see the formula above. */
__device__ __forceinline__ void tp_adam_update(const bool amsgrad, float &p, const float grad, float &m, float &v,
                                               float &vmax, const TpAdamScalars &s)
{
    const float gs = __fadd_rn(__fmul_rn(grad, s.grad_scale), __fmul_rn(s.l2_wd, p));
    p = __fmul_rn(p, s.decay_factor);
    m = __fadd_rn(__fmul_rn(s.beta1, m), __fmul_rn(s.one_minus_beta1, gs));
    v = __fadd_rn(__fmul_rn(s.beta2, v), __fmul_rn(__fmul_rn(s.one_minus_beta2, gs), gs));
    float second = v;
    if (amsgrad) {
        vmax = tp_java_max(vmax, v);
        second = vmax;
    }
    const float den = __fadd_rn(__fdiv_rn(__fsqrt_rn(second), s.bc2_sqrt), s.eps);
    p = __fsub_rn(p, __fdiv_rn(__fmul_rn(s.step_size, m), den));
}

/* Scalars source of tp_adam_kernel: one set for every element. */
struct TpUniformScalars {
    TpAdamScalars s;
    __device__ __forceinline__ const TpAdamScalars &at(long long) const { return s; }
    __device__ __forceinline__ bool covers(long long) const { return true; }
};

/*
 * Scalars source of tp_adam_segments_kernel: a cursor over the segment table. The elements
 * one thread visits only increase, so the cursor only moves forward. at(e) makes the current
 * segment the one that holds element e (offsets[seg] <= e < end) and returns its scalars;
 * covers(last) says whether element last (>= that e) is in the same segment.
 */
struct TpSegmentCursor {
    const long long *offsets;
    const float *table;
    int nseg;
    int seg;       /* current segment; -1 before the first lookup */
    long long end; /* offsets[seg + 1]; 0 before the first lookup */
    TpAdamScalars s;

    __device__ __forceinline__ TpSegmentCursor(const long long *o, const float *t, int count)
        : offsets(o), table(t), nseg(count), seg(-1), end(0), s()
    {
    }

    __device__ __forceinline__ const TpAdamScalars &at(long long e)
    {
        if (e >= end) seek(e);
        return s;
    }

    __device__ __forceinline__ bool covers(long long last) const { return last < end; }

    /* The last segment that starts at or before e, among seg + 1 .. nseg - 1 (offsets[seg + 1] =
     * end <= e, so seg + 1 qualifies); usually seg + 1 itself, found by one probe. */
    __device__ void seek(long long e)
    {
        int lo = seg + 1, hi = nseg - 1;
        if (lo < hi && offsets[lo + 1] > e) hi = lo;
        while (lo < hi) {
            const int mid = lo + (hi - lo + 1) / 2;
            if (offsets[mid] <= e) lo = mid;
            else hi = mid - 1;
        }
        seg = lo;
        end = offsets[lo + 1];
        const float *r = table + (long long)lo * TP_ADAM_SCALARS;
        s = TpAdamScalars{r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]};
    }
};

/*
 * One thread's share: with float4s, the float4s [vbegin, vend) by step and then the elements
 * [ebegin, eend) by step (the tail); without, only the elements [ebegin, eend) by step.
 * Element indices rise throughout, as the segment cursor needs.
 */
template <class Scalars>
__device__ __forceinline__ void tp_adam_span(const bool amsgrad, float *p, const float *g, float *m, float *v,
                                             float *vmax, Scalars &src, bool vectors, long long vbegin,
                                             long long vend, long long ebegin, long long eend, long long step)
{
    if (vectors) {
        float4 *p4 = reinterpret_cast<float4 *>(p);
        const float4 *g4 = reinterpret_cast<const float4 *>(g);
        float4 *m4 = reinterpret_cast<float4 *>(m);
        float4 *v4 = reinterpret_cast<float4 *>(v);
        float4 *x4 = reinterpret_cast<float4 *>(vmax);
        for (long long i = vbegin; i < vend; i += step) {
            float4 pp = p4[i];
            const float4 gg = g4[i];
            float4 mm = m4[i];
            float4 vv = v4[i];
            float4 xx = {0.0f, 0.0f, 0.0f, 0.0f};
            if (amsgrad) xx = x4[i];
            const long long e = 4 * i;
            const TpAdamScalars &s = src.at(e);
            if (src.covers(e + 3)) {
                tp_adam_update(amsgrad, pp.x, gg.x, mm.x, vv.x, xx.x, s);
                tp_adam_update(amsgrad, pp.y, gg.y, mm.y, vv.y, xx.y, s);
                tp_adam_update(amsgrad, pp.z, gg.z, mm.z, vv.z, xx.z, s);
                tp_adam_update(amsgrad, pp.w, gg.w, mm.w, vv.w, xx.w, s);
            } else { /* the vector straddles a segment boundary: each element with its own segment */
                tp_adam_update(amsgrad, pp.x, gg.x, mm.x, vv.x, xx.x, src.at(e));
                tp_adam_update(amsgrad, pp.y, gg.y, mm.y, vv.y, xx.y, src.at(e + 1));
                tp_adam_update(amsgrad, pp.z, gg.z, mm.z, vv.z, xx.z, src.at(e + 2));
                tp_adam_update(amsgrad, pp.w, gg.w, mm.w, vv.w, xx.w, src.at(e + 3));
            }
            p4[i] = pp;
            m4[i] = mm;
            v4[i] = vv;
            if (amsgrad) x4[i] = xx;
        }
    }
    for (long long i = ebegin; i < eend; i += step) {
        float pp = p[i], mm = m[i], vv = v[i], xx = 0.0f;
        if (amsgrad) xx = vmax[i];
        tp_adam_update(amsgrad, pp, g[i], mm, vv, xx, src.at(i));
        p[i] = pp;
        m[i] = mm;
        v[i] = vv;
        if (amsgrad) vmax[i] = xx;
    }
}

__device__ __forceinline__ bool tp_adam_vectors(const float *p, const float *g, const float *m, const float *v,
                                                const float *vmax)
{
    return tp_aligned16(p) && tp_aligned16(g) && tp_aligned16(m) && tp_aligned16(v) &&
           (vmax == nullptr || tp_aligned16(vmax));
}

/* Grid-stride share of this thread over the whole buffer, without AMSGrad: the uniform kernel,
 * in the shape of the kernel before segment tables (its PTX is the same, register names aside). */
__device__ __forceinline__ void tp_adam_grid_stride(float *p, const float *g, float *m, float *v, long long n,
                                                    TpUniformScalars &src)
{
    const long long first = tp_thread_index();
    const long long stride = tp_grid_stride();
    long long tail = 0;
    if (tp_adam_vectors(p, g, m, v, nullptr)) {
        const long long n4 = n / 4;
        tp_adam_span(false, p, g, m, v, nullptr, src, true, first, n4, 0, 0, stride);
        tail = n4 * 4;
    }
    tp_adam_span(false, p, g, m, v, nullptr, src, false, 0, 0, tail + first, n, stride);
}

/* Block-contiguous share: block b owns the float4s [b * per, min((b + 1) * per, n4)) with
 * per = ceil(n4 / grid), the last block also the n % 4 tail; without float4s, the same ranges
 * in elements. */
__device__ __forceinline__ void tp_adam_block_range(float *p, const float *g, float *m, float *v, float *vmax,
                                                    long long n, TpSegmentCursor &src)
{
    const bool vectors = tp_adam_vectors(p, g, m, v, vmax);
    const long long n4 = n / 4;
    const long long grid = (long long)gridDim.x;
    const long long per = (n4 + grid - 1) / grid;
    const long long b = (long long)blockIdx.x;
    const long long lo4 = b * per < n4 ? b * per : n4;
    const long long hi4 = (b + 1) * per < n4 ? (b + 1) * per : n4;
    const bool last = b == grid - 1;
    const long long t = (long long)threadIdx.x;
    const bool amsgrad = vmax != nullptr;
    if (vectors)
        tp_adam_span(amsgrad, p, g, m, v, vmax, src, true, lo4 + t, hi4, last ? 4 * n4 + t : n, n, TP_BLOCK);
    else
        tp_adam_span(amsgrad, p, g, m, v, vmax, src, false, 0, 0, 4 * lo4 + t, last ? n : 4 * hi4, TP_BLOCK);
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_adam_kernel(float *p, const float *g, float *m, float *v, long long n,
               float beta1, float one_minus_beta1, float beta2, float one_minus_beta2,
               float step_size, float bc2_sqrt, float eps,
               float l2_wd, float decay_factor, float grad_scale, const int *skip)
{
    if (skip != nullptr && *skip != 0) return;
    TpUniformScalars src = {{beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, bc2_sqrt, eps, l2_wd,
                             decay_factor, grad_scale}};
    tp_adam_grid_stride(p, g, m, v, n, src);
}

extern "C" __global__ void __launch_bounds__(TP_BLOCK)
tp_adam_segments_kernel(float *p, const float *g, float *m, float *v, float *vmax, long long n,
                        const long long *seg_offsets, const float *seg_scalars, int nseg, const int *skip)
{
    if (skip != nullptr && *skip != 0) return;
    TpSegmentCursor src(seg_offsets, seg_scalars, nseg);
    tp_adam_block_range(p, g, m, v, vmax, n, src);
}

#ifndef TP_KERNELS_ONLY
#include <string.h>

#include <vector>

extern "C" int tp_adam_step(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                            float *max_exp_avg_sq, int64_t n, const int64_t *offsets, const float *scalars,
                            int nsegments, const int *skip_flag)
{
    TP_REQUIRE(n >= 0 && nsegments >= 1 && offsets != nullptr && scalars != nullptr);
    TP_REQUIRE(offsets[0] == 0 && offsets[nsegments] == n);
    for (int k = 0; k < nsegments; ++k) TP_REQUIRE(offsets[k] <= offsets[k + 1]);
    if (n == 0) return 0;
    TP_REQUIRE(param != nullptr && grad != nullptr && exp_avg != nullptr && exp_avg_sq != nullptr);
    const int grid = tp_elementwise_grid(n);
    if (nsegments == 1 && max_exp_avg_sq == nullptr) {
        const float *s = scalars;
        TP_LAUNCH(tp_adam_kernel, grid, TP_BLOCK, param, grad, exp_avg, exp_avg_sq, (long long)n, s[0], s[1], s[2], s[3],
                  s[4], s[5], s[6], s[7], s[8], s[9], skip_flag);
        TP_LAUNCH_CHECK();
    } else {
        /* the table, [offsets | scalars at a 256-byte boundary], in one copy */
        const size_t off_bytes = tp_align256(sizeof(long long) * ((size_t)nsegments + 1));
        const size_t scalar_bytes = sizeof(float) * TP_ADAM_SCALARS * (size_t)nsegments;
        std::vector<char> host(off_bytes + scalar_bytes);
        memcpy(host.data(), offsets, sizeof(long long) * ((size_t)nsegments + 1));
        memcpy(host.data() + off_bytes, scalars, scalar_bytes);
        TpDeviceBuffer *table = nullptr;
        TP_CHECK_RC(tp_scratch_reserve(TP_SCRATCH_ADAM_TABLE, host.size(), &table));
        TP_CHECK_RC(tp_copy_to_device(table->ptr, host.data(), host.size()));
        const long long *d_offsets = static_cast<const long long *>(table->ptr);
        const float *d_scalars = reinterpret_cast<const float *>(static_cast<const char *>(table->ptr) + off_bytes);
        TP_LAUNCH(tp_adam_segments_kernel, grid, TP_BLOCK, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq,
                  (long long)n, d_offsets, d_scalars, nsegments, skip_flag);
        TP_LAUNCH_CHECK();
    }
    return 0;
}
#endif /* TP_KERNELS_ONLY */
