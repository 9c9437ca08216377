package dev.twophase.data;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPOutputStream;

/** Writers of tiny files in the formats the loaders read, for the tests. */
final class DataFiles {
    private DataFiles() { }

    /** The test pixel of image i at (r, c): distinct, and covers 0 and 255. */
    static int pixel(int i, int r, int c) { return (i * 37 + r * 11 + c * 3) % 256; }

    /** An IDX image file of n images of rows x cols, pixels from {@link #pixel}. */
    static byte[] idxImages(int n, int rows, int cols) {
        ByteBuffer b = ByteBuffer.allocate(16 + n * rows * cols);
        b.putInt(Idx.IMAGES_MAGIC).putInt(n).putInt(rows).putInt(cols);
        for (int i = 0; i < n; i++) for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) b.put((byte) pixel(i, r, c));
        return b.array();
    }

    /** An IDX label file. */
    static byte[] idxLabels(int... labels) {
        ByteBuffer b = ByteBuffer.allocate(8 + labels.length);
        b.putInt(Idx.LABELS_MAGIC).putInt(labels.length);
        for (int l : labels) b.put((byte) l);
        return b.array();
    }

    static byte[] gzip(byte[] data) {
        ByteArrayOutputStream bo = new ByteArrayOutputStream();
        try (GZIPOutputStream g = new GZIPOutputStream(bo)) {
            g.write(data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bo.toByteArray();
    }

    static Path write(Path file, byte[] data) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        return Files.write(file, data);
    }

    /** The four MNIST files (raw or .gz) in dir: nTrain and nTest images of 28x28, label i % 10. */
    static void mnist(Path dir, int nTrain, int nTest, boolean gz) throws IOException {
        String ext = gz ? ".gz" : "";
        write(dir.resolve(Mnist.TRAIN_IMAGES + ext), maybeGzip(idxImages(nTrain, 28, 28), gz));
        write(dir.resolve(Mnist.TRAIN_LABELS + ext), maybeGzip(idxLabels(cycle(nTrain, 10, 0)), gz));
        write(dir.resolve(Mnist.TEST_IMAGES + ext), maybeGzip(idxImages(nTest, 28, 28), gz));
        write(dir.resolve(Mnist.TEST_LABELS + ext), maybeGzip(idxLabels(cycle(nTest, 10, 3)), gz));
    }

    static byte[] maybeGzip(byte[] b, boolean gz) { return gz ? gzip(b) : b; }

    /** (i + shift) % classes for i < n. */
    static int[] cycle(int n, int classes, int shift) {
        int[] y = new int[n];
        for (int i = 0; i < n; i++) y[i] = (i + shift) % classes;
        return y;
    }

    /** CIFAR-10 records: label, then the 3,072 pixels (channel ch, row r, col c) = pixel(i + 100 * ch, r, c). */
    static byte[] cifar10(int[] labels, int firstIndex) {
        ByteBuffer b = ByteBuffer.allocate(labels.length * 3073);
        for (int k = 0; k < labels.length; k++) {
            b.put((byte) labels[k]);
            putPixels(b, firstIndex + k);
        }
        return b.array();
    }

    /** CIFAR-100 records: coarse label, fine label, pixels. */
    static byte[] cifar100(int[] coarse, int[] fine, int firstIndex) {
        ByteBuffer b = ByteBuffer.allocate(fine.length * 3074);
        for (int k = 0; k < fine.length; k++) {
            b.put((byte) coarse[k]).put((byte) fine[k]);
            putPixels(b, firstIndex + k);
        }
        return b.array();
    }

    private static void putPixels(ByteBuffer b, int i) {
        for (int ch = 0; ch < 3; ch++) for (int r = 0; r < 32; r++) for (int c = 0; c < 32; c++) b.put((byte) pixel(i + 100 * ch, r, c));
    }

    /** The expected value of the CHW pixel of sample i. */
    static float cifarValue(int i, int ch, int r, int c) { return pixel(i + 100 * ch, r, c) / 255f; }

    /** A tar archive built entry by entry (ustar headers, 512-byte blocks). */
    static final class TarBuilder {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        TarBuilder file(String name, byte[] data) { return entry(name, '0', data, ""); }

        TarBuilder dir(String name) { return entry(name, '5', new byte[0], ""); }

        TarBuilder symlink(String name, String target) { return entry(name, '2', new byte[0], target); }

        /** A GNU long-name entry followed by the file. */
        TarBuilder longFile(String name, byte[] data) {
            byte[] n = (name + "\0").getBytes(StandardCharsets.UTF_8);
            entry("././@LongLink", 'L', n, "");
            return entry(name.substring(0, 50), '0', data, "");
        }

        /** A pax header carrying the path, then the file under a short name. */
        TarBuilder paxFile(String name, byte[] data) {
            String rec = " path=" + name + "\n";
            int len = rec.length() + 1;
            while (String.valueOf(len).length() + rec.length() != len) len++;
            entry("PaxHeaders/x", 'x', (len + rec).getBytes(StandardCharsets.UTF_8), "");
            return entry("short", '0', data, "");
        }

        TarBuilder entry(String name, char type, byte[] data, String link) {
            out.writeBytes(header(name, type, data.length, link));
            out.writeBytes(data);
            out.writeBytes(new byte[(int) (Tar.padded(data.length) - data.length)]);
            return this;
        }

        byte[] build() {
            out.writeBytes(new byte[1024]);
            return out.toByteArray();
        }

        /** Without the end-of-archive blocks. */
        byte[] buildUnterminated() { return out.toByteArray(); }

        static byte[] header(String name, char type, long size, String link) {
            byte[] h = new byte[512];
            byte[] nb = name.getBytes(StandardCharsets.UTF_8);
            if (nb.length > 100) {
                // split into prefix (345..499) and name at a '/'
                int cut = name.lastIndexOf('/', 154);
                put(h, 345, name.substring(0, cut));
                put(h, 0, name.substring(cut + 1));
            } else {
                System.arraycopy(nb, 0, h, 0, nb.length);
            }
            put(h, 100, "0000644");
            put(h, 108, "0001750");
            put(h, 116, "0001750");
            put(h, 124, String.format("%011o", size));
            put(h, 136, String.format("%011o", 1_700_000_000L));
            h[156] = (byte) type;
            put(h, 157, link);
            put(h, 257, "ustar");
            put(h, 263, "00");
            Arrays.fill(h, 148, 156, (byte) ' ');
            int sum = 0;
            for (byte x : h) sum += x & 0xff;
            put(h, 148, String.format("%06o", sum));
            h[154] = 0;
            h[155] = ' ';
            return h;
        }

        private static void put(byte[] h, int off, String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            System.arraycopy(b, 0, h, off, b.length);
        }
    }
}
