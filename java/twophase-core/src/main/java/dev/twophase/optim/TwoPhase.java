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
 *
 * <p>{@link #state()} saves the phase, the switch bookkeeping and the nested states of Adam
 * ({@code adam.*}), CG ({@code cg.*}) and the switch rule ({@code rule.*}) in the
 * {@link OptimizerState} format; {@link #load} on a fresh TwoPhase with the same settings
 * continues the run bit for bit. After {@link #close()} the methods that step or save throw
 * {@link IllegalStateException}.
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
    private boolean closed;

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
        return adamStep(params, grads, 1.0);
    }

    /** One Adam step with the caller's mini-batch gradient multiplied by {@code gradScale} (see {@link Adam#step(Buffer, Buffer, double)}). */
    public Adam.StepResult adamStep(Buffer params, Buffer grads, double gradScale) {
        requirePhase(Phase.ADAM, "adamStep");
        Adam.StepResult r = adam.step(params, grads, gradScale);
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

    /**
     * Everything needed to continue this run elsewhere: phase, Adam epochs counted, switch epoch,
     * whether CG fell back, the running sum of the current epoch's mini-batch norms, and the
     * nested states of Adam, CG and the rule. The parameters belong to the caller.
     */
    public OptimizerState state() {
        checkOpen("state");
        return new OptimizerState()
                .putString("optimizer", "two-phase")
                .putString("normMeasure", measure.id())
                .putString("phase", phase.name())
                .putBoolean("fellBack", fellBack)
                .putLong("adamEpochs", adamEpochs)
                .putLong("switchEpoch", switchEpoch == null ? -1 : switchEpoch)
                .putDouble("epochNormSum", epochNormSum)
                .putLong("epochSteps", epochSteps)
                .putAll("adam", adam.state())
                .putAll("cg", cg.state())
                .putAll("rule", rule.state());
    }

    /**
     * Restores a state from {@link #state()} of a TwoPhase with the same layout, norm measure,
     * rule and CG formula: the next call continues the run bit for bit on the parameters the
     * caller passes (those the state was saved with). The settings are checked before anything
     * changes.
     */
    public void load(OptimizerState s) {
        checkOpen("load");
        s.require("optimizer", "two-phase");
        s.require("normMeasure", measure.id());
        Phase savedPhase;
        try {
            savedPhase = Phase.valueOf(s.getString("phase"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("two-phase state has phase '" + s.getString("phase") + "'; expected one of " + java.util.Arrays.toString(Phase.values()));
        }
        long epochs = s.getLong("adamEpochs"), switched = s.getLong("switchEpoch"), steps = s.getLong("epochSteps");
        if (epochs < 0 || switched < -1 || switched > epochs || steps < 0) {
            throw new IllegalArgumentException("two-phase state has adamEpochs " + epochs + ", switchEpoch " + switched + ", epochSteps " + steps
                    + "; expected counts >= 0 and a switch epoch of -1 (none) up to adamEpochs");
        }
        OptimizerState adamState = s.nested("adam"), cgState = s.nested("cg"), ruleState = s.nested("rule");
        adamState.require("optimizer", "adam");
        ruleState.require("rule", rule.describe());
        cgState.require("formula", cg.config().formula().id());
        if (cgState.getLong("length") != layout.size()) {
            throw new IllegalArgumentException("CG state is for " + cgState.getLong("length") + " parameters; this TwoPhase has " + layout.size());
        }
        adam.load(adamState);
        cg.load(cgState);
        rule.load(ruleState);
        phase = savedPhase;
        fellBack = s.getBoolean("fellBack");
        adamEpochs = (int) epochs;
        switchEpoch = switched < 0 ? null : (int) switched;
        epochNormSum = s.getDouble("epochNormSum");
        epochSteps = (int) steps;
    }

    private void requirePhase(Phase want, String call) {
        checkOpen(call);
        if (phase != want) throw new IllegalStateException(call + " called in phase " + phase + "; it belongs to phase " + want);
    }

    private void checkOpen(String call) {
        if (closed) throw new IllegalStateException("TwoPhase." + call + ": this TwoPhase is closed");
    }

    /** Releases Adam's and CG's buffers; idempotent. */
    @Override public void close() {
        if (closed) return;
        closed = true;
        adam.close();
        cg.close();
        if (fullBatchGrad != null) fullBatchGrad.close();
    }
}
