package dev.twophase.optim;

import dev.twophase.backend.AdamScalars;
import dev.twophase.backend.AdamUpdate;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.GradientNorms;
import dev.twophase.backend.VectorBackend;
import dev.twophase.tensor.ParameterLayout;
import dev.twophase.tensor.TensorView;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Adam / AdamW (optionally AMSGrad, optionally with weight decay by tensor) over a flat parameter
 * buffer, driven step by step with gradients the caller computed, so any JVM trainer can use it.
 * Each step first reduces the gradient's per-tensor norms (the non-finite check, and the norm the
 * switch rule watches), then runs the fused update. A gradient with a NaN or infinity is never
 * applied: the step is skipped, the step counter stays, and the result says so.
 *
 * <p>The learning rate can be changed between steps ({@link #setLearningRate}) or follow a
 * {@link LearningRateSchedule}. {@link #state()} and {@link #load} save and restore everything a
 * run needs to continue bit for bit (moments, step counter, base learning rate). After
 * {@link #close()} every method but the getters of the configuration throws
 * {@link IllegalStateException}.
 */
public final class Adam implements AutoCloseable {
    private final VectorBackend backend;
    private final ParameterLayout layout;
    private final long[] offsets;
    private final AdamConfig config;
    /** Runs of adjacent tensors with the same weight decay: the segments of every step's {@link AdamUpdate}. */
    private final long[] runOffsets;
    private final double[] runWeightDecay;
    private final Buffer expAvg, expAvgSq, maxExpAvgSq;
    private double learningRate;
    private LearningRateSchedule schedule;
    private long step;
    private long skipped;
    private boolean closed;

    /** The outcome of one step: the step number reached, the learning rate applied (NaN when skipped), the gradient's norms, and whether it was skipped. */
    public record StepResult(long step, double learningRate, GradientNorms gradientNorms, boolean skipped) {
        public double gradientNorm() { return gradientNorms.total(); }
    }

    /**
     * Adam on {@code backend} for parameters laid out as {@code layout}; allocates the moments
     * (and AMSGrad's maximum), zero. Rules of {@link AdamConfig#withWeightDecay(String, double)}
     * must name tensors of the layout.
     */
    public Adam(VectorBackend backend, ParameterLayout layout, AdamConfig config) {
        this.backend = Objects.requireNonNull(backend, "backend");
        this.layout = Objects.requireNonNull(layout, "layout");
        this.config = Objects.requireNonNull(config, "config");
        this.offsets = layout.offsets();
        for (AdamConfig.TensorDecay r : config.weightDecayRules()) {
            if (r.tensorName() != null && layout.views().stream().noneMatch(v -> v.name().equals(r.tensorName()))) {
                List<String> names = layout.views().stream().map(TensorView::name).toList();
                throw new IllegalArgumentException("AdamConfig: weight decay for tensor '" + r.tensorName() + "', but the layout has no such tensor; it has " + names);
            }
        }
        List<Long> starts = new ArrayList<>();
        List<Double> decays = new ArrayList<>();
        for (TensorView v : layout.views()) {
            double wd = config.weightDecayOf(v);
            if (decays.isEmpty() || Double.compare(decays.getLast(), wd) != 0) {
                starts.add(v.offset());
                decays.add(wd);
            }
        }
        if (decays.isEmpty()) {  // a layout without tensors: one empty segment
            starts.add(0L);
            decays.add(config.weightDecay());
        }
        this.runOffsets = new long[starts.size() + 1];
        this.runWeightDecay = new double[decays.size()];
        for (int i = 0; i < decays.size(); i++) {
            runOffsets[i] = starts.get(i);
            runWeightDecay[i] = decays.get(i);
        }
        runOffsets[decays.size()] = layout.size();
        this.learningRate = config.lr();
        this.expAvg = backend.allocate(layout.size());
        this.expAvgSq = backend.allocate(layout.size());
        this.maxExpAvgSq = config.amsgrad() ? backend.allocate(layout.size()) : null;
    }

    public StepResult step(Buffer params, Buffer grads) {
        return step(params, grads, 1.0);
    }

    /**
     * One step with gradients multiplied by {@code gradScale} (finite, {@code > 0}; for callers that
     * scale their loss, or that sum where their loss averages); the non-finite check applies to the
     * unscaled gradient.
     */
    public StepResult step(Buffer params, Buffer grads, double gradScale) {
        checkOpen("step");
        checkLength("params", params);
        checkLength("grads", grads);
        if (!(gradScale > 0) || Double.isInfinite(gradScale)) {
            // A negative scale would climb the loss, and 0 would decay the moments without any gradient.
            throw new IllegalArgumentException("Adam.step: gradScale = " + gradScale + "; expected a finite value > 0");
        }
        GradientNorms norms = backend.segmentedNorms(grads, offsets);
        if (norms.nonFinite()) {
            skipped++;
            return new StepResult(step, Double.NaN, norms, true);
        }
        long t = step + 1;
        double lr = schedule == null ? learningRate : schedule.learningRate(t, learningRate);
        if (!(lr >= 0) || Double.isInfinite(lr)) {
            throw new IllegalArgumentException("Adam.step: the learning-rate schedule returned " + lr + " for step " + t + "; expected a finite value >= 0");
        }
        AdamScalars[] scalars = new AdamScalars[runWeightDecay.length];
        for (int i = 0; i < scalars.length; i++) {
            scalars[i] = AdamScalars.forStep(t, lr, config.beta1(), config.beta2(), config.eps(), runWeightDecay[i], config.decoupled(), gradScale);
        }
        backend.adamStep(new AdamUpdate(runOffsets, scalars), params, grads, expAvg, expAvgSq, maxExpAvgSq);
        step = t;
        return new StepResult(step, lr, norms, false);
    }

    /** Sets the base learning rate (the config's until changed); the next step uses it, through the schedule if one is set. */
    public void setLearningRate(double lr) {
        checkOpen("setLearningRate");
        Checks.positive("lr", lr);
        learningRate = lr;
    }

    /** The base learning rate: the config's, or the last {@link #setLearningRate}. */
    public double learningRate() { return learningRate; }

    /** Evaluates {@code schedule} before every applied step; null goes back to the base learning rate. */
    public void setSchedule(LearningRateSchedule schedule) {
        checkOpen("setSchedule");
        this.schedule = schedule;
    }

    /** Steps applied so far (skipped steps not counted). */
    public long stepCount() { return step; }

    /** Steps skipped because the gradient was not finite. */
    public long skippedCount() { return skipped; }

    public AdamConfig config() { return config; }

    public ParameterLayout layout() { return layout; }

    /** The weight decay applied to tensor {@code name} (after the config's per-tensor rules). */
    public double weightDecay(String name) {
        TensorView v = layout.view(name);
        return config.weightDecayOf(v);
    }

    /** First moment (m), for inspection and parity tests. */
    public Buffer expAvg() { return expAvg; }

    /** Second moment (v), for inspection and parity tests. */
    public Buffer expAvgSq() { return expAvgSq; }

    /** AMSGrad's running maximum of v, or null without AMSGrad. */
    public Buffer maxExpAvgSq() { return maxExpAvgSq; }

    /**
     * Everything needed to continue this run elsewhere: the moments (and AMSGrad's maximum), the
     * step and skip counters and the base learning rate, with the length and AMSGrad setting to
     * check against. The parameters belong to the caller; a schedule is code and not saved.
     */
    public OptimizerState state() {
        checkOpen("state");
        OptimizerState s = new OptimizerState()
                .putString("optimizer", "adam")
                .putLong("length", layout.size())
                .putBoolean("amsgrad", config.amsgrad())
                .putLong("step", step)
                .putLong("skipped", skipped)
                .putDouble("learningRate", learningRate)
                .putFloats("expAvg", download(expAvg))
                .putFloats("expAvgSq", download(expAvgSq));
        if (maxExpAvgSq != null) s.putFloats("maxExpAvgSq", download(maxExpAvgSq));
        return s;
    }

    /**
     * Restores a state from {@link #state()}: the next step continues it, bit for bit, on the
     * parameters the caller passes (which must be those the state was saved with). Everything is
     * checked before anything changes, so a state that does not fit leaves this Adam as it was.
     */
    public void load(OptimizerState s) {
        checkOpen("load");
        s.require("optimizer", "adam");
        long length = s.getLong("length");
        if (length != layout.size()) throw new IllegalArgumentException("Adam state is for " + length + " parameters; this Adam has " + layout.size());
        boolean amsgrad = s.getBoolean("amsgrad");
        if (amsgrad != config.amsgrad()) {
            throw new IllegalArgumentException("Adam state was saved with amsgrad = " + amsgrad + "; this Adam has amsgrad = " + config.amsgrad());
        }
        long savedStep = s.getLong("step"), savedSkipped = s.getLong("skipped");
        if (savedStep < 0 || savedSkipped < 0) throw new IllegalArgumentException("Adam state has step " + savedStep + ", skipped " + savedSkipped + "; expected counts >= 0");
        double lr = s.getDouble("learningRate");
        Checks.positive("learningRate in the Adam state", lr);
        float[] m = floats(s, "expAvg"), v = floats(s, "expAvgSq"), vMax = amsgrad ? floats(s, "maxExpAvgSq") : null;
        backend.upload(m, expAvg);
        backend.upload(v, expAvgSq);
        if (vMax != null) backend.upload(vMax, maxExpAvgSq);
        step = savedStep;
        skipped = savedSkipped;
        learningRate = lr;
    }

    private float[] floats(OptimizerState s, String name) {
        float[] a = s.floats(name);
        if (a.length != layout.size()) throw new IllegalArgumentException("Adam state: " + name + " has " + a.length + " floats; expected " + layout.size());
        return a;
    }

    private float[] download(Buffer b) {
        float[] a = new float[Math.toIntExact(b.length())];
        backend.download(b, a);
        return a;
    }

    private void checkLength(String what, Buffer b) {
        Objects.requireNonNull(b, () -> "Adam.step: " + what + " is null");
        if (b.length() != layout.size()) {
            throw new IllegalArgumentException("Adam.step: " + what + " has " + b.length() + " floats; the layout has " + layout.size());
        }
    }

    private void checkOpen(String call) {
        if (closed) throw new IllegalStateException("Adam." + call + ": this Adam is closed");
    }

    /** Releases the moments; idempotent. */
    @Override public void close() {
        if (closed) return;
        closed = true;
        expAvg.close();
        expAvgSq.close();
        if (maxExpAvgSq != null) maxExpAvgSq.close();
    }
}
