package dev.twophase.backend.cuda;

/** Turns exception messages (native loaders write pages) into one short line for users. */
public final class OneLine {
    private OneLine() { }

    /** Longest reason kept, in characters. */
    public static final int MAX = 300;

    /** The message collapsed to one line and shortened. */
    public static String of(String message) {
        if (message == null || message.isBlank()) return "(no message)";
        String s = message.replaceAll("\\s+", " ").trim();
        return s.length() <= MAX ? s : s.substring(0, MAX - 3) + "...";
    }

    /**
     * A one-line description of why native code did not load or run: recognizes the usual causes
     * (no libcuda.so.1, no libcublas.so.N) and otherwise gives the exception type and message of the
     * innermost cause.
     */
    public static String describe(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) root = root.getCause();
        String all = String.valueOf(t.getMessage()) + " " + String.valueOf(root.getMessage());
        if (all.contains("libcuda.so")) return "no NVIDIA driver: libcuda.so.1 cannot be loaded";
        java.util.regex.Matcher cublas = java.util.regex.Pattern.compile("libcublas\\.so[.0-9]*").matcher(all);
        if (cublas.find()) return cublas.group() + " cannot be loaded (cuBLAS not installed)";
        String type = root.getClass().getSimpleName();
        return of(type + ": " + root.getMessage());
    }
}
