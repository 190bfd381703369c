package org.lavie4j.nn.clip;

import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;

/**
 * The pre-pass the reference CLIP tokenizer runs when ftfy is not installed: transformers 4.28.1
 * {@code BasicTokenizer(do_lower_case=True)} (models/bert/tokenization_bert.py, with {@code _is_control},
 * {@code _is_whitespace}, {@code _is_punctuation} of tokenization_utils.py), no {@code never_split} (special tokens are
 * split off before this pass).
 *
 * <p>Steps: drop NUL, U+FFFD and every {@code C*} code point except tab/LF/CR, turn {@code \t \n \r} and {@code Zs}
 * into spaces; put spaces around CJK ideographs; split on Python whitespace; per word: lower-case (Python
 * {@code str.lower}, full mapping with final sigma), NFD, drop {@code Mn}; split every punctuation character
 * ({@code P*} and the ASCII symbol ranges) into its own word; split on whitespace again.
 *
 * <p>Character properties come from the JDK's Unicode tables (Unicode 13 in Java 17); code points assigned in a later
 * Unicode version than the reference's Python used are the only place the two can differ.
 */
final class BasicTokenizer {
    private BasicTokenizer() {}

    /** The words of {@code text} after the pre-pass (never null, no empty words). */
    static List<String> tokenize(String text) {
        String cleaned = tokenizeChineseChars(cleanText(text));
        List<String> split = new ArrayList<>();
        for (String word : whitespaceTokenize(cleaned)) {
            splitOnPunctuation(stripAccents(lower(word)), split);
        }
        // whitespace_tokenize(" ".join(split_tokens)): re-split in case lower-casing or NFD produced whitespace
        List<String> out = new ArrayList<>(split.size());
        for (String w : split) out.addAll(whitespaceTokenize(w));
        return out;
    }

    /** {@code _clean_text}: removes invalid and control characters, maps whitespace to a space. */
    static String cleanText(String text) {
        StringBuilder sb = new StringBuilder(text.length());
        text.codePoints().forEach(cp -> {
            if (cp == 0 || cp == 0xFFFD || isControl(cp)) return;
            if (isWhitespace(cp)) sb.append(' ');
            else sb.appendCodePoint(cp);
        });
        return sb.toString();
    }

    /** {@code _tokenize_chinese_chars}: spaces around every CJK ideograph. */
    static String tokenizeChineseChars(String text) {
        StringBuilder sb = new StringBuilder(text.length() + 16);
        text.codePoints().forEach(cp -> {
            if (isChineseChar(cp)) sb.append(' ').appendCodePoint(cp).append(' ');
            else sb.appendCodePoint(cp);
        });
        return sb.toString();
    }

    /**
     * Python {@code str.lower}: the full lower-case mapping (the only unconditional multi-character one is U+0130 ->
     * "i\u0307"), and U+03A3 becomes final sigma U+03C2 when preceded by a cased letter and not followed by one, skipping
     * case-ignorable characters either way (CPython {@code handle_capital_sigma}). {@code String.toLowerCase} decides
     * final sigma by word boundaries instead, which differs (e.g. "Ҫग़Σ").
     */
    static String lower(String word) {
        StringBuilder sb = new StringBuilder(word.length());
        for (int i = 0; i < word.length(); ) {
            int cp = word.codePointAt(i);
            if (cp == 0x130) sb.append("i\u0307");
            else if (cp == 0x3A3) sb.append(finalSigma(word, i) ? '\u03C2' : '\u03C3');
            else sb.appendCodePoint(Character.toLowerCase(cp));
            i += Character.charCount(cp);
        }
        return sb.toString();
    }

    private static boolean finalSigma(String s, int at) {
        int j = at, c = -1;
        while (j > 0) {
            c = s.codePointBefore(j);
            j -= Character.charCount(c);
            if (!isCaseIgnorable(c)) break;
            c = -1;
        }
        if (c < 0 || !isCased(c)) return false;
        for (j = at + 1; j < s.length(); ) {
            c = s.codePointAt(j);
            if (!isCaseIgnorable(c)) return !isCased(c);
            j += Character.charCount(c);
        }
        return true;
    }

    /** Unicode {@code Cased}: Lowercase, Uppercase or titlecase letter. */
    static boolean isCased(int cp) {
        return Character.isLowerCase(cp) || Character.isUpperCase(cp) || Character.isTitleCase(cp);
    }

    /** Unicode {@code Case_Ignorable}: Mn, Me, Cf, Lm, Sk, or Word_Break MidLetter / MidNumLet / Single_Quote. */
    static boolean isCaseIgnorable(int cp) {
        switch (Character.getType(cp)) {
            case Character.NON_SPACING_MARK, Character.ENCLOSING_MARK, Character.FORMAT, Character.MODIFIER_LETTER,
                 Character.MODIFIER_SYMBOL -> { return true; }
            default -> { }
        }
        return switch (cp) {
            case 0x27, 0x2E, 0x3A, 0xB7, 0x387, 0x55F, 0x5F4, 0x2018, 0x2019, 0x2024, 0x2027, 0xFE13, 0xFE52, 0xFE55,
                 0xFF07, 0xFF0E, 0xFF1A -> true;
            default -> false;
        };
    }

    /** {@code _run_strip_accents}: NFD, then drop non-spacing marks ({@code Mn}). */
    static String stripAccents(String text) {
        String nfd = Normalizer.normalize(text, Normalizer.Form.NFD);
        StringBuilder sb = new StringBuilder(nfd.length());
        nfd.codePoints().forEach(cp -> {
            if (Character.getType(cp) != Character.NON_SPACING_MARK) sb.appendCodePoint(cp);
        });
        return sb.toString();
    }

    /** {@code _run_split_on_punc}: every punctuation character becomes its own word; appends to {@code out}. */
    static void splitOnPunctuation(String word, List<String> out) {
        StringBuilder current = null;
        for (int i = 0; i < word.length(); ) {
            int cp = word.codePointAt(i);
            i += Character.charCount(cp);
            if (isPunctuation(cp)) {
                if (current != null) out.add(current.toString());
                current = null;
                out.add(new String(Character.toChars(cp)));
            } else {
                if (current == null) current = new StringBuilder();
                current.appendCodePoint(cp);
            }
        }
        if (current != null) out.add(current.toString());
    }

    /** Python {@code str.split()}: splits on runs of {@link #isPythonSpace} characters, drops empty pieces. */
    static List<String> whitespaceTokenize(String text) {
        List<String> out = new ArrayList<>();
        int start = -1;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            if (isPythonSpace(cp)) {
                if (start >= 0) out.add(text.substring(start, i));
                start = -1;
            } else if (start < 0) {
                start = i;
            }
            i += Character.charCount(cp);
        }
        if (start >= 0) out.add(text.substring(start));
        return out;
    }

    /** Python {@code str.isspace}: bidirectional class WS, B or S, or general category Zs. */
    static boolean isPythonSpace(int cp) {
        if (Character.getType(cp) == Character.SPACE_SEPARATOR) return true;
        byte d = Character.getDirectionality(cp);
        return d == Character.DIRECTIONALITY_WHITESPACE || d == Character.DIRECTIONALITY_PARAGRAPH_SEPARATOR
                || d == Character.DIRECTIONALITY_SEGMENT_SEPARATOR;
    }

    /** {@code _is_whitespace}: space, tab, LF, CR or {@code Zs}. */
    static boolean isWhitespace(int cp) {
        return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || Character.getType(cp) == Character.SPACE_SEPARATOR;
    }

    /** {@code _is_control}: any {@code C*} category (Cc, Cf, Cs, Co, Cn) except tab, LF, CR. */
    static boolean isControl(int cp) {
        if (cp == '\t' || cp == '\n' || cp == '\r') return false;
        int t = Character.getType(cp);
        return t == Character.CONTROL || t == Character.FORMAT || t == Character.SURROGATE
                || t == Character.PRIVATE_USE || t == Character.UNASSIGNED;
    }

    /** {@code _is_punctuation}: the ASCII non-alphanumeric symbols and every {@code P*} category. */
    static boolean isPunctuation(int cp) {
        if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
        int t = Character.getType(cp);
        return t == Character.CONNECTOR_PUNCTUATION || t == Character.DASH_PUNCTUATION || t == Character.START_PUNCTUATION
                || t == Character.END_PUNCTUATION || t == Character.INITIAL_QUOTE_PUNCTUATION
                || t == Character.FINAL_QUOTE_PUNCTUATION || t == Character.OTHER_PUNCTUATION;
    }

    /** {@code _is_chinese_char}: the CJK Unified Ideographs blocks and extensions, and compatibility ideographs. */
    static boolean isChineseChar(int cp) {
        return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF)
                || (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF)
                || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
    }
}
