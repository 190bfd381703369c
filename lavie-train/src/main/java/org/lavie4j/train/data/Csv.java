package org.lavie4j.train.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.Reader;
import java.util.ArrayList;
import java.util.List;

/**
 * A small RFC 4180 CSV reader and writer: comma-separated fields, fields in double quotes may hold commas, line breaks
 * and doubled quotes; CRLF or LF line ends; a UTF-8 byte order mark at the start is ignored. Stray quotes are read as
 * Python's {@code csv} module reads them (the writer of most manifests): a quote inside an unquoted field is a literal
 * character, text after a closing quote is appended. Each record carries the line it starts on, for error messages.
 */
final class Csv {
    private Csv() {}

    /** One record: its fields and the 1-based line it starts on. */
    record Row(List<String> fields, int line) {}

    /** Reads every record; blank lines are skipped. */
    static List<Row> read(Reader reader, String name) throws IOException {
        Reader in = reader.markSupported() ? reader : new BufferedReader(reader);
        List<Row> rows = new ArrayList<>();
        List<String> fields = new ArrayList<>();
        StringBuilder field = new StringBuilder();
        int line = 1, start = 1;
        boolean quoted = false, atStart = true, first = true;
        int c;
        while ((c = in.read()) != -1) {
            if (first) {
                first = false;
                if (c == '\uFEFF') continue;
            }
            if (quoted) {
                if (c == '"') {
                    in.mark(1);
                    int n = in.read();
                    if (n == '"') {
                        field.append('"');
                    } else {
                        quoted = false;
                        if (n != -1) in.reset();
                    }
                } else {
                    if (c == '\n') line++;
                    field.append((char) c);
                }
                continue;
            }
            switch (c) {
                case '"' -> {
                    if (field.length() > 0) field.append('"');   // literal, as Python's csv reads it
                    else quoted = true;
                    atStart = false;
                }
                case ',' -> {
                    fields.add(field.toString());
                    field.setLength(0);
                    atStart = false;
                }
                case '\r' -> { /* CRLF: the LF ends the record */ }
                case '\n' -> {
                    if (!atStart || field.length() > 0 || !fields.isEmpty()) {
                        fields.add(field.toString());
                        rows.add(new Row(List.copyOf(fields), start));
                    }
                    fields.clear();
                    field.setLength(0);
                    atStart = true;
                    line++;
                    start = line;
                }
                default -> {
                    field.append((char) c);
                    atStart = false;
                }
            }
        }
        if (quoted) throw new IOException(name + ":" + start + ": a quoted field is never closed");
        if (!atStart || field.length() > 0 || !fields.isEmpty()) {
            fields.add(field.toString());
            rows.add(new Row(List.copyOf(fields), start));
        }
        return rows;
    }

    /** One record as a line (with "\n"), quoting the fields that need it. */
    static String line(List<String> fields) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < fields.size(); i++) {
            if (i > 0) sb.append(',');
            String f = fields.get(i);
            boolean quote = f.isEmpty() ? false : f.indexOf(',') >= 0 || f.indexOf('"') >= 0 || f.indexOf('\n') >= 0
                    || f.indexOf('\r') >= 0 || Character.isWhitespace(f.charAt(0)) || Character.isWhitespace(f.charAt(f.length() - 1));
            if (quote) sb.append('"').append(f.replace("\"", "\"\"")).append('"');
            else sb.append(f);
        }
        return sb.append('\n').toString();
    }
}
