package dev.twophase.data;

import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** MD5 of a stream, for the checksums of downloads and of the canonical data files. */
final class Md5 {
    private Md5() { }

    /** The MD5 of everything left in {@code in} (lowercase hex), and how many bytes that was. */
    record Digest(String hex, long length) { }

    static Digest of(InputStream in) throws IOException {
        MessageDigest d;
        try {
            d = MessageDigest.getInstance("MD5");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("MD5 is not available", e);
        }
        byte[] buf = new byte[1 << 16];
        long length = 0;
        for (int n; (n = in.read(buf)) >= 0; length += n) d.update(buf, 0, n);
        return new Digest(HexFormat.of().formatHex(d.digest()), length);
    }
}
