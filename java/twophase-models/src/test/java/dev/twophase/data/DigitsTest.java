package dev.twophase.data;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

class DigitsTest {

    static Dataset parse(String csv) throws IOException {
        return Digits.parse(new ByteArrayInputStream(csv.getBytes(StandardCharsets.US_ASCII)), "test.csv");
    }

    static String row(int pixel, int label) {
        return (String.valueOf(pixel) + ",").repeat(64) + label + "\n";
    }

    @Test
    void parsesAndScalesPixels() throws IOException {
        Dataset d = parse(row(16, 3) + row(8, 9));
        assertEquals(2, d.size());
        assertEquals(1f, d.inputs()[0]);
        assertEquals(0.5f, d.inputs()[64]);
        assertArrayEquals(new int[]{3, 9}, d.labels());
    }

    @Test
    void errorsNameTheFileTheLineAndTheValue() {
        IOException e = assertThrows(IOException.class, () -> parse(row(1, 2) + row(17, 2)));
        assertTrue(e.getMessage().contains("test.csv line 2") && e.getMessage().contains("'17'"), e.getMessage());
        e = assertThrows(IOException.class, () -> parse(row(1, 2) + "1,2,3\n"));
        assertTrue(e.getMessage().contains("line 2 (byte offset 130): 3 values; expected 65"), e.getMessage());
        e = assertThrows(IOException.class, () -> parse(row(1, 10)));
        assertTrue(e.getMessage().contains("'10'"), e.getMessage());
        e = assertThrows(IOException.class, () -> parse(""));
        assertTrue(e.getMessage().contains("no rows"), e.getMessage());
    }

    @Test
    void bundledDataAndItsSplitAreFixed() {
        Dataset all = Digits.load();
        assertEquals(Digits.SAMPLES, all.size());
        Dataset.Split a = Digits.loadSplit(), b = Digits.loadSplit();
        assertEquals(1438, a.train().size());
        assertEquals(359, a.validation().size());
        assertArrayEquals(a.train().labels(), b.train().labels());
        int[] counts = new int[10];
        for (int l : all.labels()) counts[l]++;
        for (int c : counts) assertTrue(c >= 170 && c <= 190, "class sizes of the UCI test part are 174..183");
    }

    @Test
    void splitIsADisjointPartition() {
        float[] x = new float[100];
        int[] y = new int[100];
        for (int i = 0; i < 100; i++) { x[i] = i; y[i] = i % 2; }
        Dataset.Split s = new Dataset("ids", 1, 2, x, y).split(0.25, 5);
        java.util.Set<Float> seen = new java.util.HashSet<>();
        for (float v : s.train().inputs()) assertTrue(seen.add(v));
        for (float v : s.validation().inputs()) assertTrue(seen.add(v));
        assertEquals(100, seen.size());
        assertEquals(25, s.validation().size());
    }
}
