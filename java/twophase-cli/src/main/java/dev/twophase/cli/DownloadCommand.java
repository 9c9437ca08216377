package dev.twophase.cli;

import dev.twophase.data.DatasetSource;
import dev.twophase.data.Downloader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** Fetches a data set from its canonical source, checksum-verified and resumable. */
@Command(name = "download", mixinStandardHelpOptions = true,
        description = {"Downloads a data set from its canonical source, verifying each file's MD5.",
                "Into a folder (default data/NAME); an interrupted download resumes where it stopped.",
                "Names: mnist, fashion-mnist, cifar10, cifar100. Nothing else in twophase downloads."})
public final class DownloadCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "mnist, fashion-mnist, cifar10 or cifar100")
    String name;

    @Option(names = "--dir", description = "Target folder (default data/NAME).")
    Path dir;

    @Override public Integer call() throws Exception {
        DatasetSource source = DatasetSource.named(name);
        if (dir != null && java.nio.file.Files.exists(dir) && !java.nio.file.Files.isDirectory(dir)) {
            throw new IllegalArgumentException("--dir " + dir + ": is a file; expected a folder (created if missing)");
        }
        try (Downloader d = new Downloader(Downloader.Progress.to(System.err))) {
            d.download(source, dir != null ? dir : Path.of("data", source.name()));
        }
        return 0;
    }
}
