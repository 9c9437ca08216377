/*
 * twophase native tests (GPU): the model ops (layers.cu) and the sgemm fallback (gemm.cu)
 * through the tp_* C ABI of libtwophase_cuda.so, against the CPU references.
 *
 * Without a usable device it prints "SKIPPED: ..." and exits 77 (ctest SKIP_RETURN_CODE).
 *
 * What is compared how:
 *   add_bias, relu/identity (forward and backward), tanh/sigmoid backward (float only),
 *   squared-error gradient                         bitwise
 *   tanh, sigmoid forward                          at most 1 float ulp, in at most 1 of 10^4
 *                                                  elements (the device's double tanh/exp may
 *                                                  differ from glibc's in the last bit, which
 *                                                  rarely decides a float rounding)
 *   gelu forward and backward                      against GELU's definition in long double
 *                                                  (reference.cpp) within the float error bound
 *                                                  of the kernel's formula (gelu_bound below),
 *                                                  over x in [-12, 12] including x < -5
 *   bias gradient, losses                          abs + rel tolerance (double sums in another
 *                                                  order), and bit-identical run to run
 *   cross-entropy loss, one lane's terms           bitwise (every double operation of the loss
 *                                                  separately rounded: no FMA contraction)
 *   cross-entropy gradient                         abs + rel (softmax - target cancels)
 *   sgemm                                          |err| <= (k + 2) * 2^-23 * sum |alpha a b| + |beta c|;
 *                                                  alpha = 0 reads neither A nor B
 *   im2col, col2im, max pool forward and backward,
 *   batched transpose                              bitwise (copies, comparisons, and col2im's and
 *                                                  the pool backward's sums in the reference's
 *                                                  order); every output element written, nothing
 *                                                  outside it
 *   batched matmul, attention softmax backward,    bitwise (the formulas of twophase.h)
 *   layer norm and its dx, token mean both ways
 *   attention softmax                              bitwise except where the device's double exp rounds
 *                                                  another way (4 ulps, at most 1 row in 10^3)
 *   layer norm dgamma/dbeta                        bitwise up to 256 rows, then the double-sum bound
 *   attention (the recipe of twophase.h)           against its definition in long double within
 *                                                  the float error bound of its operations
 *
 *   gather_rows, one_hot (training data)            bitwise (copies; NaN rows for invalid indices)
 *   count_correct                                  exact, and bit-identical run to run
 *
 *   test_gpu_layers [--quick] [test_add_bias ...]  shapes up to 10^5 elements only; only the named tests
 */
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "geometry.h"
#include "gpu_test_util.h"
#include "reference.h"
#include "test_util.h"
#include "twophase.h"

using tpt::Rng;

struct Shape {
    int64_t rows;
    int cols;
};

/* Odd shapes: one element, several blocks with tails, long rows, long columns. */
static std::vector<Shape> shapes()
{
    if (test_args().quick) return {{1, 1}, {7, 3}, {4097, 10}, {37, 1001}, {20011, 3}};
    return {{1, 1}, {7, 3}, {4097, 10}, {333, 1000}, {37, 4097}, {300007, 5}, {1000003, 1}};
}

/* ------------------------------------------------------------------ bias */

static void test_add_bias()
{
    Rng rng(700);
    for (const Shape &s : shapes()) {
        const int64_t n = s.rows * s.cols;
        std::vector<float> y = tpt::random_vector(rng, n), b = tpt::random_vector(rng, s.cols);
        DeviceArray dy(n, s.cols % 2), db(s.cols, 1);
        TP_OK(dy.status() | db.status());
        TP_OK(dy.upload(y)); TP_OK(db.upload(b));
        TP_OK(tp_add_bias(dy.ptr(), db.ptr(), s.rows, s.cols));
        ref_add_bias(y.data(), b.data(), s.rows, s.cols);
        std::vector<float> got;
        TP_OK(dy.download(got));
        report_bits("add_bias", tpt::compare_bits(got.data(), y.data(), n), got, y, n, s.cols);
        TPT_CHECK(dy.guards_intact() && db.guards_intact(), "add_bias guards %" PRId64 "x%d", s.rows, s.cols);
    }
}

static void test_bias_grad()
{
    Rng rng(701);
    std::vector<Shape> all = shapes();
    all.push_back({0, 7});                                                          /* rows = 0  */
    if (!test_args().quick) all.push_back({(int64_t)TP_BIAS_CHUNK_ROWS * TP_BIAS_MAX_CHUNKS + 1, 3}); /* past the chunk cap */
    for (const Shape &s : all) {
        const int64_t n = s.rows * s.cols;
        std::vector<float> dy = tpt::random_vector(rng, n), db = tpt::random_vector(rng, s.cols);
        if (s.rows == 0) db[0] = -0.0f;
        DeviceArray ddy(n > 0 ? n : 1, 0), ddb(s.cols, 3);
        TP_OK(ddy.status() | ddb.status());
        if (n > 0) TP_OK(ddy.upload(dy));
        TP_OK(ddb.upload(db));
        TP_OK(tp_bias_grad(ddy.ptr(), ddb.ptr(), s.rows, s.cols));
        std::vector<float> got, again;
        TP_OK(ddb.download(got));
        TP_OK(ddb.upload(db));
        TP_OK(tp_bias_grad(ddy.ptr(), ddb.ptr(), s.rows, s.cols));
        TP_OK(ddb.download(again));
        std::vector<float> abs_sum((size_t)s.cols, 0.0f);
        for (int64_t r = 0; r < s.rows; ++r)
            for (int c = 0; c < s.cols; ++c) abs_sum[(size_t)c] += std::fabs(dy[(size_t)(r * s.cols + c)]);
        ref_bias_grad(dy.data(), db.data(), s.rows, s.cols);
        int64_t bad = 0;
        for (int c = 0; c < s.cols; ++c)
            if (!tpt::close(got[(size_t)c], db[(size_t)c], 1e-12 * abs_sum[(size_t)c] + 1e-30, 1.2e-7)) ++bad;
        TPT_CHECK(bad == 0, "bias_grad %" PRId64 "x%d: %" PRId64 " columns off, first got %.9g want %.9g", s.rows, s.cols,
                  bad, (double)got[0], (double)db[0]);
        TPT_CHECK(tpt::compare_bits(got.data(), again.data(), s.cols).count == 0, "bias_grad not deterministic");
        if (s.rows == 0) TPT_CHECK(!std::signbit(got[0]), "rows = 0: -0 + 0 must give +0");
        TPT_CHECK(ddb.guards_intact(), "bias_grad guards");
    }
}

/* ------------------------------------------------------------------ activations */

static const char *act_name(int act)
{
    static const char *names[] = {"identity", "relu", "tanh", "sigmoid", "gelu"};
    return act >= 0 && act <= 4 ? names[act] : "?";
}

/*
 * The float error bound of the kernels' GELU (twophase.h) against its exact value, from the
 * operations of the formula, eps = 2^-24: u = C*(x + A*x*x*x) in float is within 6 eps of the
 * exact u (five roundings and the two rounded constants; no cancellation, both terms have x's
 * sign); s = sigma(2u) then carries 2|u|(1 - s) times that, plus its own rounding:
 * e_s = eps (1 + 12 |u| (1 - s)); y = x*s adds one rounding. For the backward
 * d = s + x*s*(1 - s)*2*du, (1 - s) inherits s's absolute error s*e_s (large relative to 1 - s
 * where s is near 1), du has four roundings, and d is bounded by the magnitudes of its terms
 * (it crosses zero near x = -0.75). Where s is subnormal (x < -10) it is quantized to 2^-149,
 * times the factors that multiply it. Both bounds are doubled for margin. The old tanh form,
 * 0.5*x*(1 + t), fails the forward bound for x < -3 and gives 0 below about x = -5.
 */
static bool gelu_close(bool backward, float x, float dy, float got, float want)
{
    if (std::isnan(got) || std::isnan(want)) return std::isnan(got) && std::isnan(want);
    RefGeluTerms t;
    ref_gelu_terms(x, &t);
    const double eps = std::ldexp(1.0, -24), tiny = std::ldexp(1.0, -149), ax = std::fabs((double)x);
    const double e_s = eps * (1.0 + 12.0 * std::fabs(t.u) * t.one_minus_phi);
    double bound;
    if (!backward) {
        bound = 2.0 * (e_s + eps) * ax * t.phi + (1.0 + ax) * tiny;
    } else {
        const double t2 = ax * 2.0 * t.phi * t.one_minus_phi * t.du;
        const double d = std::fabs(t.phi - (x < 0 ? t2 : -t2));
        const double bd = 2.0 * (e_s * t.phi + t2 * (e_s + 4.0 * eps) + ax * 2.0 * t.du * t.phi * t.phi * e_s + eps * d) +
                          (1.0 + ax * (1.0 + 2.0 * t.du)) * tiny;
        bound = std::fabs((double)dy) * bd + eps * std::fabs((double)want) + tiny;
    }
    return std::fabs((double)got - (double)want) <= bound;
}

static void check_activation(int act, const std::vector<float> &x, const std::vector<float> &dy, const std::vector<float> &y,
                             const std::vector<float> &g)
{
    const int64_t n = (int64_t)x.size();
    const bool gelu = act == TP_ACT_GELU, exact_fwd = act == TP_ACT_IDENTITY || act == TP_ACT_RELU;
    int64_t bad_fwd = 0, bad_bwd = 0, first_fwd = -1, first_bwd = -1, ulps = 0;
    for (int64_t i = 0; i < n; ++i) {
        const float xi = x[(size_t)i], ry = ref_activation(act, xi);
        const int64_t du = ulp_distance(y[(size_t)i], ry);
        ulps += du != 0;
        const bool ok_fwd = gelu ? gelu_close(false, xi, 0.0f, y[(size_t)i], ry)
                                 : exact_fwd ? tpt::bits(y[(size_t)i]) == tpt::bits(ry) : du <= 1;
        if (!ok_fwd) {
            if (first_fwd < 0) first_fwd = i;
            ++bad_fwd;
        }
        /* backward from the device's y (what a model does), against the reference on the same y */
        const float rg = ref_activation_backward(act, xi, y[(size_t)i], dy[(size_t)i]);
        const bool ok_bwd = gelu ? gelu_close(true, xi, dy[(size_t)i], g[(size_t)i], rg)
                                 : tpt::bits(g[(size_t)i]) == tpt::bits(rg);
        if (!ok_bwd) {
            if (first_bwd < 0) first_bwd = i;
            ++bad_bwd;
        }
    }
    TPT_CHECK(bad_fwd == 0, "%s forward n=%" PRId64 ": %" PRId64 " off, first x=%.9g got %.9g want %.9g", act_name(act), n,
              bad_fwd, first_fwd >= 0 ? (double)x[(size_t)first_fwd] : 0.0,
              first_fwd >= 0 ? (double)y[(size_t)first_fwd] : 0.0,
              first_fwd >= 0 ? (double)ref_activation(act, x[(size_t)first_fwd]) : 0.0);
    TPT_CHECK(bad_bwd == 0, "%s backward n=%" PRId64 ": %" PRId64 " off, first x=%.9g got %.9g want %.9g", act_name(act), n,
              bad_bwd, first_bwd >= 0 ? (double)x[(size_t)first_bwd] : 0.0,
              first_bwd >= 0 ? (double)g[(size_t)first_bwd] : 0.0,
              first_bwd >= 0 ? (double)ref_activation_backward(act, x[(size_t)first_bwd], y[(size_t)first_bwd],
                                                                dy[(size_t)first_bwd])
                             : 0.0);
    if (!gelu && !exact_fwd)
        TPT_CHECK(ulps <= n / 10000, "%s forward n=%" PRId64 ": %" PRId64 " elements differ from the reference (the same "
                  "formula: at most 1 in 10^4 may, by a last-bit libm difference)", act_name(act), n, ulps);
}

/* Runs act forward and backward on the device; returns y and dx. */
static void run_activation(int act, const std::vector<float> &x, const std::vector<float> &dy, std::vector<float> &y,
                           std::vector<float> &g)
{
    const int64_t n = (int64_t)x.size();
    DeviceArray dx(n, 0), dyv(n, 1), dout(n, 2), dgrad(n, 3);
    TP_OK(dx.status() | dyv.status() | dout.status() | dgrad.status());
    TP_OK(dx.upload(x)); TP_OK(dyv.upload(dy)); TP_OK(dout.poison()); TP_OK(dgrad.poison());
    TP_OK(tp_activation(act, dx.ptr(), dout.ptr(), n));
    TP_OK(dout.download(y));
    TP_OK(tp_activation_backward(act, dx.ptr(), dout.ptr(), dyv.ptr(), dgrad.ptr(), n));
    TP_OK(dgrad.download(g));
    TPT_CHECK(dout.guards_intact() && dgrad.guards_intact(), "%s guards", act_name(act));
}

static void test_activations()
{
    Rng rng(702);
    for (int64_t n : test_sizes()) {
        for (int act = TP_ACT_IDENTITY; act <= TP_ACT_GELU; ++act) {
            std::vector<float> x = tpt::random_vector(rng, n, 6.0f), dy = tpt::random_vector(rng, n), y, g;
            if (n > 4) { /* special values */
                x[0] = 0.0f; x[1] = -0.0f; x[2] = 40.0f; x[3] = -40.0f;
            }
            run_activation(act, x, dy, y, g);
            if (y.size() == (size_t)n && g.size() == (size_t)n) check_activation(act, x, dy, y, g);
        }
    }
    /* NaN through relu (Math.max semantics), in place (y aliases x), dx aliasing dy */
    const std::vector<float> x = {NAN, -1.0f, 2.0f, -0.0f};
    DeviceArray d(4, 0), g(4, 0);
    TP_OK(d.upload(x));
    TP_OK(g.upload({1.0f, 1.0f, 1.0f, 1.0f}));
    TP_OK(tp_activation_backward(TP_ACT_RELU, d.ptr(), d.ptr(), g.ptr(), g.ptr(), 4));
    TP_OK(tp_activation(TP_ACT_RELU, d.ptr(), d.ptr(), 4));
    std::vector<float> y, gy;
    TP_OK(d.download(y));
    TP_OK(g.download(gy));
    TPT_CHECK(std::isnan(y[0]) && y[1] == 0.0f && y[2] == 2.0f && y[3] == 0.0f && !std::signbit(y[3]),
              "relu in place: %g %g %g %g", y[0], y[1], y[2], y[3]);
    TPT_CHECK(gy[0] == 0.0f && gy[1] == 0.0f && gy[2] == 1.0f && gy[3] == 0.0f, "relu backward in place");
}

/* GELU over [-12, 12] in steps of 1/64 and at random points of [-12, -5]: where 1 + tanh u
 * cancels, the gate must still follow the definition (the tanh form gives 0 below about x = -5). */
static void test_gelu_tails()
{
    Rng rng(706);
    std::vector<float> x, dy;
    for (int i = -12 * 64; i <= 12 * 64; ++i) x.push_back((float)i / 64.0f);
    for (int i = 0; i < 4097; ++i) x.push_back(rng.uniform(-12.0f, -5.0f));
    for (size_t i = 0; i < x.size(); ++i) dy.push_back(rng.nonzero());
    std::vector<float> y, g;
    run_activation(TP_ACT_GELU, x, dy, y, g);
    if (y.size() == x.size() && g.size() == x.size()) check_activation(TP_ACT_GELU, x, dy, y, g);
    int nonzero = 0;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) nonzero += x[i] >= -10.0f && x[i] < -5.0f && y[i] != 0.0f;
    TPT_CHECK(nonzero > 3000, "gelu(x) for -10 <= x < -5 is tiny but not zero: %d nonzero", nonzero);
}

/* ------------------------------------------------------------------ losses */

static void test_squared_error()
{
    Rng rng(703);
    for (int64_t n : test_sizes()) {
        for (int with_grad = 0; with_grad < 2; ++with_grad) {
            std::vector<float> out = tpt::random_vector(rng, n), target = tpt::random_vector(rng, n), d((size_t)n);
            DeviceArray dout(n, 0), dt(n, 1), dg(n, 2);
            TP_OK(dout.status() | dt.status() | dg.status());
            TP_OK(dout.upload(out)); TP_OK(dt.upload(target)); TP_OK(dg.poison());
            const float scale = 1.0f / 3.0f;
            double loss = NAN, again = NAN;
            TP_OK(tp_squared_error(dout.ptr(), dt.ptr(), n, scale, with_grad ? dg.ptr() : nullptr, &loss));
            TP_OK(tp_squared_error(dout.ptr(), dt.ptr(), n, scale, nullptr, &again));
            const double ref = ref_squared_error(out.data(), target.data(), n, scale, d.data());
            TPT_CHECK(tpt::close(loss, ref, 1e-300, 1e-12), "squared error n=%" PRId64 ": %.17g want %.17g", n, loss, ref);
            TPT_CHECK(tpt::bits(loss) == tpt::bits(again), "squared error not deterministic");
            std::vector<float> got;
            TP_OK(dg.download(got));
            if (with_grad) {
                report_bits("squared error grad", tpt::compare_bits(got.data(), d.data(), n), got, d, n, 0);
            } else {
                bool untouched = true;
                for (float v : got) untouched = untouched && std::isnan(v);
                TPT_CHECK(untouched, "dout = NULL must not write a gradient");
            }
            TPT_CHECK(dg.guards_intact(), "squared error guards");
        }
    }
}

static void test_softmax_cross_entropy()
{
    Rng rng(704);
    const std::vector<Shape> all = test_args().quick
                                       ? std::vector<Shape>{{1, 1}, {7, 10}, {4097, 10}, {10, 1000}, {1, 40000}, {10007, 3}}
                                       : std::vector<Shape>{{1, 1}, {7, 10}, {4097, 10}, {100, 1000}, {3, 40000}, {100003, 3}};
    for (const Shape &s : all) {
        for (int soft = 0; soft < 2; ++soft) {
            const int64_t n = s.rows * s.cols;
            std::vector<float> logits = tpt::random_vector(rng, n, soft ? 50.0f : 4.0f), target((size_t)n, 0.0f);
            for (int64_t r = 0; r < s.rows; ++r) {
                if (soft) { /* probabilities */
                    float sum = 0.0f;
                    for (int c = 0; c < s.cols; ++c) sum += target[(size_t)(r * s.cols + c)] = rng.uniform();
                    for (int c = 0; c < s.cols; ++c) target[(size_t)(r * s.cols + c)] /= sum;
                } else {
                    target[(size_t)(r * s.cols + rng.below(s.cols))] = 1.0f;
                }
            }
            DeviceArray dl(n, 0), dt(n, 1), dg(n, soft ? 3 : 0);
            TP_OK(dl.status() | dt.status() | dg.status());
            TP_OK(dl.upload(logits)); TP_OK(dt.upload(target)); TP_OK(dg.poison());
            const float scale = 1.0f / (float)s.rows;
            double loss = NAN, again = NAN;
            TP_OK(tp_softmax_cross_entropy(dl.ptr(), dt.ptr(), s.rows, s.cols, scale, dg.ptr(), &loss));
            TP_OK(tp_softmax_cross_entropy(dl.ptr(), dt.ptr(), s.rows, s.cols, scale, nullptr, &again));
            std::vector<float> d((size_t)n);
            const double ref = ref_softmax_cross_entropy(logits.data(), target.data(), s.rows, s.cols, scale, d.data());
            TPT_CHECK(tpt::close(loss, ref, 1e-12 * (double)s.rows, 1e-11),
                      "cross-entropy %" PRId64 "x%d soft=%d: %.17g want %.17g", s.rows, s.cols, soft, loss, ref);
            TPT_CHECK(tpt::bits(loss) == tpt::bits(again), "cross-entropy not deterministic");
            std::vector<float> got;
            TP_OK(dg.download(got));
            const tpt::Mismatch m = tpt::compare(got.data(), d.data(), n, 1e-7 * scale, 1e-6);
            TPT_CHECK(m.count == 0, "cross-entropy grad %" PRId64 "x%d: %" PRId64 " off, first %" PRId64 " got %.9g want %.9g",
                      s.rows, s.cols, m.count, m.first, m.first >= 0 ? (double)got[(size_t)m.first] : 0.0,
                      m.first >= 0 ? (double)d[(size_t)m.first] : 0.0);
            TPT_CHECK(dg.guards_intact(), "cross-entropy guards");
        }
    }
    /* the gradient may overwrite the logits (dout aliases logits) */
    const std::vector<float> l = {1.0f, 2.0f, 3.0f, 0.5f, 0.5f, -1.0f}, t = {0, 0, 1, 1, 0, 0};
    std::vector<float> d(6);
    const double ref = ref_softmax_cross_entropy(l.data(), t.data(), 2, 3, 0.5f, d.data());
    DeviceArray dl(6, 0), dt(6, 0);
    TP_OK(dl.upload(l)); TP_OK(dt.upload(t));
    double loss = NAN;
    TP_OK(tp_softmax_cross_entropy(dl.ptr(), dt.ptr(), 2, 3, 0.5f, dl.ptr(), &loss));
    std::vector<float> got;
    TP_OK(dl.download(got));
    TPT_CHECK(tpt::close(loss, ref, 0, 1e-14) && tpt::compare(got.data(), d.data(), 6, 1e-7, 1e-6).count == 0,
              "cross-entropy in place: %.17g want %.17g", loss, ref);
}

/*
 * Every double operation of the loss is rounded separately on the device (no FMA contraction):
 * with equal logits every exp is exactly 1, so the row's log-sum, and L = logp of every column,
 * is the same in any summation order. A row whose only target is 1 at column c returns -L
 * exactly; a row whose two non-zero targets t1, t2 sit at columns c and c + 32 (one lane, in
 * that order) must return (0 - t1*L) - t2*L, each product and difference rounded, which a
 * contracted fma(-t2, L, -(t1*L)) misses for most t.
 */
static void test_softmax_loss_rounding()
{
    Rng rng(707);
    const int cols = 64;
    DeviceArray dl(cols, 0), dt(cols, 1);
    TP_OK(dl.status() | dt.status());
    int bad = 0, first = -1;
    double first_got = 0.0, first_want = 0.0;
    for (int trial = 0; trial < 64; ++trial) {
        const std::vector<float> l((size_t)cols, rng.uniform(-3.0f, 3.0f));
        std::vector<float> t((size_t)cols, 0.0f);
        const int c = (int)rng.below(32);
        t[(size_t)c] = 1.0f;
        TP_OK(dl.upload(l)); TP_OK(dt.upload(t));
        double one = NAN, two = NAN;
        TP_OK(tp_softmax_cross_entropy(dl.ptr(), dt.ptr(), 1, cols, 1.0f, nullptr, &one));
        const double L = -one;
        t[(size_t)c] = rng.uniform(0.01f, 1.0f);
        t[(size_t)c + 32] = rng.uniform(0.01f, 1.0f);
        TP_OK(dt.upload(t));
        TP_OK(tp_softmax_cross_entropy(dl.ptr(), dt.ptr(), 1, cols, 1.0f, nullptr, &two));
        const double want = (0.0 - (double)t[(size_t)c] * L) - (double)t[(size_t)c + 32] * L; /* -ffp-contract=off */
        if (tpt::bits(two) != tpt::bits(want)) {
            if (first < 0) {
                first = trial;
                first_got = two;
                first_want = want;
            }
            ++bad;
        }
    }
    TPT_CHECK(bad == 0, "cross-entropy loss of one lane's two terms: %d of 64 differ from the separately rounded value, "
              "first (trial %d) %.17g want %.17g", bad, first, first_got, first_want);
}

/* ------------------------------------------------------------------ sgemm fallback */

struct GemmCase {
    int m, n, k;
};

static void gemm_case(const GemmCase &g, int ta, int tb, float alpha, float beta, int pad, Rng &rng)
{
    const int a_rows = ta ? g.k : g.m, a_cols = ta ? g.m : g.k;
    const int b_rows = tb ? g.n : g.k, b_cols = tb ? g.k : g.n;
    const int lda = std::max(1, a_cols + pad), ldb = std::max(1, b_cols + pad), ldc = std::max(1, g.n + pad);
    const int64_t a_len = std::max<int64_t>(1, (int64_t)a_rows * lda), b_len = std::max<int64_t>(1, (int64_t)b_rows * ldb);
    const int64_t c_len = std::max<int64_t>(1, (int64_t)g.m * ldc);
    std::vector<float> a = tpt::random_vector(rng, a_len), b = tpt::random_vector(rng, b_len);
    std::vector<float> c = tpt::random_vector(rng, c_len);
    if (beta == 0.0f)
        for (float &v : c) v = NAN; /* beta = 0 must not read C */
    DeviceArray da(a_len, 0), db(b_len, 1), dc(c_len, 0);
    TP_OK(da.status() | db.status() | dc.status());
    TP_OK(da.upload(a)); TP_OK(db.upload(b)); TP_OK(dc.upload(c));
    TP_OK(tp_sgemm(ta, tb, g.m, g.n, g.k, alpha, da.ptr(), lda, db.ptr(), ldb, beta, dc.ptr(), ldc));
    std::vector<float> got;
    TP_OK(dc.download(got));
    std::vector<float> ref = c;
    ref_sgemm(ta, tb, g.m, g.n, g.k, alpha, a.data(), lda, b.data(), ldb, beta, ref.data(), ldc);
    int64_t bad = 0, first = -1;
    for (int i = 0; i < g.m; ++i) {
        for (int j = 0; j < g.n; ++j) {
            double bound = 0.0;
            for (int p = 0; p < g.k; ++p) {
                const float av = ta ? a[(size_t)((int64_t)p * lda + i)] : a[(size_t)((int64_t)i * lda + p)];
                const float bv = tb ? b[(size_t)((int64_t)j * ldb + p)] : b[(size_t)((int64_t)p * ldb + j)];
                bound += std::fabs((double)alpha * av * bv);
            }
            const size_t at = (size_t)((int64_t)i * ldc + j);
            if (beta != 0.0f) bound += std::fabs((double)beta * c[at]);
            const double tol = (g.k + 2) * 1.2e-7 * bound + 1e-30;
            if (!(std::fabs((double)got[at] - (double)ref[at]) <= tol)) {
                if (first < 0) first = (int64_t)at;
                ++bad;
            }
        }
    }
    TPT_CHECK(bad == 0, "sgemm %dx%dx%d ta=%d tb=%d alpha=%g beta=%g pad=%d: %" PRId64 " off, first %" PRId64
              " got %.9g want %.9g", g.m, g.n, g.k, ta, tb, alpha, beta, pad, bad, first,
              first >= 0 ? (double)got[(size_t)first] : 0.0, first >= 0 ? (double)ref[(size_t)first] : 0.0);
    /* padding columns of C are not written */
    bool pad_ok = true;
    for (int i = 0; i < g.m && pad > 0; ++i)
        for (int j = g.n; j < ldc; ++j) {
            const size_t at = (size_t)((int64_t)i * ldc + j);
            pad_ok = pad_ok && tpt::bits(got[at]) == tpt::bits(c[at]);
        }
    TPT_CHECK(pad_ok, "sgemm wrote into the padding of C");
    TPT_CHECK(dc.guards_intact(), "sgemm guards");
}

static void test_sgemm()
{
    Rng rng(705);
    std::vector<GemmCase> cases = {{1, 1, 1}, {7, 5, 3}, {64, 64, 16}, {65, 63, 17}, {128, 130, 33}, {3, 4, 0}};
    if (!test_args().quick) {
        cases.push_back({128, 256, 300});
        cases.push_back({1000, 10, 784});
        cases.push_back({10, 1000, 784});
    }
    for (const GemmCase &g : cases)
        for (int ta = 0; ta < 2; ++ta)
            for (int tb = 0; tb < 2; ++tb) {
                gemm_case(g, ta, tb, 1.0f, 0.0f, 0, rng);
                gemm_case(g, ta, tb, -0.5f, 0.75f, 3, rng);
            }
    /* more rows than the grid's y cap: the row loop must cover them */
    if (!test_args().quick) gemm_case({TP_GEMM_TILE * TP_GEMM_MAX_GRID_Y + 70, 3, 2}, 0, 0, 1.0f, 1.0f, 0, rng);
}

/* alpha = 0 reads neither A nor B (BLAS): C = beta * C even with NaN in A and B, and A, B may be NULL. */
static void test_sgemm_alpha_zero()
{
    Rng rng(708);
    const int m = 37, n = 70, k = 19;
    DeviceArray da((int64_t)m * k, 0), db((int64_t)k * n, 1), dc((int64_t)m * n, 0);
    TP_OK(da.status() | db.status() | dc.status());
    TP_OK(da.poison()); TP_OK(db.poison());
    for (float beta : {0.0f, 0.75f}) {
        for (int null_ab = 0; null_ab < 2; ++null_ab) {
            const std::vector<float> c = tpt::random_vector(rng, (int64_t)m * n);
            TP_OK(dc.upload(c));
            TP_OK(tp_sgemm(0, 0, m, n, k, 0.0f, null_ab ? nullptr : da.ptr(), k, null_ab ? nullptr : db.ptr(), n, beta,
                           dc.ptr(), n));
            std::vector<float> got, want(c.size());
            TP_OK(dc.download(got));
            for (size_t i = 0; i < c.size(); ++i) want[i] = beta == 0.0f ? 0.0f : beta * c[i];
            report_bits("sgemm alpha = 0", tpt::compare_bits(got.data(), want.data(), (int64_t)want.size()), got, want,
                        (int64_t)want.size(), null_ab);
        }
    }
}

/* ------------------------------------------------------------------ conv ops (conv.cu) */

static const char *conv_str(const RefConvShape &s)
{
    static char buf[128];
    std::snprintf(buf, sizeof buf, "b%d %dx%dx%d k%d s%d p%d", s.batch, s.height, s.width, s.channels, s.kernel, s.stride,
                  s.pad);
    return buf;
}

/* Odd shapes: stride 1 and 2 and past the kernel, padding 0, 1 and 2, one channel and more than a
 * warp, batch tails, several blocks, and (full run) past the elementwise grid cap. */
static std::vector<RefConvShape> conv_shapes()
{
    std::vector<RefConvShape> v = {
        {1, 1, 1, 1, 1, 1, 0},    /* one pixel */
        {3, 7, 5, 1, 3, 1, 1},    /* one channel, padding 1: VGG5's first convolution */
        {2, 9, 6, 3, 3, 2, 0},    /* stride 2: windows overlap by one */
        {3, 7, 7, 5, 2, 2, 1},    /* padded pooling */
        {2, 5, 4, 3, 2, 3, 2},    /* stride > kernel (pixels no window reads), windows of padding only */
        {5, 8, 6, 32, 2, 2, 0},   /* VGG5's pooling: a warp of channels */
        {2, 12, 12, 3, 4, 4, 0},  /* the ViT patch embedding */
        {3, 11, 13, 33, 3, 1, 1}, /* channels past a warp, several blocks with tails */
    };
    if (!test_args().quick) {
        v.push_back({9, 32, 32, 16, 3, 1, 1}); /* im2col of 1.3M elements: past the grid cap */
        v.push_back({7, 28, 28, 32, 2, 2, 0});
    }
    return v;
}

/* Bitwise equality of a conv op's output with its reference, naming the shape and the first difference. */
static void conv_bits(const char *what, const RefConvShape &s, int variant, const std::vector<float> &got,
                      const std::vector<float> &want)
{
    const tpt::Mismatch m = tpt::compare_bits(got.data(), want.data(), (int64_t)want.size());
    TPT_CHECK(got.size() == want.size() && m.count == 0,
              "%s %s (%d): %" PRId64 " of %zu elements differ, first %" PRId64 " got %.9g want %.9g", what, conv_str(s),
              variant, m.count, want.size(), m.first, m.first >= 0 ? (double)got[(size_t)m.first] : 0.0,
              m.first >= 0 ? (double)want[(size_t)m.first] : 0.0);
}

struct ConvSizes {
    int64_t in, out, patches;
};

static ConvSizes conv_sizes(const RefConvShape &s)
{
    const int64_t pixels = (int64_t)s.batch * ref_conv_out_height(&s) * ref_conv_out_width(&s);
    return {(int64_t)s.batch * s.height * s.width * s.channels, pixels * s.channels,
            pixels * s.kernel * s.kernel * s.channels};
}

static void test_im2col_col2im()
{
    Rng rng(720);
    for (const RefConvShape &s : conv_shapes()) {
        const ConvSizes n = conv_sizes(s);
        const std::vector<float> x = tpt::random_vector(rng, n.in), g = tpt::random_vector(rng, n.patches);
        std::vector<float> want_cols((size_t)n.patches), want_dx((size_t)n.in), got;
        ref_im2col(&s, x.data(), want_cols.data());
        ref_col2im(&s, g.data(), want_dx.data());
        DeviceArray dx(n.in, s.channels % 2), dcols(n.patches, 1), dg(n.patches, 0), dgrad(n.in, 3);
        TP_OK(dx.status() | dcols.status() | dg.status() | dgrad.status());
        TP_OK(dx.upload(x)); TP_OK(dg.upload(g)); TP_OK(dcols.poison()); TP_OK(dgrad.poison());
        TP_OK(tp_im2col(dx.ptr(), dcols.ptr(), s.batch, s.height, s.width, s.channels, s.kernel, s.stride, s.pad));
        TP_OK(dcols.download(got));
        conv_bits("im2col", s, 0, got, want_cols);
        TP_OK(tp_col2im(dg.ptr(), dgrad.ptr(), s.batch, s.height, s.width, s.channels, s.kernel, s.stride, s.pad));
        TP_OK(dgrad.download(got));
        conv_bits("col2im", s, 0, got, want_dx);
        TPT_CHECK(dcols.guards_intact() && dgrad.guards_intact(), "im2col/col2im guards %s", conv_str(s));
    }
}

/* Inputs drawn from a few values (ties in most windows: the first maximum takes the gradient),
 * signed zeros (Java's max puts +0 above -0), and a NaN and an infinity now and then. */
static std::vector<float> tie_values(Rng &rng, int64_t n)
{
    static const float pick[] = {-1.0f, -0.0f, 0.0f, 0.5f, 1.0f};
    std::vector<float> v((size_t)n);
    for (float &x : v) {
        const int64_t r = rng.below(200);
        x = r == 0 ? NAN : r == 1 ? -INFINITY : r == 2 ? INFINITY : pick[rng.below(5)];
    }
    return v;
}

static void test_max_pool()
{
    Rng rng(721);
    for (const RefConvShape &s : conv_shapes()) {
        const ConvSizes n = conv_sizes(s);
        for (int ties = 0; ties < 2; ++ties) {
            const std::vector<float> x = ties ? tie_values(rng, n.in) : tpt::random_vector(rng, n.in);
            const std::vector<float> dy = tpt::random_vector(rng, n.out);
            std::vector<float> want_y((size_t)n.out), want_dx((size_t)n.in), y, dx;
            ref_max_pool(&s, x.data(), want_y.data());
            ref_max_pool_backward(&s, x.data(), want_y.data(), dy.data(), want_dx.data());
            DeviceArray d_x(n.in, 1), d_y(n.out, 0), d_dy(n.out, 3), d_dx(n.in, s.channels % 2);
            TP_OK(d_x.status() | d_y.status() | d_dy.status() | d_dx.status());
            TP_OK(d_x.upload(x)); TP_OK(d_dy.upload(dy)); TP_OK(d_y.poison()); TP_OK(d_dx.poison());
            TP_OK(tp_max_pool(d_x.ptr(), d_y.ptr(), s.batch, s.height, s.width, s.channels, s.kernel, s.stride, s.pad));
            TP_OK(d_y.download(y));
            conv_bits("max pool (ties)", s, ties, y, want_y);
            TP_OK(d_y.upload(want_y));
            TP_OK(tp_max_pool_backward(d_x.ptr(), d_y.ptr(), d_dy.ptr(), d_dx.ptr(), s.batch, s.height, s.width, s.channels,
                                       s.kernel, s.stride, s.pad));
            TP_OK(d_dx.download(dx));
            conv_bits("max pool backward (ties)", s, ties, dx, want_dx);
            TPT_CHECK(d_y.guards_intact() && d_dx.guards_intact(), "max pool guards %s", conv_str(s));
        }
    }
}

static void test_batched_transpose()
{
    Rng rng(722);
    struct T {
        int batch, rows, cols;
    };
    std::vector<T> cases = {{1, 1, 1},   {3, 1, 784}, {3, 784, 1},  {2, 3, 1024}, {2, 1024, 3}, {5, 33, 65},
                            {1, 64, 32}, {2, 100, 37}, {4097, 2, 33} /* more tiles than the grid cap */};
    if (!test_args().quick) cases.push_back({1, 1030, 4100}); /* one matrix of more tiles than the cap */
    for (const T &t : cases) {
        const int64_t n = (int64_t)t.batch * t.rows * t.cols;
        const std::vector<float> x = tpt::random_vector(rng, n);
        std::vector<float> want((size_t)n), got;
        ref_batched_transpose(t.batch, t.rows, t.cols, x.data(), want.data());
        DeviceArray dx(n, t.rows % 2), dy(n, 1);
        TP_OK(dx.status() | dy.status());
        TP_OK(dx.upload(x)); TP_OK(dy.poison());
        TP_OK(tp_batched_transpose(dx.ptr(), dy.ptr(), t.batch, t.rows, t.cols));
        TP_OK(dy.download(got));
        report_bits("batched transpose", tpt::compare_bits(got.data(), want.data(), n), got, want, n, t.rows);
        TPT_CHECK(dy.guards_intact(), "transpose guards %dx%dx%d", t.batch, t.rows, t.cols);
    }
}

/* Shapes ConvShape refuses are refused; an empty transpose does nothing. */
static void test_conv_arguments()
{
    DeviceArray a(64, 0), b(64, 0);
    TP_OK(a.status() | b.status());
    TPT_CHECK(tp_im2col(a.ptr(), b.ptr(), 1, 2, 2, 1, 5, 1, 1) == TP_ERR_INVALID_VALUE, "window larger than the padded image");
    TPT_CHECK(tp_col2im(a.ptr(), b.ptr(), 1, 4, 4, 1, 3, 1, -1) == TP_ERR_INVALID_VALUE, "negative padding");
    TPT_CHECK(tp_max_pool(a.ptr(), b.ptr(), 0, 4, 4, 1, 2, 2, 0) == TP_ERR_INVALID_VALUE, "batch 0");
    TPT_CHECK(tp_max_pool(a.ptr(), b.ptr(), 1, 4, 4, 1, 2, 0, 0) == TP_ERR_INVALID_VALUE, "stride 0");
    TPT_CHECK(tp_max_pool_backward(a.ptr(), a.ptr(), nullptr, b.ptr(), 1, 4, 4, 1, 2, 2, 0) == TP_ERR_INVALID_VALUE, "dy NULL");
    TPT_CHECK(tp_im2col(a.ptr(), b.ptr(), 1, 65536, 65536, 1, 1, 1, 0) == TP_ERR_INVALID_VALUE, "an image of 2^32 pixels");
    TPT_CHECK(tp_im2col(a.ptr(), b.ptr(), 1, 4, 4, 1, 1, 1, 1 << 30) == TP_ERR_INVALID_VALUE, "padded side past INT_MAX");
    TPT_CHECK(tp_batched_transpose(a.ptr(), b.ptr(), -1, 2, 2) == TP_ERR_INVALID_VALUE, "negative batch");
    TP_OK(b.poison());
    TP_OK(tp_batched_transpose(nullptr, nullptr, 3, 0, 5));
    TP_OK(tp_batched_transpose(a.ptr(), b.ptr(), 0, 4, 5));
    std::vector<float> got;
    TP_OK(b.download(got));
    bool untouched = true;
    for (float v : got) untouched = untouched && std::isnan(v);
    TPT_CHECK(untouched, "an empty transpose writes nothing");
}

/* ------------------------------------------------------------------ attention, layer norm, token mean */

/* Bitwise, except that any NaN matches any NaN (a device writes the canonical NaN where x86
 * propagates an operand's sign and payload). */
static tpt::Mismatch compare_bits_or_nan(const float *got, const float *ref, int64_t n)
{
    tpt::Mismatch m;
    for (int64_t i = 0; i < n; ++i) {
        if (tpt::bits(got[i]) != tpt::bits(ref[i]) && !(std::isnan(got[i]) && std::isnan(ref[i]))) {
            if (m.first < 0) m.first = i;
            ++m.count;
        }
    }
    return m;
}

/* Matrices of the batched matmul with gaps between them and padded rows: strides and leading
 * dimensions as the attention never uses them, so a wrong stride or ld reads the wrong numbers. */
struct BmmCase {
    int m, n, k;
    int64_t outer;
    int inner;
};

static void batched_matmul_case(const BmmCase &g, int ta, int tb, float alpha, Rng &rng)
{
    const int a_rows = ta ? g.k : g.m, a_cols = ta ? g.m : g.k, b_rows = tb ? g.n : g.k, b_cols = tb ? g.k : g.n;
    const int lda = std::max(1, a_cols + 2), ldb = std::max(1, b_cols + 1), ldc = std::max(1, g.n + 3);
    const int64_t sai = (int64_t)a_rows * lda + 5, sbi = (int64_t)b_rows * ldb + 1, sci = (int64_t)g.m * ldc + 7;
    const int64_t sao = g.inner * sai + 3, sbo = g.inner * sbi + 2, sco = g.inner * sci + 1;
    const int64_t a_len = std::max<int64_t>(1, g.outer * sao), b_len = std::max<int64_t>(1, g.outer * sbo);
    const int64_t c_len = std::max<int64_t>(1, g.outer * sco);
    std::vector<float> a = tpt::random_vector(rng, a_len), b = tpt::random_vector(rng, b_len), c = tpt::random_vector(rng, c_len);
    DeviceArray da(a_len, 0), db(b_len, 1), dc(c_len, 2);
    TP_OK(da.status() | db.status() | dc.status());
    TP_OK(da.upload(a)); TP_OK(db.upload(b)); TP_OK(dc.upload(c));
    TP_OK(tp_batched_matmul(ta, tb, g.m, g.n, g.k, alpha, da.ptr(), lda, sao, sai, db.ptr(), ldb, sbo, sbi, dc.ptr(), ldc, sco,
                            sci, g.outer, g.inner));
    std::vector<float> got;
    TP_OK(dc.download(got));
    ref_batched_matmul(ta, tb, g.m, g.n, g.k, alpha, a.data(), lda, sao, sai, b.data(), ldb, sbo, sbi, c.data(), ldc, sco, sci,
                       g.outer, g.inner);
    const tpt::Mismatch mm = tpt::compare_bits(got.data(), c.data(), c_len); /* the gaps must be untouched too */
    TPT_CHECK(mm.count == 0, "batched matmul %dx%dx%d (%" PRId64 " x %d) ta=%d tb=%d alpha=%g: %" PRId64 " of %" PRId64
              " floats differ, first %" PRId64 " got %.9g want %.9g", g.m, g.n, g.k, g.outer, g.inner, ta, tb, alpha, mm.count,
              c_len, mm.first, mm.first >= 0 ? (double)got[(size_t)mm.first] : 0.0,
              mm.first >= 0 ? (double)c[(size_t)mm.first] : 0.0);
    TPT_CHECK(da.guards_intact() && db.guards_intact() && dc.guards_intact(), "batched matmul guards");
}

/* Bitwise against the float loop of its formula: tails of the 16 x 16 tiles and of k, both batch
 * levels, all four transposes, the attention's shapes (16 and 49 tokens, head dims 16 and 64). */
static void test_batched_matmul()
{
    Rng rng(710);
    std::vector<BmmCase> cases = {{1, 1, 1, 1, 1}, {7, 5, 3, 2, 3}, {16, 16, 16, 3, 4}, {37, 11, 37, 2, 3}, {20, 33, 49, 1, 2},
                                  {49, 64, 49, 2, 1}, {5, 4, 0, 2, 2}};
    const float scale = (float)(1.0 / std::sqrt(11.0));
    for (const BmmCase &g : cases)
        for (int ta = 0; ta < 2; ++ta)
            for (int tb = 0; tb < 2; ++tb) batched_matmul_case(g, ta, tb, (ta + tb) % 2 ? scale : 1.0f, rng);
    /* more (matrix, tile) items than the grid cap: the blocks must loop over them */
    if (!test_args().quick) batched_matmul_case({20, 20, 3, (TP_BMM_MAX_GRID + 3 * 4 - 1) / (3 * 4) + 7, 3}, 0, 1, 1.0f, rng);
}

/* Rows with the special values the softmax must handle as the CPU does: a large spread (exp of
 * the unshifted scores overflows a float), a -inf score, an all -inf row (NaN), a NaN. */
static std::vector<float> softmax_input(Rng &rng, int64_t rows, int cols)
{
    std::vector<float> s = tpt::random_vector(rng, rows * cols, 4.0f);
    if (rows >= 4) {
        for (int j = 0; j < cols; ++j) s[(size_t)(1 * cols + j)] = rng.uniform(-150.0f, 150.0f);
        s[(size_t)(2 * cols)] = -INFINITY;
        for (int j = 0; j < cols; ++j) s[(size_t)(3 * cols + j)] = -INFINITY;
        if (rows >= 5) s[(size_t)(4 * cols + cols / 2)] = NAN;
    }
    return s;
}

/* Bitwise, except rows where the device's double exp rounds another way than the C library's to
 * float (rare; not in emulation, where both are the C library's): those within 4 ulps, and at
 * most one row in 10^3 (the same convention as the transcendental activations). */
static void test_attention_softmax()
{
    Rng rng(711);
    struct S { int64_t rows; int cols; };
    std::vector<S> shapes = {{1, 1}, {7, 3}, {555, 37}, {100, 64}, {20, 300}};
    shapes.push_back({test_args().quick ? 9001 : (int64_t)TP_MAX_ROW_GRID * TP_ROWS_PER_BLOCK + 77, 5}); /* past the row grid cap */
    for (const S &s : shapes) {
        const int64_t n = s.rows * s.cols;
        std::vector<float> p = softmax_input(rng, s.rows, s.cols), dp = tpt::random_vector(rng, n);
        DeviceArray dprobs(n, 1), dgrad(n, 0);
        TP_OK(dprobs.status() | dgrad.status());
        TP_OK(dprobs.upload(p)); TP_OK(dgrad.upload(dp));
        TP_OK(tp_attention_softmax(dprobs.ptr(), s.rows, s.cols));
        std::vector<float> got;
        TP_OK(dprobs.download(got));
        ref_attention_softmax(p.data(), s.rows, s.cols);
        int64_t rows_off = 0, far = 0, first = -1;
        for (int64_t r = 0; r < s.rows; ++r) {
            bool row_off = false;
            for (int j = 0; j < s.cols; ++j) {
                const size_t at = (size_t)(r * s.cols + j);
                if (tpt::bits(got[at]) == tpt::bits(p[at]) || (std::isnan(got[at]) && std::isnan(p[at]))) continue;
                row_off = true;
                if (ulp_distance(got[at], p[at]) > 4) {
                    ++far;
                    if (first < 0) first = (int64_t)at;
                }
            }
            rows_off += row_off;
        }
        TPT_CHECK(far == 0 && rows_off <= s.rows / 1000, "attention softmax %" PRId64 "x%d: %" PRId64 " rows differ, %" PRId64
                  " elements by more than 4 ulps, first %" PRId64 " got %.9g want %.9g", s.rows, s.cols, rows_off, far, first,
                  first >= 0 ? (double)got[(size_t)first] : 0.0, first >= 0 ? (double)p[(size_t)first] : 0.0);
        TPT_CHECK(std::isnan(got[0]) == std::isnan(p[0]), "attention softmax NaN handling");

        /* backward from the device's probabilities: no transcendental, bitwise */
        const float scale = 0.3f;
        TP_OK(tp_attention_softmax_backward(dprobs.ptr(), dgrad.ptr(), s.rows, s.cols, scale));
        std::vector<float> gg;
        TP_OK(dgrad.download(gg));
        ref_attention_softmax_backward(got.data(), dp.data(), s.rows, s.cols, scale);
        report_bits("attention softmax backward", compare_bits_or_nan(gg.data(), dp.data(), n), gg, dp, n, s.cols);
        TPT_CHECK(dprobs.guards_intact() && dgrad.guards_intact(), "attention softmax guards");
    }
}

struct AttnShape {
    int batch, tokens, heads, head_dim;
};

/* Odd sizes: one token; tails of the 16 x 16 tiles; more than 32 tokens (two lanes per row); the
 * paper's shapes (16 tokens, 4 heads of 16, and one head of 64). */
static std::vector<AttnShape> attention_shapes()
{
    std::vector<AttnShape> v = {{1, 1, 1, 1}, {3, 7, 2, 5}, {2, 16, 4, 16}, {2, 37, 3, 11}};
    if (!test_args().quick) {
        v.push_back({3, 16, 1, 64});
        v.push_back({2, 49, 2, 17});
    }
    return v;
}

/*
 * Float error bounds of the attention's float evaluation against its exact value, u = 2^-24,
 * scale = 1/sqrt(E), from the operations of the recipe in twophase.h (first order, doubled):
 *   s_ij     the float dot of E products, times the rounded scale:  D_i = (E + 2) u max_j A_ij,
 *            A_ij = scale sum_e |q_ie k_je|
 *   p_ij     exp of fl(s_ij - mx) (which also rounds: u |s_ij - mx|), the double row sum, 1/z and the
 *            product rounded: |dp_ij| <= p_ij (4 D_i + 2 u R_i + 4 u), R_i = max_j |s_ij - mx_i|
 *   out_ie   a float sum of T products of perturbed p: |d| <= (that + (T + 1) u) sum_j p_ij |v_je|
 * and, given the float P the forward kept:
 *   dP_ij    E_dP = (E + 1) u sum_e |dOut_ie v_je|
 *   dot_i    E_dot = sum_j p_ij E_dP_ij + (T + 1) u sum_j p_ij |dP_ij|
 *   dS_ij    E_dS = scale p_ij (E_dP_ij + E_dot_i + 4 u |dP_ij - dot_i|)
 *   dq_ie    sum_j E_dS_ij |k_je| + (T + 1) u sum_j |dS_ij| |k_je|; dk likewise with q; dv (T + 1) u sum_i p_ij |dOut_ie|
 */
struct AttnBounds {
    std::vector<double> probs, out, dq, dk, dv;
};

static AttnBounds attention_bounds(const AttnShape &s, const std::vector<float> &q, const std::vector<float> &k,
                                   const std::vector<float> &v, const std::vector<double> &scores,
                                   const std::vector<double> &probs, const std::vector<float> &p_kept,
                                   const std::vector<float> &dout)
{
    const int T = s.tokens, E = s.head_dim, H = s.heads, d = H * E;
    const double u = std::ldexp(1.0, -24), scale = 1.0 / std::sqrt((double)E), tiny = 1e-30;
    const size_t qn = (size_t)s.batch * T * d, pn = (size_t)s.batch * H * T * T;
    AttnBounds bd{std::vector<double>(pn), std::vector<double>(qn), std::vector<double>(qn), std::vector<double>(qn),
                  std::vector<double>(qn)};
    auto tok = [&](int b, int t, int h) { return ((size_t)b * T + t) * d + (size_t)h * E; };
    auto prow = [&](int b, int h, int i) { return (((size_t)b * H + h) * T + i) * T; };
    std::vector<double> e_ds((size_t)T * T), ds((size_t)T * T);
    for (int b = 0; b < s.batch; ++b) {
        for (int h = 0; h < H; ++h) {
            for (int i = 0; i < T; ++i) {
                double amax = 0.0, mx = -INFINITY, spread = 0.0;
                for (int j = 0; j < T; ++j) {
                    double a = 0.0;
                    for (int e = 0; e < E; ++e) a += std::fabs((double)q[tok(b, i, h) + e] * k[tok(b, j, h) + e]);
                    amax = std::max(amax, a * scale);
                    mx = std::max(mx, scores[prow(b, h, i) + j]);
                }
                for (int j = 0; j < T; ++j) spread = std::max(spread, mx - scores[prow(b, h, i) + j]);
                const double rel = 4.0 * (E + 2) * u * amax + 2.0 * u * spread + 4.0 * u;
                for (int j = 0; j < T; ++j) bd.probs[prow(b, h, i) + j] = 2.0 * rel * probs[prow(b, h, i) + j] + 1e-44;
                for (int e = 0; e < E; ++e) {
                    double pv = 0.0;
                    for (int j = 0; j < T; ++j) pv += probs[prow(b, h, i) + j] * std::fabs((double)v[tok(b, j, h) + e]);
                    bd.out[tok(b, i, h) + e] = 2.0 * (rel + (T + 1) * u) * pv + tiny;
                }
                /* backward, from the kept probabilities */
                const float *p = p_kept.data() + prow(b, h, i);
                std::vector<double> dp((size_t)T), e_dp((size_t)T);
                double dot = 0.0, e_dot = 0.0;
                for (int j = 0; j < T; ++j) {
                    double sdp = 0.0, adp = 0.0;
                    for (int e = 0; e < E; ++e) {
                        sdp += (double)dout[tok(b, i, h) + e] * v[tok(b, j, h) + e];
                        adp += std::fabs((double)dout[tok(b, i, h) + e] * v[tok(b, j, h) + e]);
                    }
                    dp[(size_t)j] = sdp;
                    e_dp[(size_t)j] = (E + 1) * u * adp;
                    dot += sdp * p[j];
                    e_dot += p[j] * e_dp[(size_t)j] + (T + 1) * u * p[j] * std::fabs(sdp);
                }
                for (int j = 0; j < T; ++j) {
                    const double diff = std::fabs(dp[(size_t)j] - dot);
                    ds[(size_t)i * T + j] = scale * p[j] * diff;
                    e_ds[(size_t)i * T + j] = scale * p[j] * (e_dp[(size_t)j] + e_dot + 4.0 * u * diff);
                }
            }
            for (int t = 0; t < T; ++t) {
                for (int e = 0; e < E; ++e) {
                    double bq = 0.0, bk = 0.0, bv = 0.0;
                    for (int w = 0; w < T; ++w) {
                        const double kk = std::fabs((double)k[tok(b, w, h) + e]), qq = std::fabs((double)q[tok(b, w, h) + e]);
                        bq += e_ds[(size_t)t * T + w] * kk + (T + 1) * u * ds[(size_t)t * T + w] * kk;
                        bk += e_ds[(size_t)w * T + t] * qq + (T + 1) * u * ds[(size_t)w * T + t] * qq;
                        bv += (T + 1) * u * p_kept[prow(b, h, w) + t] * std::fabs((double)dout[tok(b, w, h) + e]);
                    }
                    bd.dq[tok(b, t, h) + e] = 2.0 * bq + tiny;
                    bd.dk[tok(b, t, h) + e] = 2.0 * bk + tiny;
                    bd.dv[tok(b, t, h) + e] = 2.0 * bv + tiny;
                }
            }
        }
    }
    return bd;
}

static void check_within(const char *what, const AttnShape &s, const std::vector<float> &got, const std::vector<double> &want,
                         const std::vector<double> &bound)
{
    int64_t bad = 0, first = -1;
    for (size_t i = 0; i < want.size(); ++i) {
        if (!(std::fabs((double)got[i] - want[i]) <= bound[i])) {
            if (first < 0) first = (int64_t)i;
            ++bad;
        }
    }
    TPT_CHECK(bad == 0, "attention %s (batch %d, %d tokens, %d heads of %d): %" PRId64 " of %zu outside the float bound, "
              "first %" PRId64 " got %.9g want %.9g bound %.3g", what, s.batch, s.tokens, s.heads, s.head_dim, bad, want.size(),
              first, first >= 0 ? (double)got[(size_t)first] : 0.0, first >= 0 ? want[(size_t)first] : 0.0,
              first >= 0 ? bound[(size_t)first] : 0.0);
}

/* The recipe of twophase.h on the device against attention's definition in long double, within
 * the float error bound above; once with scores spread over hundreds (exp of the unshifted scores
 * would overflow). */
static void test_attention()
{
    Rng rng(712);
    for (const AttnShape &s : attention_shapes()) {
        for (int spread = 0; spread < 2; ++spread) {
            const int T = s.tokens, E = s.head_dim, d = s.heads * E;
            const int64_t qn = (int64_t)s.batch * T * d, pn = (int64_t)s.batch * s.heads * T * T, rows = pn / T;
            const float mag = spread ? 6.0f : 1.0f, scale = (float)(1.0 / std::sqrt((double)E));
            std::vector<float> q = tpt::random_vector(rng, qn, mag), k = tpt::random_vector(rng, qn, mag),
                               v = tpt::random_vector(rng, qn), dout = tpt::random_vector(rng, qn);
            DeviceArray dq_in(qn, 0), dk_in(qn, 1), dv_in(qn, 2), dprobs(pn, 3), dout_dev(qn, 0), dgrad(qn, 1), g(pn, 2),
                dq(qn, 0), dk(qn, 1), dv(qn, 2);
            TP_OK(dq_in.status() | dk_in.status() | dv_in.status() | dprobs.status() | dout_dev.status() | dgrad.status() |
                  g.status() | dq.status() | dk.status() | dv.status());
            TP_OK(dq_in.upload(q)); TP_OK(dk_in.upload(k)); TP_OK(dv_in.upload(v)); TP_OK(dgrad.upload(dout));
            TP_OK(dprobs.poison()); TP_OK(dout_dev.poison()); TP_OK(g.poison());
            TP_OK(dq.poison()); TP_OK(dk.poison()); TP_OK(dv.poison());
            const int64_t st = (int64_t)T * d, sp = (int64_t)T * T;
            /* forward */
            TP_OK(tp_batched_matmul(0, 1, T, T, E, scale, dq_in.ptr(), d, st, E, dk_in.ptr(), d, st, E, dprobs.ptr(), T,
                                    s.heads * sp, sp, s.batch, s.heads));
            TP_OK(tp_attention_softmax(dprobs.ptr(), rows, T));
            TP_OK(tp_batched_matmul(0, 0, T, E, T, 1.0f, dprobs.ptr(), T, s.heads * sp, sp, dv_in.ptr(), d, st, E,
                                    dout_dev.ptr(), d, st, E, s.batch, s.heads));
            /* backward (dOut in dgrad) */
            TP_OK(tp_batched_matmul(0, 1, T, T, E, 1.0f, dgrad.ptr(), d, st, E, dv_in.ptr(), d, st, E, g.ptr(), T,
                                    s.heads * sp, sp, s.batch, s.heads));
            TP_OK(tp_attention_softmax_backward(dprobs.ptr(), g.ptr(), rows, T, scale));
            TP_OK(tp_batched_matmul(0, 0, T, E, T, 1.0f, g.ptr(), T, s.heads * sp, sp, dk_in.ptr(), d, st, E, dq.ptr(), d,
                                    st, E, s.batch, s.heads));
            TP_OK(tp_batched_matmul(1, 0, T, E, T, 1.0f, g.ptr(), T, s.heads * sp, sp, dq_in.ptr(), d, st, E, dk.ptr(), d,
                                    st, E, s.batch, s.heads));
            TP_OK(tp_batched_matmul(1, 0, T, E, T, 1.0f, dprobs.ptr(), T, s.heads * sp, sp, dgrad.ptr(), d, st, E, dv.ptr(),
                                    d, st, E, s.batch, s.heads));
            std::vector<float> probs, out, gq, gk, gv;
            TP_OK(dprobs.download(probs)); TP_OK(dout_dev.download(out));
            TP_OK(dq.download(gq)); TP_OK(dk.download(gk)); TP_OK(dv.download(gv));
            std::vector<double> scores((size_t)pn), p_exact((size_t)pn), o_exact((size_t)qn), q_exact((size_t)qn),
                k_exact((size_t)qn), v_exact((size_t)qn);
            ref_attention_exact(s.batch, T, s.heads, E, q.data(), k.data(), v.data(), scores.data(), p_exact.data(), o_exact.data());
            ref_attention_backward_exact(s.batch, T, s.heads, E, q.data(), k.data(), v.data(), probs.data(), dout.data(),
                                         q_exact.data(), k_exact.data(), v_exact.data());
            const AttnBounds bd = attention_bounds(s, q, k, v, scores, p_exact, probs, dout);
            check_within(spread ? "probs (spread)" : "probs", s, probs, p_exact, bd.probs);
            check_within(spread ? "out (spread)" : "out", s, out, o_exact, bd.out);
            check_within("dq", s, gq, q_exact, bd.dq);
            check_within("dk", s, gk, k_exact, bd.dk);
            check_within("dv", s, gv, v_exact, bd.dv);
            TPT_CHECK(dprobs.guards_intact() && dout_dev.guards_intact() && g.guards_intact() && dq.guards_intact() &&
                          dk.guards_intact() && dv.guards_intact(), "attention guards");
        }
    }
}

struct LnShape {
    int64_t rows;
    int dim;
};

static std::vector<LnShape> layer_norm_shapes()
{
    /* several row blocks, rows longer than a warp, one row chunk (256) and several (with a tail) */
    std::vector<LnShape> v = {{1, 1}, {7, 3}, {333, 64}, {256, 33}, {1000, 33}, {20, 1000}};
    v.push_back({test_args().quick ? 9001 : (int64_t)TP_MAX_ROW_GRID * TP_ROWS_PER_BLOCK + 77, 3}); /* past the row grid cap */
    if (!test_args().quick) v.push_back({(int64_t)TP_BIAS_CHUNK_ROWS * TP_BIAS_MAX_CHUNKS + 1, 2}); /* past the chunk cap */
    return v;
}

/* Forward and dx bitwise (the formula's double row sums in order); dgamma and dbeta bitwise up to
 * one row chunk, beyond it within what the chunked double sums can differ from the row-order sum:
 * 2 n 2^-53 sum |terms| before the float rounding, then an ulp of the float result and one of the
 * float accumulation. */
static void test_layer_norm()
{
    Rng rng(713);
    const float eps = 1e-5f;
    for (const LnShape &s : layer_norm_shapes()) {
        const int64_t n = s.rows * s.dim;
        std::vector<float> x = tpt::random_vector(rng, n, 3.0f), gamma = tpt::random_vector(rng, s.dim),
                           beta = tpt::random_vector(rng, s.dim), dy = tpt::random_vector(rng, n),
                           dgamma = tpt::random_vector(rng, s.dim), dbeta = tpt::random_vector(rng, s.dim);
        for (int64_t i = 0; i < n; i += 7) x[(size_t)i] += 100.0f; /* a mean far from 0: the two-pass variance matters */
        DeviceArray dx_in(n, 1), dgam(s.dim, 0), dbet(s.dim, 2), dy_dev(n, 3), dy_in(n, 0), ddx(n, 1), ddg(s.dim, 3), ddb(s.dim, 0);
        TP_OK(dx_in.status() | dgam.status() | dbet.status() | dy_dev.status() | dy_in.status() | ddx.status() |
              ddg.status() | ddb.status());
        TP_OK(dx_in.upload(x)); TP_OK(dgam.upload(gamma)); TP_OK(dbet.upload(beta)); TP_OK(dy_dev.poison());
        TP_OK(dy_in.upload(dy)); TP_OK(ddx.poison()); TP_OK(ddg.upload(dgamma)); TP_OK(ddb.upload(dbeta));
        TP_OK(tp_layer_norm(dx_in.ptr(), dgam.ptr(), dbet.ptr(), dy_dev.ptr(), s.rows, s.dim, eps));
        std::vector<float> y((size_t)n), got;
        ref_layer_norm(x.data(), gamma.data(), beta.data(), y.data(), s.rows, s.dim, eps);
        TP_OK(dy_dev.download(got));
        report_bits("layer norm", tpt::compare_bits(got.data(), y.data(), n), got, y, n, s.dim);

        TP_OK(tp_layer_norm_backward(dx_in.ptr(), dgam.ptr(), dy_in.ptr(), ddx.ptr(), ddg.ptr(), ddb.ptr(), s.rows, s.dim, eps));
        std::vector<float> dx((size_t)n), gdx, gdg, gdb, want_g = dgamma, want_b = dbeta;
        ref_layer_norm_backward(x.data(), gamma.data(), dy.data(), dx.data(), want_g.data(), want_b.data(), s.rows, s.dim, eps);
        TP_OK(ddx.download(gdx)); TP_OK(ddg.download(gdg)); TP_OK(ddb.download(gdb));
        report_bits("layer norm dx", tpt::compare_bits(gdx.data(), dx.data(), n), gdx, dx, n, s.dim);
        if (s.rows <= TP_BIAS_CHUNK_ROWS) {
            report_bits("layer norm dgamma", tpt::compare_bits(gdg.data(), want_g.data(), s.dim), gdg, want_g, s.dim, 0);
            report_bits("layer norm dbeta", tpt::compare_bits(gdb.data(), want_b.data(), s.dim), gdb, want_b, s.dim, 0);
        } else {
            /* sum |terms| per column: |dy * xhat| and |dy| (xhat from the reference's statistics) */
            std::vector<double> ag((size_t)s.dim, 0.0), ab((size_t)s.dim, 0.0);
            for (int64_t r = 0; r < s.rows; ++r) {
                double mean = 0.0, sq = 0.0;
                for (int i = 0; i < s.dim; ++i) mean += x[(size_t)(r * s.dim + i)];
                mean /= s.dim;
                for (int i = 0; i < s.dim; ++i) sq += ((double)x[(size_t)(r * s.dim + i)] - mean) * ((double)x[(size_t)(r * s.dim + i)] - mean);
                const double rstd = 1.0 / std::sqrt(sq / s.dim + eps);
                for (int i = 0; i < s.dim; ++i) {
                    const double t = dy[(size_t)(r * s.dim + i)];
                    ag[(size_t)i] += std::fabs(t * ((double)x[(size_t)(r * s.dim + i)] - mean) * rstd);
                    ab[(size_t)i] += std::fabs(t);
                }
            }
            int64_t bad = 0;
            const double two_n_u = 2.0 * (double)s.rows * std::ldexp(1.0, -53), f_ulp = std::ldexp(1.0, -23);
            for (int i = 0; i < s.dim; ++i) {
                bad += !(std::fabs((double)gdg[(size_t)i] - want_g[(size_t)i]) <=
                         two_n_u * ag[(size_t)i] + 2.0 * f_ulp * std::fabs((double)want_g[(size_t)i]) + 1e-40);
                bad += !(std::fabs((double)gdb[(size_t)i] - want_b[(size_t)i]) <=
                         two_n_u * ab[(size_t)i] + 2.0 * f_ulp * std::fabs((double)want_b[(size_t)i]) + 1e-40);
            }
            TPT_CHECK(bad == 0, "layer norm dgamma/dbeta %" PRId64 "x%d: %" PRId64 " columns outside the bound, first got %.9g "
                      "want %.9g", s.rows, s.dim, bad, (double)gdg[0], (double)want_g[0]);
        }
        TPT_CHECK(dy_dev.guards_intact() && ddx.guards_intact() && ddg.guards_intact() && ddb.guards_intact(),
                  "layer norm guards");
    }
    /* in place (y = x), and no rows: dgamma += 0 turns -0 into +0 as the Java loop does */
    std::vector<float> x = tpt::random_vector(rng, 5 * 7), gamma = tpt::random_vector(rng, 7), beta = tpt::random_vector(rng, 7);
    std::vector<float> y((size_t)35);
    ref_layer_norm(x.data(), gamma.data(), beta.data(), y.data(), 5, 7, 1e-5f);
    DeviceArray dx(35, 0), dg(7, 0), db(7, 0);
    TP_OK(dx.upload(x)); TP_OK(dg.upload(gamma)); TP_OK(db.upload(beta));
    TP_OK(tp_layer_norm(dx.ptr(), dg.ptr(), db.ptr(), dx.ptr(), 5, 7, 1e-5f));
    std::vector<float> got;
    TP_OK(dx.download(got));
    report_bits("layer norm in place", tpt::compare_bits(got.data(), y.data(), 35), got, y, 35, 0);
    TP_OK(dg.upload(std::vector<float>(7, -0.0f)));
    TP_OK(tp_layer_norm_backward(nullptr, nullptr, nullptr, nullptr, dg.ptr(), dg.ptr(), 0, 7, 1e-5f));
    TP_OK(dg.download(got));
    TPT_CHECK(got[0] == 0.0f && !std::signbit(got[0]), "layer norm backward of no rows: -0 + 0 must give +0");
}

/* Both directions bitwise: the formula's double sums over tokens in order, the float product. */
static void test_token_mean()
{
    Rng rng(714);
    struct S { int64_t batch; int tokens, dim; };
    std::vector<S> shapes = {{1, 1, 1}, {3, 7, 5}, {37, 16, 64}, {5, 49, 1001}, {0, 3, 4}};
    if (!test_args().quick) shapes.push_back({(int64_t)TP_BLOCK * 4 * TP_MAX_GRID / 3 + 5, 2, 3}); /* past the grid cap */
    for (const S &s : shapes) {
        const int64_t nx = s.batch * s.tokens * s.dim, ny = s.batch * s.dim;
        std::vector<float> x = tpt::random_vector(rng, std::max<int64_t>(nx, 1)), dy = tpt::random_vector(rng, std::max<int64_t>(ny, 1));
        DeviceArray dx_in(std::max<int64_t>(nx, 1), 1), dy_out(std::max<int64_t>(ny, 1), 0), dy_in(std::max<int64_t>(ny, 1), 2),
            dgrad(std::max<int64_t>(nx, 1), 3);
        TP_OK(dx_in.status() | dy_out.status() | dy_in.status() | dgrad.status());
        TP_OK(dx_in.upload(x)); TP_OK(dy_in.upload(dy)); TP_OK(dy_out.poison()); TP_OK(dgrad.poison());
        TP_OK(tp_token_mean(dx_in.ptr(), dy_out.ptr(), s.batch, s.tokens, s.dim));
        TP_OK(tp_token_mean_backward(dy_in.ptr(), dgrad.ptr(), s.batch, s.tokens, s.dim));
        std::vector<float> y((size_t)std::max<int64_t>(ny, 1), NAN), g((size_t)std::max<int64_t>(nx, 1), NAN), gy, gg;
        ref_token_mean(x.data(), y.data(), s.batch, s.tokens, s.dim);
        ref_token_mean_backward(dy.data(), g.data(), s.batch, s.tokens, s.dim);
        TP_OK(dy_out.download(gy)); TP_OK(dgrad.download(gg));
        if (s.batch == 0) { /* nothing written */
            TPT_CHECK(std::isnan(gy[0]) && std::isnan(gg[0]), "token mean of no samples wrote");
        } else {
            report_bits("token mean", tpt::compare_bits(gy.data(), y.data(), ny), gy, y, ny, s.tokens);
            report_bits("token mean backward", tpt::compare_bits(gg.data(), g.data(), nx), gg, g, nx, s.tokens);
        }
        TPT_CHECK(dy_out.guards_intact() && dgrad.guards_intact(), "token mean guards");
    }
}

/* ------------------------------------------------------------------ training data (data.cu) */

struct DataShape {
    int64_t src_rows; /* rows of the data set (gather), unused otherwise */
    int cols;
    int64_t rows;
};

/* Odd shapes: one row, tails, several blocks, one long row, many rows with repeats. */
static std::vector<DataShape> data_shapes()
{
    std::vector<DataShape> v = {{1, 1, 1}, {7, 3, 5}, {1001, 10, 4097}, {37, 1001, 13}, {5, 3, 20011}};
    if (!test_args().quick) v.push_back({100003, 5, 300007});
    return v;
}

/* Values that are not row numbers below `limit`: negative, the limit, fractions, 2^24, NaN, inf. */
static std::vector<float> invalid_rows(int64_t limit)
{
    return {-1.0f, (float)limit, 0.5f, (float)limit - 0.5f, 16777216.0f, NAN, INFINITY, -INFINITY};
}

static void test_gather_rows()
{
    Rng rng(720);
    for (const DataShape &s : data_shapes()) {
        const int64_t n = s.rows * s.cols;
        std::vector<float> src = tpt::random_vector(rng, s.src_rows * s.cols), idx((size_t)s.rows);
        for (auto &v : idx) v = (float)rng.below(s.src_rows);
        idx[0] = -0.0f; /* row 0 */
        const std::vector<float> bad = invalid_rows(s.src_rows);
        for (size_t k = 0; k < bad.size() && 2 * k + 1 < idx.size(); ++k) idx[2 * k + 1] = bad[k];
        DeviceArray dsrc(s.src_rows * s.cols, 1), didx(s.rows, 0), ddst(n, s.cols % 2);
        TP_OK(dsrc.status() | didx.status() | ddst.status());
        TP_OK(dsrc.upload(src)); TP_OK(didx.upload(idx));
        TP_OK(tp_gather_rows(dsrc.ptr(), s.src_rows, s.cols, didx.ptr(), s.rows, ddst.ptr()));
        std::vector<float> want((size_t)n), got;
        ref_gather_rows(src.data(), s.src_rows, s.cols, idx.data(), s.rows, want.data());
        TP_OK(ddst.download(got));
        report_bits("gather_rows", tpt::compare_bits(got.data(), want.data(), n), got, want, n, s.cols);
        TPT_CHECK(dsrc.guards_intact() && didx.guards_intact() && ddst.guards_intact(), "gather_rows guards %" PRId64 "x%d",
                  s.rows, s.cols);
    }
    TP_OK(tp_gather_rows(nullptr, 0, 3, nullptr, 0, nullptr)); /* no rows: nothing to do */
    TPT_CHECK(tp_gather_rows(nullptr, 1, 0, nullptr, 1, nullptr) == TP_ERR_INVALID_VALUE, "gather_rows with 0 columns");
}

static void test_one_hot()
{
    Rng rng(721);
    for (const DataShape &s : data_shapes()) {
        const int64_t n = s.rows * s.cols;
        std::vector<float> labels((size_t)s.rows);
        for (auto &v : labels) v = (float)rng.below(s.cols);
        const std::vector<float> bad = invalid_rows(s.cols);
        for (size_t k = 0; k < bad.size() && 2 * k + 1 < labels.size(); ++k) labels[2 * k + 1] = bad[k];
        DeviceArray dl(s.rows, 1), ddst(n, 0);
        TP_OK(dl.status() | ddst.status());
        TP_OK(dl.upload(labels));
        TP_OK(tp_one_hot(dl.ptr(), s.rows, s.cols, ddst.ptr()));
        std::vector<float> want((size_t)n), got;
        ref_one_hot(labels.data(), s.rows, s.cols, want.data());
        TP_OK(ddst.download(got));
        report_bits("one_hot", tpt::compare_bits(got.data(), want.data(), n), got, want, n, s.cols);
        TPT_CHECK(dl.guards_intact() && ddst.guards_intact(), "one_hot guards %" PRId64 "x%d", s.rows, s.cols);
    }
}

static void test_count_correct()
{
    Rng rng(722);
    for (const DataShape &s : data_shapes()) {
        const int64_t n = s.rows * s.cols;
        /* four levels per element: ties for the maximum are common, so "the first maximum" is tested */
        std::vector<float> out((size_t)n), labels((size_t)s.rows);
        for (auto &v : out) v = (float)rng.below(4) - 1.5f;
        for (auto &v : labels) v = (float)rng.below(s.cols);
        DeviceArray dout(n, 1), dl(s.rows, 0);
        TP_OK(dout.status() | dl.status());
        TP_OK(dout.upload(out)); TP_OK(dl.upload(labels));
        double got = -1, again = -1;
        TP_OK(tp_count_correct(dout.ptr(), dl.ptr(), s.rows, s.cols, &got));
        TP_OK(tp_count_correct(dout.ptr(), dl.ptr(), s.rows, s.cols, &again));
        const int64_t want = ref_count_correct(out.data(), labels.data(), s.rows, s.cols);
        TPT_CHECK(got == (double)want && again == got, "count_correct %" PRId64 "x%d: got %.17g (again %.17g), want %" PRId64,
                  s.rows, s.cols, got, again, want);
        /* a label that is no column makes the count NaN */
        if (s.cols > 1) {
            labels[(size_t)(s.rows - 1)] = (float)s.cols;
            TP_OK(dl.upload(labels));
            TP_OK(tp_count_correct(dout.ptr(), dl.ptr(), s.rows, s.cols, &got));
            TPT_CHECK(std::isnan(got), "count_correct with label %d of %d columns: %.17g, want NaN", s.cols, s.cols, got);
        }
        TPT_CHECK(dout.guards_intact() && dl.guards_intact(), "count_correct guards");
    }
    double none = -1;
    TP_OK(tp_count_correct(nullptr, nullptr, 0, 10, &none));
    TPT_CHECK(none == 0.0, "count_correct of no rows: %g", none);
}

/* ------------------------------------------------------------------ queued work (twophase.h: synchronization) */

/*
 * The library queues work and waits only where the host reads a value, so a long chain of
 * dependent ops must run in call order with no wait between them: 300 steps of axpy, copies
 * between buffers and memsets, each reading what the step before wrote, then one download,
 * bitwise against the same chain on the host. The host's source array is overwritten as soon as
 * tp_memcpy_htod returns (the copy must have read it by then), and a buffer that queued work uses
 * is freed and its memory allocated again (the free must wait for that work). On the emulator
 * every launch runs at once, so this checks the chain's logic; on a device it checks the order.
 */
static void test_queued_order()
{
    Rng rng(730);
    const int64_t n = test_args().quick ? 20011 : 1000003;
    std::vector<float> a = tpt::random_vector(rng, n), b = tpt::random_vector(rng, n);
    DeviceArray da(n, 0), db(n, 1), dc(n, 0);
    TP_OK(da.status() | db.status() | dc.status());
    TP_OK(da.upload(a));
    std::vector<float> sent = b;
    TP_OK(tp_memcpy_htod(db.ptr(), sent.data(), n * (int64_t)sizeof(float)));
    std::fill(sent.begin(), sent.end(), NAN); /* the device must already hold b */
    for (int step = 0; step < 300; ++step) {
        const float k = 0.5f + (float)(step % 7) / 16.0f;
        switch (step % 4) {
        case 0: /* a += k b */
            TP_OK(tp_axpy(k, db.ptr(), da.ptr(), n));
            ref_axpy(k, b.data(), a.data(), n);
            break;
        case 1: /* c = a, then b += -k c */
            TP_OK(tp_memcpy_dtod(dc.ptr(), da.ptr(), n * (int64_t)sizeof(float)));
            TP_OK(tp_axpy(-k, dc.ptr(), db.ptr(), n));
            ref_axpy(-k, a.data(), b.data(), n);
            break;
        case 2: /* c = 0, then a += k c (adds +0) */
            TP_OK(tp_memset(dc.ptr(), 0, n * (int64_t)sizeof(float)));
            TP_OK(tp_axpy(k, dc.ptr(), da.ptr(), n));
            for (auto &v : a) v = v + 0.0f;
            break;
        default: /* a freshly allocated buffer, freed with work queued on it */
        {
            float *tmp = nullptr;
            TP_OK(tp_malloc(reinterpret_cast<void **>(&tmp), n * (int64_t)sizeof(float)));
            TP_OK(tp_memcpy_dtod(tmp, db.ptr(), n * (int64_t)sizeof(float)));
            TP_OK(tp_axpy(k, tmp, da.ptr(), n));
            TP_OK(tp_free(tmp));
            ref_axpy(k, b.data(), a.data(), n);
        }
        }
    }
    std::vector<float> got_a, got_b;
    TP_OK(da.download(got_a));
    TP_OK(db.download(got_b));
    report_bits("queued chain (a)", tpt::compare_bits(got_a.data(), a.data(), n), got_a, a, n, 0);
    report_bits("queued chain (b)", tpt::compare_bits(got_b.data(), b.data(), n), got_b, b, n, 1);
    TPT_CHECK(da.guards_intact() && db.guards_intact() && dc.guards_intact(), "queued chain guards");
    TP_OK(tp_synchronize());
}

/* tp_transfer_bytes counts the copies with a host side and nothing else. */
static void test_transfer_bytes()
{
    const int64_t n = 4097;
    std::vector<float> x((size_t)n, 0.25f);
    DeviceArray dx(n, 0), dy(n, 0);
    TP_OK(dx.status() | dy.status());
    int64_t h0 = 0, d0 = 0, h1 = 0, d1 = 0;
    TP_OK(tp_transfer_bytes(&h0, &d0));
    TP_OK(dx.upload(x));
    TP_OK(tp_memcpy_dtod(dy.ptr(), dx.ptr(), n * (int64_t)sizeof(float)));
    TP_OK(tp_axpy(1.0f, dx.ptr(), dy.ptr(), n));
    double dot = 0;
    const float *ys[1] = {dy.ptr()};
    TP_OK(tp_multi_dot(dx.ptr(), ys, 1, n, &dot));
    std::vector<float> back;
    TP_OK(dy.download(back));
    TP_OK(tp_transfer_bytes(&h1, &d1));
    TPT_CHECK(h1 - h0 == n * 4, "host to device: %" PRId64 " bytes, want %" PRId64, h1 - h0, n * 4);
    TPT_CHECK(d1 - d0 == n * 4 + 8, "device to host: %" PRId64 " bytes, want %" PRId64 " (the download and one dot)", d1 - d0,
              n * 4 + 8);
    TPT_CHECK(dot == 0.125 * (double)n, "dot %.17g", dot);
}

int main(int argc, char **argv)
{
    parse_test_args(argc, argv);
    require_device_or_skip();
    TP_RUN(test_add_bias);
    TP_RUN(test_bias_grad);
    TP_RUN(test_activations);
    TP_RUN(test_gelu_tails);
    TP_RUN(test_squared_error);
    TP_RUN(test_softmax_cross_entropy);
    TP_RUN(test_softmax_loss_rounding);
    TP_RUN(test_sgemm);
    TP_RUN(test_sgemm_alpha_zero);
    TP_RUN(test_im2col_col2im);
    TP_RUN(test_max_pool);
    TP_RUN(test_batched_transpose);
    TP_RUN(test_conv_arguments);
    TP_RUN(test_batched_matmul);
    TP_RUN(test_attention_softmax);
    TP_RUN(test_attention);
    TP_RUN(test_layer_norm);
    TP_RUN(test_token_mean);
    TP_RUN(test_gather_rows);
    TP_RUN(test_one_hot);
    TP_RUN(test_count_correct);
    TP_RUN(test_queued_order);
    TP_RUN(test_transfer_bytes);
    return tpt::finish("test_gpu_layers");
}
