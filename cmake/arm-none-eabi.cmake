# CMake toolchain file for bare-metal Cortex-M with arm-none-eabi-gcc + newlib (Debian packages
# gcc-arm-none-eabi, libnewlib-arm-none-eabi).
#
#   cmake -S <project> -B build-m4 -G Ninja -DCMAKE_TOOLCHAIN_FILE=<qat>/cmake/arm-none-eabi.cmake \
#         -DQAT_ARM_CPU=cortex-m4
#
# QAT_ARM_CPU selects the core and its FPU: cortex-m4 (FPv4-SP) or cortex-m7 (FPv5, double
# precision), both with the hard-float ABI. Code and data are placed in their own sections so
# that the linker's --gc-sections drops whatever the program does not reference; executables
# link newlib nano without its system calls (nosys): bring your own startup code, linker script
# (-T) and I/O, e.g. export/target of the QAT toolkit (see docs/DEPLOY.md).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

# A test executable cannot link without a board's linker script and startup code: let CMake's
# compiler checks build static libraries instead.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(QAT_ARM_CPU "cortex-m4" CACHE STRING "Target core: cortex-m4 or cortex-m7")
set_property(CACHE QAT_ARM_CPU PROPERTY STRINGS cortex-m4 cortex-m7)
# try_compile projects re-read this file; hand them the same core.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES QAT_ARM_CPU)

if(QAT_ARM_CPU STREQUAL "cortex-m4")
  set(_qat_fpu fpv4-sp-d16)
elseif(QAT_ARM_CPU STREQUAL "cortex-m7")
  set(_qat_fpu fpv5-d16)
else()
  message(FATAL_ERROR "QAT_ARM_CPU='${QAT_ARM_CPU}': use cortex-m4 or cortex-m7")
endif()

set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_AR arm-none-eabi-ar CACHE FILEPATH "")
set(CMAKE_RANLIB arm-none-eabi-ranlib CACHE FILEPATH "")
set(CMAKE_OBJCOPY arm-none-eabi-objcopy CACHE FILEPATH "")
set(CMAKE_SIZE arm-none-eabi-size CACHE FILEPATH "")

set(_qat_cpu_flags "-mcpu=${QAT_ARM_CPU} -mthumb -mfloat-abi=hard -mfpu=${_qat_fpu}")
set(CMAKE_C_FLAGS_INIT "${_qat_cpu_flags} -ffunction-sections -fdata-sections")
set(CMAKE_CXX_FLAGS_INIT "${_qat_cpu_flags} -ffunction-sections -fdata-sections -fno-exceptions -fno-rtti")
set(CMAKE_ASM_FLAGS_INIT "${_qat_cpu_flags}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "--specs=nano.specs --specs=nosys.specs -nostartfiles -Wl,--gc-sections")

# Search headers and libraries only in the cross environment, programs only on the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
