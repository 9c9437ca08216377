package dev.twophase.cli;

import dev.twophase.experiment.Comparison;
import dev.twophase.optim.CgConfig;
import dev.twophase.train.TrainSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * The paper's protocol for one model: Adam for E epochs; two-phase = Adam for 30% of E, then CG
 * for the rest (the paper's fixed swap: 300 of 1000 epochs, 210 of 700 with the MLP); CG alone
 * for reference; all from the same initial weights. Prints the paper's Table 1 row beside ours.
 */
@Command(name = "repro", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Reproduces a row of the paper's Table 1: Adam vs. Adam+CG (fixed swap at 30%% of the epochs) vs. CG alone.",
                "--scale cpu (default): a reduced MNIST run that finishes in minutes on 2 cores;",
                "--scale full: the paper's 60,000/10,000 samples and 1000 epochs (700 for vit-mlp), for a GPU.",
                "Any shared option (--epochs, --train-size, --switch, ...) overrides the preset.",
                "Exit status: 0 success, 1 failure, 2 bad input, 3 a run diverged, 130 interrupted."})
public final class ReproCommand implements Callable<Integer>, TrainingCommand {

    @Parameters(index = "0", description = "vgg5-max-relu, vit-mlp, vit-nomlp, vit-nomlp-wkewq or vit-nomlp-wkewq-wvwo1")
    String model;

    @Option(names = "--scale", description = "cpu (default) or full.")
    String scale = "cpu";

    @Option(names = "--no-cg-only", description = "Skip the CG-only reference run.")
    boolean noCgOnly;

    @Mixin ExperimentOptions opt;

    /** A preset: samples, epochs. */
    record Preset(int trainSize, int valSize, int epochs) { }

    static Preset preset(String model, String scale) {
        boolean mlpBlock = model.equals("vit-mlp");
        return switch (scale) {
            case "full" -> new Preset(0, 0, mlpBlock ? 700 : 1000);
            // 1,000 + 1,000 MNIST samples, 40 epochs (Adam 12, then CG 28): each model's three runs fit in ~15 minutes on 2 cores.
            case "cpu" -> new Preset(1000, 1000, 40);
            default -> throw new IllegalArgumentException("--scale '" + scale + "': expected cpu or full");
        };
    }

    /** The paper's Table 1, MNIST rows: train loss, train acc, val loss, val acc for Adam, then Adam+CG. */
    static final Map<String, double[][]> PAPER_MNIST = Map.of(
            "vit-mlp", new double[][]{{.0008, .995, .0061, .965}, {.0001, 1.000, .0044, .974}},
            "vit-nomlp", new double[][]{{.0003, .998, .0064, .963}, {.0002, .999, .0053, .969}},
            "vit-nomlp-wkewq", new double[][]{{.0004, .998, .0057, .967}, {.0002, .999, .0048, .971}},
            "vit-nomlp-wkewq-wvwo1", new double[][]{{.0016, .990, .0073, .955}, {.0006, .996, .0063, .962}},
            "vgg5-max-relu", new double[][]{{.0001, 1.000, .0014, .993}, {.0001, 1.000, .0011, .994}});

    @Spec CommandSpec spec;

    @Override public Integer call() throws Exception { return CompareCommand.execute(job(), CompareCommand.commandLine(spec), spec.commandLine().getErr()); }

    @Override public Job job() {
        if (!PAPER_MNIST.containsKey(model)) throw new IllegalArgumentException("unknown model '" + model + "'; expected one of " + String.join(", ", new java.util.TreeSet<>(PAPER_MNIST.keySet())));
        Preset p = preset(model, scale);
        if (opt.model != null) throw new IllegalArgumentException("--model " + opt.model + ": repro takes the model as its argument (" + model + ")");
        opt.validate("mnist", model);
        opt.model = model;
        TrainSettings settings = opt.settings(p.epochs(), CgConfig.paper());
        String rule = ExperimentOptions.or(opt.switchRule, "epoch:" + Math.round(0.3 * settings.epochs()));
        List<Comparison.Run> plan = (noCgOnly ? List.of("adam", "two-phase") : List.of("adam", "two-phase", "cg-only"))
                .stream().map(name -> RunsOption.run(name, rule)).toList();
        CompareCommand.Defaults defaults = new CompareCommand.Defaults("mnist", p.trainSize(), p.valSize(), model, p.epochs(), CgConfig.paper(),
                Path.of("runs", "repro-" + model + "-" + scale), 10, "repro's preset for --scale " + scale);
        Map<String, String> own = new java.util.LinkedHashMap<>();
        own.put("MODEL", model);
        own.put("--scale", scale);
        own.put("--no-cg-only", Boolean.toString(noCgOnly));
        return new Job(opt, defaults, plan, rule, Map.of("repro", Map.of("model", model, "scale", scale)), own, this::printPaperRow);
    }

    private void printPaperRow() {
        double[][] paper = PAPER_MNIST.get(model);
        System.out.println();
        System.out.println("paper, Table 1, MNIST " + model + " (60,000 samples, 1000 epochs; 700 with the MLP):");
        System.out.printf(Locale.ROOT, "  Adam     train loss %.4f acc %.3f  val loss %.4f acc %.3f%n", paper[0][0], paper[0][1], paper[0][2], paper[0][3]);
        System.out.printf(Locale.ROOT, "  Adam+CG  train loss %.4f acc %.3f  val loss %.4f acc %.3f%n", paper[1][0], paper[1][1], paper[1][2], paper[1][3]);
    }
}
