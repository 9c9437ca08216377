package dev.twophase.optim;

import dev.twophase.backend.AdamScalars;
import dev.twophase.backend.VectorBackend;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.GradientNorms;
import dev.twophase.tensor.ParameterLayout;

/**
 * Adam / AdamW over a flat parameter buffer, driven step by step with gradients the caller
 * computed, so any JVM trainer can use it. Each step first reduces the gradient's per-tensor norms
 * (the non-finite check, and the norm the switch rule watches), then runs the fused update. A
 * gradient with a NaN or infinity is never applied: the step is skipped, the step counter stays,
 * and the result says so.
 */
public final class Adam implements AutoCloseable {
    private final VectorBackend backend;
    private final ParameterLayout layout;
    private final long[] offsets;
    private final AdamConfig config;
    private final Buffer expAvg, expAvgSq;
    private long step;
    private long skipped;

    /** The outcome of one step: the step number reached, the gradient's norms, and whether it was skipped. */
    public record StepResult(long step, GradientNorms gradientNorms, boolean skipped) {
        public double gradientNorm() { return gradientNorms.total(); }
    }

    public Adam(VectorBackend backend, ParameterLayout layout, AdamConfig config) {
        this.backend = backend;
        this.layout = layout;
        this.offsets = layout.offsets();
        this.config = config;
        this.expAvg = backend.allocate(layout.size());
        this.expAvgSq = backend.allocate(layout.size());
    }

    public StepResult step(Buffer params, Buffer grads) {
        return step(params, grads, 1.0);
    }

    /**
     * One step with gradients multiplied by {@code gradScale} (for callers that scale their loss);
     * the non-finite check applies to the unscaled gradient.
     */
    public StepResult step(Buffer params, Buffer grads, double gradScale) {
        checkLength("params", params);
        checkLength("grads", grads);
        GradientNorms norms = backend.segmentedNorms(grads, offsets);
        if (norms.nonFinite()) {
            skipped++;
            return new StepResult(step, norms, true);
        }
        step++;
        AdamScalars s = AdamScalars.forStep(step, config.lr(), config.beta1(), config.beta2(), config.eps(),
                config.weightDecay(), config.decoupled(), gradScale);
        backend.adamStep(s, params, grads, expAvg, expAvgSq);
        return new StepResult(step, norms, false);
    }

    /** Steps applied so far (skipped steps not counted). */
    public long stepCount() { return step; }

    /** Steps skipped because the gradient was not finite. */
    public long skippedCount() { return skipped; }

    public AdamConfig config() { return config; }

    /** First moment (m), for inspection and parity tests. */
    public Buffer expAvg() { return expAvg; }

    /** Second moment (v), for inspection and parity tests. */
    public Buffer expAvgSq() { return expAvgSq; }

    private void checkLength(String what, Buffer b) {
        if (b.length() != layout.size()) {
            throw new IllegalArgumentException("Adam: " + what + " has " + b.length() + " floats; the layout has " + layout.size());
        }
    }

    @Override public void close() {
        expAvg.close();
        expAvgSq.close();
    }
}
