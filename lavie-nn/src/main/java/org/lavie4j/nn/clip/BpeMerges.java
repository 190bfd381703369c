package org.lavie4j.nn.clip;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The merge table of a byte-level BPE ({@code merges.txt}) and the merge loop of the reference {@code CLIPTokenizer.bpe}
 * (models/clip/tokenization_clip.py): the word is split into symbols, the last one suffixed {@code </w>}; repeatedly the
 * adjacent pair with the lowest merge rank is merged at every non-overlapping occurrence, left to right, until no pair
 * has a rank.
 *
 * <p>Symbols are interned to ints so that a pair is one {@code long} key; a rank lookup allocates nothing.
 */
final class BpeMerges {
    /** The reference reads lines {@code [1, 49152 - 256 - 2 + 1)} of the file: at most 48894 merges after the header. */
    static final int MAX_MERGES = 49152 - 256 - 2;
    static final String END_OF_WORD = "</w>";

    private final Map<String, Integer> symbolIds = new HashMap<>();
    private final List<String> symbols = new ArrayList<>();
    /** pair key -> {rank, merged symbol id}. */
    private final Map<Long, int[]> ranks = new HashMap<>();

    private BpeMerges() {}

    /**
     * Parses the text of a {@code merges.txt} exactly as the reference: the whole text is stripped of surrounding
     * whitespace, split on '\n', the first line (the {@code #version} header) is skipped and the next
     * {@link #MAX_MERGES} lines are read; a later duplicate of a pair overrides the earlier rank.
     *
     * @throws BpeFileException naming {@code fileName} and the line when a line is not two symbols
     */
    static BpeMerges parse(String text, String fileName) throws BpeFileException {
        int lead = 0, end = text.length();
        while (lead < end && BasicTokenizer.isPythonSpace(text.charAt(lead))) lead++;
        while (end > lead && BasicTokenizer.isPythonSpace(text.charAt(end - 1))) end--;
        int leadingLines = (int) text.substring(0, lead).chars().filter(ch -> ch == '\n').count();
        String stripped = text.substring(lead, end); // Python str.strip()
        if (stripped.isEmpty()) throw new BpeFileException(fileName, 0, "empty merges file (expected a '#version' header and lines 'a b')");
        String[] lines = stripped.split("\n", -1);
        BpeMerges m = new BpeMerges();
        int n = Math.min(lines.length - 1, MAX_MERGES);
        if (n <= 0) throw new BpeFileException(fileName, 0, "no merges after the header line");
        for (int i = 1; i <= n; i++) {
            List<String> parts = BasicTokenizer.whitespaceTokenize(lines[i]);
            int lineNo = leadingLines + i + 1;
            if (parts.size() != 2) {
                String shown = lines[i].length() > 60 ? lines[i].substring(0, 60) + "..." : lines[i];
                throw new BpeFileException(fileName, lineNo, "not a BPE merge (expected two symbols separated by a space, got "
                        + parts.size() + "): '" + shown.strip() + "'");
            }
            int a = m.intern(parts.get(0)), b = m.intern(parts.get(1));
            int merged = m.intern(parts.get(0) + parts.get(1));
            m.ranks.put(key(a, b), new int[] {i - 1, merged});
        }
        return m;
    }

    /** Number of distinct merge pairs. */
    int size() { return ranks.size(); }

    /**
     * The BPE symbols of one pre-token whose characters are already byte-encoded (non-empty); the last symbol carries
     * {@code </w>}. Equals the reference's {@code bpe(token).split(" ")}.
     */
    String[] bpe(String token) {
        int n = token.length(); // byte-encoded characters are all in the BMP: one char per symbol
        if (n == 1) return new String[] {token + END_OF_WORD};
        String[] word = new String[n];
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            word[i] = i == n - 1 ? token.charAt(i) + END_OF_WORD : String.valueOf(token.charAt(i));
            ids[i] = symbolIds.getOrDefault(word[i], -1);
        }
        while (n > 1) {
            // the bigram with the lowest rank (the reference's min over get_pairs(word))
            int bestRank = Integer.MAX_VALUE, bestFirst = -1, bestSecond = -1, bestMerged = -1;
            for (int i = 0; i + 1 < n; i++) {
                if (ids[i] < 0 || ids[i + 1] < 0) continue;
                int[] r = ranks.get(key(ids[i], ids[i + 1]));
                if (r != null && r[0] < bestRank) {
                    bestRank = r[0];
                    bestFirst = ids[i];
                    bestSecond = ids[i + 1];
                    bestMerged = r[1];
                }
            }
            if (bestMerged < 0) break;
            // merge every non-overlapping occurrence, scanning left to right
            int w = 0;
            for (int i = 0; i < n; ) {
                if (i < n - 1 && ids[i] == bestFirst && ids[i + 1] == bestSecond) {
                    ids[w] = bestMerged;
                    word[w] = symbols.get(bestMerged);
                    i += 2;
                } else {
                    ids[w] = ids[i];
                    word[w] = word[i];
                    i += 1;
                }
                w++;
            }
            n = w;
        }
        String[] out = new String[n];
        System.arraycopy(word, 0, out, 0, n);
        return out;
    }

    private int intern(String symbol) {
        Integer id = symbolIds.get(symbol);
        if (id != null) return id;
        symbols.add(symbol);
        symbolIds.put(symbol, symbols.size() - 1);
        return symbols.size() - 1;
    }

    private static long key(int a, int b) {
        return ((long) a << 32) | (b & 0xFFFFFFFFL);
    }
}
