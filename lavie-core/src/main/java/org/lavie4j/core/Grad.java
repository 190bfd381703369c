package org.lavie4j.core;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * Gradient-recording scopes, per thread. Nothing is recorded by default (inference keeps no activations).
 *
 * <pre>{@code
 * try (Tape tape = Grad.record()) {
 *     Tensor loss = model.forward(x) ...;
 *     tape.backward(loss);            // gradients land in each Parameter's grad()
 * }
 * try (var off = Grad.disabled()) { ... }  // e.g. EMA or validation inside a training step
 * }</pre>
 */
public final class Grad {
    private static final ThreadLocal<Deque<Tape>> SCOPES = ThreadLocal.withInitial(ArrayDeque::new);

    private Grad() {}

    /** Opens a recording scope on this thread; ops whose inputs need gradients are recorded on the returned tape. */
    public static Tape record() {
        Tape tape = new Tape(true);
        SCOPES.get().push(tape);
        return tape;
    }

    /** Opens a scope in which nothing is recorded, even inside an enclosing {@link #record()}. */
    public static Tape disabled() {
        Tape tape = new Tape(false);
        SCOPES.get().push(tape);
        return tape;
    }

    /** True when ops on this thread are being recorded. */
    public static boolean isRecording() {
        Tape top = SCOPES.get().peek();
        return top != null && top.recording;
    }

    /**
     * True when a {@link #record()} scope is open on this thread, also under a {@link #disabled()} scope inside it (a
     * checkpointed segment's first forward, EMA or validation inside a training step). Ops with a faster inference-only
     * kernel use it outside training only, so that a checkpointed segment recomputes exactly its first forward.
     */
    public static boolean inTraining() {
        for (Tape t : SCOPES.get()) if (t.recording) return true;
        return false;
    }

    static Tape current() {
        Tape top = SCOPES.get().peek();
        return top != null && top.recording ? top : null;
    }

    static void pop(Tape tape) {
        Deque<Tape> scopes = SCOPES.get();
        if (scopes.peek() != tape)
            throw new IllegalStateException("gradient scopes closed out of order (use try-with-resources)");
        scopes.pop();
    }
}
