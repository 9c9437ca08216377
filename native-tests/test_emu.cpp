/*
 * twophase native tests: the CUDA emulator itself (cuda/emu), with kernels of its own.
 *
 *   semantics   built-in indices in 3-D grids and blocks, __syncthreads with shared memory
 *               (one instance per block, poisoned before each block), every shuffle form with
 *               widths 32, 16 and 8 and split masks, ballot/any/all, __syncwarp, atomics, vector
 *               types' size and alignment, the _rn intrinsics and conversions
 *   launches    configuration errors as CUDA reports them (non-sticky), the kernel table's
 *               launch bounds
 *   memory      capacity (out of memory, then usable again), NaN-filled new allocations, range
 *               checks of copies and memsets, frees
 *   rules       each violation, run in a child process, must abort with a message naming the
 *               kernel, the block and the line: a barrier not every thread reaches, barriers in
 *               divergent code, a lane outside its own mask, a mask naming an exited lane or a
 *               lane at a barrier, mismatched masks, a shuffle reading a lane outside the mask,
 *               a bad width, a full mask on a partial warp
 *
 *   test_emu --bench   fiber switches per second, hand-written switch vs ucontext (not a test)
 *
 * The same file compiled by nvcc (test_primitives, ctest gpu_primitives, scripts/gpu-check) runs
 * the semantics and the launch-configuration errors on a real device, which checks the emulator's
 * definitions against the hardware; the rest is emulator-only (#ifdef TP_EMU).
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "common.cuh"
#include "test_util.h"
#ifdef TP_EMU
#include "tp_emu.h"
#endif

/* ------------------------------------------------------------------ kernels */

__global__ void k_indices(unsigned *out)
{
    const unsigned bl = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    const unsigned th = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    const unsigned per = blockDim.x * blockDim.y * blockDim.z;
    out[bl * per + th] = (blockIdx.x << 24) | (blockIdx.y << 20) | (blockIdx.z << 16) | (threadIdx.x << 8) |
                         (threadIdx.y << 4) | threadIdx.z;
}

/* Reverses each block's slice through shared memory; also reports what shared memory held
 * before the block wrote it (poisoned: NaN). */
__global__ void k_reverse(const float *in, float *out, int *poisoned)
{
    __shared__ float sh[128];
    if (threadIdx.x == 0) poisoned[blockIdx.x] = sh[127] != sh[127];
    __syncthreads();
    const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    sh[threadIdx.x] = in[i];
    __syncthreads();
    out[i] = sh[blockDim.x - 1 - threadIdx.x];
}

__global__ void k_shuffles(int width, int *out)
{
    const int lane = (int)threadIdx.x % 32;
    const unsigned full = 0xffffffffu;
    int *o = out + threadIdx.x * 8;
    o[0] = __shfl_sync(full, lane * 10, 3, width);
    o[1] = __shfl_up_sync(full, lane * 10, 2, width);
    o[2] = __shfl_down_sync(full, lane * 10, 5, width);
    o[3] = __shfl_xor_sync(full, lane * 10, 1, width);
    o[4] = __shfl_xor_sync(full, lane * 10, 9, width);
    o[5] = (int)__ballot_sync(full, lane % 3 == 0);
    o[6] = __any_sync(full, lane == 17) * 2 + __all_sync(full, lane < 32);
    __syncwarp();
    o[7] = __shfl_sync(full, (double)lane + 0.5, 31 - lane) == 31.5 - lane;
}

/* Two half-warp groups, each with its own mask. */
__global__ void k_split_masks(int *out)
{
    const int lane = (int)threadIdx.x;
    const unsigned mask = lane < 16 ? 0x0000ffffu : 0xffff0000u;
    out[lane] = __shfl_down_sync(mask, lane, 4, 16);
}

__global__ void k_atomics(int *i, float *f, double *d, unsigned *mx, unsigned long long *cas)
{
    atomicAdd(i, 1);
    atomicAdd(f, 0.5f);
    atomicAdd(d, 0.25);
    atomicMax(mx, threadIdx.x * 7u % 101u);
    unsigned long long old = *cas, seen;
    do {
        seen = old;
        old = atomicCAS(cas, seen, seen + threadIdx.x);
    } while (old != seen);
}

__global__ void k_vectors(const float4 *in, float4 *out, long long n)
{
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        float4 v = in[i];
        v.x = __fadd_rn(v.x, 1.0f);
        v.w = __fmul_rn(v.w, 2.0f);
        out[i] = v;
    }
}

__global__ void k_intrinsics(float a, float b, float c, double x, double y, float *fo, double *dout, int *io)
{
    fo[0] = __fadd_rn(a, b);
    fo[1] = __fsub_rn(a, b);
    fo[2] = __fmul_rn(a, b);
    fo[3] = __fdiv_rn(a, b);
    fo[4] = __fsqrt_rn(a);
    fo[5] = __fmaf_rn(a, b, c);
    fo[6] = __double2float_rn(x);
    fo[7] = __int_as_float(__float_as_int(a));
    dout[0] = __dadd_rn(x, y);
    dout[1] = __dmul_rn(x, y);
    dout[2] = __ddiv_rn(x, y);
    dout[3] = __fma_rn(x, y, x);
    dout[4] = __longlong_as_double(__double_as_longlong(y));
    io[0] = __float2int_rn(2.5f);
    io[1] = __float2int_rn(-3.5f);
    io[2] = min(3, -4);
    io[3] = max(3u, 9u);
}

/* ---- rule violations (each aborts) */
__global__ void k_partial_barrier(int *p)
{
    if (threadIdx.x < 100) __syncthreads();
    p[threadIdx.x] = 1;
}
__global__ void k_divergent_barriers(int *p)
{
    if (threadIdx.x % 2 == 0) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    p[threadIdx.x] = 1;
}
__global__ void k_lane_not_in_mask(int *p) { p[threadIdx.x] = __shfl_sync(0x0000ffffu, 1, 0); }
__global__ void k_reads_outside_mask(int *p)
{
    if (threadIdx.x < 16) p[threadIdx.x] = __shfl_down_sync(0x0000ffffu, (int)threadIdx.x, 8);
}
__global__ void k_mask_names_exited(int *p)
{
    if (threadIdx.x >= 16) return;
    p[threadIdx.x] = __shfl_sync(0xffffffffu, 1, 0);
}
__global__ void k_mask_names_barrier(int *p)
{
    if (threadIdx.x < 16) p[threadIdx.x] = __shfl_sync(0xffffffffu, 1, 0);
    else __syncthreads();
}
__global__ void k_mismatched_masks(int *p)
{
    p[threadIdx.x] = __shfl_sync(threadIdx.x < 16 ? 0xffffffffu : 0xffff0000u, 1, 0);
}
__global__ void k_bad_width(int *p) { p[threadIdx.x] = __shfl_sync(0xffffffffu, 1, 0, 12); }
__global__ void k_partial_warp(int *p) { p[threadIdx.x] = __shfl_sync(0xffffffffu, 1, 0); }

/* ---- an out-of-bounds read (the sanitizer build reports it where it happens) */
__global__ void k_reads_past_end(const float *x, float *out, int n) { out[threadIdx.x] = x[n - 16 + (int)threadIdx.x]; }

/* ---- the fiber benchmark */
__global__ void k_barriers(int rounds, int *p)
{
    for (int r = 0; r < rounds; ++r) __syncthreads();
    p[threadIdx.x] = rounds;
}

/* ------------------------------------------------------------------ helpers */

template <class T> static T *dev_alloc(size_t count)
{
    T *p = nullptr;
    const cudaError_t e = cudaMalloc(&p, count * sizeof(T));
    TPT_CHECK(e == cudaSuccess, "cudaMalloc(%zu bytes): %s", count * sizeof(T), cudaGetErrorString(e));
    return p;
}

template <class T> static std::vector<T> fetch(const T *d, size_t count)
{
    std::vector<T> h(count);
    TPT_CHECK(cudaMemcpy(h.data(), d, count * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess, "copy back");
    return h;
}

static void launched(const char *what)
{
    const cudaError_t e = cudaGetLastError();
    TPT_CHECK(e == cudaSuccess, "%s: launch failed: %s", what, cudaGetErrorString(e));
}

/* ------------------------------------------------------------------ semantics */

static void test_indices()
{
    const dim3 grid(3, 2, 2), block(4, 3, 2);
    const unsigned n = 12 * 24;
    unsigned *d = dev_alloc<unsigned>(n);
    TP_LAUNCH(k_indices, grid, block, d);
    launched("k_indices");
    const std::vector<unsigned> h = fetch(d, n);
    int bad = 0;
    for (unsigned bz = 0; bz < 2; ++bz)
        for (unsigned by = 0; by < 2; ++by)
            for (unsigned bx = 0; bx < 3; ++bx)
                for (unsigned tz = 0; tz < 2; ++tz)
                    for (unsigned ty = 0; ty < 3; ++ty)
                        for (unsigned tx = 0; tx < 4; ++tx) {
                            const unsigned bl = bx + 3 * (by + 2 * bz), th = tx + 4 * (ty + 3 * tz);
                            const unsigned want = (bx << 24) | (by << 20) | (bz << 16) | (tx << 8) | (ty << 4) | tz;
                            bad += h[bl * 24 + th] != want;
                        }
    TPT_CHECK(bad == 0, "3-D indices: %d of %u wrong", bad, n);
    cudaFree(d);
}

static void test_shared_memory()
{
    const int blocks = 5, threads = 128, n = blocks * threads;
    std::vector<float> in((size_t)n);
    for (int i = 0; i < n; ++i) in[(size_t)i] = (float)i * 0.5f;
    float *din = dev_alloc<float>((size_t)n), *dout = dev_alloc<float>((size_t)n);
    int *poison = dev_alloc<int>(blocks);
    cudaMemcpy(din, in.data(), sizeof(float) * (size_t)n, cudaMemcpyHostToDevice);
    TP_LAUNCH(k_reverse, blocks, threads, din, dout, poison);
    launched("k_reverse");
    const std::vector<float> out = fetch(dout, (size_t)n);
    const std::vector<int> p = fetch(poison, blocks);
    int bad = 0, not_poisoned = 0;
    for (int b = 0; b < blocks; ++b) {
        for (int t = 0; t < threads; ++t) bad += out[(size_t)(b * threads + t)] != in[(size_t)(b * threads + threads - 1 - t)];
        not_poisoned += p[(size_t)b] != 1;
    }
    TPT_CHECK(bad == 0, "block reverse through shared memory: %d wrong", bad);
#ifdef TP_EMU /* a device leaves shared memory as it finds it */
    TPT_CHECK(not_poisoned == 0, "shared memory not NaN before %d of %d blocks wrote it", not_poisoned, blocks);
#else
    (void)not_poisoned;
#endif
    cudaFree(din);
    cudaFree(dout);
    cudaFree(poison);
}

/* What CUDA's shuffles return (CUDA C++ Programming Guide, warp shuffle functions). */
static int shfl_want(int op, int lane, int width)
{
    const int seg = lane & ~(width - 1);
    switch (op) {
    case 0: return (seg + (3 & (width - 1))) * 10;
    case 1: return (lane - seg >= 2 ? lane - 2 : lane) * 10;
    case 2: return (lane - seg + 5 < width ? lane + 5 : lane) * 10;
    case 3: return ((lane ^ 1) < seg + width ? lane ^ 1 : lane) * 10;
    default: return ((lane ^ 9) < seg + width ? lane ^ 9 : lane) * 10;
    }
}

static void test_warp_primitives()
{
    int *d = dev_alloc<int>(64 * 8);
    for (int width : {32, 16, 8}) {
        TP_LAUNCH(k_shuffles, 1, 64, width, d);
        launched("k_shuffles");
        const std::vector<int> h = fetch(d, 64 * 8);
        int bad = 0;
        unsigned ballot = 0;
        for (int l = 0; l < 32; ++l) ballot |= (l % 3 == 0 ? 1u : 0u) << l;
        for (int t = 0; t < 64; ++t) {
            const int lane = t % 32;
            for (int op = 0; op < 5; ++op) bad += h[(size_t)(t * 8 + op)] != shfl_want(op, lane, width);
            bad += (unsigned)h[(size_t)(t * 8 + 5)] != ballot;
            bad += h[(size_t)(t * 8 + 6)] != 3;
            bad += h[(size_t)(t * 8 + 7)] != 1;
        }
        TPT_CHECK(bad == 0, "warp primitives, width %d: %d results differ from CUDA's definition", width, bad);
    }
    TP_LAUNCH(k_split_masks, 1, 32, d);
    launched("k_split_masks");
    const std::vector<int> h = fetch(d, 32);
    int bad = 0;
    for (int l = 0; l < 32; ++l) bad += h[(size_t)l] != ((l % 16) + 4 < 16 ? l + 4 : l);
    TPT_CHECK(bad == 0, "two half-warp masks: %d wrong", bad);
    cudaFree(d);
}

static void test_atomics()
{
    int *i = dev_alloc<int>(1);
    float *f = dev_alloc<float>(1);
    double *dd = dev_alloc<double>(1);
    unsigned *mx = dev_alloc<unsigned>(1);
    unsigned long long *cas = dev_alloc<unsigned long long>(1);
    cudaMemset(i, 0, sizeof(int));
    cudaMemset(f, 0, sizeof(float));
    cudaMemset(dd, 0, sizeof(double));
    cudaMemset(mx, 0, sizeof(unsigned));
    cudaMemset(cas, 0, sizeof(unsigned long long));
    TP_LAUNCH(k_atomics, 3, 200, i, f, dd, mx, cas);
    launched("k_atomics");
    const int hi = fetch(i, 1)[0];
    const float hf = fetch(f, 1)[0];
    const double hd = fetch(dd, 1)[0];
    const unsigned hm = fetch(mx, 1)[0];
    const unsigned long long hc = fetch(cas, 1)[0];
    TPT_CHECK(hi == 600 && hf == 300.0f && hd == 150.0 && hm == 100 && hc == 3ull * 199 * 200 / 2,
              "atomics: %d %g %g %u %llu", hi, hf, hd, hm, hc);
    cudaFree(i);
    cudaFree(f);
    cudaFree(dd);
    cudaFree(mx);
    cudaFree(cas);
}

static void test_vectors_and_intrinsics()
{
    static_assert(sizeof(float4) == 16 && alignof(float4) == 16 && alignof(double2) == 16 && sizeof(int2) == 8 &&
                      alignof(float2) == 8 && sizeof(uchar4) == 4,
                  "vector types as on the device");
    const long long n = 37;
    std::vector<float4> in((size_t)n);
    for (long long k = 0; k < n; ++k) in[(size_t)k] = make_float4((float)k, 1.0f, 2.0f, (float)-k);
    float4 *din = dev_alloc<float4>((size_t)n), *dout = dev_alloc<float4>((size_t)n);
    TPT_CHECK(reinterpret_cast<uintptr_t>(din) % 256 == 0, "device allocations are 256-byte aligned");
    cudaMemcpy(din, in.data(), sizeof(float4) * (size_t)n, cudaMemcpyHostToDevice);
    TP_LAUNCH(k_vectors, 1, 32, din, dout, n);
    launched("k_vectors");
    const std::vector<float4> out = fetch(dout, (size_t)n);
    int bad = 0;
    for (long long k = 0; k < n; ++k) {
        const float4 &o = out[(size_t)k];
        bad += o.x != (float)k + 1.0f || o.y != 1.0f || o.z != 2.0f || o.w != -2.0f * (float)k;
    }
    TPT_CHECK(bad == 0, "float4 loads and stores: %d wrong", bad);

    float *fo = dev_alloc<float>(8);
    double *dout2 = dev_alloc<double>(5);
    int *io = dev_alloc<int>(4);
    const float a = 1.1f, b = 3.3f, c = -0.7f;
    const double x = 0.1, y = 3.0;
    TP_LAUNCH(k_intrinsics, 1, 1, a, b, c, x, y, fo, dout2, io);
    launched("k_intrinsics");
    const std::vector<float> hf = fetch(fo, 8);
    const std::vector<double> hd = fetch(dout2, 5);
    const std::vector<int> hi = fetch(io, 4);
    volatile float va = a, vb = b, vc = c; /* the host's IEEE float operations, one at a time */
    volatile double vx = x, vy = y;
    TPT_CHECK(hf[0] == va + vb && hf[1] == va - vb && hf[2] == va * vb && hf[3] == va / vb && hf[4] == std::sqrt(va) &&
                  hf[5] == std::fma(va, vb, vc) && hf[6] == (float)vx && hf[7] == a,
              "float intrinsics");
    TPT_CHECK(hd[0] == vx + vy && hd[1] == vx * vy && hd[2] == vx / vy && hd[3] == std::fma(vx, vy, vx) && hd[4] == y,
              "double intrinsics");
    TPT_CHECK(hi[0] == 2 && hi[1] == -4 && hi[2] == -4 && hi[3] == 9, "conversions and min/max: %d %d %d %d", hi[0],
              hi[1], hi[2], hi[3]);
    cudaFree(din);
    cudaFree(dout);
    cudaFree(fo);
    cudaFree(dout2);
    cudaFree(io);
}

/* ------------------------------------------------------------------ launches */

static void test_launch_configuration()
{
    int *p = dev_alloc<int>(4096);
    struct Case {
        const char *what;
        dim3 grid, block;
        cudaError_t want;
    } cases[] = {
        {"grid of 0 blocks", dim3(0), dim3(32), cudaErrorInvalidConfiguration},
        {"block of 0 threads", dim3(1), dim3(0), cudaErrorInvalidConfiguration},
        {"1025 threads", dim3(1), dim3(1025), cudaErrorInvalidConfiguration},
        {"block z of 65", dim3(1), dim3(1, 1, 65), cudaErrorInvalidConfiguration},
        {"32 x 64 threads", dim3(1), dim3(32, 64), cudaErrorInvalidConfiguration},
        {"grid y of 65536", dim3(1, 65536), dim3(32), cudaErrorInvalidConfiguration},
    };
    for (const Case &c : cases) {
        (void)cudaGetLastError();
        TP_LAUNCH(k_partial_warp, c.grid, c.block, p);
        const cudaError_t e = cudaGetLastError();
        TPT_CHECK(e == c.want, "%s: %s, want %s", c.what, cudaGetErrorName(e), cudaGetErrorName(c.want));
        TPT_CHECK(cudaGetLastError() == cudaSuccess, "%s: the error must not be sticky", c.what);
    }
    cudaFree(p);
#ifdef TP_EMU /* the emulator's kernel table; on a device test_driver_api checks the launch bound */
    /* a kernel of the table launched past its __launch_bounds__(TP_BLOCK) */
    float *x = dev_alloc<float>(16);
    TP_LAUNCH(tp_axpy_kernel, 1, 2 * TP_BLOCK, 1.0f, x, x, 16LL);
    const cudaError_t e = cudaGetLastError();
    TPT_CHECK(e == cudaErrorLaunchOutOfResources, "tp_axpy_kernel with %d threads: %s", 2 * TP_BLOCK, cudaGetErrorName(e));
    const tp_emu::KernelEntry *k = tp_emu::find_kernel("tp_adam_kernel");
    TPT_CHECK(k != nullptr && k->max_threads == TP_BLOCK && tp_emu::find_kernel((const void *)&tp_adam_kernel) == k,
              "kernel table: tp_adam_kernel by name and by function");
    TPT_CHECK(tp_emu::find_kernel("tp_no_such_kernel") == nullptr, "kernel table: unknown name");
    int count = 0;
    for (const tp_emu::KernelEntry *it = tp_emu::kernels_begin(); it != tp_emu::kernels_end(); ++it) ++count;
    TPT_CHECK(count >= 16, "kernel table has %d entries", count);
    cudaFree(x);
#endif
}

#ifdef TP_EMU
/* ------------------------------------------------------------------ memory */

static void test_memory()
{
    int64_t used0 = -1, cap0 = -1;
    TPT_CHECK(tp_emu_device_memory(&used0, &cap0) == 0 && cap0 > 0, "device memory query");
    TPT_CHECK(tp_emu_set_device_memory(used0 + (1 << 20)) == 0, "set the capacity to 1 MiB above what is used");
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    TPT_CHECK(free_b == (size_t)(1 << 20) && total_b == (size_t)used0 + (1 << 20), "mem info %zu of %zu", free_b, total_b);
    void *big = nullptr;
    TPT_CHECK(cudaMalloc(&big, 2 << 20) == cudaErrorMemoryAllocation && big == nullptr, "2 MiB of 1 MiB free");
    TPT_CHECK(cudaGetLastError() == cudaErrorMemoryAllocation && cudaGetLastError() == cudaSuccess,
              "the allocation error is the last error, once");
    void *fits = nullptr;
    TPT_CHECK(cudaMalloc(&fits, 1 << 19) == cudaSuccess, "half a MiB still fits");
    /* a tp_* call whose scratch does not fit fails with the code, and works once memory is back */
    float *x = nullptr;
    TPT_CHECK(tp_malloc(reinterpret_cast<void **>(&x), 4 * 100000) == 0, "tp_malloc 400 kB");
    double out = 0;
    const float *ys[1] = {x};
    tp_memset(x, 0, 4 * 100000);
    void *filler = nullptr;
    cudaMemGetInfo(&free_b, &total_b);
    cudaMalloc(&filler, free_b);
    (void)tp_release_scratch();
    TPT_CHECK(tp_multi_dot(x, ys, 1, 100000, &out) == cudaErrorMemoryAllocation, "multi-dot without room for its scratch");
    cudaFree(filler);
    TPT_CHECK(tp_multi_dot(x, ys, 1, 100000, &out) == 0 && out == 0.0, "multi-dot once memory is free again");
    tp_free(x);
    cudaFree(fits);
    tp_release_scratch();
    tp_emu_set_device_memory(cap0);

    /* never-written memory reads as NaN; copies and memsets stay inside one allocation */
    float *a = dev_alloc<float>(10);
    const std::vector<float> fresh = fetch(a, 10);
    TPT_CHECK(std::isnan(fresh[0]) && std::isnan(fresh[9]), "a new allocation reads as NaN");
    float host[11] = {};
    TPT_CHECK(cudaMemcpy(a, host, sizeof host, cudaMemcpyHostToDevice) == cudaErrorInvalidValue, "copy past the end");
    TPT_CHECK(cudaMemset(a + 5, 0, 6 * sizeof(float)) == cudaErrorInvalidValue, "memset past the end");
    TPT_CHECK(cudaMemcpy(host, host + 1, 4, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue, "host pointer as device");
    TPT_CHECK(cudaMemcpy(a, host, 4, (cudaMemcpyKind)7) == cudaErrorInvalidMemcpyDirection, "bad copy kind");
    TPT_CHECK(cudaFree(a + 1) == cudaErrorInvalidValue, "free of an interior pointer");
    TPT_CHECK(cudaFree(a) == cudaSuccess && cudaFree(a) == cudaErrorInvalidValue, "free once");
    TPT_CHECK(cudaFree(nullptr) == cudaSuccess, "free(NULL)");
    (void)cudaGetLastError();
}

/* ------------------------------------------------------------------ rule violations */

/* Runs body in a child process; it must die (by abort, or also by a non-zero exit when
 * any_exit) with a message on stderr containing every string of want. */
static void expect_death(const char *what, std::vector<const char *> want, bool any_exit, const std::function<void()> &body)
{
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        TPT_CHECK(false, "pipe");
        return;
    }
    fflush(stdout);
    fflush(stderr);
    const pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        dup2(pipefd[1], 2);
        body();
        _exit(0);
    }
    close(pipefd[1]);
    std::string text;
    char buf[512];
    ssize_t got;
    while ((got = read(pipefd[0], buf, sizeof buf)) > 0) text.append(buf, (size_t)got);
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    const bool aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    bool found = true;
    for (const char *w : want) found = found && text.find(w) != std::string::npos;
    TPT_CHECK((aborted || (any_exit && WIFEXITED(status) && WEXITSTATUS(status) != 0)) && found,
              "%s: %s, message '%s' (want one containing '%s')", what,
              aborted ? "aborted" : WIFEXITED(status) ? "exited" : "killed otherwise", text.c_str(), want.back());
}

/* An emulator rule violation: abort, with the emulator's message. */
static void expect_abort(const char *what, const char *want, const std::function<void()> &body)
{
    expect_death(what, {"tp_emu: ", want}, false, body);
}

static void test_rules()
{
    int *p = dev_alloc<int>(256);
    expect_abort("barrier reached by 100 of 128 threads", "is reached by 100 of 128 threads",
                 [&] { TP_LAUNCH(k_partial_barrier, 2, 128, p); });
    expect_abort("barrier message names the kernel", "kernel k_partial_barrier, block (0,0,0)",
                 [&] { TP_LAUNCH(k_partial_barrier, 2, 128, p); });
    expect_abort("barriers in divergent code", "a barrier in divergent code",
                 [&] { TP_LAUNCH(k_divergent_barriers, 1, 64, p); });
    expect_abort("lane outside its own mask", "the calling lane 16 is not in the mask 0x0000ffff",
                 [&] { TP_LAUNCH(k_lane_not_in_mask, 1, 32, p); });
    expect_abort("shuffle reading outside the mask", "reads lane 16, which is not in the mask",
                 [&] { TP_LAUNCH(k_reads_outside_mask, 1, 32, p); });
    expect_abort("mask naming an exited lane", "named in the mask has exited",
                 [&] { TP_LAUNCH(k_mask_names_exited, 1, 32, p); });
    expect_abort("mask naming a lane at a barrier", "named in the mask waits at __syncthreads",
                 [&] { TP_LAUNCH(k_mask_names_barrier, 1, 32, p); });
    expect_abort("mismatched masks", "named in the mask is at __shfl_sync",
                 [&] { TP_LAUNCH(k_mismatched_masks, 1, 32, p); });
    expect_abort("width not a power of two", "width 12 is not a power of two", [&] { TP_LAUNCH(k_bad_width, 1, 32, p); });
    expect_abort("full mask on a partial warp", "the block's last warp has only 16 lanes",
                 [&] { TP_LAUNCH(k_partial_warp, 1, 48, p); });
#if defined(__SANITIZE_ADDRESS__)
    /* in emulation device memory is host memory: AddressSanitizer reports a kernel's
     * out-of-bounds read where it happens (compute-sanitizer's memcheck on a GPU) */
    float *x = dev_alloc<float>(100), *out = dev_alloc<float>(32);
    expect_death("kernel reading 15 floats past its allocation", {"heap-buffer-overflow", "k_reads_past_end"}, true,
                 [&] { TP_LAUNCH(k_reads_past_end, 1, 32, x, out, 100); });
    cudaFree(x);
    cudaFree(out);
#endif
    cudaFree(p);
}

/* ------------------------------------------------------------------ benchmark */

/* Barrier rounds of one block of 256 threads: each round switches to every fiber and back;
 * ns per switch includes the scheduler's work per fiber. Best of 5. */
static int bench()
{
    int *p = dev_alloc<int>(256);
    const int rounds = 2000;
    std::printf("%-10s %12s %14s\n", "switch", "ns/switch", "switches/s");
    double first = 0.0;
    for (const char *impl : {"asm", "ucontext"}) {
        if (!tp_emu::set_fiber_switch(impl)) {
            std::printf("%-10s not available here\n", impl);
            continue;
        }
        double best = 1e30;
        for (int trial = 0; trial < 5; ++trial) {
            const auto t0 = std::chrono::steady_clock::now();
            TP_LAUNCH(k_barriers, 1, 256, rounds, p);
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            best = std::min(best, s);
        }
        const double switches = 2.0 * 256 * (rounds + 1); /* to each fiber and back, per round and at exit */
        char ratio[64] = "";
        if (first > 0.0) std::snprintf(ratio, sizeof ratio, "  (%.1f x the first)", best / first);
        std::printf("%-10s %12.1f %14.3g%s\n", impl, best / switches * 1e9, switches / best, ratio);
        if (first == 0.0) first = best;
    }
    cudaFree(p);
    return 0;
}

#endif /* TP_EMU */

int main(int argc, char **argv)
{
#ifdef TP_EMU
    if (argc > 1 && std::strcmp(argv[1], "--bench") == 0) return bench();
    std::printf("fiber switch: %s\n", tp_emu::fiber_switch());
#else
    (void)argc;
    (void)argv;
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        std::printf("SKIPPED: no CUDA device\n");
        return tpt::kSkip;
    }
#endif
    test_indices();
    test_shared_memory();
    test_warp_primitives();
    test_atomics();
    test_vectors_and_intrinsics();
    test_launch_configuration();
#ifdef TP_EMU
    test_memory();
    test_rules();
#endif
    return tpt::finish("test_emu");
}
