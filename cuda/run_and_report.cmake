# Runs COMMAND ('|'-separated argv), saves its stdout+stderr to REPORT, echoes it into the
# build log, appends a per-kernel summary of the ptxas -v lines (registers, spills), and
# fails the build if the command fails. Used for the nvcc -fatbin step.
#   cmake -DCOMMAND=a|b|c -DREPORT=file -P run_and_report.cmake
string(REPLACE "|" ";" argv "${COMMAND}")
execute_process(COMMAND ${argv} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(log "${out}${err}")

# Summary: "kernel  target  registers  spill stores/loads  smem" from the ptxas -v lines:
#   ptxas info    : Compiling entry function 'K' for 'sm_90'
#       0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
#   ptxas info    : Used 42 registers, used 0 barriers[, 2048 bytes smem]
set(summary "")
set(kernel "")
set(target "")
set(spills "")
string(REPLACE "\n" ";" lines "${log}")
foreach(line IN LISTS lines)
  if(line MATCHES "Compiling entry function '([^']+)' for '([^']+)'")
    set(kernel "${CMAKE_MATCH_1}")
    set(target "${CMAKE_MATCH_2}")
  elseif(line MATCHES "([0-9]+) bytes stack frame, ([0-9]+) bytes spill stores, ([0-9]+) bytes spill loads")
    set(spills "stack ${CMAKE_MATCH_1} B, spill stores ${CMAKE_MATCH_2} B, spill loads ${CMAKE_MATCH_3} B")
  elseif(line MATCHES "Used ([0-9]+) registers" AND NOT kernel STREQUAL "")
    set(regs "${CMAKE_MATCH_1}")
    set(smem "0")
    if(line MATCHES "([0-9]+) bytes smem")
      set(smem "${CMAKE_MATCH_1}")
    endif()
    string(APPEND summary "  ${kernel} ${target}: ${regs} registers, ${spills}, smem ${smem} B\n")
    set(kernel "")
  endif()
endforeach()

string(REPLACE ";" " " printable "${argv}")
file(WRITE "${REPORT}" "# ${printable}\n# exit code ${rc}\n\n${log}\n# summary (kernel target: registers, spills, shared memory)\n${summary}")
message("ptxas report (${REPORT}):\n${summary}")
if(NOT rc EQUAL 0)
  message("${log}")
  message(FATAL_ERROR "nvcc failed with exit code ${rc}")
endif()
