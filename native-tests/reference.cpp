/* twophase: CPU references; see reference.h. Build with -ffp-contract=off. */
#include "reference.h"

#include <cmath>

extern "C" void ref_adam_step(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                              int64_t n, float beta1, float beta2, float step_size,
                              float bias_correction2_sqrt, float eps, float l2_weight_decay,
                              float decay_factor, float grad_scale)
{
    const float one_minus_beta1 = 1.0f - beta1;
    const float one_minus_beta2 = 1.0f - beta2;
    for (int64_t i = 0; i < n; ++i) {
        float p = param[i], m = exp_avg[i], v = exp_avg_sq[i];
        const float gs = grad[i] * grad_scale + l2_weight_decay * p;
        p = p * decay_factor;
        m = beta1 * m + one_minus_beta1 * gs;
        v = beta2 * v + one_minus_beta2 * gs * gs;
        const float den = std::sqrt(v) / bias_correction2_sqrt + eps;
        p = p - step_size * m / den;
        param[i] = p;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
    }
}

extern "C" void ref_adam_scalars(double lr, double beta1, double beta2, int64_t t, float *step_size,
                                 float *bias_correction2_sqrt)
{
    const double bc1 = 1.0 - std::pow(beta1, (double)t);
    const double bc2 = 1.0 - std::pow(beta2, (double)t);
    *step_size = (float)(lr / bc1);
    *bias_correction2_sqrt = (float)std::sqrt(bc2);
}

extern "C" void ref_multi_dot(const float *x, const float *const *ys, int k, int64_t n, double *out)
{
    for (int j = 0; j < k; ++j) {
        double s = 0.0;
        for (int64_t i = 0; i < n; ++i) s += (double)x[i] * (double)ys[j][i];
        out[j] = s;
    }
}

extern "C" void ref_cg_direction(float *d, const float *g, float *g_prev, int64_t n, float beta)
{
    for (int64_t i = 0; i < n; ++i) {
        const float gi = g[i];
        d[i] = -gi + beta * d[i];
        g_prev[i] = gi;
    }
}

extern "C" void ref_trial_point(float *x, const float *x0, const float *d, int64_t n, float alpha)
{
    for (int64_t i = 0; i < n; ++i) x[i] = x0[i] + alpha * d[i];
}

extern "C" int ref_segmented_norms(const float *g, const int64_t *offsets, int ntensors,
                                   double *sumsq_out, int *nonfinite_out)
{
    if (ntensors < 0 || offsets[0] != 0) return 1;
    for (int t = 0; t < ntensors; ++t)
        if (offsets[t + 1] < offsets[t]) return 1;
    int nonfinite = 0;
    double total = 0.0;
    for (int t = 0; t < ntensors; ++t) {
        double s = 0.0;
        for (int64_t i = offsets[t]; i < offsets[t + 1]; ++i) {
            const float x = g[i];
            if (!std::isfinite(x)) nonfinite = 1;
            s += (double)x * (double)x;
        }
        sumsq_out[t] = s;
        total += s;
    }
    sumsq_out[ntensors] = total;
    *nonfinite_out = nonfinite;
    return 0;
}
