package dev.twophase.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static dev.twophase.data.DataFiles.*;
import static org.junit.jupiter.api.Assertions.*;

class CifarTest {
    @TempDir
    Path dir;

    /** Batches of 2, 3, 1, 2, 2 records (labels cycling through 0..9) and a test batch of 3. */
    static void cifar10Files(Path d) throws IOException {
        int[] sizes = {2, 3, 1, 2, 2};
        int first = 0;
        for (int b = 0; b < 5; b++) {
            write(d.resolve(Cifar.CIFAR10_TRAIN.get(b)), cifar10(Arrays.copyOfRange(cycle(10, 10, 0), first, first + sizes[b]), first));
            first += sizes[b];
        }
        write(d.resolve(Cifar.CIFAR10_TEST), cifar10(new int[]{9, 8, 7}, 50));
    }

    static void checkPixels(Dataset d, int sample, int index) {
        for (int ch = 0; ch < 3; ch++) {
            for (int r = 0; r < 32; r += 7) {
                for (int c = 0; c < 32; c += 5) {
                    assertEquals(cifarValue(index, ch, r, c), d.inputs()[sample * 3072 + ch * 1024 + r * 32 + c], "sample " + sample + " ch " + ch);
                }
            }
        }
    }

    @Test
    void cifar10ConcatenatesTheBatchesInOrderChannelMajor() throws IOException {
        cifar10Files(dir);
        Dataset.Split s = Cifar.load10(dir);
        Dataset tr = s.train(), va = s.validation();
        assertEquals("cifar10-train", tr.name());
        assertEquals(10, tr.size());
        assertEquals(3, va.size());
        assertEquals(3, tr.channels());
        assertEquals(32, tr.height());
        assertEquals(32, tr.width());
        assertEquals(10, tr.classes());
        assertArrayEquals(cycle(10, 10, 0), tr.labels());
        assertArrayEquals(new int[]{9, 8, 7}, va.labels());
        for (int i = 0; i < 10; i++) checkPixels(tr, i, i);
        for (int i = 0; i < 3; i++) checkPixels(va, i, 50 + i);
    }

    @Test
    void cifar10IsFoundInTheArchiveFolderAndSubsetsStopEarly() throws IOException {
        cifar10Files(dir.resolve(Cifar.CIFAR10_FOLDER));
        Dataset.Split s = Cifar.load(Cifar.Format.CIFAR10, dir, 4, 1);
        assertEquals(4, s.train().size());
        assertArrayEquals(new int[]{0, 1, 2, 3}, s.train().labels());
        checkPixels(s.train(), 3, 3);
        assertArrayEquals(new int[]{9}, s.validation().labels());
        assertThrows(IllegalArgumentException.class, () -> Cifar.load(Cifar.Format.CIFAR10, dir, 11, 0));
    }

    @Test
    void cifar100UsesTheFineLabel() throws IOException {
        Path d = dir.resolve(Cifar.CIFAR100_FOLDER);
        write(d.resolve("train.bin"), cifar100(new int[]{19, 0, 5, 7}, new int[]{99, 0, 42, 63}, 0));
        write(d.resolve("test.bin"), cifar100(new int[]{1, 2}, new int[]{3, 4}, 10));
        Dataset.Split s = Cifar.load100(dir);
        assertEquals(100, s.train().classes());
        assertArrayEquals(new int[]{99, 0, 42, 63}, s.train().labels());
        assertArrayEquals(new int[]{3, 4}, s.validation().labels());
        for (int i = 0; i < 4; i++) checkPixels(s.train(), i, i);
        checkPixels(s.validation(), 1, 11);
        assertEquals(3, s.train().channels());
    }

    @Test
    void partialRecordNamesFileOffsetAndRecordSize() throws IOException {
        cifar10Files(dir);
        Path b3 = dir.resolve("data_batch_3.bin");
        write(b3, Arrays.copyOf(cifar10(new int[]{1, 2}, 0), 3073 + 100));
        IOException e = assertThrows(IOException.class, () -> Cifar.load10(dir));
        assertTrue(e.getMessage().contains(b3 + ": 3173 bytes is not a multiple of the 3073-byte record"), e.getMessage());
        assertTrue(e.getMessage().contains("a partial record of 100 bytes starts at byte offset 3073 (record 1)"), e.getMessage());

        Path c100 = dir.resolve("c100");
        write(c100.resolve("train.bin"), Arrays.copyOf(cifar100(new int[]{0}, new int[]{0}, 0), 3073));
        write(c100.resolve("test.bin"), cifar100(new int[]{0}, new int[]{0}, 0));
        e = assertThrows(IOException.class, () -> Cifar.load100(c100));
        assertTrue(e.getMessage().contains("3073 bytes is not a multiple of the 3074-byte record") && e.getMessage().contains("byte offset 0 (record 0)"),
                e.getMessage());

        write(b3, new byte[0]);
        e = assertThrows(IOException.class, () -> Cifar.load10(dir));
        assertTrue(e.getMessage().contains(b3 + ": empty"), e.getMessage());
    }

    @Test
    void labelsOutOfRangeNameFileRecordAndOffset() throws IOException {
        cifar10Files(dir);
        Path test = dir.resolve(Cifar.CIFAR10_TEST);
        write(test, cifar10(new int[]{1, 10}, 0));
        IOException e = assertThrows(IOException.class, () -> Cifar.load10(dir));
        assertTrue(e.getMessage().contains(test + ": label 10 at byte offset 3073 (record 1); expected 0..9"), e.getMessage());

        Path c = dir.resolve("c100");
        write(c.resolve("train.bin"), cifar100(new int[]{0, 3}, new int[]{0, 100}, 0));
        write(c.resolve("test.bin"), cifar100(new int[]{20}, new int[]{0}, 0));
        e = assertThrows(IOException.class, () -> Cifar.load100(c));
        assertTrue(e.getMessage().contains("label 100 at byte offset 3075 (record 1); expected 0..99"), e.getMessage());
        write(c.resolve("train.bin"), cifar100(new int[]{0}, new int[]{0}, 0));
        e = assertThrows(IOException.class, () -> Cifar.load100(c));
        assertTrue(e.getMessage().contains("test.bin: coarse label 20 at byte offset 0 (record 0); expected 0..19"), e.getMessage());
    }

    @Test
    void missingFilesAreNamedWithTheDownloadHint() throws IOException {
        FileNotFoundException e = assertThrows(FileNotFoundException.class, () -> Cifar.load10(dir));
        assertTrue(e.getMessage().contains("data_batch_1.bin") && e.getMessage().contains(dir.resolve(Cifar.CIFAR10_FOLDER).toString())
                && e.getMessage().contains("twophase download cifar10"), e.getMessage());

        cifar10Files(dir);
        Files.delete(dir.resolve("data_batch_4.bin"));
        e = assertThrows(FileNotFoundException.class, () -> Cifar.load10(dir));
        assertTrue(e.getMessage().contains("cannot find data_batch_4.bin in " + dir + " (the other files are there)"), e.getMessage());

        Path c = dir.resolve("c100");
        write(c.resolve("cifar-100-binary.tar.gz"), new byte[10]);
        e = assertThrows(FileNotFoundException.class, () -> Cifar.load100(c));
        assertTrue(e.getMessage().contains("is there but not unpacked"), e.getMessage());
    }

    @Test
    void readListsFilesExplicitly() throws IOException {
        Path a = write(dir.resolve("a.bin"), cifar10(new int[]{4}, 7));
        Path b = write(dir.resolve("b.bin"), cifar10(new int[]{5, 6}, 8));
        Dataset d = Cifar.read("x", Cifar.Format.CIFAR10, List.of(b, a));
        assertArrayEquals(new int[]{5, 6, 4}, d.labels());
        checkPixels(d, 2, 7);
        assertEquals(3074, Cifar.Format.CIFAR100.recordSize());
        assertEquals(3073, Cifar.Format.CIFAR10.recordSize());
    }
}
