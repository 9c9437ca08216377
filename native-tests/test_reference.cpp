/*
 * twophase native tests (CPU only, always run): the CPU references against hand-checked
 * values and invariants. These references are what the GPU tests compare the kernels to,
 * so they are checked here first.
 */
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "reference.h"
#include "test_util.h"

using tpt::Rng;

/* ref_adam_step with the scalars of step t */
static void adam(float *p, const float *g, float *m, float *v, int64_t n, const RefAdamScalars &s, float eps,
                 float l2, float decay, float grad_scale)
{
    ref_adam_step(p, g, m, v, n, s.beta1, s.one_minus_beta1, s.beta2, s.one_minus_beta2, s.step_size,
                  s.bias_correction2_sqrt, eps, l2, decay, grad_scale);
}

static void test_adam_scalars()
{
    /* 1 - beta is rounded from double, as PyTorch does: (float)(1 - 0.999) = 0.001f, while
     * 1 - 0.999f in float is 0.00099998713 (1.3e-5 relative error in v) */
    const RefAdamScalars s = ref_adam_scalars(1e-3, 0.9, 0.999, 1);
    TPT_CHECK(s.one_minus_beta2 == 0.001f, "one_minus_beta2 %.9g", s.one_minus_beta2);
    TPT_CHECK(s.one_minus_beta1 == 0.1f, "one_minus_beta1 %.9g", s.one_minus_beta1);
    volatile float b2 = 0.999f;
    const float float_way = 1.0f - b2;
    TPT_CHECK(float_way != s.one_minus_beta2 && std::fabs(float_way - 0.00099998713f) < 1e-11f,
              "1 - 0.999f = %.9g", float_way);
    TPT_CHECK(s.beta1 == 0.9f && s.beta2 == 0.999f, "betas");

    /* v of step 1 with g = 1 is exactly one_minus_beta2: the kernel must use the host value */
    float p = 0.0f, g = 1.0f, m = 0.0f, v = 0.0f;
    adam(&p, &g, &m, &v, 1, s, 1e-8f, 0.0f, 1.0f, 1.0f);
    TPT_CHECK(v == 0.001f && m == 0.1f, "v %.9g m %.9g", v, m);
}

static void test_adam_hand_checked()
{
    /* One element, step 1, Adam defaults but lr = 0.1:
     *   m = 0.1*0.5 = 0.05, v = 0.001*0.25 = 0.00025, step_size = 0.1/0.1 = 1,
     *   bc2_sqrt = sqrt(0.001), den = sqrt(0.00025)/sqrt(0.001) + 1e-8 = 0.5 + 1e-8,
     *   p = 1 - 0.05/0.50000001 = 0.900000002 */
    float p = 1.0f, g = 0.5f, m = 0.0f, v = 0.0f;
    RefAdamScalars s = ref_adam_scalars(0.1, 0.9, 0.999, 1);
    TPT_CHECK(std::fabs(s.step_size - 1.0f) < 1e-6f, "step_size %.9g", s.step_size);
    TPT_CHECK(std::fabs(s.bias_correction2_sqrt - 0.0316227766f) < 1e-8f, "bc2_sqrt %.9g", s.bias_correction2_sqrt);
    adam(&p, &g, &m, &v, 1, s, 1e-8f, 0.0f, 1.0f, 1.0f);
    TPT_CHECK(tpt::close(m, 0.05, 0, 1e-6), "m %.9g", m);
    TPT_CHECK(tpt::close(v, 0.00025, 0, 1e-6), "v %.9g", v);
    TPT_CHECK(std::fabs(p - 0.9f) < 1e-6f, "p %.9g", p);

    /* Step 2 with g = -0.5 (state from step 1):
     *   m = 0.9*0.05 + 0.1*(-0.5) = -0.005, v = 0.999*0.00025 + 0.001*0.25 = 0.00049975,
     *   step_size = 0.1/(1-0.81) = 0.526315789, bc2_sqrt = sqrt(1-0.998001) = 0.0447101778,
     *   den = sqrt(0.00049975)/0.0447101778 + 1e-8 = 0.02235509/0.0447101778 = 0.5000000...,
     *   p = 0.9 - 0.526315789*(-0.005)/0.5 = 0.9 + 0.00526315789 = 0.905263158 */
    g = -0.5f;
    s = ref_adam_scalars(0.1, 0.9, 0.999, 2);
    adam(&p, &g, &m, &v, 1, s, 1e-8f, 0.0f, 1.0f, 1.0f);
    TPT_CHECK(tpt::close(m, -0.005, 0, 1e-5), "m %.9g", m);
    TPT_CHECK(tpt::close(v, 0.00049975, 0, 1e-6), "v %.9g", v);
    TPT_CHECK(std::fabs(p - 0.905263158f) < 2e-6f, "p %.9g", p);

    /* AdamW: p = 1, lr = 0.1, wd = 0.1 => decay_factor = 0.99 applied before the update:
     * p = 0.99 - 1*0.05/(0.5+1e-8) = 0.89 */
    p = 1.0f; g = 0.5f; m = 0.0f; v = 0.0f;
    s = ref_adam_scalars(0.1, 0.9, 0.999, 1);
    adam(&p, &g, &m, &v, 1, s, 1e-8f, 0.0f, 0.99f, 1.0f);
    TPT_CHECK(std::fabs(p - 0.89f) < 1e-6f, "adamw p %.9g", p);

    /* Adam with L2: g_eff = 0.5 + 0.5*1 = 1 => m = 0.1, v = 0.001, den = 1 + 1e-8, p = 1 - 0.1 */
    p = 1.0f; g = 0.5f; m = 0.0f; v = 0.0f;
    adam(&p, &g, &m, &v, 1, s, 1e-8f, 0.5f, 1.0f, 1.0f);
    TPT_CHECK(tpt::close(m, 0.1, 0, 1e-6), "l2 m %.9g", m);
    TPT_CHECK(tpt::close(v, 0.001, 0, 1e-6), "l2 v %.9g", v);
    TPT_CHECK(std::fabs(p - 0.9f) < 1e-6f, "l2 p %.9g", p);
}

static void test_adam_first_step_moves_by_lr()
{
    /* Zero state: the first step moves every parameter by ~lr against the sign of g
     * (|g| >> eps), whatever the magnitude of g. */
    Rng rng(1);
    const int64_t n = 1000;
    const double lr = 1e-3;
    std::vector<float> p = tpt::random_vector(rng, n), g(n), m(n, 0.0f), v(n, 0.0f);
    for (int64_t i = 0; i < n; ++i) /* |g| from 1e-4 to 1e3, so eps/|g| <= 1e-4 */
        g[i] = (rng.next() & 1 ? 1.0f : -1.0f) * (0.1f + 0.9f * rng.uniform()) * std::pow(10.0f, (float)(i % 7) - 3.0f);
    const std::vector<float> p0 = p;
    adam(p.data(), g.data(), m.data(), v.data(), n, ref_adam_scalars(lr, 0.9, 0.999, 1), 1e-8f, 0.0f, 1.0f, 1.0f);
    int bad = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double expected = -lr * (g[i] > 0 ? 1.0 : -1.0);
        const double moved = (double)p[i] - (double)p0[i];
        if (std::fabs(moved - expected) > 1e-3 * lr + 2e-7 * std::fabs(p0[i])) ++bad;
    }
    TPT_CHECK(bad == 0, "%d of %lld parameters did not move by lr against sign(g)", bad, (long long)n);
}

static void test_adam_grad_scale()
{
    /* grad_scale = 0.5 on 2g is the same computation as grad_scale = 1 on g (exact in float). */
    Rng rng(2);
    const int64_t n = 257;
    std::vector<float> p = tpt::random_vector(rng, n), g = tpt::random_vector(rng, n);
    std::vector<float> m = tpt::random_vector(rng, n, 0.1f), v = tpt::random_positive(rng, n, 0.01f);
    std::vector<float> p2 = p, m2 = m, v2 = v, g2(n);
    for (int64_t i = 0; i < n; ++i) g2[i] = 2.0f * g[i];
    RefAdamScalars s = ref_adam_scalars(1e-3, 0.9, 0.999, 1);
    s.step_size = 1e-3f;
    s.bias_correction2_sqrt = 0.5f;
    adam(p.data(), g.data(), m.data(), v.data(), n, s, 1e-8f, 0.0f, 1.0f, 1.0f);
    adam(p2.data(), g2.data(), m2.data(), v2.data(), n, s, 1e-8f, 0.0f, 1.0f, 0.5f);
    TPT_CHECK(tpt::compare_bits(p.data(), p2.data(), n).count == 0, "grad_scale changed p");
    TPT_CHECK(tpt::compare_bits(m.data(), m2.data(), n).count == 0, "grad_scale changed m");
    TPT_CHECK(tpt::compare_bits(v.data(), v2.data(), n).count == 0, "grad_scale changed v");
    for (int64_t i = 0; i < n; ++i) {
        if (!(v[i] >= 0.0f) || !std::isfinite(p[i])) {
            TPT_CHECK(false, "state not finite/non-negative at %lld", (long long)i);
            break;
        }
    }
}

/* One row of the segment table, TP_ADAM_SCALARS floats in twophase.h's order. */
static void put_row(std::vector<float> &table, const RefAdamScalars &s, float eps, float l2, float decay, float grad_scale)
{
    const float row[TP_ADAM_SCALARS] = {s.beta1, s.one_minus_beta1, s.beta2, s.one_minus_beta2, s.step_size,
                                        s.bias_correction2_sqrt, eps, l2, decay, grad_scale};
    table.insert(table.end(), row, row + TP_ADAM_SCALARS);
}

static void test_adam_segments()
{
    /* A table of segments (one empty) gives, segment by segment, ref_adam_step with that segment's
     * scalars on that slice; without vmax the same bits. */
    Rng rng(3);
    const int64_t n = 23;
    const int64_t off[] = {0, 5, 5, 6, 23};
    std::vector<float> table;
    put_row(table, ref_adam_scalars(1e-3, 0.9, 0.999, 3), 1e-8f, 0.0f, 1.0f, 1.0f);
    put_row(table, ref_adam_scalars(5e-2, 0.5, 0.9, 1), 1e-8f, 0.0f, 1.0f, 1.0f); /* empty */
    put_row(table, ref_adam_scalars(1e-2, 0.8, 0.99, 7), 1e-6f, 0.1f, 1.0f, 0.5f);
    put_row(table, ref_adam_scalars(1e-3, 0.9, 0.999, 3), 1e-8f, 0.0f, 0.999f, 2.0f);
    std::vector<float> p = tpt::random_vector(rng, n), g = tpt::random_vector(rng, n);
    std::vector<float> m = tpt::random_vector(rng, n, 0.1f), v = tpt::random_positive(rng, n, 0.01f);
    std::vector<float> p2 = p, m2 = m, v2 = v;
    ref_adam_segments(p.data(), g.data(), m.data(), v.data(), nullptr, n, off, table.data(), 4);
    for (int k = 0; k < 4; ++k) {
        const float *r = &table[(size_t)k * TP_ADAM_SCALARS];
        const int64_t a = off[k], len = off[k + 1] - off[k];
        ref_adam_step(&p2[a], &g[a], &m2[a], &v2[a], len, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]);
    }
    TPT_CHECK(tpt::compare_bits(p.data(), p2.data(), n).count == 0 && tpt::compare_bits(m.data(), m2.data(), n).count == 0 &&
                  tpt::compare_bits(v.data(), v2.data(), n).count == 0,
              "segments differ from ref_adam_step on each slice");
}

static void test_amsgrad_hand_checked()
{
    /* AMSGrad keeps the largest v and divides by its root. Scalars with bc2_sqrt = 1, step 0.1,
     * beta2 = 0.5 (v halves), beta1 = 0: m = g.
     *   step 1, g = 2, from v = vmax = 0: v = 0.5*0 + 0.5*4 = 2, vmax = 2, p = 1 - 0.1*2/sqrt(2)
     *   step 2, g = 0.5: v = 0.5*2 + 0.5*0.25 = 1.125 < vmax = 2: p -= 0.1*0.5/sqrt(2)
     *   Adam would divide by sqrt(1.125) instead. */
    std::vector<float> table;
    RefAdamScalars s = {0.0f, 1.0f, 0.5f, 0.5f, 0.1f, 1.0f};
    put_row(table, s, 0.0f, 0.0f, 1.0f, 1.0f);
    const int64_t off[] = {0, 1};
    float p = 1.0f, g = 2.0f, m = 0.0f, v = 0.0f, vmax = 0.0f;
    ref_adam_segments(&p, &g, &m, &v, &vmax, 1, off, table.data(), 1);
    TPT_CHECK(v == 2.0f && vmax == 2.0f && tpt::close(p, 1.0 - 0.2 / std::sqrt(2.0), 0, 1e-6), "step 1: p %.9g v %g vmax %g",
              p, v, vmax);
    const float p1 = p;
    g = 0.5f;
    float pa = p, ma = m, va = v;
    ref_adam_segments(&p, &g, &m, &v, &vmax, 1, off, table.data(), 1);
    ref_adam_segments(&pa, &g, &ma, &va, nullptr, 1, off, table.data(), 1);
    TPT_CHECK(v == 1.125f && vmax == 2.0f && tpt::close(p, p1 - 0.05 / std::sqrt(2.0), 0, 1e-6),
              "step 2: p %.9g v %g vmax %g", p, v, vmax);
    TPT_CHECK(va == 1.125f && tpt::close(pa, p1 - 0.05 / std::sqrt(1.125), 0, 1e-6), "plain Adam step 2: p %.9g", pa);
    /* NaN in v (an infinite p with L2 decay: Inf - Inf) reaches vmax, as torch.maximum */
    vmax = 3.0f;
    v = 0.0f;
    float inf_p = INFINITY, gz = -INFINITY;
    std::vector<float> l2_table;
    put_row(l2_table, s, 0.0f, 1.0f, 1.0f, 1.0f);
    ref_adam_segments(&inf_p, &gz, &m, &v, &vmax, 1, off, l2_table.data(), 1);
    TPT_CHECK(std::isnan(v) && std::isnan(vmax), "NaN v must reach vmax: v %g vmax %g", v, vmax);
    /* of two zeros the maximum is +0 */
    float z = -0.0f, zp = 0.0f, zg = 0.0f, zm = 0.0f, zv = 0.0f;
    ref_adam_segments(&zp, &zg, &zm, &zv, &z, 1, off, table.data(), 1);
    TPT_CHECK(z == 0.0f && !std::signbit(z), "maximum(-0, +0) must be +0");
}

static void test_multi_dot()
{
    /* exact small case: x = 1..n, y0 = 1, y1 = x, y2 = -x, y3 = 0.5 */
    const int64_t n = 1001;
    std::vector<float> x(n), y0(n, 1.0f), y1(n), y2(n), y3(n, 0.5f);
    for (int64_t i = 0; i < n; ++i) {
        x[i] = (float)(i + 1);
        y1[i] = x[i];
        y2[i] = -x[i];
    }
    const float *ys[4] = {y0.data(), y1.data(), y2.data(), y3.data()};
    double out[4] = {0, 0, 0, 0};
    ref_multi_dot(x.data(), ys, 4, n, out);
    const double s1 = (double)n * (n + 1) / 2, s2 = (double)n * (n + 1) * (2 * n + 1) / 6;
    TPT_CHECK(out[0] == s1, "sum x = %.17g, want %.17g", out[0], s1);
    TPT_CHECK(out[1] == s2, "sum x^2 = %.17g, want %.17g", out[1], s2);
    TPT_CHECK(out[2] == -s2, "sum -x^2 = %.17g", out[2]);
    TPT_CHECK(out[3] == s1 / 2, "sum x/2 = %.17g", out[3]);

    /* random data against a naive long double loop */
    Rng rng(3);
    const int64_t m = 100003;
    std::vector<float> a = tpt::random_vector(rng, m), b = tpt::random_vector(rng, m), c = tpt::random_vector(rng, m);
    const float *yb[2] = {b.data(), c.data()};
    double r[2];
    ref_multi_dot(a.data(), yb, 2, m, r);
    long double nb = 0, nc = 0, absb = 0;
    for (int64_t i = 0; i < m; ++i) {
        nb += (long double)a[i] * b[i];
        nc += (long double)a[i] * c[i];
        absb += std::fabs((long double)a[i] * b[i]);
    }
    TPT_CHECK(tpt::close(r[0], (double)nb, 1e-13 * (double)absb, 0), "%.17g vs %.17Lg", r[0], nb);
    TPT_CHECK(tpt::close(r[1], (double)nc, 1e-13 * (double)absb, 0), "%.17g vs %.17Lg", r[1], nc);

    /* k = 0 and n = 0 */
    double z[4] = {-1, -1, -1, -1};
    ref_multi_dot(a.data(), yb, 2, 0, z);
    TPT_CHECK(z[0] == 0.0 && z[1] == 0.0 && z[2] == -1, "n = 0 must give zeros for j < k only");
}

static void test_cg_direction_and_trial_point()
{
    Rng rng(4);
    const int64_t n = 333;
    std::vector<float> d = tpt::random_vector(rng, n), g = tpt::random_vector(rng, n), gp(n, NAN);
    std::vector<float> d0 = d;
    /* beta = 0: steepest descent, exactly -g */
    ref_cg_direction(d.data(), g.data(), gp.data(), n, 0.0f);
    bool ok = true;
    for (int64_t i = 0; i < n; ++i) ok = ok && d[i] == -g[i] && gp[i] == g[i];
    TPT_CHECK(ok, "beta = 0 must give d = -g and g_prev = g");
    /* beta = 0.5 */
    d = d0;
    ref_cg_direction(d.data(), g.data(), gp.data(), n, 0.5f);
    ok = true;
    for (int64_t i = 0; i < n; ++i) ok = ok && std::fabs(d[i] - (-g[i] + 0.5f * d0[i])) <= 1e-6f;
    TPT_CHECK(ok, "beta = 0.5");
    /* hand-checked: d = 2, g = 1, beta = 0.25 => -1 + 0.5 = -0.5 */
    float dd = 2.0f, gg = 1.0f, gpp = 0.0f;
    ref_cg_direction(&dd, &gg, &gpp, 1, 0.25f);
    TPT_CHECK(dd == -0.5f && gpp == 1.0f, "d %.9g g_prev %.9g", dd, gpp);

    std::vector<float> x(n, NAN), x0 = tpt::random_vector(rng, n);
    ref_trial_point(x.data(), x0.data(), d.data(), n, 0.0f);
    TPT_CHECK(tpt::compare_bits(x.data(), x0.data(), n).count == 0, "alpha = 0 must give x = x0");
    float xs = 0.0f, x0s = 1.0f, ds = -3.0f;
    ref_trial_point(&xs, &x0s, &ds, 1, 0.5f);
    TPT_CHECK(xs == -0.5f, "x = 1 + 0.5*(-3) = %.9g", xs);
    /* in place (x aliases x0) */
    std::vector<float> y = x0;
    ref_trial_point(y.data(), y.data(), d.data(), n, 2.0f);
    ok = true;
    for (int64_t i = 0; i < n; ++i) ok = ok && y[i] == x0[i] + 2.0f * d[i];
    TPT_CHECK(ok, "in-place trial point");
}

static void test_axpy()
{
    float x[3] = {1.0f, -2.0f, 0.5f}, y[3] = {10.0f, 10.0f, -1.0f};
    ref_axpy(2.0f, x, y, 3);
    TPT_CHECK(y[0] == 12.0f && y[1] == 6.0f && y[2] == 0.0f, "axpy %g %g %g", y[0], y[1], y[2]);
    ref_axpy(0.0f, x, y, 0);
    TPT_CHECK(y[0] == 12.0f, "n = 0 must not write");
}

static void test_segmented_norms()
{
    /* layout with empty tensors at the start, middle and end */
    const float g[] = {1, 2, 3, 4, 5, 6, 7};
    const int64_t offsets[] = {0, 0, 3, 3, 7, 7};
    double out[6];
    float mx[6];
    int flag = -1;
    TPT_CHECK(ref_segmented_norms(g, offsets, 5, out, mx, &flag) == 0, "valid layout rejected");
    const double want[6] = {0, 1 + 4 + 9, 0, 16 + 25 + 36 + 49, 0, 140};
    const float want_max[6] = {0, 3, 0, 7, 0, 7};
    for (int t = 0; t < 6; ++t) TPT_CHECK(out[t] == want[t], "tensor %d: %.17g want %.17g", t, out[t], want[t]);
    for (int t = 0; t < 6; ++t) TPT_CHECK(mx[t] == want_max[t], "max |g| of tensor %d: %g want %g", t, mx[t], want_max[t]);
    TPT_CHECK(flag == 0, "finite data flagged");

    /* no tensors: total 0 */
    const int64_t none[] = {0};
    TPT_CHECK(ref_segmented_norms(g, none, 0, out, mx, &flag) == 0 && out[0] == 0.0 && mx[0] == 0.0f && flag == 0,
              "empty layout");

    /* non-finite flag: NaN, +Inf, -Inf anywhere; the largest finite float is fine */
    const float specials[] = {NAN, INFINITY, -INFINITY};
    for (float s : specials) {
        float h[7] = {1, 2, 3, 4, 5, 6, 7};
        h[5] = s;
        flag = 0;
        ref_segmented_norms(h, offsets, 5, out, mx, &flag);
        TPT_CHECK(flag == 1, "non-finite %g not flagged", (double)s);
        /* max |g|: NaN propagates to its tensor and the total, an infinity is +Inf; tensor 1 keeps 3 */
        const bool nan = std::isnan(s);
        TPT_CHECK(mx[1] == 3.0f && (nan ? std::isnan(mx[3]) && std::isnan(mx[5]) : mx[3] == INFINITY && mx[5] == INFINITY),
                  "max |g| with %g: %g %g %g", (double)s, mx[1], mx[3], mx[5]);
    }
    float big[3] = {std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(), 1.0f};
    const int64_t one[] = {0, 3};
    ref_segmented_norms(big, one, 1, out, mx, &flag);
    TPT_CHECK(flag == 0 && std::isfinite(out[1]), "FLT_MAX squared must stay finite in double");
    TPT_CHECK(mx[0] == std::numeric_limits<float>::max() && mx[1] == mx[0], "max |g| of +-FLT_MAX");
    /* a NaN first, then larger values: still NaN (no comparison may drop it) */
    const float nan_first[3] = {NAN, 5.0f, -9.0f};
    ref_segmented_norms(nan_first, one, 1, out, mx, &flag);
    TPT_CHECK(std::isnan(mx[0]) && std::isnan(mx[1]), "a leading NaN dropped: %g %g", mx[0], mx[1]);
    /* -0 counts as 0 */
    const float zeros[3] = {-0.0f, -0.0f, 0.0f};
    ref_segmented_norms(zeros, one, 1, out, mx, &flag);
    TPT_CHECK(mx[0] == 0.0f && !std::signbit(mx[0]), "max |g| of zeros: %g", mx[0]);

    /* invalid layouts */
    const int64_t bad1[] = {1, 3};
    const int64_t bad2[] = {0, 3, 2};
    TPT_CHECK(ref_segmented_norms(g, bad1, 1, out, mx, &flag) != 0, "offsets[0] != 0 accepted");
    TPT_CHECK(ref_segmented_norms(g, bad2, 2, out, mx, &flag) != 0, "decreasing offsets accepted");

    /* total = sum of per-tensor sums, and equals a plain sum of squares */
    Rng rng(5);
    const int nt = 50;
    std::vector<int64_t> off(nt + 1, 0);
    for (int t = 0; t < nt; ++t) off[t + 1] = off[t] + (t % 5 == 0 ? 0 : rng.below(1000));
    std::vector<float> data = tpt::random_vector(rng, off[nt]);
    std::vector<double> res(nt + 1);
    std::vector<float> res_max(nt + 1);
    ref_segmented_norms(data.data(), off.data(), nt, res.data(), res_max.data(), &flag);
    double tot = 0, plain = 0;
    for (int t = 0; t < nt; ++t) tot += res[t];
    for (float x : data) plain += (double)x * x;
    TPT_CHECK(res[nt] == tot, "total %.17g vs %.17g", res[nt], tot);
    TPT_CHECK(tpt::close(res[nt], plain, 0, 1e-12), "total %.17g vs plain %.17g", res[nt], plain);
    float plain_max = 0.0f;
    for (float x : data) plain_max = std::fabs(x) > plain_max ? std::fabs(x) : plain_max;
    TPT_CHECK(res_max[nt] == plain_max, "max |g| %g vs plain %g", res_max[nt], plain_max);
}

/* ------------------------------------------------------------------ model ops */

static void test_bias()
{
    /* 3 x 2 */
    float y[6] = {1, 2, 3, 4, 5, 6};
    const float bias[2] = {10, -1};
    ref_add_bias(y, bias, 3, 2);
    const float want[6] = {11, 1, 13, 3, 15, 5};
    bool ok = true;
    for (int i = 0; i < 6; ++i) ok = ok && y[i] == want[i];
    TPT_CHECK(ok, "add_bias");

    float db[2] = {0.5f, -0.0f};
    ref_bias_grad(want, db, 3, 2);
    TPT_CHECK(db[0] == 0.5f + 39.0f && db[1] == 9.0f, "bias_grad %g %g", db[0], db[1]);
    /* rows = 0 adds +0: -0 becomes +0, as the Java loop */
    float dz[1] = {-0.0f};
    ref_bias_grad(nullptr, dz, 0, 1);
    TPT_CHECK(dz[0] == 0.0f && !std::signbit(dz[0]), "rows = 0: %g", dz[0]);
    /* double accumulation: 1e8 + 1 + 1 - 1e8 would lose the ones in float */
    const float col[4] = {1e8f, 1.0f, 1.0f, -1e8f};
    float d1[1] = {0.0f};
    ref_bias_grad(col, d1, 4, 1);
    TPT_CHECK(d1[0] == 2.0f, "double accumulation %g", d1[0]);
}

static void test_activations()
{
    /* hand-checked values */
    TPT_CHECK(ref_activation(TP_ACT_RELU, -3.0f) == 0.0f && ref_activation(TP_ACT_RELU, 2.5f) == 2.5f, "relu");
    TPT_CHECK(std::isnan(ref_activation(TP_ACT_RELU, NAN)), "relu(NaN) stays NaN (Math.max)");
    TPT_CHECK(!std::signbit(ref_activation(TP_ACT_RELU, -0.0f)), "relu(-0) = +0");
    TPT_CHECK(ref_activation(TP_ACT_IDENTITY, -7.25f) == -7.25f, "identity");
    TPT_CHECK(std::fabs(ref_activation(TP_ACT_TANH, 0.5f) - 0.46211716f) < 1e-7f, "tanh(0.5)");
    TPT_CHECK(ref_activation(TP_ACT_SIGMOID, 0.0f) == 0.5f, "sigmoid(0)");
    TPT_CHECK(std::fabs(ref_activation(TP_ACT_SIGMOID, 2.0f) - 0.88079708f) < 1e-7f, "sigmoid(2)");
    /* gelu(1) = 0.5 (1 + tanh(sqrt(2/pi) 1.044715)) = 0.841192 */
    TPT_CHECK(std::fabs(ref_activation(TP_ACT_GELU, 1.0f) - 0.8411920f) < 2e-7f, "gelu(1) %.9g",
              ref_activation(TP_ACT_GELU, 1.0f));
    TPT_CHECK(ref_activation(TP_ACT_GELU, 0.0f) == 0.0f, "gelu(0)");

    /* derivatives against central differences in double of the forward formulas */
    const int acts[4] = {TP_ACT_TANH, TP_ACT_SIGMOID, TP_ACT_GELU, TP_ACT_IDENTITY};
    for (int act : acts) {
        for (float x = -3.0f; x <= 3.0f; x += 0.37f) {
            const double h = 1e-3;
            auto f = [&](double z) {
                switch (act) {
                case TP_ACT_TANH: return std::tanh(z);
                case TP_ACT_SIGMOID: return 1.0 / (1.0 + std::exp(-z));
                case TP_ACT_GELU: return 0.5 * z * (1.0 + std::tanh(0.7978845608028654 * (z + 0.044715 * z * z * z)));
                default: return z;
                }
            };
            const double fd = (f(x + h) - f(x - h)) / (2 * h);
            const float y = ref_activation(act, x);
            const float d = ref_activation_backward(act, x, y, 1.0f);
            TPT_CHECK(std::fabs(d - fd) < 1e-5, "act %d x %g: derivative %.9g vs %.9g", act, x, d, fd);
            TPT_CHECK(ref_activation_backward(act, x, y, -2.0f) == -2.0f * d, "act %d: dy scales the derivative", act);
        }
    }
    TPT_CHECK(ref_activation_backward(TP_ACT_RELU, 2.0f, 2.0f, 3.0f) == 3.0f &&
                  ref_activation_backward(TP_ACT_RELU, -2.0f, 0.0f, 3.0f) == 0.0f &&
                  ref_activation_backward(TP_ACT_RELU, 0.0f, 0.0f, 3.0f) == 0.0f,
              "relu backward");
}

static void test_losses()
{
    const float out[3] = {1.0f, 2.0f, -1.0f}, target[3] = {0.5f, 2.0f, 1.0f};
    float d[3];
    const double se = ref_squared_error(out, target, 3, 0.5f, d);
    TPT_CHECK(se == 0.25 + 0.0 + 4.0, "squared error %.17g", se);
    TPT_CHECK(d[0] == 0.5f && d[1] == 0.0f && d[2] == -2.0f, "squared error grad %g %g %g", d[0], d[1], d[2]);
    TPT_CHECK(ref_squared_error(out, target, 3, 1.0f, nullptr) == se, "no gradient");

    /* uniform logits over 4 classes: loss = log 4 per row, grad = scale * (0.25 - t) */
    const float logits[8] = {3, 3, 3, 3, -1, -1, -1, -1};
    const float onehot[8] = {0, 1, 0, 0, 1, 0, 0, 0};
    float g[8];
    const double ce = ref_softmax_cross_entropy(logits, onehot, 2, 4, 0.5f, g);
    TPT_CHECK(tpt::close(ce, 2.0 * std::log(4.0), 0, 1e-15), "cross-entropy %.17g", ce);
    TPT_CHECK(g[0] == 0.125f && g[1] == -0.375f && g[4] == -0.375f, "cross-entropy grad %g %g %g", g[0], g[1], g[4]);
    /* a large logit does not overflow (max subtracted) */
    const float big[2] = {1000.0f, 0.0f}, t2[2] = {1.0f, 0.0f};
    const double ce2 = ref_softmax_cross_entropy(big, t2, 1, 2, 1.0f, nullptr);
    TPT_CHECK(std::fabs(ce2) < 1e-300, "cross-entropy of a sure prediction %.17g", ce2);
}

static void test_sgemm()
{
    /* A 2x3, B 3x2 => C 2x2: [[1,2,3],[4,5,6]] x [[7,8],[9,10],[11,12]] = [[58,64],[139,154]] */
    const float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, 12};
    float c[4] = {NAN, NAN, NAN, NAN};
    ref_sgemm(0, 0, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2);
    TPT_CHECK(c[0] == 58 && c[1] == 64 && c[2] == 139 && c[3] == 154, "sgemm NN");
    /* transposed storage: A^T is 3x2 (lda 2), B^T is 2x3 (ldb 3); alpha 2, beta 1 */
    const float at[6] = {1, 4, 2, 5, 3, 6}, bt[6] = {7, 9, 11, 8, 10, 12};
    float c2[4] = {1, 1, 1, 1};
    ref_sgemm(1, 1, 2, 2, 3, 2.0f, at, 2, bt, 3, 1.0f, c2, 2);
    TPT_CHECK(c2[0] == 117 && c2[1] == 129 && c2[2] == 279 && c2[3] == 309, "sgemm TT alpha beta");
    /* k = 0: C = beta * C */
    float c3[1] = {4.0f};
    ref_sgemm(0, 0, 1, 1, 0, 1.0f, a, 1, b, 1, 0.5f, c3, 1);
    TPT_CHECK(c3[0] == 2.0f, "k = 0");
}

/* The conv references on hand-worked cases, and col2im as the adjoint of im2col. */
static void test_conv_ops()
{
    /* a 3x3 image 1..9, 2x2 windows, stride 1: four patches */
    const RefConvShape s = {1, 3, 3, 1, 2, 1, 0};
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    float cols[16];
    ref_im2col(&s, x, cols);
    const float want[16] = {1, 2, 4, 5, 2, 3, 5, 6, 4, 5, 7, 8, 5, 6, 8, 9};
    bool ok = true;
    for (int i = 0; i < 16; ++i) ok = ok && cols[i] == want[i];
    TPT_CHECK(ok, "im2col of a 3x3 image");
    /* col2im of all ones counts how many patches read each pixel */
    float ones[16], counts[9];
    for (float &v : ones) v = 1.0f;
    ref_col2im(&s, ones, counts);
    const float cover[9] = {1, 2, 1, 2, 4, 2, 1, 2, 1};
    ok = true;
    for (int i = 0; i < 9; ++i) ok = ok && counts[i] == cover[i];
    TPT_CHECK(ok, "col2im coverage counts");
    /* padding 1, stride 2, two channels: the corner patch reads three zeros, then pixel (0, 0) */
    const RefConvShape p = {1, 2, 2, 2, 2, 2, 1};
    const float xp[8] = {1, -1, 2, -2, 3, -3, 4, -4};
    float cp[32];
    ref_im2col(&p, xp, cp);
    TPT_CHECK(ref_conv_out_height(&p) == 2 && ref_conv_out_width(&p) == 2, "out 2x2");
    TPT_CHECK(cp[0] == 0 && cp[5] == 0 && cp[6] == 1 && cp[7] == -1 && cp[8] == 0 && cp[12] == 2 && cp[13] == -2,
              "padded im2col: %g %g %g %g", cp[6], cp[7], cp[12], cp[13]);

    /* adjoint: <im2col(x), C> = <x, col2im(C)>, exact for small integers */
    Rng rng(120);
    const RefConvShape a = {2, 5, 4, 3, 3, 2, 1};
    const int64_t nin = 2 * 5 * 4 * 3, ncols = (int64_t)2 * ref_conv_out_height(&a) * ref_conv_out_width(&a) * 27;
    std::vector<float> xa((size_t)nin), ca((size_t)ncols), ia((size_t)ncols), da((size_t)nin);
    for (float &v : xa) v = (float)(rng.below(9) - 4);
    for (float &v : ca) v = (float)(rng.below(9) - 4);
    ref_im2col(&a, xa.data(), ia.data());
    ref_col2im(&a, ca.data(), da.data());
    double lhs = 0, rhs = 0;
    for (int64_t i = 0; i < ncols; ++i) lhs += (double)ia[(size_t)i] * ca[(size_t)i];
    for (int64_t i = 0; i < nin; ++i) rhs += (double)xa[(size_t)i] * da[(size_t)i];
    TPT_CHECK(lhs == rhs && lhs != 0, "adjoint: %g vs %g", lhs, rhs);

    /* Java's max: NaN wins, +0 above -0 */
    TPT_CHECK(std::isnan(ref_java_max(NAN, 1.0f)) && std::isnan(ref_java_max(1.0f, NAN)), "max with NaN");
    TPT_CHECK(!std::signbit(ref_java_max(-0.0f, 0.0f)) && !std::signbit(ref_java_max(0.0f, -0.0f)) &&
                  std::signbit(ref_java_max(-0.0f, -0.0f)), "max of signed zeros");
    /* pooling: ties go to the first cell in window order; a window of padding only stays -inf */
    const RefConvShape q = {1, 2, 2, 1, 2, 2, 0};
    const float xq[4] = {1, 3, 3, 2}, dq[1] = {5};
    float yq[1], gq[4];
    ref_max_pool(&q, xq, yq);
    ref_max_pool_backward(&q, xq, yq, dq, gq);
    TPT_CHECK(yq[0] == 3 && gq[0] == 0 && gq[1] == 5 && gq[2] == 0 && gq[3] == 0, "pool tie: y %g dx %g %g %g %g", yq[0],
              gq[0], gq[1], gq[2], gq[3]);
    const RefConvShape e = {1, 1, 1, 1, 1, 1, 1}; /* 3x3 windows of 1x1 over a 1x1 image padded by 1 */
    const float xe[1] = {-2}, de[9] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    float ye[9], ge[1];
    ref_max_pool(&e, xe, ye);
    ref_max_pool_backward(&e, xe, ye, de, ge);
    TPT_CHECK(std::isinf(ye[0]) && ye[0] < 0 && ye[4] == -2 && ge[0] == 16, "padding-only windows: %g %g, dx %g", ye[0],
              ye[4], ge[0]);
    /* overlapping windows add their gradients: a 2x3 image, 2x2 windows, stride 1, both maxima at (0, 1) */
    const RefConvShape w = {1, 2, 3, 1, 2, 1, 0};
    const float xw[6] = {0, 9, 0, 0, 0, 0}, dw[2] = {1.5f, 2.5f};
    float yw[2], gw[6];
    ref_max_pool(&w, xw, yw);
    ref_max_pool_backward(&w, xw, yw, dw, gw);
    TPT_CHECK(yw[0] == 9 && yw[1] == 9 && gw[1] == 4.0f && gw[0] == 0 && gw[2] == 0, "overlapping windows: dx %g", gw[1]);

    const float t[6] = {1, 2, 3, 4, 5, 6};
    float tt[6];
    ref_batched_transpose(1, 2, 3, t, tt);
    TPT_CHECK(tt[0] == 1 && tt[1] == 4 && tt[2] == 2 && tt[3] == 5 && tt[4] == 3 && tt[5] == 6, "transpose 2x3");
}

/* The attention references: the float formulas close to the exact definition, the exact one a
 * softmax (rows sum to 1) whose hand-checked case is right, and its gradients equal to central
 * differences of sum(out * dOut) (the exact forward in long double, so the differences are clean). */
static void test_attention()
{
    /* one sequence, two tokens, one head of dimension 1: s = q_i k_j, p = softmax, out = p . v */
    const float q[2] = {1.0f, -0.5f}, k[2] = {2.0f, 0.25f}, v[2] = {3.0f, -1.0f};
    double scores[4], probs[4], out[2];
    ref_attention_exact(1, 2, 1, 1, q, k, v, scores, probs, out);
    const double p00 = 1.0 / (1.0 + std::exp(0.25 - 2.0)), p10 = 1.0 / (1.0 + std::exp(-0.125 + 1.0));
    TPT_CHECK(std::fabs(scores[1] - 0.25) < 1e-15 && std::fabs(probs[0] - p00) < 1e-15 && std::fabs(probs[2] - p10) < 1e-15,
              "attention by hand: %.17g %.17g", probs[0], probs[2]);
    TPT_CHECK(std::fabs(out[0] - (p00 * 3.0 - (1.0 - p00))) < 1e-14 && std::fabs(out[1] - (p10 * 3.0 - (1.0 - p10))) < 1e-14,
              "attention out by hand: %.17g %.17g", out[0], out[1]);

    Rng rng(60);
    const int batch = 2, tokens = 5, heads = 2, e = 3, d = heads * e, n = batch * tokens * d, pn = batch * heads * tokens * tokens;
    std::vector<float> Q = tpt::random_vector(rng, n), K = tpt::random_vector(rng, n), V = tpt::random_vector(rng, n),
                       dO = tpt::random_vector(rng, n);
    std::vector<double> S((size_t)pn), P((size_t)pn), O((size_t)n), dq((size_t)n), dk((size_t)n), dv((size_t)n);
    ref_attention_exact(batch, tokens, heads, e, Q.data(), K.data(), V.data(), S.data(), P.data(), O.data());
    double worst_sum = 0.0;
    for (int r = 0; r < batch * heads * tokens; ++r) {
        double sum = 0.0;
        for (int j = 0; j < tokens; ++j) sum += P[(size_t)(r * tokens + j)];
        worst_sum = std::max(worst_sum, std::fabs(sum - 1.0));
    }
    TPT_CHECK(worst_sum < 1e-15, "softmax rows sum to 1: off by %.3g", worst_sum);
    /* the float formula of the kernels against the exact probabilities */
    std::vector<float> pf(S.size());
    for (size_t i = 0; i < pf.size(); ++i) pf[i] = (float)S[i];
    ref_attention_softmax(pf.data(), batch * heads * tokens, tokens);
    double worst_p = 0.0;
    for (size_t i = 0; i < pf.size(); ++i) worst_p = std::max(worst_p, std::fabs(pf[i] - P[i]));
    TPT_CHECK(worst_p < 1e-6, "float softmax formula vs exact: %.3g", worst_p);

    std::vector<float> Pk(P.size());
    for (size_t i = 0; i < Pk.size(); ++i) Pk[i] = (float)P[i];
    ref_attention_backward_exact(batch, tokens, heads, e, Q.data(), K.data(), V.data(), Pk.data(), dO.data(), dq.data(),
                                 dk.data(), dv.data());
    auto loss = [&](const std::vector<float> &q2, const std::vector<float> &k2, const std::vector<float> &v2) {
        std::vector<double> s2((size_t)pn), p2((size_t)pn), o2((size_t)n);
        ref_attention_exact(batch, tokens, heads, e, q2.data(), k2.data(), v2.data(), s2.data(), p2.data(), o2.data());
        double l = 0.0;
        for (int i = 0; i < n; ++i) l += o2[(size_t)i] * dO[(size_t)i];
        return l;
    };
    const float h = 1.0f / 1024.0f; /* exact in float, so x +- h is where the difference is taken */
    double worst = 0.0;
    for (int which = 0; which < 3; ++which) {
        for (int i = 0; i < n; ++i) {
            std::vector<float> a = Q, b = K, c = V;
            std::vector<float> &x = which == 0 ? a : which == 1 ? b : c;
            const float x0 = x[(size_t)i];
            x[(size_t)i] = x0 + h;
            const double up = loss(a, b, c);
            x[(size_t)i] = x0 - h;
            const double down = loss(a, b, c);
            const double fd = (up - down) / (2.0 * (double)h), g = (which == 0 ? dq : which == 1 ? dk : dv)[(size_t)i];
            worst = std::max(worst, std::fabs(fd - g) / (1e-3 + std::fabs(g)));
        }
    }
    /* central differences err by h^2 times the third derivative / 6 (about 1e-7 here); P kept in
     * float perturbs dq and dk by about 1e-7 */
    TPT_CHECK(worst < 1e-5, "attention gradients vs central differences: relative %.3g", worst);
}

/* The layer norm references: with gamma 1 and beta 0 (eps 0) the rows have mean 0 and variance 1,
 * and dx is the gradient of a normalization: orthogonal to the constant row and to xhat; token
 * mean and its backward are adjoint. */
static void test_layer_norm_and_token_mean()
{
    Rng rng(61);
    const int rows = 9, dim = 37;
    std::vector<float> x = tpt::random_vector(rng, rows * dim, 4.0f), gamma((size_t)dim, 1.0f), beta((size_t)dim, 0.0f),
                       y((size_t)rows * dim), dy = tpt::random_vector(rng, rows * dim), dx((size_t)rows * dim),
                       dg((size_t)dim, 0.0f), db((size_t)dim, 0.0f);
    ref_layer_norm(x.data(), gamma.data(), beta.data(), y.data(), rows, dim, 0.0f);
    for (int r = 0; r < rows; ++r) {
        double m = 0.0, v = 0.0;
        for (int i = 0; i < dim; ++i) m += y[(size_t)(r * dim + i)];
        for (int i = 0; i < dim; ++i) v += (double)y[(size_t)(r * dim + i)] * y[(size_t)(r * dim + i)];
        TPT_CHECK(std::fabs(m / dim) < 1e-6 && std::fabs(v / dim - 1.0) < 1e-5, "layer norm row %d: mean %.3g var %.9g", r,
                  m / dim, v / dim);
    }
    gamma = tpt::random_vector(rng, dim);
    ref_layer_norm_backward(x.data(), gamma.data(), dy.data(), dx.data(), dg.data(), db.data(), rows, dim, 1e-5f);
    for (int r = 0; r < rows; ++r) {
        double mean = 0.0, sq = 0.0, s1 = 0.0, sx = 0.0, a1 = 0.0;
        for (int i = 0; i < dim; ++i) mean += x[(size_t)(r * dim + i)];
        mean /= dim;
        for (int i = 0; i < dim; ++i) sq += (x[(size_t)(r * dim + i)] - mean) * (x[(size_t)(r * dim + i)] - mean);
        const double rstd = 1.0 / std::sqrt(sq / dim + 1e-5);
        for (int i = 0; i < dim; ++i) {
            s1 += dx[(size_t)(r * dim + i)];
            sx += dx[(size_t)(r * dim + i)] * (x[(size_t)(r * dim + i)] - mean) * rstd;
            a1 += std::fabs(dx[(size_t)(r * dim + i)]);
        }
        TPT_CHECK(std::fabs(s1) < 1e-6 * a1 && std::fabs(sx) < 1e-5 * a1, "layer norm dx row %d: sum %.3g, dot xhat %.3g", r,
                  s1, sx);
    }
    double sb = 0.0;
    for (int r = 0; r < rows; ++r) sb += dy[(size_t)(r * dim)];
    TPT_CHECK(std::fabs(db[0] - sb) < 1e-6, "dbeta = column sum of dy");

    const int batch = 3, tokens = 7, width = 5;
    std::vector<float> t = tpt::random_vector(rng, batch * tokens * width), m((size_t)batch * width),
                       g = tpt::random_vector(rng, batch * width), back((size_t)batch * tokens * width);
    ref_token_mean(t.data(), m.data(), batch, tokens, width);
    ref_token_mean_backward(g.data(), back.data(), batch, tokens, width);
    double lhs = 0.0, rhs = 0.0;
    for (int i = 0; i < batch * width; ++i) lhs += (double)m[(size_t)i] * g[(size_t)i];
    for (int i = 0; i < batch * tokens * width; ++i) rhs += (double)t[(size_t)i] * back[(size_t)i];
    TPT_CHECK(std::fabs(lhs - rhs) < 1e-6, "token mean and its backward are adjoint: %.9g vs %.9g", lhs, rhs);
}

int main()
{
    test_adam_scalars();
    test_adam_hand_checked();
    test_adam_first_step_moves_by_lr();
    test_adam_grad_scale();
    test_adam_segments();
    test_amsgrad_hand_checked();
    test_multi_dot();
    test_cg_direction_and_trial_point();
    test_axpy();
    test_segmented_norms();
    test_bias();
    test_activations();
    test_losses();
    test_sgemm();
    test_conv_ops();
    test_attention();
    test_layer_norm_and_token_mean();
    return tpt::finish("test_reference");
}
