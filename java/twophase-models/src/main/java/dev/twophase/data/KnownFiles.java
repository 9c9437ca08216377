package dev.twophase.data;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The canonical files of MNIST and Fashion-MNIST by name, size and the MD5 of their content (the
 * decompressed IDX data, as published by several projects beside torchvision's digests of the
 * gzip files). A file whose name (with or without {@code .gz}) and content size match an entry is
 * verified at load, so a corrupted download or a damaged disk is caught even where the damage keeps
 * the format valid (a changed pixel). The content is what is compared, not the gzip container, so a
 * re-compressed copy of a canonical file verifies too. Files of another size are not canonical
 * copies (a subset, another data set) and are only checked by the format's own rules. The unpacked
 * CIFAR batches are not listed: only their archives' digests are published, and {@code download}
 * verifies those.
 */
public final class KnownFiles {
    /** A canonical file of data set {@code dataset}: its IDX name, content size and content MD5. */
    public record Entry(String dataset, String name, long size, String md5) { }

    private static final long TRAIN_IMAGES = 47_040_016, TRAIN_LABELS = 60_008, TEST_IMAGES = 7_840_016, TEST_LABELS = 10_008;

    static final List<Entry> ALL = List.of(
            new Entry("mnist", Mnist.TRAIN_IMAGES, TRAIN_IMAGES, "6bbc9ace898e44ae57da46a324031adb"),
            new Entry("mnist", Mnist.TRAIN_LABELS, TRAIN_LABELS, "a25bea736e30d166cdddb491f175f624"),
            new Entry("mnist", Mnist.TEST_IMAGES, TEST_IMAGES, "2646ac647ad5339dbf082846283269ea"),
            new Entry("mnist", Mnist.TEST_LABELS, TEST_LABELS, "27ae3e4e09519cfbb04c329615203637"),
            new Entry("fashion-mnist", Mnist.TRAIN_IMAGES, TRAIN_IMAGES, "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
            new Entry("fashion-mnist", Mnist.TRAIN_LABELS, TRAIN_LABELS, "9018921c3c673c538a1fc5bad174d6f9"),
            new Entry("fashion-mnist", Mnist.TEST_IMAGES, TEST_IMAGES, "8181f5470baa50b63fa0f6fddb340f0a"),
            new Entry("fashion-mnist", Mnist.TEST_LABELS, TEST_LABELS, "15d484375f8d13e6eb1aabb0c3f46965"));

    private KnownFiles() { }

    /** The entries. */
    public static List<Entry> all() { return ALL; }

    /**
     * Verifies {@code file} when its name and content size are those of a canonical file of
     * {@code dataset}; returns whether it was checked. A mismatch is a {@link DataFileException},
     * which says so when the file is another data set's canonical file. The loaders do not call
     * this (a second pass over the file): they verify the content while they parse it.
     */
    public static boolean verify(Path file, String dataset) throws IOException { return verify(file, dataset, ALL); }

    static boolean verify(Path file, String dataset, List<Entry> entries) throws IOException {
        Candidate candidate = candidate(file, dataset, entries);
        if (candidate == null) return false;
        boolean gz = Idx.isGzip(file);
        if (!gz && Files.size(file) != candidate.entry().size()) return false;
        Md5.Digest digest;
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
             InputStream in = gz ? new GzipInput(raw, file.toString()) : raw) {
            digest = Md5.of(in);
        }
        return candidate.check(digest, gz);
    }

    /** The canonical file of {@code dataset} that {@code file} may be a copy of (by its name), or null when there is none. */
    static Candidate candidate(Path file, String dataset) { return candidate(file, dataset, ALL); }

    static Candidate candidate(Path file, String dataset, List<Entry> entries) {
        String name = file.getFileName().toString();
        String base = name.endsWith(".gz") ? name.substring(0, name.length() - 3) : name;
        List<Entry> same = entries.stream().filter(e -> e.name().equals(base)).toList();
        Entry mine = same.stream().filter(e -> e.dataset().equals(dataset)).findFirst().orElse(null);
        return mine == null ? null : new Candidate(file, mine, same);
    }

    /**
     * A file named as the canonical {@code entry} of its data set, and every data set's entry of that
     * name (to tell the user whose file it is). Whoever reads the file digests its content
     * (decompressed for gzip) on the way and hands the digest to {@link #check}.
     */
    record Candidate(Path file, Entry entry, List<Entry> sameName) {
        /**
         * Whether the content with {@code digest} was checked: false when its size is not the
         * canonical size (not a canonical copy), true when it matches; a mismatch is a
         * {@link DataFileException} naming the file and both checksums.
         */
        boolean check(Md5.Digest digest, boolean gz) throws DataFileException {
            if (digest.length() != entry.size()) return false;
            String got = digest.hex();
            if (got.equals(entry.md5())) return true;
            String dataset = entry.dataset();
            String content = gz ? "the decompressed content of " + file : file.toString();
            String other = sameName.stream().filter(e -> e.md5().equals(got)).map(e -> "; it is " + e.dataset() + "'s " + e.name()).findFirst()
                    .orElse(": the file is damaged; download it again (twophase download " + dataset + "), or skip this check (--skip-checksums) to load it as it is");
            throw new DataFileException(file.toString(), -1, file + ": " + content + " has MD5 " + got + ", but the canonical " + dataset + " " + entry.name()
                    + " of " + entry.size() + " bytes has " + entry.md5() + other);
        }
    }
}
