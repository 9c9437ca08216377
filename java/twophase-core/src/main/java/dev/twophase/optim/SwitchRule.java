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

    /**
     * Called after each Adam epoch (1-based) with that epoch's gradient norm; true means switch
     * to CG for the next epoch.
     */
    public abstract boolean switchAfter(int epoch, double gradientNorm);

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

    /**
     * Parses {@code peak}, {@code peak:0.9}, {@code peak:0.9:0.5} (tolerance, smoothing), the same
     * forms of {@code rise-peak},
     * {@code epoch:N}, {@code never}, {@code cg-only}.
     */
    public static SwitchRule parse(String spec) {
        String s = spec.trim().toLowerCase(Locale.ROOT);
        String[] parts = s.split(":");
        try {
            return switch (parts[0]) {
                case "peak", "rise-peak" -> new Peak(parts.length > 1 ? Double.parseDouble(parts[1]) : 0.9,
                        parts.length > 2 ? Double.parseDouble(parts[2]) : 0, parts[0].equals("rise-peak"));
                case "epoch" -> {
                    if (parts.length != 2) throw new IllegalArgumentException("needs an epoch number");
                    yield atEpoch(Integer.parseInt(parts[1]));
                }
                case "never", "adam" -> never();
                case "cg-only", "cg" -> cgOnly();
                default -> throw new IllegalArgumentException("unknown rule");
            };
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("switch rule '" + spec + "': " + e.getMessage()
                    + "; expected peak[:TOLERANCE[:SMOOTHING]], rise-peak[:TOLERANCE[:SMOOTHING]], epoch:N, never or cg-only", e);
        }
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

        @Override public boolean switchAfter(int epoch, double gradientNorm) {
            if (!Double.isFinite(gradientNorm)) return false;
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

        @Override public boolean switchAfter(int e, double gradientNorm) { return e >= epoch; }

        @Override public String describe() { return "epoch:" + epoch; }
    }

    static final class Never extends SwitchRule {
        @Override public boolean switchAfter(int epoch, double gradientNorm) { return false; }

        @Override public String describe() { return "never"; }
    }

    static final class CgOnly extends SwitchRule {
        @Override public boolean startsWithCg() { return true; }

        @Override public boolean switchAfter(int epoch, double gradientNorm) { return true; }

        @Override public String describe() { return "cg-only"; }
    }
}
