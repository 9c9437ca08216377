package dev.twophase.data;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The bundled default data set: 1,797 8x8 handwritten digits (UCI optical recognition, CC BY 4.0;
 * see DIGITS-LICENSE.txt beside the resource). Pixels 0..16 are scaled to [0, 1].
 * The split used by the main job is fixed: 20% validation, shuffled with seed 0.
 */
public final class Digits {
    public static final String RESOURCE = "/dev/twophase/data/digits.csv.gz";
    public static final int FEATURES = 64, CLASSES = 10, SAMPLES = 1797;
    public static final long SPLIT_SEED = 0;
    public static final double VALIDATION_FRACTION = 0.2;

    private Digits() { }

    public static Dataset load() {
        try (InputStream in = Digits.class.getResourceAsStream(RESOURCE)) {
            if (in == null) throw new IllegalStateException("resource " + RESOURCE + " is missing from the jar");
            return parse(new GzipInput(new BufferedInputStream(in), "digits.csv.gz"), "digits.csv.gz");
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + RESOURCE + ": " + e.getMessage(), e);
        }
    }

    /** The fixed train/validation split of the main job. */
    public static Dataset.Split loadSplit() { return load().split(VALIDATION_FRACTION, SPLIT_SEED); }

    /**
     * Parses lines of 64 pixel counts in 0..16 followed by a label in 0..9, comma-separated ASCII
     * integers (spaces around a value allowed; blank lines skipped; {@code \n} or {@code \r\n} line
     * ends). Anything else is a {@link DataFileException} naming {@code source}, the line, the byte
     * offset (in the decompressed data) and the value.
     */
    static Dataset parse(InputStream in, String source) throws IOException {
        byte[] text = in.readAllBytes();
        List<float[]> rows = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        int lineNo = 0;
        for (int start = 0; start < text.length; ) {
            int end = start;
            while (end < text.length && text[end] != '\n') end++;
            lineNo++;
            int stop = end > start && text[end - 1] == '\r' ? end - 1 : end;
            if (!blank(text, start, stop)) {
                float[] x = new float[FEATURES];
                int cell = 0, from = start;
                for (int i = start; i <= stop; i++) {
                    if (i < stop && text[i] != ',') continue;
                    if (cell > FEATURES) { // a 66th value: too many, counted below
                        cell++;
                        break;
                    }
                    int v = number(text, from, i, source, lineNo, cell < FEATURES ? 16 : CLASSES - 1);
                    if (cell < FEATURES) x[cell] = v / 16f;
                    else labels.add(v);
                    cell++;
                    from = i + 1;
                }
                if (cell != FEATURES + 1) {
                    int count = 1;
                    for (int i = start; i < stop; i++) if (text[i] == ',') count++;
                    throw new DataFileException(source, start, source + " line " + lineNo + " (byte offset " + start + "): " + count
                            + " values; expected " + (FEATURES + 1) + " (64 pixels, then the label)");
                }
                rows.add(x);
            }
            start = end + 1;
        }
        if (rows.isEmpty()) throw new DataFileException(source, 0, source + ": no rows from byte offset 0; expected lines of 64 pixels and a label");
        float[] inputs = new float[rows.size() * FEATURES];
        int[] y = new int[rows.size()];
        for (int i = 0; i < rows.size(); i++) {
            System.arraycopy(rows.get(i), 0, inputs, i * FEATURES, FEATURES);
            y[i] = labels.get(i);
        }
        return new Dataset("digits", 1, 8, 8, CLASSES, inputs, y);
    }

    private static boolean blank(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) if (b[i] != ' ' && b[i] != '\t') return false;
        return true;
    }

    /** The integer in {@code b[from, to)}: ASCII digits with optional spaces around, at most {@code max}. */
    private static int number(byte[] b, int from, int to, String source, int line, int max) throws IOException {
        int s = from, e = to;
        while (s < e && (b[s] == ' ' || b[s] == '\t')) s++;
        while (e > s && (b[e - 1] == ' ' || b[e - 1] == '\t')) e--;
        int v = 0;
        boolean ok = s < e && e - s <= 3;
        for (int i = s; ok && i < e; i++) {
            ok = b[i] >= '0' && b[i] <= '9';
            v = v * 10 + (b[i] - '0');
        }
        if (!ok || v > max) {
            String cell = new String(b, from, Math.min(to - from, 40), StandardCharsets.ISO_8859_1);
            throw new DataFileException(source, from, source + " line " + line + " (byte offset " + from + "): value '" + printable(cell)
                    + "'; expected an integer in 0.." + max);
        }
        return v;
    }

    /** The text with control and non-ASCII characters escaped, for a one-line message. */
    private static String printable(String s) {
        StringBuilder sb = new StringBuilder();
        for (char c : s.toCharArray()) sb.append(c >= ' ' && c < 127 ? String.valueOf(c) : String.format("\\x%02x", (int) c));
        return sb.toString();
    }
}
