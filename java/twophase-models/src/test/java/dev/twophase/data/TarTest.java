package dev.twophase.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static dev.twophase.data.DataFiles.*;
import static org.junit.jupiter.api.Assertions.*;

class TarTest {
    @TempDir
    Path dir;

    static List<Path> extract(byte[] tar, Path into) throws IOException {
        return Tar.extract(new ByteArrayInputStream(tar), "test.tar", into);
    }

    static byte[] bytes(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte) (i * 31 + seed);
        return b;
    }

    @Test
    void extractsRegularFilesAndDirectories() throws IOException {
        byte[] a = bytes(3073 * 2, 1), b = bytes(512, 2), empty = new byte[0];
        String deep = "cifar-10-batches-bin/" + "x".repeat(60) + "/" + "y".repeat(60) + ".bin"; // > 100 bytes: ustar prefix
        byte[] tar = new TarBuilder()
                .dir("cifar-10-batches-bin/")
                .file("cifar-10-batches-bin/data_batch_1.bin", a)
                .file("./cifar-10-batches-bin/batches.meta.txt", b)
                .file("cifar-10-batches-bin/empty", empty)
                .file(deep, b)
                .longFile("long/" + "z".repeat(120) + ".txt", a)
                .paxFile("pax/" + "p".repeat(110), b)
                .build();
        List<Path> files = extract(tar, dir);
        assertEquals(6, files.size());
        assertArrayEquals(a, Files.readAllBytes(dir.resolve("cifar-10-batches-bin/data_batch_1.bin")));
        assertArrayEquals(b, Files.readAllBytes(dir.resolve("cifar-10-batches-bin/batches.meta.txt")));
        assertEquals(0, Files.size(dir.resolve("cifar-10-batches-bin/empty")));
        assertArrayEquals(b, Files.readAllBytes(dir.resolve(deep)));
        assertArrayEquals(a, Files.readAllBytes(dir.resolve("long/" + "z".repeat(120) + ".txt")));
        assertArrayEquals(b, Files.readAllBytes(dir.resolve("pax/" + "p".repeat(110))));
        assertFalse(Files.exists(dir.resolve("short")));
        try (var s = Files.walk(dir)) {
            assertTrue(s.noneMatch(p -> p.toString().endsWith(".part")));
        }
    }

    @Test
    void gzipArchivesAndMissingEndBlocks() throws IOException {
        byte[] a = bytes(1000, 3);
        Path archive = write(dir.resolve("x.tar.gz"), gzip(new TarBuilder().file("d/a", a).buildUnterminated()));
        Path out = dir.resolve("out");
        assertEquals(List.of(out.resolve("d/a").toAbsolutePath()), Tar.extractTarGz(archive, out));
        assertArrayEquals(a, Files.readAllBytes(out.resolve("d/a")));
    }

    @Test
    void linksAreSkippedNotFollowed() throws IOException {
        byte[] tar = new TarBuilder().symlink("evil", "/etc/passwd").file("ok", bytes(10, 0)).build();
        List<Path> files = extract(tar, dir);
        assertEquals(1, files.size());
        assertFalse(Files.exists(dir.resolve("evil"), java.nio.file.LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void unsafePathsAreRefused() {
        for (String bad : new String[]{"../escape", "a/../../escape", "/etc/cron.d/x", "a/..", "C:\\x"}) {
            byte[] tar = new TarBuilder().file("fine", bytes(5, 0)).file(bad, bytes(5, 0)).build();
            IOException e = assertThrows(IOException.class, () -> extract(tar, dir.resolve("t")), bad);
            assertTrue(e.getMessage().contains("test.tar: entry '" + bad + "' at byte offset 1024") && e.getMessage().contains("refusing"), e.getMessage());
        }
        assertFalse(Files.exists(dir.resolve("escape")));
        assertFalse(Files.exists(dir.getParent().resolve("escape")));
    }

    @Test
    void corruptAndTruncatedArchivesAreErrorsWithOffsets() {
        byte[] good = new TarBuilder().file("a", bytes(700, 0)).file("b", bytes(2000, 1)).build();

        byte[] badSum = good.clone();
        badSum[1536 + 3] ^= 1; // a byte of b's header name, after a's header and 2 data blocks
        IOException e = assertThrows(IOException.class, () -> extract(badSum, dir));
        assertTrue(e.getMessage().contains("not a tar header at byte offset 1536"), e.getMessage());

        byte[] cut = Arrays.copyOf(good, 1536 + 512 + 1000);
        e = assertThrows(IOException.class, () -> extract(cut, dir));
        assertTrue(e.getMessage().contains("truncated: entry 'b' declares 2000 bytes from byte offset 2048, but the data ends at byte offset 3048"),
                e.getMessage());

        byte[] partialHeader = Arrays.copyOf(good, 1536 + 100);
        e = assertThrows(IOException.class, () -> extract(partialHeader, dir));
        assertTrue(e.getMessage().contains("100-byte partial header at byte offset 1536"), e.getMessage());

        byte[] notTar = "this is certainly not a tar archive".repeat(20).getBytes(StandardCharsets.US_ASCII);
        e = assertThrows(IOException.class, () -> extract(notTar, dir));
        assertTrue(e.getMessage().contains("test.tar") && e.getMessage().contains("byte offset 0"), e.getMessage());
    }

    @Test
    void base256SizesAreRead() throws IOException {
        byte[] h = TarBuilder.header("big", '0', 0, "");
        Arrays.fill(h, 124, 136, (byte) 0);
        h[124] = (byte) 0x80;
        h[135] = 5;
        assertEquals(5, Tar.number(h, 124, 12, "t", 0, "size"));
    }
}
