"""Makes the small PyTorch checkpoints lavie4j's TorchCheckpoint tests read.

Run with PyTorch (CPU build is enough) and the `safetensors` package:
    python make.py            # writes the files next to this script
Every file is written by torch's own torch.save; expected.safetensors (written by the reference
`safetensors` library) holds a contiguous copy of every tensor of views.pt, for value checks.
"""
import argparse
import collections
import os

import numpy as np
import torch
from safetensors.torch import save_file

here = os.path.dirname(os.path.abspath(__file__))
out = lambda name: os.path.join(here, name)
torch.manual_seed(0)

# 1. views.pt: tensors sharing storages, with offsets and non-contiguous strides, every dtype.
base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
views = collections.OrderedDict()
views["base"] = base
views["transposed"] = base.t()                  # stride (1, 6)
views["narrow"] = base[1:3, 2:5]                # storage offset 8, stride (6, 1)
views["every_other"] = base[:, ::2]             # stride (6, 2)
views["row2"] = base[2]                         # offset 12, 1-D
views["permuted3d"] = torch.arange(60, dtype=torch.float32).reshape(3, 4, 5).permute(2, 0, 1)
views["f64"] = torch.randn(2, 3, dtype=torch.float64)
views["f16"] = torch.tensor([1.0, -2.0, 65504.0, 6.1e-5, 0.1, -0.0], dtype=torch.float16)
views["bf16"] = torch.tensor([1.0, -2.0, 3.140625, 1e30, -1e-30, 0.1], dtype=torch.bfloat16)
views["bf16_t"] = torch.randn(3, 4).to(torch.bfloat16).t()
views["f16_t"] = torch.randn(3, 4).to(torch.float16).t()
views["i64"] = torch.tensor([[1, -2], [2**40, -(2**62)]], dtype=torch.int64)
views["i32"] = torch.tensor([7, -8, 2**31 - 1], dtype=torch.int32)
views["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
views["i8"] = torch.tensor([-128, 127, 0], dtype=torch.int8)
views["u8"] = torch.tensor([0, 200, 255], dtype=torch.uint8)
views["bool"] = torch.tensor([True, False, True])
views["scalar"] = torch.tensor(3.5)
views["empty"] = torch.zeros(0, 3)
torch.save(views, out("views.pt"))
save_file({k: v.contiguous().clone() for k, v in views.items()}, out("expected.safetensors"))

# 2. nested.pt: a training checkpoint with DataParallel keys, optimizer state and non-tensor objects.
model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
model(torch.randn(4, 3)).sum().backward()
opt.step()
wrapped = collections.OrderedDict(("module." + k, v) for k, v in model.state_dict().items())
torch.save({
    "model": wrapped,
    "optimizer": opt.state_dict(),
    "args": argparse.Namespace(lr=1e-4, name="tiny", sizes=[1, 2]),
    "epoch": 3,
    "device": torch.device("cpu"),
    "dtype": torch.float16,
    "np_scalar": np.float32(1.5),
    "np_array": np.arange(4, dtype=np.int64),
    "param": torch.nn.Parameter(torch.ones(2, 2)),
}, out("nested.pt"))

# 3. state_dict.bin: a bare module state dict (OrderedDict with _metadata), saved under a .bin name.
torch.save(model.state_dict(), out("state_dict.bin"))

# 4. whole_module.pt: torch.save(model) pickles the module classes themselves.
torch.save(model, out("whole_module.pt"))

# 5. legacy.pt: the pre-1.6 non-zip format.
torch.save({"w": torch.ones(2)}, out("legacy.pt"), _use_new_zipfile_serialization=False)
