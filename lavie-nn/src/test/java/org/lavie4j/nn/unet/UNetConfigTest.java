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

    @Test void framePositionEmbeddingsAreThisPortsOptionalExtension() throws Exception {
        assertEquals(0, UNetConfig.lavieBase().framePositionEmbeddings());
        assertFalse(UNetConfig.lavieBase().toJson().has("frame_position_embeddings"), "LaVie's config is written without it");
        UNetConfig with = UNetConfig.tiny().withFramePositionEmbeddings(16);
        assertEquals(16, with.toJson().get("frame_position_embeddings").asInt());
        assertEquals(with, UNetConfig.fromJson(with.toJson()).config());
        assertEquals(UNetConfig.tiny(), UNetConfig.fromJson(with.toJson().put("frame_position_embeddings", 0)).config());
        assertEquals(UNetConfig.tiny(), with.withFramePositionEmbeddings(0));
        for (String bad : new String[]{"-1", "2.5", "\"eight\"", "true"}) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> UNetConfig.fromJson(json.readTree("{\"frame_position_embeddings\": " + bad + "}")), bad);
            assertTrue(e.getMessage().contains("frame_position_embeddings"), e.getMessage());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> UNetConfig.tinyInterpolation().withFramePositionEmbeddings(8));
        assertTrue(e.getMessage().contains("base variant"), e.getMessage());
        // the tables are the only new keys, one per temporal attention
        var plain = new UNet3DConditionModel(UNetConfig.tiny()).stateDict().keys();
        var tabled = new UNet3DConditionModel(with).stateDict().keys();
        var added = new java.util.TreeSet<>(tabled);
        added.removeAll(plain);
        assertTrue(tabled.containsAll(plain));
        assertEquals(plain.stream().filter(k -> k.endsWith("attn_temp.to_q.weight")).count(), added.size());
        assertTrue(added.stream().allMatch(k -> k.endsWith("attn_temp.frame_position_embedding")), added.toString());
    }
}
