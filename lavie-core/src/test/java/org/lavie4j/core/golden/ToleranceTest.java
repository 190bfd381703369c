package org.lavie4j.core.golden;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ToleranceTest {
    private static final Path WHERE = Path.of("case.json");

    private static Tolerance parse(String json) throws Exception {
        JsonNode n = new ObjectMapper().readTree(json);
        return Tolerance.parse(n, WHERE);
    }

    @Test
    void defaultAppliesWhenNoEntryMatches() throws Exception {
        Tolerance t = parse("{\"default\": {\"rtol\": 1e-4, \"atol\": 1.3e-5}, \"outputs\": []}");
        Tolerance.Applied a = t.ruleFor("y", false);
        assertEquals(new Tolerance.Close(1e-4, 1.3e-5), a.rule());
        assertEquals("default", a.source());
        assertEquals("rtol=0.0001 atol=1.3e-05 (default)", a.describe());
    }

    @Test
    void firstMatchingEntryWins() throws Exception {
        Tolerance t = parse("{\"default\": {\"rtol\": 1e-4, \"atol\": 1e-5}, \"outputs\": ["
                + "{\"match\": \"grad.*\", \"rtol\": 1e-3, \"atol\": 2e-6},"
                + "{\"match\": \"grad.conv.weight\", \"exact\": true},"
                + "{\"match\": \"video_uint8\", \"max_abs_diff\": 1}]}");
        assertEquals(new Tolerance.Close(1e-3, 2e-6), t.ruleFor("grad.conv.weight", false).rule());
        assertEquals("grad.*", t.ruleFor("grad.conv.weight", false).source());
        assertEquals(new Tolerance.MaxAbsDiff(1), t.ruleFor("video_uint8", true).rule());
    }

    @Test
    void prefixOnlyWithStarOtherwiseWholeName() throws Exception {
        Tolerance t = parse("{\"default\": {\"rtol\": 0, \"atol\": 1}, \"outputs\": ["
                + "{\"match\": \"timesteps\", \"exact\": true}, {\"match\": \"ddim.timesteps_*\", \"exact\": true}]}");
        assertInstanceOf(Tolerance.Exact.class, t.ruleFor("timesteps", false).rule());
        assertInstanceOf(Tolerance.Close.class, t.ruleFor("timesteps_50", false).rule(), "no star: whole name");
        assertInstanceOf(Tolerance.Close.class, t.ruleFor("xtimesteps", false).rule());
        assertInstanceOf(Tolerance.Exact.class, t.ruleFor("ddim.timesteps_50", false).rule());
        assertInstanceOf(Tolerance.Exact.class, t.ruleFor("ddim.timesteps_", false).rule(), "empty rest is a prefix match");
        assertInstanceOf(Tolerance.Close.class, t.ruleFor("ddpm.timesteps_50", false).rule());
    }

    @Test
    void integerOutputsOnRtolAtolRuleAreComparedAsIntegersExactly() throws Exception {
        Tolerance t = parse("{\"default\": {\"rtol\": 0.5, \"atol\": 10}, \"outputs\": [{\"match\": \"ids\", \"max_abs_diff\": 2}]}");
        Tolerance.Applied a = t.ruleFor("mask", true);
        assertEquals(new Tolerance.MaxAbsDiff(0), a.rule());
        assertTrue(a.describe().startsWith("max_abs_diff=0"), a.describe());
        assertEquals(new Tolerance.MaxAbsDiff(2), t.ruleFor("ids", true).rule(), "an explicit rule is kept");
        assertEquals(new Tolerance.Close(0.5, 10), t.ruleFor("mask", false).rule());
    }

    @Test
    void parsesEveryShippedTolerance() throws Exception {
        // schedulers has the most entries; sched_interp_ddim mixes exact and rtol 0 / atol 1e-12
        Tolerance t = parse("{\"default\": {\"rtol\": 1e-5, \"atol\": 7e-4}, \"outputs\": ["
                + "{\"match\": \"steps50.timestep_map\", \"exact\": true},"
                + "{\"match\": \"steps50.betas\", \"rtol\": 0.0, \"atol\": 1e-12, \"measured_max_abs_fp32_vs_fp64\": null}],"
                + "\"measured_max_abs_fp32_vs_fp64\": null}");
        assertEquals(new Tolerance.Close(0, 1e-12), t.ruleFor("steps50.betas", false).rule());
        assertEquals(2, t.entries().size());
    }

    @Test
    void malformedBlocksAreRejectedWithTheirPath() {
        String[] bad = {
                "null",
                "[]",
                "{\"outputs\": []}",
                "{\"default\": {}}",
                "{\"default\": {\"rtol\": 1e-4}}",
                "{\"default\": {\"rtol\": \"x\", \"atol\": 1}}",
                "{\"default\": {\"rtol\": -1, \"atol\": 1}}",
                "{\"default\": {\"rtol\": 0, \"atol\": 0}, \"outputs\": {}}",
                "{\"default\": {\"rtol\": 0, \"atol\": 0}, \"outputs\": [{\"exact\": true}]}",
                "{\"default\": {\"rtol\": 0, \"atol\": 0}, \"outputs\": [{\"match\": \"y\"}]}",
                "{\"default\": {\"rtol\": 0, \"atol\": 0}, \"outputs\": [{\"match\": \"y\", \"exact\": false}]}",
                "{\"default\": {\"rtol\": 0, \"atol\": 0}, \"outputs\": [{\"match\": \"y\", \"max_abs_diff\": 0.5}]}",
                "{\"default\": {\"rtol\": 0, \"atol\": 0}, \"outputs\": [{\"match\": \"y\", \"exact\": true, \"atol\": 1}]}",
        };
        for (String b : bad) {
            MalformedCaseException e = assertThrows(MalformedCaseException.class, () -> parse(b), b);
            assertTrue(e.getMessage().contains("case.json") && e.getMessage().contains("tolerance"), e.getMessage());
        }
    }
}
