package dev.twophase.backend.gpu;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every copy between host and device in the bindings goes through a place that counts it, so
 * {@code transfers()} (and the epochs' transfer columns) cannot miss one that a new op adds: in
 * the JCuda backend the driver's copies are called only from {@code deviceUpload} and
 * {@code deviceDownload} (counted by GpuBackend) and from {@code fetch} and {@code sendTable}
 * (which count); in the FFM backend the library is called directly
 * ({@code tp.check}) only for uploads and downloads and by the counting wrapper, every other call
 * goes through {@code lib.check}, which adds what the library copied. A source check: it names the
 * method that breaks the rule.
 */
class TransferCountingContractTest {

    /** A method declaration of the class or of a nested class (4 or 8 spaces in): its name. */
    private static final Pattern METHOD = Pattern.compile(
            "^ {4}(?: {4})?(?!return |throw |new |else )(?:@Override )?(?:(?:public|protected|private|static|final) )*[\\w<>\\[\\],.]+ (\\w+)\\(");

    /** The enclosing method of each line that matches {@code call}. */
    private static List<String> callers(String relative, Pattern call) throws IOException {
        List<String> found = new ArrayList<>();
        String method = "(none)";
        for (String line : Files.readAllLines(CudaContractTest.sourceFile(relative))) {
            Matcher m = METHOD.matcher(line);
            if (m.find()) method = m.group(1);
            String code = line.replaceAll("//.*", "");
            if (!code.trim().startsWith("*") && !code.trim().startsWith("import") && call.matcher(code).find()) found.add(method);
        }
        return found;
    }

    @Test void jcudaCopiesOnlyWhereTheyAreCounted() throws IOException {
        List<String> callers = callers("java/twophase-cuda/src/main/java/dev/twophase/backend/jcuda/JCudaBackend.java",
                Pattern.compile("\\bcuMemcpy(DtoH|HtoD)\\w*\\("));
        assertTrue(callers.size() >= 4, "found the copies: " + callers);
        Set<String> counted = Set.of("deviceUpload", "deviceDownload", "fetch", "sendTable");
        List<String> uncounted = callers.stream().filter(c -> !counted.contains(c)).toList();
        assertEquals(List.of(), uncounted, "JCudaBackend methods that copy between host and device without counting: use fetch (fetchDoubles) or sendTable");
    }

    @Test void ffmCallsTheLibraryThroughTheCountingWrapper() throws IOException {
        List<String> callers = callers("java/twophase-cuda/src/main/java/dev/twophase/backend/ffm/FfmBackend.java",
                Pattern.compile("\\btp\\.check\\("));
        Set<String> allowed = Set.of("copyChunks", "check", "readCounters");
        List<String> direct = callers.stream().filter(c -> !allowed.contains(c)).toList();
        assertEquals(List.of(), direct, "FfmBackend methods that call the library past its transfer count: use lib.check");
        assertTrue(callers.contains("copyChunks") && callers.contains("readCounters"), "found the direct calls: " + callers);
    }
}
