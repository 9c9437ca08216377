/*
 * twophase native tests (CPU only, always run): the CPU references against hand-checked
 * values and invariants. These references are what the GPU tests compare the kernels to,
 * so they are checked here first.
 */
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "reference.h"
#include "test_util.h"

using tpt::Rng;

static void test_adam_hand_checked()
{
    /* One element, step 1, Adam defaults but lr = 0.1:
     *   m = 0.1*0.5 = 0.05, v = 0.001*0.25 = 0.00025, step_size = 0.1/0.1 = 1,
     *   bc2_sqrt = sqrt(0.001), den = sqrt(0.00025)/sqrt(0.001) + 1e-8 = 0.5 + 1e-8,
     *   p = 1 - 0.05/0.50000001 = 0.900000002 */
    float p = 1.0f, g = 0.5f, m = 0.0f, v = 0.0f, step_size, bc2;
    ref_adam_scalars(0.1, 0.9, 0.999, 1, &step_size, &bc2);
    TPT_CHECK(std::fabs(step_size - 1.0f) < 1e-6f, "step_size %.9g", step_size);
    TPT_CHECK(std::fabs(bc2 - 0.0316227766f) < 1e-8f, "bc2_sqrt %.9g", bc2);
    ref_adam_step(&p, &g, &m, &v, 1, 0.9f, 0.999f, step_size, bc2, 1e-8f, 0.0f, 1.0f, 1.0f);
    TPT_CHECK(tpt::close(m, 0.05, 0, 1e-6), "m %.9g", m);
    TPT_CHECK(tpt::close(v, 0.00025, 0, 1e-4), "v %.9g", v); /* 1 - 0.999f = 0.00099998713 */
    TPT_CHECK(std::fabs(p - 0.9f) < 1e-6f, "p %.9g", p);

    /* Step 2 with g = -0.5 (state from step 1):
     *   m = 0.9*0.05 + 0.1*(-0.5) = -0.005, v = 0.999*0.00025 + 0.001*0.25 = 0.00049975,
     *   step_size = 0.1/(1-0.81) = 0.526315789, bc2_sqrt = sqrt(1-0.998001) = 0.0447101778,
     *   den = sqrt(0.00049975)/0.0447101778 + 1e-8 = 0.02235509/0.0447101778 = 0.5000000...,
     *   p = 0.9 - 0.526315789*(-0.005)/0.5 = 0.9 + 0.00526315789 = 0.905263158 */
    g = -0.5f;
    ref_adam_scalars(0.1, 0.9, 0.999, 2, &step_size, &bc2);
    ref_adam_step(&p, &g, &m, &v, 1, 0.9f, 0.999f, step_size, bc2, 1e-8f, 0.0f, 1.0f, 1.0f);
    TPT_CHECK(tpt::close(m, -0.005, 0, 1e-5), "m %.9g", m);
    TPT_CHECK(tpt::close(v, 0.00049975, 0, 1e-4), "v %.9g", v);
    TPT_CHECK(std::fabs(p - 0.905263158f) < 2e-6f, "p %.9g", p);

    /* AdamW: p = 1, lr = 0.1, wd = 0.1 => decay_factor = 0.99 applied before the update:
     * p = 0.99 - 1*0.05/(0.5+1e-8) = 0.89 */
    p = 1.0f; g = 0.5f; m = 0.0f; v = 0.0f;
    ref_adam_scalars(0.1, 0.9, 0.999, 1, &step_size, &bc2);
    ref_adam_step(&p, &g, &m, &v, 1, 0.9f, 0.999f, step_size, bc2, 1e-8f, 0.0f, 0.99f, 1.0f);
    TPT_CHECK(std::fabs(p - 0.89f) < 1e-6f, "adamw p %.9g", p);

    /* Adam with L2: g_eff = 0.5 + 0.5*1 = 1 => m = 0.1, v = 0.001, den = 1 + 1e-8, p = 1 - 0.1 */
    p = 1.0f; g = 0.5f; m = 0.0f; v = 0.0f;
    ref_adam_step(&p, &g, &m, &v, 1, 0.9f, 0.999f, step_size, bc2, 1e-8f, 0.5f, 1.0f, 1.0f);
    TPT_CHECK(tpt::close(m, 0.1, 0, 1e-6), "l2 m %.9g", m);
    TPT_CHECK(tpt::close(v, 0.001, 0, 1e-4), "l2 v %.9g", v);
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
    float step_size, bc2;
    ref_adam_scalars(lr, 0.9, 0.999, 1, &step_size, &bc2);
    ref_adam_step(p.data(), g.data(), m.data(), v.data(), n, 0.9f, 0.999f, step_size, bc2, 1e-8f,
                  0.0f, 1.0f, 1.0f);
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
    ref_adam_step(p.data(), g.data(), m.data(), v.data(), n, 0.9f, 0.999f, 1e-3f, 0.5f, 1e-8f, 0.0f, 1.0f, 1.0f);
    ref_adam_step(p2.data(), g2.data(), m2.data(), v2.data(), n, 0.9f, 0.999f, 1e-3f, 0.5f, 1e-8f, 0.0f, 1.0f, 0.5f);
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

static void test_segmented_norms()
{
    /* layout with empty tensors at the start, middle and end */
    const float g[] = {1, 2, 3, 4, 5, 6, 7};
    const int64_t offsets[] = {0, 0, 3, 3, 7, 7};
    double out[6];
    int flag = -1;
    TPT_CHECK(ref_segmented_norms(g, offsets, 5, out, &flag) == 0, "valid layout rejected");
    const double want[6] = {0, 1 + 4 + 9, 0, 16 + 25 + 36 + 49, 0, 140};
    for (int t = 0; t < 6; ++t) TPT_CHECK(out[t] == want[t], "tensor %d: %.17g want %.17g", t, out[t], want[t]);
    TPT_CHECK(flag == 0, "finite data flagged");

    /* no tensors: total 0 */
    const int64_t none[] = {0};
    TPT_CHECK(ref_segmented_norms(g, none, 0, out, &flag) == 0 && out[0] == 0.0 && flag == 0, "empty layout");

    /* non-finite flag: NaN, +Inf, -Inf anywhere; the largest finite float is fine */
    const float specials[] = {NAN, INFINITY, -INFINITY};
    for (float s : specials) {
        float h[7] = {1, 2, 3, 4, 5, 6, 7};
        h[5] = s;
        flag = 0;
        ref_segmented_norms(h, offsets, 5, out, &flag);
        TPT_CHECK(flag == 1, "non-finite %g not flagged", (double)s);
    }
    float big[3] = {std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(), 1.0f};
    const int64_t one[] = {0, 3};
    ref_segmented_norms(big, one, 1, out, &flag);
    TPT_CHECK(flag == 0 && std::isfinite(out[1]), "FLT_MAX squared must stay finite in double");

    /* invalid layouts */
    const int64_t bad1[] = {1, 3};
    const int64_t bad2[] = {0, 3, 2};
    TPT_CHECK(ref_segmented_norms(g, bad1, 1, out, &flag) != 0, "offsets[0] != 0 accepted");
    TPT_CHECK(ref_segmented_norms(g, bad2, 2, out, &flag) != 0, "decreasing offsets accepted");

    /* total = sum of per-tensor sums, and equals a plain sum of squares */
    Rng rng(5);
    const int nt = 50;
    std::vector<int64_t> off(nt + 1, 0);
    for (int t = 0; t < nt; ++t) off[t + 1] = off[t] + (t % 5 == 0 ? 0 : rng.below(1000));
    std::vector<float> data = tpt::random_vector(rng, off[nt]);
    std::vector<double> res(nt + 1);
    ref_segmented_norms(data.data(), off.data(), nt, res.data(), &flag);
    double tot = 0, plain = 0;
    for (int t = 0; t < nt; ++t) tot += res[t];
    for (float x : data) plain += (double)x * x;
    TPT_CHECK(res[nt] == tot, "total %.17g vs %.17g", res[nt], tot);
    TPT_CHECK(tpt::close(res[nt], plain, 0, 1e-12), "total %.17g vs plain %.17g", res[nt], plain);
}

int main()
{
    test_adam_hand_checked();
    test_adam_first_step_moves_by_lr();
    test_adam_grad_scale();
    test_multi_dot();
    test_cg_direction_and_trial_point();
    test_segmented_norms();
    return tpt::finish("test_reference");
}
