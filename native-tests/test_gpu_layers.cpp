/*
 * twophase native tests (GPU): the model ops (layers.cu) and the sgemm fallback (gemm.cu)
 * through the tp_* C ABI of libtwophase_cuda.so, against the CPU references.
 *
 * Without a usable device it prints "SKIPPED: ..." and exits 77 (ctest SKIP_RETURN_CODE).
 *
 * What is compared how:
 *   add_bias, relu/identity (forward and backward), tanh/sigmoid backward (float only),
 *   squared-error gradient                         bitwise
 *   tanh, sigmoid, gelu forward, gelu backward      at most 1 float ulp (double tanh/exp of the
 *                                                  device vs glibc may differ in the last
 *                                                  double bit, which can flip a float rounding)
 *   bias gradient, losses                          abs + rel tolerance (double sums in another
 *                                                  order), and bit-identical run to run
 *   cross-entropy gradient                         abs + rel (softmax - target cancels)
 *   sgemm                                          |err| <= (k + 2) * 2^-23 * sum |alpha a b| + |beta c|
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

static const Shape kShapes[] = {{1, 1}, {7, 3}, {4097, 10}, {333, 1000}, {37, 4097}, {300007, 5}, {1000003, 1}};

/* ------------------------------------------------------------------ bias */

static void test_add_bias()
{
    Rng rng(700);
    for (const Shape &s : kShapes) {
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
    std::vector<Shape> shapes(std::begin(kShapes), std::end(kShapes));
    shapes.push_back({0, 7});                                                      /* rows = 0  */
    shapes.push_back({(int64_t)TP_BIAS_CHUNK_ROWS * TP_BIAS_MAX_CHUNKS + 1, 3});    /* past the chunk cap */
    for (const Shape &s : shapes) {
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
 * Whether a device result of a transcendental activation is acceptable: within one float
 * ulp of the reference, or within what one float ulp of t = tanh(u) (or of the sigmoid)
 * can change downstream, where 1 + t or 1 - t*t cancel (gelu for large |x|).
 */
static bool act_close(int act, bool backward, float x, float dy, float got, float want)
{
    if (ulp_distance(got, want) <= 1) return true;
    if (act != TP_ACT_GELU) return false;
    const double ax = std::fabs((double)x), dt = 1.2e-7; /* one ulp of t near 1 */
    const double bound = backward ? std::fabs((double)dy) * dt * (1.0 + ax * (1.0 + 0.14 * ax * ax)) : 0.5 * ax * dt;
    return std::fabs((double)got - (double)want) <= 2.0 * bound;
}

static void test_activations()
{
    Rng rng(702);
    for (int64_t n : kSizes) {
        for (int act = TP_ACT_IDENTITY; act <= TP_ACT_GELU; ++act) {
            std::vector<float> x = tpt::random_vector(rng, n, 6.0f), dy = tpt::random_vector(rng, n);
            if (n > 4) { /* special values */
                x[0] = 0.0f; x[1] = -0.0f; x[2] = 40.0f; x[3] = -40.0f;
            }
            DeviceArray dx(n, 0), dyv(n, 1), dout(n, 2), dgrad(n, 3);
            TP_OK(dx.status() | dyv.status() | dout.status() | dgrad.status());
            TP_OK(dx.upload(x)); TP_OK(dyv.upload(dy)); TP_OK(dout.poison()); TP_OK(dgrad.poison());
            TP_OK(tp_activation(act, dx.ptr(), dout.ptr(), n));
            std::vector<float> y;
            TP_OK(dout.download(y));
            /* backward from the device's y (what a model does), against the reference on the same y */
            TP_OK(tp_activation_backward(act, dx.ptr(), dout.ptr(), dyv.ptr(), dgrad.ptr(), n));
            std::vector<float> g;
            TP_OK(dgrad.download(g));
            const bool exact_fwd = act == TP_ACT_IDENTITY || act == TP_ACT_RELU;
            const bool exact_bwd = act != TP_ACT_GELU;
            int64_t bad_fwd = 0, bad_bwd = 0, first_fwd = -1, first_bwd = -1, ulps = 0;
            for (int64_t i = 0; i < n; ++i) {
                const float ry = ref_activation(act, x[(size_t)i]);
                const int64_t du = ulp_distance(y[(size_t)i], ry);
                ulps += du != 0;
                if (exact_fwd ? tpt::bits(y[(size_t)i]) != tpt::bits(ry)
                              : !act_close(act, false, x[(size_t)i], 0.0f, y[(size_t)i], ry)) {
                    if (first_fwd < 0) first_fwd = i;
                    ++bad_fwd;
                }
                const float rg = ref_activation_backward(act, x[(size_t)i], y[(size_t)i], dy[(size_t)i]);
                if (exact_bwd ? tpt::bits(g[(size_t)i]) != tpt::bits(rg)
                              : !act_close(act, true, x[(size_t)i], dy[(size_t)i], g[(size_t)i], rg)) {
                    if (first_bwd < 0) first_bwd = i;
                    ++bad_bwd;
                }
            }
            TPT_CHECK(bad_fwd == 0, "%s forward n=%" PRId64 ": %" PRId64 " off, first x=%.9g got %.9g want %.9g",
                      act_name(act), n, bad_fwd, first_fwd >= 0 ? (double)x[(size_t)first_fwd] : 0.0,
                      first_fwd >= 0 ? (double)y[(size_t)first_fwd] : 0.0,
                      first_fwd >= 0 ? (double)ref_activation(act, x[(size_t)first_fwd]) : 0.0);
            TPT_CHECK(bad_bwd == 0, "%s backward n=%" PRId64 ": %" PRId64 " off (first at %" PRId64 ")", act_name(act),
                      n, bad_bwd, first_bwd);
            if (n == 1000003 && ulps > 0)
                std::printf("note: %s forward differs from glibc in the last bit in %" PRId64 " of %" PRId64 " elements\n",
                            act_name(act), ulps, n);
            TPT_CHECK(dout.guards_intact() && dgrad.guards_intact(), "%s guards", act_name(act));
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

/* ------------------------------------------------------------------ losses */

static void test_squared_error()
{
    Rng rng(703);
    for (int64_t n : kSizes) {
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
    const Shape shapes[] = {{1, 1}, {7, 10}, {4097, 10}, {100, 1000}, {3, 40000}, {100003, 3}};
    for (const Shape &s : shapes) {
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
    const GemmCase cases[] = {{1, 1, 1}, {7, 5, 3}, {64, 64, 16}, {65, 63, 17}, {128, 256, 300}, {1000, 10, 784},
                              {10, 1000, 784}, {3, 4, 0}};
    for (const GemmCase &g : cases)
        for (int ta = 0; ta < 2; ++ta)
            for (int tb = 0; tb < 2; ++tb) {
                gemm_case(g, ta, tb, 1.0f, 0.0f, 0, rng);
                gemm_case(g, ta, tb, -0.5f, 0.75f, 3, rng);
            }
    /* more rows than the grid's y cap: the row loop must cover them */
    gemm_case({TP_GEMM_TILE * TP_GEMM_MAX_GRID_Y + 70, 3, 2}, 0, 0, 1.0f, 1.0f, 0, rng);
}

int main()
{
    require_device_or_skip();
    test_add_bias();
    test_bias_grad();
    test_activations();
    test_squared_error();
    test_softmax_cross_entropy();
    test_sgemm();
    return tpt::finish("test_gpu_layers");
}
