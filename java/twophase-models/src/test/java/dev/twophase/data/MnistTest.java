package dev.twophase.data;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static dev.twophase.data.DataFiles.*;
import static org.junit.jupiter.api.Assertions.*;

class MnistTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void loadsTheOfficialSplitScaledToUnitRange(boolean gz) throws IOException {
        mnist(dir, 7, 5, gz);
        Dataset.Split s = Mnist.load(dir);
        Dataset train = s.train(), val = s.validation();
        assertEquals("mnist-train", train.name());
        assertEquals("mnist-val", val.name());
        assertEquals(7, train.size());
        assertEquals(5, val.size());
        for (Dataset d : new Dataset[]{train, val}) {
            assertEquals(1, d.channels());
            assertEquals(28, d.height());
            assertEquals(28, d.width());
            assertEquals(10, d.classes());
        }
        assertArrayEquals(cycle(7, 10, 0), train.labels());
        assertArrayEquals(cycle(5, 10, 3), val.labels());
        for (int i = 0; i < 5; i++) {
            for (int r = 0; r < 28; r += 9) {
                for (int c = 0; c < 28; c += 5) assertEquals(pixel(i, r, c) / 255f, val.inputs()[i * 784 + r * 28 + c]);
            }
        }
        float min = 1, max = 0;
        for (float v : train.inputs()) {
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        assertEquals(0f, min);
        assertEquals(1f, max);
    }

    @Test
    void fashionMnistUsesTheSameFilesAndTorchvisionLayoutIsFound() throws IOException {
        mnist(dir.resolve("FashionMNIST").resolve("raw"), 3, 2, true);
        Dataset.Split s = Mnist.loadFashion(dir);
        assertEquals("fashion-mnist-train", s.train().name());
        assertEquals(3, s.train().size());
        assertEquals(2, s.validation().size());
        // the MNIST variant does not look in FashionMNIST/raw
        assertThrows(FileNotFoundException.class, () -> Mnist.load(dir));
    }

    @Test
    void subsetsTakeTheFirstSamplesAndRefuseMoreThanThereAre() throws IOException {
        mnist(dir, 8, 6, false);
        Dataset.Split s = Mnist.load(Mnist.Variant.MNIST, dir, 3, 2);
        assertEquals(3, s.train().size());
        assertEquals(2, s.validation().size());
        assertArrayEquals(new int[]{0, 1, 2}, s.train().labels());
        assertArrayEquals(new int[]{3, 4}, s.validation().labels());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Mnist.load(Mnist.Variant.MNIST, dir, 9, 0));
        assertTrue(e.getMessage().contains("9 samples asked for, but there are 8"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Mnist.load(Mnist.Variant.MNIST, dir, -1, 0));
    }

    @Test
    void missingFileListsWhatWasLookedForAndSuggestsTheDownload() throws IOException {
        mnist(dir, 3, 2, true);
        Files.delete(dir.resolve(Mnist.TEST_LABELS + ".gz"));
        FileNotFoundException e = assertThrows(FileNotFoundException.class, () -> Mnist.load(dir));
        String m = e.getMessage();
        assertTrue(m.contains(dir.resolve(Mnist.TEST_LABELS).toString()), m);
        assertTrue(m.contains(dir.resolve(Mnist.TEST_LABELS + ".gz").toString()), m);
        assertTrue(m.contains(dir.resolve("MNIST/raw/" + Mnist.TEST_LABELS + ".gz").toString()), m);
        assertTrue(m.contains("twophase download mnist --dir " + dir), m);
        assertTrue(m.contains("ossci-datasets.s3.amazonaws.com"), m);

        Path none = dir.resolve("absent");
        e = assertThrows(FileNotFoundException.class, () -> Mnist.loadFashion(none));
        assertTrue(e.getMessage().contains(none + " does not exist") && e.getMessage().contains("download fashion-mnist"), e.getMessage());
    }

    @Test
    void imageAndLabelCountsMustMatch() throws IOException {
        mnist(dir, 4, 3, false);
        write(dir.resolve(Mnist.TEST_LABELS), idxLabels(1, 2));
        IOException e = assertThrows(IOException.class, () -> Mnist.load(dir));
        assertTrue(e.getMessage().contains(dir.resolve(Mnist.TEST_LABELS) + ": 2 labels") && e.getMessage().contains("holds 3 images"), e.getMessage());
    }

    @Test
    void imagesMustBe28By28AndLabelsBelow10() throws IOException {
        mnist(dir, 4, 3, false);
        write(dir.resolve(Mnist.TRAIN_IMAGES), idxImages(4, 32, 32));
        IOException e = assertThrows(IOException.class, () -> Mnist.load(dir));
        assertTrue(e.getMessage().contains("32x32") && e.getMessage().contains("expected 28x28"), e.getMessage());

        mnist(dir, 4, 3, false);
        write(dir.resolve(Mnist.TRAIN_LABELS), idxLabels(0, 1, 12, 3));
        e = assertThrows(IOException.class, () -> Mnist.load(dir));
        assertTrue(e.getMessage().contains("label 12 at byte offset 10 (sample 2); expected 0..9"), e.getMessage());
    }

    @Test
    void swappedImageAndLabelFilesAreNamed() throws IOException {
        mnist(dir, 4, 3, false);
        Path im = dir.resolve(Mnist.TRAIN_IMAGES), lb = dir.resolve(Mnist.TRAIN_LABELS), tmp = dir.resolve("tmp");
        Files.move(im, tmp);
        Files.move(lb, im);
        Files.move(tmp, lb);
        IOException e = assertThrows(IOException.class, () -> Mnist.load(dir));
        assertTrue(e.getMessage().startsWith(im.toString()) && e.getMessage().contains("this is a label file"), e.getMessage());
    }

    /** The real MNIST of the shared data folder, when present (../shared/data/mnist from the repository root). */
    @Test
    @Tag("real-data")
    void realMnistHasTheOfficialSizesAndLabelCounts() throws IOException {
        Path real = Path.of("..", "shared", "data", "mnist");
        Assumptions.assumeTrue(Files.isDirectory(real), "no " + real.toAbsolutePath());
        Dataset.Split s = Mnist.load(real);
        assertEquals(60000, s.train().size());
        assertEquals(10000, s.validation().size());
        assertArrayEquals(new int[]{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}, counts(s.train()));
        assertArrayEquals(new int[]{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}, counts(s.validation()));
        // the first training image is a 5, and MNIST pixels span the whole range
        assertEquals(5, s.train().labels()[0]);
        double sum = 0;
        float max = 0;
        for (float v : s.train().inputs()) {
            sum += v;
            max = Math.max(max, v);
        }
        assertEquals(1f, max);
        assertEquals(0.1307, sum / s.train().inputs().length, 1e-3, "the well-known MNIST mean pixel");
    }

    static int[] counts(Dataset d) {
        int[] c = new int[d.classes()];
        for (int l : d.labels()) c[l]++;
        return c;
    }
}
