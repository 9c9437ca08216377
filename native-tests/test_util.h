/*
 * twophase native tests: a minimal check harness, a deterministic RNG and comparisons.
 * Header-only C++17; no dependencies.
 */
#ifndef TWOPHASE_TEST_UTIL_H
#define TWOPHASE_TEST_UTIL_H

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace tpt {

/* ctest: a test that prints SKIPPED and returns this code is reported as skipped
 * (SKIP_RETURN_CODE 77 on the test). */
constexpr int kSkip = 77;

inline int &failures()
{
    static int f = 0;
    return f;
}
inline int &checks()
{
    static int c = 0;
    return c;
}

#define TPT_CHECK(cond, ...)                                                                \
    do {                                                                                    \
        ++tpt::checks();                                                                    \
        if (!(cond)) {                                                                      \
            ++tpt::failures();                                                              \
            std::fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
            std::fprintf(stderr, __VA_ARGS__);                                              \
            std::fprintf(stderr, "\n");                                                     \
        }                                                                                   \
    } while (0)

/* Summary line and exit code for main(). */
inline int finish(const char *name)
{
    std::printf("%s: %d checks, %d failures\n", name, checks(), failures());
    return failures() == 0 ? 0 : 1;
}

/* splitmix64: deterministic, seedable, identical on every platform. */
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed) {}
    uint64_t next()
    {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    /* uniform in [0, 1) with 24 random bits */
    float uniform() { return (float)(next() >> 40) * (1.0f / 16777216.0f); }
    /* uniform in [lo, hi) */
    float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
    /* never exactly zero: sign * [0.001, 1) * scale */
    float nonzero(float scale = 1.0f)
    {
        const float mag = 0.001f + 0.999f * uniform();
        return (next() & 1) ? mag * scale : -mag * scale;
    }
    int64_t below(int64_t n) { return (int64_t)(next() % (uint64_t)n); }
};

inline std::vector<float> random_vector(Rng &rng, int64_t n, float scale = 1.0f)
{
    std::vector<float> v((size_t)n);
    for (auto &x : v) x = rng.nonzero(scale);
    return v;
}

inline std::vector<float> random_positive(Rng &rng, int64_t n, float scale = 1.0f)
{
    std::vector<float> v((size_t)n);
    for (auto &x : v) x = scale * (0.001f + rng.uniform());
    return v;
}

inline uint32_t bits(float x)
{
    uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}
inline uint64_t bits(double x)
{
    uint64_t u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}

/* |got - ref| <= abs_tol + rel_tol * |ref|; NaN never passes. */
inline bool close(double got, double ref, double abs_tol, double rel_tol)
{
    if (std::isnan(got) || std::isnan(ref)) return false;
    return std::fabs(got - ref) <= abs_tol + rel_tol * std::fabs(ref);
}

/* First index where got and ref differ beyond tolerance (or -1), and the count. */
struct Mismatch {
    int64_t first = -1;
    int64_t count = 0;
    double worst = 0.0; /* largest |got - ref| / (abs + rel*|ref|) */
};

inline Mismatch compare(const float *got, const float *ref, int64_t n, double abs_tol, double rel_tol)
{
    Mismatch m;
    for (int64_t i = 0; i < n; ++i) {
        const double g = got[i], r = ref[i];
        const double lim = abs_tol + rel_tol * std::fabs(r);
        const double ratio = std::isnan(g) || std::isnan(r) ? INFINITY : std::fabs(g - r) / lim;
        if (ratio > m.worst) m.worst = ratio;
        if (!(ratio <= 1.0)) {
            if (m.first < 0) m.first = i;
            ++m.count;
        }
    }
    return m;
}

/* Bitwise comparison: the elementwise kernels and their references evaluate the same
 * IEEE float operations in the same order, so they must agree to the bit. */
inline Mismatch compare_bits(const float *got, const float *ref, int64_t n)
{
    Mismatch m;
    for (int64_t i = 0; i < n; ++i) {
        if (bits(got[i]) != bits(ref[i])) {
            if (m.first < 0) m.first = i;
            ++m.count;
        }
    }
    return m;
}

} // namespace tpt

#endif /* TWOPHASE_TEST_UTIL_H */
