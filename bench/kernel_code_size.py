#!/usr/bin/env python3
"""Flash of each qk kernel on a Cortex-M4 (arm-none-eabi-gcc -O2, QK_USE_DSP): a tiny image calls
one kernel, is linked with --gc-sections against every kernel object, and the bytes of .text and
.rodata that come from the qk objects are summed from the linker map (libgcc / newlib excluded:
`qat deploy` reports them apart). These are the `code_bytes` of export/kernel_table.cpp, which the
memory budget uses to estimate a model's kernel code; `qat deploy` measures the real figure.

    bench/kernel_code_size.py            # prints "<bytes> <kernel>" per kernel
"""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNELS = os.path.join(ROOT, "export", "kernels")
CPU = "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
CFLAGS = f"{CPU} -O2 -std=c99 -ffunction-sections -fdata-sections -DQK_USE_DSP -I{KERNELS}"

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


def main():
    with tempfile.TemporaryDirectory() as tmp:
        sources = sorted(f for f in os.listdir(KERNELS) if f.startswith("qk_") and f.endswith(".c"))
        for f in sources:
            run(f"arm-none-eabi-gcc {CFLAGS} -c {os.path.join(KERNELS, f)} -o {f[:-2]}.o", tmp)
        sizes = {}
        for name, call in CALLS.items():
            with open(os.path.join(tmp, "m.c"), "w") as out:
                out.write('#include "qk.h"\nstatic qk_conv_params cp; static qk_linear_params lp;\n'
                          "static qk_add_params ap; static qk_pool_params pp; static qk_requant rq;\n"
                          "static int8_t b8[16]; static int16_t b16[16]; static uint8_t u8[16];\n"
                          "static int32_t bias[4];\n"
                          f"void Reset_Handler(void) {{ {call}; for (;;) {{}} }}\n")
            run(f"arm-none-eabi-gcc {CFLAGS} -c m.c -o m.o", tmp)
            run(f"arm-none-eabi-gcc {CPU} -nostartfiles --specs=nano.specs --specs=nosys.specs "
                "-Wl,--gc-sections -Wl,-e,Reset_Handler -Wl,-Map=m.map m.o qk_*.o -o m.elf", tmp)
            with open(os.path.join(tmp, "m.map")) as f:
                sizes[name] = kernel_bytes(f.read())
            print(f"{sizes[name]:6d} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
