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

    @Option(names = "--switch", description = "Switch rule of the two-phase run: rise-peak[:TOLERANCE[:SMOOTHING]] (compare's default rise-peak:0.9:0.9),"
            + " peak[:TOLERANCE[:SMOOTHING]] (peak:0.9 is the paper's Algorithm 1), epoch:N (repro's default), never, cg-only.")
    String switchRule;

    @Option(names = "--norm", description = "Gradient norm the peak rule watches: minibatch-mean (free) or full-batch (one extra gradient per epoch). Default minibatch-mean.")
    String norm;

    @Option(names = "--cg", description = "CG formula: pr+ (Polak-Ribiere+, default), fr (Fletcher-Reeves), hs (Hestenes-Stiefel).")
    String cgFormula;

    @Option(names = "--line-search", description = "more-thuente (strong Wolfe, Moré-Thuente; default of compare), wolfe (strong Wolfe, Nocedal-Wright)"
            + " or brent (the paper's bracketing + Brent; default of repro).")
    String lineSearch;

    @Option(names = "--ls-tolerance", description = "Relative bracket width at which a line search ends (default 1e-3).")
    Double lsTolerance;

    @Option(names = "--c1", description = "Sufficient-decrease constant of the Wolfe line searches (default 1e-4).")
    Double c1;

    @Option(names = "--c2", description = "Curvature constant of the Wolfe line searches (default 0.1).")
    Double c2;

    @Option(names = "--no-probe", description = "Wolfe searches start with a gradient at the initial guess, not with a loss-only probe and the parabola through it.")
    boolean noProbe;

    @Option(names = "--restart-every", description = "Restart CG to steepest descent every N iterations (default 0: only on non-descent).")
    Integer restartEvery;

    @Option(names = "--seed", description = "Seed for initial weights and mini-batch order (default 1).")
    Long seed;

    @Option(names = "--backend", description = "auto (default), cpu, jcuda or ffm.")
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

    TrainSettings settings(int defaultEpochs) { return settings(defaultEpochs, CgConfig.defaults()); }

    /** The settings, with CG's options applied over {@code cgBase} (the command's CG defaults). */
    TrainSettings settings(int defaultEpochs, CgConfig cgBase) {
        CgConfig cg = cgBase;
        cg = cg.withFormula(cgFormula == null ? cg.formula() : CgFormula.parse(cgFormula))
                .withLineSearch(lineSearch == null ? cg.lineSearch() : LineSearchKind.parse(lineSearch))
                .withLineSearchTolerance(or(lsTolerance, cg.lineSearchTolerance()))
                .withWolfe(or(c1, cg.c1()), or(c2, cg.c2()))
                .withFirstTrialProbe(cg.firstTrialProbe() && !noProbe)
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
        Map<String, Object> cg = new LinkedHashMap<>();
        cg.put("formula", s.cg().formula().id());
        cg.put("lineSearch", s.cg().lineSearch().id());
        cg.put("c1", s.cg().c1());
        cg.put("c2", s.cg().c2());
        cg.put("lineSearchTolerance", s.cg().lineSearchTolerance());
        cg.put("maxLineSearchEvaluations", s.cg().maxLineSearchEvaluations());
        cg.put("firstTrialProbe", s.cg().firstTrialProbe());
        cg.put("restartEvery", s.cg().restartEvery());
        cg.put("gradientTest", s.cg().stop().describeGradientTest());
        m.put("cg", cg);
        m.put("switchRule", rule);
        m.put("normMeasure", s.normMeasure().id());
        m.put("backendDescription", be.description());
        return m;
    }
}
