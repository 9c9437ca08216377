package dev.twophase.examples;

import dev.twophase.optim.OptimizerState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** Runs the embedding example as a user would, and checks what it claims. */
class EmbeddingExampleTest {

    @Test
    void adamThenCgTrainTheUsersOwnNetwork(@TempDir Path dir) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Path state = dir.resolve("example.state");
        EmbeddingExample.Result r = EmbeddingExample.run(2, state, new PrintStream(out, true));
        String log = out.toString();
        assertNotNull(r.switchEpoch(), "the switch rule should fire within " + EmbeddingExample.EPOCHS + " epochs:\n" + log);
        assertTrue(r.lossAtSwitch() < 0.1 * r.initialLoss(), "Adam should fit most of the target before the switch:\n" + log);
        assertTrue(r.finalLoss() < 0.5 * r.lossAtSwitch(), "CG should at least halve the loss it took over:\n" + log);
        assertTrue(log.contains("-> CG from the next epoch") && log.contains(" cg "), log);
        OptimizerState saved = OptimizerState.read(state);
        assertEquals("CG", saved.getString("phase"));
        assertEquals((long) r.switchEpoch(), saved.getLong("switchEpoch"));

        EmbeddingExample.Result oneThread = EmbeddingExample.run(1, null, new PrintStream(new ByteArrayOutputStream()));
        assertEquals(r.finalLoss(), oneThread.finalLoss(), "the run is bit-identical on any number of threads");
    }
}
