# ctest kernels_dsp_emulator: builds tests/test_kernels_dsp.c with every kernel source and
# -DQK_USE_DSP for a Cortex-M4 (QEMU mps2-an386) and a Cortex-M7 (mps2-an500), each twice (the
# inline-asm hot loops and, with -DQK_DSP_NO_ASM, their ACLE-intrinsic versions), runs the four
# images and fails unless every optimized kernel matched the portable reference bit for bit.
#
#   cmake -DKERNEL_DIR=export/kernels -DTARGET_DIR=export/target -DTEST_SOURCE=tests/test_kernels_dsp.c
#         -DBUILD_DIR=<dir> [-DTARGETS=cortex-m4;cortex-m7] [-DVARIANTS=asm;intrinsics]
#         [-DEXTRA_FLAGS=-DQK_TEST_BENCH] [-DICOUNT=ON] -P dsp_emulator_test.cmake
#
# With -DEXTRA_FLAGS=-DQK_TEST_BENCH and -DICOUNT=ON (QEMU -icount shift=0) the images also print
# the instructions of a few representative layers, reference vs optimized (QKBENCH lines).
#
# Without arm-none-eabi-gcc (+ newlib) or qemu-system-arm it prints "SKIPPED: ..." (the test's
# SKIP_REGULAR_EXPRESSION) and succeeds.
foreach(var KERNEL_DIR TARGET_DIR TEST_SOURCE BUILD_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "dsp_emulator_test.cmake: ${var} not set")
  endif()
endforeach()
if(NOT DEFINED TARGETS)
  set(TARGETS cortex-m4 cortex-m7)
endif()
if(NOT DEFINED VARIANTS)
  set(VARIANTS asm intrinsics)
endif()

find_program(ARM_GCC arm-none-eabi-gcc)
find_program(QEMU qemu-system-arm)
if(NOT ARM_GCC OR NOT QEMU)
  message("SKIPPED: kernels_dsp_emulator needs arm-none-eabi-gcc and qemu-system-arm "
          "(sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)")
  return()
endif()
execute_process(COMMAND ${ARM_GCC} -print-file-name=nano.specs OUTPUT_VARIABLE nano
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT IS_ABSOLUTE "${nano}" OR NOT EXISTS "${nano}")
  message("SKIPPED: arm-none-eabi-gcc has no newlib (sudo apt-get install libnewlib-arm-none-eabi)")
  return()
endif()

include(${KERNEL_DIR}/sources.cmake)
set(kernel_sources "")
foreach(f ${QK_SOURCES})
  list(APPEND kernel_sources ${KERNEL_DIR}/${f})
endforeach()
set(sources ${kernel_sources} ${TEST_SOURCE} ${TARGET_DIR}/startup.c ${TARGET_DIR}/semihost.c
    ${TARGET_DIR}/systick.c)
set(common_flags -mthumb -mfloat-abi=hard -O2 -std=c99 -Wall -Wextra -Wpedantic -Werror
    -ffunction-sections -fdata-sections -DQK_USE_DSP -I${KERNEL_DIR} -I${TARGET_DIR} ${EXTRA_FLAGS})

set(failed "")
foreach(target ${TARGETS})
  if(target STREQUAL "cortex-m4")
    set(cpu -mcpu=cortex-m4 -mfpu=fpv4-sp-d16)
    set(machine mps2-an386)
    set(ld ${TARGET_DIR}/mps2_an386.ld)
  elseif(target STREQUAL "cortex-m7")
    set(cpu -mcpu=cortex-m7 -mfpu=fpv5-d16)
    set(machine mps2-an500)
    set(ld ${TARGET_DIR}/mps2_an500.ld)
  else()
    message(FATAL_ERROR "unknown target ${target}")
  endif()
  foreach(variant ${VARIANTS})
    if(variant STREQUAL "asm")
      set(variant_flags "")
    elseif(variant STREQUAL "intrinsics")
      set(variant_flags -DQK_DSP_NO_ASM)
    else()
      message(FATAL_ERROR "unknown variant ${variant}")
    endif()
    set(dir ${BUILD_DIR}/${target}-${variant})
    file(REMOVE_RECURSE ${dir})
    file(MAKE_DIRECTORY ${dir})
    set(objects "")
    foreach(src ${sources})
      get_filename_component(stem ${src} NAME_WE)
      execute_process(
        COMMAND ${ARM_GCC} ${cpu} ${common_flags} ${variant_flags} -c ${src} -o ${dir}/${stem}.o
        RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_VARIABLE out)
      if(NOT rc EQUAL 0)
        message(FATAL_ERROR "${target} ${variant}: arm-none-eabi-gcc failed on ${src}:\n${out}${err}")
      endif()
      list(APPEND objects ${dir}/${stem}.o)
    endforeach()
    execute_process(
      COMMAND ${ARM_GCC} ${cpu} -mthumb -mfloat-abi=hard -nostartfiles --specs=nano.specs
              --specs=nosys.specs -Wl,--gc-sections -T ${ld} ${objects} -o ${dir}/test.elf
      RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_VARIABLE out)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "${target} ${variant}: link failed:\n${out}${err}")
    endif()
    set(icount "")
    if(ICOUNT)
      set(icount -icount shift=0)
    endif()
    execute_process(
      COMMAND ${QEMU} -M ${machine} -nographic -monitor none -serial none
              -chardev file,id=con,path=${dir}/console.txt
              -semihosting-config enable=on,target=native,chardev=con ${icount}
              -kernel ${dir}/test.elf
      RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_VARIABLE out TIMEOUT 1200)
    set(console "")
    if(EXISTS ${dir}/console.txt)
      file(READ ${dir}/console.txt console)
    endif()
    message("== ${target} (QEMU ${machine}), ${variant}, exit status ${rc}\n${console}${out}${err}")
    if(NOT rc EQUAL 0 OR NOT console MATCHES "QKTEST summary [^\n]* mismatches 0 overruns 0")
      list(APPEND failed "${target}/${variant}")
    endif()
  endforeach()
endforeach()
if(failed)
  message(FATAL_ERROR "optimized kernels differ from the reference on: ${failed}")
endif()
message("optimized kernels bit-exact with the reference on: ${TARGETS} (${VARIANTS})")
