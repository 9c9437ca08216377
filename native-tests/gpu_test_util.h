/*
 * twophase native GPU tests: shared helpers (device arrays with guard zones, return-code
 * checks, bitwise reports). Header-only; needs libtwophase_cuda.so (the tp_* C ABI).
 */
#ifndef TWOPHASE_GPU_TEST_UTIL_H
#define TWOPHASE_GPU_TEST_UTIL_H

#include <cinttypes>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "test_util.h"
#include "twophase.h"

/* Check a tp_* return code; on failure report and leave the current test function. */
#define TP_OK(call)                                                                         \
    do {                                                                                    \
        const int rc_ = (call);                                                             \
        TPT_CHECK(rc_ == 0, "%s -> %d (%s)", #call, rc_, tp_error_string(rc_));             \
        if (rc_ != 0) return;                                                               \
    } while (0)

/* Command line of the GPU tests: [--quick] [--huge] [test name ...]. --quick drops the sizes above
 * 10^5 elements (the sanitizer build runs so); names select test functions (all by default). */
struct TestArgs {
    bool quick = false;
    bool huge = false;
    std::vector<const char *> only;
    bool wants(const char *name) const
    {
        if (only.empty()) return true;
        for (const char *o : only)
            if (std::strcmp(o, name) == 0) return true;
        return false;
    }
};

inline TestArgs &test_args()
{
    static TestArgs a;
    return a;
}

inline void parse_test_args(int argc, char **argv)
{
    TestArgs &a = test_args();
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0) a.quick = true;
        else if (std::strcmp(argv[i], "--huge") == 0) a.huge = true;
        else a.only.push_back(argv[i]);
    }
}

/* Runs the test function when the command line selects it. */
#define TP_RUN(fn)                                                                          \
    do {                                                                                    \
        if (test_args().wants(#fn)) fn();                                                   \
    } while (0)

/* Element counts: odd sizes, one element, several blocks with tails, the grid cap. */
inline std::vector<int64_t> test_sizes()
{
    std::vector<int64_t> v = {1, 4, 7, 4097};
    if (test_args().quick) {
        v.push_back(70001);
    } else {
        v.push_back(1000003);
        v.push_back(3 * TP_BLOCK * 4 * TP_MAX_GRID + 13);
    }
    return v;
}
static constexpr int64_t kGuard = 64;          /* floats of guard zone on each side   */
static constexpr uint32_t kGuardBits = 0x7f7f7f7fu; /* memset 0x7f: 3.39e38, a sentinel  */

/* A device float array with guard zones before and after, placed `off` floats past a
 * 256-byte boundary (off = 1 makes it misaligned for float4). */
class DeviceArray {
public:
    DeviceArray(int64_t n, int off) : n_(n), off_(off)
    {
        total_ = n + 2 * kGuard + 8;
        rc_ = tp_malloc(reinterpret_cast<void **>(&base_), total_ * (int64_t)sizeof(float));
        if (rc_ == 0) rc_ = tp_memset(base_, 0x7f, total_ * (int64_t)sizeof(float));
    }
    ~DeviceArray() { tp_free(base_); }
    DeviceArray(const DeviceArray &) = delete;
    DeviceArray &operator=(const DeviceArray &) = delete;

    int status() const { return rc_; }
    float *ptr() const { return base_ + kGuard + off_; }
    int64_t size() const { return n_; }
    int upload(const std::vector<float> &h) const
    {
        return tp_memcpy_htod(ptr(), h.data(), n_ * (int64_t)sizeof(float));
    }
    int download(std::vector<float> &h) const
    {
        h.resize((size_t)n_);
        return tp_memcpy_dtoh(h.data(), ptr(), n_ * (int64_t)sizeof(float));
    }
    /* NaN everywhere in the array (0xffffffff): an element the kernel does not write stays NaN */
    int poison() const { return tp_memset(ptr(), 0xff, n_ * (int64_t)sizeof(float)); }
    /* true when nothing outside [ptr, ptr + n) was written */
    bool guards_intact() const
    {
        std::vector<uint32_t> all((size_t)total_);
        if (tp_memcpy_dtoh(all.data(), base_, total_ * (int64_t)sizeof(float)) != 0) return false;
        for (int64_t i = 0; i < total_; ++i) {
            const bool inside = i >= kGuard + off_ && i < kGuard + off_ + n_;
            if (!inside && all[(size_t)i] != kGuardBits) return false;
        }
        return true;
    }

private:
    float *base_ = nullptr;
    int64_t n_, total_;
    int off_;
    int rc_ = 0;
};

inline void report_bits(const char *what, const tpt::Mismatch &m, const std::vector<float> &got,
                        const std::vector<float> &ref, int64_t n, int off)
{
    TPT_CHECK(m.count == 0, "%s n=%" PRId64 " off=%d: %" PRId64 " elements differ, first %" PRId64
              " got %.9g want %.9g", what, n, off, m.count, m.first,
              m.first >= 0 ? (double)got[(size_t)m.first] : 0.0, m.first >= 0 ? (double)ref[(size_t)m.first] : 0.0);
}

/* ULP distance between two floats of the same sign (large when the signs differ or NaN). */
inline int64_t ulp_distance(float a, float b)
{
    if (std::isnan(a) || std::isnan(b)) return (std::isnan(a) && std::isnan(b)) ? 0 : INT64_MAX;
    int32_t ia, ib;
    std::memcpy(&ia, &a, 4);
    std::memcpy(&ib, &b, 4);
    if (ia < 0) ia = (int32_t)(0x80000000u - (uint32_t)ia);
    if (ib < 0) ib = (int32_t)(0x80000000u - (uint32_t)ib);
    return ia > ib ? (int64_t)ia - ib : (int64_t)ib - ia;
}

/* Exits 77 (ctest skip) when there is no usable device; prints the device otherwise. */
inline void require_device_or_skip()
{
    int count = 0;
    const int rc = tp_device_count(&count);
    if (rc != 0 || count == 0) {
        std::printf("SKIPPED: no CUDA device (error %d: %s)\n", rc, rc != 0 ? tp_error_string(rc) : "no devices");
        std::exit(tpt::kSkip);
    }
    char name[256];
    int runtime = 0, driver = 0, abi = 0;
    TPT_CHECK(tp_device_name(0, name, sizeof name) == 0, "tp_device_name");
    tp_runtime_version(&runtime);
    tp_driver_version(&driver);
    tp_abi_version(&abi);
    std::printf("device 0: %s (runtime %d, driver %d, abi %d)\n", name, runtime, driver, abi);
}

#endif /* TWOPHASE_GPU_TEST_UTIL_H */
