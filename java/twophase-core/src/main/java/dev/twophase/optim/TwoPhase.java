package dev.twophase.optim;

import dev.twophase.backend.VectorBackend;
import dev.twophase.backend.Buffer;
import dev.twophase.tensor.ParameterLayout;

/**
 * The convexity-dependent two-phase method: Adam while the loss is non-convex, nonlinear CG once
 * the per-epoch gradient norm has passed its peak (see {@link SwitchRule}). The caller owns the
 * epoch loop, so this class embeds in any trainer:
 *
 * <pre>{@code
 * try (TwoPhase opt = new TwoPhase(backend, layout, AdamConfig.adam(), CgConfig.defaults(),
 *                                  SwitchRule.peak(0.9, 0), NormMeasure.MINIBATCH_MEAN)) {
 *     for (int epoch = 1; epoch <= epochs && opt.phase() != Phase.DONE; epoch++) {
 *         if (opt.phase() == Phase.ADAM) {
 *             for (batch : batches) { computeGradient(params, grads, batch); opt.adamStep(params, grads); }
 *             opt.endAdamEpoch(fullBatchObjective, params);
 *         } else {
 *             opt.cgIteration(fullBatchObjective, params);
 *         }
 *     }
 * }
 * }</pre>
 *
 * When CG stalls (even steepest descent finds no lower loss, typically float32 rounding near a
 * minimum) the run falls back to Adam, as the paper suggests for a practical system; the switch
 * stays one-way, so it does not return to CG. When CG reaches the "zero" gradient norm the run is
 * {@link Phase#DONE}. A diverged run is not stepped around: a NaN or infinite per-epoch norm
 * ({@link #endAdamEpoch}) or loss or gradient at CG's current point ({@link #cgIteration}) throws
 * {@link NonFiniteException}, which says which quantity and where.
 */
public final class TwoPhase implements AutoCloseable {
    public enum Phase { ADAM, CG, DONE }

    /** The end of an Adam epoch: the norm the rule saw, and whether the next epoch runs CG. */
    public record AdamEpochEnd(int epoch, double gradientNorm, boolean switched) { }

    private final VectorBackend backend;
    private final ParameterLayout layout;
    private final Adam adam;
    private final ConjugateGradient cg;
    private final SwitchRule rule;
    private final NormMeasure measure;
    private Buffer fullBatchGrad;
    private Phase phase;
    private boolean fellBack;
    private int adamEpochs;
    private Integer switchEpoch;
    private double epochNormSum;
    private int epochSteps;

    public TwoPhase(VectorBackend backend, ParameterLayout layout, AdamConfig adamConfig, CgConfig cgConfig,
                    SwitchRule rule, NormMeasure measure) {
        this.backend = backend;
        this.layout = layout;
        this.adam = new Adam(backend, layout, adamConfig);
        this.cg = new ConjugateGradient(backend, layout.size(), cgConfig);
        this.rule = rule;
        this.measure = measure;
        this.phase = rule.startsWithCg() ? Phase.CG : Phase.ADAM;
        if (phase == Phase.CG) switchEpoch = 0;
    }

    public Phase phase() { return phase; }

    /** The last Adam epoch before CG took over (0 for cg-only), or null while no switch happened. */
    public Integer switchEpoch() { return switchEpoch; }

    /** True when CG stalled and the run went back to Adam. */
    public boolean fellBackToAdam() { return fellBack; }

    /** One Adam step with the caller's mini-batch gradient. */
    public Adam.StepResult adamStep(Buffer params, Buffer grads) {
        requirePhase(Phase.ADAM, "adamStep");
        Adam.StepResult r = adam.step(params, grads);
        if (!r.skipped()) {
            epochNormSum += r.gradientNorm();
            epochSteps++;
        }
        return r;
    }

    /**
     * Ends an Adam epoch: measures its gradient norm ({@link NormMeasure}; FULL_BATCH evaluates the
     * objective's gradient at {@code params}, but only for rules that watch the norm: the others
     * get the free mini-batch mean) and lets the rule decide whether CG takes over.
     */
    public AdamEpochEnd endAdamEpoch(Objective objective, Buffer params) {
        requirePhase(Phase.ADAM, "endAdamEpoch");
        adamEpochs++;
        NormMeasure used = rule.watchesNorm() ? measure : NormMeasure.MINIBATCH_MEAN;
        double norm = switch (used) {
            case MINIBATCH_MEAN -> epochSteps == 0 ? Double.NaN : epochNormSum / epochSteps;
            case FULL_BATCH -> {
                if (fullBatchGrad == null) fullBatchGrad = backend.allocate(layout.size());
                objective.valueAndGradient(params, fullBatchGrad);
                yield backend.segmentedNorms(fullBatchGrad, layout.offsets()).total();
            }
        };
        epochNormSum = 0;
        epochSteps = 0;
        boolean switched = !fellBack && rule.switchAfter(adamEpochs, norm);
        if (switched) {
            phase = Phase.CG;
            switchEpoch = adamEpochs;
            cg.reset();
        }
        return new AdamEpochEnd(adamEpochs, norm, switched);
    }

    /** One CG iteration (one CG "epoch" in the paper's protocol). */
    public ConjugateGradient.Iteration cgIteration(Objective objective, Buffer params) {
        requirePhase(Phase.CG, "cgIteration");
        ConjugateGradient.Iteration it = cg.iterate(objective, params);
        switch (it.status()) {
            case CONVERGED -> phase = Phase.DONE;
            case STALLED -> { phase = Phase.ADAM; fellBack = true; }
            case STEPPED -> { }
        }
        return it;
    }

    public Adam adam() { return adam; }

    public ConjugateGradient cg() { return cg; }

    public SwitchRule rule() { return rule; }

    public NormMeasure normMeasure() { return measure; }

    private void requirePhase(Phase want, String call) {
        if (phase != want) throw new IllegalStateException(call + " called in phase " + phase + "; it belongs to phase " + want);
    }

    @Override public void close() {
        adam.close();
        cg.close();
        if (fullBatchGrad != null) fullBatchGrad.close();
    }
}
