/**
 * Video and frame IO: {@link org.lavie4j.core.media.Video} (8-bit RGB frames with a frame rate, to and from the
 * pipelines' {@code (3, F, H, W)} tensors in [-1, 1]) and {@link org.lavie4j.core.media.VideoIO} (mp4 through FFmpeg,
 * an optional dependency; animated GIF and PNG frames through {@code javax.imageio}). Writes are atomic.
 */
package org.lavie4j.core.media;
