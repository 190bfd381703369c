package org.lavie4j.train.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.lavie4j.core.io.AtomicFiles;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A list of media files with captions, read from CSV (with a header row) or JSONL (one JSON object a line) in one of
 * three layouts ({@link Format}), told apart by their column names. Relative paths resolve against the manifest's folder
 * (or a root given to {@link #read(Path, Path)}); nothing is downloaded and files are not checked here (a missing or
 * unreadable file is skipped, and counted, when a sample is drawn from it). A malformed row is an {@link IOException}
 * naming the file and line.
 *
 * @param file    the manifest file
 * @param format  its layout
 * @param entries its rows, in file order
 */
public record Manifest(Path file, Format format, List<ManifestEntry> entries) {
    private static final ObjectMapper JSON = new ObjectMapper();

    public Manifest {
        entries = List.copyOf(entries);
    }

    /** The manifest layouts read. */
    public enum Format {
        /** {@code path,caption}: lavie4j's own (what {@link SyntheticShapes} writes). */
        PLAIN(List.of("path", "caption"), List.of()),
        /** Open-Sora: {@code path,text,num_frames,height,width,fps} (the last four optional). */
        OPEN_SORA(List.of("path", "text"), List.of("num_frames", "height", "width", "fps")),
        /**
         * WebVid-10M's csv: {@code videoid,contentUrl,duration,page_dir,name}; the video is the local file
         * {@code <root>/<page_dir>/<videoid>.mp4} (contentUrl and duration are not used).
         */
        WEBVID(List.of("videoid", "page_dir", "name"), List.of("contentUrl", "duration"));

        private final List<String> required, optional;

        Format(List<String> required, List<String> optional) {
            this.required = required;
            this.optional = optional;
        }

        /** The columns a row must have. */
        public List<String> required() { return required; }

        /** Further columns this layout reads or knows. */
        public List<String> optional() { return optional; }

        /** The layout whose required columns {@code columns} has (WebVid first, then plain, then Open-Sora), or null. */
        static Format detect(List<String> columns) {
            for (Format f : List.of(WEBVID, PLAIN, OPEN_SORA)) if (columns.containsAll(f.required)) return f;
            return null;
        }

        static String expected() {
            return "expected the columns path,caption (plain) | path,text[,num_frames,height,width,fps] (Open-Sora) "
                    + "| videoid,contentUrl,duration,page_dir,name (WebVid, videos under the root as page_dir/videoid.mp4)";
        }
    }

    /** Reads {@code file} (.csv or .jsonl/.json), resolving relative paths against its folder. */
    public static Manifest read(Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        return read(file, parent);
    }

    /**
     * Reads {@code file} (.csv, or .jsonl / .json with one object a line), resolving relative paths (and WebVid's
     * {@code page_dir/videoid.mp4}) against {@code root}.
     *
     * @throws IOException naming the file and line for an unknown layout, a row with missing columns, an empty path or
     *         a bad number; naming the file for an unknown extension
     */
    public static Manifest read(Path file, Path root) throws IOException {
        String name = file.toString();
        String ext = extension(file);
        String text = Files.readString(file, StandardCharsets.UTF_8);
        List<Map<String, String>> rows = new ArrayList<>();
        List<Integer> lines = new ArrayList<>();
        List<String> columns;
        switch (ext) {
            case "csv" -> {
                List<Csv.Row> csv = Csv.read(new StringReader(text), name);
                if (csv.isEmpty()) throw new IOException(name + ": empty manifest (no header row); " + Format.expected());
                columns = csv.get(0).fields().stream().map(String::strip).toList();
                for (Csv.Row r : csv.subList(1, csv.size())) {
                    if (r.fields().size() != columns.size())
                        throw new IOException(String.format(Locale.ROOT, "%s:%d: %d field(s) but the header has %d (%s)", name,
                                r.line(), r.fields().size(), columns.size(), String.join(",", columns)));
                    Map<String, String> row = new HashMap<>();
                    for (int i = 0; i < columns.size(); i++) row.put(columns.get(i), r.fields().get(i));
                    rows.add(row);
                    lines.add(r.line());
                }
            }
            case "jsonl", "json" -> {
                columns = null;
                BufferedReader in = new BufferedReader(new StringReader(text.startsWith("\uFEFF") ? text.substring(1) : text));
                String line;
                int n = 0;
                while ((line = in.readLine()) != null) {
                    n++;
                    if (line.isBlank()) continue;
                    JsonNode node;
                    try {
                        node = JSON.readTree(line);
                    } catch (JsonProcessingException e) {
                        throw new IOException(name + ":" + n + ": not JSON: " + e.getOriginalMessage(), e);
                    }
                    if (node == null || !node.isObject())
                        throw new IOException(name + ":" + n + ": expected a JSON object a line, got " + (node == null ? "nothing" : node.getNodeType()));
                    Map<String, String> row = new LinkedHashMap<>();
                    for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                        Map.Entry<String, JsonNode> e = it.next();
                        row.put(e.getKey(), e.getValue().isNull() ? null : e.getValue().isValueNode() ? e.getValue().asText() : e.getValue().toString());
                    }
                    if (columns == null) columns = List.copyOf(row.keySet());
                    rows.add(row);
                    lines.add(n);
                }
                if (columns == null) throw new IOException(name + ": empty manifest (no JSON object); " + Format.expected());
            }
            default -> throw new IOException("cannot read manifest " + name + ": unknown extension '" + ext
                    + "' (expected .csv, or .jsonl with one JSON object a line)");
        }
        Format format = Format.detect(columns);
        if (format == null)
            throw new IOException(name + ":1: unknown manifest format: columns " + columns + "; " + Format.expected());
        String fileName = file.getFileName().toString();
        List<ManifestEntry> entries = new ArrayList<>(rows.size());
        for (int i = 0; i < rows.size(); i++)
            entries.add(entry(format, rows.get(i), root, name, fileName + ":" + lines.get(i), lines.get(i)));
        return new Manifest(file, format, entries);
    }

    private static ManifestEntry entry(Format format, Map<String, String> row, Path root, String name, String origin, int line) throws IOException {
        for (String col : format.required)
            if (row.get(col) == null)
                throw new IOException(name + ":" + line + ": missing '" + col + "' (a " + format + " manifest needs " + format.required + ")");
        return switch (format) {
            case PLAIN -> new ManifestEntry(resolve(root, row.get("path"), name, line), row.get("caption"), 0, 0, 0, 0, origin);
            case OPEN_SORA -> new ManifestEntry(resolve(root, row.get("path"), name, line), row.get("text"),
                    count(row, "num_frames", name, line), count(row, "height", name, line), count(row, "width", name, line),
                    rate(row, "fps", name, line), origin);
            case WEBVID -> {
                String id = row.get("videoid").strip(), dir = row.get("page_dir").strip();
                if (id.isEmpty()) throw new IOException(name + ":" + line + ": empty videoid");
                if (id.contains("/") || id.contains("\\") || id.equals("..") || dir.contains(".."))
                    throw new IOException(name + ":" + line + ": videoid '" + id + "' / page_dir '" + dir + "' must name a file under the root");
                Path p = (dir.isEmpty() ? root : root.resolve(dir)).resolve(id + ".mp4");
                yield new ManifestEntry(p, row.get("name"), 0, 0, 0, 0, origin);
            }
        };
    }

    private static Path resolve(Path root, String path, String name, int line) throws IOException {
        String p = path.strip();
        if (p.isEmpty()) throw new IOException(name + ":" + line + ": empty path");
        try {
            return root.resolve(p);
        } catch (RuntimeException e) {
            throw new IOException(name + ":" + line + ": bad path '" + p + "': " + e.getMessage(), e);
        }
    }

    private static int count(Map<String, String> row, String col, String name, int line) throws IOException {
        double v = number(row, col, name, line);
        if (v != Math.rint(v) || v > Integer.MAX_VALUE)
            throw new IOException(name + ":" + line + ": " + col + " '" + row.get(col) + "' is not a whole number");
        return (int) v;
    }

    private static double rate(Map<String, String> row, String col, String name, int line) throws IOException {
        return number(row, col, name, line);
    }

    /** An optional non-negative number column; absent or blank gives 0 (unknown). */
    private static double number(Map<String, String> row, String col, String name, int line) throws IOException {
        String s = row.get(col);
        if (s == null || s.isBlank()) return 0;
        double v;
        try {
            v = Double.parseDouble(s.strip());
        } catch (NumberFormatException e) {
            throw new IOException(name + ":" + line + ": " + col + " '" + s + "' is not a number");
        }
        if (!(v >= 0) || Double.isInfinite(v)) throw new IOException(name + ":" + line + ": " + col + " '" + s + "' must be a finite number >= 0");
        return v;
    }

    /**
     * Writes a plain {@code path,caption} manifest atomically: CSV for a {@code .csv} name, JSONL (one
     * {@code {"path": ..., "caption": ...}} a line) for {@code .jsonl}. Paths under the manifest's folder are written
     * relative to it (with '/'), others absolute.
     */
    public static void write(Path file, List<ManifestEntry> entries) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        StringBuilder sb = new StringBuilder();
        String ext = extension(file);
        switch (ext) {
            case "csv" -> {
                sb.append(Csv.line(List.of("path", "caption")));
                for (ManifestEntry e : entries) sb.append(Csv.line(List.of(relative(dir, e.path()), e.caption())));
            }
            case "jsonl" -> {
                for (ManifestEntry e : entries) {
                    ObjectNode o = JSON.createObjectNode();
                    o.put("path", relative(dir, e.path()));
                    o.put("caption", e.caption());
                    sb.append(JSON.writeValueAsString(o)).append('\n');
                }
            }
            default -> throw new IllegalArgumentException("cannot write manifest " + file + ": expected a .csv or .jsonl name");
        }
        byte[] bytes = sb.toString().getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(file, ch -> AtomicFiles.writeFully(ch, ByteBuffer.wrap(bytes)));
    }

    private static String relative(Path dir, Path p) {
        Path abs = p.toAbsolutePath().normalize();
        Path d = dir.normalize();
        if (abs.startsWith(d)) {
            StringBuilder sb = new StringBuilder();
            for (Path part : d.relativize(abs)) sb.append(sb.length() == 0 ? "" : "/").append(part);
            return sb.toString();
        }
        return abs.toString();
    }

    private static String extension(Path file) {
        String n = file.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot <= 0 ? "" : n.substring(dot + 1).toLowerCase(Locale.ROOT);
    }
}
