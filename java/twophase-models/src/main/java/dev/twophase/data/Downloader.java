package dev.twophase.data;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLException;

/**
 * Downloads a {@link DatasetSource} into a directory: only when asked (the loaders never download).
 * <ul>
 *   <li>Each file is fetched to {@code NAME.part}; when a {@code .part} exists, the download resumes
 *   with a {@code Range} request (a server that answers 200 instead of 206 is read from the
 *   start).</li>
 *   <li>The complete file's MD5 must equal the digest in the source (for the built-in sources, the
 *   digest torchvision publishes); only then is it moved into place, atomically where the file
 *   system allows. A mismatching {@code .part} is deleted, never moved into place.</li>
 *   <li>A file already in place with the right digest is not downloaded again; one with another
 *   digest is an error (it is left alone).</li>
 *   <li>Archives ({@code .tar.gz}) are unpacked into the directory with {@link Tar} and kept.</li>
 *   <li>Being offline, an unknown host, a refused connection, a timeout or an HTTP error status is an
 *   {@link IOException} with a one-line message naming the URL and how to place the file by hand.</li>
 * </ul>
 * Progress (percent and MB) goes to a {@link Progress}, for example {@link Progress#to(PrintStream)}
 * on {@code System.err}.
 */
public final class Downloader implements AutoCloseable {
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(30), RESPONSE_TIMEOUT = Duration.ofSeconds(60);
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes\\s+(\\d+)-(\\d+)/(\\d+|\\*)");
    private static final Pattern UNSATISFIED_RANGE = Pattern.compile("bytes\\s+\\*/(\\d+)");

    /** Receives progress: free-form lines and byte counts of the file being fetched. */
    public interface Progress {
        /** A line such as "mnist: train-images-idx3-ubyte.gz present, MD5 OK". */
        void message(String line);

        /** {@code done} of {@code total} bytes of {@code file} (total -1 when the server did not say). */
        void transferred(String file, long done, long total);

        /** Discards everything. */
        Progress NONE = new Progress() {
            @Override
            public void message(String line) { }

            @Override
            public void transferred(String file, long done, long total) { }
        };

        /** Lines on {@code out}; byte counts as one line per file, redrawn with '\r' at each percent (or MB when the size is unknown). */
        static Progress to(PrintStream out) {
            return new Progress() {
                private String file;
                private long lastStep = -1;

                @Override
                public void message(String line) { out.println(line); }

                @Override
                public void transferred(String f, long done, long total) {
                    long step = total > 0 ? done * 100 / total : done >> 20;
                    if (f.equals(file) && step == lastStep) return;
                    file = f;
                    lastStep = step;
                    String mb = String.format(Locale.ROOT, "%.1f", done / 1048576.0);
                    out.print(total > 0
                            ? String.format(Locale.ROOT, "\r  %s %3d%% %s of %.1f MB", f, step, mb, total / 1048576.0)
                            : "\r  " + f + " " + mb + " MB");
                    if (total > 0 && done >= total) out.println();
                    out.flush();
                }
            };
        }
    }

    private final HttpClient client;
    private final Progress progress;
    private final boolean ownsClient;

    /** Quiet. */
    public Downloader() { this(Progress.NONE); }

    public Downloader(Progress progress) {
        this(HttpClient.newBuilder()
                .connectTimeout(CONNECT_TIMEOUT)
                .followRedirects(HttpClient.Redirect.NORMAL)
                .version(HttpClient.Version.HTTP_1_1)
                .build(), progress, true);
    }

    /** With the caller's client (which the caller closes). */
    public Downloader(HttpClient client, Progress progress) { this(client, progress, false); }

    private Downloader(HttpClient client, Progress progress, boolean ownsClient) {
        this.client = client;
        this.progress = progress;
        this.ownsClient = ownsClient;
    }

    /** The suggestion printed when a data set's files are missing. */
    public static String hint(String name, Path dir) {
        String base = "download it with `twophase download " + name + " --dir " + dir + "`";
        for (DatasetSource s : DatasetSource.all()) {
            if (s.name().equals(name)) {
                return base + ", or " + (s.files().getFirst().archive() ? "unpack " : "place ")
                        + String.join(", ", s.files().stream().map(DatasetSource.RemoteFile::name).toList()) + " (from " + s.base() + ") there by hand";
            }
        }
        return base;
    }

    /**
     * Downloads (or finds, verified) every file of {@code source} in {@code dir}, creating it, and
     * unpacks the archives; returns the files in place.
     */
    public List<Path> download(DatasetSource source, Path dir) throws IOException {
        Files.createDirectories(dir);
        List<Path> done = new ArrayList<>();
        for (DatasetSource.RemoteFile f : source.files()) {
            Path target = dir.resolve(f.name());
            if (Files.exists(target)) {
                String md5 = md5(target);
                if (!md5.equals(f.md5())) {
                    throw new IOException(target + " exists, but its MD5 is " + md5 + ", not the " + f.md5() + " of " + source.uri(f)
                            + "; move or delete it to download the canonical file (the loaders read the files in place as they are)");
                }
                progress.message(source.name() + ": " + f.name() + " present, MD5 OK");
            } else {
                progress.message(source.name() + ": downloading " + source.uri(f));
                fetch(source.uri(f), target, f.md5());
            }
            done.add(target);
            if (f.archive()) {
                progress.message(source.name() + ": unpacking " + f.name());
                Tar.extractTarGz(target, dir);
            }
        }
        progress.message(source.name() + ": ready in " + dir);
        return done;
    }

    /**
     * Fetches {@code uri} to {@code target} through {@code target.part} (resuming it when present),
     * checks its MD5 ({@code md5}, lowercase hex) and moves it into place.
     */
    public Path fetch(URI uri, Path target, String md5) throws IOException {
        Path part = target.resolveSibling(target.getFileName() + ".part");
        String name = target.getFileName().toString();
        for (int attempt = 0; ; attempt++) {
            long have = Files.exists(part) ? Files.size(part) : 0;
            HttpRequest.Builder rb = HttpRequest.newBuilder(uri).timeout(RESPONSE_TIMEOUT).GET();
            if (have > 0) rb.header("Range", "bytes=" + have + "-");
            HttpResponse<InputStream> r = send(rb.build(), uri, target);
            int status = r.statusCode();
            boolean append;
            long total;
            if (status == 206 && have > 0) {
                String cr = r.headers().firstValue("Content-Range").orElse("");
                Matcher m = CONTENT_RANGE.matcher(cr);
                if (!m.matches() || Long.parseLong(m.group(1)) != have) {
                    // the server resumed at another offset: start over rather than guess
                    r.body().close();
                    if (attempt > 0) throw new IOException(uri + ": answered a resume at byte " + have + " with Content-Range '" + cr + "'");
                    Files.delete(part);
                    continue;
                }
                append = true;
                total = m.group(3).equals("*") ? -1 : Long.parseLong(m.group(3));
            } else if (status == 200) {
                append = false;
                have = 0;
                total = r.headers().firstValueAsLong("Content-Length").orElse(-1);
            } else if (status == 416 && have > 0) {
                // nothing left after byte `have`: complete if the size matches, else start over
                r.body().close();
                Matcher m = UNSATISFIED_RANGE.matcher(r.headers().firstValue("Content-Range").orElse(""));
                if (m.matches() && Long.parseLong(m.group(1)) == have) break;
                if (attempt > 0) throw new IOException(uri + ": HTTP 416 (range not satisfiable) for a resume at byte " + have);
                Files.delete(part);
                continue;
            } else {
                r.body().close();
                throw new IOException("cannot download " + uri + ": HTTP " + status + (status == 404 ? " (not found)" : "") + "; "
                        + byHand(target, uri));
            }
            receive(r, part, append, have, total, uri, name);
            break;
        }
        String got = md5(part);
        if (!got.equals(md5)) {
            Files.delete(part);
            throw new IOException(uri + ": the downloaded file's MD5 is " + got + ", expected " + md5 + "; deleted " + part
                    + " (not moved into place); run the download again (if it fails the same way, the server sends another file)");
        }
        Tar.move(part, target);
        return target;
    }

    private void receive(HttpResponse<InputStream> r, Path part, boolean append, long have, long total, URI uri, String name) throws IOException {
        long done = have;
        try (InputStream in = r.body();
             OutputStream out = Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] buf = new byte[1 << 16];
            progress.transferred(name, done, total);
            int n;
            while ((n = in.read(buf)) >= 0) {
                out.write(buf, 0, n);
                done += n;
                progress.transferred(name, done, total);
            }
        } catch (IOException e) {
            throw new IOException("download of " + uri + " interrupted after " + done + (total > 0 ? " of " + total : "") + " bytes ("
                    + describe(e) + "); run it again to resume from " + part, e);
        }
        if (total <= 0) progress.transferred(name, done, done); // the size is known now: report the end
        if (total > 0 && done != total) {
            throw new IOException("download of " + uri + " ended after " + done + " of " + total + " bytes; run it again to resume from " + part);
        }
    }

    private HttpResponse<InputStream> send(HttpRequest request, URI uri, Path target) throws IOException {
        try {
            return client.send(request, HttpResponse.BodyHandlers.ofInputStream());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("download of " + uri + " interrupted");
        } catch (IOException | RuntimeException e) {
            throw new IOException("cannot download " + uri + ": " + describe(e) + "; " + byHand(target, uri), e);
        }
    }

    private static String byHand(Path target, URI uri) {
        return "to install it by hand, place " + target.getFileName() + " (from " + uri + " or a mirror) in " + target.toAbsolutePath().getParent()
                + " and run again";
    }

    /** A short reason: offline, unknown host, refused, timed out, TLS, or the exception's own message. */
    static String describe(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof UnresolvedAddressException || t instanceof UnknownHostException) return "host not found (offline, or no DNS?)";
        }
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof HttpConnectTimeoutException) return "connection timed out (offline, or a firewall?)";
            if (t instanceof ConnectException) return "connection refused or unreachable (offline, or a proxy/firewall blocks it?)";
            if (t instanceof HttpTimeoutException) return "no response in " + RESPONSE_TIMEOUT.toSeconds() + " s";
            if (t instanceof SSLException) return "TLS failure: " + t.getMessage();
        }
        String m = e.getMessage();
        return e.getClass().getSimpleName() + (m == null || m.isBlank() ? "" : ": " + m.lines().findFirst().orElse(""));
    }

    /** The MD5 of a file as 32 lowercase hex digits. */
    public static String md5(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return Md5.of(in).hex();
        }
    }

    @Override
    public void close() {
        if (ownsClient) client.close();
    }
}
