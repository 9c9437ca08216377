package dev.twophase.data;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Reader of the IDX files of MNIST and Fashion-MNIST (unsigned-byte data only): a big-endian
 * header of a magic number {@code 0x000008DD} (type 0x08 = unsigned byte, DD = number of
 * dimensions), one 32-bit size per dimension, then the payload.
 * <ul>
 *   <li>images: magic {@code 0x00000803}, sizes count, rows, columns, then count*rows*columns bytes;</li>
 *   <li>labels: magic {@code 0x00000801}, size count, then count bytes.</li>
 * </ul>
 * A file is read as gzip when it starts with the gzip magic bytes {@code 1f 8b}, whatever its name,
 * and as raw IDX otherwise. Everything is checked: the magic, the number of dimensions, positive
 * sizes, a payload of exactly the declared length (a truncated file and trailing bytes are both
 * errors) and, for labels, values below the number of classes. Errors are {@link IOException}s that
 * name the file, the byte offset (in the decompressed stream for gzip files) and what was expected.
 */
public final class Idx {
    public static final int IMAGES_MAGIC = 0x00000803, LABELS_MAGIC = 0x00000801;
    static final int UNSIGNED_BYTE = 0x08;
    /** Largest payload held in one Java array. */
    static final long MAX_PAYLOAD = Integer.MAX_VALUE - 8;

    private Idx() { }

    /** The pixels of an image file: {@code count} images of {@code rows x cols} bytes, row-major. */
    public record Images(String source, int count, int rows, int cols, byte[] pixels) {
        public Images {
            if ((long) count * rows * cols != pixels.length) {
                throw new IllegalArgumentException(source + ": " + pixels.length + " pixels for " + count + " images of " + rows + "x" + cols);
            }
        }

        /** The pixels as floats in [0, 1] (value / 255). */
        public float[] scaled() { return unitScale(pixels); }
    }

    /** Reads an image file (magic 0x00000803), gzip or raw. */
    public static Images readImages(Path file) throws IOException {
        try (Input in = Input.open(file)) {
            int[] dims = in.header(IMAGES_MAGIC, 3, "an image file: count, rows, columns");
            byte[] px = in.payload(dims, "images of " + dims[1] + "x" + dims[2]);
            return new Images(file.toString(), dims[0], dims[1], dims[2], px);
        }
    }

    /**
     * Reads a label file (magic 0x00000801), gzip or raw; every label must be in
     * {@code 0..classes-1}.
     */
    public static int[] readLabels(Path file, int classes) throws IOException {
        if (classes < 2 || classes > 256) throw new IllegalArgumentException("classes " + classes + "; expected 2..256");
        try (Input in = Input.open(file)) {
            int[] dims = in.header(LABELS_MAGIC, 1, "a label file: count");
            byte[] raw = in.payload(dims, "labels");
            int[] labels = new int[raw.length];
            for (int i = 0; i < raw.length; i++) {
                int v = raw[i] & 0xff;
                if (v >= classes) {
                    throw new IOException(in.where() + ": label " + v + " at byte offset " + (in.headerLength + i) + " (sample " + i
                            + "); expected 0.." + (classes - 1));
                }
                labels[i] = v;
            }
            return labels;
        }
    }

    /** Whether the file starts with the gzip magic {@code 1f 8b}. */
    public static boolean isGzip(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return in.read() == 0x1f && in.read() == 0x8b;
        }
    }

    /** Bytes as floats value/255 in [0, 1]. */
    static float[] unitScale(byte[] b) {
        float[] f = new float[b.length];
        for (int i = 0; i < b.length; i++) f[i] = (b[i] & 0xff) / 255f;
        return f;
    }

    static String hex(int v) { return String.format("0x%08X", v); }

    /** A stream that knows its file, whether it is gzip, and its offset in the (decompressed) data. */
    private static final class Input implements AutoCloseable {
        final Path file;
        final boolean gzip;
        final InputStream in;
        long offset;
        int headerLength;

        private Input(Path file, boolean gzip, InputStream in) {
            this.file = file;
            this.gzip = gzip;
            this.in = in;
        }

        static Input open(Path file) throws IOException {
            BufferedInputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
            try {
                raw.mark(2);
                boolean gzip = raw.read() == 0x1f && raw.read() == 0x8b;
                raw.reset();
                if (!gzip) return new Input(file, false, raw);
                try {
                    return new Input(file, true, new GZIPInputStream(raw, 1 << 16));
                } catch (IOException e) {
                    throw new IOException(file + ": starts with the gzip magic 1f 8b but its gzip header is unreadable (" + e.getMessage() + ")", e);
                }
            } catch (IOException | RuntimeException e) {
                raw.close();
                throw e;
            }
        }

        /** The file, with "(decompressed)" when offsets count decompressed bytes. */
        String where() { return gzip ? file + " (gzip; offsets are in the decompressed data)" : file.toString(); }

        /**
         * Reads exactly {@code n} bytes into {@code b} at {@code off}; the error names what was being
         * read and the total length the file should have.
         */
        void readFully(byte[] b, int off, int n, String what, long expectedLength) throws IOException {
            int done = 0;
            while (done < n) {
                int r;
                try {
                    r = in.read(b, off + done, n - done);
                } catch (EOFException e) {
                    throw new IOException(where() + ": the gzip data ends early (the compressed file is truncated) at byte offset " + (offset + done)
                            + " while reading " + what + "; expected " + expectedLength + " bytes", e);
                } catch (ZipException e) {
                    throw new IOException(where() + ": corrupt gzip data near byte offset " + (offset + done) + " while reading " + what
                            + " (" + e.getMessage() + ")", e);
                }
                if (r < 0) {
                    throw new IOException(where() + ": truncated: data ends at byte offset " + (offset + done) + " while reading " + what
                            + "; expected " + expectedLength + " bytes, found " + (offset + done));
                }
                done += r;
            }
            offset += n;
        }

        /** Reads and checks the magic and the sizes. */
        int[] header(int magic, int dims, String kind) throws IOException {
            headerLength = 4 + 4 * dims;
            byte[] m = new byte[4];
            readFully(m, 0, 4, "the magic number", headerLength);
            int got = ((m[0] & 0xff) << 24) | ((m[1] & 0xff) << 16) | ((m[2] & 0xff) << 8) | (m[3] & 0xff);
            String expected = "; expected " + hex(magic) + " (unsigned bytes, " + dims + " dimension" + (dims == 1 ? "" : "s") + ": " + kind + ")";
            if (got != magic) {
                String why;
                if (m[0] != 0 || m[1] != 0) {
                    why = "not an IDX file: magic " + hex(got) + " at byte offset 0";
                    if (Integer.reverseBytes(got) == magic) why += " (byte-swapped: written little-endian?)";
                } else if ((m[2] & 0xff) != UNSIGNED_BYTE) {
                    why = "IDX data type 0x" + String.format("%02X", m[2] & 0xff) + " at byte offset 2 (magic " + hex(got) + "), not unsigned byte";
                } else {
                    int d = m[3] & 0xff;
                    why = d + " dimension" + (d == 1 ? "" : "s") + " (byte offset 3, magic " + hex(got) + ")";
                    if (got == IMAGES_MAGIC) why += ": this is an image file";
                    else if (got == LABELS_MAGIC) why += ": this is a label file";
                }
                throw new IOException(where() + ": " + why + expected);
            }
            byte[] h = new byte[4 * dims];
            readFully(h, 0, h.length, "the header", headerLength);
            int[] sizes = new int[dims];
            long payload = 1;
            for (int i = 0; i < dims; i++) {
                long v = ((long) (h[4 * i] & 0xff) << 24) | ((h[4 * i + 1] & 0xff) << 16) | ((h[4 * i + 2] & 0xff) << 8) | (h[4 * i + 3] & 0xff);
                if (v == 0 || v > MAX_PAYLOAD) {
                    throw new IOException(where() + ": size " + v + " of dimension " + (i + 1) + " at byte offset " + (4 + 4 * i)
                            + "; expected a positive size below " + MAX_PAYLOAD);
                }
                sizes[i] = (int) v;
                payload *= v;
                if (payload > MAX_PAYLOAD) {
                    throw new IOException(where() + ": the header declares a payload of more than " + MAX_PAYLOAD + " bytes (sizes at byte offsets 4.."
                            + (headerLength - 1) + "); too large for one array");
                }
            }
            return sizes;
        }

        /** Reads the payload of exactly the declared size and checks that the file ends there. */
        byte[] payload(int[] dims, String what) throws IOException {
            long n = 1;
            StringBuilder shape = new StringBuilder();
            for (int d : dims) {
                n *= d;
                shape.append(shape.isEmpty() ? "" : " x ").append(d);
            }
            long expectedLength = headerLength + n;
            String desc = dims[0] + " " + what + " (" + headerLength + "-byte header + " + shape + " = " + n + " payload bytes)";
            byte[] b = new byte[(int) n];
            readFully(b, 0, b.length, "the payload of " + desc, expectedLength);
            long extra;
            try {
                extra = in.transferTo(OutputStream.nullOutputStream());
            } catch (EOFException e) {
                throw new IOException(where() + ": the gzip data ends early (the compressed file is truncated, e.g. its 8-byte trailer) after byte offset "
                        + offset + ", the end of the payload", e);
            } catch (ZipException e) {
                throw new IOException(where() + ": corrupt gzip data after byte offset " + offset + " (" + e.getMessage() + ")", e);
            }
            if (extra > 0) {
                throw new IOException(where() + ": " + extra + " unexpected byte" + (extra == 1 ? "" : "s") + " after byte offset " + offset
                        + "; the header declares " + desc + ", so the file should end at " + expectedLength + " bytes");
            }
            return b;
        }

        @Override
        public void close() throws IOException { in.close(); }
    }
}
