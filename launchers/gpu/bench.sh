#!/usr/bin/env bash
# Every GPU measurement of docs/performance.md on one GPU (H100/H200: under 8 minutes in all), as JSON lines and
# one Markdown table. Usage: launchers/gpu/bench.sh [output folder, default gpu_bench]
#   1. one attention layer, heads 8 x 96, bf16, N = 2048/4096/8192, fwd and fwd+bwd: plain SDPA (flash) against
#      flex (compiled FlexAttention), lowrank (K = 16, and 8/32 for the cost sweep) and chunked;
#   2. the same in fp32, fwd+bwd, flex and lowrank only;
#   3. a training step of climax_base at 128x256 (8192 tokens), batch 2, bf16-mixed, bias in block 0 (flex, then
#      lowrank) against no bias, with FLOPs and MFU; then the bias in all blocks (flex).
# Each measurement has its own time limit, so one that hangs (e.g. a slow compile) cannot eat the others' time;
# a failed or timed-out one leaves its error in <folder>/*.err and the rest still run.
set -uo pipefail
out=${1:-gpu_bench}
bench=${AQNET_BENCH:-aqnet-bench}
mkdir -p "$out"
start=$(date +%s)

run() {  # run NAME LIMIT_S ARGS...: JSON lines to NAME.jsonl, progress to NAME.err
  local name=$1 limit=$2
  shift 2
  echo "[$(($(date +%s) - start)) s] $name (limit ${limit} s)" >&2
  timeout "$limit" "$bench" "$@" > "$out/$name.jsonl" 2> "$out/$name.err" || echo "  $name failed or timed out: see $out/$name.err" >&2
}

nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader > "$out/gpu.txt" 2>&1 || true
layer=(attention --device cuda --tokens 2048 4096 8192 --heads 8 --head-dim 96)
run attention_bf16 150 "${layer[@]}" --dtype bfloat16 --backends flex lowrank chunked --ranks 8 16 32 --mode fwd fwd+bwd --repeats 20
run attention_fp32 70 "${layer[@]}" --dtype float32 --backends flex lowrank --mode fwd+bwd --repeats 10
step=(step backbone=climax_base physics_bias=topoflow --device cuda --grid full --batch 2 --precision bf16-mixed --repeats 10 --compare-to-none)
run step_flex_block0 100 "${step[@]}" physics_bias.backend=flex
run step_lowrank_block0 70 "${step[@]}" physics_bias.backend=lowrank
run step_flex_all 70 "${step[@]}" physics_bias.backend=flex physics_bias.blocks=all

python -m aqnet.bench.table "$out"/*.jsonl > "$out/table.md"
echo "[$(($(date +%s) - start)) s] done: $out/table.md" >&2
cat "$out/table.md"
