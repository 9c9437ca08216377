package dev.twophase.optim;

import java.util.Locale;

/** Which line search CG uses. */
public enum LineSearchKind {
    /** The paper's: bracket a minimum along the direction, then Brent's golden-section/parabolic search (values only). */
    BRENT("brent"),
    /** Strong Wolfe conditions (Nocedal and Wright, Alg. 3.5/3.6, c1 = 1e-4, c2 = 0.1), gradient at every trial. */
    STRONG_WOLFE("wolfe");

    private final String id;

    LineSearchKind(String id) { this.id = id; }

    public String id() { return id; }

    public static LineSearchKind parse(String s) {
        String k = s.trim().toLowerCase(Locale.ROOT);
        for (LineSearchKind l : values()) if (l.id.equals(k) || l.name().toLowerCase(Locale.ROOT).equals(k)) return l;
        throw new IllegalArgumentException("unknown line search '" + s + "'; expected brent or wolfe");
    }
}
