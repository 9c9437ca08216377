package dev.twophase.data;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.twophase.data.DataFiles.*;
import static org.junit.jupiter.api.Assertions.*;

class DownloaderTest {
    @TempDir
    Path dir;

    HttpServer server;
    final Map<String, byte[]> files = new ConcurrentHashMap<>();
    final List<String> requests = Collections.synchronizedList(new ArrayList<>());
    volatile boolean honourRange = true;
    /** Chunked responses, without Content-Length. */
    volatile boolean chunked;
    /** When positive, responses stop after this many body bytes (a dropped connection). */
    volatile int cutAfter = -1;

    @BeforeEach
    void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", this::serve);
        server.start();
    }

    @AfterEach
    void stop() { server.stop(0); }

    URI base() { return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/data/"); }

    void serve(HttpExchange ex) throws IOException {
        String range = ex.getRequestHeaders().getFirst("Range");
        requests.add(ex.getRequestURI().getPath() + (range == null ? "" : " " + range));
        byte[] body = files.get(ex.getRequestURI().getPath());
        try (ex) {
            if (body == null) {
                ex.sendResponseHeaders(404, -1);
                return;
            }
            int from = 0;
            Matcher m = range == null ? null : Pattern.compile("bytes=(\\d+)-").matcher(range);
            if (honourRange && m != null && m.matches()) {
                from = Integer.parseInt(m.group(1));
                if (from >= body.length) {
                    ex.getResponseHeaders().add("Content-Range", "bytes */" + body.length);
                    ex.sendResponseHeaders(416, -1);
                    return;
                }
                ex.getResponseHeaders().add("Content-Range", "bytes " + from + "-" + (body.length - 1) + "/" + body.length);
                ex.sendResponseHeaders(206, body.length - from);
            } else {
                ex.sendResponseHeaders(200, chunked ? 0 : body.length);
            }
            OutputStream out = ex.getResponseBody();
            int n = body.length - from;
            if (cutAfter > 0 && cutAfter < n) {
                out.write(body, from, cutAfter);
                out.flush();
                throw new IOException("connection dropped on purpose"); // the server closes the connection
            }
            out.write(body, from, n);
        }
    }

    static byte[] payload(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte) (i * 7 + i / 251);
        return b;
    }

    static String md5(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(b));
    }

    DatasetSource source(String file, byte[] content, boolean archive) throws Exception {
        files.put("/data/" + file, content);
        return new DatasetSource("test", "Test", base(), List.of(new DatasetSource.RemoteFile(file, md5(content), archive)));
    }

    @Test
    void downloadsVerifiesAndMovesIntoPlace() throws Exception {
        byte[] content = payload(300_000);
        DatasetSource src = source("train-images-idx3-ubyte.gz", content, false);
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        try (Downloader d = new Downloader(Downloader.Progress.to(new PrintStream(log, true, StandardCharsets.UTF_8)))) {
            List<Path> got = d.download(src, dir.resolve("mnist"));
            Path target = dir.resolve("mnist/train-images-idx3-ubyte.gz");
            assertEquals(List.of(target), got);
            assertArrayEquals(content, Files.readAllBytes(target));
            assertFalse(Files.exists(dir.resolve("mnist/train-images-idx3-ubyte.gz.part")));
            assertEquals(List.of("/data/train-images-idx3-ubyte.gz"), requests);
            String out = log.toString(StandardCharsets.UTF_8);
            assertTrue(out.contains("100%") && out.contains("0.3 MB") && out.contains("downloading " + base()), out);

            // a second call finds the verified file and sends no request
            d.download(src, dir.resolve("mnist"));
            assertEquals(1, requests.size());
            assertTrue(log.toString(StandardCharsets.UTF_8).contains("present, MD5 OK"));
        }
    }

    @Test
    void responsesWithoutALengthAreReadToTheEnd() throws Exception {
        byte[] content = payload(3_000_000);
        DatasetSource src = source("f.gz", content, false);
        chunked = true;
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        try (Downloader d = new Downloader(Downloader.Progress.to(new PrintStream(log, true, StandardCharsets.UTF_8)))) {
            d.download(src, dir);
        }
        assertArrayEquals(content, Files.readAllBytes(dir.resolve("f.gz")));
        String out = log.toString(StandardCharsets.UTF_8);
        assertTrue(out.contains("\r  f.gz 1.0 MB") && out.contains("f.gz 100% 2.9 of 2.9 MB\n"), out);
    }

    @Test
    void resumesFromAPartFileWithARangeRequest() throws Exception {
        byte[] content = payload(100_000);
        DatasetSource src = source("f.gz", content, false);
        Files.write(dir.resolve("f.gz.part"), Arrays.copyOf(content, 40_000));
        try (Downloader d = new Downloader()) {
            d.download(src, dir);
        }
        assertEquals(List.of("/data/f.gz bytes=40000-"), requests);
        assertArrayEquals(content, Files.readAllBytes(dir.resolve("f.gz")));
        assertFalse(Files.exists(dir.resolve("f.gz.part")));
    }

    @Test
    void serverIgnoringRangeRestartsFromTheBeginning() throws Exception {
        byte[] content = payload(50_000);
        DatasetSource src = source("f.gz", content, false);
        honourRange = false;
        Files.write(dir.resolve("f.gz.part"), new byte[20_000]); // wrong bytes: must be overwritten, not appended to
        try (Downloader d = new Downloader()) {
            d.download(src, dir);
        }
        assertEquals(List.of("/data/f.gz bytes=20000-"), requests);
        assertArrayEquals(content, Files.readAllBytes(dir.resolve("f.gz")));
    }

    @Test
    void completePartFileIsVerifiedAfter416() throws Exception {
        byte[] content = payload(10_000);
        DatasetSource src = source("f.gz", content, false);
        Files.write(dir.resolve("f.gz.part"), content);
        try (Downloader d = new Downloader()) {
            d.download(src, dir);
        }
        assertEquals(List.of("/data/f.gz bytes=10000-"), requests);
        assertArrayEquals(content, Files.readAllBytes(dir.resolve("f.gz")));
    }

    @Test
    void droppedConnectionKeepsThePartForTheNextRun() throws Exception {
        byte[] content = payload(200_000);
        DatasetSource src = source("f.gz", content, false);
        cutAfter = 70_000;
        try (Downloader d = new Downloader()) {
            IOException e = assertThrows(IOException.class, () -> d.download(src, dir));
            assertTrue(e.getMessage().contains("download of " + base() + "f.gz") && e.getMessage().contains("run it again to resume"), e.getMessage());
            assertFalse(Files.exists(dir.resolve("f.gz")));
            long kept = Files.size(dir.resolve("f.gz.part"));
            assertTrue(kept > 0 && kept <= 70_000, "kept " + kept);
            cutAfter = -1;
            d.download(src, dir);
            assertEquals("/data/f.gz bytes=" + kept + "-", requests.getLast());
        }
        assertArrayEquals(content, Files.readAllBytes(dir.resolve("f.gz")));
    }

    @Test
    void checksumMismatchIsAnErrorAndNothingIsMovedIntoPlace() throws Exception {
        byte[] content = payload(5_000);
        files.put("/data/f.gz", content);
        DatasetSource src = new DatasetSource("test", "Test", base(), List.of(new DatasetSource.RemoteFile("f.gz", md5(payload(5_001)), false)));
        try (Downloader d = new Downloader()) {
            IOException e = assertThrows(IOException.class, () -> d.download(src, dir));
            assertTrue(e.getMessage().contains(base() + "f.gz: the downloaded file's MD5 is " + md5(content) + ", expected " + md5(payload(5_001))),
                    e.getMessage());
            assertTrue(e.getMessage().contains("not moved into place"), e.getMessage());
        }
        assertFalse(Files.exists(dir.resolve("f.gz")));
        assertFalse(Files.exists(dir.resolve("f.gz.part")));
    }

    @Test
    void aFileInPlaceWithAnotherDigestIsLeftAloneAndReported() throws Exception {
        DatasetSource src = source("f.gz", payload(100), false);
        Files.write(dir.resolve("f.gz"), payload(99));
        try (Downloader d = new Downloader()) {
            IOException e = assertThrows(IOException.class, () -> d.download(src, dir));
            assertTrue(e.getMessage().contains(dir.resolve("f.gz") + " exists, but its MD5 is " + md5(payload(99))), e.getMessage());
        }
        assertArrayEquals(payload(99), Files.readAllBytes(dir.resolve("f.gz")));
        assertTrue(requests.isEmpty());
    }

    @Test
    void httpErrorsNameTheUrlAndSuggestPlacingTheFileByHand() throws Exception {
        DatasetSource src = new DatasetSource("test", "Test", base(), List.of(new DatasetSource.RemoteFile("missing.gz", md5(new byte[1]), false)));
        try (Downloader d = new Downloader()) {
            IOException e = assertThrows(IOException.class, () -> d.download(src, dir));
            String m = e.getMessage();
            assertTrue(m.contains("cannot download " + base() + "missing.gz: HTTP 404"), m);
            assertTrue(m.contains("place missing.gz") && m.contains("by hand") && !m.contains("offline"), m);
            assertEquals(1, m.lines().count());
        }
    }

    @Test
    void unreachableServerGivesAClearOneLineMessage() throws Exception {
        URI dead = URI.create("http://127.0.0.1:1/");
        DatasetSource src = new DatasetSource("test", "Test", dead, List.of(new DatasetSource.RemoteFile("f.gz", md5(new byte[1]), false)));
        try (Downloader d = new Downloader()) {
            IOException e = assertThrows(IOException.class, () -> d.download(src, dir));
            String m = e.getMessage();
            assertTrue(m.startsWith("cannot download http://127.0.0.1:1/f.gz: connection refused"), m);
            assertTrue(m.contains("(offline, or a proxy/firewall blocks it?)") && m.contains("by hand, place f.gz (from http://127.0.0.1:1/f.gz or a mirror) in "
                    + dir.toAbsolutePath() + " and run again"), m);
            assertEquals(1, m.lines().count());
        }
        assertFalse(Files.exists(dir.resolve("f.gz")));
    }

    @Test
    void unknownHostIsReportedAsSuch() {
        assertEquals("host not found (offline, or no DNS?)", Downloader.describe(new IOException(new java.nio.channels.UnresolvedAddressException())));
        assertEquals("host not found (offline, or no DNS?)", Downloader.describe(new java.net.UnknownHostException("example.invalid")));
    }

    @Test
    void archivesAreUnpackedAndTheCifarLoaderReadsThem() throws Exception {
        byte[] tar = new TarBuilder()
                .dir("cifar-10-batches-bin/")
                .file("cifar-10-batches-bin/data_batch_1.bin", cifar10(new int[]{1, 2}, 0))
                .file("cifar-10-batches-bin/data_batch_2.bin", cifar10(new int[]{3}, 2))
                .file("cifar-10-batches-bin/data_batch_3.bin", cifar10(new int[]{4}, 3))
                .file("cifar-10-batches-bin/data_batch_4.bin", cifar10(new int[]{5}, 4))
                .file("cifar-10-batches-bin/data_batch_5.bin", cifar10(new int[]{6}, 5))
                .file("cifar-10-batches-bin/test_batch.bin", cifar10(new int[]{7, 8}, 6))
                .file("cifar-10-batches-bin/batches.meta.txt", "airplane\n".getBytes(StandardCharsets.US_ASCII))
                .build();
        DatasetSource src = source("cifar-10-binary.tar.gz", gzip(tar), true);
        Path c = dir.resolve("cifar10");
        try (Downloader d = new Downloader()) {
            d.download(src, c);
        }
        assertTrue(Files.exists(c.resolve("cifar-10-binary.tar.gz")));
        Dataset.Split s = Cifar.load10(c);
        assertArrayEquals(new int[]{1, 2, 3, 4, 5, 6}, s.train().labels());
        assertArrayEquals(new int[]{7, 8}, s.validation().labels());
    }

    @Test
    void builtInSourcesAreTheCanonicalOnes() {
        assertEquals(List.of("mnist", "fashion-mnist", "cifar10", "cifar100"), DatasetSource.all().stream().map(DatasetSource::name).toList());
        assertEquals(URI.create("https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz"),
                DatasetSource.MNIST.uri(DatasetSource.MNIST.files().getFirst()));
        assertEquals("f68b3c2dcbeaaa9fbdd348bbdeb94873", DatasetSource.MNIST.files().getFirst().md5());
        assertEquals(URI.create("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz"),
                DatasetSource.FASHION_MNIST.uri(DatasetSource.FASHION_MNIST.files().get(3)));
        assertEquals(URI.create("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"), DatasetSource.CIFAR10.uri(DatasetSource.CIFAR10.files().getFirst()));
        assertEquals(URI.create("https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"), DatasetSource.CIFAR100.uri(DatasetSource.CIFAR100.files().getFirst()));
        assertTrue(DatasetSource.CIFAR100.files().getFirst().archive());
        // every MNIST-style source holds the four files the loader looks for
        for (DatasetSource s : List.of(DatasetSource.MNIST, DatasetSource.FASHION_MNIST)) {
            assertEquals(List.of(Mnist.TRAIN_IMAGES + ".gz", Mnist.TRAIN_LABELS + ".gz", Mnist.TEST_IMAGES + ".gz", Mnist.TEST_LABELS + ".gz"),
                    s.files().stream().map(DatasetSource.RemoteFile::name).toList());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DatasetSource.named("imagenet"));
        assertTrue(e.getMessage().contains("mnist, fashion-mnist, cifar10, cifar100"), e.getMessage());
        assertSame(DatasetSource.CIFAR10, DatasetSource.named(" CIFAR10 "));
        assertThrows(IllegalArgumentException.class, () -> new DatasetSource.RemoteFile("../x", md5Unchecked(), false));
        assertThrows(IllegalArgumentException.class, () -> new DatasetSource.RemoteFile("x", "ABC", false));
    }

    static String md5Unchecked() { return "0".repeat(32); }
}
