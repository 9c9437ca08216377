#!/usr/bin/env bash
# Mutation checks of the emulated GPU tests (ctest emu_mutants): each mutant below is applied to a
# copy of the sources, the emulated library and the tests are rebuilt, and the named test must
# now fail; the unmutated copy must pass the same tests first. Shows that the tests on the
# emulator see a missing barrier, a wrong shuffle offset, an off-by-one tail, a float4 across a
# segment boundary updated with one segment's scalars, a maximum that drops a NaN, a wrong tie
# rule, and wrong index, reduction and formula details in the conv, attention and layer norm ops.
#
#   native-tests/emu-mutants.sh SOURCE_DIR WORK_DIR
#
# Exit 0 when every mutant is caught, 1 otherwise (or when the baseline fails), with a table.
set -euo pipefail
src=$(cd "$1" && pwd)
work=$2
tree="$work/src"
build="$work/build"
mkdir -p "$work"
rm -rf "$tree"
mkdir -p "$tree"
cp -r "$src/CMakeLists.txt" "$src/cuda" "$src/native-tests" "$tree/"
log="$work/log.txt"
: > "$log"

targets=(emu_test_gpu_kernels emu_test_gpu_layers)
build_tests() {
    cmake --build "$build" --target "${targets[@]}" -j"$(nproc)" >> "$log" 2>&1
}

# name | file | perl substitution (must change the file) | test command (in $build)
mutants=(
    "removed barrier (tp_block_sum's tree loop)|cuda/common.cuh|s/(if \(tid < s\) sh\[tid\] \+= sh\[tid \+ s\];\n)(\s*)__syncthreads\(\);\n/\$1/|emu_test_gpu_kernels test_multi_dot"
    "wrong shuffle offset (cross-entropy's exp-sum tree)|cuda/layers.cu|s/__shfl_down_sync\(full, sum, off\)/__shfl_down_sync(full, sum, off + 1)/|emu_test_gpu_layers test_softmax_cross_entropy"
    "off-by-one tail (Adam's scalar tail loop)|cuda/adam.cu|s/for \(long long i = ebegin; i < eend; i \+= step\)/for (long long i = ebegin; i < eend - 1; i += step)/|emu_test_gpu_kernels test_adam"
    "a float4 across a segment boundary takes one segment's scalars|cuda/adam.cu|s/if \(src\.covers\(e \+ 3\)\)/if (src.covers(e))/|emu_test_gpu_kernels test_adam_segments"
    "the Java maximum drops a NaN it holds (AMSGrad's vmax)|cuda/common.cuh|s/    if \(a != a\) return a;\n//|emu_test_gpu_kernels test_adam_kernels_agree_and_skip"
    "last instead of first maximum (accuracy's argmax)|cuda/data.cu|s/if \(o\[c\] > o\[best\]\) best = c;/if (o[c] >= o[best]) best = c;/|emu_test_gpu_layers test_count_correct"
    "col2im skips the first window covering a pixel|cuda/conv.cu|s/\*first = t < kernel \? 0 : \(t - kernel\) \/ stride \+ 1;/*first = t < kernel ? 0 : (t - kernel) \/ stride + 2;/|emu_test_gpu_layers test_im2col_col2im"
    "softmax maximum over half a warp (attention)|cuda/attention.cu|s/for \(int off = 16; off > 0; off >>= 1\) mx = tp_max_nan/for (int off = 8; off > 0; off >>= 1) mx = tp_max_nan/|emu_test_gpu_layers test_attention_softmax"
    "layer norm's epsilon added after the square root|cuda/layernorm.cu|s/__dsqrt_rn\(__dadd_rn\(__ddiv_rn\(sq, \(double\)dim\), \(double\)eps\)\)/__dadd_rn(__dsqrt_rn(__ddiv_rn(sq, (double)dim)), (double)eps)/|emu_test_gpu_layers test_layer_norm"
)

echo "== configure and build the unmutated copy ($build)"
cmake -S "$tree" -B "$build" -DTWOPHASE_CUDA=OFF -DCMAKE_BUILD_TYPE=Release >> "$log" 2>&1
build_tests
status=0
for m in "${mutants[@]}"; do
    IFS='|' read -r name file subst cmd <<<"$m"
    read -r -a argv <<<"$cmd"
    if ! (cd "$build" && "./${argv[0]}" "${argv[@]:1}" >> "$log" 2>&1); then
        echo "baseline FAILS: $cmd (see $log)"
        exit 1
    fi
done
echo "   baseline: the selected tests pass"

results=()
for m in "${mutants[@]}"; do
    IFS='|' read -r name file subst cmd <<<"$m"
    read -r -a argv <<<"$cmd"
    cp "$tree/$file" "$tree/$file.orig"
    perl -0pi -e "$subst" "$tree/$file"
    if cmp -s "$tree/$file" "$tree/$file.orig"; then
        results+=("$name|NOT APPLIED (the pattern no longer matches $file)")
        status=1
    else
        echo "== mutant: $name ($file)"
        if ! build_tests; then
            results+=("$name|caught by the compiler")
        elif (cd "$build" && timeout 300 "./${argv[0]}" "${argv[@]:1}" >> "$log" 2>&1); then
            results+=("$name|NOT CAUGHT by $cmd")
            status=1
        else
            results+=("$name|caught: $cmd fails")
        fi
    fi
    mv "$tree/$file.orig" "$tree/$file"
done
build_tests # leave the build unmutated

echo
printf '%-55s %s\n' mutant result
for r in "${results[@]}"; do
    IFS='|' read -r name res <<<"$r"
    printf '%-55s %s\n' "$name" "$res"
done
[ $status -eq 0 ] && echo "every mutant was caught" || echo "MUTANTS SURVIVED (log: $log)"
exit $status
