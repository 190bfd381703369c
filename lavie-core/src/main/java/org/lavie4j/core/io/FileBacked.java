package org.lavie4j.core.io;

/** Marks sources whose {@link TensorSource#load()} returns a fresh array the caller owns (and must close). */
interface FileBacked {
}
