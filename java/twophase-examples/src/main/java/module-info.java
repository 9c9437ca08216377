/** Runnable examples of twophase inside your own trainer; they need {@code dev.twophase.core} alone. */
module dev.twophase.examples {
    requires dev.twophase.core;

    exports dev.twophase.examples;
}
