package dev.twophase.cli;

import dev.twophase.backend.Activation;
import dev.twophase.backend.Backend;
import dev.twophase.data.Dataset;
import dev.twophase.data.Datasets;
import dev.twophase.nn.Loss;
import dev.twophase.nn.Models;
import dev.twophase.nn.Network;
import dev.twophase.optim.AdamConfig;
import dev.twophase.optim.CgConfig;
import dev.twophase.optim.CgFormula;
import dev.twophase.optim.LineSearchKind;
import dev.twophase.optim.NormMeasure;
import dev.twophase.train.TrainSettings;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The options every training command shares: data, model, optimizer, backend, output. Options
 * left unset (null) take the command's defaults, so 'repro' presets and 'compare' defaults can
 * differ while the options mean the same everywhere.
 */
final class ExperimentOptions {

    @Option(names = "--dataset", description = "digits (bundled), mnist, fashion-mnist, cifar10, cifar100.")
    String dataset;

    @Option(names = "--data-dir", description = "Folder holding the data set's files (default: data/DATASET). See 'twophase download'.")
    Path dataDir;

    @Option(names = "--train-size", description = "Use only the first N training samples (0: all).")
    Integer trainSize;

    @Option(names = "--val-size", description = "Use only the first N validation samples (0: all).")
    Integer valSize;

    @Option(names = "--model", description = "mlp, vgg5-max-relu, vit-mlp, vit-nomlp, vit-nomlp-wkewq, vit-nomlp-wkewq-wvwo1.")
    String model;

    @Option(names = "--hidden", split = ",", description = "Hidden layer widths of the MLP, comma-separated (default 64,64).")
    int[] hidden;

    @Option(names = "--activation", description = "Hidden activation of the MLP: relu, tanh, sigmoid, gelu (default tanh).")
    String activation;

    @Option(names = "--output-activation", description = "Output activation of the MLP: identity, sigmoid, tanh (default identity).")
    String outputActivation;

    @Option(names = "--loss", description = "mse (the paper's, on one-hot targets) or cross-entropy (default mse).")
    String loss;

    @Option(names = "--epochs", description = "Epochs per run: an Adam epoch is a pass of mini-batches, a CG epoch one full-batch iteration.")
    Integer epochs;

    @Option(names = "--batch-size", description = "Adam mini-batch size (default 512, the paper's).")
    Integer batchSize;

    @Option(names = "--lr", description = "Adam learning rate (default 1e-3).")
    Double lr;

    @Option(names = "--switch", description = "Switch rule of the two-phase run: peak[:TOLERANCE[:SMOOTHING]] (the paper's Algorithm 1), rise-peak[...], epoch:N, never, cg-only.")
    String switchRule;

    @Option(names = "--norm", description = "Gradient norm the peak rule watches: minibatch-mean (free) or full-batch (one extra gradient per epoch). Default minibatch-mean.")
    String norm;

    @Option(names = "--cg", description = "CG formula: pr+ (Polak-Ribiere+, default), fr (Fletcher-Reeves), hs (Hestenes-Stiefel).")
    String cgFormula;

    @Option(names = "--line-search", description = "brent (the paper's bracketing + Brent, default) or wolfe (strong Wolfe).")
    String lineSearch;

    @Option(names = "--ls-tolerance", description = "Relative tolerance of the Brent line search (default 1e-3).")
    Double lsTolerance;

    @Option(names = "--restart-every", description = "Restart CG to steepest descent every N iterations (default 0: only on non-descent).")
    Integer restartEvery;

    @Option(names = "--seed", description = "Seed for initial weights and mini-batch order (default 1).")
    Long seed;

    @Option(names = "--backend", description = "auto (default), cpu, jcuda or ffm; jcuda-emu or ffm-emu run the CUDA kernels emulated on the CPU (for testing, slow).")
    String backend;

    @Option(names = "--threads", description = "CPU worker threads (default: all processors).")
    Integer threads;

    @Option(names = "--out", description = "Output folder for report.json, history.csv and the PNG figures.")
    Path out;

    @Option(names = "--quiet", description = "No progress lines.")
    boolean quiet;

    static <T> T or(T value, T fallback) { return value != null ? value : fallback; }

    String dataset(String fallback) { return or(dataset, fallback); }

    Dataset.Split loadData(String defaultDataset, int defaultTrain, int defaultVal) throws java.io.IOException {
        String name = dataset(defaultDataset);
        Path dir = or(dataDir, Path.of("data", name));
        return Datasets.load(name, dir, or(trainSize, defaultTrain), or(valSize, defaultVal));
    }

    /** The model for the data: an MLP from --hidden etc., or one of the paper's image models. */
    Network network(String defaultModel, Dataset d) {
        String m = or(model, defaultModel);
        if (m.equals("mlp")) {
            return Network.mlp(d.features(), or(hidden, new int[]{64, 64}), d.classes(), Activation.parse(or(activation, "tanh")),
                    Activation.parse(or(outputActivation, "identity")));
        }
        return Models.create(m, d.channels(), d.height(), d.width(), d.classes());
    }

    TrainSettings settings(int defaultEpochs) {
        CgConfig cg = CgConfig.defaults();
        cg = cg.withFormula(cgFormula == null ? cg.formula() : CgFormula.parse(cgFormula))
                .withLineSearch(lineSearch == null ? cg.lineSearch() : LineSearchKind.parse(lineSearch))
                .withLineSearchTolerance(or(lsTolerance, cg.lineSearchTolerance()))
                .withRestartEvery(or(restartEvery, cg.restartEvery()));
        return new TrainSettings(or(epochs, defaultEpochs), or(batchSize, 512), or(seed, 1L), AdamConfig.adam().withLr(or(lr, 1e-3)), cg,
                NormMeasure.parse(or(norm, "minibatch-mean")), Loss.parse(or(loss, "mse")));
    }

    int threads() { return or(threads, Runtime.getRuntime().availableProcessors()); }

    /** Everything that shaped the runs, for report.json. */
    Map<String, Object> describe(Network net, Dataset.Split data, TrainSettings s, Backend be, String rule) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("dataset", data.train().name());
        m.put("trainSamples", data.train().size());
        m.put("validationSamples", data.validation().size());
        m.put("model", net.describe());
        m.put("parameters", net.layout().size());
        m.put("overdetermination", Models.overdetermination(data.train().size(), data.train().classes(), net.layout().size()));
        if (hidden != null) m.put("hidden", Arrays.stream(hidden).boxed().toList());
        m.put("loss", s.loss().id());
        m.put("epochs", s.epochs());
        m.put("batchSize", s.batchSize());
        m.put("adam", s.adam());
        m.put("cg", Map.of("formula", s.cg().formula().id(), "lineSearch", s.cg().lineSearch().id(),
                "lineSearchTolerance", s.cg().lineSearchTolerance(), "restartEvery", s.cg().restartEvery(),
                "gradientTolerance", s.cg().gradientTolerance()));
        m.put("switchRule", rule);
        m.put("normMeasure", s.normMeasure().id());
        m.put("backendDescription", be.description());
        return m;
    }
}
