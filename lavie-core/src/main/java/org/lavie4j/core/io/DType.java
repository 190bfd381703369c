package org.lavie4j.core.io;

import org.nd4j.linalg.api.buffer.DataType;

import java.util.Locale;

/**
 * Element types a checkpoint can store, with their safetensors names and PyTorch storage class names.
 * Compute happens in {@link #F32} (or {@link #F64} for gradient checks); the others are storage types.
 */
public enum DType {
    F64("F64", "DoubleStorage", DataType.DOUBLE, 8),
    F32("F32", "FloatStorage", DataType.FLOAT, 4),
    F16("F16", "HalfStorage", DataType.HALF, 2),
    BF16("BF16", "BFloat16Storage", DataType.BFLOAT16, 2),
    I64("I64", "LongStorage", DataType.LONG, 8),
    I32("I32", "IntStorage", DataType.INT, 4),
    I16("I16", "ShortStorage", DataType.SHORT, 2),
    I8("I8", "CharStorage", DataType.BYTE, 1),
    U8("U8", "ByteStorage", DataType.UBYTE, 1),
    BOOL("BOOL", "BoolStorage", DataType.BOOL, 1);

    private final String safetensorsName;
    private final String torchStorage;
    private final DataType nd4j;
    private final int bytes;

    DType(String safetensorsName, String torchStorage, DataType nd4j, int bytes) {
        this.safetensorsName = safetensorsName;
        this.torchStorage = torchStorage;
        this.nd4j = nd4j;
        this.bytes = bytes;
    }

    /** The dtype string of the safetensors header ("F32", "BF16", ...). */
    public String safetensorsName() { return safetensorsName; }

    /** The PyTorch storage class name in a pickled checkpoint ("FloatStorage", ...). */
    public String torchStorage() { return torchStorage; }

    /** The ND4J data type holding this dtype. */
    public DataType nd4j() { return nd4j; }

    /** Bytes per element. */
    public int bytes() { return bytes; }

    public boolean isFloatingPoint() { return this == F64 || this == F32 || this == F16 || this == BF16; }

    /** Parses a safetensors dtype name; throws with the list of known names otherwise. */
    public static DType fromSafetensors(String name) {
        for (DType d : values()) if (d.safetensorsName.equals(name)) return d;
        throw new IllegalArgumentException("unknown safetensors dtype '" + name + "' (known: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
    }

    /** Parses a PyTorch storage class name ("FloatStorage"); null when unknown. */
    public static DType fromTorchStorage(String name) {
        for (DType d : values()) if (d.torchStorage.equals(name)) return d;
        return null;
    }

    /** The dtype stored for an ND4J data type. */
    public static DType of(DataType t) {
        for (DType d : values()) if (d.nd4j == t) return d;
        throw new IllegalArgumentException("no checkpoint dtype for ND4J type " + t.name().toLowerCase(Locale.ROOT));
    }
}
