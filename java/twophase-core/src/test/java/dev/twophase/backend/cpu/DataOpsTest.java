package dev.twophase.backend.cpu;

import dev.twophase.backend.Backend;
import dev.twophase.backend.Buffer;
import dev.twophase.backend.Transfers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The training-data ops of the CPU backend (the reference the GPU kernels are compared with)
 * against definitions written here from the math, on odd sizes with repeated indices, ties for the
 * maximum and NaN outputs; invalid indices and labels are refused with their position and value.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DataOpsTest {
    private final CpuBackend be = new CpuBackend(3);

    @AfterAll void close() { be.close(); }

    private Buffer of(float[] a) {
        Buffer b = be.allocate(a.length);
        be.upload(a, b);
        return b;
    }

    private float[] read(Buffer b) {
        float[] a = new float[(int) b.length()];
        be.download(b, a);
        return a;
    }

    private static float[] random(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextDouble(-1, 1);
        return a;
    }

    @ParameterizedTest @CsvSource({"1,1,1", "7,3,5", "1001,10,4097", "37,1001,13", "5,3,20011"})
    void gatherCopiesTheIndexedRows(int srcRows, int cols, int rows) {
        SplittableRandom r = new SplittableRandom(srcRows * 31L + rows);
        float[] src = random(r, srcRows * cols), idx = new float[rows];
        for (int i = 0; i < rows; i++) idx[i] = r.nextInt(srcRows);
        idx[0] = -0f; // row 0
        float[] want = new float[rows * cols];
        for (int i = 0; i < rows; i++) for (int c = 0; c < cols; c++) want[i * cols + c] = src[(int) idx[i] * cols + c];
        try (Buffer s = of(src); Buffer ix = of(idx); Buffer d = of(random(r, rows * cols))) {
            be.gatherRows(s, cols, ix, d);
            assertArrayEquals(want, read(d));
        }
    }

    @ParameterizedTest @CsvSource({"1,1", "5,3", "4097,10", "13,1001"})
    void oneHotSetsTheLabelsColumn(int rows, int classes) {
        SplittableRandom r = new SplittableRandom(rows * 7L + classes);
        float[] labels = new float[rows];
        for (int i = 0; i < rows; i++) labels[i] = r.nextInt(classes);
        float[] want = new float[rows * classes];
        for (int i = 0; i < rows; i++) for (int c = 0; c < classes; c++) want[i * classes + c] = c == labels[i] ? 1f : 0f;
        try (Buffer l = of(labels); Buffer d = of(random(r, rows * classes))) {
            be.oneHot(l, classes, d);
            assertArrayEquals(want, read(d));
        }
    }

    /** Four levels per output, so most rows have ties for the maximum: the smallest column of the maximum wins. */
    @ParameterizedTest @CsvSource({"1,1", "5,3", "4097,10", "13,1001", "20011,3"})
    void countCorrectTakesTheFirstMaximum(int rows, int cols) {
        SplittableRandom r = new SplittableRandom(rows * 3L + cols);
        float[] out = new float[rows * cols], labels = new float[rows];
        for (int i = 0; i < out.length; i++) out[i] = r.nextInt(4) - 1.5f;
        for (int i = 0; i < rows; i++) labels[i] = r.nextInt(cols);
        long want = 0;
        for (int i = 0; i < rows; i++) {
            float top = Float.NEGATIVE_INFINITY;
            for (int c = 0; c < cols; c++) top = Math.max(top, out[i * cols + c]);
            int first = 0;
            while (out[i * cols + first] != top) first++;
            if (first == labels[i]) want++;
        }
        try (Buffer o = of(out); Buffer l = of(labels)) {
            assertEquals(want, be.countCorrect(o, cols, l));
        }
    }

    /** As the trainer always counted: a NaN never beats a number after it, and a NaN in column 0 keeps column 0. */
    @Test void countCorrectWithNaN() {
        float nan = Float.NaN;
        float[] out = {nan, 5, 1, /**/ 1, nan, 3, /**/ 2, 2, nan};
        try (Buffer o = of(out); Buffer l = of(new float[] {0, 2, 0})) {
            assertEquals(3, be.countCorrect(o, 3, l));
        }
    }

    @Test void invalidIndicesAndLabelsAreRefusedWithTheirPosition() {
        try (Buffer src = of(new float[6]); Buffer dst = be.allocate(4); Buffer out = of(new float[6])) {
            for (float bad : new float[] {-1f, 3f, 0.5f, Float.NaN, Float.POSITIVE_INFINITY}) {
                try (Buffer idx = of(new float[] {1, bad})) {
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.gatherRows(src, 2, idx, dst));
                    assertTrue(e.getMessage().contains("indices[1] = " + bad) && e.getMessage().contains("0 to 2"), e.getMessage());
                }
                try (Buffer labels = of(new float[] {bad, 1})) {
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.oneHot(labels, 3, out));
                    assertTrue(e.getMessage().contains("labels[0] = " + bad), e.getMessage());
                    e = assertThrows(IllegalArgumentException.class, () -> be.countCorrect(out, 3, labels));
                    assertTrue(e.getMessage().startsWith("countCorrect: labels[0]"), e.getMessage());
                }
            }
        }
    }

    @Test void shapesAreChecked() {
        try (Buffer src = be.allocate(6); Buffer idx = be.allocate(2); Buffer dst = be.allocate(5)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.gatherRows(src, 2, idx, dst));
            assertEquals("gatherRows: dst has 5 floats; 2 indices of rows of 2 need 4", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> be.gatherRows(src, 4, idx, dst));
            assertTrue(e.getMessage().contains("not a matrix with 4 columns"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> be.oneHot(idx, 0, dst));
            assertEquals("oneHot: 0 classes; expected at least 1", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> be.countCorrect(src, 2, dst));
            assertEquals("countCorrect: outputs has 3 rows of 2, labels has 5", e.getMessage());
        }
    }

    @Test void theCpuBackendMovesNoBytes() {
        try (Buffer b = of(new float[] {1, 2, 3})) {
            read(b);
            assertEquals(Transfers.NONE, be.transfers());
        }
        assertEquals(1 << 24, Backend.MAX_INDEX);
        assertEquals(new Transfers(3, 4), new Transfers(10, 20).minus(new Transfers(7, 16)));
        assertThrows(IllegalArgumentException.class, () -> new Transfers(-1, 0));
    }
}
