/* twophase: CPU references; see reference.h. Build with -ffp-contract=off. */
#include "reference.h"

#include <math.h>

#include <algorithm>
#include <cmath>

#include "twophase.h"

extern "C" void ref_adam_step(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                              int64_t n, float beta1, float one_minus_beta1, float beta2,
                              float one_minus_beta2, float step_size, float bias_correction2_sqrt,
                              float eps, float l2_weight_decay, float decay_factor, float grad_scale)
{
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

extern "C" RefAdamScalars ref_adam_scalars(double lr, double beta1, double beta2, int64_t t)
{
    const double bc1 = 1.0 - std::pow(beta1, (double)t);
    const double bc2 = 1.0 - std::pow(beta2, (double)t);
    RefAdamScalars s;
    s.beta1 = (float)beta1;
    s.one_minus_beta1 = (float)(1.0 - beta1);
    s.beta2 = (float)beta2;
    s.one_minus_beta2 = (float)(1.0 - beta2);
    s.step_size = (float)(lr / bc1);
    s.bias_correction2_sqrt = (float)std::sqrt(bc2);
    return s;
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

extern "C" void ref_axpy(float a, const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; ++i) y[i] = y[i] + a * x[i];
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

/* ------------------------------------------------------------------ model ops */

extern "C" void ref_add_bias(float *y, const float *bias, int64_t rows, int cols)
{
    for (int64_t r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) y[r * cols + c] = y[r * cols + c] + bias[c];
}

extern "C" void ref_bias_grad(const float *dy, float *dbias, int64_t rows, int cols)
{
    for (int c = 0; c < cols; ++c) {
        double acc = 0.0;
        for (int64_t r = 0; r < rows; ++r) acc += dy[r * cols + c];
        dbias[c] = dbias[c] + (float)acc;
    }
}

/* GELU, tanh approximation, from its definition (Hendrycks & Gimpel):
 *   gelu(x) = x Phi(x),  Phi(x) = (1 + tanh u) / 2,  u = sqrt(2/pi) (x + 0.044715 x^3)
 *   gelu'(x) = Phi + x Phi',  Phi' = (1 - tanh^2 u) u' / 2,  u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
 * in long double, with the exact identities (1 + tanh u) / 2 = 1 / (1 + e^-2u) and
 * (1 - tanh^2 u) / 2 = 2 Phi (1 - Phi), 1 - Phi = 1 / (1 + e^2u): 1 + tanh u itself would lose
 * every digit where tanh u is near -1 (x < -3). Independent of the kernels' float formulas. */
static const long double kSqrt2OverPi = 0.797884560802865355879892119868763737L;
static const long double kGeluA = 0.044715L;

static long double gelu_u(float x)
{
    const long double lx = x;
    return kSqrt2OverPi * (lx + kGeluA * lx * lx * lx);
}

static long double gelu_phi(long double u) { return 1.0L / (1.0L + expl(-2.0L * u)); }
static long double gelu_one_minus_phi(long double u) { return 1.0L / (1.0L + expl(2.0L * u)); }

static long double gelu_du(float x)
{
    const long double lx = x;
    return kSqrt2OverPi * (1.0L + 3.0L * kGeluA * lx * lx);
}

static long double gelu_derivative(float x)
{
    const long double u = gelu_u(x), phi = gelu_phi(u);
    return phi + (long double)x * 2.0L * phi * gelu_one_minus_phi(u) * gelu_du(x);
}

extern "C" void ref_gelu_terms(float x, RefGeluTerms *terms)
{
    const long double u = gelu_u(x);
    terms->u = (double)u;
    terms->phi = (double)gelu_phi(u);
    terms->one_minus_phi = (double)gelu_one_minus_phi(u);
    terms->du = (double)gelu_du(x);
}

extern "C" float ref_activation(int act, float x)
{
    switch (act) {
    case TP_ACT_IDENTITY: return x;
    case TP_ACT_RELU: return x > 0.0f ? x : (std::isnan(x) ? x : 0.0f);
    case TP_ACT_TANH: return (float)std::tanh((double)x);
    case TP_ACT_SIGMOID: return (float)(1.0 / (1.0 + std::exp(-(double)x)));
    case TP_ACT_GELU: return (float)((long double)x * gelu_phi(gelu_u(x)));
    default: return NAN;
    }
}

extern "C" float ref_activation_backward(int act, float x, float y, float dy)
{
    switch (act) {
    case TP_ACT_IDENTITY: return dy;
    case TP_ACT_RELU: return x > 0.0f ? dy : 0.0f;
    case TP_ACT_TANH: return dy * (1.0f - y * y);
    case TP_ACT_SIGMOID: return dy * (y * (1.0f - y));
    case TP_ACT_GELU: return (float)((long double)dy * gelu_derivative(x));
    default: return NAN;
    }
}

extern "C" double ref_squared_error(const float *out, const float *target, int64_t n, float grad_scale, float *dout)
{
    const float two_scale = 2.0f * grad_scale;
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const float diff = out[i] - target[i];
        s += (double)diff * (double)diff;
        if (dout != nullptr) dout[i] = two_scale * diff;
    }
    return s;
}

extern "C" double ref_softmax_cross_entropy(const float *logits, const float *target, int64_t rows, int cols,
                                            float grad_scale, float *dout)
{
    double total = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
        const float *l = logits + r * cols;
        const float *t = target + r * cols;
        float mx = -INFINITY;
        for (int c = 0; c < cols; ++c) mx = std::isnan(mx) || std::isnan(l[c]) ? NAN : std::max(mx, l[c]);
        double sum = 0.0;
        for (int c = 0; c < cols; ++c) sum += std::exp((double)(l[c] - mx));
        const double log_sum = std::log(sum) + (double)mx;
        double loss = 0.0;
        for (int c = 0; c < cols; ++c) {
            const double logp = (double)l[c] - log_sum;
            if (t[c] != 0.0f) loss -= (double)t[c] * logp;
            if (dout != nullptr) dout[r * cols + c] = grad_scale * (float)(std::exp(logp) - (double)t[c]);
        }
        total += loss;
    }
    return total;
}

extern "C" void ref_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                          const float *b, int ldb, float beta, float *c, int ldc)
{
    for (int i = 0; i < m; ++i) {
        for (int j = 0; j < n; ++j) {
            double acc = 0.0;
            for (int p = 0; p < k; ++p) {
                const float av = trans_a ? a[(int64_t)p * lda + i] : a[(int64_t)i * lda + p];
                const float bv = trans_b ? b[(int64_t)j * ldb + p] : b[(int64_t)p * ldb + j];
                acc += (double)av * (double)bv;
            }
            float *out = c + (int64_t)i * ldc + j;
            *out = beta == 0.0f ? (float)(alpha * acc) : (float)(alpha * acc + (double)beta * (double)*out);
        }
    }
}

/* ------------------------------------------------------------------ training data */

/* v as a whole number in [0, limit), or -1 */
static int64_t ref_whole(float v, int64_t limit)
{
    if (!std::isfinite(v) || std::trunc(v) != v) return -1;
    const long double k = v;
    return k >= 0 && k < (long double)limit ? (int64_t)k : -1;
}

extern "C" void ref_gather_rows(const float *src, int64_t src_rows, int cols, const float *idx, int64_t rows, float *dst)
{
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t s = ref_whole(idx[r], src_rows);
        for (int c = 0; c < cols; ++c) dst[r * cols + c] = s < 0 ? NAN : src[s * cols + c];
    }
}

extern "C" void ref_one_hot(const float *labels, int64_t rows, int classes, float *dst)
{
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t label = ref_whole(labels[r], classes);
        for (int c = 0; c < classes; ++c) dst[r * classes + c] = label < 0 ? NAN : (c == label ? 1.0f : 0.0f);
    }
}

extern "C" int64_t ref_count_correct(const float *out, const float *labels, int64_t rows, int cols)
{
    int64_t correct = 0;
    for (int64_t r = 0; r < rows; ++r) {
        const float *o = out + r * cols;
        const float top = *std::max_element(o, o + cols);
        const int64_t first = std::find(o, o + cols, top) - o;
        const int64_t label = ref_whole(labels[r], cols);
        if (label < 0) return -1;
        if (label == first) ++correct;
    }
    return correct;
}
