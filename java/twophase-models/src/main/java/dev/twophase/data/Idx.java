package dev.twophase.data;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Reader of the IDX files of MNIST and Fashion-MNIST (unsigned-byte data only): a big-endian
 * header of a magic number {@code 0x000008DD} (type 0x08 = unsigned byte, DD = number of
 * dimensions), one 32-bit size per dimension, then the payload.
 * <ul>
 *   <li>images: magic {@code 0x00000803}, sizes count, rows, columns, then count*rows*columns bytes;</li>
 *   <li>labels: magic {@code 0x00000801}, size count, then count bytes.</li>
 * </ul>
 * A file is read as gzip ({@link GzipInput}: strict, CRC-checked) when it starts with the gzip magic
 * bytes {@code 1f 8b}, whatever its name, and as raw IDX otherwise. Everything is checked before
 * anything large is allocated: the magic, the number of dimensions, positive sizes, and, for a raw
 * file, that its real size is exactly header + payload (a truncated file and trailing bytes are both
 * errors). A gzip file's decompressed size is unknown until it has been read, so its payload is read
 * into an array that grows with the data actually present, and the end of the data is checked after
 * it. Reading a subset ({@code limit}) decodes only those items; the rest of a raw image file is
 * not read (its size was checked), the rest of a gzip file is decompressed and discarded (for its CRC
 * and length), and every label of a label file is read and checked. A canonical file of MNIST or
 * Fashion-MNIST ({@link KnownFiles}) can be verified in the same pass: the MD5 of its content is
 * computed as it is read (all of it, also for a subset) and compared at its end, before anything is
 * returned. Errors are
 * {@link DataFileException}s that name the file, the byte offset (in the decompressed data for the
 * content of gzip files) and what was expected.
 */
public final class Idx {
    public static final int IMAGES_MAGIC = 0x00000803, LABELS_MAGIC = 0x00000801;
    static final int UNSIGNED_BYTE = 0x08;
    /** Largest payload held in one Java array. */
    static final long MAX_PAYLOAD = Integer.MAX_VALUE - 8;
    /** First allocation for a gzip payload, grown as data arrives. */
    private static final int GROWTH_START = 1 << 20;

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

    /** A checked header: the item count, the sizes of one item, and the header's length in bytes. */
    public record Header(String file, boolean gzip, int count, int[] itemShape, int length) {
        /** Bytes per item (an image: rows x columns; a label: 1). */
        public long itemBytes() {
            long n = 1;
            for (int s : itemShape) n *= s;
            return n;
        }

        /** Header and payload: the length the (decompressed) file must have. */
        public long expectedLength() { return length + count * itemBytes(); }
    }

    /** Reads an image file (magic 0x00000803), gzip or raw. */
    public static Images readImages(Path file) throws IOException { return readImages(file, 0); }

    /**
     * The first {@code limit} images of an image file (all when limit is 0); the rest of the file is
     * checked as described above. A limit above the file's count is an {@link IllegalArgumentException}.
     */
    public static Images readImages(Path file, int limit) throws IOException { return readImages(file, limit, null); }

    /**
     * {@link #readImages(Path, int)} that also verifies the file, in the same pass, when it is a copy of
     * {@code canonical} (its size; null: no check): a mismatch is the {@link DataFileException} of
     * {@link KnownFiles.Candidate#check}, after the whole file is read, and no images are returned.
     */
    static Images readImages(Path file, int limit, KnownFiles.Candidate canonical) throws IOException {
        try (Input in = Input.open(file, canonical)) {
            Header h = in.header(IMAGES_MAGIC, 3, "an image file: count, rows, columns");
            int n = subset(h, limit);
            String what = "images of " + h.itemShape()[0] + "x" + h.itemShape()[1];
            byte[] px = in.readPrefix(h, n, what);
            in.skipRest(h, n, what);
            return new Images(file.toString(), n, h.itemShape()[0], h.itemShape()[1], px);
        }
    }

    /** Reads a label file (magic 0x00000801), gzip or raw; every label must be in {@code 0..classes-1}. */
    public static int[] readLabels(Path file, int classes) throws IOException { return readLabels(file, classes, 0); }

    /** The first {@code limit} labels (all when limit is 0); every label of the file is checked. */
    public static int[] readLabels(Path file, int classes, int limit) throws IOException { return readLabels(file, classes, limit, null); }

    /** {@link #readLabels(Path, int, int)} that also verifies the file when it is a copy of {@code canonical}, as {@link #readImages(Path, int, KnownFiles.Candidate)}. */
    static int[] readLabels(Path file, int classes, int limit, KnownFiles.Candidate canonical) throws IOException {
        if (classes < 2 || classes > 256) throw new IllegalArgumentException("classes " + classes + "; expected 2..256");
        try (Input in = Input.open(file, canonical)) {
            Header h = in.header(LABELS_MAGIC, 1, "a label file: count");
            int n = subset(h, limit);
            // a raw file's size is checked; a gzip file's labels array grows with the labels present
            int[] labels = new int[h.gzip() ? Math.min(n, 1 << 16) : n];
            byte[] block = new byte[(int) Math.min(h.count(), 1 << 16)];
            for (long first = 0; first < h.count(); first += block.length) {
                int len = (int) Math.min(block.length, h.count() - first);
                in.readFully(block, 0, len, "labels", h);
                for (int i = 0; i < len; i++) {
                    int v = block[i] & 0xff;
                    long sample = first + i, at = h.length() + sample;
                    if (v >= classes) {
                        throw new DataFileException(file.toString(), at, in.where() + ": label " + v + " at byte offset " + at + " (sample " + sample
                                + "); expected 0.." + (classes - 1));
                    }
                    if (sample < n) {
                        if (sample == labels.length) labels = Arrays.copyOf(labels, (int) Math.min(n, 2L * labels.length));
                        labels[(int) sample] = v;
                    }
                }
            }
            in.expectEnd(h, "labels");
            return labels;
        }
    }

    /** Reads and checks the header of a file with {@code magic} (images or labels), and its size for a raw file. */
    public static Header readHeader(Path file, int magic) throws IOException {
        try (Input in = Input.open(file, null)) {
            return magic == IMAGES_MAGIC ? in.header(IMAGES_MAGIC, 3, "an image file: count, rows, columns")
                    : in.header(LABELS_MAGIC, 1, "a label file: count");
        }
    }

    private static int subset(Header h, int limit) {
        if (limit < 0 || limit > h.count()) {
            throw new IllegalArgumentException(h.file() + ": " + limit + " items asked for, but the header declares " + h.count());
        }
        return limit == 0 ? h.count() : limit;
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

    /**
     * A stream that knows its file, whether it is gzip, its real size (raw), and its offset in the
     * (decompressed) data; when the file may be a canonical copy, the MD5 of what it reads.
     */
    private static final class Input implements AutoCloseable {
        final Path file;
        final String name;
        final GzipInput gzip;
        final InputStream in;
        final long rawSize;
        /** The MD5 of the (decompressed) content read, while the file may be {@link #canonical}'s copy; else null. */
        final Md5.Input digest;
        KnownFiles.Candidate canonical;
        long offset;

        private Input(Path file, GzipInput gzip, InputStream content, long rawSize, KnownFiles.Candidate canonical) {
            this.file = file;
            this.name = file.toString();
            this.gzip = gzip;
            this.rawSize = rawSize;
            this.canonical = canonical;
            this.digest = canonical == null ? null : new Md5.Input(content);
            this.in = digest == null ? content : digest;
        }

        /** Opens {@code file}; {@code canonical}: the canonical file it may be a copy of, verified while it is read (null: none). */
        static Input open(Path file, KnownFiles.Candidate canonical) throws IOException {
            long size = Files.size(file);
            BufferedInputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
            try {
                raw.mark(2);
                boolean gz = raw.read() == 0x1f && raw.read() == 0x8b;
                raw.reset();
                if (!gz) return new Input(file, null, raw, size, canonical);
                GzipInput g = new GzipInput(raw, file.toString());
                return new Input(file, g, g, -1, canonical);
            } catch (IOException | RuntimeException e) {
                raw.close();
                throw e;
            }
        }

        /** The file, with a note when offsets count decompressed bytes. */
        String where() { return gzip != null ? name + " (gzip; offsets are in the decompressed data)" : name; }

        /** Reads exactly {@code n} bytes; the error names what was being read and the length the header declares. */
        void readFully(byte[] b, int off, int n, String what, Header h) throws IOException {
            readFully(b, off, n, what, h == null ? -1 : h.expectedLength());
        }

        private void readFully(byte[] b, int off, int n, String what, long expectedLength) throws IOException {
            int done = 0;
            while (done < n) {
                int r;
                try {
                    r = in.read(b, off + done, n - done);
                } catch (DataFileException e) {
                    throw new DataFileException(e.file(), e.offset(), e.getMessage() + ", while reading " + what + " at decompressed byte offset "
                            + (offset + done) + (expectedLength > 0 ? "; expected " + expectedLength + " bytes, as the IDX header declares" : ""), e);
                }
                if (r < 0) {
                    long at = offset + done;
                    throw new DataFileException(name, at, where() + ": truncated: data ends at byte offset " + at + " while reading " + what
                            + (expectedLength > 0 ? "; expected " + expectedLength + " bytes, found " + at : ""));
                }
                done += r;
            }
            offset += n;
        }

        /** Reads and checks the magic and the sizes; for a raw file also its real size against them. */
        Header header(int magic, int dims, String kind) throws IOException {
            int headerLength = 4 + 4 * dims;
            byte[] m = new byte[4];
            readFully(m, 0, 4, "the magic number", headerLength);
            int got = ((m[0] & 0xff) << 24) | ((m[1] & 0xff) << 16) | ((m[2] & 0xff) << 8) | (m[3] & 0xff);
            String expected = "; expected " + hex(magic) + " (unsigned bytes, " + dims + " dimension" + (dims == 1 ? "" : "s") + ": " + kind + ")";
            if (got != magic) {
                String why;
                long at = 0;
                if (m[0] != 0 || m[1] != 0) {
                    why = "not an IDX file: magic " + hex(got) + " at byte offset 0";
                    if (Integer.reverseBytes(got) == magic) why += " (byte-swapped: written little-endian?)";
                } else if ((m[2] & 0xff) != UNSIGNED_BYTE) {
                    at = 2;
                    why = "IDX data type 0x" + String.format("%02X", m[2] & 0xff) + " at byte offset 2 (magic " + hex(got) + "), not unsigned byte";
                } else {
                    at = 3;
                    int d = m[3] & 0xff;
                    why = d + " dimension" + (d == 1 ? "" : "s") + " (byte offset 3, magic " + hex(got) + ")";
                    if (got == IMAGES_MAGIC) why += ": this is an image file";
                    else if (got == LABELS_MAGIC) why += ": this is a label file";
                }
                throw new DataFileException(name, at, where() + ": " + why + expected);
            }
            byte[] b = new byte[4 * dims];
            readFully(b, 0, b.length, "the header", headerLength);
            int[] sizes = new int[dims];
            long payload = 1;
            for (int i = 0; i < dims; i++) {
                long v = ((long) (b[4 * i] & 0xff) << 24) | ((b[4 * i + 1] & 0xff) << 16) | ((b[4 * i + 2] & 0xff) << 8) | (b[4 * i + 3] & 0xff);
                long at = 4 + 4 * i;
                if (v == 0 || v > MAX_PAYLOAD) {
                    throw new DataFileException(name, at, where() + ": size " + v + " of dimension " + (i + 1) + " at byte offset " + at
                            + "; expected a positive size below " + MAX_PAYLOAD);
                }
                sizes[i] = (int) v;
                payload *= v;
                if (payload > MAX_PAYLOAD) {
                    throw new DataFileException(name, 4, where() + ": the header declares a payload of more than " + MAX_PAYLOAD
                            + " bytes (sizes at byte offsets 4.." + (headerLength - 1) + "); too large for an IDX file of unsigned bytes");
                }
            }
            Header h = new Header(name, gzip != null, sizes[0], Arrays.copyOfRange(sizes, 1, dims), headerLength);
            // another content size: not a canonical copy, not verified (as KnownFiles.verify)
            if (canonical != null && h.expectedLength() != canonical.entry().size()) {
                canonical = null;
                digest.stop();
            }
            if (gzip == null && rawSize != h.expectedLength()) {
                String desc = describe(h, kind.startsWith("an image") ? "images of " + sizes[1] + "x" + sizes[2] : "labels");
                if (rawSize < h.expectedLength()) {
                    throw new DataFileException(name, rawSize, name + ": truncated: data ends at byte offset " + rawSize + "; the header declares "
                            + desc + ", so expected " + h.expectedLength() + " bytes, found " + rawSize);
                }
                throw trailing(h, rawSize - h.expectedLength(), desc);
            }
            return h;
        }

        private DataFileException trailing(Header h, long extra, String desc) {
            return new DataFileException(name, h.expectedLength(), where() + ": " + extra + " unexpected byte" + (extra == 1 ? "" : "s")
                    + " after byte offset " + h.expectedLength() + "; the header declares " + desc + ", so the file should end at "
                    + h.expectedLength() + " bytes");
        }

        static String describe(Header h, String what) {
            StringBuilder shape = new StringBuilder().append(h.count());
            for (int s : h.itemShape()) shape.append(" x ").append(s);
            return h.count() + " " + what + " (" + h.length() + "-byte header + " + shape + " = " + h.count() * h.itemBytes() + " payload bytes)";
        }

        /**
         * The first {@code n} items' bytes. A raw file's size is already checked, so the array is
         * allocated at once; a gzip file's grows with the data that actually arrives.
         */
        byte[] readPrefix(Header h, int n, String what) throws IOException {
            long total = n * h.itemBytes();
            if (total > MAX_PAYLOAD) throw new IllegalArgumentException(name + ": " + n + " " + what + " are too many for one array; load fewer");
            byte[] b = new byte[(int) (gzip == null ? total : Math.min(total, GROWTH_START))];
            int done = 0;
            String desc = "the payload of " + describe(h, what);
            while (done < total) {
                if (done == b.length) b = Arrays.copyOf(b, (int) Math.min(total, 2L * b.length));
                readFully(b, done, b.length - done, desc, h);
                done = b.length;
            }
            return b;
        }

        /**
         * Past the first {@code n} items: nothing to read for a raw file (its size is checked) unless
         * it is verified; a gzip file is read to its end.
         */
        void skipRest(Header h, int n, String what) throws IOException {
            if (gzip != null || canonical != null) {
                byte[] scratch = new byte[1 << 16];
                String desc = "the payload of " + describe(h, what);
                for (long left = (h.count() - n) * h.itemBytes(); left > 0; ) {
                    int len = (int) Math.min(scratch.length, left);
                    readFully(scratch, 0, len, desc, h);
                    left -= len;
                }
            }
            expectEnd(h, what);
        }

        /**
         * After the payload: a gzip file must end (its CRC and length are checked by the reader on
         * the way), and a canonical copy's content must have the canonical MD5.
         */
        void expectEnd(Header h, String what) throws IOException {
            if (gzip != null) {
                byte[] scratch = new byte[4096];
                long extra = 0;
                try {
                    // count what follows, up to a bound: a damaged file may decompress to far more
                    for (int r; extra < (1 << 20) && (r = in.read(scratch)) >= 0; ) extra += r;
                } catch (DataFileException e) {
                    throw new DataFileException(e.file(), e.offset(), e.getMessage() + ", after the end of the IDX payload at decompressed byte offset " + offset, e);
                }
                if (extra > 0) throw trailing(h, extra, describe(h, what));
            }
            if (canonical != null) canonical.check(digest.digest(), gzip != null);
        }

        @Override
        public void close() throws IOException { in.close(); }
    }
}
