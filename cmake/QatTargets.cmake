# Helpers shared by every target of the project.

# Warnings: -Wall -Wextra clean is a project rule.
function(qat_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra>
    $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra -Wpedantic>)
endfunction()

# LibTorch headers are heavy (about 10 s per translation unit). Every target that includes them
# reuses one precompiled header built once by qat_torch_pch. Keep torch/torch.h out of headers
# that do not need it; torch-free code (graph, formats, configs, datasets, kernels) never sees it.
add_library(qat_torch_pch OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch_anchor.cpp)
target_link_libraries(qat_torch_pch PUBLIC torch)
target_precompile_headers(qat_torch_pch PRIVATE ${PROJECT_SOURCE_DIR}/cmake/torch_pch.h)
set_target_properties(qat_torch_pch PROPERTIES POSITION_INDEPENDENT_CODE OFF)
qat_warnings(qat_torch_pch)

function(qat_use_torch target)
  target_link_libraries(${target} PUBLIC torch)
  target_precompile_headers(${target} REUSE_FROM qat_torch_pch)
endfunction()

# add_qat_test(name SOURCES ... LIBS ...): one GoogleTest executable, every TEST a ctest entry.
function(add_qat_test name)
  cmake_parse_arguments(T "TORCH" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  if(T_TORCH)
    qat_use_torch(${name})
  endif()
  target_compile_definitions(${name} PRIVATE
    QAT_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    QAT_SHARED_DATASETS="${PROJECT_SOURCE_DIR}/../shared/datasets")
  qat_warnings(${name})
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST
    PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=1" TIMEOUT 900)
endfunction()
