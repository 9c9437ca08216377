package dev.twophase.backend;

/**
 * The per-step scalars of the fused Adam/AdamW update, computed on the host in double and
 * rounded once to float. Per element, in this order (cuda/twophase.h states the same):
 * <pre>
 *   g = grad * gradScale + l2WeightDecay * p
 *   p = p * decayFactor
 *   m = beta1 * m + oneMinusBeta1 * g
 *   v = beta2 * v + oneMinusBeta2 * g * g
 *   vMax = max(vMax, v)                                        (AMSGrad only)
 *   p = p - stepSize * m / (sqrt(v or vMax) / biasCorrection2Sqrt + eps)
 * </pre>
 * {@code 1 - beta} is rounded from double, as PyTorch does (1 - 0.999f in float is 0.00099998713,
 * a relative error of 1.3e-5 in v). Each operation is rounded separately (no fused multiply-add),
 * so the Java loop and the CUDA kernel produce the same bits. AMSGrad follows PyTorch: the
 * maximum is taken after v is updated, and the denominator uses it. {@link AdamUpdate} gives each
 * segment of the flat buffer its own scalars.
 */
public record AdamScalars(float beta1, float oneMinusBeta1, float beta2, float oneMinusBeta2, float stepSize, float biasCorrection2Sqrt, float eps,
                          float l2WeightDecay, float decayFactor, float gradScale) {

    /**
     * Scalars for step {@code t} (1-based) with PyTorch's semantics: Adam adds weight decay to the
     * gradient; AdamW ({@code decoupled}) shrinks the parameters by {@code 1 - lr * weightDecay}.
     */
    public static AdamScalars forStep(long t, double lr, double beta1, double beta2, double eps,
                                      double weightDecay, boolean decoupled, double gradScale) {
        double bc1 = 1.0 - Math.pow(beta1, t);
        double bc2 = 1.0 - Math.pow(beta2, t);
        return new AdamScalars((float) beta1, (float) (1 - beta1), (float) beta2, (float) (1 - beta2), (float) (lr / bc1), (float) Math.sqrt(bc2), (float) eps,
                decoupled ? 0f : (float) weightDecay, decoupled ? (float) (1.0 - lr * weightDecay) : 1f, (float) gradScale);
    }
}
