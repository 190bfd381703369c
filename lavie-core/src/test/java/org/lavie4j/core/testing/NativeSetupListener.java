package org.lavie4j.core.testing;

import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;
import org.lavie4j.core.Lavie4j;

/**
 * Runs {@link Lavie4j#setup()} before any test touches ND4J, so tests run on the native build an application would
 * get (oneDNN AVX-512 / AVX2 / generic, from the CPU flags). It sets JVM system properties only; the environment
 * (e.g. {@code OPENBLAS_CORETYPE}) is left as found. Registered for every module whose tests use lavie-core's test-jar.
 */
public final class NativeSetupListener implements LauncherSessionListener {
    @Override
    public void launcherSessionOpened(LauncherSession session) {
        Lavie4j.setup();
    }
}
