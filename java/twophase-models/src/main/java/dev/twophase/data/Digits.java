package dev.twophase.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

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
            return parse(new GZIPInputStream(in), "digits.csv.gz");
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + RESOURCE + ": " + e.getMessage(), e);
        }
    }

    /** The fixed train/validation split of the main job. */
    public static Dataset.Split loadSplit() { return load().split(VALIDATION_FRACTION, SPLIT_SEED); }

    /** Parses rows of 64 pixel counts in 0..16 followed by a label in 0..9; errors name the line and value. */
    static Dataset parse(InputStream in, String source) throws IOException {
        List<float[]> rows = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII));
        String line;
        int lineNo = 0;
        while ((line = r.readLine()) != null) {
            lineNo++;
            if (line.isBlank()) continue;
            String[] cells = line.split(",");
            if (cells.length != FEATURES + 1) {
                throw new IOException(source + " line " + lineNo + ": " + cells.length + " values; expected " + (FEATURES + 1) + " (64 pixels, then the label)");
            }
            float[] x = new float[FEATURES];
            for (int j = 0; j < FEATURES; j++) x[j] = (float) (number(cells[j], source, lineNo, 0, 16) / 16.0);
            rows.add(x);
            labels.add(number(cells[FEATURES], source, lineNo, 0, CLASSES - 1));
        }
        if (rows.isEmpty()) throw new IOException(source + ": no rows");
        float[] inputs = new float[rows.size() * FEATURES];
        int[] y = new int[rows.size()];
        for (int i = 0; i < rows.size(); i++) {
            System.arraycopy(rows.get(i), 0, inputs, i * FEATURES, FEATURES);
            y[i] = labels.get(i);
        }
        return new Dataset("digits", 1, 8, 8, CLASSES, inputs, y);
    }

    private static int number(String cell, String source, int line, int min, int max) throws IOException {
        try {
            int v = Integer.parseInt(cell.trim());
            if (v < min || v > max) throw new NumberFormatException();
            return v;
        } catch (NumberFormatException e) {
            throw new IOException(source + " line " + line + ": value '" + cell + "'; expected an integer in " + min + ".." + max);
        }
    }
}
