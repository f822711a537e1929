#!/usr/bin/env python3
"""Flash of the qk kernels on a Cortex-M4 (arm-none-eabi-gcc -O2, QK_USE_DSP), per code path.

An export links only the code paths its calls take (the kernels/qk_config.h that `qat export`
writes), so a kernel's flash depends on the switches as much as on the kernel. This script
measures, for each part the memory budget composes (export/kernel_code.cpp), a tiny image that
calls the entry points with exactly the switches in question, linked with --gc-sections against
the kernel objects built with that qk_config.h; the bytes of .text and .rodata that come from the
qk objects are summed from the linker map (libgcc / newlib excluded: `qat deploy` reports them
apart). Parts:

  <row>                          a kernel without switches (pools, casts, clamps, 16x8 kernels)
  <family>/<weights>/<feature>   an optimized int8 family (conv_general, conv_dw, conv_dw3,
                                 linear_dsp) with the int8 entry (s8), a packed one (packed) or
                                 both (both) in the image: base (the kernel without its
                                 epilogue cases), or the bytes one epilogue kind (epi_*) or the
                                 generic fallback adds
  <family>/w2                    the 2-bit entry next to the 4-bit one
  epi_generic_fn                 the generic epilogue's function, shared by every family
  ref_conv/<w>, ref_linear/<w>   the portable int8 kernels (w: s8, w4, w2)
  add_s8/..., conv_s16/...       the int16 and add kernels' base and optional loops

    bench/kernel_code_size.py            # prints "<bytes> <part>"
    bench/kernel_code_size.py --cpp F    # also writes F (export/kernel_code_sizes.inc)
"""
import argparse
import concurrent.futures
import datetime
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNELS = os.path.join(ROOT, "export", "kernels")
CPU = "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
CFLAGS = f"{CPU} -O2 -std=c99 -ffunction-sections -fdata-sections -DQK_USE_DSP"

SWITCHES = [
    "CONV_S8_DSP_DEPTHWISE3", "CONV_S8_DSP_DEPTHWISE", "CONV_S8_DSP_GENERAL", "CONV_S8_REFERENCE",
    "LINEAR_S8_DSP", "LINEAR_S8_REFERENCE", "CONV_S16_REFERENCE", "LINEAR_S16_REFERENCE",
    "ADD_SATURATING", "ADD_INT64", "EPI_POW2_RANGE", "EPI_POW2_S8", "EPI_POW2_U7",
    "EPI_AFFINE_RANGE", "EPI_AFFINE_S8", "EPI_AFFINE_U7", "EPI_GENERIC"]
KINDS = ["EPI_POW2_RANGE", "EPI_POW2_S8", "EPI_POW2_U7", "EPI_AFFINE_RANGE", "EPI_AFFINE_S8",
         "EPI_AFFINE_U7"]

CALLS = {
    "qk_conv_s8": "qk_conv_s8(&cp,b8,b8,bias,&rq,b8,b16)",
    "qk_conv_s8_w4": "qk_conv_s8_w4(&cp,b8,u8,bias,&rq,b8,b16)",
    "qk_conv_s8_w2": "qk_conv_s8_w2(&cp,b8,u8,bias,&rq,b8,b16)",
    "qk_conv_s16": "qk_conv_s16(&cp,b16,b16,bias,&rq,b16,0)",
    "qk_conv_s16_w8": "qk_conv_s16_w8(&cp,b16,b8,bias,&rq,b16,0)",
    "qk_linear_s8": "qk_linear_s8(&lp,b8,b8,bias,&rq,b8,0)",
    "qk_linear_s8_w4": "qk_linear_s8_w4(&lp,b8,u8,bias,&rq,b8,0)",
    "qk_linear_s8_w2": "qk_linear_s8_w2(&lp,b8,u8,bias,&rq,b8,0)",
    "qk_linear_s16": "qk_linear_s16(&lp,b16,b16,bias,&rq,b16,0)",
    "qk_linear_s16_w8": "qk_linear_s16_w8(&lp,b16,b8,bias,&rq,b16,0)",
    "qk_add_s8": "qk_add_s8(&ap,b8,b8,b8)",
    "qk_add_s16": "qk_add_s16(&ap,b16,b16,b16)",
    "qk_maxpool_s8": "qk_maxpool_s8(&pp,b8,b8)",
    "qk_maxpool_s16": "qk_maxpool_s16(&pp,b16,b16)",
    "qk_avgpool_s8": "qk_avgpool_s8(&pp,b8,b8)",
    "qk_avgpool_s16": "qk_avgpool_s16(&pp,b16,b16)",
    "qk_global_maxpool_s8": "qk_global_maxpool_s8(1,1,b8,b8)",
    "qk_global_maxpool_s16": "qk_global_maxpool_s16(1,1,b16,b16)",
    "qk_global_avgpool_s8": "qk_global_avgpool_s8(1,1,b8,b8)",
    "qk_global_avgpool_s16": "qk_global_avgpool_s16(1,1,b16,b16)",
    "qk_clamp_s8": "qk_clamp_s8(1,0,1,b8,b8)",
    "qk_clamp_s16": "qk_clamp_s16(1,0,1,b16,b16)",
    "qk_cast_s8_s16": "qk_cast_s8_s16(1,b8,b16)",
    "qk_cast_s16_s8": "qk_cast_s16_s8(1,b16,b8)",
    # The fused executor without qk_fused_plan (the target never calls it).
    "qk_fused_run": "qk_fused_run(0,0,0,0)",
}
PLAIN_ROWS = ["qk_conv_s16_w8", "qk_linear_s16_w8", "qk_maxpool_s8", "qk_maxpool_s16",
              "qk_avgpool_s8", "qk_avgpool_s16", "qk_global_maxpool_s8", "qk_global_maxpool_s16",
              "qk_global_avgpool_s8", "qk_global_avgpool_s16", "qk_clamp_s8", "qk_clamp_s16",
              "qk_cast_s8_s16", "qk_cast_s16_s8"]
# Optimized int8 families: the qk_config.h switch and the entries with int8 / packed weights.
FAMILIES = {
    "conv_general": ("CONV_S8_DSP_GENERAL", "qk_conv_s8", "qk_conv_s8_w4", "qk_conv_s8_w2"),
    "conv_dw": ("CONV_S8_DSP_DEPTHWISE", "qk_conv_s8", "qk_conv_s8_w4", "qk_conv_s8_w2"),
    "conv_dw3": ("CONV_S8_DSP_DEPTHWISE3", "qk_conv_s8", "qk_conv_s8_w4", "qk_conv_s8_w2"),
    "linear_dsp": ("LINEAR_S8_DSP", "qk_linear_s8", "qk_linear_s8_w4", "qk_linear_s8_w2"),
}


def run(cmd, cwd):
    subprocess.check_call(cmd, shell=True, cwd=cwd, stderr=subprocess.DEVNULL)


def kernel_bytes(map_text):
    """Bytes of .text* / .rodata* input sections that come from qk_*.o."""
    total, pending = 0, False
    body = map_text.split("Linker script and memory map", 1)[1]
    for line in body.splitlines():
        m = re.match(r"^ \.(text|rodata)\S*\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)", line)
        if m:
            total += int(m.group(2), 16) if re.search(r"qk_\w+\.o$", m.group(3)) else 0
            pending = False
            continue
        if re.match(r"^ \.(text|rodata)\S*$", line):
            pending = True
            continue
        if pending:
            m = re.match(r"^\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)", line)
            if m and re.search(r"qk_\w+\.o$", m.group(2)):
                total += int(m.group(1), 16)
            pending = False
    return total


class Images:
    """Kernel bytes of an image calling `calls` with the switches `on`; objects per switch set."""

    def __init__(self, tmp):
        self.tmp, self.objects, self.sizes = tmp, {}, {}

    def _objects(self, on):
        key = frozenset(on)
        if key in self.objects:
            return self.objects[key]
        d = os.path.join(self.tmp, f"cfg{len(self.objects)}")
        os.makedirs(os.path.join(d, "k"))
        for f in os.listdir(KERNELS):
            if f != "qk_config.h":
                os.symlink(os.path.join(KERNELS, f), os.path.join(d, "k", f))
        with open(os.path.join(d, "k", "qk_config.h"), "w") as o:
            o.write("#ifndef QK_CONFIG_H\n#define QK_CONFIG_H\n")
            for s in SWITCHES:
                o.write(f"#define QK_CONFIG_{s} {1 if s in on else 0}\n")
            o.write("#endif\n")
        sources = sorted(f for f in os.listdir(KERNELS) if f.startswith("qk_") and f.endswith(".c"))
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            list(pool.map(lambda f: run(f"arm-none-eabi-gcc {CFLAGS} -Ik -c k/{f} -o {f[:-2]}.o",
                                        d), sources))
        self.objects[key] = d
        return d

    def size(self, on, calls):
        key = (frozenset(on), tuple(sorted(calls)))
        if key in self.sizes:
            return self.sizes[key]
        d = self._objects(on)
        name = f"m{len(self.sizes)}"
        body = "; ".join(CALLS[c] for c in sorted(calls))
        with open(os.path.join(d, name + ".c"), "w") as out:
            out.write('#include "qk.h"\n'
                      "static qk_conv_params cp; static qk_linear_params lp;\n"
                      "static qk_add_params ap; static qk_pool_params pp; static qk_requant rq;\n"
                      "static int8_t b8[16]; static int16_t b16[16]; static uint8_t u8[16];\n"
                      "static int32_t bias[4];\n"
                      f"void Reset_Handler(void) {{ {body}; for (;;) {{}} }}\n")
        run(f"arm-none-eabi-gcc {CFLAGS} -Ik -c {name}.c -o {name}.o", d)
        run(f"arm-none-eabi-gcc {CPU} -nostartfiles --specs=nano.specs --specs=nosys.specs "
            f"-Wl,--gc-sections -Wl,-e,Reset_Handler -Wl,-Map={name}.map {name}.o qk_*.o "
            f"-o {name}.elf", d)
        with open(os.path.join(d, name + ".map")) as f:
            self.sizes[key] = kernel_bytes(f.read())
        return self.sizes[key]


def measure(img):
    parts = {}
    for row in PLAIN_ROWS + ["qk_fused_run"]:
        parts[row] = img.size(set(), [row])
    for fam, (switch, s8, w4, w2) in FAMILIES.items():
        # With no epilogue kind at all the compiler drops the kernel's loops (their results
        # would be unused), so every image keeps one kind: k0, or k1 to measure k0 itself.
        k0, k1 = KINDS[0], KINDS[1]
        for weights, calls in (("s8", [s8]), ("packed", [w4]), ("both", [s8, w4])):
            with_k0 = img.size({switch, k0}, calls)
            inc = {k: img.size({switch, k0, k}, calls) - with_k0 for k in KINDS[1:]}
            inc[k0] = img.size({switch, k0, k1}, calls) - img.size({switch, k1}, calls)
            inc["EPI_GENERIC"] = img.size({switch, k0, "EPI_GENERIC"}, calls) - with_k0
            parts[f"{fam}/{weights}/base"] = with_k0 - inc[k0]
            for k, b in inc.items():
                parts[f"{fam}/{weights}/{k.lower()}"] = b
        parts[f"{fam}/w2"] = img.size({switch, k0}, [w4, w2]) - img.size({switch, k0}, [w4])
    # The generic epilogue's out-of-line function is shared: what two families with the generic
    # fallback save against the sum of their own increments.
    g, lin = ("CONV_S8_DSP_GENERAL", "qk_conv_s8"), ("LINEAR_S8_DSP", "qk_linear_s8")
    both = {g[0], lin[0], KINDS[0]}
    shared = (parts["conv_general/s8/epi_generic"] + parts["linear_dsp/s8/epi_generic"] -
              (img.size(both | {"EPI_GENERIC"}, [g[1], lin[1]]) - img.size(both, [g[1], lin[1]])))
    parts["epi_generic_fn"] = shared
    for fam in FAMILIES:
        for weights in ("s8", "packed", "both"):
            parts[f"{fam}/{weights}/epi_generic"] -= shared
    for w, suffix in (("s8", ""), ("w4", "_w4"), ("w2", "_w2")):
        parts[f"ref_conv/{w}"] = img.size({"CONV_S8_REFERENCE"}, ["qk_conv_s8" + suffix])
        parts[f"ref_linear/{w}"] = img.size({"LINEAR_S8_REFERENCE"}, ["qk_linear_s8" + suffix])
    for t in ("s8", "s16"):
        add = "qk_add_" + t
        base = img.size(set(), [add])
        parts[add + "/base"] = base
        parts[add + "/int64"] = img.size({"ADD_INT64"}, [add]) - base
        parts[add + "/saturating"] = img.size({"ADD_SATURATING"}, [add]) - base
    for kind, switch in (("conv", "CONV_S16_REFERENCE"), ("linear", "LINEAR_S16_REFERENCE")):
        row = f"qk_{kind}_s16"
        base = img.size(set(), [row])
        parts[row + "/base"] = base
        parts[row + "/reference"] = img.size({switch}, [row]) - base
    return parts


def write_cpp(path, parts):
    with open(path, "w") as o:
        o.write("// Generated by bench/kernel_code_size.py on "
                f"{datetime.date.today().isoformat()} (arm-none-eabi-gcc -O2, QK_USE_DSP,\n"
                "// Cortex-M4): flash bytes of each code part of the qk kernels; see the script\n"
                "// for what each part is. Regenerate after changing a kernel:\n"
                "//   bench/kernel_code_size.py --cpp export/kernel_code_sizes.inc\n")
        for name, b in sorted(parts.items()):
            o.write(f'{{"{name}", {b}}},\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cpp", help="write the C++ table (export/kernel_code_sizes.inc)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        parts = measure(Images(tmp))
    for name, b in sorted(parts.items()):
        print(f"{b:6d} {name}")
    if args.cpp:
        write_cpp(args.cpp, parts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
