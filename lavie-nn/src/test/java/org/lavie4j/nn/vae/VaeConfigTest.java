package org.lavie4j.nn.vae;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.lavie4j.core.testing.TestData;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class VaeConfigTest {
    private final ObjectMapper json = new ObjectMapper();

    @Test void referenceConfigsParseToTheFactories() throws Exception {
        var sd = VaeConfig.fromJson(json.readTree(TestData.reference().resolve("configs/sd14_vae.json").toFile()));
        assertEquals(VaeConfig.sd14(), sd.config());
        assertEquals(List.of(), sd.ignoredKeys());
        assertEquals(8, sd.config().spatialFactor());
        var x4 = VaeConfig.fromJson(json.readTree(TestData.reference().resolve("configs/x4_upscaler_vae.json").toFile()));
        assertEquals(VaeConfig.x4Upscaler(), x4.config());
        assertEquals(List.of("_class_name", "_diffusers_version", "_name_or_path"), x4.ignoredKeys());
        assertEquals(4, x4.config().spatialFactor());
        var golden = VaeConfig.fromJson(json.readTree(TestData.goldenCase("vae").resolve("case.json").toFile()).get("config"));
        assertEquals(VaeConfig.tiny(), golden.config());
    }

    @Test void missingScalingFactorIsSd14s() throws Exception {
        var parsed = VaeConfig.fromJson(json.readTree("{\"block_out_channels\": [128, 256, 512, 512], \"layers_per_block\": 2, "
                + "\"down_block_types\": [\"DownEncoderBlock2D\", \"DownEncoderBlock2D\", \"DownEncoderBlock2D\", \"DownEncoderBlock2D\"], "
                + "\"up_block_types\": [\"UpDecoderBlock2D\", \"UpDecoderBlock2D\", \"UpDecoderBlock2D\", \"UpDecoderBlock2D\"], \"sample_size\": 512}"));
        assertEquals(VaeConfig.sd14(), parsed.config());
    }

    @Test void newerDiffusersKeysWithNeutralValuesAreListed() throws Exception {
        var parsed = VaeConfig.fromJson(json.readTree("{\"force_upcast\": true, \"use_quant_conv\": true, \"shift_factor\": null, "
                + "\"mid_block_add_attention\": true}"));
        assertEquals(List.of("force_upcast", "mid_block_add_attention", "shift_factor", "use_quant_conv"), parsed.ignoredKeys());
    }

    @Test void valuesThePortCannotHonourAreErrors() {
        for (String bad : new String[]{"{\"act_fn\": \"gelu\"}", "{\"use_quant_conv\": false}", "{\"shift_factor\": 0.1159}",
                "{\"down_block_types\": [\"AttnDownEncoderBlock2D\"]}", "{\"up_block_types\": [\"UpDecoderBlock2D\", \"UpDecoderBlock2D\"]}",
                "{\"mid_block_add_attention\": false}", "{\"sample_size\": [64, 32]}", "{\"norm_type\": \"spatial\"}",
                "{\"block_out_channels\": [48], \"norm_num_groups\": 32}", "{\"layers_per_block\": 1.5}"}) {
            var e = assertThrows(IllegalArgumentException.class, () -> VaeConfig.fromJson(json.readTree(bad)), bad);
            assertTrue(e.getMessage().startsWith("VAE config") || e.getMessage().startsWith("VaeConfig"), e.getMessage());
        }
    }
}
