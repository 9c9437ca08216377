/*
 * twophase: device queries, memory wrappers, error strings and the scratch buffers.
 *
 * No kernels in this file. Every function returns 0 or the cudaError_t code of the first
 * failing runtime call (see twophase.h). Without a driver (no libcuda.so.1) the static
 * CUDA runtime reports cudaErrorInsufficientDriver (35); without a device,
 * cudaErrorNoDevice (100): tp_device_count returns that code and sets *count = 0.
 *
 * Synchronization (twophase.h): everything runs in order on the legacy default stream; a call
 * waits for the device only where the host needs a value: copies to the host (tp_memcpy_dtoh and
 * the results of reductions), tp_synchronize, and what CUDA makes wait by itself (cudaFree,
 * cudaMalloc, copies from pageable host memory). Device-to-device copies and memsets are queued.
 *
 * Transfer counters: every copy between host and device memory made by the library (the
 * tp_memcpy_htod/dtoh calls and tp_copy_to_host/device) adds its bytes to one of two counters,
 * which tp_transfer_bytes reads.
 */
#include <string.h>

#include <atomic>

#include "common.cuh"

extern "C" int tp_device_count(int *count)
{
    TP_REQUIRE(count != nullptr);
    *count = 0;
    int n = 0;
    TP_CUDA_CHECK(cudaGetDeviceCount(&n));
    *count = n;
    return 0;
}

extern "C" int tp_device_name(int device, char *name, int capacity)
{
    TP_REQUIRE(name != nullptr && capacity > 0);
    name[0] = '\0';
    cudaDeviceProp prop;
    TP_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    const size_t len = strnlen(prop.name, sizeof(prop.name));
    const size_t n = len < (size_t)capacity - 1 ? len : (size_t)capacity - 1;
    memcpy(name, prop.name, n);
    name[n] = '\0';
    return 0;
}

extern "C" const char *tp_error_string(int code)
{
    return cudaGetErrorString(static_cast<cudaError_t>(code));
}

extern "C" int tp_malloc(void **ptr, int64_t bytes)
{
    TP_REQUIRE(ptr != nullptr && bytes >= 0);
    *ptr = nullptr;
    if (bytes == 0) return 0;
    TP_CUDA_CHECK(cudaMalloc(ptr, (size_t)bytes));
    return 0;
}

extern "C" int tp_free(void *ptr)
{
    if (ptr == nullptr) return 0;
    TP_CUDA_CHECK(cudaFree(ptr));
    return 0;
}

static std::atomic<int64_t> s_htod_bytes{0}, s_dtoh_bytes{0};

static int tp_copy(void *dst, const void *src, int64_t bytes, cudaMemcpyKind kind)
{
    TP_REQUIRE(bytes >= 0);
    if (bytes == 0) return 0;
    TP_REQUIRE(dst != nullptr && src != nullptr);
    TP_CUDA_CHECK(cudaMemcpy(dst, src, (size_t)bytes, kind));
    if (kind == cudaMemcpyHostToDevice) s_htod_bytes += bytes;
    if (kind == cudaMemcpyDeviceToHost) s_dtoh_bytes += bytes;
    return 0;
}

int tp_copy_to_host(void *dst, const void *src, size_t bytes)
{
    return tp_copy(dst, src, (int64_t)bytes, cudaMemcpyDeviceToHost);
}

int tp_copy_to_device(void *dst, const void *src, size_t bytes)
{
    return tp_copy(dst, src, (int64_t)bytes, cudaMemcpyHostToDevice);
}

extern "C" int tp_memcpy_htod(void *dst, const void *src, int64_t bytes)
{
    return tp_copy(dst, src, bytes, cudaMemcpyHostToDevice);
}

extern "C" int tp_memcpy_dtoh(void *dst, const void *src, int64_t bytes)
{
    return tp_copy(dst, src, bytes, cudaMemcpyDeviceToHost);
}

/* Queued: asynchronous with respect to the host, in stream order with the kernels. */
extern "C" int tp_memcpy_dtod(void *dst, const void *src, int64_t bytes)
{
    TP_REQUIRE(bytes >= 0);
    if (bytes == 0) return 0;
    TP_REQUIRE(dst != nullptr && src != nullptr);
    TP_CUDA_CHECK(cudaMemcpyAsync(dst, src, (size_t)bytes, cudaMemcpyDeviceToDevice, 0));
    return 0;
}

/* Queued, like tp_memcpy_dtod. */
extern "C" int tp_memset(void *ptr, int value, int64_t bytes)
{
    TP_REQUIRE(bytes >= 0);
    if (bytes == 0) return 0;
    TP_REQUIRE(ptr != nullptr);
    TP_CUDA_CHECK(cudaMemsetAsync(ptr, value, (size_t)bytes, 0));
    return 0;
}

extern "C" int tp_transfer_bytes(int64_t *host_to_device, int64_t *device_to_host)
{
    TP_REQUIRE(host_to_device != nullptr && device_to_host != nullptr);
    *host_to_device = s_htod_bytes.load();
    *device_to_host = s_dtoh_bytes.load();
    return 0;
}

extern "C" int tp_synchronize(void)
{
    TP_CUDA_CHECK(cudaDeviceSynchronize());
    return 0;
}

/* ------------------------------------------------------------------ additions */

extern "C" int tp_abi_version(int *version)
{
    TP_REQUIRE(version != nullptr);
    *version = TP_ABI_VERSION;
    return 0;
}

extern "C" int tp_runtime_version(int *version)
{
    TP_REQUIRE(version != nullptr);
    *version = 0;
    TP_CUDA_CHECK(cudaRuntimeGetVersion(version));
    return 0;
}

extern "C" int tp_driver_version(int *version)
{
    TP_REQUIRE(version != nullptr);
    *version = 0;
    TP_CUDA_CHECK(cudaDriverGetVersion(version));
    return 0;
}

extern "C" int tp_mem_get_info(int64_t *free_bytes, int64_t *total_bytes)
{
    TP_REQUIRE(free_bytes != nullptr && total_bytes != nullptr);
    *free_bytes = 0;
    *total_bytes = 0;
    size_t f = 0, t = 0;
    TP_CUDA_CHECK(cudaMemGetInfo(&f, &t));
    *free_bytes = (int64_t)f;
    *total_bytes = (int64_t)t;
    return 0;
}

/* ------------------------------------------------------------------ scratch */

static TpDeviceBuffer s_scratch[TP_SCRATCH_SLOTS];
static unsigned long long s_generation = 0;

int tp_scratch_reserve(int slot, size_t bytes, TpDeviceBuffer **out)
{
    TP_REQUIRE(slot >= 0 && slot < TP_SCRATCH_SLOTS && out != nullptr);
    *out = nullptr;
    TpDeviceBuffer &b = s_scratch[slot];
    if (bytes == 0) bytes = 1;
    if (b.ptr == nullptr || b.bytes < bytes) {
        size_t grown = b.bytes < 4096 ? 4096 : b.bytes;
        while (grown < bytes) grown *= 2;
        if (b.ptr != nullptr) {
            void *old = b.ptr;
            b.ptr = nullptr;
            b.bytes = 0;
            b.generation = ++s_generation;
            TP_CUDA_CHECK(cudaFree(old));
        }
        void *p = nullptr;
        TP_CUDA_CHECK(cudaMalloc(&p, grown));
        b.ptr = p;
        b.bytes = grown;
        b.generation = ++s_generation;
    }
    *out = &b;
    return 0;
}

extern "C" int tp_release_scratch(void)
{
    int first_error = 0;
    for (int slot = 0; slot < TP_SCRATCH_SLOTS; ++slot) {
        TpDeviceBuffer &b = s_scratch[slot];
        if (b.ptr == nullptr) continue;
        const cudaError_t e = cudaFree(b.ptr);
        if (e != cudaSuccess) {
            (void)cudaGetLastError();
            if (first_error == 0) first_error = (int)e;
        }
        b.ptr = nullptr;
        b.bytes = 0;
        b.generation = ++s_generation;
    }
    return first_error;
}
