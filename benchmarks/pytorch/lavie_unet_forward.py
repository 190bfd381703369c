#!/usr/bin/env python3
"""Time the ORIGINAL PyTorch LaVie base UNet forward on the CPU (issue 9: side-by-side with `lavie bench unet`).

This file is lavie4j's own code: it imports the original model from a LaVie checkout (Vchitect/LaVie, base/models,
passed with --lavie-src) and builds it from a UNet config (--config, e.g. shared/reference/configs/lavie_base_unet.json)
with random weights, then times N forwards of one denoising step under torch.no_grad():

    sample                 randn(batch, 4, frames, height, width)   (latents: height/width = pixels / 8)
    timestep               500
    encoder_hidden_states  randn(batch, 77, 768)

It prints the torch version, thread counts and BLAS line, the parameter count, each run's seconds, and
`median_s=<seconds>` last, like `lavie bench unet`.

LaVie's code imports diffusers 0.16-era modules (configuration_utils, models.modeling_utils, models.attention,
models.embeddings, utils). Pass --diffusers-src with the src/ folder of a diffusers v0.16.0 checkout if diffusers is not
installed. diffusers 0.16 imports huggingface_hub names (cached_download, HfFolder, ...) that current huggingface_hub
releases no longer have; when huggingface_hub cannot be imported (or lacks them) this script installs a stub module
in its place: nothing here downloads anything, so the stub only has to make the imports succeed. See README.md.
"""
import argparse
import json
import os
import statistics
import sys
import time
import types


def install_huggingface_hub_stub():
    """A do-nothing huggingface_hub with the names diffusers 0.16.0 imports (no download ever happens here)."""
    try:
        import huggingface_hub  # noqa: F401
        from huggingface_hub import cached_download, HfFolder  # noqa: F401
        return False
    except Exception:
        pass
    for name in [m for m in sys.modules if m == "huggingface_hub" or m.startswith("huggingface_hub.")]:
        del sys.modules[name]

    def unavailable(*args, **kwargs):
        raise RuntimeError("huggingface_hub stub: no hub access in this benchmark")

    class _Error(Exception):
        pass

    hub = types.ModuleType("huggingface_hub")
    hub.__version__ = "0.0.0-stub"
    hub.__path__ = []
    for fn in ("hf_hub_download", "cached_download", "model_info", "whoami", "create_repo", "upload_folder",
               "snapshot_download"):
        setattr(hub, fn, unavailable)
    hub.HfFolder = type("HfFolder", (), {"get_token": staticmethod(lambda: None)})
    hub.ModelCard = type("ModelCard", (), {})
    hub.ModelCardData = type("ModelCardData", (), {})

    utils = types.ModuleType("huggingface_hub.utils")
    utils.EntryNotFoundError = type("EntryNotFoundError", (_Error,), {})
    utils.RepositoryNotFoundError = type("RepositoryNotFoundError", (_Error,), {})
    utils.RevisionNotFoundError = type("RevisionNotFoundError", (_Error,), {})
    utils.HfHubHTTPError = type("HfHubHTTPError", (_Error,), {})
    utils.is_jinja_available = lambda: False

    constants = types.ModuleType("huggingface_hub.constants")
    hf_cache_home = os.path.expanduser(os.getenv("HF_HOME", os.path.join("~", ".cache", "huggingface")))
    constants.hf_cache_home = hf_cache_home
    constants.HUGGINGFACE_HUB_CACHE = os.path.join(hf_cache_home, "hub")

    file_download = types.ModuleType("huggingface_hub.file_download")
    file_download.REGEX_COMMIT_HASH = __import__("re").compile(r"^[0-9a-f]{40}$")

    hub.utils, hub.constants, hub.file_download = utils, constants, file_download
    for mod in (hub, utils, constants, file_download):
        sys.modules[mod.__name__] = mod
    return True


def blas_line(torch):
    for line in torch.__config__.show().splitlines():
        if "BLAS_INFO" in line:
            parts = [p.strip() for p in line.split(",") if "BLAS_INFO" in p or "LAPACK_INFO" in p
                     or "USE_MKLDNN" in p or "USE_MKL" in p]
            return ", ".join(parts)
    return "?"


def loaded_blas_libraries():
    """Shared libraries mapped into this process whose name says BLAS/MKL/oneDNN (Linux only)."""
    found = set()
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                base = os.path.basename(path).lower()
                if any(k in base for k in ("blas", "mkl", "dnnl", "lapack")):
                    found.add(os.path.realpath(path))
    except OSError:
        pass
    return sorted(found)


def sgemm_gflops(torch, n=2048, reps=3):
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2.0 * n ** 3 * reps / (time.perf_counter() - t) / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lavie-src", required=True, help="a LaVie checkout's base/models folder")
    ap.add_argument("--config", required=True, help="UNet config JSON (lavie_base_unet.json)")
    ap.add_argument("--diffusers-src", help="src/ folder of a diffusers v0.16.0 checkout (if not installed)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--height", type=int, default=40, help="latent height (pixels / 8)")
    ap.add_argument("--width", type=int, default=64, help="latent width (pixels / 8)")
    ap.add_argument("--timestep", type=int, default=500)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (and interop threads)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sgemm-check", action="store_true", help="also time a 2048^3 sgemm first (GFLOPS)")
    ap.add_argument("--profile", type=int, default=0, metavar="ROWS",
                    help="run the last forward under torch.profiler and print its ROWS most expensive ops"
                         " (self CPU time, with input shapes), to compare op by op with UNetProfile")
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(args.seed)

    stubbed = install_huggingface_hub_stub()
    if args.diffusers_src:
        sys.path.insert(0, os.path.abspath(args.diffusers_src))
    import diffusers

    # LaVie's base/models/unet.py falls back to sibling imports (`from unet_blocks import ...`) when it is not imported
    # as part of a package, so putting the folder on sys.path is enough.
    sys.path.insert(0, os.path.abspath(args.lavie_src))
    import unet as lavie_unet
    import attention as lavie_attention

    print(f"torch={torch.__version__} diffusers={diffusers.__version__} (from {os.path.dirname(diffusers.__file__)})"
          f" huggingface_hub={'stub' if stubbed else sys.modules['huggingface_hub'].__version__}")
    print(f"threads: torch.get_num_threads()={torch.get_num_threads()}"
          f" interop={torch.get_num_interop_threads()}"
          + "".join(f" {k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                      "OPENBLAS_CORETYPE") if k in os.environ))
    print(f"blas: {blas_line(torch)}; cpu capability: {torch.backends.cpu.get_cpu_capability()}"
          if hasattr(torch.backends, "cpu") and hasattr(torch.backends.cpu, "get_cpu_capability")
          else f"blas: {blas_line(torch)}")
    print(f"mkldnn available: {torch.backends.mkldnn.is_available()}")
    print(f"xformers available (LaVie's check): {lavie_attention.xformers is not None};"
          f" F.scaled_dot_product_attention exists: {hasattr(torch.nn.functional, 'scaled_dot_product_attention')}")
    if args.sgemm_check:
        print(f"sgemm 2048^3: {sgemm_gflops(torch):.1f} GFLOPS")
    libs = loaded_blas_libraries()
    if libs:
        print("loaded BLAS-like libraries: " + " ".join(libs))

    with open(args.config) as f:
        config = json.load(f)
    import inspect
    accepted = set(inspect.signature(lavie_unet.UNet3DConditionModel.__init__).parameters) - {"self"}
    dropped = sorted(k for k in config if k not in accepted)
    kwargs = {k: v for k, v in config.items() if k in accepted}
    t0 = time.perf_counter()
    model = lavie_unet.UNet3DConditionModel(**kwargs).eval()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} params ({n_params / 1e6:.1f}M), random init, built in {time.perf_counter() - t0:.1f}s;"
          f" config keys dropped: {dropped}")

    # Which attention path the spatial attention will take (LaVie's CrossAttention: xformers flag, else sliced or
    # plain baddbmm/softmax/bmm; the temporal attention always uses einsum/softmax/einsum with rotary embeddings).
    xf = [m for m in model.modules() if getattr(m, "_use_memory_efficient_attention_xformers", False)]
    sliced = [m for m in model.modules() if getattr(m, "_slice_size", None) is not None]
    print(f"attention: xformers modules={len(xf)}, sliced modules={len(sliced)}"
          f" (0 and 0 = plain torch.baddbmm + softmax + torch.bmm path)")

    g = torch.Generator().manual_seed(args.seed)
    sample = torch.randn(args.batch, 4, args.frames, args.height, args.width, generator=g)
    text = torch.randn(args.batch, 77, 768, generator=g)
    timestep = torch.tensor([args.timestep] * args.batch)
    print(f"input: sample {tuple(sample.shape)}, timestep {args.timestep}, encoder_hidden_states {tuple(text.shape)}")

    times = []
    with torch.no_grad():
        for i in range(args.warmup + args.runs):
            profiled = args.profile > 0 and i == args.warmup + args.runs - 1
            profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                              record_shapes=True) if profiled else None
            if profiler:
                profiler.__enter__()
            t, c = time.perf_counter(), time.process_time()
            out = model(sample, timestep, encoder_hidden_states=text).sample
            dt, dc = time.perf_counter() - t, time.process_time() - c
            if profiler:
                profiler.__exit__(None, None, None)
            tag = "warmup" if i < args.warmup else "run"
            print(f"{tag} {i + 1 if i < args.warmup else i - args.warmup + 1}: {dt:.3f} s"
                  f" (process CPU {dc:.1f} s; out {tuple(out.shape)}, mean {out.mean().item():.5f})", flush=True)
            if i >= args.warmup:
                times.append(dt)
    if args.profile > 0:
        averages = profiler.key_averages()
        print(averages.table(sort_by="self_cpu_time_total", row_limit=args.profile))
        print(profiler.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total",
                                                                     row_limit=args.profile))
    try:
        import resource
        print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024:.2f} GB")
    except ImportError:
        pass
    print(f"median_s={statistics.median(times):.3f}")


if __name__ == "__main__":
    main()
