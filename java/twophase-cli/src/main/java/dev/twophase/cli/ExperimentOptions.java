package dev.twophase.cli;

import dev.twophase.backend.Activation;
import dev.twophase.backend.Backend;
import dev.twophase.backend.Backends;
import dev.twophase.data.Dataset;
import dev.twophase.data.Datasets;
import dev.twophase.data.SubsetSizeException;
import dev.twophase.experiment.CheckpointPolicy;
import dev.twophase.nn.Loss;
import dev.twophase.nn.Models;
import dev.twophase.nn.Network;
import dev.twophase.optim.AdamConfig;
import dev.twophase.optim.CgConfig;
import dev.twophase.optim.CgFormula;
import dev.twophase.optim.LineSearchKind;
import dev.twophase.optim.NormMeasure;
import dev.twophase.optim.SwitchRule;
import dev.twophase.train.TrainSettings;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The options every training command shares: data, model, optimizer, backend, output. Options
 * left unset (null) take the command's defaults, so 'repro' presets and 'compare' defaults can
 * differ while the options mean the same everywhere.
 */
final class ExperimentOptions {

    @Option(names = "--dataset", description = "digits (bundled), mnist, fashion-mnist, cifar10, cifar100.")
    String dataset;

    @Option(names = "--data-dir", description = "Folder holding the data set's files (default: data/DATASET; not for digits). See 'twophase download'.")
    Path dataDir;

    @Option(names = "--skip-checksums", description = "Do not verify canonical data files (MNIST, Fashion-MNIST) against their MD5 at load.")
    boolean skipChecksums;

    @Option(names = "--train-size", description = "Use only the first N training samples (0: all; at most 100,000,000).")
    Integer trainSize;

    @Option(names = "--val-size", description = "Use only the first N validation samples (0: all; at most 100,000,000).")
    Integer valSize;

    @Option(names = "--model", description = "mlp, vgg5-max-relu, vit-mlp, vit-nomlp, vit-nomlp-wkewq, vit-nomlp-wkewq-wvwo1.")
    String model;

    @Option(names = "--hidden", paramLabel = "<width>[,<width>...]",
            description = "Hidden layer widths of the MLP, comma-separated (default 64,64; 1..32 layers of 1..100,000).")
    String[] hidden;

    @Option(names = "--activation", description = "Hidden activation of the MLP: relu, tanh, sigmoid, gelu (default tanh).")
    String activation;

    @Option(names = "--output-activation", description = "Output activation of the MLP: identity, sigmoid, tanh (default identity).")
    String outputActivation;

    @Option(names = "--loss", description = "mse (the paper's, on one-hot targets) or cross-entropy (default mse).")
    String loss;

    @Option(names = "--epochs", description = "Epochs per run (1..10,000,000): an Adam epoch is a pass of mini-batches, a CG epoch one full-batch iteration.")
    Integer epochs;

    @Option(names = "--batch-size", description = "Adam mini-batch size (default 512, the paper's; 1..1,048,576).")
    Integer batchSize;

    @Option(names = "--lr", description = "Adam learning rate (default 1e-3; positive, finite).")
    Double lr;

    @Option(names = "--switch", description = "Switch rule of the two-phase run: rise-peak[:TOLERANCE[:SMOOTHING]] (compare's default rise-peak:0.9:0.9),"
            + " peak[:TOLERANCE[:SMOOTHING]] (peak:0.9 is the paper's Algorithm 1), epoch:N (repro's default), never, cg-only.")
    String switchRule;

    @Option(names = "--norm", description = "Gradient norm the peak rule watches: minibatch-mean (free) or full-batch (one extra gradient per epoch). Default minibatch-mean.")
    String norm;

    @Option(names = "--cg", description = "CG formula: pr+ (Polak-Ribiere+, default), fr (Fletcher-Reeves), hs (Hestenes-Stiefel), hz (Hager-Zhang, truncated at 0).")
    String cgFormula;

    @Option(names = "--line-search", description = "more-thuente (strong Wolfe, Moré-Thuente; default of compare), wolfe (strong Wolfe, Nocedal-Wright)"
            + " or brent (the paper's bracketing + Brent; default of repro).")
    String lineSearch;

    @Option(names = "--ls-tolerance", description = "Relative bracket width at which a line search ends (default 1e-3; between 0 and 1).")
    Double lsTolerance;

    @Option(names = "--c1", description = "Sufficient-decrease constant of the Wolfe line searches (default 1e-4; between 0 and 0.5).")
    Double c1;

    @Option(names = "--c2", description = "Curvature constant of the Wolfe line searches (default 0.1; between --c1 and 1).")
    Double c2;

    @Option(names = "--no-probe", description = "Wolfe searches start with a gradient at the initial guess, not with a loss-only probe and the parabola through it.")
    boolean noProbe;

    @Option(names = "--restart-every", description = "Restart CG to steepest descent every N iterations (default 0: only on non-descent; at most 1,000,000,000).")
    Integer restartEvery;

    @Option(names = "--powell-restart", description = "Powell's restart test: restart CG to steepest descent when |g.g_prev| >= X |g|^2 (default 0.2; 0: off).")
    Double powellRestart;

    @Option(names = "--reliable-guess-c2", description = "When the first step guess was good in 3 of the last 5 iterations, skip the probe and accept"
            + " the trial at the guess under this curvature constant (default 0: always probe; SciPy uses 0.4; below 1).")
    Double reliableGuessC2;

    @Option(names = "--divergence-factor", description = "A run has diverged when its training loss exceeds this multiple of the loss at the initial weights"
            + " (default 1e3; above 1; inf keeps only the test for a non-finite loss or gradient).")
    String divergenceFactor;

    @Option(names = "--seed", description = "Seed for initial weights and mini-batch order (default 1).")
    Long seed;

    @Option(names = "--backend", description = "auto (default), cpu, jcuda or ffm; jcuda-emu or ffm-emu run the CUDA kernels emulated on the CPU (for testing, slow).")
    String backend;

    @Option(names = "--threads", description = "CPU worker threads (default: all processors; at most 4 per processor).")
    Integer threads;

    @Option(names = "--out", description = "Output folder for report.json, history.csv and the PNG figures.")
    Path out;

    @Option(names = "--overwrite", description = "Start over in OUT even when it holds the checkpoint of a run that did not finish"
            + " (refused without this option: 'twophase resume OUT' continues that run); the new run replaces the checkpoint.")
    boolean overwrite;

    @Option(names = "--quiet", description = "No progress lines.")
    boolean quiet;

    @Option(names = "--checkpoint-every", description = "Save a checkpoint into OUT for 'twophase resume': every N epochs, or at the end of the"
            + " first epoch a wall time such as 30s, 5m, 2h after the last one, or off. Default " + CheckpointPolicy.DEFAULT
            + " (also at the end of every run and on Ctrl-C).")
    String checkpointEvery;

    static <T> T or(T value, T fallback) { return value != null ? value : fallback; }

    private static final List<String> HIDDEN_ACTIVATIONS = List.of("relu", "tanh", "sigmoid", "gelu"),
            OUTPUT_ACTIVATIONS = List.of("identity", "sigmoid", "tanh");
    static final int MAX_SAMPLES = 100_000_000, MAX_EPOCHS = 10_000_000, MAX_BATCH = 1 << 20, MAX_LAYERS = 32, MAX_WIDTH = 100_000;
    static final Bounds.Whole TRAIN_SIZE = new Bounds.Whole("--train-size", 0, MAX_SAMPLES), VAL_SIZE = new Bounds.Whole("--val-size", 0, MAX_SAMPLES),
            EPOCHS = new Bounds.Whole("--epochs", 1, MAX_EPOCHS), BATCH = new Bounds.Whole("--batch-size", 1, MAX_BATCH),
            WIDTH = new Bounds.Whole("--hidden", 1, MAX_WIDTH), RESTART_EVERY = new Bounds.Whole("--restart-every", 0, 1_000_000_000);
    /** The whole-number options' bounds (--threads apart: it depends on the machine). */
    static final List<Bounds.Whole> WHOLE = List.of(TRAIN_SIZE, VAL_SIZE, EPOCHS, BATCH, WIDTH, RESTART_EVERY);
    /** Bytes per parameter a run holds: parameters, gradient, Adam's two moments, CG's vectors, host copies. */
    static final long BYTES_PER_PARAMETER = 40;

    /**
     * Checks every option against its grammar and bounds, and against the data set and model it
     * applies to, before any work: an {@link IllegalArgumentException} naming the option.
     */
    void validate(String defaultDataset, String defaultModel) {
        String d = Datasets.canonicalName(dataset(defaultDataset));
        String m = Bounds.choice("--model", or(model, defaultModel), Models.NAMES);
        if (dataDir != null) {
            if (d.equals("digits")) throw new IllegalArgumentException("--data-dir " + dataDir + ": the digits data set is bundled; --data-dir applies to the other data sets");
            if (Files.exists(dataDir) && !Files.isDirectory(dataDir)) {
                throw new IllegalArgumentException("--data-dir " + dataDir + ": is a regular file; expected the folder that holds the " + d + " files");
            }
        }
        if (trainSize != null) TRAIN_SIZE.check(trainSize);
        if (valSize != null) VAL_SIZE.check(valSize);
        if (!m.equals("mlp")) {
            for (Object[] o : new Object[][]{{"--hidden", hidden}, {"--activation", activation}, {"--output-activation", outputActivation}}) {
                if (o[1] != null) throw new IllegalArgumentException(o[0] + " applies to --model mlp only, not " + m);
            }
        }
        if (hidden != null) hiddenWidths();
        if (activation != null) Bounds.choice("--activation", activation, HIDDEN_ACTIVATIONS);
        if (outputActivation != null) Bounds.choice("--output-activation", outputActivation, OUTPUT_ACTIVATIONS);
        if (loss != null) Loss.parse(loss);
        if (epochs != null) EPOCHS.check(epochs);
        if (batchSize != null) BATCH.check(batchSize);
        if (lr != null) Bounds.positive("--lr", lr);
        if (switchRule != null) {
            try {
                SwitchRule.parse(switchRule);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--switch: " + e.getMessage(), e);
            }
        }
        if (norm != null) NormMeasure.parse(norm);
        if (cgFormula != null) CgFormula.parse(cgFormula);
        if (lineSearch != null) LineSearchKind.parse(lineSearch);
        if (lsTolerance != null) Bounds.between("--ls-tolerance", lsTolerance, 0, 1);
        if (c1 != null) Bounds.between("--c1", c1, 0, 0.5);
        if (c2 != null) Bounds.between("--c2", c2, or(c1, CgConfig.defaults().c1()), 1);
        if (restartEvery != null) RESTART_EVERY.check(restartEvery);
        if (powellRestart != null && !(powellRestart >= 0 && powellRestart < Double.POSITIVE_INFINITY)) {
            throw new IllegalArgumentException("--powell-restart " + powellRestart + ": expected a finite number >= 0");
        }
        if (reliableGuessC2 != null && !(reliableGuessC2 >= 0 && reliableGuessC2 < 1)) {
            throw new IllegalArgumentException("--reliable-guess-c2 " + reliableGuessC2 + ": expected a number in [0, 1)");
        }
        if (divergenceFactor != null && !(Bounds.number("--divergence-factor", divergenceFactor) > 1)) {
            throw new IllegalArgumentException("--divergence-factor " + divergenceFactor + ": expected a number above 1, or inf");
        }
        if (backend != null) Bounds.choice("--backend", backend, Backends.names());
        Bounds.threads("--threads", threads);
        checkpointPolicy();
    }

    CheckpointPolicy checkpointPolicy() { return CheckpointPolicy.parse("--checkpoint-every", or(checkpointEvery, CheckpointPolicy.DEFAULT)); }

    /** The folder the data set's files are read from. */
    Path dataDir(String dataset) { return or(dataDir, Path.of("data", dataset)); }

    private int[] hiddenWidths() { return Bounds.wholeList(String.join(",", hidden), WIDTH, MAX_LAYERS, "layers"); }

    private int[] hiddenOrDefault() { return hidden == null ? new int[]{64, 64} : hiddenWidths(); }

    /**
     * Every option as the runs use it, by option name, with the command's defaults filled in (the
     * data folder absolute): what a checkpoint records, and what {@code resume} compares.
     * {@code commandOptions}, the command's own (such as --runs), come first.
     */
    Map<String, String> effective(CompareCommand.Defaults d, TrainSettings s, String rule, Map<String, String> commandOptions) {
        Map<String, String> m = new LinkedHashMap<>(commandOptions);
        String ds = Datasets.canonicalName(dataset(d.dataset()));
        m.put("--dataset", ds);
        if (!ds.equals("digits")) m.put("--data-dir", dataDir(ds).toAbsolutePath().normalize().toString());
        m.put("--skip-checksums", Boolean.toString(skipChecksums));
        m.put("--train-size", Integer.toString(or(trainSize, d.trainSize())));
        m.put("--val-size", Integer.toString(or(valSize, d.valSize())));
        String mod = or(model, d.model());
        m.put("--model", mod);
        if (mod.equals("mlp")) {
            m.put("--hidden", String.join(",", Arrays.stream(hiddenOrDefault()).mapToObj(Integer::toString).toList()));
            m.put("--activation", Activation.parse(or(activation, "tanh")).name().toLowerCase(java.util.Locale.ROOT));
            m.put("--output-activation", Activation.parse(or(outputActivation, "identity")).name().toLowerCase(java.util.Locale.ROOT));
        }
        m.put("--loss", s.loss().id());
        m.put("--epochs", Integer.toString(s.epochs()));
        m.put("--batch-size", Integer.toString(s.batchSize()));
        m.put("--lr", Double.toString(s.adam().lr()));
        m.put("--switch", rule);
        m.put("--norm", s.normMeasure().id());
        m.put("--cg", s.cg().formula().id());
        m.put("--line-search", s.cg().lineSearch().id());
        m.put("--ls-tolerance", Double.toString(s.cg().lineSearchTolerance()));
        m.put("--c1", Double.toString(s.cg().c1()));
        m.put("--c2", Double.toString(s.cg().c2()));
        m.put("--no-probe", Boolean.toString(!s.cg().firstTrialProbe()));
        m.put("--restart-every", Integer.toString(s.cg().restartEvery()));
        m.put("--powell-restart", Double.toString(s.cg().powellRestart()));
        m.put("--reliable-guess-c2", Double.toString(s.cg().reliableGuessC2()));
        m.put("--divergence-factor", Double.toString(s.divergenceFactor()));
        m.put("--seed", Long.toString(s.seed()));
        m.put("--backend", or(backend, "auto"));
        m.put("--threads", Integer.toString(threads()));
        m.put("--checkpoint-every", checkpointPolicy().toString());
        m.put("--quiet", Boolean.toString(quiet));
        return m;
    }

    String dataset(String fallback) { return or(dataset, fallback); }

    /**
     * The requested samples; a request the data cannot meet names --train-size or --val-size, and
     * where its value comes from when the option was not given (the command's defaults).
     */
    Dataset.Split loadData(CompareCommand.Defaults defaults) throws java.io.IOException {
        String name = dataset(defaults.dataset());
        Path dir = dataDir(name);
        int train = or(trainSize, defaults.trainSize()), val = or(valSize, defaults.valSize());
        try {
            return Datasets.load(name, dir, new Datasets.Request(train, val, !skipChecksums));
        } catch (SubsetSizeException e) {
            boolean training = e.part() == SubsetSizeException.Part.TRAINING;
            String option = training ? "--train-size" : "--val-size";
            int value = training ? train : val;
            boolean given = (training ? trainSize : valSize) != null;
            throw new IllegalArgumentException(option + " " + value + (value == 0 ? " (all)" : "")
                    + (given ? "" : " (" + defaults.source() + "; give " + option + " N to change it)") + ": " + e.getMessage(), e);
        }
    }

    /** The model for the data: an MLP from --hidden etc., or one of the paper's image models; refused when too large for the heap. */
    Network network(String defaultModel, Dataset d) {
        String m = or(model, defaultModel);
        Network net = m.equals("mlp")
                ? Network.mlp(d.features(), hiddenOrDefault(), d.classes(), Activation.parse(or(activation, "tanh")),
                        Activation.parse(or(outputActivation, "identity")))
                : Models.create(m, d.channels(), d.height(), d.width(), d.classes());
        long need = net.layout().size() * BYTES_PER_PARAMETER, max = Runtime.getRuntime().maxMemory();
        if (need > max) {
            throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
                    "%s: the model has %,d parameters, about %,d MB in a run, but the Java heap may grow to %,d MB only", m.equals("mlp") ? "--hidden" : "--model " + m,
                    net.layout().size(), need >> 20, max >> 20));
        }
        return net;
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
                .withRestartEvery(or(restartEvery, cg.restartEvery()))
                .withPowellRestart(or(powellRestart, cg.powellRestart()))
                .withReliableGuessC2(or(reliableGuessC2, cg.reliableGuessC2()));
        return new TrainSettings(or(epochs, defaultEpochs), or(batchSize, 512), or(seed, 1L), AdamConfig.adam().withLr(or(lr, 1e-3)), cg,
                NormMeasure.parse(or(norm, "minibatch-mean")), Loss.parse(or(loss, "mse")),
                divergenceFactor == null ? TrainSettings.DEFAULT_DIVERGENCE_FACTOR : Bounds.number("--divergence-factor", divergenceFactor));
    }

    int threads() { return Bounds.threads("--threads", threads); }

    /** Everything that shaped the runs, for report.json. */
    Map<String, Object> describe(Network net, Dataset.Split data, TrainSettings s, Backend be, String rule) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("dataset", data.train().name());
        m.put("trainSamples", data.train().size());
        m.put("validationSamples", data.validation().size());
        m.put("model", net.describe());
        m.put("parameters", net.layout().size());
        m.put("overdetermination", Models.overdetermination(data.train().size(), data.train().classes(), net.layout().size()));
        if (hidden != null) m.put("hidden", Arrays.stream(hiddenWidths()).boxed().toList());
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
        cg.put("probeReach", s.cg().probeReach());
        cg.put("quarticAfterProbe", s.cg().quarticAfterProbe());
        cg.put("relativeUnitStep", s.cg().relativeUnitStep());
        cg.put("restartEvery", s.cg().restartEvery());
        cg.put("powellRestart", s.cg().powellRestart());
        cg.put("reliableGuessC2", s.cg().reliableGuessC2());
        cg.put("gradientTest", s.cg().stop().describeGradientTest());
        m.put("cg", cg);
        m.put("switchRule", rule);
        m.put("normMeasure", s.normMeasure().id());
        m.put("divergenceFactor", s.divergenceFactor());
        m.put("backendDescription", be.description());
        return m;
    }
}
