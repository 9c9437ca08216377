package dev.twophase.cli;

import picocli.CommandLine;

import java.util.List;
import java.util.Locale;

/**
 * Checks of option values, each an {@link IllegalArgumentException} whose message starts with the
 * option and the value and says what was expected (the command line turns it into exit status 2).
 */
final class Bounds {
    private Bounds() { }

    static int range(String option, int v, int min, int max) {
        if (v < min || v > max) throw new IllegalArgumentException(String.format(Locale.ROOT, "%s %d: expected %,d..%,d", option, v, min, max));
        return v;
    }

    /**
     * A whole-number option's bounds: its check, and what the command line says of a value it
     * cannot even read as an int ({@link #unreadable}).
     */
    record Whole(String option, int min, int max) {
        int check(int v) { return range(option, v, min, max); }

        String expected() { return String.format(Locale.ROOT, "%,d..%,d", min, max); }
    }

    /**
     * The message for a value picocli could not convert to the option's number type ("is not an
     * int"): the option, the value, and what it takes, from {@code bounds} (the command's whole-number
     * options) where listed. Null for an option that does not take a number.
     */
    static String unreadable(String option, Class<?> type, String value, List<Whole> bounds) {
        String range = bounds.stream().filter(w -> w.option().equals(option)).map(Whole::expected).findFirst()
                .orElse(option.equals("--threads") ? "1.." + maxThreads() + " (at most 4 per processor)" : null);
        boolean whole = value.strip().matches("[+-]?\\d+");
        if (type == int.class || type == Integer.class) {
            if (range == null) range = String.format(Locale.ROOT, "%,d..%,d", Integer.MIN_VALUE, Integer.MAX_VALUE);
            return whole ? option + " " + value.strip() + ": expected " + range : option + " '" + value + "': expected a whole number, " + range;
        }
        if (type == long.class || type == Long.class) {
            return option + " '" + value + "': expected a whole number from " + Long.MIN_VALUE + " to " + Long.MAX_VALUE;
        }
        if (type == double.class || type == Double.class) {
            return option + " '" + value + "': " + (overflows(value) ? "beyond the range of a double (magnitudes 4.9e-324 to 1.8e308)" : "expected a number such as 0.5 or 1e-3");
        }
        return null;
    }

    /**
     * A comma-separated list of {@code 1..maxItems} whole numbers, each within {@code each}'s bounds
     * ({@code items} names them in the count's message). An empty item, from a comma at either end or
     * two in a row, is refused like any value that is not a whole number.
     */
    static int[] wholeList(String text, Whole each, int maxItems, String items) {
        String[] parts = text.split(",", -1);
        range(each.option() + " (number of " + items + ")", parts.length, 1, maxItems);
        int[] values = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                values[i] = each.check(Integer.parseInt(parts[i].strip()));
            } catch (NumberFormatException e) {
                String where = parts.length > 1 ? " (item " + (i + 1) + " of " + parts.length + " in '" + text + "')" : "";
                throw new IllegalArgumentException(unreadable(each.option(), int.class, parts[i], List.of(each)) + where);
            }
        }
        return values;
    }

    /**
     * Reads a double option as picocli does, except that a number beyond a double's range ("1e400",
     * "1e-400") is refused, where {@link Double#parseDouble} makes it infinity or 0 and a later
     * check would echo "Infinity" or "0.0" in place of what was typed.
     */
    static final CommandLine.ITypeConverter<Double> DOUBLE = text -> {
        double v = Double.parseDouble(text);
        if (overflows(text)) throw new CommandLine.TypeConversionException("beyond the range of a double");
        return v;
    };

    /** True for the text of a number whose magnitude a double cannot hold: it reads as infinity, or as 0 without being 0. */
    static boolean overflows(String text) {
        try {
            double v = Double.parseDouble(text);
            String mantissa = text.strip().split("[eEpP]", 2)[0];
            return Double.isInfinite(v) ? !text.strip().matches("[+-]?Infinity") : v == 0 && mantissa.matches(".*[1-9].*");
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /** A finite value above 0. */
    static double positive(String option, double v) {
        if (!(v > 0) || !Double.isFinite(v)) throw new IllegalArgumentException(option + " " + v + ": expected a positive finite number");
        return v;
    }

    /** A value strictly between {@code low} and {@code high}. */
    static double between(String option, double v, double low, double high) {
        if (!(v > low && v < high)) throw new IllegalArgumentException(option + " " + v + ": expected a number between " + low + " and " + high + " (exclusive)");
        return v;
    }

    /** {@code value} itself, or the list of what was allowed. */
    static String choice(String option, String value, List<String> allowed) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        if (!allowed.contains(v)) throw new IllegalArgumentException(option + " '" + value + "': expected one of " + String.join(", ", allowed));
        return v;
    }

    /** Parses a number, with "inf" or "infinity" for positive infinity. */
    static double number(String option, String value) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        if (v.equals("inf") || v.equals("infinity")) return Double.POSITIVE_INFINITY;
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + " '" + value + "': expected a number (or inf)");
        }
    }

    /** At most this many CPU worker threads: more only cost memory and time (4 per processor). */
    static int maxThreads() { return 4 * Runtime.getRuntime().availableProcessors(); }

    static int threads(String option, Integer value) {
        int max = maxThreads();
        if (value == null) return Runtime.getRuntime().availableProcessors();
        if (value < 1 || value > max) {
            throw new IllegalArgumentException(option + " " + value + ": expected 1.." + max + " (at most 4 per processor; this machine has "
                    + Runtime.getRuntime().availableProcessors() + ")");
        }
        return value;
    }
}
