/*
 * twophase native tests (built with the CUDA library, runs with or without a GPU): the C
 * ABI of libtwophase_cuda.so behaves on any machine. Without a driver or device every call
 * that needs CUDA returns an error code with a message (never crashes or aborts), argument
 * errors are reported before CUDA is touched, and n = 0 calls are no-ops. This is what the
 * Java backend selection relies on to fall back to the CPU.
 */
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "geometry.h"
#include "test_util.h"
#include "twophase.h"

int main()
{
    int abi = -1;
    TPT_CHECK(tp_abi_version(&abi) == 0 && abi == TP_ABI_VERSION, "abi %d", abi);

    int count = -1;
    const int rc = tp_device_count(&count);
    std::printf("tp_device_count -> %d (%s), count %d\n", rc, tp_error_string(rc), count);
    TPT_CHECK(rc != 0 ? count == 0 : count >= 0, "count %d with code %d", count, rc);
    TPT_CHECK(tp_error_string(rc) != nullptr && std::strlen(tp_error_string(rc)) > 0, "empty error string");
    TPT_CHECK(tp_error_string(35) != nullptr && tp_error_string(100) != nullptr && tp_error_string(123456) != nullptr,
              "error strings of known and unknown codes");

    int runtime = -1, driver = -1;
    TPT_CHECK(tp_runtime_version(&runtime) == 0 && runtime >= 12000, "runtime version %d", runtime);
    const int drc = tp_driver_version(&driver);
    std::printf("runtime %d, driver %d (code %d)\n", runtime, driver, drc);
    TPT_CHECK(drc == 0 || driver == 0, "driver version %d with code %d", driver, drc);

    /* argument errors never reach CUDA */
    TPT_CHECK(tp_device_count(nullptr) == TP_ERR_INVALID_VALUE, "NULL count");
    TPT_CHECK(tp_malloc(nullptr, 16) == TP_ERR_INVALID_VALUE, "NULL ptr");
    void *p = reinterpret_cast<void *>(0x1);
    TPT_CHECK(tp_malloc(&p, -1) == TP_ERR_INVALID_VALUE, "negative bytes");
    TPT_CHECK(tp_malloc(&p, 0) == 0 && p == nullptr, "zero bytes gives NULL");
    TPT_CHECK(tp_free(nullptr) == 0, "free(NULL)");
    const float *ys[1] = {nullptr};
    double out[1] = {-1.0};
    TPT_CHECK(tp_multi_dot(nullptr, ys, TP_MAX_DOTS + 1, 10, out) == TP_ERR_INVALID_VALUE, "k too large");
    TPT_CHECK(tp_multi_dot(nullptr, ys, 1, 0, out) == 0 && out[0] == 0.0, "n = 0 multi-dot");
    const int64_t adam_off[] = {0, 0}, adam_bad[] = {0, 4};
    const float adam_row[TP_ADAM_SCALARS] = {0.9f, 0.1f, 0.999f, 0.001f, 1, 1, 1e-8f, 0, 1, 1};
    TPT_CHECK(tp_adam_step(nullptr, nullptr, nullptr, nullptr, nullptr, 0, adam_off, adam_row, 1, nullptr) == 0,
              "n = 0 adam");
    TPT_CHECK(tp_adam_step(nullptr, nullptr, nullptr, nullptr, nullptr, 0, adam_bad, adam_row, 1, nullptr) ==
                  TP_ERR_INVALID_VALUE, "adam segment table not ending at n");
    TPT_CHECK(tp_cg_direction(nullptr, nullptr, nullptr, 0, 0.f) == 0, "n = 0 direction");
    TPT_CHECK(tp_trial_point(nullptr, nullptr, nullptr, 0, 0.f) == 0, "n = 0 trial point");
    TPT_CHECK(tp_memcpy_htod(nullptr, nullptr, 0) == 0 && tp_memset(nullptr, 0, 0) == 0, "zero-byte copies");
    TPT_CHECK(tp_axpy(1.0f, nullptr, nullptr, 0) == 0, "n = 0 axpy");
    /* model ops: argument errors and empty work never reach CUDA */
    double loss = -1.0;
    TPT_CHECK(tp_add_bias(nullptr, nullptr, 0, 3) == 0, "rows = 0 add_bias");
    TPT_CHECK(tp_add_bias(nullptr, nullptr, 2, 0) == TP_ERR_INVALID_VALUE, "cols = 0 add_bias");
    TPT_CHECK(tp_add_bias(nullptr, nullptr, -1, 3) == TP_ERR_INVALID_VALUE, "rows < 0 add_bias");
    TPT_CHECK(tp_bias_grad(nullptr, nullptr, 2, 3) == TP_ERR_INVALID_VALUE, "NULL bias_grad");
    TPT_CHECK(tp_activation(TP_ACT_GELU, nullptr, nullptr, 0) == 0, "n = 0 activation");
    TPT_CHECK(tp_activation(99, nullptr, nullptr, 0) == TP_ERR_INVALID_VALUE, "unknown activation");
    TPT_CHECK(tp_activation_backward(-1, nullptr, nullptr, nullptr, nullptr, 0) == TP_ERR_INVALID_VALUE,
              "unknown activation backward");
    TPT_CHECK(tp_squared_error(nullptr, nullptr, 0, 1.0f, nullptr, &loss) == 0 && loss == 0.0, "n = 0 squared error");
    loss = -1.0;
    TPT_CHECK(tp_softmax_cross_entropy(nullptr, nullptr, 0, 10, 1.0f, nullptr, &loss) == 0 && loss == 0.0,
              "rows = 0 cross-entropy");
    TPT_CHECK(tp_softmax_cross_entropy(nullptr, nullptr, 1, 0, 1.0f, nullptr, &loss) == TP_ERR_INVALID_VALUE,
              "cols = 0 cross-entropy");
    TPT_CHECK(tp_softmax_cross_entropy(nullptr, nullptr, (int64_t)1 << 40, 1, 1.0f, nullptr, &loss) ==
                  TP_ERR_INVALID_VALUE, "more rows than an int");
    TPT_CHECK(tp_sgemm(0, 0, 0, 5, 5, 1.0f, nullptr, 5, nullptr, 5, 0.0f, nullptr, 5) == 0, "m = 0 sgemm");
    TPT_CHECK(tp_sgemm(0, 0, 2, 5, 5, 1.0f, nullptr, 4, nullptr, 5, 0.0f, nullptr, 5) == TP_ERR_INVALID_VALUE,
              "lda < k");
    TPT_CHECK(tp_sgemm(1, 0, 2, 5, 5, 1.0f, nullptr, 1, nullptr, 5, 0.0f, nullptr, 5) == TP_ERR_INVALID_VALUE,
              "transposed lda < m");
    TPT_CHECK(tp_sgemm(0, 0, 2, 5, 5, 1.0f, nullptr, 5, nullptr, 5, 0.0f, nullptr, 4) == TP_ERR_INVALID_VALUE,
              "ldc < n");
    int flag = 0;
    const int64_t bad[] = {0, 5, 3};
    double sums[3];
    TPT_CHECK(tp_segmented_norms(nullptr, bad, 2, sums, nullptr, &flag, nullptr) == TP_ERR_INVALID_VALUE, "bad offsets");

    if (rc != 0) {
        /* no device: CUDA calls fail with a code, repeatedly, without crashing */
        for (int i = 0; i < 2; ++i) {
            void *d = nullptr;
            const int mrc = tp_malloc(&d, 1024);
            TPT_CHECK(mrc != 0 && d == nullptr, "malloc without a device -> %d", mrc);
            TPT_CHECK(tp_synchronize() != 0, "synchronize without a device");
            char name[64] = "x";
            TPT_CHECK(tp_device_name(0, name, sizeof name) != 0 && name[0] == '\0', "device name without a device");
            int64_t f = -1, t = -1;
            TPT_CHECK(tp_mem_get_info(&f, &t) != 0 && f == 0 && t == 0, "mem info without a device");
            const int64_t off[] = {0, 4};
            float maxima[2];
            TPT_CHECK(tp_segmented_norms(reinterpret_cast<const float *>(16), off, 1, sums, maxima, &flag, nullptr) != 0,
                      "norms without a device");
            TPT_CHECK(tp_release_scratch() == 0, "release with nothing allocated");
        }
        std::printf("no CUDA device: checked the error paths only\n");
    } else {
        void *d = nullptr;
        TPT_CHECK(tp_malloc(&d, 1024) == 0 && d != nullptr, "malloc 1 KiB");
        TPT_CHECK(tp_memset(d, 0, 1024) == 0 && tp_synchronize() == 0 && tp_free(d) == 0, "memset/free");
        int64_t f = 0, t = 0;
        TPT_CHECK(tp_mem_get_info(&f, &t) == 0 && t > 0 && f <= t, "mem info");
    }
    return tpt::finish("test_abi");
}
