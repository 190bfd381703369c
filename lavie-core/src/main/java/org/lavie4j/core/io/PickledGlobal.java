package org.lavie4j.core.io;

/**
 * A class or function a pickle names ({@code GLOBAL module name}), kept as a name: the reader never imports or calls
 * anything. Appears in {@link TorchCheckpoint#root()} where a checkpoint stores e.g. a dtype ({@code torch.float16}).
 */
public record PickledGlobal(String module, String name) {
    public String qualifiedName() { return module + "." + name; }

    @Override
    public String toString() { return qualifiedName(); }
}
