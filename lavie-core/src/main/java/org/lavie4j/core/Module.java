package org.lavie4j.core;

import org.lavie4j.core.io.TensorSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * Base of every layer and model. The module tree is the key tree: a child registered as {@code "attn_temp"} with a
 * parameter {@code "weight"} inside gives the key {@code attn_temp.weight}, exactly as in the PyTorch checkpoint.
 *
 * <p>Subclasses register their parts in the constructor ({@link #child}, {@link #parameter}, {@link #buffer}) into
 * final fields and write a typed {@code forward}. A module may be registered under several owners (LaVie's shared
 * rotary embedding): every path is emitted by {@link #stateDict()}, and loading checks that the copies agree.
 */
public abstract class Module {
    private final LinkedHashMap<String, Parameter> parameters = new LinkedHashMap<>();
    private final LinkedHashMap<String, Module> children = new LinkedHashMap<>();
    private boolean training;

    /** Registers a child module under {@code name} (the PyTorch attribute name). */
    protected final <M extends Module> M child(String name, M module) {
        checkName(name);
        if (module == null) throw new IllegalArgumentException("child '" + name + "' is null");
        children.put(name, module);
        return module;
    }

    /** Registers a trainable parameter under {@code name}, taking {@code init} as its values. */
    protected final Parameter parameter(String name, INDArray init) {
        checkName(name);
        Parameter p = Parameter.of(init);
        parameters.put(name, p);
        return p;
    }

    /** Registers a buffer (saved and loaded, never trained) under {@code name}. */
    protected final Parameter buffer(String name, INDArray value) {
        checkName(name);
        Parameter p = Parameter.buffer(value);
        parameters.put(name, p);
        return p;
    }

    private void checkName(String name) {
        if (name == null || name.isEmpty() || name.contains("."))
            throw new IllegalArgumentException("invalid module entry name '" + name + "'");
        if (parameters.containsKey(name) || children.containsKey(name))
            throw new IllegalArgumentException("'" + name + "' registered twice in " + getClass().getSimpleName());
    }

    /** Direct children in registration order. */
    public final Map<String, Module> children() { return Collections.unmodifiableMap(children); }

    /** This module's own parameters and buffers (not the children's). */
    public final Map<String, Parameter> localParameters() { return Collections.unmodifiableMap(parameters); }

    /** Visits every (key, parameter-or-buffer) pair of the tree in registration order, aliases included. */
    public final void visit(BiConsumer<String, Parameter> visitor) { visit("", visitor); }

    private void visit(String prefix, BiConsumer<String, Parameter> visitor) {
        parameters.forEach((name, p) -> visitor.accept(prefix + name, p));
        children.forEach((name, child) -> child.visit(prefix + name + ".", visitor));
    }

    /** Every key with its parameter or buffer, aliases included (the state dict's key set). */
    public final LinkedHashMap<String, Parameter> namedEntries() {
        LinkedHashMap<String, Parameter> out = new LinkedHashMap<>();
        visit(out::put);
        return out;
    }

    /** Trainable-kind parameters (not buffers), each once, under its first key. */
    public final LinkedHashMap<String, Parameter> namedParameters() {
        LinkedHashMap<String, Parameter> out = new LinkedHashMap<>();
        IdentityHashMap<Parameter, Boolean> seen = new IdentityHashMap<>();
        visit((k, p) -> {
            if (!p.isBuffer() && seen.put(p, Boolean.TRUE) == null) out.put(k, p);
        });
        return out;
    }

    /** The parameters (not buffers), each once. */
    public final List<Parameter> parameters() { return new ArrayList<>(namedParameters().values()); }

    /** Number of parameter elements (buffers excluded, shared ones once). */
    public final long parameterCount() {
        long n = 0;
        for (Parameter p : namedParameters().values()) n += Arrays.stream(p.shape()).reduce(1, (a, b) -> a * b);
        return n;
    }

    /** Bytes of the stored parameter values (buffers excluded, shared ones once): halves under half storage. */
    public final long parameterBytes() {
        long n = 0;
        for (Parameter p : namedParameters().values()) n += p.bytes();
        return n;
    }

    /** The module's state: every key (aliases included) over the live arrays (no copy). */
    public final StateDict stateDict() {
        StateDict sd = new StateDict(getClass().getSimpleName());
        visit((k, p) -> sd.put(k, TensorSource.of(k, p.data())));
        return sd;
    }

    /** Loads strictly: any missing, unexpected or mis-shaped key (all listed) is an error and nothing is changed. */
    public final LoadReport load(StateDict state) {
        return load(state, true);
    }

    /**
     * Loads {@code state} into this module. Values are converted to each parameter's dtype. Strict loading checks
     * everything first and changes nothing when anything is wrong; non-strict loading loads every key that fits and
     * returns the report of the rest.
     */
    public final LoadReport load(StateDict state, boolean strict) {
        LoadReport report = new LoadReport(state.origin());
        LinkedHashMap<String, Parameter> expected = namedEntries();
        for (var e : expected.entrySet()) {
            String key = e.getKey();
            if (!state.contains(key)) {
                report.missing(key);
                continue;
            }
            long[] found = state.get(key).shape();
            if (!Arrays.equals(found, e.getValue().shape())) report.shapeMismatch(key, e.getValue().shape(), found);
        }
        for (String key : state.keys()) if (!expected.containsKey(key)) report.unexpected(key);
        if (strict && !report.isClean()) throw new LoadReport.CheckpointMismatchException(report);

        IdentityHashMap<Parameter, String> firstKey = new IdentityHashMap<>();
        IdentityHashMap<Parameter, INDArray> firstValue = new IdentityHashMap<>();
        for (var e : expected.entrySet()) {
            String key = e.getKey();
            Parameter p = e.getValue();
            if (!state.contains(key) || !Arrays.equals(state.get(key).shape(), p.shape())) continue;
            INDArray value = state.get(key).load(p.dtype());
            String first = firstKey.get(p);
            if (first != null) {
                double diff = value.sub(firstValue.get(p)).amaxNumber().doubleValue();
                if (diff != 0) report.aliasConflict(key, first, diff);
                continue;
            }
            firstKey.put(p, key);
            firstValue.put(p, value);
        }
        if (strict && !report.isClean()) throw new LoadReport.CheckpointMismatchException(report);
        for (var e : firstValue.entrySet()) {
            e.getKey().set(e.getValue());
            report.loaded();
        }
        return report;
    }

    /** Sets training mode on the whole tree (only layers that behave differently care, e.g. Dropout). */
    public final Module train(boolean on) {
        training = on;
        for (Module c : children.values()) c.train(on);
        return this;
    }

    public final Module eval() { return train(false); }

    public final boolean isTraining() { return training; }

    /**
     * Converts every floating-point parameter and buffer to {@code type} (e.g. DOUBLE for gradient checks); integer
     * buffers (token position ids) keep their dtype.
     */
    public final Module to(DataType type) {
        IdentityHashMap<Parameter, Boolean> seen = new IdentityHashMap<>();
        visit((k, p) -> {
            if (seen.put(p, Boolean.TRUE) == null && p.dtype().isFPType()) p.to(type);
        });
        return this;
    }

    /**
     * Stores every parameter of the tree as {@code type} while all ops keep computing in FLOAT (see
     * {@link Parameter#storeAs}): FLOAT16 or BFLOAT16 halve the weights' memory, FLOAT returns to full-precision
     * storage. Buffers (the RoPE table, position ids) keep their dtype. Inference only: every parameter must be frozen
     * ({@link #setTrainable setTrainable(false)}); otherwise nothing is changed and the error names the trainable keys.
     * Call it before {@link #load} to have the checkpoint converted straight to {@code type}.
     *
     * @throws IllegalArgumentException for a dtype other than FLOAT, HALF or BFLOAT16
     * @throws IllegalStateException when a parameter is trainable
     */
    public final Module storeWeightsAs(DataType type) {
        if (type != DataType.FLOAT && type != DataType.HALF && type != DataType.BFLOAT16)
            throw new IllegalArgumentException("weight storage dtype must be FLOAT, HALF (fp16) or BFLOAT16 (bf16), got " + type);
        LinkedHashMap<String, Parameter> params = namedParameters();
        List<String> trainable = new ArrayList<>();
        params.forEach((k, p) -> {
            if (p.isTrainable()) trainable.add(k);
        });
        if (type != DataType.FLOAT && !trainable.isEmpty())
            throw new IllegalStateException(getClass().getSimpleName() + ": " + trainable.size() + " trainable parameter(s) cannot be stored in "
                    + type + " (training keeps FLOAT weights; freeze with setTrainable(false) first): "
                    + String.join(", ", trainable.subList(0, Math.min(5, trainable.size()))) + (trainable.size() > 5 ? ", ..." : ""));
        for (Parameter p : params.values()) if (p.dtype().isFPType()) p.storeAs(type);
        return this;
    }

    /** Clears the gradients of all parameters. */
    public final void zeroGrad() {
        for (Parameter p : parameters()) p.zeroGrad();
    }

    /** Freezes or unfreezes every parameter of the tree. */
    public final void setTrainable(boolean trainable) {
        for (Parameter p : parameters()) p.setTrainable(trainable);
    }
}
