# Registers one ctest test per fuzz target, "fuzz: <name>": fuzz/run_fuzzer.sh runs
# build/fuzz/fuzz_<name> for a bounded time on fuzz/corpus/<name> and every reproducer in
# fuzz/regressions/<name>, and fails on any crash. Included by the native build; build/fuzz
# comes from scripts/build.sh (the fuzz preset), and without it the tests are not registered.
set(CORVID_FUZZ_DIR "${PROJECT_SOURCE_DIR}/build/fuzz" CACHE PATH "Build directory of the fuzz preset")
set(CORVID_FUZZ_TARGETS frame coordinator graph_file http)
# The targets that read JSON get the dictionary of Corvid's names (fuzz/make_corpus.py writes it).
set(CORVID_FUZZ_JSON_TARGETS frame coordinator graph_file)
set(CORVID_FUZZ_SECONDS 30 CACHE STRING "How long each fuzz test runs its target")

if(NOT CORVID_BUILD_TESTS)
  return()
endif()
if(NOT EXISTS "${CORVID_FUZZ_DIR}/build.ninja")
  message(STATUS "No ${CORVID_FUZZ_DIR} (cmake --preset fuzz): the 'fuzz: ' tests are not registered")
  return()
endif()
foreach(name IN LISTS CORVID_FUZZ_TARGETS)
  set(dictionary "")
  if(name IN_LIST CORVID_FUZZ_JSON_TARGETS)
    set(dictionary "${PROJECT_SOURCE_DIR}/fuzz/corvid.dict")
  endif()
  add_test(NAME "fuzz: ${name}"
           COMMAND "${PROJECT_SOURCE_DIR}/fuzz/run_fuzzer.sh" "${CORVID_FUZZ_DIR}/fuzz_${name}"
                   "${PROJECT_SOURCE_DIR}/fuzz" "${name}" "${CORVID_FUZZ_SECONDS}"
                   "${PROJECT_BINARY_DIR}/fuzz-artifacts" ${dictionary})
  set_tests_properties("fuzz: ${name}" PROPERTIES LABELS fuzz TIMEOUT 300)
endforeach()
