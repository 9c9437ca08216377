/*
 * twophase CUDA emulation: an emulated CUDA driver, built as libcuda.so.1 (SONAME libcuda.so.1),
 * so that JCuda's natives, which link libcuda.so.1, run the JCuda backend unchanged on the
 * emulator once this library is loaded first (System.load; the dynamic loader then resolves
 * their libcuda.so.1 to it by SONAME).
 *
 *   device        one, named tp_emu::kDeviceName, with sm_90's launch limits
 *   contexts      the primary context only (retain/release counted; the last release frees
 *                 every allocation, as destroying a context does); a thread must make it current
 *                 before memory, module and launch calls (CUDA_ERROR_INVALID_CONTEXT otherwise)
 *   modules       cuModuleLoadData ignores the image: every module holds the kernels of the
 *                 kernel table, which cuModuleGetFunction finds by name
 *   launches      cuLaunchKernel unpacks kernelParams by the kernel's own C signature and runs
 *                 it on the emulator before returning (the default stream only; no dynamic
 *                 shared memory, no "extra")
 *   memory        the emulator's device memory (capacity: tp_emu_set_device_memory)
 *
 * Every other function JCuda imports is a stub returning CUDA_ERROR_NOT_SUPPORTED
 * (driver_unsupported.inc). The library also exports tp_emu_set_device_memory and
 * tp_emu_device_memory, by which Java recognizes it, and tp_emu_host_waits (the calls that wait
 * for the device: cuCtxSynchronize, cuMemcpyHtoD/DtoH, cuMemFree).
 */
#include <stdio.h>
#include <string.h>

#include <mutex>
#include <set>
#include <string>

#include "cuda.h"
#include "tp_emu.h"

#define TP_EMU_API extern "C" __attribute__((visibility("default")))

/* The primary context (the only one). */
struct CUctx_st {
    int refs = 0; /* retain count; 0: destroyed (inactive) */
};

namespace {

CUctx_st g_primary;
bool g_initialized = false;
thread_local CUcontext t_current = nullptr;

std::mutex g_lock;            /* modules and the primary context */
std::set<CUmodule> g_modules; /* loaded, not yet unloaded */

/* A module: nothing but its identity (every module holds every kernel of the table). */
struct ModuleTag {
    int unused;
};

/* The calling thread's current context, live. */
CUresult current()
{
    if (!g_initialized) return CUDA_ERROR_NOT_INITIALIZED;
    std::lock_guard<std::mutex> lock(g_lock);
    return t_current == &g_primary && g_primary.refs > 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

CUresult from_runtime(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return CUDA_SUCCESS;
    case cudaErrorMemoryAllocation: return CUDA_ERROR_OUT_OF_MEMORY;
    case cudaErrorLaunchOutOfResources: return CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES;
    case cudaErrorInvalidValue:
    case cudaErrorInvalidConfiguration: return CUDA_ERROR_INVALID_VALUE; /* the driver's code for a bad launch */
    default: return CUDA_ERROR_UNKNOWN;
    }
}

void *address(CUdeviceptr p) { return reinterpret_cast<void *>((uintptr_t)p); }

} // namespace

/* ------------------------------------------------------------------ initialization, errors */

TP_EMU_API CUresult cuInit(unsigned int flags)
{
    if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
    g_initialized = true;
    return CUDA_SUCCESS;
}

TP_EMU_API CUresult cuDriverGetVersion(int *version)
{
    if (version == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *version = tp_emu::kCudaVersion;
    return CUDA_SUCCESS;
}

namespace {
struct ErrorText {
    CUresult code;
    const char *name;
    const char *text;
};
/* The real driver's names and messages for the codes the emulator returns. */
const ErrorText kErrors[] = {
    {CUDA_SUCCESS, "CUDA_SUCCESS", "no error"},
    {CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {CUDA_ERROR_DEINITIALIZED, "CUDA_ERROR_DEINITIALIZED", "driver shutting down"},
    {CUDA_ERROR_NO_DEVICE, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {CUDA_ERROR_INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {CUDA_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {CUDA_ERROR_INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"},
    {CUDA_ERROR_NOT_SUPPORTED, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
    {CUDA_ERROR_UNKNOWN, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

const ErrorText *error_text(CUresult e)
{
    for (const ErrorText &t : kErrors)
        if (t.code == e) return &t;
    return nullptr;
}
} // namespace

TP_EMU_API CUresult cuGetErrorString(CUresult error, const char **str)
{
    if (str == nullptr) return CUDA_ERROR_INVALID_VALUE;
    const ErrorText *t = error_text(error);
    *str = t != nullptr ? t->text : nullptr;
    return t != nullptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

TP_EMU_API CUresult cuGetErrorName(CUresult error, const char **str)
{
    if (str == nullptr) return CUDA_ERROR_INVALID_VALUE;
    const ErrorText *t = error_text(error);
    *str = t != nullptr ? t->name : nullptr;
    return t != nullptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* ------------------------------------------------------------------ device */

TP_EMU_API CUresult cuDeviceGetCount(int *count)
{
    if (count == nullptr) return CUDA_ERROR_INVALID_VALUE;
    if (!g_initialized) return CUDA_ERROR_NOT_INITIALIZED;
    *count = 1;
    return CUDA_SUCCESS;
}

TP_EMU_API CUresult cuDeviceGet(CUdevice *device, int ordinal)
{
    if (device == nullptr) return CUDA_ERROR_INVALID_VALUE;
    if (!g_initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
    *device = 0;
    return CUDA_SUCCESS;
}

TP_EMU_API CUresult cuDeviceGetName(char *name, int len, CUdevice dev)
{
    if (name == nullptr || len <= 0) return CUDA_ERROR_INVALID_VALUE;
    if (!g_initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    snprintf(name, (size_t)len, "%s", tp_emu::kDeviceName);
    return CUDA_SUCCESS;
}

TP_EMU_API CUresult cuDeviceGetAttribute(int *value, CUdevice_attribute attrib, CUdevice dev)
{
    if (value == nullptr) return CUDA_ERROR_INVALID_VALUE;
    if (!g_initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    switch (attrib) {
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *value = (int)tp_emu::kMaxThreadsPerBlock; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X: *value = (int)tp_emu::kMaxBlockX; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y: *value = (int)tp_emu::kMaxBlockY; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z: *value = (int)tp_emu::kMaxBlockZ; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X: *value = (int)tp_emu::kMaxGridX; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y: *value = (int)tp_emu::kMaxGridY; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z: *value = (int)tp_emu::kMaxGridZ; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: *value = (int)tp_emu::kSharedMemPerBlock; break;
    case CU_DEVICE_ATTRIBUTE_WARP_SIZE: *value = 32; break;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *value = 1; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *value = tp_emu::kMajor; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *value = tp_emu::kMinor; break;
    default: return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

TP_EMU_API CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
    if (bytes == nullptr) return CUDA_ERROR_INVALID_VALUE;
    if (!g_initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    size_t free_bytes = 0;
    tp_emu::device_memory_info(&free_bytes, bytes);
    return CUDA_SUCCESS;
}

/* ------------------------------------------------------------------ contexts */

TP_EMU_API CUresult cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice dev)
{
    if (ctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
    if (!g_initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    std::lock_guard<std::mutex> lock(g_lock);
    ++g_primary.refs;
    *ctx = &g_primary;
    return CUDA_SUCCESS;
}

TP_EMU_API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
    if (!g_initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
    std::lock_guard<std::mutex> lock(g_lock);
    if (g_primary.refs == 0) return CUDA_ERROR_INVALID_CONTEXT;
    if (--g_primary.refs == 0) { /* destroyed: its memory and modules go with it */
        tp_emu::device_free_all();
        g_modules.clear();
    }
    return CUDA_SUCCESS;
}

TP_EMU_API CUresult cuCtxSetCurrent(CUcontext ctx)
{
    if (!g_initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (ctx != nullptr && ctx != &g_primary) return CUDA_ERROR_INVALID_CONTEXT;
    t_current = ctx;
    return CUDA_SUCCESS;
}

TP_EMU_API CUresult cuCtxGetCurrent(CUcontext *ctx)
{
    if (ctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
    if (!g_initialized) return CUDA_ERROR_NOT_INITIALIZED;
    *ctx = t_current;
    return CUDA_SUCCESS;
}

TP_EMU_API CUresult cuCtxGetDevice(CUdevice *device)
{
    if (device == nullptr) return CUDA_ERROR_INVALID_VALUE;
    const CUresult rc = current();
    if (rc != CUDA_SUCCESS) return rc;
    *device = 0;
    return CUDA_SUCCESS;
}

/* Launches run to completion inside cuLaunchKernel: there is never anything to wait for. */
TP_EMU_API CUresult cuCtxSynchronize(void)
{
    tp_emu::host_wait();
    return current();
}

/* ------------------------------------------------------------------ modules and launches */

TP_EMU_API CUresult cuModuleLoadData(CUmodule *module, const void *image)
{
    if (module == nullptr || image == nullptr) return CUDA_ERROR_INVALID_VALUE;
    const CUresult rc = current();
    if (rc != CUDA_SUCCESS) return rc;
    CUmodule m = reinterpret_cast<CUmodule>(new ModuleTag());
    std::lock_guard<std::mutex> lock(g_lock);
    g_modules.insert(m);
    *module = m;
    return CUDA_SUCCESS;
}

TP_EMU_API CUresult cuModuleGetFunction(CUfunction *function, CUmodule module, const char *name)
{
    if (function == nullptr || name == nullptr) return CUDA_ERROR_INVALID_VALUE;
    const CUresult rc = current();
    if (rc != CUDA_SUCCESS) return rc;
    {
        std::lock_guard<std::mutex> lock(g_lock);
        if (g_modules.count(module) == 0) return CUDA_ERROR_INVALID_HANDLE;
    }
    const tp_emu::KernelEntry *e = tp_emu::find_kernel(name);
    if (e == nullptr) return CUDA_ERROR_NOT_FOUND;
    *function = reinterpret_cast<CUfunction>(const_cast<tp_emu::KernelEntry *>(e));
    return CUDA_SUCCESS;
}

TP_EMU_API CUresult cuModuleUnload(CUmodule module)
{
    const CUresult rc = current();
    if (rc != CUDA_SUCCESS) return rc;
    std::lock_guard<std::mutex> lock(g_lock);
    if (g_modules.erase(module) == 0) return CUDA_ERROR_INVALID_HANDLE;
    delete reinterpret_cast<ModuleTag *>(module);
    return CUDA_SUCCESS;
}

TP_EMU_API CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
                                   unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
                                   unsigned int sharedMemBytes, CUstream stream, void **kernelParams, void **extra)
{
    const CUresult rc = current();
    if (rc != CUDA_SUCCESS) return rc;
    const tp_emu::KernelEntry *e = reinterpret_cast<const tp_emu::KernelEntry *>(f);
    bool known = false;
    for (const tp_emu::KernelEntry *k = tp_emu::kernels_begin(); k != tp_emu::kernels_end(); ++k) known = known || k == e;
    if (!known) return CUDA_ERROR_INVALID_HANDLE;
    if (extra != nullptr) return CUDA_ERROR_NOT_SUPPORTED;           /* kernelParams only */
    if (sharedMemBytes > 0) return CUDA_ERROR_NOT_SUPPORTED;         /* no dynamic shared memory */
    if (stream != nullptr && stream != reinterpret_cast<CUstream>(0x1)) return CUDA_ERROR_INVALID_HANDLE;
    return from_runtime(e->from_params(*e, dim3(gridDimX, gridDimY, gridDimZ), dim3(blockDimX, blockDimY, blockDimZ),
                                       kernelParams));
}

/* ------------------------------------------------------------------ memory */

TP_EMU_API CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytes)
{
    if (dptr == nullptr || bytes == 0) return CUDA_ERROR_INVALID_VALUE;
    const CUresult rc = current();
    if (rc != CUDA_SUCCESS) return rc;
    void *p = nullptr;
    const CUresult r = from_runtime(tp_emu::device_malloc(&p, bytes));
    if (r == CUDA_SUCCESS) *dptr = (CUdeviceptr)(uintptr_t)p;
    return r;
}

TP_EMU_API CUresult cuMemFree_v2(CUdeviceptr dptr)
{
    const CUresult rc = current();
    if (rc != CUDA_SUCCESS) return rc;
    if (dptr == 0) return CUDA_SUCCESS;
    tp_emu::host_wait(); /* cuMemFree waits for the device */
    return tp_emu::device_free(address(dptr)) == cudaSuccess ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

TP_EMU_API CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total_bytes)
{
    if (free_bytes == nullptr || total_bytes == nullptr) return CUDA_ERROR_INVALID_VALUE;
    const CUresult rc = current();
    if (rc != CUDA_SUCCESS) return rc;
    tp_emu::device_memory_info(free_bytes, total_bytes);
    return CUDA_SUCCESS;
}

TP_EMU_API CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t bytes)
{
    const CUresult rc = current();
    if (rc != CUDA_SUCCESS) return rc;
    if (bytes == 0) return CUDA_SUCCESS;
    if (src == nullptr || !tp_emu::device_range(address(dst), bytes)) return CUDA_ERROR_INVALID_VALUE;
    tp_emu::host_wait(); /* from pageable host memory: waits for the queued work */
    memmove(address(dst), src, bytes);
    return CUDA_SUCCESS;
}

TP_EMU_API CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t bytes)
{
    const CUresult rc = current();
    if (rc != CUDA_SUCCESS) return rc;
    if (bytes == 0) return CUDA_SUCCESS;
    if (dst == nullptr || !tp_emu::device_range(address(src), bytes)) return CUDA_ERROR_INVALID_VALUE;
    tp_emu::host_wait();
    memmove(dst, address(src), bytes);
    return CUDA_SUCCESS;
}

TP_EMU_API CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes)
{
    const CUresult rc = current();
    if (rc != CUDA_SUCCESS) return rc;
    if (bytes == 0) return CUDA_SUCCESS;
    if (!tp_emu::device_range(address(dst), bytes) || !tp_emu::device_range(address(src), bytes))
        return CUDA_ERROR_INVALID_VALUE;
    memmove(address(dst), address(src), bytes);
    return CUDA_SUCCESS;
}

TP_EMU_API CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char value, size_t count)
{
    const CUresult rc = current();
    if (rc != CUDA_SUCCESS) return rc;
    if (count == 0) return CUDA_SUCCESS;
    if (!tp_emu::device_range(address(dst), count)) return CUDA_ERROR_INVALID_VALUE;
    memset(address(dst), value, count);
    return CUDA_SUCCESS;
}

TP_EMU_API CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned int value, size_t count)
{
    const CUresult rc = current();
    if (rc != CUDA_SUCCESS) return rc;
    if (count == 0) return CUDA_SUCCESS;
    if (dst % 4 != 0 || count > SIZE_MAX / 4 || !tp_emu::device_range(address(dst), count * 4))
        return CUDA_ERROR_INVALID_VALUE;
    unsigned int *p = static_cast<unsigned int *>(address(dst));
    for (size_t i = 0; i < count; ++i) p[i] = value;
    return CUDA_SUCCESS;
}

/* ------------------------------------------------------------------ everything else JCuda imports */

namespace {
void unsupported(const char *name)
{
    static std::mutex m;
    static std::set<std::string> told;
    std::lock_guard<std::mutex> lock(m);
    if (told.insert(name).second)
        fprintf(stderr, "tp_emu driver: %s is not emulated (returns CUDA_ERROR_NOT_SUPPORTED)\n", name);
}
} // namespace

#define TP_EMU_UNSUPPORTED(name)                                                            \
    TP_EMU_API CUresult name(void)                                                          \
    {                                                                                       \
        unsupported(#name);                                                                 \
        return CUDA_ERROR_NOT_SUPPORTED;                                                    \
    }
#include "driver_unsupported.inc"
