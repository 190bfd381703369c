package org.lavie4j.train.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
import java.util.Properties;

/**
 * Where a checkpoint came from: the lavie4j version and Java that wrote it, when, the model training started from, and
 * its parent (the checkpoint this run resumed from, or the previous checkpoint of the same run; null for the first).
 */
public record Provenance(String lavie4jVersion, String javaVersion, Instant createdAt, String baseModel, String parent) {
    public Provenance {
        if (lavie4jVersion == null || javaVersion == null || createdAt == null || baseModel == null)
            throw new IllegalArgumentException("Provenance: version, java, time and base model are required");
    }

    /** The version of lavie-train on the class path ("unknown" when run from unfiltered sources). */
    public static String currentVersion() {
        Properties p = new Properties();
        try (InputStream in = Provenance.class.getResourceAsStream("/org/lavie4j/train/version.properties")) {
            if (in != null) p.load(in);
        } catch (IOException ignored) {
            // fall through
        }
        String v = p.getProperty("version", "unknown");
        return v.startsWith("${") ? "unknown" : v;
    }

    /** Provenance of a checkpoint written now by this JVM. */
    public static Provenance now(String baseModel, String parent) {
        return new Provenance(currentVersion(), System.getProperty("java.version"), Instant.now(), baseModel, parent);
    }

    public ObjectNode toJson() {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        n.put("lavie4j_version", lavie4jVersion);
        n.put("java_version", javaVersion);
        n.put("created_at", createdAt.toString());
        n.put("base_model", baseModel);
        if (parent == null) n.putNull("parent"); else n.put("parent", parent);
        return n;
    }

    public static Provenance fromJson(JsonNode n) {
        if (n == null || !n.isObject()) throw new IllegalArgumentException("provenance must be an object");
        try {
            return new Provenance(n.path("lavie4j_version").asText("unknown"), n.path("java_version").asText("unknown"),
                    Instant.parse(n.path("created_at").asText()), n.path("base_model").asText(""),
                    n.hasNonNull("parent") ? n.get("parent").asText() : null);
        } catch (java.time.format.DateTimeParseException e) {
            throw new IllegalArgumentException("provenance.created_at: not an ISO-8601 instant: " + n.path("created_at"), e);
        }
    }
}
