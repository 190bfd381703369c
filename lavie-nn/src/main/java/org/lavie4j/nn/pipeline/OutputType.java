package org.lavie4j.nn.pipeline;

/** What {@link TextToVideoPipeline#generate} returns: only the final latents, or the latents and the decoded video. */
public enum OutputType {
    /** Final latents only; the VAE is not run. */
    LATENTS,
    /** Final latents and the VAE-decoded video. */
    FRAMES
}
