package dev.twophase.optim;

import dev.twophase.backend.VectorBackend;
import dev.twophase.backend.Buffer;

/**
 * Nonlinear Conjugate Gradient on a full-batch {@link Objective} (Numerical Recipes' frprmn
 * structure): one {@link #iterate} is one line search along d followed by one gradient at the
 * new point and the direction update {@code d = -g + beta d}.
 *
 * <p>Restarts to steepest descent: on the first iteration, whenever the new direction is not a
 * descent direction ({@code d.g >= 0}), every {@code restartEvery} iterations if set, and when a
 * line search along a conjugate direction fails. A step is accepted only when the loss decreased;
 * when even steepest descent finds no decrease the iteration reports {@link Status#STALLED} and
 * leaves the parameters unchanged.
 *
 * <p>Per iteration the vector work is: one trial-point pass per line-search evaluation, one
 * multi-dot pass (g.g, g.g_prev, d.g), one direction pass; beta, the new slope d.g and the
 * restart test follow from those three dots with no further passes.
 */
public final class ConjugateGradient implements AutoCloseable {
    /** What one iteration achieved. */
    public enum Status { STEPPED, CONVERGED, STALLED }

    /** One iteration's outcome: status, loss and gradient norm at the (new) point, step, evaluations, beta, restart. */
    public record Iteration(Status status, double loss, double gradientNorm, double alpha, int lineSearchEvaluations,
                            int gradientEvaluations, double beta, boolean restarted) { }

    private final VectorBackend backend;
    private final long n;
    private final CgConfig config;
    private final Buffer g, gPrev, d, x0;
    private final double[] dots = new double[3];
    private Buffer xBound;
    private LineSearch lineSearch;
    private boolean started;
    /** A state was just loaded: the next iterate continues it on whatever buffer x it is given. */
    private boolean loaded;
    private double f, fPrevious, gg, slope;
    private double lastAlpha;
    private int sinceRestart;
    private long iterations;
    private boolean closed;

    public ConjugateGradient(VectorBackend backend, long n, CgConfig config) {
        this.backend = backend;
        this.n = n;
        this.config = config;
        this.g = backend.allocate(n);
        this.gPrev = backend.allocate(n);
        this.d = backend.allocate(n);
        this.x0 = backend.allocate(n);
    }

    /** Forget the direction and the cached loss/gradient, e.g. after the parameters were changed elsewhere. */
    public void reset() { started = false; }

    /** One CG iteration on {@code x} (updated in place). The first call evaluates the gradient at x. */
    public Iteration iterate(Objective objective, Buffer x) {
        checkOpen("iterate");
        if (x.length() != g.length()) throw new IllegalArgumentException("CG: x has " + x.length() + " floats, CG was built for " + g.length());
        int gradients = 0;
        boolean restarted = false;
        if (x != xBound) {
            xBound = x;
            lineSearch = LineSearch.create(config, backend, x, x0, d, g, gPrev);
            if (!loaded) started = false;
        }
        loaded = false;
        if (!started) {
            f = objective.valueAndGradient(x, g);
            gradients++;
            backend.multiDot(g, new Buffer[]{g}, dots);
            gg = dots[0];
            steepestDescent();
            fPrevious = Double.NaN;
            started = true;
            restarted = true;
        }
        if (Math.sqrt(gg) <= config.gradientTolerance()) {
            return new Iteration(Status.CONVERGED, f, Math.sqrt(gg), 0, 0, gradients, 0, restarted);
        }
        backend.copy(x, x0);
        LineSearch.Result r = lineSearch.search(objective, f, slope, initialStep());
        int evals = r.evaluations();
        if (!r.decreased() && !restarted) {
            // A conjugate direction that finds no decrease: retry once along steepest descent.
            steepestDescent();
            restarted = true;
            r = lineSearch.search(objective, f, slope, initialStep());
            evals += r.evaluations();
        }
        if (!r.decreased()) {
            iterations++;
            return new Iteration(Status.STALLED, f, Math.sqrt(gg), 0, evals, gradients, 0, restarted);
        }
        double slopeOld = slope, gg0 = gg;
        fPrevious = f;
        lastAlpha = r.alpha();
        if (r.gradientAtX()) {
            f = r.value();
        } else {
            f = objective.valueAndGradient(x, g);
            gradients++;
        }
        backend.multiDot(g, new Buffer[]{g, gPrev, d}, dots);
        gg = dots[0];
        double beta = config.formula().beta(dots[0], dots[1], gg0, dots[2], slopeOld);
        sinceRestart++;
        boolean periodic = config.restartEvery() > 0 && sinceRestart >= config.restartEvery();
        double newSlope = -gg + beta * dots[2];
        if (periodic || !(newSlope < 0)) {
            steepestDescent();
            restarted = true;
            beta = 0;
        } else {
            backend.cgDirection(d, g, gPrev, beta);
            slope = newSlope;
        }
        iterations++;
        return new Iteration(Status.STEPPED, f, Math.sqrt(gg), r.alpha(), evals, gradients, beta, restarted);
    }

    /**
     * The state needed to continue this run elsewhere: direction, gradients, the cached loss and
     * dots, the last step and the restart counter (not the scratch copy of x). The parameters
     * themselves belong to the caller.
     */
    public OptimizerState state() {
        checkOpen("state");
        OptimizerState s = new OptimizerState()
                .putString("formula", config.formula().id())
                .putLong("length", n)
                .putBoolean("started", started)
                .putLong("iterations", iterations)
                .putLong("sinceRestart", sinceRestart);
        if (started) {
            s.putDouble("loss", f).putDouble("previousLoss", fPrevious).putDouble("gradientSquared", gg).putDouble("slope", slope)
                    .putDouble("lastStep", lastAlpha)
                    .putFloats("gradient", download(g)).putFloats("previousGradient", download(gPrev)).putFloats("direction", download(d));
        }
        return s;
    }

    /**
     * Restores a state from {@link #state()}; the next {@link #iterate} continues from it at the
     * parameters the caller passes (which must be those the state was saved with).
     */
    public void load(OptimizerState s) {
        checkOpen("load");
        s.require("formula", config.formula().id());
        if (s.getLong("length") != n) throw new IllegalArgumentException("CG state is for " + s.getLong("length") + " parameters; this CG has " + n);
        started = s.getBoolean("started");
        iterations = s.getLong("iterations");
        sinceRestart = (int) s.getLong("sinceRestart");
        if (started) {
            f = s.getDouble("loss");
            fPrevious = s.getDouble("previousLoss");
            gg = s.getDouble("gradientSquared");
            slope = s.getDouble("slope");
            lastAlpha = s.getDouble("lastStep");
            upload(s.floats("gradient"), g, "gradient");
            upload(s.floats("previousGradient"), gPrev, "previousGradient");
            upload(s.floats("direction"), d, "direction");
        }
        loaded = true;
    }

    private float[] download(Buffer b) {
        float[] a = new float[Math.toIntExact(b.length())];
        backend.download(b, a, 0);
        return a;
    }

    private void upload(float[] a, Buffer b, String what) {
        if (a.length != b.length()) throw new IllegalArgumentException("CG state: " + what + " has " + a.length + " floats; expected " + b.length());
        backend.upload(a, 0, b);
    }

    /** The loss at the current point, as of the last iteration. */
    public double loss() { return f; }

    public long iterations() { return iterations; }

    public CgConfig config() { return config; }

    /** The search direction, for inspection and parity tests. */
    public Buffer direction() { return d; }

    /** The gradient at the current point. */
    public Buffer gradient() { return g; }

    /** d = -g (and gPrev = g): steepest descent; gg must hold g.g. */
    private void steepestDescent() {
        backend.cgDirection(d, g, gPrev, 0);
        slope = -gg;
        sinceRestart = 0;
    }

    /**
     * First trial step: the minimizer of the quadratic through the last decrease (Nocedal and Wright
     * eq. 3.60, 2 (f_prev - f) / -slope, times 1.01), else the previous accepted step, else
     * 1/|g| (a step of unit length along steepest descent).
     */
    private double initialStep() {
        double guess = Double.isNaN(fPrevious) ? Double.NaN : 1.01 * 2 * (fPrevious - f) / -slope;
        if (!(guess > 0) || !Double.isFinite(guess)) guess = lastAlpha > 0 ? lastAlpha : 1 / Math.sqrt(-slope);
        return guess;
    }

    private void checkOpen(String call) {
        if (closed) throw new IllegalStateException("ConjugateGradient." + call + ": this ConjugateGradient is closed");
    }

    /** Releases the buffers; idempotent. */
    @Override public void close() {
        if (closed) return;
        closed = true;
        g.close();
        gPrev.close();
        d.close();
        x0.close();
    }
}
