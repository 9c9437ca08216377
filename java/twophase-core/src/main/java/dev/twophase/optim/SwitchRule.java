package dev.twophase.optim;

import java.util.Locale;

/**
 * When to leave Adam for CG. One-way: once a rule has switched it never goes back. A rule is
 * stateful (the peak rule remembers the largest norm seen); make one per training run.
 *
 * <ul>
 *   <li>{@code peak} (the paper's Algorithm 1): track the largest per-epoch gradient norm and
 *       switch after the first epoch whose norm falls below {@code tolerance} (0.9) times that
 *       peak; optionally the norm is first smoothed with an exponential moving average
 *       {@code s = smoothing * s + (1 - smoothing) * gn} (0 = no smoothing, the paper's rule);</li>
 *   <li>{@code rise-peak} (same settings): the peak rule armed only once the norm has risen above
 *       its running minimum by the factor 1/tolerance. Networks often start with a short convex-looking
 *       stretch where the norm falls (the output layer fitting the targets' mean) before the
 *       non-convex climb the paper describes; the literal rule swaps in that stretch. If the norm
 *       never rises, there is no peak and the run stays with Adam, the fallback the paper asks for.</li>
 *   <li>{@code epoch:N}: Adam for epochs 1..N, CG from epoch N+1 (the paper's experiments);</li>
 *   <li>{@code never}: Adam only (the baseline);</li>
 *   <li>{@code cg-only}: CG from the first epoch.</li>
 * </ul>
 */
public abstract sealed class SwitchRule {

    /** True when the run starts with CG. */
    public boolean startsWithCg() { return false; }

    /** True when the decision depends on the gradient norm (the peak rules); a full-batch norm is computed only for those. */
    public boolean watchesNorm() { return false; }

    /**
     * Called after each Adam epoch (1-based) with that epoch's gradient norm; true means switch
     * to CG for the next epoch.
     *
     * @throws NonFiniteException if the norm is NaN or infinite, for every rule: such a norm comes
     *         from an epoch whose gradients were all non-finite (or a non-finite full-batch
     *         gradient), i.e. a diverged run; it is no evidence of a peak, CG cannot start from
     *         there, and the rule's state is left as it was, so the caller decides what a diverged
     *         run becomes
     */
    public final boolean switchAfter(int epoch, double gradientNorm) {
        if (!Double.isFinite(gradientNorm)) throw new NonFiniteException("gradient norm", "epoch", epoch, gradientNorm);
        return decide(epoch, gradientNorm);
    }

    /** {@link #switchAfter} for a finite norm. */
    abstract boolean decide(int epoch, double gradientNorm);

    /** The rule in the form {@link #parse} reads. */
    public abstract String describe();

    /** What the rule has seen so far (the peak rule's running peak, minimum and smoothed norm). */
    public OptimizerState state() {
        OptimizerState s = new OptimizerState().putString("rule", describe());
        saveTo(s);
        return s;
    }

    /** Restores a state from {@link #state()} of a rule with the same {@link #describe()}. */
    public void load(OptimizerState s) {
        s.require("rule", describe());
        loadFrom(s);
    }

    /** Adds the rule's own fields (none for the stateless rules). */
    void saveTo(OptimizerState s) { }

    void loadFrom(OptimizerState s) { }

    public static SwitchRule peak(double tolerance, double smoothing) { return new Peak(tolerance, smoothing, false); }

    public static SwitchRule risePeak(double tolerance, double smoothing) { return new Peak(tolerance, smoothing, true); }

    public static SwitchRule atEpoch(int epoch) { return new AtEpoch(epoch); }

    public static SwitchRule never() { return new Never(); }

    public static SwitchRule cgOnly() { return new CgOnly(); }

    private static final String FORMS = "peak[:TOLERANCE[:SMOOTHING]], rise-peak[:TOLERANCE[:SMOOTHING]], epoch:N, never or cg-only";
    /** Signed, so that a negative number is reported as out of range rather than as no number. */
    private static final java.util.regex.Pattern DECIMAL = java.util.regex.Pattern.compile("-?(\\d+(\\.\\d*)?|\\.\\d+)([eE][+-]?\\d+)?");
    private static final java.util.regex.Pattern COUNT = java.util.regex.Pattern.compile("-?\\d{1,9}");

    /**
     * Parses, strictly (every part must be read; nothing is ignored): {@code peak},
     * {@code peak:TOLERANCE}, {@code peak:TOLERANCE:SMOOTHING}, the same forms of {@code rise-peak},
     * {@code epoch:N}, {@code never} (alias {@code adam}) and {@code cg-only} (alias {@code cg}).
     * Numbers are plain decimals ({@code 0.9}, {@code .5}, {@code 1e-1}); N is a positive integer.
     * Case and surrounding blanks are ignored.
     */
    public static SwitchRule parse(String spec) {
        // Values keep their case, so that a message shows what was typed; only the name is matched without it.
        String[] parts = spec.trim().split(":", -1);
        String name = parts[0].toLowerCase(Locale.ROOT);
        try {
            return switch (name) {
                case "peak", "rise-peak" -> {
                    if (parts.length > 3) throw new IllegalArgumentException(name + " takes at most two numbers (tolerance, smoothing), got " + (parts.length - 1));
                    double tolerance = parts.length > 1 ? decimal(parts[1], "tolerance") : 0.9;
                    double smoothing = parts.length > 2 ? decimal(parts[2], "smoothing") : 0;
                    yield new Peak(tolerance, smoothing, name.equals("rise-peak"));
                }
                case "epoch" -> {
                    if (parts.length != 2) throw new IllegalArgumentException("epoch takes exactly one number, the last Adam epoch (epoch:N)");
                    if (!COUNT.matcher(parts[1]).matches()) {
                        throw new IllegalArgumentException("epoch '" + parts[1] + "' is not a whole number of epochs (1 to 999999999)");
                    }
                    yield atEpoch(Integer.parseInt(parts[1]));
                }
                case "never", "adam", "cg-only", "cg" -> {
                    if (parts.length != 1) throw new IllegalArgumentException(name + " takes no arguments");
                    yield name.startsWith("cg") ? cgOnly() : never();
                }
                default -> throw new IllegalArgumentException(name.isEmpty() ? "no rule name" : "unknown rule '" + name + "'");
            };
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("switch rule '" + spec + "': " + e.getMessage() + "; the rule is one of " + FORMS, e);
        }
    }

    private static double decimal(String s, String what) {
        if (!DECIMAL.matcher(s).matches()) throw new IllegalArgumentException(s.isEmpty() ? "empty " + what : what + " '" + s + "' is not a decimal number");
        return Double.parseDouble(s);
    }

    static final class Peak extends SwitchRule {
        private final double tolerance, smoothing;
        private final boolean armOnRise;
        private boolean armed;
        private double peak, minimum = Double.POSITIVE_INFINITY, smoothed = Double.NaN;

        Peak(double tolerance, double smoothing, boolean armOnRise) {
            Checks.fraction("switch tolerance", tolerance);
            Checks.unitInterval("norm smoothing", smoothing);
            this.tolerance = tolerance;
            this.smoothing = smoothing;
            this.armOnRise = armOnRise;
            this.armed = !armOnRise;
        }

        @Override public boolean watchesNorm() { return true; }

        @Override boolean decide(int epoch, double gradientNorm) {
            smoothed = Double.isNaN(smoothed) ? gradientNorm : smoothing * smoothed + (1 - smoothing) * gradientNorm;
            if (!armed) {
                minimum = Math.min(minimum, smoothed);
                if (smoothed * tolerance <= minimum) return false;
                armed = true;
            }
            peak = Math.max(peak, smoothed);
            return !(smoothed > peak * tolerance);
        }

        @Override public String describe() {
            return (armOnRise ? "rise-peak:" : "peak:") + tolerance + (smoothing > 0 ? ":" + smoothing : "");
        }

        @Override void saveTo(OptimizerState s) {
            s.putBoolean("armed", armed).putDouble("peak", peak).putDouble("minimum", minimum).putDouble("smoothed", smoothed);
        }

        @Override void loadFrom(OptimizerState s) {
            armed = s.getBoolean("armed");
            peak = s.getDouble("peak");
            minimum = s.getDouble("minimum");
            smoothed = s.getDouble("smoothed");
        }
    }

    static final class AtEpoch extends SwitchRule {
        private final int epoch;

        AtEpoch(int epoch) {
            Checks.atLeast("switch epoch", epoch, 1);
            this.epoch = epoch;
        }

        @Override boolean decide(int e, double gradientNorm) { return e >= epoch; }

        @Override public String describe() { return "epoch:" + epoch; }
    }

    static final class Never extends SwitchRule {
        @Override boolean decide(int epoch, double gradientNorm) { return false; }

        @Override public String describe() { return "never"; }
    }

    static final class CgOnly extends SwitchRule {
        @Override public boolean startsWithCg() { return true; }

        @Override boolean decide(int epoch, double gradientNorm) { return true; }

        @Override public String describe() { return "cg-only"; }
    }
}
