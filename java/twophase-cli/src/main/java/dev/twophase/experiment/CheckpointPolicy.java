package dev.twophase.experiment;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * When a comparison saves a checkpoint during a run ({@code --checkpoint-every}): every N epochs
 * ({@code N}), at the end of the first epoch that ends at least a given wall time after the last
 * checkpoint ({@code Ns}, {@code Nm}, {@code Nh}), or never ({@code off}). Whenever checkpoints
 * are on, one is also saved at the end of every run and when a stop is requested.
 */
public record CheckpointPolicy(int epochs, long nanos) {
    /** Every 5 minutes of wall time: a long run loses at most that much, a short one writes little. */
    public static final String DEFAULT = "5m";
    public static final CheckpointPolicy OFF = new CheckpointPolicy(0, 0);
    private static final long MAX_SECONDS = 10_000 * 3600L;
    private static final Pattern FORM = Pattern.compile("(\\d{1,9})([smh]?)");

    public CheckpointPolicy {
        if (epochs < 0 || nanos < 0 || (epochs > 0 && nanos > 0)) throw new IllegalArgumentException("checkpoint every " + epochs + " epochs and " + nanos + " ns");
    }

    /**
     * Parses {@code value}: a number of epochs (1..1,000,000,000), a wall time such as 30s, 5m or
     * 2h, or off (0 too); anything else is an {@link IllegalArgumentException} naming {@code option}.
     */
    public static CheckpointPolicy parse(String option, String value) {
        String v = value.strip().toLowerCase(Locale.ROOT);
        if (v.equals("off") || v.equals("0")) return OFF;
        Matcher m = FORM.matcher(v);
        long n = m.matches() ? Long.parseLong(m.group(1)) : 0;
        if (n < 1) {
            throw new IllegalArgumentException(option + " '" + value + "': expected a number of epochs (1..999,999,999), a wall time such as 30s, 5m or 2h, or off");
        }
        if (m.group(2).isEmpty()) return new CheckpointPolicy((int) n, 0);
        long seconds = n * switch (m.group(2)) { case "s" -> 1; case "m" -> 60; default -> 3600; };
        if (seconds > MAX_SECONDS) throw new IllegalArgumentException(option + " '" + value + "': expected a wall time of at most 10,000h");
        return new CheckpointPolicy(0, seconds * 1_000_000_000L);
    }

    public boolean enabled() { return epochs > 0 || nanos > 0; }

    /** Whether the end of {@code epoch}, {@code sinceLast} nanoseconds after the last checkpoint, gets one. */
    public boolean due(int epoch, long sinceLast) {
        return epochs > 0 ? epoch % epochs == 0 : nanos > 0 && sinceLast >= nanos;
    }

    @Override public String toString() {
        if (!enabled()) return "off";
        if (epochs > 0) return epochs + (epochs == 1 ? " epoch" : " epochs");
        long s = nanos / 1_000_000_000L;
        return s % 3600 == 0 ? s / 3600 + "h" : s % 60 == 0 ? s / 60 + "m" : s + "s";
    }
}
