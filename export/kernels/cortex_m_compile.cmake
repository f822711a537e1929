# cmake -DARM_GCC=... -DSOURCES="a.c;b.c" -DINCLUDE_DIR=... [-DWORK_DIR=...] -P cortex_m_compile.cmake
# Compiles every kernel source for a Cortex-M4 with warnings as errors, without and with
# QK_USE_DSP, and once more with every qk_config.h switch off (a copy of the sources in WORK_DIR:
# an export's generated file may switch off any path); fails on the first error.
foreach(var ARM_GCC SOURCES INCLUDE_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "cortex_m_compile.cmake: ${var} not set")
  endif()
endforeach()

set(flags -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -O2 -std=c99
  -Wall -Wextra -Wpedantic -Werror)
if(NOT DEFINED WORK_DIR)
  set(WORK_DIR ${CMAKE_CURRENT_BINARY_DIR}/qk_config_off)
endif()
file(REMOVE_RECURSE ${WORK_DIR})
file(COPY ${INCLUDE_DIR}/ DESTINATION ${WORK_DIR})
file(READ ${WORK_DIR}/qk_config.h config)
string(REGEX REPLACE "(#define QK_CONFIG_[A-Z0-9_]+) +1" "\\1 0" config "${config}")
file(WRITE ${WORK_DIR}/qk_config.h "${config}")

foreach(variant "" "-DQK_USE_DSP" "-DQK_USE_DSP;CONFIG_OFF")
  foreach(src ${SOURCES})
    set(dir ${INCLUDE_DIR})
    set(file ${src})
    set(defs ${variant})
    if(variant MATCHES "CONFIG_OFF")
      set(dir ${WORK_DIR})
      get_filename_component(name ${src} NAME)
      set(file ${WORK_DIR}/${name})
      set(defs -DQK_USE_DSP)
    endif()
    execute_process(
      COMMAND ${ARM_GCC} ${flags} ${defs} -I${dir} -c ${file} -o /dev/null
      RESULT_VARIABLE rc
      OUTPUT_VARIABLE out
      ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "arm-none-eabi-gcc ${variant} failed on ${src}:\n${out}${err}")
    endif()
    message(STATUS "ok ${variant} ${src}")
  endforeach()
endforeach()
