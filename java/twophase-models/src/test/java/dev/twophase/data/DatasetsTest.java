package dev.twophase.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static dev.twophase.data.DataFiles.*;
import static org.junit.jupiter.api.Assertions.*;

class DatasetsTest {
    @TempDir
    Path dir;

    @Test
    void namesAndUnknownName() {
        assertEquals(List.of("digits", "mnist", "fashion-mnist", "cifar10", "cifar100"), Datasets.names());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Datasets.load("svhn", dir, 0, 0));
        assertTrue(e.getMessage().contains("'svhn'") && e.getMessage().contains("digits, mnist, fashion-mnist, cifar10, cifar100"), e.getMessage());
    }

    @Test
    void digitsIgnoresTheDirectoryAndSubsets() throws IOException {
        Dataset.Split all = Datasets.load("digits", dir.resolve("nowhere"), 0, 0);
        assertEquals(1438, all.train().size());
        assertEquals(359, all.validation().size());
        Dataset.Split s = Datasets.load("digits", null, 100, 50);
        assertEquals(100, s.train().size());
        assertEquals(50, s.validation().size());
        assertArrayEquals(java.util.Arrays.copyOf(all.train().labels(), 100), s.train().labels());
        assertThrows(IllegalArgumentException.class, () -> Datasets.load("digits", null, 2000, 0));
        assertThrows(IllegalArgumentException.class, () -> Datasets.load("digits", null, 0, -5));
    }

    @Test
    void dispatchesToTheLoaders() throws IOException {
        Path m = dir.resolve("m");
        mnist(m, 6, 4, true);
        Dataset.Split s = Datasets.load("mnist", m, 5, 0);
        assertEquals(5, s.train().size());
        assertEquals(4, s.validation().size());
        assertEquals("fashion-mnist-val", Datasets.load("Fashion-MNIST", m, 0, 2).validation().name());

        Path c = dir.resolve("c");
        CifarTest.cifar10Files(c);
        assertEquals(10, Datasets.load("cifar10", c, 0, 0).train().size());
        write(c.resolve("train.bin"), cifar100(new int[]{1}, new int[]{50}, 0));
        write(c.resolve("test.bin"), cifar100(new int[]{1}, new int[]{51}, 0));
        assertEquals(100, Datasets.load("cifar100", c, 0, 0).train().classes());

        assertThrows(FileNotFoundException.class, () -> Datasets.load("mnist", c, 0, 0));
    }
}
