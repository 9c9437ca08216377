package dev.twophase.optim;

import java.util.Locale;

/** Which line search CG uses. */
public enum LineSearchKind {
    /**
     * Moré and Thuente's search for the strong Wolfe conditions (MINPACK-2's dcsrch, the search
     * behind SciPy's CG and BFGS): loss and slope at every trial, safeguarded cubic and quadratic
     * steps, extrapolation by up to 4x until the minimum is bracketed. The default.
     */
    MORE_THUENTE("more-thuente"),
    /** Strong Wolfe by Nocedal and Wright's Algorithms 3.5/3.6 (doubling, then zoom with cubic interpolation). */
    STRONG_WOLFE("wolfe"),
    /** The paper's: bracket a minimum along the direction, then Brent's golden-section/parabolic search (loss values only). */
    BRENT("brent");

    private final String id;

    LineSearchKind(String id) { this.id = id; }

    public String id() { return id; }

    public static LineSearchKind parse(String s) {
        String k = s.trim().toLowerCase(Locale.ROOT);
        for (LineSearchKind l : values()) if (l.id.equals(k) || l.name().toLowerCase(Locale.ROOT).equals(k)) return l;
        throw new IllegalArgumentException("unknown line search '" + s + "'; expected more-thuente, wolfe or brent");
    }
}
