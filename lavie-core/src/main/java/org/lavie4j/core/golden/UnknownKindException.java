package org.lavie4j.core.golden;

/**
 * A case whose {@code kind} is neither one of the kinds of the golden format ({@link GoldenRunner#KNOWN_KINDS}) nor
 * the kind of a registered {@link CaseRunner}: probably a typo or a case from a newer format.
 */
public final class UnknownKindException extends Exception {
    private static final long serialVersionUID = 1L;

    private final String kind;

    public UnknownKindException(String caseName, String kind, String known) {
        super("case '" + caseName + "': unknown kind '" + kind + "' (known kinds: " + known + ")");
        this.kind = kind;
    }

    public String kind() { return kind; }
}
