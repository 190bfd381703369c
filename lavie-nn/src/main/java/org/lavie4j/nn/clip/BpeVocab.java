package org.lavie4j.nn.clip;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/** Reading the files of a byte-level BPE: strict UTF-8 text and the {@code vocab.json} token -> id object. */
final class BpeVocab {
    private static final JsonFactory JSON = new JsonFactory();

    private BpeVocab() {}

    /** Decodes UTF-8 strictly (the reference opens the files with {@code encoding="utf-8"}, which fails on bad bytes). */
    static String utf8(byte[] bytes, String fileName) throws BpeFileException {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new BpeFileException(fileName, 0, "not UTF-8 text (" + e + ")", e);
        }
    }

    /**
     * Parses {@code vocab.json}: one JSON object of string -> non-negative integer id (as {@code json.load}, a repeated
     * key keeps its last value).
     *
     * @throws BpeFileException naming {@code fileName} and the line of the first problem
     */
    static Map<String, Integer> parse(String text, String fileName) throws BpeFileException {
        Map<String, Integer> vocab = new HashMap<>(65536);
        try (JsonParser p = JSON.createParser(text)) {
            if (p.nextToken() != JsonToken.START_OBJECT)
                throw new BpeFileException(fileName, line(p), "not a BPE vocabulary: expected a JSON object of token -> id");
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String token = p.currentName();
                JsonToken v = p.nextToken();
                if (v != JsonToken.VALUE_NUMBER_INT || p.getNumberType() != JsonParser.NumberType.INT || p.getIntValue() < 0)
                    throw new BpeFileException(fileName, line(p), "not a BPE vocabulary: token '" + token
                            + "' maps to " + (v == null ? "nothing" : p.getText()) + ", expected a non-negative integer id");
                vocab.put(token, p.getIntValue());
            }
            if (t != JsonToken.END_OBJECT) throw new BpeFileException(fileName, line(p), "not a BPE vocabulary: malformed object");
            if (p.nextToken() != null) throw new BpeFileException(fileName, line(p), "trailing content after the vocabulary object");
        } catch (JsonProcessingException e) {
            int line = e.getLocation() == null ? 0 : e.getLocation().getLineNr();
            throw new BpeFileException(fileName, line, "not valid JSON: " + e.getOriginalMessage(), e);
        } catch (BpeFileException e) {
            throw e;
        } catch (IOException e) {
            throw new BpeFileException(fileName, 0, "cannot read: " + e.getMessage(), e);
        }
        if (vocab.isEmpty()) throw new BpeFileException(fileName, 0, "not a BPE vocabulary: the object is empty");
        return vocab;
    }

    private static int line(JsonParser p) {
        return p.currentLocation() == null ? 0 : p.currentLocation().getLineNr();
    }
}
