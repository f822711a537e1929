#!/usr/bin/python3
"""PyTorch eager baseline for bench/train_speed.sh: the same ResNet as models/resnet.cpp
(MicroAI ResNetv1-6: conv-relu, a basic block, a downsampling block with a 1x1 projection and
max pools, global max pool, linear; no batchnorm), the same data files, batch size, optimizer and
threads, trained in float and with eager-mode QAT (fbgemm's default QAT qconfig: fused
observer + fake-quant modules, conv+relu fused). Prints one JSON line with the median training
seconds per epoch (epochs after the first; training steps only, as qat's metrics.csv
train_seconds).

  bench/train_speed.py --dataset uci_har --path DIR --filters 16 --threads 2 --epochs 6
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.ao.quantization as tq
from torch import nn


def load_uci_har(path):
    sig = ["body_acc", "body_gyro", "total_acc"]
    chans = [np.loadtxt(f"{path}/train/Inertial Signals/{s}_{a}_train.txt", dtype=np.float32)
             for s in sig for a in "xyz"]
    x = np.stack(chans, axis=1)  # [N, 9, 128], the loader's channel order
    y = np.loadtxt(f"{path}/train/y_train.txt", dtype=np.int64) - 1
    return x, y, 6


def read_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    fields, pos = [], 0
    while len(fields) < 4:  # magic, width, height, maxval; '#' comments allowed
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    w, h = int(fields[1]), int(fields[2])
    img = np.frombuffer(data, np.uint8, w * h * 3, pos + 1).reshape(h, w, 3)
    return img


def load_gtsrb(path):
    # The 32x32 copy is read as stored (no ROI crop / resize): timing does not depend on pixel
    # values, and the tensors have the shape qat trains on.
    root = f"{path}/Final_Training/Images"
    xs, ys = [], []
    for cls in sorted(os.listdir(root)):
        d = f"{root}/{cls}"
        for name in sorted(os.listdir(d)):
            if name.endswith(".ppm"):
                img = read_ppm(f"{d}/{name}")
                if img.shape[:2] != (32, 32):
                    continue
                xs.append(img.transpose(2, 0, 1))
                ys.append(int(cls))
    return np.stack(xs).astype(np.float32) / 255.0, np.array(ys, np.int64), 43


class ResNetV1_6(nn.Module):
    # 1D models run as 2D with height 1 (kernel 1x3, pool 1x2): ATen computes conv1d through
    # conv2d anyway, and PyTorch 1.13's eager QAT has no QAT Conv1d (its 1D weights would not be
    # fake-quantized at all), so this keeps the baseline's QAT doing the same work as ours.
    def __init__(self, dims, in_ch, filters, classes):
        super().__init__()
        self.dims = dims
        k, p, s = ((1, 3), (0, 1), (1, 2)) if dims == 1 else (3, 1, 2)
        conv = lambda i, o, kk=k, pp=p: nn.Conv2d(i, o, kk, padding=pp)
        pool = lambda: nn.MaxPool2d(s)
        self.quant = tq.QuantStub()
        self.dequant = tq.DeQuantStub()
        self.conv1, self.relu1 = conv(in_ch, filters), nn.ReLU()
        self.b1c1, self.b1r1 = conv(filters, filters), nn.ReLU()
        self.b1c2 = conv(filters, filters)
        self.b1add = nn.quantized.FloatFunctional()
        self.b2c1, self.b2r1 = conv(filters, filters), nn.ReLU()
        self.b2pool, self.b2c2 = pool(), conv(filters, filters)
        self.proj, self.pool_sc = conv(filters, filters, 1, 0), pool()
        self.b2add = nn.quantized.FloatFunctional()
        self.fc = nn.Linear(filters, classes)

    def forward(self, x):
        if self.dims == 1:
            x = x.unsqueeze(2)
        x = self.relu1(self.conv1(self.quant(x)))
        y = self.b1c2(self.b1r1(self.b1c1(x)))
        x = self.b1add.add_relu(y, x)
        y = self.b2c2(self.b2pool(self.b2r1(self.b2c1(x))))
        x = self.b2add.add_relu(y, self.pool_sc(self.proj(x)))
        x = torch.amax(x.flatten(2), dim=2)
        return self.dequant(self.fc(x))

    def fuse(self):
        for pair in (["conv1", "relu1"], ["b1c1", "b1r1"], ["b2c1", "b2r1"]):
            tq.fuse_modules_qat(self, pair, inplace=True)


def epoch_seconds(model, opt, x, y, batch, epochs, seed):
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(seed)
    times = []
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        t0 = time.perf_counter()
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            out = model(x[idx])
            loss = loss_fn(out, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:]) if len(times) > 1 else times[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", choices=["uci_har", "gtsrb"], required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--filters", type=int, default=16)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=6)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    x, y, classes = load_uci_har(a.path) if a.dataset == "uci_har" else load_gtsrb(a.path)
    mean = x.mean(axis=tuple(i for i in range(x.ndim) if i != 1), keepdims=True)
    std = x.std(axis=tuple(i for i in range(x.ndim) if i != 1), keepdims=True)
    xt, yt = torch.from_numpy((x - mean) / np.maximum(std, 1e-12)), torch.from_numpy(y)
    dims = xt.dim() - 2
    model = ResNetV1_6(dims, xt.shape[1], a.filters, classes)

    def optimizer(qat):
        # The configs' optimizers: configs/uci_har_resnet.yaml (SGD) and gtsrb_resnet.yaml (Adam).
        if a.dataset == "uci_har":
            return torch.optim.SGD(model.parameters(), lr=0.001 if qat else 0.05, momentum=0.9,
                                   weight_decay=5e-4)
        return torch.optim.Adam(model.parameters(), lr=0.0002 if qat else 0.002,
                                weight_decay=0.0 if qat else 5e-5)

    result = {"samples": len(xt), "threads": a.threads, "batch": a.batch,
              "torch": torch.__version__}
    result["float"] = epoch_seconds(model, optimizer(False), xt, yt, a.batch, a.epochs, 1)
    model.eval()
    model.fuse()
    model.qconfig = tq.get_default_qat_qconfig("fbgemm")
    model.train()
    tq.prepare_qat(model, inplace=True)
    result["qat"] = epoch_seconds(model, optimizer(True), xt, yt, a.batch, a.epochs, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
