/* twophase: CPU references; see reference.h. Build with -ffp-contract=off. */
#include "reference.h"

#include <math.h>

#include <algorithm>
#include <cmath>
#include <vector>

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

extern "C" void ref_adam_segments(float *param, const float *grad, float *exp_avg, float *exp_avg_sq, float *vmax,
                                  int64_t n, const int64_t *offsets, const float *scalars, int nsegments)
{
    (void)n; /* offsets[nsegments] == n: the segments cover the buffer */
    for (int k = 0; k < nsegments; ++k) {
        const float *s = scalars + (int64_t)k * TP_ADAM_SCALARS;
        const float beta1 = s[0], one_minus_beta1 = s[1], beta2 = s[2], one_minus_beta2 = s[3], step_size = s[4],
                    bias_correction2_sqrt = s[5], eps = s[6], l2_weight_decay = s[7], decay_factor = s[8],
                    grad_scale = s[9];
        for (int64_t i = offsets[k]; i < offsets[k + 1]; ++i) {
            float p = param[i], m = exp_avg[i], v = exp_avg_sq[i];
            const float gs = grad[i] * grad_scale + l2_weight_decay * p;
            p = p * decay_factor;
            m = beta1 * m + one_minus_beta1 * gs;
            v = beta2 * v + one_minus_beta2 * gs * gs;
            float second = v;
            if (vmax != nullptr) {
                vmax[i] = ref_java_max(vmax[i], v); /* IEEE 754-2019 maximum */
                second = vmax[i];
            }
            const float den = std::sqrt(second) / bias_correction2_sqrt + eps;
            param[i] = p - step_size * m / den;
            exp_avg[i] = m;
            exp_avg_sq[i] = v;
        }
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
                                   double *sumsq_out, float *maxabs_out, int *nonfinite_out)
{
    if (ntensors < 0 || offsets[0] != 0) return 1;
    for (int t = 0; t < ntensors; ++t)
        if (offsets[t + 1] < offsets[t]) return 1;
    int nonfinite = 0;
    double total = 0.0;
    bool any_nan = false;
    float largest = 0.0f;
    for (int t = 0; t < ntensors; ++t) {
        double s = 0.0;
        bool nan_here = false;
        float m = 0.0f;
        for (int64_t i = offsets[t]; i < offsets[t + 1]; ++i) {
            const float x = g[i];
            if (!std::isfinite(x)) nonfinite = 1;
            s += (double)x * (double)x;
            if (std::isnan(x)) nan_here = true;
            else m = std::max(m, std::fabs(x));
        }
        sumsq_out[t] = s;
        total += s;
        maxabs_out[t] = nan_here ? NAN : m;
        any_nan = any_nan || nan_here;
        if (!nan_here) largest = std::max(largest, m);
    }
    sumsq_out[ntensors] = total;
    maxabs_out[ntensors] = any_nan ? NAN : largest;
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

/* ------------------------------------------------------------------ conv ops */

extern "C" int ref_conv_out_height(const RefConvShape *s) { return (s->height + 2 * s->pad - s->kernel) / s->stride + 1; }
extern "C" int ref_conv_out_width(const RefConvShape *s) { return (s->width + 2 * s->pad - s->kernel) / s->stride + 1; }

/* Offset of input pixel (b, iy, ix), or -1 when (iy, ix) lies in the padding. */
static int64_t ref_pixel(const RefConvShape *s, int b, int iy, int ix)
{
    if (iy < 0 || iy >= s->height || ix < 0 || ix >= s->width) return -1;
    return (((int64_t)b * s->height + iy) * s->width + ix) * s->channels;
}

extern "C" void ref_im2col(const RefConvShape *s, const float *x, float *cols)
{
    const int oh = ref_conv_out_height(s), ow = ref_conv_out_width(s), k = s->kernel, c = s->channels;
    int64_t at = 0;
    for (int b = 0; b < s->batch; ++b)
        for (int oy = 0; oy < oh; ++oy)
            for (int ox = 0; ox < ow; ++ox)
                for (int ky = 0; ky < k; ++ky)
                    for (int kx = 0; kx < k; ++kx) {
                        const int64_t in = ref_pixel(s, b, oy * s->stride - s->pad + ky, ox * s->stride - s->pad + kx);
                        for (int ch = 0; ch < c; ++ch) cols[at++] = in < 0 ? 0.0f : x[in + ch];
                    }
}

extern "C" void ref_col2im(const RefConvShape *s, const float *cols, float *dx)
{
    const int oh = ref_conv_out_height(s), ow = ref_conv_out_width(s), k = s->kernel, c = s->channels;
    const int64_t n = (int64_t)s->batch * s->height * s->width * c;
    for (int64_t i = 0; i < n; ++i) dx[i] = 0.0f;
    int64_t at = 0;
    for (int b = 0; b < s->batch; ++b)
        for (int oy = 0; oy < oh; ++oy)
            for (int ox = 0; ox < ow; ++ox)
                for (int ky = 0; ky < k; ++ky)
                    for (int kx = 0; kx < k; ++kx) {
                        const int64_t in = ref_pixel(s, b, oy * s->stride - s->pad + ky, ox * s->stride - s->pad + kx);
                        for (int ch = 0; ch < c; ++ch, ++at)
                            if (in >= 0) dx[in + ch] = dx[in + ch] + cols[at];
                    }
}

extern "C" float ref_java_max(float a, float b)
{
    if (std::isnan(a)) return a;
    if (std::isnan(b)) return b;
    if (a == 0.0f && b == 0.0f) return std::signbit(a) ? b : a;
    return a > b ? a : b;
}

extern "C" void ref_max_pool(const RefConvShape *s, const float *x, float *y)
{
    const int oh = ref_conv_out_height(s), ow = ref_conv_out_width(s), k = s->kernel, c = s->channels;
    for (int b = 0; b < s->batch; ++b)
        for (int oy = 0; oy < oh; ++oy)
            for (int ox = 0; ox < ow; ++ox)
                for (int ch = 0; ch < c; ++ch) {
                    float m = -INFINITY;
                    for (int ky = 0; ky < k; ++ky)
                        for (int kx = 0; kx < k; ++kx) {
                            const int64_t in = ref_pixel(s, b, oy * s->stride - s->pad + ky, ox * s->stride - s->pad + kx);
                            if (in >= 0) m = ref_java_max(m, x[in + ch]);
                        }
                    y[(((int64_t)b * oh + oy) * ow + ox) * c + ch] = m;
                }
}

extern "C" void ref_max_pool_backward(const RefConvShape *s, const float *x, const float *y, const float *dy, float *dx)
{
    const int oh = ref_conv_out_height(s), ow = ref_conv_out_width(s), k = s->kernel, c = s->channels;
    const int64_t n = (int64_t)s->batch * s->height * s->width * c;
    for (int64_t i = 0; i < n; ++i) dx[i] = 0.0f;
    for (int b = 0; b < s->batch; ++b)
        for (int oy = 0; oy < oh; ++oy)
            for (int ox = 0; ox < ow; ++ox)
                for (int ch = 0; ch < c; ++ch) {
                    const int64_t out = (((int64_t)b * oh + oy) * ow + ox) * c + ch;
                    int64_t first = -1;
                    for (int cell = 0; cell < k * k && first < 0; ++cell) {
                        const int64_t in = ref_pixel(s, b, oy * s->stride - s->pad + cell / k, ox * s->stride - s->pad + cell % k);
                        if (in >= 0 && x[in + ch] == y[out]) first = in + ch;
                    }
                    if (first >= 0) dx[first] = dx[first] + dy[out];
                }
}

extern "C" void ref_batched_transpose(int batch, int rows, int cols, const float *x, float *y)
{
    const int64_t m = (int64_t)rows * cols;
    for (int b = 0; b < batch; ++b)
        for (int r = 0; r < rows; ++r)
            for (int c = 0; c < cols; ++c) y[b * m + (int64_t)c * rows + r] = x[b * m + (int64_t)r * cols + c];
}

/* ---- attention, layer norm, token mean ---- */

extern "C" void ref_batched_matmul(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                                   int64_t sa_outer, int64_t sa_inner, const float *b, int ldb, int64_t sb_outer,
                                   int64_t sb_inner, float *c, int ldc, int64_t sc_outer, int64_t sc_inner,
                                   int64_t outer, int inner)
{
    for (int64_t o = 0; o < outer; ++o) {
        for (int in = 0; in < inner; ++in) {
            const float *A = a + o * sa_outer + in * sa_inner, *B = b + o * sb_outer + in * sb_inner;
            float *C = c + o * sc_outer + in * sc_inner;
            for (int i = 0; i < m; ++i) {
                for (int j = 0; j < n; ++j) {
                    float s = 0.0f;
                    for (int p = 0; p < k; ++p) {
                        const float av = trans_a ? A[(int64_t)p * lda + i] : A[(int64_t)i * lda + p];
                        const float bv = trans_b ? B[(int64_t)j * ldb + p] : B[(int64_t)p * ldb + j];
                        s += av * bv;
                    }
                    C[(int64_t)i * ldc + j] = s * alpha;
                }
            }
        }
    }
}

extern "C" void ref_attention_softmax(float *probs, int64_t rows, int cols)
{
    for (int64_t r = 0; r < rows; ++r) {
        float *p = probs + r * cols;
        float mx = -INFINITY;
        for (int j = 0; j < cols; ++j) mx = std::isnan(mx) || std::isnan(p[j]) ? NAN : std::max(mx, p[j]);
        double z = 0.0;
        for (int j = 0; j < cols; ++j) {
            p[j] = (float)std::exp((double)(p[j] - mx));
            z += p[j];
        }
        const float inv = (float)(1.0 / z);
        for (int j = 0; j < cols; ++j) p[j] *= inv;
    }
}

extern "C" void ref_attention_softmax_backward(const float *probs, float *grad, int64_t rows, int cols, float scale)
{
    for (int64_t r = 0; r < rows; ++r) {
        const float *p = probs + r * cols;
        float *g = grad + r * cols;
        float dot = 0.0f;
        for (int j = 0; j < cols; ++j) dot += g[j] * p[j];
        for (int j = 0; j < cols; ++j) g[j] = p[j] * (g[j] - dot) * scale;
    }
}

/* Offsets of token t of sequence b, head h in a (batch*tokens) x (heads*E) matrix, and of row i of
 * the (b, h) block of probs. */
static int64_t ref_token(int b, int t, int h, int tokens, int heads, int e) { return ((int64_t)b * tokens + t) * heads * e + (int64_t)h * e; }
static int64_t ref_prow(int b, int h, int i, int tokens, int heads) { return (((int64_t)b * heads + h) * tokens + i) * tokens; }

extern "C" void ref_attention_exact(int batch, int tokens, int heads, int head_dim, const float *q, const float *k,
                                    const float *v, double *scores, double *probs, double *out)
{
    const long double inv_sqrt = 1.0L / sqrtl((long double)head_dim);
    std::vector<long double> s((size_t)tokens);
    for (int b = 0; b < batch; ++b) {
        for (int h = 0; h < heads; ++h) {
            for (int i = 0; i < tokens; ++i) {
                long double mx = -INFINITY;
                for (int j = 0; j < tokens; ++j) {
                    long double dot = 0.0L;
                    for (int e = 0; e < head_dim; ++e)
                        dot += (long double)q[ref_token(b, i, h, tokens, heads, head_dim) + e] *
                               k[ref_token(b, j, h, tokens, heads, head_dim) + e];
                    s[(size_t)j] = dot * inv_sqrt;
                    mx = std::max(mx, s[(size_t)j]);
                }
                long double z = 0.0L;
                for (int j = 0; j < tokens; ++j) z += expl(s[(size_t)j] - mx);
                const int64_t row = ref_prow(b, h, i, tokens, heads);
                for (int j = 0; j < tokens; ++j) {
                    scores[row + j] = (double)s[(size_t)j];
                    probs[row + j] = (double)(expl(s[(size_t)j] - mx) / z);
                }
                for (int e = 0; e < head_dim; ++e) {
                    long double acc = 0.0L;
                    for (int j = 0; j < tokens; ++j)
                        acc += expl(s[(size_t)j] - mx) / z * v[ref_token(b, j, h, tokens, heads, head_dim) + e];
                    out[ref_token(b, i, h, tokens, heads, head_dim) + e] = (double)acc;
                }
            }
        }
    }
}

extern "C" void ref_attention_backward_exact(int batch, int tokens, int heads, int head_dim, const float *q,
                                             const float *k, const float *v, const float *probs, const float *dout,
                                             double *dq, double *dk, double *dv)
{
    const long double inv_sqrt = 1.0L / sqrtl((long double)head_dim);
    const int E = head_dim;
    std::vector<long double> ds((size_t)tokens * tokens);
    for (int b = 0; b < batch; ++b) {
        for (int h = 0; h < heads; ++h) {
            /* dS_ij = P_ij (dP_ij - sum_l P_il dP_il) / sqrt(E), dP_ij = dOut_i . v_j */
            for (int i = 0; i < tokens; ++i) {
                const float *p = probs + ref_prow(b, h, i, tokens, heads);
                std::vector<long double> dp((size_t)tokens);
                long double dot = 0.0L;
                for (int j = 0; j < tokens; ++j) {
                    long double s = 0.0L;
                    for (int e = 0; e < E; ++e)
                        s += (long double)dout[ref_token(b, i, h, tokens, heads, E) + e] * v[ref_token(b, j, h, tokens, heads, E) + e];
                    dp[(size_t)j] = s;
                    dot += s * p[j];
                }
                for (int j = 0; j < tokens; ++j) ds[(size_t)i * tokens + j] = p[j] * (dp[(size_t)j] - dot) * inv_sqrt;
            }
            for (int t = 0; t < tokens; ++t) {
                for (int e = 0; e < E; ++e) {
                    long double gq = 0.0L, gk = 0.0L, gv = 0.0L;
                    for (int u = 0; u < tokens; ++u) {
                        gq += ds[(size_t)t * tokens + u] * k[ref_token(b, u, h, tokens, heads, E) + e];
                        gk += ds[(size_t)u * tokens + t] * q[ref_token(b, u, h, tokens, heads, E) + e];
                        gv += (long double)probs[ref_prow(b, h, u, tokens, heads) + t] * dout[ref_token(b, u, h, tokens, heads, E) + e];
                    }
                    const int64_t at = ref_token(b, t, h, tokens, heads, E) + e;
                    dq[at] = (double)gq;
                    dk[at] = (double)gk;
                    dv[at] = (double)gv;
                }
            }
        }
    }
}

/* mean and var of one row in double, summed in order */
static void ref_row_moments(const float *x, int dim, double *mean, double *var)
{
    double s = 0.0;
    for (int i = 0; i < dim; ++i) s += x[i];
    *mean = s / dim;
    double sq = 0.0;
    for (int i = 0; i < dim; ++i) sq += ((double)x[i] - *mean) * ((double)x[i] - *mean);
    *var = sq / dim;
}

extern "C" void ref_layer_norm(const float *x, const float *gamma, const float *beta, float *y, int64_t rows, int dim,
                               float eps)
{
    for (int64_t r = 0; r < rows; ++r) {
        double mean = 0.0, var = 0.0;
        ref_row_moments(x + r * dim, dim, &mean, &var);
        const float mu = (float)mean, rstd = (float)(1.0 / std::sqrt(var + eps));
        for (int i = 0; i < dim; ++i) y[r * dim + i] = (x[r * dim + i] - mu) * rstd * gamma[i] + beta[i];
    }
}

extern "C" void ref_layer_norm_backward(const float *x, const float *gamma, const float *dy, float *dx, float *dgamma,
                                        float *dbeta, int64_t rows, int dim, float eps)
{
    std::vector<double> sg((size_t)dim, 0.0), sb((size_t)dim, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
        const float *xr = x + r * dim, *dyr = dy + r * dim;
        double mean = 0.0, var = 0.0;
        ref_row_moments(xr, dim, &mean, &var);
        const double rstd = 1.0 / std::sqrt(var + eps);
        double sum_g = 0.0, sum_gx = 0.0;
        for (int i = 0; i < dim; ++i) {
            const double xhat = (xr[i] - mean) * rstd, g = (double)dyr[i] * gamma[i];
            sum_g += g;
            sum_gx += g * xhat;
        }
        for (int i = 0; i < dim; ++i) {
            const double xhat = (xr[i] - mean) * rstd, g = (double)dyr[i] * gamma[i];
            dx[r * dim + i] = (float)(rstd * (g - sum_g / dim - xhat * sum_gx / dim));
            sg[(size_t)i] += dyr[i] * xhat;
            sb[(size_t)i] += dyr[i];
        }
    }
    for (int i = 0; i < dim; ++i) {
        dgamma[i] += (float)sg[(size_t)i];
        dbeta[i] += (float)sb[(size_t)i];
    }
}

extern "C" void ref_token_mean(const float *x, float *y, int64_t batch, int tokens, int dim)
{
    for (int64_t b = 0; b < batch; ++b) {
        for (int i = 0; i < dim; ++i) {
            double s = 0.0;
            for (int t = 0; t < tokens; ++t) s += x[(b * tokens + t) * dim + i];
            y[b * dim + i] = (float)(s / tokens);
        }
    }
}

extern "C" void ref_token_mean_backward(const float *dy, float *dx, int64_t batch, int tokens, int dim)
{
    const float inv = 1.0f / (float)tokens;
    for (int64_t b = 0; b < batch; ++b)
        for (int t = 0; t < tokens; ++t)
            for (int i = 0; i < dim; ++i) dx[(b * tokens + t) * dim + i] = dy[b * dim + i] * inv;
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
