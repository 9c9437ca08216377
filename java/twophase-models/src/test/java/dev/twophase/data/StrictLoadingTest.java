package dev.twophase.data;

import com.sun.management.ThreadMXBean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static dev.twophase.data.DataFiles.*;
import static org.junit.jupiter.api.Assertions.*;

/** Validate before allocating, decode only what is asked, check every label, strict gzip, checksums at load. */
class StrictLoadingTest {
    @TempDir
    Path dir;

    static final ThreadMXBean THREADS = (ThreadMXBean) ManagementFactory.getThreadMXBean();

    /** Bytes this thread allocates while running {@code r}. */
    static long allocatedBy(ThrowingRunnable r) throws Exception {
        long before = THREADS.getCurrentThreadAllocatedBytes();
        try {
            r.run();
        } catch (IOException | IllegalArgumentException expected) {
            // the caller asserts on the outcome separately; here only the allocation counts
        }
        return THREADS.getCurrentThreadAllocatedBytes() - before;
    }

    interface ThrowingRunnable { void run() throws Exception; }

    @Test
    void aRawHeaderIsCheckedAgainstTheFileSizeBeforeAllocating() throws Exception {
        byte[] b = idxImages(300, 28, 28); // 235 KB
        ByteBuffer.wrap(b).putInt(4, 2_700_000);
        Path p = write(dir.resolve("images"), b);
        DataFileException e = assertThrows(DataFileException.class, () -> Idx.readImages(p));
        assertTrue(e.getMessage().contains("truncated: data ends at byte offset " + b.length) && e.getMessage().contains("2700000 images of 28x28"), e.getMessage());
        assertEquals(b.length, e.offset());
        assertTrue(allocatedBy(() -> Idx.readImages(p)) < 2 << 20, "no payload-sized allocation for a lying header");
    }

    @Test
    void aLyingGzipHeaderAllocatesOnlyWhatTheDataHolds() throws Exception {
        byte[] b = idxImages(300, 28, 28);
        ByteBuffer.wrap(b).putInt(4, 2_700_000); // claims 2.1 GB
        Path p = write(dir.resolve("images.gz"), gzip(b));
        DataFileException e = assertThrows(DataFileException.class, () -> Idx.readImages(p));
        assertTrue(e.getMessage().contains("truncated: data ends at byte offset " + b.length), e.getMessage());
        assertTrue(allocatedBy(() -> Idx.readImages(p)) < 8 << 20, "allocation grows with the data actually present");
    }

    @Test
    void aSubsetDecodesOnlyItsImagesButChecksTheRest() throws Exception {
        Path raw = write(dir.resolve("images"), idxImages(2000, 28, 28)); // 1.5 MB
        Idx.Images first = Idx.readImages(raw, 3);
        assertEquals(3, first.count());
        assertArrayEquals(Arrays.copyOf(Idx.readImages(raw).pixels(), 3 * 784), first.pixels());
        assertTrue(allocatedBy(() -> Idx.readImages(raw, 3)) < 512 << 10, "a subset reads no more than it needs");
        // the gzip file's rest is decompressed for its CRC: damage past the subset is still found
        byte[] gz = gzip(idxImages(2000, 28, 28));
        gz[gz.length - 7] ^= 1;
        Path bad = write(dir.resolve("images.gz"), gz);
        assertThrows(DataFileException.class, () -> Idx.readImages(bad, 3));
        // and every label, also past the subset
        Path labels = write(dir.resolve("labels"), idxLabels(1, 2, 3, 4, 99));
        DataFileException e = assertThrows(DataFileException.class, () -> Idx.readLabels(labels, 10, 2));
        assertEquals(12, e.offset());
        assertArrayEquals(new int[]{1, 2}, Idx.readLabels(write(dir.resolve("ok"), idxLabels(1, 2, 3)), 10, 2));
    }

    @Test
    void cifarLabelsPastTheSubsetAreChecked() throws IOException {
        CifarTest.cifar10Files(dir);
        write(dir.resolve("data_batch_5.bin"), cifar10(new int[]{1, 12}, 0));
        DataFileException e = assertThrows(DataFileException.class, () -> Cifar.load(Cifar.Format.CIFAR10, dir, 2, 1));
        assertTrue(e.getMessage().contains("data_batch_5.bin: label 12 at byte offset 3073 (record 1)"), e.getMessage());
        assertEquals(3073, e.offset());
    }

    @Test
    void cifarOfTwoGigabytesIsRefusedBeforeAllocating() throws Exception {
        CifarTest.cifar10Files(dir);
        Path big = dir.resolve("data_batch_1.bin");
        try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
            f.setLength(3073L * 700_000); // sparse, 2.15 GB of label-0 black images
        }
        long max = Runtime.getRuntime().maxMemory();
        SubsetSizeException e = assertThrows(SubsetSizeException.class, () -> Cifar.load(Cifar.Format.CIFAR10, dir, 0, 0));
        assertEquals(SubsetSizeException.Part.TRAINING, e.part());
        assertTrue(e.getMessage().contains("Java heap") || 700_008L * 3072 * 8 <= max, e.getMessage());
        assertTrue(allocatedBy(() -> Cifar.load(Cifar.Format.CIFAR10, dir, 0, 0)) < 1 << 20);
    }

    @Test
    void askingForMoreThanThereIsNamesThePartBeforeReading() throws IOException {
        mnist(dir, 8, 6, true);
        SubsetSizeException e = assertThrows(SubsetSizeException.class, () -> Mnist.load(Mnist.Variant.MNIST, dir, 3, 7));
        assertEquals(SubsetSizeException.Part.VALIDATION, e.part());
        assertEquals(7, e.requested());
        assertTrue(e.getMessage().contains("mnist validation: 7 samples asked for, but there are 6"), e.getMessage());
        assertEquals(SubsetSizeException.Part.TRAINING,
                assertThrows(SubsetSizeException.class, () -> Datasets.load("digits", null, 5000, 0)).part());
    }

    @Test
    void memoryIsCheckedBeforeAllocating() {
        long max = Runtime.getRuntime().maxMemory();
        int samples = (int) Math.min(Integer.MAX_VALUE, max / (784 * Datasets.BYTES_PER_VALUE) + 1);
        SubsetSizeException e = assertThrows(SubsetSizeException.class, () -> Datasets.checkMemory("mnist", samples, 0, 784));
        assertTrue(e.getMessage().contains("Java heap") && e.getMessage().contains("-Xmx"), e.getMessage());
        Datasets.checkMemory("mnist", 60_000, 10_000, 784);
    }

    @Test
    void aDataDirThatIsAFileSaysSo() throws IOException {
        Path file = write(dir.resolve("file"), new byte[3]);
        for (String name : List.of("mnist", "cifar10")) {
            FileNotFoundException e = assertThrows(FileNotFoundException.class, () -> Datasets.load(name, file, 0, 0));
            assertTrue(e.getMessage().contains(file + " is a file, not a directory"), e.getMessage());
        }
    }

    @Test
    void gzipTrailingDataReservedFlagsAndTruncatedHeadersAreRefused() throws IOException {
        byte[] gz = gzip(idxLabels(1, 2, 3));
        Path trailing = write(dir.resolve("trailing"), concat(gz, new byte[]{'x', 'y'}));
        DataFileException e = assertThrows(DataFileException.class, () -> Idx.readLabels(trailing, 10));
        assertTrue(e.getMessage().contains("unexpected data at byte offset " + gz.length + " after the end of the gzip stream"), e.getMessage());
        assertEquals(gz.length, e.offset());
        // zero padding too
        assertThrows(DataFileException.class, () -> Idx.readLabels(write(dir.resolve("padded"), concat(gz, new byte[512])), 10));
        // a second complete member is legal gzip (concatenated streams)
        byte[] two = concat(gzip(Arrays.copyOf(idxLabels(1, 2, 3), 9)), gzip(new byte[]{2, 3}));
        assertArrayEquals(new int[]{1, 2, 3}, Idx.readLabels(write(dir.resolve("two"), two), 10));

        byte[] flags = gz.clone();
        flags[3] |= 0x40;
        e = assertThrows(DataFileException.class, () -> Idx.readLabels(write(dir.resolve("flags"), flags), 10));
        assertTrue(e.getMessage().contains("reserved gzip flag bits 0x40 set at byte offset 3"), e.getMessage());
        assertEquals(3, e.offset());

        e = assertThrows(DataFileException.class, () -> Idx.readLabels(write(dir.resolve("short.gz"), Arrays.copyOf(gz, 5)), 10));
        assertTrue(e.getMessage().contains("gzip header of the member at byte offset 0 is truncated: the file ends at byte offset 5"), e.getMessage());
        assertFalse(e.getMessage().contains("null"), e.getMessage());

        byte[] method = gz.clone();
        method[2] = 7;
        assertTrue(assertThrows(DataFileException.class, () -> Idx.readLabels(write(dir.resolve("cm"), method), 10)).getMessage()
                .contains("compression method 7 at byte offset 2; expected 8 (deflate)"));
    }

    @Test
    void gzipOptionalHeaderFieldsAreReadAndTheHeaderCrcChecked() throws IOException {
        byte[] deflated = gzip(idxLabels(4, 5));
        // rebuild the member with FEXTRA, FNAME, FCOMMENT and FHCRC set
        java.io.ByteArrayOutputStream h = new java.io.ByteArrayOutputStream();
        h.write(new byte[]{0x1f, (byte) 0x8b, 8, 2 | 4 | 8 | 16, 0, 0, 0, 0, 0, 3});
        h.write(new byte[]{3, 0, 'a', 'b', 'c'});
        h.writeBytes("name\0".getBytes());
        h.writeBytes("comment\0".getBytes());
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(h.toByteArray());
        int c = (int) crc.getValue() & 0xffff;
        h.write(c & 0xff);
        h.write(c >> 8);
        h.write(deflated, 10, deflated.length - 10);
        byte[] full = h.toByteArray();
        assertArrayEquals(new int[]{4, 5}, Idx.readLabels(write(dir.resolve("fields"), full), 10));
        int crcAt = 10 + 5 + 5 + 8;
        full[crcAt] ^= 1;
        DataFileException e = assertThrows(DataFileException.class, () -> Idx.readLabels(write(dir.resolve("bad-hcrc"), full), 10));
        assertTrue(e.getMessage().contains("gzip header CRC") && e.offset() == crcAt, e.getMessage());
    }

    @Test
    void canonicalFilesAreVerifiedAtLoadAndTheCheckCanBeSkipped() throws IOException {
        Path d = dir.resolve("m");
        mnist(d, 4, 3, true);
        Path labels = d.resolve(Mnist.TRAIN_LABELS + ".gz");
        byte[] content = idxLabels(cycle(4, 10, 0));
        List<KnownFiles.Entry> table = List.of(new KnownFiles.Entry("mnist", Mnist.TRAIN_LABELS, content.length, md5(content)),
                new KnownFiles.Entry("fashion-mnist", Mnist.TRAIN_LABELS, content.length, md5(idxLabels(9, 9, 9, 9))));
        assertTrue(KnownFiles.verify(labels, "mnist", table));
        // a re-compressed copy verifies: the content counts, not the container
        write(labels, gzip(content));
        assertTrue(KnownFiles.verify(labels, "mnist", table));
        // a changed label keeps the format valid; only the checksum catches it
        byte[] damaged = content.clone();
        damaged[9] = 7;
        write(labels, gzip(damaged));
        DataFileException e = assertThrows(DataFileException.class, () -> KnownFiles.verify(labels, "mnist", table));
        assertTrue(e.getMessage().contains("the decompressed content of " + labels) && e.getMessage().contains("damaged")
                && e.getMessage().contains("--skip-checksums"), e.getMessage());
        write(labels, gzip(idxLabels(9, 9, 9, 9)));
        e = assertThrows(DataFileException.class, () -> KnownFiles.verify(labels, "mnist", table));
        assertTrue(e.getMessage().contains("it is fashion-mnist's " + Mnist.TRAIN_LABELS), e.getMessage());
        // another size is not a canonical copy: not checked
        write(labels, idxLabels(1, 2, 3));
        assertFalse(KnownFiles.verify(labels, "mnist", table));
        // the real table: the canonical sizes of both data sets, with the MD5 format checked
        for (KnownFiles.Entry k : KnownFiles.all()) assertTrue(k.md5().matches("[0-9a-f]{32}") && k.size() > 10_000, k.toString());
    }

    @Test
    void theLoadersVerifyCanonicalFilesInTheirOnePass() throws IOException {
        // images (a subset of 2 of 5, so a raw file's rest is read for the digest) and labels, raw and gzip
        byte[] images = idxImages(5, 3, 4), labels = idxLabels(cycle(5, 10, 0));
        Path im = dir.resolve(Mnist.TEST_IMAGES), lb = dir.resolve(Mnist.TEST_LABELS);
        List<KnownFiles.Entry> table = List.of(new KnownFiles.Entry("mnist", Mnist.TEST_IMAGES, images.length, md5(images)),
                new KnownFiles.Entry("mnist", Mnist.TEST_LABELS, labels.length, md5(labels)),
                new KnownFiles.Entry("fashion-mnist", Mnist.TEST_LABELS, labels.length, md5(idxLabels(9, 9, 9, 9, 9))));
        for (boolean gz : new boolean[] {false, true}) {
            Path imFile = write(gz ? dir.resolve(Mnist.TEST_IMAGES + ".gz") : im, maybeGzip(images, gz));
            Path lbFile = write(gz ? dir.resolve(Mnist.TEST_LABELS + ".gz") : lb, maybeGzip(labels, gz));
            assertArrayEquals(Arrays.copyOfRange(images, 16, 16 + 2 * 12), Idx.readImages(imFile, 2, KnownFiles.candidate(imFile, "mnist", table)).pixels());
            assertArrayEquals(cycle(5, 10, 0), Idx.readLabels(lbFile, 10, 0, KnownFiles.candidate(lbFile, "mnist", table)));
            // a changed pixel past the subset and a changed label keep the format valid: refused, with KnownFiles.verify's message
            byte[] damagedImages = images.clone(), damagedLabels = labels.clone();
            damagedImages[images.length - 1] ^= 1;
            damagedLabels[9] = 7;
            write(imFile, maybeGzip(damagedImages, gz));
            write(lbFile, maybeGzip(damagedLabels, gz));
            for (ThrowingRunnable load : List.<ThrowingRunnable>of(() -> Idx.readImages(imFile, 2, KnownFiles.candidate(imFile, "mnist", table)),
                    () -> Idx.readLabels(lbFile, 10, 0, KnownFiles.candidate(lbFile, "mnist", table)))) {
                DataFileException e = assertThrows(DataFileException.class, load::run);
                Path file = Path.of(e.file());
                DataFileException alone = assertThrows(DataFileException.class, () -> KnownFiles.verify(file, "mnist", table));
                assertEquals(alone.getMessage(), e.getMessage());
                assertTrue(e.getMessage().contains((gz ? "the decompressed content of " : "") + file + " has MD5 ") && e.getMessage().contains("damaged"),
                        e.getMessage());
            }
            // another data set's canonical file is named as such
            write(lbFile, maybeGzip(idxLabels(9, 9, 9, 9, 9), gz));
            DataFileException e = assertThrows(DataFileException.class, () -> Idx.readLabels(lbFile, 10, 0, KnownFiles.candidate(lbFile, "mnist", table)));
            assertTrue(e.getMessage().contains("it is fashion-mnist's " + Mnist.TEST_LABELS), e.getMessage());
            // another size is not a canonical copy: loaded unchecked
            write(lbFile, maybeGzip(idxLabels(1, 2, 3), gz));
            assertArrayEquals(new int[] {1, 2, 3}, Idx.readLabels(lbFile, 10, 0, KnownFiles.candidate(lbFile, "mnist", table)));
            Files.delete(imFile);
            Files.delete(lbFile);
        }
    }

    @Test
    void csvErrorsNameLineAndOffsetAndRejectNonAsciiDigits() {
        String row = "1,".repeat(64) + "3\n";
        DataFileException e = assertThrows(DataFileException.class,
                () -> Digits.parse(new ByteArrayInputStream((row + row.replaceFirst("1", "\u0663")).getBytes(java.nio.charset.StandardCharsets.UTF_8)), "d.csv"));
        assertEquals(row.length(), e.offset());
        assertTrue(e.getMessage().contains("d.csv line 2 (byte offset " + row.length() + ")"), e.getMessage());
        assertThrows(DataFileException.class, () -> Digits.parse(new ByteArrayInputStream(("+" + row).getBytes()), "d.csv"));
        assertThrows(DataFileException.class, () -> Digits.parse(new ByteArrayInputStream(row.replace("\n", ",4\n").getBytes()), "d.csv"));
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    static String md5(byte[] b) {
        try {
            return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("MD5").digest(b));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
