#!/usr/bin/env python3
"""Independent evaluation of the QDQ ONNX models written by qat's ONNX exporter (test_onnx).

Loads each model with the `onnx` package, runs the python-side checker (full_check, i.e. with
strict shape inference) and evaluates it with a small interpreter built on
torch.nn.functional, covering exactly the ops the exporter emits. Everything is float32 as in
ONNX Runtime. QuantizeLinear follows the ONNX spec: y = saturate(round(x / scale) + zero_point)
with round half to EVEN; the interpreter can also round half UP (the toolkit's rule), so the test
can tell graph-structure errors from the documented tie difference.

usage: onnx_eval.py MODEL INPUT OUTPUT [MODEL INPUT OUTPUT ...]
  INPUT:  raw native-endian float32, the model input [N, ...] (N from the file size)
  OUTPUT: raw float32 result with round half to even (ONNX spec);
          OUTPUT + ".half_up" the same with round half up;
          OUTPUT[.half_up] + "." + NAME every dequantized activation NAME ("*_out_dq"), so the
          caller can check each quantization step on its own.
Exit code 77 when onnx / torch / numpy cannot be imported (the C++ test then skips).
"""
import sys

try:
    import numpy as np
    import onnx
    import torch
    import torch.nn.functional as F
    from onnx import numpy_helper
except ImportError as e:  # pragma: no cover - environment dependent
    print(f"onnx_eval.py: {e}", file=sys.stderr)
    sys.exit(77)

INT_RANGES = {
    onnx.TensorProto.INT8: (-128, 127),
    onnx.TensorProto.UINT8: (0, 255),
    onnx.TensorProto.INT32: (-(2**31), 2**31 - 1),
}


def attributes(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def per_axis(t, x_rank, axis):
    """Reshapes a scale / zero point so it broadcasts along `axis` of a rank-x_rank tensor."""
    if t.dim() == 0:
        return t
    shape = [1] * x_rank
    shape[axis % x_rank] = t.numel()
    return t.reshape(shape)


def symmetric_padding(pads, spatial):
    begins, ends = list(pads[:spatial]), list(pads[spatial:])
    if begins != ends:
        raise ValueError(f"asymmetric pads {pads} are not supported by this interpreter")
    return begins


class Interpreter:
    def __init__(self, model, rounding):
        self.model = model
        self.rounding = rounding
        self.qtype = {}  # tensor name -> ONNX integer type of a QuantizeLinear output
        self.init = {}
        for t in model.graph.initializer:
            self.init[t.name] = torch.from_numpy(numpy_helper.to_array(t).copy())
            self.qtype[t.name] = t.data_type

    def round(self, x):
        if self.rounding == "half_even":
            return torch.round(x)  # torch.round rounds half to even
        return torch.floor(x + 0.5)

    def run(self, x):
        env = dict(self.init)
        env[self.model.graph.input[0].name] = x
        for node in self.model.graph.node:
            ins = [env[name] if name else None for name in node.input]
            env[node.output[0]] = self.op(node, ins)
        return env

    def op(self, node, ins):
        a = attributes(node)
        t = node.op_type
        if t == "QuantizeLinear":
            x, scale, zp = ins
            axis = a.get("axis", 1)
            lo, hi = INT_RANGES[self.qtype[node.input[2]]]
            self.qtype[node.output[0]] = self.qtype[node.input[2]]
            q = self.round(x / per_axis(scale, x.dim(), axis)) + per_axis(zp, x.dim(), axis).float()
            return q.clamp(lo, hi).to(torch.int64)
        if t == "DequantizeLinear":
            x, scale, zp = ins
            axis = a.get("axis", 1)
            zp = per_axis(zp.to(torch.int64), x.dim(), axis)
            return (x.to(torch.int64) - zp).to(torch.float32) * per_axis(scale, x.dim(), axis)
        if t == "Conv":
            x, w = ins[0], ins[1]
            b = ins[2] if len(ins) > 2 else None
            spatial = x.dim() - 2
            if list(a["kernel_shape"]) != list(w.shape[2:]):
                raise ValueError(f"{node.name}: kernel_shape {a['kernel_shape']} vs weights {list(w.shape)}")
            pads = symmetric_padding(a.get("pads", [0] * 2 * spatial), spatial)
            conv = F.conv1d if spatial == 1 else F.conv2d
            return conv(x, w, b, stride=a.get("strides", [1] * spatial), padding=pads,
                        groups=a.get("group", 1))
        if t == "Gemm":
            A, B = ins[0], ins[1]
            C = ins[2] if len(ins) > 2 else None
            if a.get("transA", 0):
                A = A.t()
            if a.get("transB", 0):
                B = B.t()
            y = a.get("alpha", 1.0) * (A @ B)
            return y if C is None else y + a.get("beta", 1.0) * C
        if t == "Relu":
            return torch.relu(ins[0])
        if t == "Clip":
            x = ins[0]
            lo = ins[1] if len(ins) > 1 and ins[1] is not None else None
            hi = ins[2] if len(ins) > 2 and ins[2] is not None else None
            if lo is not None:
                x = torch.maximum(x, lo)
            if hi is not None:
                x = torch.minimum(x, hi)
            return x
        if t == "Add":
            return ins[0] + ins[1]
        if t in ("MaxPool", "AveragePool"):
            x = ins[0]
            spatial = x.dim() - 2
            k = a["kernel_shape"]
            s = a.get("strides", [1] * spatial)
            pads = symmetric_padding(a.get("pads", [0] * 2 * spatial), spatial)
            if a.get("ceil_mode", 0) or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise ValueError(f"{node.name}: ceil_mode / auto_pad not supported")
            if t == "MaxPool":
                pool = F.max_pool1d if spatial == 1 else F.max_pool2d
                return pool(x, k, s, pads)
            if any(pads):
                raise ValueError(f"{node.name}: padded AveragePool not supported")
            pool = F.avg_pool1d if spatial == 1 else F.avg_pool2d
            return pool(x, k, s)
        if t == "GlobalMaxPool":
            x = ins[0]
            return x.flatten(2).amax(2).reshape(list(x.shape[:2]) + [1] * (x.dim() - 2))
        if t == "GlobalAveragePool":
            x = ins[0]
            return x.flatten(2).mean(2).reshape(list(x.shape[:2]) + [1] * (x.dim() - 2))
        if t == "Flatten":
            x = ins[0]
            axis = a.get("axis", 1)
            return x.reshape(int(np.prod(x.shape[:axis])), -1)
        if t == "Identity":
            return ins[0]
        raise ValueError(f"op {t} ({node.name}) is not supported by this interpreter")


def sample_shape(model):
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return [d.dim_value for d in dims[1:]]


def main(argv):
    if len(argv) < 3 or len(argv) % 3:
        print(__doc__, file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    for path, inp, out in zip(argv[0::3], argv[1::3], argv[2::3]):
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        x = torch.from_numpy(np.fromfile(inp, dtype=np.float32)).reshape([-1] + sample_shape(model))
        with torch.no_grad():
            for rounding, suffix in (("half_even", ""), ("half_up", ".half_up")):
                env = Interpreter(model, rounding).run(x)
                y = env[model.graph.output[0].name]
                y.to(torch.float32).contiguous().numpy().tofile(out + suffix)
                for name, t in env.items():
                    if name.endswith("_out_dq"):
                        t.to(torch.float32).contiguous().numpy().tofile(f"{out}{suffix}.{name}")
        print(f"{path}: input {list(x.shape)} -> output {list(y.shape)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
