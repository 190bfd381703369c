package org.lavie4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.lavie4j.core.Parameter;
import org.lavie4j.core.io.DType;
import org.lavie4j.core.io.SafeTensors;
import org.lavie4j.nn.checkpoints.Inflation;
import org.lavie4j.nn.pipeline.ModelInfo;
import org.lavie4j.nn.pipeline.TextToVideoModel;
import org.lavie4j.nn.unet.UNetConfig;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Every model source on tiny folders: a lavie4j folder, LaVie's release layout, and an SD folder inflated to 3-D. */
class ModelSourceTest {

    @Test void lavie4jReleaseAndInflatedStableDiffusionFolders(@TempDir Path tmp) throws Exception {
        TextToVideoModel tiny = TextToVideoModel.randomTiny(4);
        Path folder = tmp.resolve("lavie4j");
        tiny.save(folder, DType.F32);
        TextToVideoModel a = new ModelSource.Pretrained(ModelSource.Layout.LAVIE4J, folder).load(0);
        assertEquals(tiny.info(), a.info());
        assertEqualWeights(tiny.unet().namedEntries(), a.unet().namedEntries(), k -> true);

        // LaVie's release layout: lavie_base.safetensors beside stable-diffusion-v1-4/ (tokenizer, text_encoder, vae, unet/config.json)
        Path parts = tmp.resolve("parts");
        tiny.save(parts, DType.F32);
        Path release = Files.createDirectories(tmp.resolve("pretrained_models"));
        Path sd = Files.createDirectories(release.resolve("stable-diffusion-v1-4"));
        for (String part : List.of("tokenizer", "text_encoder", "vae")) Files.move(parts.resolve(part), sd.resolve(part));
        Files.move(parts.resolve("unet/diffusion_pytorch_model.safetensors"), release.resolve("lavie_base.safetensors"));
        Files.createDirectories(sd.resolve("unet"));
        Files.writeString(sd.resolve("unet/config.json"), sd2dConfig(tiny.unet().config()));
        TextToVideoModel b = new ModelSource.Pretrained(ModelSource.Layout.LAVIE, release).load(0);
        assertEquals(ModelInfo.lavieBase(), b.info());
        assertEqualWeights(tiny.unet().namedEntries(), b.unet().namedEntries(), k -> true);

        // SD 1.4 layout: the 2-D UNet's weights (no temporal keys) are inflated; the temporal init follows the seed
        Map<String, INDArray> sd2d = new LinkedHashMap<>();
        tiny.unet().namedEntries().forEach((k, p) -> { if (!Inflation.isTemporal(k)) sd2d.put(k, p.data()); });
        SafeTensors.write(sd.resolve("unet/diffusion_pytorch_model.safetensors"), sd2d, Map.of("format", "pt"));
        ModelSource sd14 = new ModelSource.Pretrained(ModelSource.Layout.SD14, sd);
        TextToVideoModel c = sd14.load(7), d = sd14.load(7), e = sd14.load(8);
        assertFalse(c.info().trained());
        assertEqualWeights(tiny.unet().namedEntries(), c.unet().namedEntries(), k -> !Inflation.isTemporal(k));
        assertEqualWeights(c.unet().namedEntries(), d.unet().namedEntries(), k -> true);
        String temporalQ = "down_blocks.0.attentions.0.transformer_blocks.0.attn_temp.to_q.weight";
        assertNotEquals(c.unet().namedEntries().get(temporalQ).data(), e.unet().namedEntries().get(temporalQ).data(), "another seed, another init");
        assertEquals(0.0, c.unet().namedEntries().get("down_blocks.0.attentions.0.transformer_blocks.0.attn_temp.to_out.0.weight")
                .data().amaxNumber().doubleValue(), "LaVie zeroes the temporal output projection");

        // and a temporal-only run starts from it
        TrainConfig config = TinyRuns.config(tmp.resolve("run"), 1).withModel(sd14).withTrain(TrainConfig.TrainTarget.TEMPORAL).withSeed(7);
        Trainer t = new Trainer(config, c, TinyRuns.source(0));
        assertTrue(t.trainableParameters().keySet().stream().allMatch(Inflation::isTemporal));
    }

    /**
     * {@code frame_position_embeddings: N} on a pretrained source: the model as stored plus zero frame position tables;
     * the key round-trips through the config, and the tables train (all or temporal-only) and survive a resume.
     */
    @Test void framePositionTablesAreAddedToAPretrainedModel(@TempDir Path tmp) throws Exception {
        TextToVideoModel tiny = TextToVideoModel.randomTiny(4);
        Path folder = tmp.resolve("lavie4j");
        tiny.save(folder, DType.F32);
        TrainConfig config = TrainConfig.parse("model: {source: lavie4j, path: '" + folder + "', frame_position_embeddings: 8}\n"
                + "output_dir: '" + tmp.resolve("run") + "'\n", true);
        ModelSource source = config.model();
        assertEquals(new ModelSource.Pretrained(ModelSource.Layout.LAVIE4J, folder, 8), source);
        assertEquals(config, TrainConfig.fromJson(config.toJson()));
        assertTrue(source.toString().contains("8 frames"), source.toString());
        TextToVideoModel m = source.load(0);
        assertEquals(8, m.unet().config().framePositionEmbeddings());
        assertEqualWeights(tiny.unet().namedEntries(), m.unet().namedEntries(), k -> true);
        String table = "down_blocks.0.attentions.0.transformer_blocks.0.attn_temp.frame_position_embedding";
        assertEquals(0.0, m.unet().namedEntries().get(table).data().amaxNumber().doubleValue());

        var e = assertThrows(IllegalArgumentException.class, () -> TrainConfig.parse(
                "model: {source: lavie4j, path: x, frame_position_embeddings: -2}\noutput_dir: y\n", true));
        assertTrue(e.getMessage().contains("frame_position_embeddings"), e.getMessage());

        // temporal-only training trains the tables; two steps move them off zero; a resumed run continues bit for bit
        TrainConfig run = TinyRuns.config(tmp.resolve("run"), 4).withModel(source).withTrain(TrainConfig.TrainTarget.TEMPORAL)
                .withCheckpoint(new TrainConfig.Checkpointing(2, 3));
        Trainer straight = Trainer.create(run, TinyRuns.source(0));
        assertTrue(straight.trainableParameters().containsKey(table));
        straight.train(TrainListener.NONE);
        assertTrue(straight.model().unet().namedEntries().get(table).data().amaxNumber().doubleValue() > 0, "the table trained");

        TrainConfig half = run.withOutputDir(tmp.resolve("run2")).withSteps(2);
        Trainer first = Trainer.create(half, TinyRuns.source(0));
        first.train(TrainListener.NONE);
        Trainer resumed = Trainer.create(half.withSteps(4), TinyRuns.source(0));
        resumed.resume(first.checkpoints().latest().orElseThrow());
        resumed.train(TrainListener.NONE);
        Map<String, Parameter> a = straight.model().unet().namedEntries(), b = resumed.model().unet().namedEntries();
        for (String k : a.keySet())
            assertArrayEquals(a.get(k).data().data().asFloat(), b.get(k).data().data().asFloat(), 0f, k);
    }

    private static void assertEqualWeights(Map<String, Parameter> a, Map<String, Parameter> b, java.util.function.Predicate<String> which) {
        for (Map.Entry<String, Parameter> e : a.entrySet()) {
            if (!which.test(e.getKey())) continue;
            assertTrue(b.containsKey(e.getKey()), e.getKey());
            assertEquals(e.getValue().data(), b.get(e.getKey()).data(), e.getKey());
        }
    }

    /** The diffusers 2-D form of a UNet config (what SD's unet/config.json says). */
    private static String sd2dConfig(UNetConfig c) throws Exception {
        ObjectNode n = c.toJson();
        n.put("_class_name", "UNet2DConditionModel");
        var down = n.putArray("down_block_types");
        c.downBlockTypes().forEach(t -> down.add(t.hasAttention() ? "CrossAttnDownBlock2D" : "DownBlock2D"));
        var up = n.putArray("up_block_types");
        c.upBlockTypes().forEach(t -> up.add(t.hasAttention() ? "CrossAttnUpBlock2D" : "UpBlock2D"));
        n.remove("use_first_frame");
        return new ObjectMapper().writeValueAsString(n);
    }
}
