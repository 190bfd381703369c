package org.lavie4j.nn.unet;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.testing.TestData;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class UNetConfigTest {
    private final ObjectMapper json = new ObjectMapper();

    @Test void realLavieBaseConfigParsesToLavieBase() throws Exception {
        var parsed = UNetConfig.fromJson(json.readTree(TestData.root().resolve("reference/configs/lavie_base_unet.json").toFile()));
        assertEquals(UNetConfig.lavieBase(), parsed.config());
        assertEquals(List.of("sample_size"), parsed.ignoredKeys());
        assertEquals(1280, parsed.config().timeEmbedDim());
    }

    @Test void goldenCaseConfigParsesToTiny() throws Exception {
        var parsed = UNetConfig.fromJson(json.readTree(TestData.goldenCase("unet_base").resolve("case.json").toFile()).get("config"));
        assertEquals(UNetConfig.tiny(), parsed.config());
        assertEquals(List.of("sample_size", "use_relative_position"), parsed.ignoredKeys());
    }

    @Test void valuesThePortCannotHonourAreErrors() {
        for (String bad : new String[]{"{\"use_deformable_conv\": true}", "{\"act_fn\": \"gelu\"}", "{\"use_linear_projection\": true}",
                "{\"class_embed_type\": \"timestep\"}", "{\"down_block_types\": [\"CrossAttnDownBlock2D\", \"DownBlock3D\", \"DownBlock3D\", \"DownBlock3D\"]}"}) {
            var e = assertThrows(IllegalArgumentException.class, () -> UNetConfig.fromJson(json.readTree(bad)), bad);
            assertTrue(e.getMessage().contains("not supported") || e.getMessage().contains("unsupported"), e.getMessage());
        }
        ObjectNode ok = json.createObjectNode().put("use_deformable_conv", false).put("_class_name", "UNet3DConditionModel");
        assertEquals(List.of("_class_name", "use_deformable_conv"), UNetConfig.fromJson(ok).ignoredKeys());
    }

    @Test void inconsistentShapesAreErrors() {
        var e = assertThrows(IllegalArgumentException.class, () -> UNetConfig.fromJson(json.readTree("{\"block_out_channels\": [320, 640]}")));
        assertTrue(e.getMessage().contains("one entry per block_out_channels"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> UNetConfig.fromJson(json.readTree("{\"attention_head_dim\": 7}")));
        assertTrue(e.getMessage().contains("heads"), e.getMessage());
    }
}
