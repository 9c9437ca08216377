/*
 * twophase CUDA emulation: what the emulator's parts share (runtime, kernel table, emulated
 * driver, self-test). Kernel files never include this; they see only cuda_runtime.h.
 */
#ifndef TP_EMU_H
#define TP_EMU_H

#include <stddef.h>
#include <stdint.h>

#include <cstring>
#include <tuple>
#include <utility>

#include "cuda_runtime.h"

/* Exported from libtwophase_emu.so and the emulated libcuda.so.1 (C linkage, no CUDA types). */
extern "C" {
/* Device memory the emulated device has (what cudaMemGetInfo / cuMemGetInfo report as total and
 * what allocations may use in all). Returns 0, or 1 for a negative size. Default: 2 GiB, or the
 * environment variable TWOPHASE_EMU_MEMORY (bytes, or with a K, M or G suffix). */
int tp_emu_set_device_memory(int64_t bytes);
/* Bytes allocated now and the capacity. */
int tp_emu_device_memory(int64_t *used, int64_t *capacity);
/* How many calls so far made the host wait for the work queued on the emulated device, as they do
 * on a real one: synchronizations, copies with a host side, frees (the emulator runs every launch
 * at once, so this is how a test sees where a binding or the library would wait). Returns 0. */
int tp_emu_host_waits(int64_t *count);
}

namespace tp_emu {

/* The device's name as cudaGetDeviceProperties and cuDeviceGetName report it. */
constexpr const char *kDeviceName = "twophase CUDA emulator (CPU)";
/* The CUDA version whose API subset the emulator implements (runtime and driver). */
constexpr int kCudaVersion = 12060;
/* Compute capability reported; the launch limits enforced are those of this architecture. */
constexpr int kMajor = 9, kMinor = 0;
constexpr unsigned kMaxThreadsPerBlock = 1024, kMaxBlockX = 1024, kMaxBlockY = 1024, kMaxBlockZ = 64;
constexpr unsigned kMaxGridX = 0x7fffffffu, kMaxGridY = 65535, kMaxGridZ = 65535;
constexpr size_t kSharedMemPerBlock = 48 * 1024;

/* Sets the thread's last runtime error (cudaGetLastError) when err is not cudaSuccess; returns err. */
cudaError_t record(cudaError_t err);

/* A launch that can be run from a kernelParams array (cuLaunchKernel): one entry per kernel of
 * cuda/kernels.cuh, generated at build time into the kernel table (kernel_table.cpp). */
struct KernelEntry {
    const char *name;
    const void *kernel;
    unsigned max_threads; /* __launch_bounds__: a larger block fails to launch */
    cudaError_t (*from_params)(const KernelEntry &self, dim3 grid, dim3 block, void **params);
};

/* The kernel table: by name (cuModuleGetFunction) or by function (the launch bound of a
 * TP_LAUNCH); null when absent. */
const KernelEntry *find_kernel(const char *name);
const KernelEntry *find_kernel(const void *kernel);
const KernelEntry *kernels_begin();
const KernelEntry *kernels_end();

/* Runs a launch and returns its configuration error, without recording it. */
cudaError_t run_launch(const char *name, const void *kernel, dim3 grid, dim3 block, void (*body)(void *),
                       void *closure);

/* Device memory (the allocation table that cudaMalloc and cuMemAlloc share within one library). */
cudaError_t device_malloc(void **ptr, size_t bytes);
cudaError_t device_free(void *ptr);
/* Frees every allocation (the driver's primary context was destroyed). */
void device_free_all();
/* True when [p, p + bytes) lies inside one live allocation. */
bool device_range(const void *p, size_t bytes);
void device_memory_info(size_t *free_bytes, size_t *total_bytes);
/* A call that makes the host wait for queued work (tp_emu_host_waits counts it). */
void host_wait();

/* Fiber switching: "asm" (a hand-written x86-64 switch) or "ucontext" (swapcontext, portable,
 * one sigprocmask system call per switch). Default asm where available; the environment
 * variable TWOPHASE_EMU_FIBERS overrides. Returns false for a name not available here. */
bool set_fiber_switch(const char *name);
const char *fiber_switch();

/* --------------------------------------------------------------- kernelParams -> a launch */

template <class T> inline T load_param(void *p)
{
    T v;
    std::memcpy(&v, p, sizeof v); /* kernelParams[i] points to the value of parameter i */
    return v;
}

template <class... P, size_t... I>
inline cudaError_t launch_params_impl(const KernelEntry &e, void (*kernel)(P...), dim3 grid, dim3 block, void **params,
                                      std::index_sequence<I...>)
{
    Closure<P...> c{kernel, std::tuple<typename std::decay<P>::type...>(
                                load_param<typename std::decay<P>::type>(params[I])...)};
    return run_launch(e.name, e.kernel, grid, block, &Closure<P...>::body, &c);
}

template <class... P>
inline cudaError_t launch_params(const KernelEntry &e, void (*kernel)(P...), dim3 grid, dim3 block, void **params)
{
    if (sizeof...(P) > 0 && params == nullptr) return cudaErrorInvalidValue;
    return launch_params_impl(e, kernel, grid, block, params, std::index_sequence_for<P...>{});
}

/* Unpacks kernelParams by the kernel's own signature (K is the kernel function). */
template <auto K> cudaError_t params_thunk(const KernelEntry &e, dim3 grid, dim3 block, void **params)
{
    return launch_params(e, K, grid, block, params);
}

} // namespace tp_emu

/* One kernel-table entry: TP_EMU_KERNEL(tp_adam_kernel, TP_BLOCK). */
#define TP_EMU_KERNEL(kernel, bound)                                                        \
    ::tp_emu::KernelEntry { #kernel, reinterpret_cast<const void *>(&kernel), (unsigned)(bound), &::tp_emu::params_thunk<&kernel> }

#endif /* TP_EMU_H */
