package dev.twophase.data;

import com.sun.management.ThreadMXBean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static dev.twophase.data.DataFiles.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Seeded mutation tests of every loader: IDX raw and gzip (images and labels), CIFAR-10 and -100,
 * the digits CSV. Each case damages a small valid file (bit flips, random bytes, truncation,
 * appended, inserted, deleted or duplicated bytes, header fields set to extreme values, several at
 * once) and loads it. The outcome must be one of two things, within a time and allocation bound:
 * <ul>
 *   <li>a {@link DataFileException} naming the file and a byte offset, never another exception type;</li>
 *   <li>success with exactly the content an independent reference decoder (written here from the
 *   format's description) finds in the mutated bytes. For raw formats that is a valid file of
 *   other content (a changed pixel is invisible without a checksum, see {@link KnownFiles}); for
 *   gzip it must be the original content, since the CRC-32 covers every content byte (mutations
 *   of the header's time, flags-free fields or OS byte leave the content intact).</li>
 * </ul>
 * Silent success on a damaged file is thus any success the reference calls invalid, or whose
 * content differs from it.
 */
class LoaderFuzzTest {
    static final int CASES = 150;
    static final long MAX_ALLOCATION = 16 << 20, MAX_NANOS = 2_000_000_000L;
    static final ThreadMXBean THREADS = (ThreadMXBean) ManagementFactory.getThreadMXBean();

    @TempDir
    Path dir;

    /** What a loader or the reference decoded: comparable content. */
    record Content(List<Object> parts) {
        @Override public boolean equals(Object o) {
            if (!(o instanceof Content c) || c.parts.size() != parts.size()) return false;
            for (int i = 0; i < parts.size(); i++) if (!Arrays.deepEquals(new Object[]{parts.get(i)}, new Object[]{c.parts.get(i)})) return false;
            return true;
        }

        @Override public int hashCode() { return 0; }

        static Content of(Object... parts) { return new Content(List.of(parts)); }
    }

    interface Loader { Content load(Path file) throws Exception; }

    interface Reference { Content decode(byte[] bytes); } // null: invalid

    record Tally(int refused, int accepted) { }

    /** Runs CASES mutations of {@code original}; returns how many were refused and accepted. */
    Tally fuzz(String format, long seed, byte[] original, int[] headerInts, Loader loader, Reference reference) throws Exception {
        Path file = dir.resolve(format);
        Content expectedOriginal = reference.decode(original);
        assertNotNull(expectedOriginal, format + ": the unmutated file is valid");
        write(file, original);
        assertEquals(expectedOriginal, loader.load(file), format + ": the unmutated file loads");
        SplittableRandom r = new SplittableRandom(seed);
        int refused = 0, accepted = 0;
        for (int c = 0; c < CASES; c++) {
            List<String> what = new ArrayList<>();
            byte[] m = original;
            int count = r.nextInt(6) == 0 ? 2 + r.nextInt(3) : 1;
            for (int k = 0; k < count; k++) m = mutate(m, r, headerInts, what);
            if (Arrays.equals(m, original)) continue;
            write(file, m);
            String label = format + " case " + c + " (seed " + seed + ": " + String.join(", ", what) + ")";
            Content expected = reference.decode(m);
            long allocated0 = THREADS.getCurrentThreadAllocatedBytes(), t0 = System.nanoTime();
            Content got = null;
            Throwable thrown = null;
            try {
                got = loader.load(file);
            } catch (Throwable t) {
                thrown = t;
            }
            long nanos = System.nanoTime() - t0, allocated = THREADS.getCurrentThreadAllocatedBytes() - allocated0;
            assertTrue(nanos < MAX_NANOS, label + ": took " + nanos / 1e6 + " ms");
            assertTrue(allocated < MAX_ALLOCATION, label + ": allocated " + allocated + " bytes");
            if (thrown != null) {
                if (!(thrown instanceof DataFileException e)) {
                    throw new AssertionError(label + ": " + thrown.getClass().getName() + " instead of a DataFileException: " + thrown.getMessage(), thrown);
                }
                assertEquals(file.toString(), e.file(), label);
                assertTrue(e.offset() >= 0, label + ": offset " + e.offset());
                assertTrue(e.getMessage().startsWith(file.toString()) && e.getMessage().contains("offset"), label + ": " + e.getMessage());
                assertEquals(1, e.getMessage().lines().count(), label + ": one line");
                assertNull(expected == null ? null : (format.contains("gzip") ? null : expected),
                        label + ": refused a file the reference decodes: " + e.getMessage());
                refused++;
            } else {
                assertNotNull(expected, label + ": silent success on a damaged file");
                assertEquals(expected, got, label + ": loaded content differs from the reference");
                if (format.contains("gzip")) assertEquals(expectedOriginal, got, label + ": gzip content changed without an error");
                accepted++;
            }
        }
        return new Tally(refused, accepted);
    }

    static byte[] mutate(byte[] b, SplittableRandom r, int[] headerInts, List<String> what) {
        int n = b.length;
        switch (r.nextInt(9)) {
            case 0 -> {
                if (n == 0) return b;
                int i = r.nextInt(n), bit = r.nextInt(8);
                what.add("flip bit " + bit + " at " + i);
                b = b.clone();
                b[i] ^= (byte) (1 << bit);
            }
            case 1 -> {
                if (n == 0) return b;
                int i = r.nextInt(n), v = r.nextInt(256);
                what.add("byte " + v + " at " + i);
                b = b.clone();
                b[i] = (byte) v;
            }
            case 2 -> {
                int len = r.nextInt(Math.max(1, n));
                what.add("truncate to " + len);
                b = Arrays.copyOf(b, len);
            }
            case 3 -> {
                byte[] extra = randomBytes(r, 1 + r.nextInt(16));
                what.add("append " + extra.length);
                b = StrictLoadingTest.concat(b, extra);
            }
            case 4 -> {
                int at = r.nextInt(n + 1);
                byte[] extra = randomBytes(r, 1 + r.nextInt(8));
                what.add("insert " + extra.length + " at " + at);
                b = StrictLoadingTest.concat(StrictLoadingTest.concat(Arrays.copyOf(b, at), extra), Arrays.copyOfRange(b, at, n));
            }
            case 5 -> {
                if (n == 0) return b;
                int at = r.nextInt(n), len = Math.min(n - at, 1 + r.nextInt(16));
                what.add("delete " + len + " at " + at);
                b = StrictLoadingTest.concat(Arrays.copyOf(b, at), Arrays.copyOfRange(b, at + len, n));
            }
            case 6 -> {
                if (n < 4) return b;
                int at = headerInts.length > 0 && r.nextBoolean() ? headerInts[r.nextInt(headerInts.length)] : r.nextInt(n - 3);
                if (at + 4 > n) return b;
                int[] extremes = {0, 1, -1, Integer.MAX_VALUE, Integer.MIN_VALUE, 2_700_000, 1 << 24, r.nextInt(),
                        ByteBuffer.wrap(b).getInt(at) + 1, ByteBuffer.wrap(b).getInt(at) - 1};
                int v = extremes[r.nextInt(extremes.length)];
                what.add("int " + v + " at " + at);
                b = b.clone();
                ByteBuffer.wrap(b).putInt(at, v);
            }
            case 7 -> {
                if (n == 0) return b;
                int from = r.nextInt(n), len = Math.min(n - from, 1 + r.nextInt(32)), to = r.nextInt(n + 1);
                what.add("copy " + len + " from " + from + " to " + to);
                b = StrictLoadingTest.concat(StrictLoadingTest.concat(Arrays.copyOf(b, to), Arrays.copyOfRange(b, from, from + len)), Arrays.copyOfRange(b, to, n));
            }
            default -> {
                if (n == 0) return b;
                byte[] special = {',', '\n', '\r', ' ', '-', '+', '9', 'a', 0, (byte) 0xff, 0x1f, (byte) 0x8b};
                int i = r.nextInt(n);
                byte v = special[r.nextInt(special.length)];
                what.add("special byte " + (v & 0xff) + " at " + i);
                b = b.clone();
                b[i] = v;
            }
        }
        return b;
    }

    static byte[] randomBytes(SplittableRandom r, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte) r.nextInt(256);
        return b;
    }

    // ---- reference decoders, from the formats' descriptions ----

    /** An IDX file of unsigned bytes with {@code dims} dimensions; labels must be below {@code classes} (0: any). */
    static Content refIdx(byte[] b, int magic, int dims, int classes) {
        int header = 4 + 4 * dims;
        if (b.length < header) return null;
        ByteBuffer bb = ByteBuffer.wrap(b);
        if (bb.getInt(0) != magic) return null;
        long payload = 1;
        int[] sizes = new int[dims];
        for (int i = 0; i < dims; i++) {
            long v = bb.getInt(4 + 4 * i) & 0xffffffffL;
            if (v == 0 || v > Idx.MAX_PAYLOAD) return null;
            sizes[i] = (int) v;
            payload *= v;
            if (payload > Idx.MAX_PAYLOAD) return null;
        }
        if (b.length != header + payload) return null;
        byte[] data = Arrays.copyOfRange(b, header, b.length);
        if (classes > 0) {
            int[] labels = new int[data.length];
            for (int i = 0; i < data.length; i++) {
                labels[i] = data[i] & 0xff;
                if (labels[i] >= classes) return null;
            }
            return Content.of(labels);
        }
        return Content.of(sizes, data);
    }

    static Content images(Idx.Images im) { return Content.of(new int[]{im.count(), im.rows(), im.cols()}, im.pixels()); }

    /** CIFAR records: labels byte(s), then 3,072 pixels; the fine label is the last label byte. */
    static Content refCifar(byte[] b, Cifar.Format f) {
        int rs = f.recordSize(), labelBytes = f.labelBytes();
        if (b.length == 0 || b.length % rs != 0) return null;
        int n = b.length / rs;
        int[] labels = new int[n];
        float[] pixels = new float[n * 3072];
        for (int i = 0; i < n; i++) {
            if (labelBytes == 2 && (b[i * rs] & 0xff) >= 20) return null;
            labels[i] = b[i * rs + labelBytes - 1] & 0xff;
            if (labels[i] >= f.classes()) return null;
            for (int j = 0; j < 3072; j++) pixels[i * 3072 + j] = (b[i * rs + labelBytes + j] & 0xff) / 255f;
        }
        return Content.of(labels, pixels);
    }

    static Content dataset(Dataset d) { return Content.of(d.labels(), d.inputs()); }

    /** The digits CSV: ASCII lines of 64 values in 0..16 and a label in 0..9; blank lines skipped. */
    static Content refCsv(byte[] b) {
        for (byte x : b) if (x < 0) return null; // non-ASCII
        String text = new String(b, StandardCharsets.US_ASCII);
        List<Integer> labels = new ArrayList<>();
        List<Float> pixels = new ArrayList<>();
        for (String line : text.split("\n", -1)) {
            if (line.endsWith("\r")) line = line.substring(0, line.length() - 1);
            if (line.replace(" ", "").replace("\t", "").isEmpty()) continue;
            String[] cells = line.split(",", -1);
            if (cells.length != 65) return null;
            for (int j = 0; j < 65; j++) {
                String c = cells[j].replaceAll("^[ \t]+|[ \t]+$", "");
                if (!c.matches("[0-9]{1,3}")) return null;
                int v = Integer.parseInt(c);
                if (v > (j < 64 ? 16 : 9)) return null;
                if (j < 64) pixels.add(v / 16f); else labels.add(v);
            }
        }
        if (labels.isEmpty()) return null;
        float[] x = new float[pixels.size()];
        for (int i = 0; i < x.length; i++) x[i] = pixels.get(i);
        return Content.of(labels.stream().mapToInt(Integer::intValue).toArray(), x);
    }

    // ---- the formats ----

    static final int[] IMAGE_HEADER = {0, 4, 8, 12}, LABEL_HEADER = {0, 4};

    static byte[] someImages() { return idxImages(6, 4, 3); }

    static byte[] someLabels() { return idxLabels(3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8); }

    static void assertMostlyRefused(String format, Tally t) {
        assertTrue(t.refused() > CASES / 4, format + ": only " + t.refused() + " of " + CASES + " mutations refused; the fuzzer is not reaching the checks");
    }

    @Test
    @Timeout(60)
    void idxRaw() throws Exception {
        assertMostlyRefused("idx-raw-images", fuzz("idx-raw-images", 11, someImages(), IMAGE_HEADER,
                p -> images(Idx.readImages(p)), b -> refIdx(b, Idx.IMAGES_MAGIC, 3, 0)));
        assertMostlyRefused("idx-raw-labels", fuzz("idx-raw-labels", 12, someLabels(), LABEL_HEADER,
                p -> Content.of(Idx.readLabels(p, 10)), b -> refIdx(b, Idx.LABELS_MAGIC, 1, 10)));
    }

    @Test
    @Timeout(60)
    void idxGzip() throws Exception {
        byte[] images = someImages(), labels = someLabels();
        Tally im = fuzz("idx-gzip-images", 21, gzip(images), new int[]{0, 4}, p -> images(Idx.readImages(p)),
                b -> refIdx(images, Idx.IMAGES_MAGIC, 3, 0));
        Tally lb = fuzz("idx-gzip-labels", 22, gzip(labels), new int[]{0, 4}, p -> Content.of(Idx.readLabels(p, 10)),
                b -> refIdx(labels, Idx.LABELS_MAGIC, 1, 10));
        // only the time, extra-flags and OS bytes (4..9) can change without damage
        assertTrue(im.accepted() + lb.accepted() < CASES / 5, "accepted " + (im.accepted() + lb.accepted()));
        assertMostlyRefused("idx-gzip-images", im);
        assertMostlyRefused("idx-gzip-labels", lb);
    }

    @Test
    @Timeout(60)
    void cifar() throws Exception {
        // pixels are 3,072 of 3,073 bytes: most single-byte changes there leave a valid file of other content
        Tally c10 = fuzz("cifar10", 31, cifar10(new int[]{7, 0, 9}, 3), new int[0],
                p -> dataset(Cifar.read("x", Cifar.Format.CIFAR10, List.of(p))), b -> refCifar(b, Cifar.Format.CIFAR10));
        Tally c100 = fuzz("cifar100", 32, cifar100(new int[]{19, 0}, new int[]{99, 42}, 5), new int[0],
                p -> dataset(Cifar.read("x", Cifar.Format.CIFAR100, List.of(p))), b -> refCifar(b, Cifar.Format.CIFAR100));
        assertMostlyRefused("cifar10", c10);
        assertMostlyRefused("cifar100", c100);
    }

    @Test
    @Timeout(60)
    void digitsCsv() throws Exception {
        SplittableRandom r = new SplittableRandom(4);
        StringBuilder csv = new StringBuilder();
        for (int row = 0; row < 4; row++) {
            for (int j = 0; j < 64; j++) csv.append(r.nextInt(17)).append(',');
            csv.append(r.nextInt(10)).append(row == 2 ? "\r\n" : "\n");
        }
        Tally t = fuzz("digits-csv", 41, csv.toString().getBytes(StandardCharsets.US_ASCII), new int[0], p -> {
            try (InputStream in = Files.newInputStream(p)) {
                return dataset(Digits.parse(in, p.toString()));
            }
        }, LoaderFuzzTest::refCsv);
        assertMostlyRefused("digits-csv", t);
    }

    @Test
    void theReferenceDecodersAgreeWithTheLoadersOnValidFiles() throws IOException {
        assertEquals(refIdx(someImages(), Idx.IMAGES_MAGIC, 3, 0), images(Idx.readImages(write(dir.resolve("i"), someImages()))));
        assertNull(refIdx(Arrays.copyOf(someLabels(), 5), Idx.LABELS_MAGIC, 1, 10));
        assertNull(refCsv("1,2\n".getBytes()));
    }
}
