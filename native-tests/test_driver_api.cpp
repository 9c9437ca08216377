/*
 * twophase native tests: the kernels through the CUDA driver API, launched as the JCuda backend
 * launches them (cuModuleLoadData, cuModuleGetFunction, cuLaunchKernel with a kernelParams
 * array), on any driver library:
 *
 *   test_driver_api <path>/libcuda.so.1 - <kernel names>        the emulated driver (no image)
 *   test_driver_api libcuda.so.1 twophase.fatbin <kernel names>  the NVIDIA driver and the fatbin
 *
 * The library is opened with dlopen and the functions found with dlsym, so the same test runs
 * against both; it is compiled against cuda/emu/cuda.h, whose types, codes and _v2 names are the
 * real driver's. Without the NVIDIA driver or a device it prints SKIPPED and exits 77.
 *
 * Checked: device queries; memory calls need a current context; every kernel of kernels.cuh is
 * found by name, an unknown name is CUDA_ERROR_NOT_FOUND; the parameters reach the kernels
 * (tp_axpy_kernel, the 16-parameter tp_adam_kernel and tp_adam_segments_kernel with its table in
 * device memory, bitwise against the CPU reference);
 * every reduction kernel, the sgemm and batched matmul kernels and the row kernels write NaN when
 * launched with a block other than TP_BLOCK, never leave their output silently unwritten; the conv
 * kernels, which do not depend on the block size, give the reference's bits with 96-thread blocks
 * and few of them (the transpose's shared tiles, a 13-parameter launch); sgemm with alpha = 0 reads
 * neither A nor B; launch-configuration errors; error names; with the emulator also out-of-memory and that
 * releasing the last reference to the primary context frees its memory.
 */
#include <dlfcn.h>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "cuda.h"
#include "reference.h"
#include "test_util.h"
#include "twophase.h"

#define TP_STR2(x) #x
#define TP_STR(x) TP_STR2(x)

/* The driver functions this test calls, resolved by name (the _v2 ones through cuda.h's macros). */
#define TP_DRIVER_FUNCTIONS(X)                                                              \
    X(cuInit) X(cuDriverGetVersion) X(cuGetErrorString) X(cuGetErrorName) X(cuDeviceGetCount) X(cuDeviceGet)       \
    X(cuDeviceGetName) X(cuDeviceGetAttribute) X(cuDeviceTotalMem) X(cuDevicePrimaryCtxRetain)                    \
    X(cuDevicePrimaryCtxRelease) X(cuCtxSetCurrent) X(cuCtxSynchronize) X(cuModuleLoadData)                       \
    X(cuModuleGetFunction) X(cuModuleUnload) X(cuLaunchKernel) X(cuMemAlloc) X(cuMemFree) X(cuMemGetInfo)         \
    X(cuMemcpyHtoD) X(cuMemcpyDtoH) X(cuMemsetD32)

struct Driver {
#define TP_MEMBER(name) decltype(&name) name##_ = nullptr;
    TP_DRIVER_FUNCTIONS(TP_MEMBER)
#undef TP_MEMBER
    int (*emu_set_memory)(int64_t) = nullptr; /* only the emulator has these */
    int (*emu_memory)(int64_t *, int64_t *) = nullptr;
};

static Driver D;

static const char *err_name(CUresult r)
{
    const char *s = nullptr;
    return D.cuGetErrorName_ != nullptr && D.cuGetErrorName_(r, &s) == CUDA_SUCCESS && s != nullptr ? s : "?";
}

#define CU_OK(call)                                                                         \
    do {                                                                                    \
        const CUresult r_ = (call);                                                         \
        TPT_CHECK(r_ == CUDA_SUCCESS, "%s -> %d (%s)", #call, (int)r_, err_name(r_));       \
        if (r_ != CUDA_SUCCESS) return;                                                     \
    } while (0)

static CUmodule g_module = nullptr;

static CUfunction fn(const char *name)
{
    CUfunction f = nullptr;
    const CUresult r = D.cuModuleGetFunction_(&f, g_module, name);
    TPT_CHECK(r == CUDA_SUCCESS, "cuModuleGetFunction(%s) -> %s", name, err_name(r));
    return f;
}

/* A device buffer of n floats (or doubles) with host staging. */
struct Buf {
    CUdeviceptr p = 0;
    size_t bytes = 0;
    explicit Buf(size_t b) : bytes(b)
    {
        const CUresult r = D.cuMemAlloc_(&p, b);
        TPT_CHECK(r == CUDA_SUCCESS, "cuMemAlloc(%zu) -> %s", b, err_name(r));
    }
    ~Buf()
    {
        if (p != 0) D.cuMemFree_(p);
    }
    Buf(const Buf &) = delete;
    Buf &operator=(const Buf &) = delete;
    template <class T> void put(const std::vector<T> &h) { D.cuMemcpyHtoD_(p, h.data(), h.size() * sizeof(T)); }
    template <class T> std::vector<T> get(size_t count)
    {
        std::vector<T> h(count);
        D.cuMemcpyDtoH_(h.data(), p, count * sizeof(T));
        return h;
    }
    void nan_fill() { D.cuMemsetD32_(p, 0x7fc00000u, bytes / 4); }
};

static CUresult launch(CUfunction f, unsigned gx, unsigned gy, unsigned block, std::vector<void *> params)
{
    return D.cuLaunchKernel_(f, gx, gy, 1, block, 1, 1, 0, nullptr, params.data(), nullptr);
}

/* ------------------------------------------------------------------ tests */

static void test_device()
{
    int count = 0, v = 0, warp = 0;
    CU_OK(D.cuDeviceGetCount_(&count));
    TPT_CHECK(count >= 1, "device count %d", count);
    CUdevice dev = -1;
    CU_OK(D.cuDeviceGet_(&dev, 0));
    char name[256] = "";
    CU_OK(D.cuDeviceGetName_(name, sizeof name, dev));
    CU_OK(D.cuDeviceGetAttribute_(&v, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, dev));
    CU_OK(D.cuDeviceGetAttribute_(&warp, CU_DEVICE_ATTRIBUTE_WARP_SIZE, dev));
    size_t total = 0;
    CU_OK(D.cuDeviceTotalMem_(&total, dev));
    int version = 0;
    CU_OK(D.cuDriverGetVersion_(&version));
    std::printf("device 0: %s, %d threads per block, warp %d, %.2f GiB, driver %d\n", name, v, warp,
                total / (double)(1u << 30), version);
    TPT_CHECK(std::strlen(name) > 0 && v >= 1024 && warp == 32 && total > 0, "device attributes");
    TPT_CHECK(D.cuDeviceGet_(&dev, count) == CUDA_ERROR_INVALID_DEVICE, "device %d does not exist", count);
    CUdeviceptr p = 0;
    TPT_CHECK(D.cuMemAlloc_(&p, 64) == CUDA_ERROR_INVALID_CONTEXT, "cuMemAlloc without a current context");
}

static void test_kernel_names(const std::vector<const char *> &names)
{
    for (const char *n : names) fn(n);
    CUfunction f = nullptr;
    TPT_CHECK(D.cuModuleGetFunction_(&f, g_module, "tp_no_such_kernel") == CUDA_ERROR_NOT_FOUND, "unknown kernel name");
    TPT_CHECK(names.size() >= 16, "only %zu kernel names given", names.size());
}

/* y = y + a*x and the Adam step: every parameter type (pointer, long long, int, float) arrives. */
static void test_parameters()
{
    tpt::Rng rng(900);
    const long long n = 4097;
    std::vector<float> x = tpt::random_vector(rng, n), y = tpt::random_vector(rng, n);
    Buf dx(n * 4), dy(n * 4);
    dx.put(x);
    dy.put(y);
    float a = -0.75f;
    long long nn = n;
    CU_OK(launch(fn("tp_axpy_kernel"), 5, 1, TP_BLOCK, {&a, &dx.p, &dy.p, &nn}));
    CU_OK(D.cuCtxSynchronize_());
    ref_axpy(a, x.data(), y.data(), n);
    const std::vector<float> got = dy.get<float>(n);
    TPT_CHECK(tpt::compare_bits(got.data(), y.data(), n).count == 0, "axpy through kernelParams");

    std::vector<float> p = tpt::random_vector(rng, n), g = tpt::random_vector(rng, n, 2.0f);
    std::vector<float> m = tpt::random_vector(rng, n, 0.1f), v = tpt::random_positive(rng, n, 0.01f);
    Buf dp(n * 4), dg(n * 4), dm(n * 4), dv(n * 4);
    dp.put(p); dg.put(g); dm.put(m); dv.put(v);
    const RefAdamScalars s = ref_adam_scalars(3e-4, 0.8, 0.99, 10);
    float eps = 1e-6f, l2 = 1e-2f, decay = 0.999f, scale = 0.5f;
    float b1 = s.beta1, omb1 = s.one_minus_beta1, b2 = s.beta2, omb2 = s.one_minus_beta2, step = s.step_size,
          bc2 = s.bias_correction2_sqrt;
    CUdeviceptr skip = 0;
    CU_OK(launch(fn("tp_adam_kernel"), 5, 1, TP_BLOCK,
                 {&dp.p, &dg.p, &dm.p, &dv.p, &nn, &b1, &omb1, &b2, &omb2, &step, &bc2, &eps, &l2, &decay, &scale, &skip}));
    ref_adam_step(p.data(), g.data(), m.data(), v.data(), n, b1, omb1, b2, omb2, step, bc2, eps, l2, decay, scale);
    std::vector<float> gp = dp.get<float>(n), gm = dm.get<float>(n), gv = dv.get<float>(n);
    TPT_CHECK(tpt::compare_bits(gp.data(), p.data(), n).count == 0 && tpt::compare_bits(gm.data(), m.data(), n).count == 0 &&
                  tpt::compare_bits(gv.data(), v.data(), n).count == 0,
              "adam through kernelParams (16 parameters)");

    /* the segmented kernel with AMSGrad: two segments, the table uploaded as the JCuda backend does */
    const std::vector<long long> off = {0, 1001, n};
    std::vector<float> table = {b1, omb1, b2, omb2, step, bc2, eps, l2, decay, scale,
                                b1, omb1, b2, omb2, step * 2.0f, bc2, eps, 0.0f, 0.99f, 1.0f};
    std::vector<float> vmax = tpt::random_positive(rng, n, 0.01f);
    Buf doff(off.size() * 8), dtab(table.size() * 4), dmax(n * 4);
    doff.put(off); dtab.put(table); dmax.put(vmax);
    int nseg = 2;
    CU_OK(launch(fn("tp_adam_segments_kernel"), 5, 1, TP_BLOCK,
                 {&dp.p, &dg.p, &dm.p, &dv.p, &dmax.p, &nn, &doff.p, &dtab.p, &nseg, &skip}));
    const int64_t off64[] = {0, 1001, n};
    ref_adam_segments(p.data(), g.data(), m.data(), v.data(), vmax.data(), n, off64, table.data(), 2);
    gp = dp.get<float>(n), gm = dm.get<float>(n), gv = dv.get<float>(n);
    const std::vector<float> gx = dmax.get<float>(n);
    TPT_CHECK(tpt::compare_bits(gp.data(), p.data(), n).count == 0 && tpt::compare_bits(gm.data(), m.data(), n).count == 0 &&
                  tpt::compare_bits(gv.data(), v.data(), n).count == 0 && tpt::compare_bits(gx.data(), vmax.data(), n).count == 0,
              "segmented adam with AMSGrad through kernelParams");
}

static bool all_nan(const std::vector<double> &v)
{
    for (double d : v)
        if (!std::isnan(d)) return false;
    return !v.empty();
}

/* Launched with 128 threads instead of TP_BLOCK, every reduction kernel writes NaN. */
static void test_wrong_block_size()
{
    const unsigned bad = TP_BLOCK / 2;
    const long long n = 3000;
    Buf x(n * 4), out(64 * 8), part(64 * 8), table(64 * 8), c0(n * 4);
    x.put(std::vector<float>((size_t)n, 0.5f));
    auto zero_out = [&] { D.cuMemsetD32_(out.p, 0, 64 * 2); };
    int k = 2, nparts = 3, ntensors = 1, cols = 5;
    long long rows = 600, rpc = 256;
    float f1 = 1.0f, f0 = 0.0f;
    CUdeviceptr null = 0;

    zero_out();
    CU_OK(launch(fn("tp_multi_dot_partials"), 2, 1, bad, {&x.p, &x.p, &x.p, &null, &null, &k, (void *)&n, &out.p}));
    TPT_CHECK(all_nan(out.get<double>(4)), "tp_multi_dot_partials with %u threads: partials not NaN", bad);

    part.put(std::vector<double>(8, 1.0));
    zero_out();
    CU_OK(launch(fn("tp_reduce_partials"), 2, 1, bad, {&part.p, &k, &nparts, &out.p}));
    TPT_CHECK(all_nan(out.get<double>(2)), "tp_reduce_partials with %u threads", bad);

    const std::vector<long long> starts = {0}, ends = {n};
    Buf cs(8), ce(8), flag(8), maxima(64 * 4);
    cs.put(starts);
    ce.put(ends);
    zero_out();
    D.cuMemsetD32_(maxima.p, 0, 64);
    CU_OK(launch(fn("tp_norm_chunks"), 1, 1, bad, {&x.p, &cs.p, &ce.p, &out.p, &maxima.p, &flag.p}));
    TPT_CHECK(all_nan(out.get<double>(1)) && std::isnan(maxima.get<float>(1)[0]), "tp_norm_chunks with %u threads", bad);

    table.put(std::vector<int>{0, 1});
    zero_out();
    D.cuMemsetD32_(maxima.p, 0, 64);
    Buf chunk_max(8);
    chunk_max.put(std::vector<unsigned>{0x3f800000u, 0x3f800000u});
    CU_OK(launch(fn("tp_norm_cleanup"), 1, 1, bad, {&part.p, &chunk_max.p, &table.p, &ntensors, &out.p, &maxima.p}));
    TPT_CHECK(std::isnan(out.get<double>(2)[1]) && std::isnan(maxima.get<float>(2)[1]), "tp_norm_cleanup with %u threads", bad);

    zero_out();
    CU_OK(launch(fn("tp_bias_grad_partials"), 1, 3, bad, {&x.p, &rows, &cols, &rpc, &out.p}));
    TPT_CHECK(all_nan(out.get<double>(15)), "tp_bias_grad_partials with %u threads", bad);

    zero_out();
    CU_OK(launch(fn("tp_squared_error_partials"), 2, 1, bad, {&x.p, &x.p, (void *)&n, &f1, &null, &out.p}));
    TPT_CHECK(all_nan(out.get<double>(2)), "tp_squared_error_partials with %u threads", bad);

    zero_out();
    long long srows = 4;
    CU_OK(launch(fn("tp_softmax_xent_rows"), 1, 1, bad, {&x.p, &x.p, &srows, &cols, &f1, &null, &out.p}));
    TPT_CHECK(std::isnan(out.get<double>(1)[0]), "tp_softmax_xent_rows with %u threads", bad);

    /* attention and layer norm: the first output of each row kernel, and the whole batched matmul */
    zero_out();
    CU_OK(launch(fn("tp_attention_softmax_rows"), 1, 1, bad, {&out.p, &srows, &cols}));
    TPT_CHECK(std::isnan(out.get<float>(1)[0]), "tp_attention_softmax_rows with %u threads", bad);
    zero_out();
    CU_OK(launch(fn("tp_attention_softmax_backward_rows"), 1, 1, bad, {&x.p, &out.p, &srows, &cols, &f1}));
    TPT_CHECK(std::isnan(out.get<float>(1)[0]), "tp_attention_softmax_backward_rows with %u threads", bad);
    zero_out();
    float eps = 1e-5f;
    CU_OK(launch(fn("tp_layer_norm_rows"), 1, 1, bad, {&x.p, &x.p, &x.p, &out.p, &srows, &cols, &eps}));
    TPT_CHECK(std::isnan(out.get<float>(1)[0]), "tp_layer_norm_rows with %u threads", bad);
    zero_out();
    CU_OK(launch(fn("tp_layer_norm_backward_rows"), 1, 1, bad, {&x.p, &x.p, &x.p, &c0.p, &out.p, &srows, &cols, &eps}));
    TPT_CHECK(std::isnan(out.get<double>(1)[0]), "tp_layer_norm_backward_rows with %u threads", bad);
    zero_out();
    int nchunks = 3; /* 3 chunks x 5 columns, each pair of partials NaN */
    CU_OK(launch(fn("tp_layer_norm_param_partials"), 1, 1, bad, {&x.p, &x.p, &part.p, &rows, &cols, &rpc, &nchunks, &out.p}));
    TPT_CHECK(all_nan(out.get<double>(30)), "tp_layer_norm_param_partials with %u threads", bad);
    {
        int ta = 1, tb = 0, m = 9, nc = 13, kk = 5, lda = 9, ldb = 13, ldc = 13, inner = 2;
        long long sa = 45, sb = 65, sc = 117, so = 0, outer = 1;
        Buf c(2 * 117 * 4);
        c.put(std::vector<float>(2 * 117, 2.0f));
        CU_OK(launch(fn("tp_batched_matmul_kernel"), 2, 1, bad, {&ta, &tb, &m, &nc, &kk, &f1, &x.p, &lda, &so, &sa, &x.p, &ldb,
                                                                 &so, &sb, &c.p, &ldc, &so, &sc, &outer, &inner}));
        const std::vector<float> hc = c.get<float>(2 * 117);
        int not_nan = 0;
        for (float v : hc) not_nan += !std::isnan(v);
        TPT_CHECK(not_nan == 0, "tp_batched_matmul_kernel with %u threads left %d of %d outputs unwritten", bad, not_nan, 2 * 117);
    }

    zero_out();
    long long crows = 600;
    Buf labels(600 * 4);
    labels.put(std::vector<float>(600, 1.0f));
    CU_OK(launch(fn("tp_count_correct_partials"), 2, 1, bad, {&x.p, &labels.p, &crows, &cols, &out.p}));
    TPT_CHECK(all_nan(out.get<double>(2)), "tp_count_correct_partials with %u threads", bad);

    /* sgemm: C (7 x 70) must be all NaN, not left as it was */
    int ta = 0, tb = 0, m = 7, nc = 70, kk = 3, lda = 3, ldb = 70, ldc = 70;
    Buf c(7 * 70 * 4);
    c.put(std::vector<float>(7 * 70, 2.0f));
    CU_OK(launch(fn("tp_sgemm_kernel"), 2, 1, bad, {&ta, &tb, &m, &nc, &kk, &f1, &x.p, &lda, &x.p, &ldb, &f0, &c.p, &ldc}));
    const std::vector<float> hc = c.get<float>(7 * 70);
    int not_nan = 0;
    for (float v : hc) not_nan += !std::isnan(v);
    TPT_CHECK(not_nan == 0, "tp_sgemm_kernel with %u threads left %d of %d elements of C unwritten", bad, not_nan, 7 * 70);
}

/* The conv kernels work with any block size (their loops step by blockDim): with 96 threads, a
 * size that divides neither a 32x32 tile nor TP_BLOCK, and fewer blocks than the work needs, the
 * max-pool backward (13 parameters) and the batched transpose (shared tiles, grid-stride over
 * tiles) give the reference's bits. */
static void test_conv_kernels_any_block()
{
    tpt::Rng rng(901);
    const unsigned block = 96;
    const RefConvShape s = {3, 9, 7, 5, 3, 2, 1};
    int batch = s.batch, h = s.height, w = s.width, c = s.channels, k = s.kernel, st = s.stride, pad = s.pad;
    int oh = ref_conv_out_height(&s), ow = ref_conv_out_width(&s);
    const size_t nin = (size_t)batch * h * w * c, nout = (size_t)batch * oh * ow * c;
    std::vector<float> x(nin), dy = tpt::random_vector(rng, (int64_t)nout), y(nout), want(nin);
    for (float &v : x) v = (float)rng.below(3); /* ties */
    ref_max_pool(&s, x.data(), y.data());
    ref_max_pool_backward(&s, x.data(), y.data(), dy.data(), want.data());
    Buf dx(nin * 4), dyv(nout * 4), dyy(nout * 4), dgrad(nin * 4);
    dx.put(x);
    dyv.put(y);
    dyy.put(dy);
    dgrad.nan_fill();
    CU_OK(launch(fn("tp_max_pool_backward_kernel"), 2, 1, block,
                 {&dx.p, &dyv.p, &dyy.p, &dgrad.p, &batch, &h, &w, &c, &k, &st, &pad, &oh, &ow}));
    const std::vector<float> got = dgrad.get<float>(nin);
    TPT_CHECK(tpt::compare_bits(got.data(), want.data(), (int64_t)nin).count == 0,
              "tp_max_pool_backward_kernel with %u threads, 2 blocks", block);

    int tb = 7, rows = 45, cols = 70;
    const size_t n = (size_t)tb * rows * cols;
    const std::vector<float> a = tpt::random_vector(rng, (int64_t)n);
    std::vector<float> at(n);
    ref_batched_transpose(tb, rows, cols, a.data(), at.data());
    Buf da(n * 4), dt(n * 4);
    da.put(a);
    dt.nan_fill();
    CU_OK(launch(fn("tp_batched_transpose_kernel"), 5, 1, block, {&da.p, &dt.p, &tb, &rows, &cols}));
    const std::vector<float> gt = dt.get<float>(n);
    TPT_CHECK(tpt::compare_bits(gt.data(), at.data(), (int64_t)n).count == 0,
              "tp_batched_transpose_kernel with %u threads, 5 blocks for %d tiles", block, tb * 2 * 3);
}

/* alpha = 0 reads neither A nor B: NaN there never reaches C = beta * C. */
static void test_sgemm_alpha_zero()
{
    int ta = 1, tb = 0, m = 33, nc = 65, kk = 17, lda = 33, ldb = 65, ldc = 65;
    float alpha = 0.0f, beta = 0.5f;
    Buf a(17 * 33 * 4), b(17 * 65 * 4), c(33 * 65 * 4);
    a.nan_fill();
    b.nan_fill();
    std::vector<float> hc(33 * 65);
    for (size_t i = 0; i < hc.size(); ++i) hc[i] = (float)i * 0.25f - 7.0f;
    c.put(hc);
    CU_OK(launch(fn("tp_sgemm_kernel"), 2, 1, TP_BLOCK, {&ta, &tb, &m, &nc, &kk, &alpha, &a.p, &lda, &b.p, &ldb, &beta, &c.p, &ldc}));
    const std::vector<float> got = c.get<float>(hc.size());
    int bad = 0;
    for (size_t i = 0; i < hc.size(); ++i) bad += tpt::bits(got[i]) != tpt::bits(beta * hc[i]);
    TPT_CHECK(bad == 0, "sgemm alpha = 0 with NaN in A and B: %d of %zu elements differ from beta * C", bad, hc.size());
}

static void test_launch_errors()
{
    Buf x(64);
    float a = 1.0f;
    long long n = 16;
    const CUfunction f = fn("tp_axpy_kernel");
    std::vector<void *> params = {&a, &x.p, &x.p, &n};
    CUresult r = D.cuLaunchKernel_(f, 1, 1, 1, 2 * TP_BLOCK, 1, 1, 0, nullptr, params.data(), nullptr);
    TPT_CHECK(r == CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, "block of %d past __launch_bounds__(%d) -> %s", 2 * TP_BLOCK, TP_BLOCK,
              err_name(r));
    r = D.cuLaunchKernel_(f, 0, 1, 1, TP_BLOCK, 1, 1, 0, nullptr, params.data(), nullptr);
    TPT_CHECK(r == CUDA_ERROR_INVALID_VALUE, "grid of 0 blocks -> %s", err_name(r));
    r = D.cuLaunchKernel_(f, 1, 1, 1, 1025, 1, 1, 0, nullptr, params.data(), nullptr);
    TPT_CHECK(r == CUDA_ERROR_INVALID_VALUE, "block of 1025 threads -> %s", err_name(r));
    r = D.cuLaunchKernel_(f, 1, 65536, 1, TP_BLOCK, 1, 1, 0, nullptr, params.data(), nullptr);
    TPT_CHECK(r == CUDA_ERROR_INVALID_VALUE, "grid y of 65536 -> %s", err_name(r));
    CU_OK(launch(f, 1, 1, TP_BLOCK, params)); /* and the next launch works */
    const char *s = nullptr;
    TPT_CHECK(D.cuGetErrorString_(CUDA_ERROR_OUT_OF_MEMORY, &s) == CUDA_SUCCESS && s != nullptr && std::strlen(s) > 0,
              "error string of CUDA_ERROR_OUT_OF_MEMORY");
    TPT_CHECK(std::strcmp(err_name(CUDA_ERROR_OUT_OF_MEMORY), "CUDA_ERROR_OUT_OF_MEMORY") == 0, "error name");
}

/* The emulator only: allocation past the capacity, and the memory of a destroyed context. */
static void test_emulated_memory()
{
    int64_t used = -1, cap = -1;
    TPT_CHECK(D.emu_memory(&used, &cap) == 0, "tp_emu_device_memory");
    TPT_CHECK(D.emu_set_memory(used + (4 << 20)) == 0, "capacity 4 MiB above what is used");
    CUdeviceptr p = 0;
    TPT_CHECK(D.cuMemAlloc_(&p, 5 << 20) == CUDA_ERROR_OUT_OF_MEMORY && p == 0, "5 MiB of 4 MiB free");
    size_t free_b = 0, total_b = 0;
    CU_OK(D.cuMemGetInfo_(&free_b, &total_b));
    TPT_CHECK(free_b == (size_t)(4 << 20), "free %zu", free_b);
    CU_OK(D.cuMemAlloc_(&p, 3 << 20));
    D.emu_set_memory(cap);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: test_driver_api LIBRARY IMAGE|- KERNEL...\n");
        return 2;
    }
    const char *lib = argv[1], *image_path = argv[2];
    const bool by_path = std::strchr(lib, '/') != nullptr;
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
        if (by_path) {
            std::fprintf(stderr, "FAIL: cannot load %s: %s\n", lib, dlerror());
            return 1;
        }
        std::printf("SKIPPED: no CUDA driver (%s)\n", dlerror());
        return tpt::kSkip;
    }
    bool missing = false;
#define TP_RESOLVE(name)                                                                    \
    D.name##_ = reinterpret_cast<decltype(&name)>(dlsym(h, TP_STR(name)));                 \
    if (D.name##_ == nullptr) {                                                             \
        std::fprintf(stderr, "FAIL: %s does not export %s\n", lib, TP_STR(name));           \
        missing = true;                                                                     \
    }
    TP_DRIVER_FUNCTIONS(TP_RESOLVE)
#undef TP_RESOLVE
    if (missing) return 1;
    D.emu_set_memory = reinterpret_cast<int (*)(int64_t)>(dlsym(h, "tp_emu_set_device_memory"));
    D.emu_memory = reinterpret_cast<int (*)(int64_t *, int64_t *)>(dlsym(h, "tp_emu_device_memory"));
    const bool emulated = D.emu_set_memory != nullptr && D.emu_memory != nullptr;
    TPT_CHECK(emulated == by_path, "%s: the emulator is loaded by path, the NVIDIA driver by name", lib);

    const CUresult init = D.cuInit_(0);
    if (init != CUDA_SUCCESS && !emulated) {
        std::printf("SKIPPED: cuInit -> %s\n", err_name(init));
        return tpt::kSkip;
    }
    TPT_CHECK(init == CUDA_SUCCESS, "cuInit -> %s", err_name(init));

    std::vector<char> image;
    if (std::strcmp(image_path, "-") == 0) {
        const char placeholder[] = "twophase emulated module"; /* the emulated driver ignores the image */
        image.assign(placeholder, placeholder + sizeof placeholder);
    } else {
        std::ifstream in(image_path, std::ios::binary);
        image.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        if (image.empty()) {
            std::fprintf(stderr, "FAIL: cannot read %s\n", image_path);
            return 1;
        }
    }
    std::vector<const char *> names(argv + 3, argv + argc);

    test_device();
    CUcontext ctx = nullptr;
    if (D.cuDevicePrimaryCtxRetain_(&ctx, 0) != CUDA_SUCCESS || D.cuCtxSetCurrent_(ctx) != CUDA_SUCCESS ||
        D.cuModuleLoadData_(&g_module, image.data()) != CUDA_SUCCESS) {
        std::fprintf(stderr, "FAIL: cannot set up a context and load the module\n");
        return 1;
    }
    test_kernel_names(names);
    test_parameters();
    test_wrong_block_size();
    test_sgemm_alpha_zero();
    test_conv_kernels_any_block();
    test_launch_errors();
    if (emulated) test_emulated_memory();
    TPT_CHECK(D.cuModuleUnload_(g_module) == CUDA_SUCCESS, "cuModuleUnload");
    TPT_CHECK(D.cuDevicePrimaryCtxRelease_(0) == CUDA_SUCCESS, "cuDevicePrimaryCtxRelease");
    if (emulated) {
        int64_t used = -1, cap = 0;
        D.emu_memory(&used, &cap);
        TPT_CHECK(used == 0, "%" PRId64 " bytes still allocated after the primary context was released", used);
        CUdeviceptr p = 0;
        TPT_CHECK(D.cuMemAlloc_(&p, 64) == CUDA_ERROR_INVALID_CONTEXT, "the released context is no longer current");
    }
    return tpt::finish(emulated ? "test_driver_api (emulated driver)" : "test_driver_api (NVIDIA driver)");
}
