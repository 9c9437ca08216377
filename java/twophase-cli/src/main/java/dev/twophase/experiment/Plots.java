package dev.twophase.experiment;

import dev.twophase.train.RunResult;
import dev.twophase.train.EpochRecord;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.annotations.XYPointerAnnotation;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.axis.TickUnits;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.io.IOException;
import java.util.List;

/**
 * The two figures of the paper, as PNG: the gradient norm against the training loss (one curve
 * per phase, the swap point marked), and the training loss against compute for every run.
 */
public final class Plots {
    private static final Color[] COLORS = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c), new Color(0x9467bd), new Color(0xff7f0e)};

    static {
        System.setProperty("java.awt.headless", "true");
        // ImageIO buffers a PNG in a cache file under java.io.tmpdir; a failed write (a full disk) left
        // that stream for a shutdown hook, which then died with a NullPointerException. A figure is small.
        javax.imageio.ImageIO.setUseCache(false);
    }

    private Plots() { }

    /** Gradient norm against loss for one run; the loss axis is reversed so that time runs left to right. */
    public static void gradientNormVersusLoss(OutputFolder out, String png, RunResult run) throws IOException {
        XYSeriesCollection data = new XYSeriesCollection();
        XYSeries current = null;
        String phase = null;
        EpochRecord prev = null;
        for (EpochRecord e : run.epochs()) {
            if (!drawable(e.trainLoss()) || !drawable(e.gradNorm())) continue;
            if (!e.phase().equals(phase)) {
                phase = e.phase();
                current = new XYSeries(phaseLabel(phase) + " (from epoch " + e.epoch() + ")", false, true);
                data.addSeries(current);
                if (prev != null) current.add(prev.trainLoss(), prev.gradNorm()); // join the curves at the swap
            }
            current.add(e.trainLoss(), e.gradNorm());
            prev = e;
        }
        LogAxis x = logAxis("training loss (log, decreasing to the right)");
        x.setInverted(true);
        LogAxis y = logAxis("gradient norm (log)");
        fitLogAxis(x, data, true);
        fitLogAxis(y, data, false);
        XYPlot plot = new XYPlot(data, x, y, renderer(data.getSeriesCount(), true));
        minorGridlines(plot, true);
        EpochRecord s = run.switchEpoch() != null && run.switchEpoch() > 0 && run.switchEpoch() <= run.epochs().size()
                ? run.epochs().get(run.switchEpoch() - 1) : null;
        if (s != null && drawable(s.trainLoss()) && drawable(s.gradNorm())) {
            XYPointerAnnotation a = new XYPointerAnnotation("swap after epoch " + run.switchEpoch(), s.trainLoss(), s.gradNorm(), -Math.PI / 4);
            a.setFont(new Font("SansSerif", Font.BOLD, 12));
            plot.addAnnotation(a);
        }
        save(out, png, new JFreeChart("Gradient norm vs. loss: " + run.name(), JFreeChart.DEFAULT_TITLE_FONT, plot, true));
    }

    /** Training loss against compute (forward+backward-pass equivalents) for all runs. */
    public static void lossVersusCompute(OutputFolder out, String png, List<RunResult> runs) throws IOException {
        XYSeriesCollection data = new XYSeriesCollection();
        for (RunResult r : runs) {
            XYSeries s = new XYSeries(r.name() + (r.switchEpoch() != null ? " (swap after epoch " + r.switchEpoch() + ")" : ""), false, true);
            for (EpochRecord e : r.epochs()) if (drawable(e.trainLoss())) s.add(e.evaluations(), e.trainLoss());
            data.addSeries(s);
        }
        NumberAxis x = new NumberAxis("compute (forward+backward passes over the training set)");
        LogAxis y = logAxis("training loss (log)");
        fitLogAxis(y, data, false);
        XYPlot plot = new XYPlot(data, x, y, renderer(data.getSeriesCount(), false));
        minorGridlines(plot, false);
        save(out, png, new JFreeChart("Training loss vs. compute", JFreeChart.DEFAULT_TITLE_FONT, plot, true));
    }

    /**
     * Gives a log axis a range of two decades around its data when the data span none (one epoch,
     * or a constant): JFreeChart cannot auto-range a log axis over a single value. Over two decades
     * or more, ticks go at whole decades (1E-3, 1E-2), where JFreeChart's own choice puts them at
     * tenths of a decade, labelled 7.94E-2, 6.31E-2.
     */
    private static void fitLogAxis(LogAxis axis, XYSeriesCollection data, boolean xValues) {
        double min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY;
        for (int s = 0; s < data.getSeriesCount(); s++) {
            for (int i = 0; i < data.getItemCount(s); i++) {
                double v = xValues ? data.getXValue(s, i) : data.getYValue(s, i);
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
        }
        if (min > max) axis.setRange(1e-3, 1);
        else if (min == max) axis.setRange(min / 10, max * 10);
        if (min > max || min == max || max / min >= 100) {
            TickUnits decades = new TickUnits();
            // JFreeChart spaces a unit's minor ticks evenly in value between majors: with one decade, 9 of them mark 2..9 x 10^k.
            for (double d : new double[]{1, 2, 5, 10, 20, 50}) decades.add(new NumberTickUnit(d, logLabel(), d == 1 ? 9 : 0));
            axis.setStandardTickUnits(decades);
            axis.setMinorTickMarksVisible(true);
        }
    }

    /** Faint lines at the log axes' minor ticks (JFreeChart draws them white by default, unseen on a white plot). */
    private static void minorGridlines(XYPlot plot, boolean domainToo) {
        Color faint = new Color(0xDD, 0xDD, 0xDD);
        plot.setRangeMinorGridlinesVisible(true);
        plot.setRangeMinorGridlinePaint(faint);
        if (domainToo) {
            plot.setDomainMinorGridlinesVisible(true);
            plot.setDomainMinorGridlinePaint(faint);
        }
    }

    /** Whether a value can go on a log axis: positive and finite (a diverged run's last epoch is not). */
    private static boolean drawable(double v) { return v > 0 && Double.isFinite(v); }

    /** A new format each time: DecimalFormat is not thread-safe and figures may be drawn side by side. */
    private static java.text.NumberFormat logLabel() { return new java.text.DecimalFormat("0.##E0"); }

    private static LogAxis logAxis(String label) {
        LogAxis a = new LogAxis(label);
        a.setNumberFormatOverride(logLabel());
        return a;
    }

    private static String phaseLabel(String phase) {
        return switch (phase) {
            case "adam" -> "Adam";
            case "cg" -> "CG";
            case "adam*" -> "Adam (after CG stalled)";
            default -> phase;
        };
    }

    private static XYLineAndShapeRenderer renderer(int series, boolean shapes) {
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, shapes);
        for (int i = 0; i < series; i++) {
            r.setSeriesPaint(i, COLORS[i % COLORS.length]);
            r.setSeriesStroke(i, new BasicStroke(2f));
            r.setSeriesShape(i, new java.awt.geom.Ellipse2D.Double(-2, -2, 4, 4));
        }
        return r;
    }

    /** Renders to a temporary file of the folder, then moves it into place. */
    private static void save(OutputFolder out, String png, JFreeChart chart) throws IOException {
        chart.setBackgroundPaint(Color.WHITE);
        out.write(png, tmp -> ChartUtils.saveChartAsPNG(tmp.toFile(), chart, 1000, 650));
    }
}
