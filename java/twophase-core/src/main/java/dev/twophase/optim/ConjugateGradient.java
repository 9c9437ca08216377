package dev.twophase.optim;

import dev.twophase.backend.VectorBackend;
import dev.twophase.backend.Buffer;

import java.util.Objects;

/**
 * Nonlinear Conjugate Gradient on a full-batch {@link Objective} (Numerical Recipes' frprmn
 * structure): one {@link #iterate} is one line search along d followed by the gradient at the
 * new point (free when the search evaluated it there) and the direction update
 * {@code d = -g + beta d}. {@link #minimize} runs iterations until a {@link CgStop} test is met.
 *
 * <p>Restarts to steepest descent: on the first iteration, whenever the new direction is not a
 * descent direction ({@code d.g >= 0}), when Powell's test finds successive gradients far from
 * orthogonal ({@link CgConfig#powellRestart}), every {@code restartEvery} iterations if set, and when a
 * line search along a conjugate direction fails; if steepest descent fails too, one more search
 * runs along steepest descent in relative coordinates ({@code d_i = -g_i x_i^2}, for float32 on
 * badly scaled problems). A step is accepted only when the loss decreased;
 * when none of these finds a decrease the iteration reports {@link Status#STALLED},
 * leaves the parameters unchanged, and every later call returns STALLED at once (no evaluations)
 * until {@link #reset}.
 *
 * <p>Non-finite values: at a trial point they are a step too long (the line search shrinks back;
 * {@link Iteration#nonFiniteTrials} counts them). At the current point, the start or the point a
 * search accepted, they end the iteration with a {@link NonFiniteException} naming loss or
 * gradient and the iteration; x and CG's state are then as before that iteration.
 *
 * <p>The point x: CG remembers the buffer it last worked on. Given another buffer of the same
 * length it follows it if it holds the same point (checked with one counted loss evaluation) and
 * refuses it otherwise; {@link #reset} starts over at any point. After {@link #load} the buffer
 * passed next is checked the same way against the loss the state was saved with.
 *
 * <p>The first step tried along d is Nocedal and Wright's guess (eq. 3.60). CG keeps the record of
 * the last {@value #GUESS_WINDOW} guesses: when at least {@value #GUESS_HITS} were within 40% of the
 * step the search accepted, the next search skips its probe and starts at the guess
 * ({@link CgConfig#reliableGuessC2}).
 *
 * <p>Per iteration the vector work is: one trial-point pass per line-search evaluation (plus a
 * dot with d for searches that use gradients), one multi-dot pass (g.g, g.g_prev, d.g), one
 * direction pass, and one reduction pass for g's max-norm; only scalars reach the host.
 */
public final class ConjugateGradient implements AutoCloseable {
    /** What one iteration achieved. */
    public enum Status { STEPPED, CONVERGED, STALLED }

    /**
     * One iteration's outcome: its number (1-based, counted since construction or {@link #reset}),
     * status, loss and gradient 2-norm and max-norm at the (new) point, the step, the objective calls
     * it made by kind, the trial points whose loss or slope was not finite, beta, and whether the
     * direction was reset to steepest descent. CONVERGED with {@code alpha > 0}: this step met the
     * tests; with {@code alpha == 0}: nothing was left to do. STEPPED with {@code alpha == 0} only
     * in {@link #minimize}, when its evaluation budget cut the search short.
     */
    public record Iteration(long number, Status status, double loss, double gradientNorm, double gradientMaxNorm, double alpha,
                            int valueCalls, int valueAndGradientCalls, int nonFiniteTrials, double beta, boolean restarted) {
        /** Objective calls of both kinds. */
        public int evaluations() { return valueCalls + valueAndGradientCalls; }
    }

    /** The relative difference in loss at which a buffer is taken to hold another point than CG's. */
    private static final double SAME_POINT = 1e-6;
    /** Floats per block of the point checksum's big-endian conversion. */
    private static final int CHECKSUM_BLOCK = 1 << 14;
    /** The guesses the probe-skipping decision looks back on, and how many of them must have been good. */
    static final int GUESS_WINDOW = 5, GUESS_HITS = 3;
    /** A guess within this fraction of the accepted step counts as good. */
    private static final double GUESS_BAND = 0.4;

    private final VectorBackend backend;
    private final long n;
    private final CgConfig config;
    private final Buffer g, gPrev, d, x0;
    private final double[] dots = new double[3];
    private Buffer xBound;
    private LineSearch lineSearch;
    private boolean started, stalled, verifyPoint;
    /** After a stall: the loss's slope along -g that the failed steepest-descent search measured where it contradicts the gradient (NaN: no such evidence). */
    private double stallSlope = Double.NaN;
    private double f, fPrevious, gg, slope, maxNorm;
    private double startNorm, startMaxNorm;
    /** After {@link #load}: the CRC-32 of the saved point's float bits, checked against the first x given (null: none saved). */
    private Long loadedPointChecksum;
    private double lastAlpha;
    /** The last {@link #GUESS_WINDOW} guesses, most recent in bit 0 (1: within {@link #GUESS_BAND} of the accepted step), and how many there are. */
    private int guessHits, guessesSeen;
    private int sinceRestart;
    /** d is steepest descent, -g (after a restart or a beta of 0). */
    private boolean steepest;
    private long iterations;
    private long valueCalls, valueAndGradientCalls;
    private boolean closed;

    public ConjugateGradient(VectorBackend backend, long n, CgConfig config) {
        Objects.requireNonNull(backend, "ConjugateGradient: backend");
        Objects.requireNonNull(config, "ConjugateGradient: config");
        this.backend = backend;
        this.n = n;
        this.config = config;
        this.g = backend.allocate(n);
        this.gPrev = backend.allocate(n);
        this.d = backend.allocate(n);
        this.x0 = backend.allocate(n);
    }

    /** Forget the direction, the cached loss and gradient and any stall: the next call starts over at the point it is given. */
    public void reset() {
        started = false;
        stalled = false;
        verifyPoint = false;
        iterations = 0;
    }

    /** One CG iteration on {@code x} (updated in place), tested against the config's {@link CgStop} gradient and loss-change tests. */
    public Iteration iterate(Objective objective, Buffer x) {
        checkOpen("iterate");
        Objects.requireNonNull(objective, "ConjugateGradient.iterate: objective");
        Objects.requireNonNull(x, "ConjugateGradient.iterate: x");
        return iterate(objective, x, config.stop(), Long.MAX_VALUE);
    }

    /**
     * Minimizes from the point in {@code x} (updated in place) until a test of {@code stop} is met.
     * Starts over (as after {@link #reset}) unless this CG was just loaded from a state.
     */
    public CgResult minimize(Objective objective, Buffer x, CgStop stop) {
        checkOpen("minimize");
        Objects.requireNonNull(objective, "ConjugateGradient.minimize: objective");
        Objects.requireNonNull(x, "ConjugateGradient.minimize: x");
        Objects.requireNonNull(stop, "ConjugateGradient.minimize: stop");
        if (!verifyPoint) reset();
        long values0 = valueCalls, gradients0 = valueAndGradientCalls, done = 0;
        CgResult.Status status = null;
        String reason = null;
        while (status == null) {
            long left = stop.maxEvaluations() - (valueCalls - values0) - (valueAndGradientCalls - gradients0);
            if (done >= stop.maxIterations()) {
                status = CgResult.Status.MAX_ITERATIONS;
                reason = done + " iterations";
                break;
            }
            Iteration it = iterate(objective, x, stop, left);
            if (it == null) {
                // iterate may have spent calls before it found the rest too few (the start's gradient).
                long spent = valueCalls - values0 + valueAndGradientCalls - gradients0;
                status = CgResult.Status.MAX_EVALUATIONS;
                reason = "an iteration needs at least " + minimumCalls() + " objective calls; " + (stop.maxEvaluations() - spent)
                        + " of the budget of " + stop.maxEvaluations() + " left";
                break;
            }
            if (it.alpha() > 0) {
                done++;
                if (stop.listener() != null && !stop.listener().proceed(it) && it.status() == Status.STEPPED) {
                    status = CgResult.Status.LISTENER;
                    reason = "the listener stopped the run after iteration " + it.number();
                }
            }
            switch (it.status()) {
                case STALLED -> {
                    status = CgResult.Status.STALLED;
                    reason = "no decrease along steepest descent from loss " + f + stallCause(it);
                }
                case CONVERGED -> {
                    boolean byGradient = stop.norm().of(it.gradientNorm(), it.gradientMaxNorm()) <= stop.gradientThreshold(startNorm, startMaxNorm);
                    status = byGradient ? CgResult.Status.GRADIENT_TOLERANCE : CgResult.Status.LOSS_CHANGE;
                    reason = byGradient
                            ? String.format(java.util.Locale.ROOT, "gradient %s %.3g, test %s (start %.3g)", stop.norm() == GradientNorm.MAX ? "max-norm" : "2-norm",
                                    stop.norm().of(it.gradientNorm(), it.gradientMaxNorm()), stop.describeGradientTest(), stop.norm().of(startNorm, startMaxNorm))
                            : "loss fell from " + fPrevious + " to " + f + ", relative change below " + stop.relativeLossChange();
                }
                case STEPPED -> { }
            }
        }
        return new CgResult(status, reason, done, valueCalls - values0, valueAndGradientCalls - gradients0, f, Math.sqrt(gg), maxNorm);
    }

    /**
     * One iteration, or null when {@code budget} objective calls cannot pay for one. The gradient and
     * loss-change tests of {@code stop} are applied before stepping (CONVERGED, no evaluations).
     */
    private Iteration iterate(Objective objective, Buffer x, CgStop stop, long budget) {
        if (x.length() != n) throw new IllegalArgumentException("CG: x has " + x.length() + " floats, CG was built for " + n);
        Tally t = new Tally();
        boolean restarted = false;
        if (x != xBound) {
            xBound = x;
            lineSearch = LineSearch.create(config, backend, x, x0, d, g, gPrev);
            if (started) verifyPoint = true;
        }
        if (verifyPoint && loadedPointChecksum != null) {
            // After load: compare bits, not losses, so a resumed run spends exactly what the uninterrupted one did.
            if (pointChecksum(x) != loadedPointChecksum) {
                throw new IllegalArgumentException("CG: the buffer x does not hold the parameters CG's state was saved with (their checksums differ):"
                        + " restore the parameters saved beside the state, or call reset() to start over at a new point");
            }
            verifyPoint = false;
            loadedPointChecksum = null;
        }
        if (verifyPoint) {
            if (budget < 1) return null;
            checkSamePoint(objective.value(x));
            t.values++;
            valueCalls++;
            verifyPoint = false;
        }
        if (!started) {
            if (budget - t.calls() < 1) return null;
            f = objective.valueAndGradient(x, g);
            t.gradients++;
            valueAndGradientCalls++;
            if (!Double.isFinite(f)) throw new NonFiniteException("loss", "CG iteration", iterations, f);
            backend.multiDot(g, new Buffer[]{g}, dots);
            gg = dots[0];
            if (!Double.isFinite(gg)) throw new NonFiniteException("gradient", "CG iteration", iterations, gg);
            maxNorm = backend.maxAbs(g);
            startNorm = Math.sqrt(gg);
            startMaxNorm = maxNorm;
            steepestDescent();
            fPrevious = Double.NaN;
            lastAlpha = 0;
            guessHits = 0;
            guessesSeen = 0;
            started = true;
            restarted = true;
        }
        if (stalled) return t.iteration(Status.STALLED, 0, 0, restarted);
        if (converged(stop) || gg == 0) return t.iteration(Status.CONVERGED, 0, 0, restarted);
        if (budget - t.calls() < minimumCalls()) return null;
        backend.copy(x, x0);
        try {
            return step(objective, x, stop, budget, t, restarted);
        } catch (RuntimeException | Error e) {
            // The objective (or the backend) failed mid-iteration, with x at a trial point and g perhaps
            // overwritten: put both back to the iteration's start, so that CG's loss, gradient and
            // direction describe x again and a later call continues from there.
            try {
                backend.copy(x0, x);
                backend.copy(gPrev, g);
            } catch (RuntimeException | Error restoreFailure) {
                e.addSuppressed(restoreFailure);
            }
            throw e;
        }
    }

    /** Why the last iteration stalled, as far as its trials tell. */
    private String stallCause(Iteration it) {
        if (it.nonFiniteTrials() > 0) {
            return ": " + it.nonFiniteTrials() + " of the last iteration's " + it.evaluations() + " objective calls gave a non-finite loss or gradient";
        }
        if (!Double.isNaN(stallSlope)) {
            double norm = Math.sqrt(gg);
            return String.format(java.util.Locale.ROOT, ": along the negative gradient the loss rises, by %.3g per unit of distance in the shortest"
                    + " trials, where the gradient says it falls by %.3g; the gradient does not match the loss here (a wrong gradient,"
                    + " or a kink where the loss is not differentiable)", stallSlope / norm, norm);
        }
        return " (float32 resolution or a non-smooth point)";
    }

    /** The line search and direction update of {@link #iterate}, from x (= x0) with the gradient in g (= gPrev). */
    private Iteration step(Objective objective, Buffer x, CgStop stop, long budget, Tally t, boolean restarted) {
        double guess = initialStep();
        // Along steepest descent already (a restart, or beta 0): a retry along it would repeat this search exactly.
        boolean steepestTried = steepest;
        LineSearch.Result r = search(objective, budget - t.calls(), t, guess, guessReliable());
        recordGuess(guess, r);
        if (!r.decreased() && !steepestTried && !t.budgetBound && budget - t.calls() >= minimumCalls()) {
            // A conjugate direction that finds no decrease: retry once along steepest descent.
            steepestDescent();
            restarted = true;
            steepestTried = true;
            r = search(objective, budget - t.calls(), t, initialStep(), false);
        }
        double slopeSeen = Double.NaN;
        if (!r.decreased() && steepestTried && !t.budgetBound) {
            // Steepest descent found nothing either. Host copies of x and g (this runs only here) serve what its trials
            // measured, for the reason of a stall, and the relative direction: float32 may not resolve this one's move.
            float[] xs = download(x), gs = download(g);
            slopeSeen = lineSearch.risingSlope(roundingScale(xs, gs));
            double relativeStep;
            if (budget - t.calls() >= minimumCalls() && (relativeStep = relativeDescent(xs, gs)) > 0) {
                r = search(objective, budget - t.calls(), t, config.relativeUnitStep() ? relativeStep : initialStep(), false);
            }
        }
        if (!r.decreased() && (!steepestTried || t.budgetBound)) {
            // The run's budget, not the function, cut the search short: no step, and no stall; the next call starts from steepest descent.
            steepestDescent();
            return t.iteration(Status.STEPPED, 0, 0, true);
        }
        if (!r.decreased()) {
            stalled = true;
            stallSlope = slopeSeen;
            return t.iteration(Status.STALLED, 0, 0, restarted);
        }
        double slopeOld = slope, gg0 = gg, fNew = r.value();
        if (!r.gradientAtX()) {
            fNew = objective.valueAndGradient(x, g);
            t.gradients++;
            valueAndGradientCalls++;
        }
        backend.multiDot(g, new Buffer[]{g, gPrev, d}, dots);
        if (!Double.isFinite(fNew) || !Double.isFinite(dots[0])) {
            // Not a point to move to: iterate puts x and g back to the last good one.
            throw Double.isFinite(fNew) ? new NonFiniteException("gradient", "CG iteration", iterations + 1, dots[0])
                    : new NonFiniteException("loss", "CG iteration", iterations + 1, fNew);
        }
        fPrevious = f;
        f = fNew;
        lastAlpha = r.alpha();
        gg = dots[0];
        maxNorm = backend.maxAbs(g);
        double beta = config.formula().beta(dots[0], dots[1], gg0, dots[2], slopeOld);
        sinceRestart++;
        boolean periodic = config.restartEvery() > 0 && sinceRestart >= config.restartEvery();
        // Powell: after a conjugate step (not a steepest-descent one, whose exact search leaves g_new.g_old = 0).
        boolean powell = config.powellRestart() > 0 && sinceRestart > 1 && Math.abs(dots[1]) >= config.powellRestart() * dots[0];
        double newSlope = -gg + beta * dots[2];
        if (periodic || powell || !(newSlope < 0)) {
            steepestDescent();
            restarted = true;
            beta = 0;
        } else {
            backend.cgDirection(d, g, gPrev, beta);
            slope = newSlope;
            steepest = beta == 0;
        }
        iterations++;
        // CONVERGED after a step (alpha > 0) means x moved and now meets the tests; later calls return CONVERGED without work.
        return t.iteration(converged(stop) ? Status.CONVERGED : Status.STEPPED, r.alpha(), beta, restarted);
    }

    /**
     * One line search along d from x0, from the step {@code guess} (without a probe when
     * {@code atGuess}), with at most {@code left - 1} calls (one stays for the gradient at the
     * accepted point when the search did not evaluate it there); counts into {@code t}.
     */
    private LineSearch.Result search(Objective objective, long left, Tally t, double guess, boolean atGuess) {
        int searchBudget = (int) Math.min(config.maxLineSearchEvaluations(), left - 1);
        try {
            return lineSearch.search(objective, f, slope, guess, searchBudget, atGuess, config.reliableGuessC2());
        } finally {
            // Counted also when the objective throws, that call included.
            t.values += lineSearch.values;
            t.gradients += lineSearch.valueAndGradients;
            t.nonFinite += lineSearch.nonFiniteTrials;
            valueCalls += lineSearch.values;
            valueAndGradientCalls += lineSearch.valueAndGradients;
            t.budgetBound = lineSearch.exhausted() && searchBudget < config.maxLineSearchEvaluations();
        }
    }

    /** The objective calls and non-finite trials of the iteration in progress. */
    private final class Tally {
        int values, gradients, nonFinite;
        /** The last search ran out of the run's budget (not its own limit). */
        boolean budgetBound;

        int calls() { return values + gradients; }

        Iteration iteration(Status status, double alpha, double beta, boolean restarted) {
            return new Iteration(iterations, status, f, Math.sqrt(gg), maxNorm, alpha, values, gradients, nonFinite, beta, restarted);
        }
    }

    /** True when the guess may go without a probe: enabled, and good in enough of the recent iterations. */
    private boolean guessReliable() {
        return config.reliableGuessC2() > 0 && guessesSeen >= GUESS_WINDOW && Integer.bitCount(guessHits) >= GUESS_HITS;
    }

    /** Adds how good {@code guess} was for the search that ended in {@code r} (a failed search: not good). */
    private void recordGuess(double guess, LineSearch.Result r) {
        boolean good = r.decreased() && Math.abs(guess / r.alpha() - 1) <= GUESS_BAND;
        guessHits = ((guessHits << 1) | (good ? 1 : 0)) & ((1 << GUESS_WINDOW) - 1);
        guessesSeen = Math.min(GUESS_WINDOW, guessesSeen + 1);
    }

    /** The fewest objective calls one iteration may need: a trial, and the gradient at the point it accepts. */
    private static int minimumCalls() { return 2; }

    private boolean converged(CgStop stop) {
        return stop.norm().of(Math.sqrt(gg), maxNorm) <= stop.gradientThreshold(startNorm, startMaxNorm)
                || (!Double.isNaN(fPrevious) && stop.lossChangeSmall(fPrevious, f));
    }

    private void checkSamePoint(double value) {
        if (!(Math.abs(value - f) <= SAME_POINT * Math.max(Math.abs(f), Double.MIN_NORMAL))) {
            throw new IllegalArgumentException("CG: the buffer x does not hold the point CG is at (loss " + value + " there, "
                    + f + " expected): pass the buffer CG last worked on (or a copy of it), or call reset() to start over at a new point");
        }
    }

    /**
     * The state needed to continue this run elsewhere: direction, gradients, the cached loss and
     * norms, the last step, the record of recent step guesses, the counters and whether it stalled
     * (not the scratch copy of x). The parameters themselves belong to the caller.
     */
    public OptimizerState state() {
        checkOpen("state");
        OptimizerState s = new OptimizerState()
                .putString("formula", config.formula().id())
                .putLong("length", n)
                .putBoolean("started", started)
                .putBoolean("stalled", stalled)
                .putDouble("stallSlope", stallSlope)
                .putLong("iterations", iterations)
                .putLong("sinceRestart", sinceRestart)
                .putBoolean("steepest", steepest)
                .putLong("guessHits", guessHits)
                .putLong("guessesSeen", guessesSeen)
                .putLong("valueCalls", valueCalls)
                .putLong("valueAndGradientCalls", valueAndGradientCalls);
        if (started) {
            s.putDouble("loss", f).putDouble("previousLoss", fPrevious).putDouble("gradientSquared", gg).putDouble("gradientMaxNorm", maxNorm)
                    .putDouble("slope", slope).putDouble("lastStep", lastAlpha)
                    .putDouble("startGradientNorm", startNorm).putDouble("startGradientMaxNorm", startMaxNorm)
                    .putFloats("gradient", download(g)).putFloats("previousGradient", download(gPrev)).putFloats("direction", download(d));
            if (xBound != null) s.putLong("pointChecksum", pointChecksum(xBound));
        }
        return s;
    }

    /**
     * Restores a state from {@link #state()}. The next {@link #iterate} or {@link #minimize}
     * continues from it at the parameters the caller passes, which must be those the state was
     * saved with (checked against a checksum of their bits saved in the state, with no objective
     * call, so that a resumed run spends exactly what an uninterrupted one does).
     */
    public void load(OptimizerState s) {
        checkOpen("load");
        s.require("formula", config.formula().id());
        if (s.getLong("length") != n) throw new IllegalArgumentException("CG state is for " + s.getLong("length") + " parameters; this CG has " + n);
        boolean wasStarted = s.getBoolean("started");
        if (wasStarted) {
            upload(s.floats("gradient"), g, "gradient");
            upload(s.floats("previousGradient"), gPrev, "previousGradient");
            upload(s.floats("direction"), d, "direction");
            f = s.getDouble("loss");
            fPrevious = s.getDouble("previousLoss");
            gg = s.getDouble("gradientSquared");
            maxNorm = s.getDouble("gradientMaxNorm");
            slope = s.getDouble("slope");
            lastAlpha = s.getDouble("lastStep");
            startNorm = s.getDouble("startGradientNorm");
            startMaxNorm = s.getDouble("startGradientMaxNorm");
        }
        started = wasStarted;
        stalled = s.getBoolean("stalled");
        // States saved before the stall's evidence was kept: none.
        stallSlope = s.has("stallSlope") ? s.getDouble("stallSlope") : Double.NaN;
        iterations = s.getLong("iterations");
        sinceRestart = (int) s.getLong("sinceRestart");
        // States saved before this flag existed: a restart's direction is steepest descent (one with beta 0 goes unnoticed).
        steepest = s.has("steepest") ? s.getBoolean("steepest") : sinceRestart == 0;
        // States saved before the probe-skipping record existed start it empty.
        guessHits = s.has("guessHits") ? (int) s.getLong("guessHits") : 0;
        guessesSeen = s.has("guessesSeen") ? (int) s.getLong("guessesSeen") : 0;
        if (guessHits < 0 || guessHits >= 1 << GUESS_WINDOW || guessesSeen < 0 || guessesSeen > GUESS_WINDOW) {
            throw new IllegalArgumentException("CG state: guessHits = " + guessHits + ", guessesSeen = " + guessesSeen
                    + "; expected a " + GUESS_WINDOW + "-bit record and a count of 0.." + GUESS_WINDOW);
        }
        valueCalls = s.getLong("valueCalls");
        valueAndGradientCalls = s.getLong("valueAndGradientCalls");
        verifyPoint = started;
        loadedPointChecksum = started && s.has("pointChecksum") ? s.getLong("pointChecksum") : null;
        xBound = null;
    }

    /** CRC-32 of the big-endian float bits of x (from a host copy): identifies the point a state was saved at. */
    private long pointChecksum(Buffer x) {
        float[] host = download(x);
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate(Math.min(host.length, CHECKSUM_BLOCK) * Float.BYTES);
        for (int from = 0; from < host.length; from += CHECKSUM_BLOCK) {
            int len = Math.min(CHECKSUM_BLOCK, host.length - from);
            bytes.clear();
            bytes.asFloatBuffer().put(host, from, len);
            crc.update(bytes.array(), 0, len * Float.BYTES);
        }
        return crc.getValue();
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

    /** Iterations since construction or {@link #reset}. */
    public long iterations() { return iterations; }

    /** {@link Objective#value} calls since construction. */
    public long valueCalls() { return valueCalls; }

    /** {@link Objective#valueAndGradient} calls since construction. */
    public long valueAndGradientCalls() { return valueAndGradientCalls; }

    public CgConfig config() { return config; }

    /** The search direction, for inspection and parity tests. */
    public Buffer direction() { return d; }

    /** The gradient at the current point. */
    public Buffer gradient() { return g; }

    /**
     * d_i = -g_i x_i^2: steepest descent in relative coordinates (log |x_i|). float32 resolves each
     * coordinate relative to its magnitude, so along this direction every coordinate moves by a
     * similar number of float32 steps, where plain steepest descent can move the large ones by less
     * than one step (badly scaled problems: x near 1e6 beside x near 1e-6). Computed from host copies of x and g (it
     * runs only when an iteration would stall). Coordinates at 0 get the scale of 1e-6 times the
     * largest. Returns the step of unit length in those coordinates, {@code 1 / |g * scale|}, or 0
     * (d unchanged) when x is all zero or d is no descent direction.
     */
    private double relativeDescent(float[] xs, float[] gs) {
        float largest = 0;
        for (float v : xs) largest = Math.max(largest, Math.abs(v));
        float[] ds = new float[xs.length];
        double dg = 0, uu = 0;
        for (int i = 0; i < xs.length; i++) {
            double scale = Math.abs(xs[i]) + 1e-6 * largest;
            ds[i] = (float) (-gs[i] * scale * scale);
            dg += (double) gs[i] * ds[i];
            uu += (gs[i] * scale) * (gs[i] * scale);
        }
        if (!(dg < 0)) return 0;
        backend.upload(ds, 0, d);
        slope = dg;
        sinceRestart = 0;
        steepest = false;
        return 1 / Math.sqrt(uu);
    }

    /** How much rounding x to float32 alone can change the loss, to first order: sum_i |g_i| ulp(x_i), from host copies. */
    private static double roundingScale(float[] xs, float[] gs) {
        double sum = 0;
        for (int i = 0; i < xs.length; i++) sum += Math.abs(gs[i]) * Math.ulp(xs[i]);
        return sum;
    }

    /** d = -g (and gPrev = g): steepest descent; gg must hold g.g. */
    private void steepestDescent() {
        backend.cgDirection(d, g, gPrev, 0);
        slope = -gg;
        sinceRestart = 0;
        steepest = true;
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
