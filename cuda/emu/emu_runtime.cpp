/*
 * twophase CUDA emulation: the runtime behind cuda_runtime.h.
 *
 *   launches   configuration checked as CUDA checks it (block and grid limits of sm_90, the
 *              kernel's __launch_bounds__ from the kernel table); then blocks in order
 *              (x fastest), each thread a fiber on a stack of its own (64 KiB, a guard page
 *              below; TWOPHASE_EMU_STACK in KiB to change)
 *   scheduler  runs every ready fiber until it exits or waits (__syncthreads or a warp
 *              primitive); when none is ready it releases the warp groups that are complete,
 *              else the barrier when every thread of the block waits at the same one, else it
 *              aborts naming the kernel, block, thread and source line
 *   memory     device memory is host memory (posix_memalign, 256-byte aligned, filled with
 *              0xff bytes so that unwritten floats read as NaN) within a capacity, so that
 *              out-of-memory paths can be tested; copies and memsets check that their device
 *              range lies in one allocation
 *   errors     runtime API errors are recorded per host thread for cudaGetLastError
 *
 * One launch at a time per process (a mutex); kernels never run concurrently with each other.
 */
#include "tp_emu.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define TP_EMU_ASAN 1
#endif

namespace tp_emu {

Context g_ctx;

namespace {

/* ------------------------------------------------------------------ configuration */

/* "123", "64K", "512M", "2G" -> bytes; fallback on anything else. */
size_t parse_size(const char *text, size_t fallback)
{
    if (text == nullptr || *text == '\0') return fallback;
    char *end = nullptr;
    errno = 0;
    const unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text) return fallback;
    unsigned long long scale = 1;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': scale = 1ull << 10; ++end; break;
    case 'm': case 'M': scale = 1ull << 20; ++end; break;
    case 'g': case 'G': scale = 1ull << 30; ++end; break;
    default: return fallback;
    }
    if (*end != '\0' || v > SIZE_MAX / scale) return fallback;
    return (size_t)(v * scale);
}

constexpr size_t kDefaultMemory = (size_t)2 << 30;
#ifdef TP_EMU_ASAN
constexpr size_t kDefaultStack = 256 << 10; /* instrumented frames are larger */
#else
constexpr size_t kDefaultStack = 64 << 10;
#endif

size_t page_size()
{
    static const size_t p = (size_t)sysconf(_SC_PAGESIZE);
    return p;
}

/* ------------------------------------------------------------------ errors and device state */

thread_local cudaError_t t_last_error = cudaSuccess;

std::mutex g_device;                        /* allocations and launches */
std::map<uintptr_t, size_t> g_allocations;  /* base -> bytes requested  */
size_t g_used = 0;                          /* bytes, rounded to 256     */
size_t g_capacity = parse_size(getenv("TWOPHASE_EMU_MEMORY"), kDefaultMemory);
bool g_running = false;

size_t round256(size_t bytes) { return (bytes + 255u) & ~(size_t)255u; }

[[noreturn]] void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tp_emu: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    abort();
}

/* ------------------------------------------------------------------ fibers */

enum class State : unsigned char { Ready, Barrier, Warp, Exited };

struct Thread : ThreadView {
    unsigned linear = 0;
    State state = State::Ready;
    bool started = false;
    char *stack = nullptr; /* lowest usable address; a guard page lies below */
    void *sp = nullptr;    /* saved stack pointer (asm switch) */
    ucontext_t *uc = nullptr;
#ifdef TP_EMU_ASAN
    void *fake_stack = nullptr;
#endif
    /* what the thread waits for */
    const char *file = "";
    int line = 0;
    WarpOp op = WarpOp::SyncWarp;
    unsigned mask = 0;
    int arg = 0;
    int width = 32;
    unsigned long long value = 0, result = 0;
};

struct Launch {
    const char *name = "";
    void (*body)(void *) = nullptr;
    void *closure = nullptr;
};

Launch g_launch;
std::vector<Thread> g_threads;
char *g_stacks = nullptr;
size_t g_stack_bytes = 0; /* usable bytes per stack */
size_t g_stack_slots = 0;
std::vector<ucontext_t> g_contexts;
void *g_sched_sp = nullptr;
ucontext_t g_sched_uc;
#ifdef TP_EMU_ASAN
void *g_sched_fake = nullptr;
const void *g_sched_bottom = nullptr;
size_t g_sched_size = 0;
#endif

enum class Switch { Asm, Ucontext };
#if defined(__x86_64__)
Switch g_switch = Switch::Asm;
#else
Switch g_switch = Switch::Ucontext;
#endif

const char *state_name(State s)
{
    switch (s) {
    case State::Ready: return "running";
    case State::Barrier: return "__syncthreads";
    case State::Warp: return "a warp primitive";
    default: return "exited";
    }
}

const char *op_name(WarpOp op)
{
    switch (op) {
    case WarpOp::ShflIdx: return "__shfl_sync";
    case WarpOp::ShflUp: return "__shfl_up_sync";
    case WarpOp::ShflDown: return "__shfl_down_sync";
    case WarpOp::ShflXor: return "__shfl_xor_sync";
    case WarpOp::Ballot: return "__ballot_sync";
    case WarpOp::Any: return "__any_sync";
    case WarpOp::All: return "__all_sync";
    default: return "__syncwarp";
    }
}

/* "kernel K, block (x,y,z), thread (x,y,z)" for messages about thread t. */
const char *where(const Thread &t)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "kernel %s, block (%u,%u,%u), thread (%u,%u,%u)", g_launch.name, g_ctx.block_idx.x,
             g_ctx.block_idx.y, g_ctx.block_idx.z, t.tid.x, t.tid.y, t.tid.z);
    return buf;
}

} // namespace
} // namespace tp_emu

/* The hand-written switch (x86-64 System V): pushes the callee-saved registers on the current
 * stack, stores the stack pointer in *save, loads load_sp and pops the same from there. The
 * floating-point control state (MXCSR, x87 control word) is not switched: kernels cannot change
 * it, so every fiber runs with the launching thread's. A new fiber's stack is prepared so that
 * the switch "returns" into tp_emu_fiber_trampoline, which calls tp_emu_fiber_main on an
 * aligned stack. */
#if defined(__x86_64__)
extern "C" void tp_emu_switch(void **save, void *load_sp);
extern "C" void tp_emu_fiber_trampoline(void);
__asm__(".text\n"
        ".globl tp_emu_switch\n"
        ".hidden tp_emu_switch\n"
        ".type tp_emu_switch,@function\n"
        "tp_emu_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size tp_emu_switch, .-tp_emu_switch\n"
        ".globl tp_emu_fiber_trampoline\n"
        ".hidden tp_emu_fiber_trampoline\n"
        ".type tp_emu_fiber_trampoline,@function\n"
        "tp_emu_fiber_trampoline:\n"
        "    .cfi_startproc\n"
        "    .cfi_undefined rip\n"
        "    andq $-16, %rsp\n"
        "    call tp_emu_fiber_main\n"
        "    ud2\n"
        "    .cfi_endproc\n"
        ".size tp_emu_fiber_trampoline, .-tp_emu_fiber_trampoline\n");
#endif

extern "C" [[noreturn]] void tp_emu_fiber_main(void) __attribute__((visibility("hidden"), used));

namespace tp_emu {
namespace {

#ifdef TP_EMU_ASAN
/* Switch annotations: AddressSanitizer must know which stack is current. */
void asan_enter(void **fake_save, const void *bottom, size_t size) { __sanitizer_start_switch_fiber(fake_save, bottom, size); }
void asan_entered(void *fake, const void **old_bottom, size_t *old_size)
{
    __sanitizer_finish_switch_fiber(fake, old_bottom, old_size);
}
#endif

/* Allocates (once, growing) the stacks of n threads: each g_stack_bytes usable above a guard page. */
void reserve_stacks(unsigned n)
{
    if (n <= g_stack_slots) return;
    if (g_stacks != nullptr) {
        munmap(g_stacks, g_stack_slots * (g_stack_bytes + page_size()));
        g_stacks = nullptr;
        g_stack_slots = 0;
    }
    if (g_stack_bytes == 0) {
        const size_t kib = parse_size(getenv("TWOPHASE_EMU_STACK"), 0); /* in KiB */
        const size_t want = kib > 0 && kib < ((size_t)1 << 20) ? kib << 10 : kDefaultStack;
        g_stack_bytes = (want + page_size() - 1) / page_size() * page_size();
        if (g_stack_bytes < 4 * page_size()) g_stack_bytes = 4 * page_size();
    }
    const size_t slot = g_stack_bytes + page_size();
    void *p = mmap(nullptr, slot * n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) die("cannot map %u fiber stacks of %zu bytes: %s", n, g_stack_bytes, strerror(errno));
    g_stacks = static_cast<char *>(p);
    for (unsigned i = 0; i < n; ++i) mprotect(g_stacks + i * slot, page_size(), PROT_NONE);
    g_stack_slots = n;
}

char *stack_of(unsigned i) { return g_stacks + i * (g_stack_bytes + page_size()) + page_size(); }

/* Scheduler -> thread t (returns when t waits or exits). */
void resume(Thread &t)
{
    g_ctx.thread = &t;
    if (!t.started) {
        t.started = true;
        t.stack = stack_of(t.linear);
#ifdef TP_EMU_ASAN
        __asan_unpoison_memory_region(t.stack, g_stack_bytes);
#endif
        if (g_switch == Switch::Asm) {
            void **top = reinterpret_cast<void **>(t.stack + g_stack_bytes);
            *--top = nullptr;                                               /* padding     */
            *--top = reinterpret_cast<void *>(&tp_emu_fiber_trampoline);    /* return      */
            for (int r = 0; r < 6; ++r) *--top = nullptr;                   /* rbp .. r15  */
            t.sp = top;
        } else {
            t.uc = &g_contexts[t.linear];
            getcontext(t.uc);
            t.uc->uc_stack.ss_sp = t.stack;
            t.uc->uc_stack.ss_size = g_stack_bytes;
            t.uc->uc_link = nullptr;
            makecontext(t.uc, reinterpret_cast<void (*)()>(&tp_emu_fiber_main), 0);
        }
    }
#ifdef TP_EMU_ASAN
    asan_enter(&g_sched_fake, t.stack, g_stack_bytes);
#endif
#if defined(__x86_64__)
    if (g_switch == Switch::Asm) tp_emu_switch(&g_sched_sp, t.sp);
    else
#endif
        swapcontext(&g_sched_uc, t.uc);
#ifdef TP_EMU_ASAN
    asan_entered(g_sched_fake, nullptr, nullptr);
#endif
}

/* Thread t -> scheduler; returns when the scheduler resumes t (never when t has exited). */
void yield(Thread &t)
{
#ifdef TP_EMU_ASAN
    asan_enter(t.state == State::Exited ? nullptr : &t.fake_stack, g_sched_bottom, g_sched_size);
#endif
#if defined(__x86_64__)
    if (g_switch == Switch::Asm) tp_emu_switch(&t.sp, g_sched_sp);
    else
#endif
        swapcontext(t.uc, &g_sched_uc);
#ifdef TP_EMU_ASAN
    asan_entered(t.fake_stack, &g_sched_bottom, &g_sched_size);
#endif
}

/* ------------------------------------------------------------------ shared memory */

extern "C" char __start_tp_emu_shared[] __attribute__((weak, visibility("hidden")));
extern "C" char __stop_tp_emu_shared[] __attribute__((weak, visibility("hidden")));

/* Every __shared__ variable of the library: all bytes 0xff (NaN), as if left by another block. */
__attribute__((no_sanitize_address)) void poison_shared()
{
    if (__start_tp_emu_shared == nullptr) return;
    for (volatile char *p = __start_tp_emu_shared; p < __stop_tp_emu_shared; ++p) *p = (char)0xff;
}

/* ------------------------------------------------------------------ warp groups and barriers */

/* Releases every warp group whose lanes have all arrived; aborts on a group that cannot complete.
 * Returns whether any thread became ready. */
bool resolve_warps(unsigned nthreads)
{
    bool released = false;
    for (unsigned base = 0; base < nthreads; base += 32) {
        const unsigned lanes = nthreads - base < 32 ? nthreads - base : 32;
        Thread *w = &g_threads[base];
        for (unsigned i = 0; i < lanes; ++i) {
            Thread &t = w[i];
            if (t.state != State::Warp) continue;
            const unsigned mask = t.mask;
            if (lanes < 32 && (mask >> lanes) != 0)
                die("%s: %s at %s:%d: mask 0x%08x names lane %u, but the block's last warp has only %u lanes",
                    where(t), op_name(t.op), t.file, t.line, mask, (unsigned)__builtin_ctz(mask >> lanes) + lanes, lanes);
            for (unsigned j = 0; j < lanes; ++j) {
                if (!((mask >> j) & 1u)) continue;
                const Thread &u = w[j];
                if (u.state == State::Warp && u.op == t.op && u.mask == mask && u.width == t.width) continue;
                if (u.state == State::Warp)
                    die("%s: %s at %s:%d with mask 0x%08x, but lane %u named in the mask is at %s at %s:%d with mask "
                        "0x%08x",
                        where(t), op_name(t.op), t.file, t.line, mask, j, op_name(u.op), u.file, u.line, u.mask);
                if (u.state == State::Barrier)
                    die("%s: %s at %s:%d with mask 0x%08x, but lane %u named in the mask waits at __syncthreads at %s:%d",
                        where(t), op_name(t.op), t.file, t.line, mask, j, u.file, u.line);
                die("%s: %s at %s:%d with mask 0x%08x, but lane %u named in the mask has exited", where(t), op_name(t.op),
                    t.file, t.line, mask, j);
            }
            /* every lane of the mask is here: compute the results, then release them */
            const unsigned width = (unsigned)t.width;
            for (unsigned j = 0; j < lanes; ++j) {
                if (!((mask >> j) & 1u)) continue;
                Thread &u = w[j];
                unsigned long long r = 0;
                switch (t.op) {
                case WarpOp::ShflIdx: case WarpOp::ShflUp: case WarpOp::ShflDown: case WarpOp::ShflXor: {
                    const unsigned seg = j & ~(width - 1);
                    unsigned src = j;
                    if (t.op == WarpOp::ShflIdx) {
                        src = seg + ((unsigned)u.arg & (width - 1));
                    } else if (t.op == WarpOp::ShflUp) {
                        if (j - seg >= (unsigned)u.arg) src = j - (unsigned)u.arg;
                    } else if (t.op == WarpOp::ShflDown) {
                        if ((unsigned long long)(j - seg) + (unsigned)u.arg < width) src = j + (unsigned)u.arg;
                    } else {
                        const unsigned x = j ^ (unsigned)u.arg;
                        if (x < seg + width) src = x; /* a later group, or beyond the warp: own value */
                    }
                    if (!((mask >> src) & 1u))
                        die("%s: %s at %s:%d: lane %u reads lane %u, which is not in the mask 0x%08x (undefined on "
                            "the device)",
                            where(u), op_name(t.op), u.file, u.line, j, src, mask);
                    r = w[src].value;
                    break;
                }
                case WarpOp::Ballot: case WarpOp::Any: case WarpOp::All: {
                    unsigned ballot = 0;
                    for (unsigned k = 0; k < lanes; ++k)
                        if (((mask >> k) & 1u) && w[k].value != 0) ballot |= 1u << k;
                    r = t.op == WarpOp::Ballot ? ballot : t.op == WarpOp::Any ? ballot != 0 : ballot == mask;
                    break;
                }
                default: break;
                }
                u.result = r;
            }
            for (unsigned j = 0; j < lanes; ++j)
                if ((mask >> j) & 1u) w[j].state = State::Ready;
            released = true;
        }
    }
    return released;
}

/* Releases the barrier when every thread of the block waits at the same one; aborts otherwise.
 * Returns false when every thread has exited (the block is done). */
bool release_barrier(unsigned nthreads)
{
    const Thread *waiting = nullptr, *exited = nullptr;
    unsigned count = 0;
    for (unsigned i = 0; i < nthreads; ++i) {
        const Thread &t = g_threads[i];
        if (t.state == State::Barrier) {
            ++count;
            if (waiting == nullptr) waiting = &t;
            else if (t.line != waiting->line || strcmp(t.file, waiting->file) != 0)
                die("%s: waits at __syncthreads at %s:%d while thread (%u,%u,%u) waits at __syncthreads at %s:%d "
                    "(a barrier in divergent code)",
                    where(t), t.file, t.line, waiting->tid.x, waiting->tid.y, waiting->tid.z, waiting->file, waiting->line);
        } else if (t.state == State::Exited) {
            if (exited == nullptr) exited = &t;
        } else {
            die("%s: the scheduler found the thread %s while no thread could run", where(t), state_name(t.state));
        }
    }
    if (waiting == nullptr) return false;
    if (exited != nullptr)
        die("kernel %s, block (%u,%u,%u): __syncthreads at %s:%d is reached by %u of %u threads; thread (%u,%u,%u) "
            "exited without reaching it",
            g_launch.name, g_ctx.block_idx.x, g_ctx.block_idx.y, g_ctx.block_idx.z, waiting->file, waiting->line, count,
            nthreads, exited->tid.x, exited->tid.y, exited->tid.z);
    for (unsigned i = 0; i < nthreads; ++i) g_threads[i].state = State::Ready;
    return true;
}

void run_block(unsigned nthreads)
{
    poison_shared();
    const dim3 bd = g_ctx.block_dim;
    for (unsigned i = 0; i < nthreads; ++i) {
        Thread &t = g_threads[i];
        t.linear = i;
        t.tid = uint3{i % bd.x, (i / bd.x) % bd.y, i / (bd.x * bd.y)};
        t.state = State::Ready;
        t.started = false;
    }
    for (;;) {
        for (unsigned i = 0; i < nthreads; ++i)
            if (g_threads[i].state == State::Ready) resume(g_threads[i]);
        if (resolve_warps(nthreads)) continue;
        if (!release_barrier(nthreads)) break;
    }
    g_ctx.thread = nullptr;
}

cudaError_t check_config(const void *kernel, dim3 grid, dim3 block)
{
    const unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0) return cudaErrorInvalidConfiguration;
    if (block.x > kMaxBlockX || block.y > kMaxBlockY || block.z > kMaxBlockZ || threads > kMaxThreadsPerBlock)
        return cudaErrorInvalidConfiguration;
    if (grid.x > kMaxGridX || grid.y > kMaxGridY || grid.z > kMaxGridZ) return cudaErrorInvalidConfiguration;
    /* more threads than the kernel's __launch_bounds__: CUDA refuses the launch for lack of
     * resources (the kernel was compiled for at most that many) */
    const KernelEntry *e = find_kernel(kernel);
    if (e != nullptr && threads > e->max_threads) return cudaErrorLaunchOutOfResources;
    return cudaSuccess;
}

} // namespace

/* ------------------------------------------------------------------ what the header and the driver call */

cudaError_t record(cudaError_t err)
{
    if (err != cudaSuccess) t_last_error = err;
    return err;
}

void barrier(const char *file, int line)
{
    Thread &t = static_cast<Thread &>(*g_ctx.thread);
    t.state = State::Barrier;
    t.file = file;
    t.line = line;
    yield(t);
}

unsigned long long warp_op(WarpOp op, unsigned int mask, unsigned long long value, int arg, int width, const char *file,
                           int line)
{
    Thread &t = static_cast<Thread &>(*g_ctx.thread);
    const unsigned lane = t.linear % 32;
    if (!((mask >> lane) & 1u))
        die("%s: %s at %s:%d: the calling lane %u is not in the mask 0x%08x", where(t), op_name(op), file, line, lane, mask);
    if (width < 1 || width > 32 || (width & (width - 1)) != 0)
        die("%s: %s at %s:%d: width %d is not a power of two from 1 to 32", where(t), op_name(op), file, line, width);
    t.state = State::Warp;
    t.op = op;
    t.mask = mask;
    t.value = value;
    t.arg = arg;
    t.width = width;
    t.file = file;
    t.line = line;
    yield(t);
    return t.result;
}

cudaError_t run_launch(const char *name, const void *kernel, dim3 grid, dim3 block, void (*body)(void *), void *closure)
{
    const cudaError_t err = check_config(kernel, grid, block);
    if (err != cudaSuccess) return err;
    std::lock_guard<std::mutex> lock(g_device);
    if (g_running) die("kernel %s launched from inside a kernel (dynamic parallelism is not emulated)", name);
    g_running = true;
    const unsigned nthreads = block.x * block.y * block.z;
    reserve_stacks(nthreads);
    if (g_threads.size() < nthreads) g_threads.resize(nthreads);
    if (g_switch == Switch::Ucontext && g_contexts.size() < nthreads) g_contexts.resize(nthreads);
    g_launch.name = name;
    g_launch.body = body;
    g_launch.closure = closure;
    g_ctx.grid_dim = grid;
    g_ctx.block_dim = block;
    for (unsigned z = 0; z < grid.z; ++z)
        for (unsigned y = 0; y < grid.y; ++y)
            for (unsigned x = 0; x < grid.x; ++x) {
                g_ctx.block_idx = uint3{x, y, z};
                run_block(nthreads);
            }
    g_running = false;
    return cudaSuccess;
}

void run(const char *name, const void *kernel, dim3 grid, dim3 block, void (*body)(void *), void *closure)
{
    record(run_launch(name, kernel, grid, block, body, closure));
}

bool set_fiber_switch(const char *name)
{
    std::lock_guard<std::mutex> lock(g_device);
    if (strcmp(name, "ucontext") == 0) {
        g_switch = Switch::Ucontext;
        return true;
    }
#if defined(__x86_64__)
    if (strcmp(name, "asm") == 0) {
        g_switch = Switch::Asm;
        return true;
    }
#endif
    return false;
}

const char *fiber_switch() { return g_switch == Switch::Asm ? "asm" : "ucontext"; }

/* ------------------------------------------------------------------ device memory */

cudaError_t device_malloc(void **ptr, size_t bytes)
{
    if (ptr == nullptr) return cudaErrorInvalidValue;
    *ptr = nullptr;
    if (bytes == 0) return cudaSuccess;
    if (bytes > SIZE_MAX - 255) return cudaErrorMemoryAllocation;
    std::lock_guard<std::mutex> lock(g_device);
    const size_t rounded = round256(bytes);
    if (g_used > g_capacity || rounded > g_capacity - g_used) return cudaErrorMemoryAllocation;
    void *p = nullptr;
    if (posix_memalign(&p, 256, bytes) != 0 || p == nullptr) return cudaErrorMemoryAllocation;
    memset(p, 0xff, bytes); /* never-written device memory reads as NaN */
    g_allocations[reinterpret_cast<uintptr_t>(p)] = bytes;
    g_used += rounded;
    *ptr = p;
    return cudaSuccess;
}

cudaError_t device_free(void *ptr)
{
    if (ptr == nullptr) return cudaSuccess;
    std::lock_guard<std::mutex> lock(g_device);
    const auto it = g_allocations.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == g_allocations.end()) return cudaErrorInvalidValue;
    g_used -= round256(it->second);
    g_allocations.erase(it);
    free(ptr);
    return cudaSuccess;
}

void device_free_all()
{
    std::lock_guard<std::mutex> lock(g_device);
    for (const auto &a : g_allocations) free(reinterpret_cast<void *>(a.first));
    g_allocations.clear();
    g_used = 0;
}

bool device_range(const void *p, size_t bytes)
{
    if (p == nullptr) return false;
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    std::lock_guard<std::mutex> lock(g_device);
    auto it = g_allocations.upper_bound(a);
    if (it == g_allocations.begin()) return false;
    --it;
    return a - it->first <= it->second && bytes <= it->second - (a - it->first);
}

void device_memory_info(size_t *free_bytes, size_t *total_bytes)
{
    std::lock_guard<std::mutex> lock(g_device);
    *free_bytes = g_used < g_capacity ? g_capacity - g_used : 0;
    *total_bytes = g_capacity;
}

namespace {
std::atomic<int64_t> g_host_waits{0};
} // namespace

void host_wait() { ++g_host_waits; }

} // namespace tp_emu

/* The fiber's first frame: runs the kernel for the current thread, then hands back for good. */
extern "C" void tp_emu_fiber_main(void)
{
    using namespace tp_emu;
    Thread &t = static_cast<Thread &>(*g_ctx.thread);
#ifdef TP_EMU_ASAN
    asan_entered(nullptr, &g_sched_bottom, &g_sched_size);
#endif
    g_launch.body(g_launch.closure);
    t.state = State::Exited;
    yield(t);
    die("kernel %s: an exited thread was resumed", g_launch.name);
}

namespace {
/* TWOPHASE_EMU_FIBERS=asm|ucontext, read once when the library loads. */
struct FiberChoice {
    FiberChoice()
    {
        const char *v = getenv("TWOPHASE_EMU_FIBERS");
        if (v != nullptr && *v != '\0' && !tp_emu::set_fiber_switch(v))
            fprintf(stderr, "tp_emu: TWOPHASE_EMU_FIBERS=%s is not available here; using %s\n", v, tp_emu::fiber_switch());
    }
} g_fiber_choice;
} // namespace

/* ------------------------------------------------------------------ the runtime API */

using tp_emu::record;

const char *cudaGetErrorName(cudaError_t error)
{
    switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    default: return "cudaErrorUnknown";
    }
}

/* The CUDA runtime's own messages for the codes the emulator returns. */
const char *cudaGetErrorString(cudaError_t error)
{
    switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorNotSupported: return "operation not supported";
    default: return "unrecognized error code";
    }
}

cudaError_t cudaGetLastError(void)
{
    const cudaError_t e = tp_emu::t_last_error;
    tp_emu::t_last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError(void) { return tp_emu::t_last_error; }

cudaError_t cudaGetDeviceCount(int *count)
{
    if (count == nullptr) return record(cudaErrorInvalidValue);
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device)
{
    if (prop == nullptr) return record(cudaErrorInvalidValue);
    if (device != 0) return record(cudaErrorInvalidDevice);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "%s", tp_emu::kDeviceName);
    size_t free_bytes = 0;
    tp_emu::device_memory_info(&free_bytes, &prop->totalGlobalMem);
    prop->sharedMemPerBlock = tp_emu::kSharedMemPerBlock;
    prop->warpSize = 32;
    prop->maxThreadsPerBlock = (int)tp_emu::kMaxThreadsPerBlock;
    prop->maxThreadsDim[0] = (int)tp_emu::kMaxBlockX;
    prop->maxThreadsDim[1] = (int)tp_emu::kMaxBlockY;
    prop->maxThreadsDim[2] = (int)tp_emu::kMaxBlockZ;
    prop->maxGridSize[0] = (int)tp_emu::kMaxGridX;
    prop->maxGridSize[1] = (int)tp_emu::kMaxGridY;
    prop->maxGridSize[2] = (int)tp_emu::kMaxGridZ;
    prop->major = tp_emu::kMajor;
    prop->minor = tp_emu::kMinor;
    prop->multiProcessorCount = 1;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : record(cudaErrorInvalidDevice); }

cudaError_t cudaGetDevice(int *device)
{
    if (device == nullptr) return record(cudaErrorInvalidValue);
    *device = 0;
    return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int *version)
{
    if (version == nullptr) return record(cudaErrorInvalidValue);
    *version = tp_emu::kCudaVersion;
    return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int *version)
{
    if (version == nullptr) return record(cudaErrorInvalidValue);
    *version = tp_emu::kCudaVersion;
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    if (free_bytes == nullptr || total_bytes == nullptr) return record(cudaErrorInvalidValue);
    tp_emu::device_memory_info(free_bytes, total_bytes);
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **ptr, size_t bytes) { return record(tp_emu::device_malloc(ptr, bytes)); }

cudaError_t cudaFree(void *ptr)
{
    tp_emu::host_wait(); /* cudaFree waits for the device */
    return record(tp_emu::device_free(ptr));
}

namespace {
/* A copy in the order of the stream; the kinds as cudaMemcpy checks them. */
cudaError_t stream_copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind)
{
    if (bytes == 0) return cudaSuccess;
    if (dst == nullptr || src == nullptr) return record(cudaErrorInvalidValue);
    bool dst_dev = false, src_dev = false;
    switch (kind) {
    case cudaMemcpyHostToHost: break;
    case cudaMemcpyHostToDevice: dst_dev = true; break;
    case cudaMemcpyDeviceToHost: src_dev = true; break;
    case cudaMemcpyDeviceToDevice: dst_dev = src_dev = true; break;
    case cudaMemcpyDefault:
        dst_dev = tp_emu::device_range(dst, bytes);
        src_dev = tp_emu::device_range(src, bytes);
        break;
    default: return record(cudaErrorInvalidMemcpyDirection);
    }
    if ((dst_dev && !tp_emu::device_range(dst, bytes)) || (src_dev && !tp_emu::device_range(src, bytes)))
        return record(cudaErrorInvalidValue);
    memmove(dst, src, bytes);
    return cudaSuccess;
}
} // namespace

/* Synchronous: with a host side it waits for the queued work (device to device it does not). */
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind)
{
    if (kind != cudaMemcpyDeviceToDevice && bytes > 0) tp_emu::host_wait();
    return stream_copy(dst, src, bytes, kind);
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream)
{
    if (stream != nullptr) return record(cudaErrorInvalidResourceHandle); /* only the default stream exists */
    return stream_copy(dst, src, bytes, kind);
}

cudaError_t cudaMemset(void *ptr, int value, size_t bytes)
{
    if (bytes == 0) return cudaSuccess;
    if (!tp_emu::device_range(ptr, bytes)) return record(cudaErrorInvalidValue);
    memset(ptr, value, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *ptr, int value, size_t bytes, cudaStream_t stream)
{
    if (stream != nullptr) return record(cudaErrorInvalidResourceHandle);
    return cudaMemset(ptr, value, bytes);
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    if (stream != nullptr) return record(cudaErrorInvalidResourceHandle);
    tp_emu::host_wait();
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void)
{
    tp_emu::host_wait();
    return cudaSuccess;
}

/* ------------------------------------------------------------------ exported configuration */

extern "C" __attribute__((visibility("default"))) int tp_emu_set_device_memory(int64_t bytes)
{
    if (bytes < 0) return 1;
    std::lock_guard<std::mutex> lock(tp_emu::g_device);
    tp_emu::g_capacity = (size_t)bytes;
    return 0;
}

extern "C" __attribute__((visibility("default"))) int tp_emu_host_waits(int64_t *count)
{
    if (count == nullptr) return 1;
    *count = tp_emu::g_host_waits.load();
    return 0;
}

extern "C" __attribute__((visibility("default"))) int tp_emu_device_memory(int64_t *used, int64_t *capacity)
{
    if (used == nullptr || capacity == nullptr) return 1;
    std::lock_guard<std::mutex> lock(tp_emu::g_device);
    *used = (int64_t)tp_emu::g_used;
    *capacity = (int64_t)tp_emu::g_capacity;
    return 0;
}
