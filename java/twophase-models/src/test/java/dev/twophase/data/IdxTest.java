package dev.twophase.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static dev.twophase.data.DataFiles.*;
import static org.junit.jupiter.api.Assertions.*;

class IdxTest {
    @TempDir
    Path dir;

    static void assertMessage(IOException e, String... parts) {
        for (String p : parts) assertTrue(e.getMessage().contains(p), "'" + p + "' missing from: " + e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void readsImagesAndLabelsRawOrGzip(boolean gz) throws IOException {
        Path im = write(dir.resolve("images"), maybeGzip(idxImages(5, 4, 3), gz));
        Path lb = write(dir.resolve("labels"), maybeGzip(idxLabels(3, 0, 9, 1, 9), gz));
        assertEquals(gz, Idx.isGzip(im));
        Idx.Images images = Idx.readImages(im);
        assertEquals(5, images.count());
        assertEquals(4, images.rows());
        assertEquals(3, images.cols());
        for (int i = 0; i < 5; i++) {
            for (int r = 0; r < 4; r++) {
                for (int c = 0; c < 3; c++) assertEquals(pixel(i, r, c), images.pixels()[(i * 4 + r) * 3 + c] & 0xff);
            }
        }
        float[] f = images.scaled();
        for (int k = 0; k < f.length; k++) assertEquals((images.pixels()[k] & 0xff) / 255f, f[k]);
        assertArrayEquals(new int[]{3, 0, 9, 1, 9}, Idx.readLabels(lb, 10));
    }

    @Test
    void gzipIsDetectedByContentNotByName() throws IOException {
        Path gzNamedRaw = write(dir.resolve("raw.gz"), idxLabels(1, 2));
        Path rawNamedGz = write(dir.resolve("labels-idx1-ubyte"), gzip(idxLabels(1, 2)));
        assertArrayEquals(new int[]{1, 2}, Idx.readLabels(gzNamedRaw, 10));
        assertArrayEquals(new int[]{1, 2}, Idx.readLabels(rawNamedGz, 10));
        // pixel 255 maps to exactly 1
        Path full = write(dir.resolve("white"), ByteBuffer.allocate(17).putInt(Idx.IMAGES_MAGIC).putInt(1).putInt(1).putInt(1).put((byte) 255).array());
        assertEquals(1f, Idx.readImages(full).scaled()[0]);
    }

    @Test
    void badMagicNamesTheFileAndWhatWasExpected() throws IOException {
        Path lb = write(dir.resolve("labels.bin"), idxLabels(1, 2, 3));
        IOException e = assertThrows(IOException.class, () -> Idx.readImages(lb));
        assertMessage(e, lb.toString(), "1 dimension", "this is a label file", "expected 0x00000803");
        Path im = write(dir.resolve("images.bin"), idxImages(2, 2, 2));
        e = assertThrows(IOException.class, () -> Idx.readLabels(im, 10));
        assertMessage(e, im.toString(), "3 dimensions", "this is an image file", "expected 0x00000801");

        Path text = write(dir.resolve("notes.txt"), "hello world, not idx".getBytes());
        e = assertThrows(IOException.class, () -> Idx.readImages(text));
        assertMessage(e, text.toString(), "not an IDX file", "byte offset 0", "expected 0x00000803");

        byte[] swapped = idxLabels(1, 2);
        ByteBuffer.wrap(swapped).putInt(0, Integer.reverseBytes(Idx.LABELS_MAGIC));
        Path le = write(dir.resolve("le"), swapped);
        assertMessage(assertThrows(IOException.class, () -> Idx.readLabels(le, 10)), "little-endian");

        byte[] floats = idxImages(1, 1, 1);
        floats[2] = 0x0D;
        Path fl = write(dir.resolve("floats"), floats);
        assertMessage(assertThrows(IOException.class, () -> Idx.readImages(fl)), fl.toString(), "data type 0x0D", "byte offset 2", "not unsigned byte");
    }

    @Test
    void wrongDimensionCountIsAnError() throws IOException {
        byte[] b = idxImages(2, 2, 2);
        b[3] = 2;
        Path p = write(dir.resolve("two-dims"), b);
        assertMessage(assertThrows(IOException.class, () -> Idx.readImages(p)), p.toString(), "2 dimensions", "byte offset 3", "expected 0x00000803");
    }

    @Test
    void zeroSizesAndTruncatedHeadersAreErrors() throws IOException {
        byte[] b = idxImages(2, 2, 2);
        ByteBuffer.wrap(b).putInt(8, 0);
        Path zero = write(dir.resolve("zero-rows"), b);
        assertMessage(assertThrows(IOException.class, () -> Idx.readImages(zero)), zero.toString(), "size 0 of dimension 2", "byte offset 8");

        Path shortHeader = write(dir.resolve("short"), Arrays.copyOf(idxImages(2, 2, 2), 10));
        assertMessage(assertThrows(IOException.class, () -> Idx.readImages(shortHeader)), shortHeader.toString(), "truncated",
                "byte offset 10", "while reading the header", "expected 16 bytes");

        Path empty = write(dir.resolve("empty"), new byte[0]);
        assertMessage(assertThrows(IOException.class, () -> Idx.readLabels(empty, 10)), empty.toString(), "byte offset 0", "the magic number");

        byte[] huge = idxImages(1, 1, 1);
        ByteBuffer.wrap(huge).putInt(4, 100_000).putInt(8, 100_000).putInt(12, 100_000);
        Path big = write(dir.resolve("huge"), huge);
        assertMessage(assertThrows(IOException.class, () -> Idx.readImages(big)), big.toString(), "too large");
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void truncatedPayloadNamesFileOffsetAndExpectedLength(boolean gz) throws IOException {
        byte[] full = idxImages(5, 28, 28); // 16 + 3920 bytes
        Path p = write(dir.resolve("t10k-images-idx3-ubyte" + (gz ? ".gz" : "")), maybeGzip(Arrays.copyOf(full, 2000), gz));
        IOException e = assertThrows(IOException.class, () -> Idx.readImages(p));
        assertMessage(e, p.toString(), "truncated", "data ends at byte offset 2000", "expected 3936 bytes", "found 2000",
                "5 images of 28x28", "16-byte header + 5 x 28 x 28 = 3920 payload bytes");
        if (gz) assertMessage(e, "decompressed");

        Path labels = write(dir.resolve("labels"), maybeGzip(Arrays.copyOf(idxLabels(1, 2, 3, 4), 10), gz));
        assertMessage(assertThrows(IOException.class, () -> Idx.readLabels(labels, 10)), labels.toString(), "byte offset 10", "expected 12 bytes");
    }

    @Test
    void truncatedGzipStreamIsAnErrorWithTheOffset() throws IOException {
        byte[] gz = gzip(idxImages(50, 28, 28));
        Path cut = write(dir.resolve("cut.gz"), Arrays.copyOf(gz, gz.length / 2));
        IOException e = assertThrows(IOException.class, () -> Idx.readImages(cut));
        assertMessage(e, cut.toString(), "byte offset", "expected " + (16 + 50 * 784) + " bytes");

        Path noTrailer = write(dir.resolve("no-trailer.gz"), Arrays.copyOf(gz, gz.length - 4));
        assertMessage(assertThrows(IOException.class, () -> Idx.readImages(noTrailer)), noTrailer.toString(), "gzip");

        byte[] corrupt = gz.clone();
        corrupt[corrupt.length - 6] ^= 0x55; // the CRC in the trailer
        Path bad = write(dir.resolve("bad-crc.gz"), corrupt);
        assertMessage(assertThrows(IOException.class, () -> Idx.readImages(bad)), bad.toString(), "corrupt gzip");
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void trailingBytesAreAnError(boolean gz) throws IOException {
        byte[] b = Arrays.copyOf(idxLabels(1, 2, 3), 11 + 3);
        Path p = write(dir.resolve("labels"), maybeGzip(b, gz));
        assertMessage(assertThrows(IOException.class, () -> Idx.readLabels(p, 10)), p.toString(), "3 unexpected bytes after byte offset 11",
                "should end at 11 bytes");
    }

    @Test
    void labelOutOfRangeNamesTheSampleAndOffset() throws IOException {
        Path p = write(dir.resolve("labels"), idxLabels(1, 2, 10, 3));
        assertMessage(assertThrows(IOException.class, () -> Idx.readLabels(p, 10)), p.toString(), "label 10 at byte offset 10 (sample 2)", "expected 0..9");
        assertArrayEquals(new int[]{1, 2, 10, 3}, Idx.readLabels(p, 11));
    }

    @Test
    void missingFileIsAnIOException() {
        assertThrows(IOException.class, () -> Idx.readImages(dir.resolve("nope")));
        assertFalse(Files.exists(dir.resolve("nope")));
    }
}
