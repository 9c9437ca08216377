package dev.twophase.data;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * A small reader of tar archives (POSIX ustar, with the GNU long-name and pax path extensions), enough
 * to unpack the CIFAR archives without a dependency. Only regular files and directories are
 * extracted; links, devices and the like are skipped. Entry paths that are absolute or contain a
 * {@code ..} component are refused. Every header's checksum is verified, and a truncated archive
 * is an error naming the archive, the entry and the offset.
 */
public final class Tar {
    static final int BLOCK = 512;

    private Tar() { }

    /** Unpacks the gzip-compressed tar {@code archive} into {@code dir}; returns the files written. */
    public static List<Path> extractTarGz(Path archive, Path dir) throws IOException {
        try (InputStream in = new BufferedInputStream(new GzipInput(Files.newInputStream(archive), archive.toString()), 1 << 16)) {
            return extract(in, archive + " (gzip; offsets are in the decompressed tar)", dir);
        }
    }

    /**
     * Unpacks the (uncompressed) tar stream {@code in} into {@code dir}; {@code source} names it in
     * errors. Each file is written to {@code NAME.part} and then moved into place.
     */
    public static List<Path> extract(InputStream in, String source, Path dir) throws IOException {
        Path root = dir.toAbsolutePath().normalize();
        Files.createDirectories(root);
        List<Path> written = new ArrayList<>();
        byte[] h = new byte[BLOCK];
        long offset = 0;
        String longName = null, paxPath = null;
        while (true) {
            int got = in.readNBytes(h, 0, BLOCK);
            if (got == 0) break; // end without the two zero blocks: accepted, as GNU tar does
            if (got < BLOCK) throw new IOException(source + ": truncated: a " + got + "-byte partial header at byte offset " + offset + "; expected 512-byte blocks");
            if (allZero(h)) break; // end-of-archive marker
            long headerOffset = offset;
            offset += BLOCK;
            checkChecksum(h, source, headerOffset);
            char type = (char) h[156];
            long size = number(h, 124, 12, source, headerOffset, "size");
            String name = paxPath != null ? paxPath : longName != null ? longName : headerName(h);
            long dataOffset = offset;
            switch (type) {
                case 'L' -> { // GNU long name of the next entry
                    longName = cString(readData(in, size, source, dataOffset, "././@LongLink"));
                    offset += padded(size);
                    continue;
                }
                case 'x' -> { // pax extended header of the next entry
                    paxPath = paxValue(readData(in, size, source, dataOffset, "pax header"), "path", source, headerOffset);
                    offset += padded(size);
                    continue;
                }
                default -> { }
            }
            longName = null;
            paxPath = null;
            if (type == '0' || type == '\0' || type == '7' || type == '5') {
                Path target = safeTarget(root, name, source, headerOffset);
                if (type == '5') {
                    if (target != null) Files.createDirectories(target);
                    skip(in, padded(size), source, dataOffset, name);
                } else {
                    if (target == null) throw new IOException(source + ": file entry with an empty name at byte offset " + headerOffset);
                    Files.createDirectories(target.getParent());
                    Path part = target.resolveSibling(target.getFileName() + ".part");
                    try (OutputStream out = Files.newOutputStream(part)) {
                        copy(in, out, size, source, dataOffset, name);
                    }
                    move(part, target);
                    written.add(target);
                    skip(in, padded(size) - size, source, dataOffset + size, name);
                }
            } else {
                // 'g' pax global header, links, devices, FIFOs, other extensions: not extracted
                skip(in, padded(size), source, dataOffset, name);
            }
            offset += padded(size);
        }
        return written;
    }

    static long padded(long size) { return (size + BLOCK - 1) / BLOCK * BLOCK; }

    private static boolean allZero(byte[] b) {
        for (byte x : b) if (x != 0) return false;
        return true;
    }

    private static void checkChecksum(byte[] h, String source, long offset) throws IOException {
        long stored = number(h, 148, 8, source, offset, "checksum");
        long unsigned = 0, signed = 0;
        for (int i = 0; i < BLOCK; i++) {
            int b = i >= 148 && i < 156 ? ' ' : h[i];
            unsigned += b & 0xff;
            signed += b;
        }
        if (stored != unsigned && stored != signed) {
            throw new IOException(source + ": not a tar header at byte offset " + offset + ": checksum " + stored + ", computed " + unsigned
                    + " (a corrupt archive, or not a tar file)");
        }
    }

    /** An octal field (NUL or space terminated), or GNU base-256 when the top bit of the first byte is set. */
    static long number(byte[] h, int off, int len, String source, long offset, String field) throws IOException {
        if ((h[off] & 0x80) != 0) {
            long v = h[off] & 0x3f;
            if ((h[off] & 0x40) != 0) throw new IOException(source + ": negative " + field + " in the tar header at byte offset " + offset);
            for (int i = 1; i < len; i++) {
                if (v > (Long.MAX_VALUE >> 8)) throw new IOException(source + ": " + field + " too large in the tar header at byte offset " + offset);
                v = (v << 8) | (h[off + i] & 0xff);
            }
            return v;
        }
        long v = 0;
        int i = off, end = off + len;
        while (i < end && h[i] == ' ') i++;
        boolean digits = false;
        for (; i < end && h[i] != 0 && h[i] != ' '; i++) {
            int d = h[i] - '0';
            if (d < 0 || d > 7) {
                throw new IOException(source + ": " + field + " field of the tar header at byte offset " + offset + " holds '"
                        + new String(h, off, len, StandardCharsets.ISO_8859_1).replace('\0', ' ').trim() + "'; expected octal digits");
            }
            if (v > (Long.MAX_VALUE >> 3)) throw new IOException(source + ": " + field + " too large in the tar header at byte offset " + offset);
            v = v * 8 + d;
            digits = true;
        }
        if (!digits && field.equals("checksum")) throw new IOException(source + ": no checksum in the tar header at byte offset " + offset);
        return v;
    }

    private static String cString(byte[] b) {
        int n = 0;
        while (n < b.length && b[n] != 0) n++;
        return new String(b, 0, n, StandardCharsets.UTF_8);
    }

    private static String headerName(byte[] h) {
        String name = cString(java.util.Arrays.copyOfRange(h, 0, 100));
        // POSIX ustar ("ustar\0" + "00") keeps a path prefix at 345; old GNU ("ustar  \0") uses that area otherwise
        boolean posix = h[257] == 'u' && h[258] == 's' && h[259] == 't' && h[260] == 'a' && h[261] == 'r' && h[262] == 0;
        if (posix) {
            String prefix = cString(java.util.Arrays.copyOfRange(h, 345, 500));
            if (!prefix.isEmpty()) name = prefix + "/" + name;
        }
        return name;
    }

    /** The value of {@code key} in pax records "LEN key=value\n", or null. */
    private static String paxValue(byte[] data, String key, String source, long offset) throws IOException {
        int i = 0;
        String value = null;
        while (i < data.length && data[i] != 0) {
            int sp = i;
            while (sp < data.length && data[sp] != ' ') sp++;
            int len;
            try {
                len = Integer.parseInt(new String(data, i, sp - i, StandardCharsets.US_ASCII));
            } catch (NumberFormatException e) {
                len = -1;
            }
            if (len <= sp - i || i + len > data.length) throw new IOException(source + ": malformed pax header after byte offset " + offset);
            String rec = new String(data, sp + 1, i + len - sp - 1, StandardCharsets.UTF_8);
            if (rec.endsWith("\n")) rec = rec.substring(0, rec.length() - 1);
            int eq = rec.indexOf('=');
            if (eq > 0 && rec.substring(0, eq).equals(key)) value = rec.substring(eq + 1);
            i += len;
        }
        return value;
    }

    /** {@code root/name} after the safety checks; null for the root itself ("./"). */
    static Path safeTarget(Path root, String name, String source, long offset) throws IOException {
        String n = name;
        if (n.startsWith("/") || n.startsWith("\\") || (n.length() > 1 && n.charAt(1) == ':')) {
            throw new IOException(source + ": entry '" + name + "' at byte offset " + offset + " has an absolute path; refusing to extract it");
        }
        List<String> parts = new ArrayList<>();
        for (String p : n.split("[/\\\\]")) {
            if (p.equals("..")) {
                throw new IOException(source + ": entry '" + name + "' at byte offset " + offset + " has a '..' component; refusing to extract it");
            }
            if (!p.isEmpty() && !p.equals(".")) parts.add(p);
        }
        if (parts.isEmpty()) return null;
        Path t = root;
        for (String p : parts) t = t.resolve(p);
        t = t.normalize();
        if (!t.startsWith(root) || t.equals(root)) {
            throw new IOException(source + ": entry '" + name + "' at byte offset " + offset + " resolves outside " + root + "; refusing to extract it");
        }
        return t;
    }

    private static byte[] readData(InputStream in, long size, String source, long offset, String what) throws IOException {
        if (size > 1 << 20) throw new IOException(source + ": " + what + " of " + size + " bytes at byte offset " + offset + "; expected at most 1 MiB");
        byte[] b = in.readNBytes((int) size);
        if (b.length < size) throw truncated(source, what, offset, size, offset + b.length);
        skip(in, padded(size) - size, source, offset + size, what);
        return b;
    }

    private static void copy(InputStream in, OutputStream out, long size, String source, long offset, String name) throws IOException {
        byte[] buf = new byte[1 << 16];
        long left = size;
        while (left > 0) {
            int r = in.read(buf, 0, (int) Math.min(buf.length, left));
            if (r < 0) throw truncated(source, name, offset, size, offset + size - left);
            out.write(buf, 0, r);
            left -= r;
        }
    }

    private static void skip(InputStream in, long n, String source, long offset, String name) throws IOException {
        copy(in, OutputStream.nullOutputStream(), n, source, offset, name);
    }

    private static IOException truncated(String source, String name, long offset, long size, long end) {
        return new IOException(source + ": truncated: entry '" + name + "' declares " + size + " bytes from byte offset " + offset
                + ", but the data ends at byte offset " + end);
    }

    static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
