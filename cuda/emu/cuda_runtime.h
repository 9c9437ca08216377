/*
 * twophase CUDA emulation: the compatibility header that stands in for <cuda_runtime.h> when
 * the kernel files (the .cu files of cuda/, unchanged) are compiled by a host C++ compiler. CMake puts
 * cuda/emu first on the include path of the emulated build only; nvcc never sees this file.
 *
 * Execution model (cuda/emu/emu_runtime.cpp): a launch runs its blocks one after another; the
 * threads of a block are cooperative fibers that run until they reach __syncthreads or a warp
 * primitive (shuffle, ballot, any/all, __syncwarp), where they yield to a scheduler that checks
 * the CUDA rules and releases them together. __shared__ variables exist once and are poisoned
 * (all bytes 0xff: NaN) before every block, so a read before the write that should precede it
 * shows up as NaN. Rule violations abort the process with the kernel, block, thread and source
 * line: a barrier that not every thread of the block reaches, threads waiting at different
 * barriers, a warp primitive whose mask does not name the calling lane, names a lane that never
 * arrives (exited, at a barrier, at another primitive), or a shuffle that reads a lane outside
 * the mask.
 *
 * Floating point: float and double operations are IEEE binary32/binary64 with round-to-nearest,
 * as on the device. Build with -ffp-contract=off (the default build) so that a*b+c is rounded
 * twice, as the kernels' __*_rn intrinsics require and as the CPU references compute. With
 * TP_EMU_FMAD defined (and -ffp-contract=fast -mfma) plain expressions may be contracted into
 * FMAs, as nvcc does by default, while the __*_rn intrinsics stay separately rounded: that
 * variant shows whether a result depends on a contraction the source did not write.
 * Transcendentals (exp, log, tanh, ...) are the host C library's, not CUDA's libdevice: they
 * can differ from the device in the last bit.
 *
 * What a kernel file may use is defined below; anything else is a compile error, which is the
 * point: extend this header (and its self-test, native-tests/test_emu.cpp) when a kernel needs
 * more. Not supported: dynamic shared memory (extern __shared__), streams other than the
 * default stream, textures, cooperative groups, clock(), __activemask().
 */
#ifndef TP_EMU_CUDA_RUNTIME_H
#define TP_EMU_CUDA_RUNTIME_H

#define TP_EMU 1

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <tuple>
#include <type_traits>
#include <utility>

/* ------------------------------------------------------------------ qualifiers */

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
/* One instance per function (blocks run one at a time, so one per block), in a section of its
 * own so that the runtime can poison all shared memory before each block. */
#define __shared__ __attribute__((section("tp_emu_shared"))) static
#define __constant__

/* ------------------------------------------------------------------ vector types */

struct uint3 {
    unsigned int x, y, z;
};

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return uint3{x, y, z}; }
};

/* The CUDA vector types with the device's size and alignment (float4 and double2: 16 bytes). */
#define TP_EMU_VEC2(T, name, align)                                                         \
    struct alignas(align) name {                                                            \
        T x, y;                                                                             \
    };                                                                                      \
    static inline name make_##name(T x, T y) { return name{x, y}; }
#define TP_EMU_VEC4(T, name, align)                                                         \
    struct alignas(align) name {                                                            \
        T x, y, z, w;                                                                       \
    };                                                                                      \
    static inline name make_##name(T x, T y, T z, T w) { return name{x, y, z, w}; }

TP_EMU_VEC2(float, float2, 8)
TP_EMU_VEC4(float, float4, 16)
TP_EMU_VEC2(double, double2, 16)
TP_EMU_VEC2(int, int2, 8)
TP_EMU_VEC4(int, int4, 16)
TP_EMU_VEC2(unsigned int, uint2, 8)
TP_EMU_VEC4(unsigned int, uint4, 16)
TP_EMU_VEC2(long long, longlong2, 16)
TP_EMU_VEC4(unsigned char, uchar4, 4)
TP_EMU_VEC4(char, char4, 4)
#undef TP_EMU_VEC2
#undef TP_EMU_VEC4

static_assert(sizeof(float4) == 16 && alignof(float4) == 16, "float4 as on the device");
static_assert(sizeof(double2) == 16 && alignof(double2) == 16, "double2 as on the device");
static_assert(sizeof(float2) == 8 && alignof(float2) == 8, "float2 as on the device");

static constexpr int warpSize = 32;

/* ------------------------------------------------------------------ the emulator's interface */

namespace tp_emu {

/* What a kernel sees of the thread that runs it (the runtime's Thread derives from it). */
struct ThreadView {
    uint3 tid;
};

/* The launch being executed; one at a time per process (launches are serialized). */
struct Context {
    ThreadView *thread;
    uint3 block_idx;
    dim3 block_dim;
    dim3 grid_dim;
};
extern Context g_ctx;

enum class WarpOp : unsigned char { ShflIdx, ShflUp, ShflDown, ShflXor, Ballot, Any, All, SyncWarp };

/* Block barrier and warp primitives: the calling fiber yields until the rule is met. */
void barrier(const char *file, int line);
unsigned long long warp_op(WarpOp op, unsigned int mask, unsigned long long value, int arg, int width,
                           const char *file, int line);

/* Runs a launch: checks the configuration (errors become the last error, as cudaGetLastError
 * reports them), then every block, each thread calling body(closure). */
void run(const char *name, const void *kernel, dim3 grid, dim3 block, void (*body)(void *), void *closure);

template <class T> inline unsigned long long to_bits(T v)
{
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "a warp shuffle moves at most 8 bytes");
    unsigned long long b = 0;
    memcpy(&b, &v, sizeof v);
    return b;
}
template <class T> inline T from_bits(unsigned long long b)
{
    T v;
    memcpy(&v, &b, sizeof v);
    return v;
}

/* The kernel and its arguments, converted to its parameter types once, as a launch does; every
 * thread calls the kernel with its own copies. */
template <class... P> struct Closure {
    void (*kernel)(P...);
    std::tuple<typename std::decay<P>::type...> args;
    static void body(void *c)
    {
        Closure *self = static_cast<Closure *>(c);
        std::apply(self->kernel, self->args);
    }
};

template <class... P, class... A>
inline void launch(const char *name, void (*kernel)(P...), dim3 grid, dim3 block, A &&...args)
{
    static_assert(sizeof...(P) == sizeof...(A), "a launch passes one argument per kernel parameter");
    Closure<P...> c{kernel, std::tuple<typename std::decay<P>::type...>(std::forward<A>(args)...)};
    run(name, reinterpret_cast<const void *>(kernel), grid, block, &Closure<P...>::body, &c);
}

#ifdef TP_EMU_FMAD
/* An optimization barrier: the value is materialized, so the compiler cannot fuse the operation
 * that produced it with the one that consumes it (the __*_rn intrinsics are never contracted). */
template <class T> __forceinline__ T rn(T v)
{
    __asm__("" : "+x"(v));
    return v;
}
#else
template <class T> __forceinline__ T rn(T v) { return v; }
#endif

} // namespace tp_emu

/* The built-in variables: the current fiber's thread, the current block and launch. */
#define threadIdx (::tp_emu::g_ctx.thread->tid)
#define blockIdx (::tp_emu::g_ctx.block_idx)
#define blockDim (::tp_emu::g_ctx.block_dim)
#define gridDim (::tp_emu::g_ctx.grid_dim)

/* ------------------------------------------------------------------ synchronization */

/* The call site is recorded (default arguments evaluated at the caller) for error messages. */
static inline void __syncthreads(const char *file = __builtin_FILE(), int line = __builtin_LINE())
{
    ::tp_emu::barrier(file, line);
}

static inline void __syncwarp(unsigned int mask = 0xffffffffu, const char *file = __builtin_FILE(),
                              int line = __builtin_LINE())
{
    (void)::tp_emu::warp_op(::tp_emu::WarpOp::SyncWarp, mask, 0, 0, warpSize, file, line);
}

/* Fibers of a launch run one at a time on one host thread: every write is visible to the next
 * fiber that runs, so fences have nothing to order. */
static inline void __threadfence() {}
static inline void __threadfence_block() {}

template <class T>
static inline T __shfl_sync(unsigned int mask, T var, int src_lane, int width = warpSize,
                            const char *file = __builtin_FILE(), int line = __builtin_LINE())
{
    return ::tp_emu::from_bits<T>(::tp_emu::warp_op(::tp_emu::WarpOp::ShflIdx, mask, ::tp_emu::to_bits(var),
                                                    src_lane, width, file, line));
}
template <class T>
static inline T __shfl_up_sync(unsigned int mask, T var, unsigned int delta, int width = warpSize,
                               const char *file = __builtin_FILE(), int line = __builtin_LINE())
{
    return ::tp_emu::from_bits<T>(::tp_emu::warp_op(::tp_emu::WarpOp::ShflUp, mask, ::tp_emu::to_bits(var),
                                                    (int)delta, width, file, line));
}
template <class T>
static inline T __shfl_down_sync(unsigned int mask, T var, unsigned int delta, int width = warpSize,
                                 const char *file = __builtin_FILE(), int line = __builtin_LINE())
{
    return ::tp_emu::from_bits<T>(::tp_emu::warp_op(::tp_emu::WarpOp::ShflDown, mask, ::tp_emu::to_bits(var),
                                                    (int)delta, width, file, line));
}
template <class T>
static inline T __shfl_xor_sync(unsigned int mask, T var, int lane_mask, int width = warpSize,
                                const char *file = __builtin_FILE(), int line = __builtin_LINE())
{
    return ::tp_emu::from_bits<T>(::tp_emu::warp_op(::tp_emu::WarpOp::ShflXor, mask, ::tp_emu::to_bits(var),
                                                    lane_mask, width, file, line));
}
static inline unsigned int __ballot_sync(unsigned int mask, int predicate, const char *file = __builtin_FILE(),
                                         int line = __builtin_LINE())
{
    return (unsigned int)::tp_emu::warp_op(::tp_emu::WarpOp::Ballot, mask, predicate != 0, 0, warpSize, file, line);
}
static inline int __any_sync(unsigned int mask, int predicate, const char *file = __builtin_FILE(),
                             int line = __builtin_LINE())
{
    return (int)::tp_emu::warp_op(::tp_emu::WarpOp::Any, mask, predicate != 0, 0, warpSize, file, line);
}
static inline int __all_sync(unsigned int mask, int predicate, const char *file = __builtin_FILE(),
                             int line = __builtin_LINE())
{
    return (int)::tp_emu::warp_op(::tp_emu::WarpOp::All, mask, predicate != 0, 0, warpSize, file, line);
}

/* ------------------------------------------------------------------ atomics */
/* A fiber never yields inside one of these, and one launch runs at a time: a plain
 * read-modify-write is atomic with respect to every other thread of the emulated device. */

#define TP_EMU_ATOMIC(name, T, expr)                                                        \
    static inline T name(T *address, T val)                                                 \
    {                                                                                       \
        const T old = *address;                                                             \
        *address = (expr);                                                                  \
        return old;                                                                         \
    }
TP_EMU_ATOMIC(atomicAdd, int, old + val)
TP_EMU_ATOMIC(atomicAdd, unsigned int, old + val)
TP_EMU_ATOMIC(atomicAdd, unsigned long long, old + val)
TP_EMU_ATOMIC(atomicAdd, float, ::tp_emu::rn(old + val))
TP_EMU_ATOMIC(atomicAdd, double, ::tp_emu::rn(old + val))
TP_EMU_ATOMIC(atomicSub, int, old - val)
TP_EMU_ATOMIC(atomicSub, unsigned int, old - val)
TP_EMU_ATOMIC(atomicExch, int, val)
TP_EMU_ATOMIC(atomicExch, unsigned int, val)
TP_EMU_ATOMIC(atomicExch, unsigned long long, val)
TP_EMU_ATOMIC(atomicExch, float, val)
TP_EMU_ATOMIC(atomicMin, int, val < old ? val : old)
TP_EMU_ATOMIC(atomicMin, unsigned int, val < old ? val : old)
TP_EMU_ATOMIC(atomicMin, long long, val < old ? val : old)
TP_EMU_ATOMIC(atomicMin, unsigned long long, val < old ? val : old)
TP_EMU_ATOMIC(atomicMax, int, val > old ? val : old)
TP_EMU_ATOMIC(atomicMax, unsigned int, val > old ? val : old)
TP_EMU_ATOMIC(atomicMax, long long, val > old ? val : old)
TP_EMU_ATOMIC(atomicMax, unsigned long long, val > old ? val : old)
TP_EMU_ATOMIC(atomicAnd, int, old & val)
TP_EMU_ATOMIC(atomicAnd, unsigned int, old & val)
TP_EMU_ATOMIC(atomicAnd, unsigned long long, old & val)
TP_EMU_ATOMIC(atomicOr, int, old | val)
TP_EMU_ATOMIC(atomicOr, unsigned int, old | val)
TP_EMU_ATOMIC(atomicOr, unsigned long long, old | val)
TP_EMU_ATOMIC(atomicXor, int, old ^ val)
TP_EMU_ATOMIC(atomicXor, unsigned int, old ^ val)
TP_EMU_ATOMIC(atomicXor, unsigned long long, old ^ val)
TP_EMU_ATOMIC(atomicInc, unsigned int, old >= val ? 0u : old + 1u)
TP_EMU_ATOMIC(atomicDec, unsigned int, (old == 0u || old > val) ? val : old - 1u)
#undef TP_EMU_ATOMIC

#define TP_EMU_ATOMIC_CAS(T)                                                                \
    static inline T atomicCAS(T *address, T compare, T val)                                 \
    {                                                                                       \
        const T old = *address;                                                             \
        if (old == compare) *address = val;                                                 \
        return old;                                                                         \
    }
TP_EMU_ATOMIC_CAS(int)
TP_EMU_ATOMIC_CAS(unsigned int)
TP_EMU_ATOMIC_CAS(unsigned long long)
TP_EMU_ATOMIC_CAS(unsigned short)
#undef TP_EMU_ATOMIC_CAS

/* ------------------------------------------------------------------ intrinsics */

/* IEEE round-to-nearest arithmetic, each operation rounded separately and never contracted. */
static __forceinline__ float __fadd_rn(float a, float b) { return ::tp_emu::rn(::tp_emu::rn(a) + ::tp_emu::rn(b)); }
static __forceinline__ float __fsub_rn(float a, float b) { return ::tp_emu::rn(::tp_emu::rn(a) - ::tp_emu::rn(b)); }
static __forceinline__ float __fmul_rn(float a, float b) { return ::tp_emu::rn(::tp_emu::rn(a) * ::tp_emu::rn(b)); }
static __forceinline__ float __fdiv_rn(float a, float b) { return ::tp_emu::rn(::tp_emu::rn(a) / ::tp_emu::rn(b)); }
static __forceinline__ float __frcp_rn(float a) { return ::tp_emu::rn(1.0f / ::tp_emu::rn(a)); }
static __forceinline__ float __fsqrt_rn(float a) { return ::tp_emu::rn(sqrtf(::tp_emu::rn(a))); }
static __forceinline__ float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
static __forceinline__ double __dadd_rn(double a, double b) { return ::tp_emu::rn(::tp_emu::rn(a) + ::tp_emu::rn(b)); }
static __forceinline__ double __dsub_rn(double a, double b) { return ::tp_emu::rn(::tp_emu::rn(a) - ::tp_emu::rn(b)); }
static __forceinline__ double __dmul_rn(double a, double b) { return ::tp_emu::rn(::tp_emu::rn(a) * ::tp_emu::rn(b)); }
static __forceinline__ double __ddiv_rn(double a, double b) { return ::tp_emu::rn(::tp_emu::rn(a) / ::tp_emu::rn(b)); }
static __forceinline__ double __drcp_rn(double a) { return ::tp_emu::rn(1.0 / ::tp_emu::rn(a)); }
static __forceinline__ double __dsqrt_rn(double a) { return ::tp_emu::rn(sqrt(::tp_emu::rn(a))); }
static __forceinline__ double __fma_rn(double a, double b, double c) { return fma(a, b, c); }

/* Conversions: round to nearest even (the host's default mode) or truncate. */
static __forceinline__ float __double2float_rn(double a) { return ::tp_emu::rn((float)a); }
static __forceinline__ int __float2int_rn(float a) { return (int)nearbyintf(a); }
static __forceinline__ int __float2int_rz(float a) { return (int)a; }
static __forceinline__ float __int2float_rn(int a) { return (float)a; }
static __forceinline__ double __ll2double_rn(long long a) { return (double)a; }
static __forceinline__ float __ll2float_rn(long long a) { return (float)a; }
static __forceinline__ long long __double2ll_rz(double a) { return (long long)a; }

/* Reinterpretations. */
static __forceinline__ int __float_as_int(float a) { return ::tp_emu::from_bits<int>(::tp_emu::to_bits(a)); }
static __forceinline__ unsigned int __float_as_uint(float a) { return ::tp_emu::from_bits<unsigned int>(::tp_emu::to_bits(a)); }
static __forceinline__ float __int_as_float(int a) { return ::tp_emu::from_bits<float>(::tp_emu::to_bits(a)); }
static __forceinline__ float __uint_as_float(unsigned int a) { return ::tp_emu::from_bits<float>(::tp_emu::to_bits(a)); }
static __forceinline__ long long __double_as_longlong(double a) { return ::tp_emu::from_bits<long long>(::tp_emu::to_bits(a)); }
static __forceinline__ double __longlong_as_double(long long a) { return ::tp_emu::from_bits<double>(::tp_emu::to_bits(a)); }

/* Fast-math intrinsics: __expf and __logf are glibc's own (declared by math.h: the accurate
 * expf and logf; the device's are approximations). */
static __forceinline__ float __saturatef(float a) { return a != a ? 0.0f : (a < 0.0f ? 0.0f : (a > 1.0f ? 1.0f : a)); }

/* Read-only cache load. */
template <class T> static __forceinline__ T __ldg(const T *p) { return *p; }

/* Device min/max overloads (the device math library's integer and float versions). */
#define TP_EMU_MINMAX(T)                                                                    \
    static __forceinline__ T min(T a, T b) { return b < a ? b : a; }                       \
    static __forceinline__ T max(T a, T b) { return a < b ? b : a; }
TP_EMU_MINMAX(int)
TP_EMU_MINMAX(unsigned int)
TP_EMU_MINMAX(long long)
TP_EMU_MINMAX(unsigned long long)
#undef TP_EMU_MINMAX
static __forceinline__ float min(float a, float b) { return fminf(a, b); }
static __forceinline__ float max(float a, float b) { return fmaxf(a, b); }
static __forceinline__ double min(double a, double b) { return fmin(a, b); }
static __forceinline__ double max(double a, double b) { return fmax(a, b); }

/* ------------------------------------------------------------------ runtime API (the subset runtime.cu uses) */

enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorInsufficientDriver = 35,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorLaunchOutOfResources = 701,
    cudaErrorNotSupported = 801,
    cudaErrorUnknown = 999
};

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
};

typedef struct CUstream_st *cudaStream_t;

/* The fields of cudaDeviceProp that the emulator fills; the rest of the real struct is absent. */
struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    int warpSize;
    int maxThreadsPerBlock;
    int maxThreadsDim[3];
    int maxGridSize[3];
    int major;
    int minor;
    int multiProcessorCount;
};

const char *cudaGetErrorString(cudaError_t error);
const char *cudaGetErrorName(cudaError_t error);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaRuntimeGetVersion(int *version);
cudaError_t cudaDriverGetVersion(int *version);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaMalloc(void **ptr, size_t bytes);
template <class T> static inline cudaError_t cudaMalloc(T **ptr, size_t bytes)
{
    return cudaMalloc(reinterpret_cast<void **>(ptr), bytes);
}
cudaError_t cudaFree(void *ptr);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = 0);
cudaError_t cudaMemset(void *ptr, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void *ptr, int value, size_t bytes, cudaStream_t stream = 0);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaDeviceSynchronize(void);

#endif /* TP_EMU_CUDA_RUNTIME_H */
