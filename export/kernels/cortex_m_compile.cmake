# cmake -DARM_GCC=... -DSOURCES="a.c;b.c" -DINCLUDE_DIR=... -P cortex_m_compile.cmake
# Compiles every kernel source for a Cortex-M4 with warnings as errors; fails on the first error.
foreach(var ARM_GCC SOURCES INCLUDE_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "cortex_m_compile.cmake: ${var} not set")
  endif()
endforeach()

set(flags -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -O2 -std=c99
  -Wall -Wextra -Wpedantic -Werror)
foreach(variant "" "-DQK_USE_DSP")
  foreach(src ${SOURCES})
    execute_process(
      COMMAND ${ARM_GCC} ${flags} ${variant} -I${INCLUDE_DIR} -c ${src} -o /dev/null
      RESULT_VARIABLE rc
      OUTPUT_VARIABLE out
      ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "arm-none-eabi-gcc ${variant} failed on ${src}:\n${out}${err}")
    endif()
    message(STATUS "ok ${variant} ${src}")
  endforeach()
endforeach()
