#!/usr/bin/env bash
# The prepared GPU run: on a machine with JAX and a GPU but no TensorFlow, Keras nor network,
# measure the benchmark and the full Fashion-MNIST protocol on Keras's JAX backend.
#
#   bash scripts/gpu_check.sh [STAGE] [DATA_DIR]      (make gpu-check DATA_DIR=... runs every stage)
#
# STAGE: all (default: bench, same_seed, fashion_mnist, split), bench, same_seed (the Fashion-MNIST protocol at smoke
# size twice, side by side, each compiling its own programs, then scripts/same_seed.py: are samples, labels, weights
# and curves the same bit for bit?), fashion_mnist (the protocol of the CPU's three-seed references with RECIPE,
# default recommended: both AEs, the student's λ choice), split (class-incremental split Fashion-MNIST, every replay method
# over SPLIT_SEEDS, default 0 1 2 3 4, with RECIPE: make split_fashion_mnist), or seeds (the fashion_mnist stage once
# per seed in SEEDS, default 0 1 2, summarised as mean ± spread and compared with the CPU's spread: make
# fashion_mnist_seeds). It expects, carried in with the working tree
# (see docs/backends_and_gpu.md, "Running on a GPU"):
#   build/wheels/        keras, namex and optree wheels for the machine's Python (pip download, docs/backends_and_gpu.md)
#   DATA_DIR             the four Fashion-MNIST IDX .gz files (default: build/fashion-mnist)
# Outputs: results/benchmarks/<gpu>.{md,json}; results/same_seed_gpu/; results/fashion_mnist_gpu/ (table, curves,
# figures, stage times, the device, comparison_with_cpu.md beside the recipe's CPU reference);
# results/split_fashion_mnist_gpu/; results/fashion_mnist_gpu_seeds/ (comparison_with_cpu.md: do the GPU's and the
# CPU's means agree within the seed spread?); the full run tree stays in build/gpu_results/ (models, samples; not
# committed).
# A stage cut short by the machine's time limit resumes where it stopped when run again (make redoes nothing done;
# the split stage keeps each finished seed and method; same_seed starts over). Every process but same_seed's two runs
# shares one JAX compilation cache (build/jax-cache), so a program compiled once, in any stage or call on the same
# machine, is not compiled again. For a rehearsal on a CPU: BENCH_ARGS, SMOKE=1, BENCH_REFERENCE (the benchmark goes
# to its benchmarks/), RUN_DIR, REPORT_DIR, SPLIT_REPORT_DIR and SAME_SEED_REPORT_DIR override the benchmark flags,
# the protocols' size and the output folders.
set -euo pipefail
cd "$(dirname "$0")/.."

stage=${1:-all}
data_dir=${2:-${DATA_DIR:-build/fashion-mnist}}
wheels=${WHEELS:-build/wheels}
site=${SITE:-/tmp/aesampling-site}
jobs=${JOBS:-4}
run_dir=${RUN_DIR:-build/gpu_results}
report_dir=${REPORT_DIR:-results/fashion_mnist_gpu}
bench_args=${BENCH_ARGS:---chains=512,4096 --baseline_chains=512,4096 --dtypes=float32,bfloat16 --min_seconds=0.5 \
--rss_samples=1000000 --extraction_images=256 --train_examples=54000}
same_seed_report_dir=${SAME_SEED_REPORT_DIR:-results/same_seed_gpu}
seeds=${SEEDS:-0 1 2}
seeds_report_dir=${SEEDS_REPORT_DIR:-results/fashion_mnist_gpu_seeds}
split_seeds=${SPLIT_SEEDS:-0 1 2 3 4}
recipe=${RECIPE:-recommended}
# The Fashion-MNIST protocol the CPU's three-seed references of both recipes were made with
# (results/fashion_mnist_recommended_seeds, results/fashion_mnist_seeds): the two AEs, each evaluated at its
# student's λ choice (class-balanced under the recommended recipe). AUTOENCODERS and FD_CURVES in the environment
# change it.
protocol_vars=(RECIPE="$recipe" "AUTOENCODERS=${AUTOENCODERS:-shallow_ae deep_ae}" "FD_CURVES=${FD_CURVES:-0}")
split_report_dir=${SPLIT_REPORT_DIR:-results/split_fashion_mnist_gpu}
case "$stage" in all|bench|same_seed|fashion_mnist|split|seeds) ;;
  *) echo "error: unknown stage '$stage' (all, bench, same_seed, fashion_mnist, split or seeds)" >&2; exit 2;; esac
compgen -G "$wheels/*.whl" > /dev/null || { echo "error: no wheels in $wheels (see docs/backends_and_gpu.md, Running on a GPU)" >&2; exit 2; }
# The Makefile's grouped targets (&:) need GNU make 4.3: say so before any device time is spent.
make_version=$({ make --version 2>/dev/null || true; } | sed -n 's/^GNU Make \([0-9][0-9.]*\).*/\1/p')
[[ -n $make_version ]] || { echo "error: GNU make is not installed; every stage runs make" >&2; exit 2; }
printf '%s\n4.3\n' "$make_version" | sort -V -C -r || {
  echo "error: GNU make $make_version is too old; the Makefile needs 4.3 or newer" >&2; exit 2; }

# 1. The carried wheels, into a folder of their own: the machine's Python stays as it is.
python3 -m pip install -q --no-index --no-deps --target "$site" "$wheels"/*.whl
touch "$site/.installed"
# The package from this tree (nothing is installed on the machine), Keras from the carried wheels.
export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=jax
# Several processes share one GPU under make -j: each takes memory as it needs it, not 75% up front.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
# Same seed, same result on the GPU too.
export XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_deterministic_ops=true"
# One compilation cache for every process of every stage: the stages compile the same programs again and again.
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-$PWD/build/jax-cache}
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=${JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS:-0}
python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), '| keras', keras.__version__)"
make_vars=(PY=python3 "STAMP=$site/.installed")
start=$(date +%s)

# 2. The benchmark (BENCH_ARGS; by default B = 512 and 4,096 in float32 and bfloat16) beside the roofline, the
#    hand-written JAX loop and the predict loop; the fused train-on-synthetic step; autoencoder training.
if [[ $stage == all || $stage == bench ]]; then
  make --no-print-directory bench "${make_vars[@]}" REFERENCE="${BENCH_REFERENCE:-results}" BENCH_ARGS="$bench_args"
  echo "benchmark done after $(( $(date +%s) - start )) s"
fi

# 3. Same seed, same result: the Fashion-MNIST protocol at smoke size (both autoencoders, recommended recipe) twice
#    at once, each run with a compilation cache of its own (so each compiles and autotunes its own programs), then
#    every sample, soft label, weight and curve compared bit for bit.
if [[ $stage == all || $stage == same_seed ]]; then
  [[ -d $data_dir ]] || { echo "error: no Fashion-MNIST folder $data_dir" >&2; exit 2; }
  mkdir -p "$run_dir"
  groups_file=$run_dir/same_seed.groups
  # Runs left behind by a call killed outright (no trap runs then) stop before their folders are made again.
  if [[ -f $groups_file ]]; then
    while read -r group; do kill -- "-$group" 2>/dev/null || true; done < "$groups_file"
    rm -f "$groups_file"
  fi
  read -r -a xla_flags <<< "$XLA_FLAGS"
  # The one command of both runs, the run's letter in place of @run@: run and recorded as it is.
  same_seed_command=(env KERAS_BACKEND=jax "XLA_FLAGS=${xla_flags[*]}" XLA_PYTHON_CLIENT_PREALLOCATE=false
    "JAX_COMPILATION_CACHE_DIR=$PWD/build/jax-cache-same-seed-@run@" make --no-print-directory -j2 fashion_mnist
    "${make_vars[@]}" SMOKE=1 'AUTOENCODERS=shallow_ae deep_ae' FD_CURVES=0 RECIPE=recommended "DATA_DIR=$data_dir"
    "RESULTS=$run_dir/same_seed_@run@")
  set +m  # no job control: setsid then makes each run a process group of its own, whose id is the run's pid
  groups=()
  # If this script is stopped, so are the two runs (a rerun starts them over).
  trap '(( ${#groups[@]} )) && kill -- "${groups[@]/#/-}" 2>/dev/null' EXIT
  for run in a b; do
    rm -rf "$run_dir/same_seed_$run" "$PWD/build/jax-cache-same-seed-$run"
    setsid "${same_seed_command[@]//@run@/$run}" > "$run_dir/same_seed_$run.log" 2>&1 &
    groups+=("$!")
    echo "$!" >> "$groups_file"
  done
  failed=0
  for group in "${groups[@]}"; do  # the first run to fail stops the other: no device time spent on it
    wait "$group" || { failed=1; kill -- "${groups[@]/#/-}" 2>/dev/null || true; }
  done
  trap - EXIT
  rm -f "$groups_file"
  (( failed == 0 )) || { tail -n 20 "$run_dir"/same_seed_*.log; echo "error: a same-seed run failed" >&2; exit 1; }
  printf -v runs_command '%q ' "${same_seed_command[@]}"
  status=0
  python3 scripts/same_seed.py --first="$run_dir/same_seed_a/fashion_mnist" \
    --second="$run_dir/same_seed_b/fashion_mnist" --output_dir="$same_seed_report_dir" \
    --runs_command="${runs_command% }" || status=$?
  case $status in  # runs that differ are a finding, reported; the other stages still run
    0) ;;
    3) echo "same seed: the two runs differ (see $same_seed_report_dir/same_seed.md)" ;;
    *) echo "error: scripts/same_seed.py failed (exit $status)" >&2; exit 1 ;;
  esac
  echo "same seed done after $(( $(date +%s) - start )) s"
fi

# 4. The full Fashion-MNIST protocol, then its reports copied to results/fashion_mnist_gpu/.
if [[ $stage == all || $stage == fashion_mnist ]]; then
  [[ -d $data_dir ]] || { echo "error: no Fashion-MNIST folder $data_dir" >&2; exit 2; }
  make --no-print-directory -j"$jobs" fashion_mnist "${make_vars[@]}" "${protocol_vars[@]}" RESULTS="$run_dir" \
    DATA_DIR="$data_dir"
  make --no-print-directory publish_fashion_mnist "${make_vars[@]}" RESULTS="$run_dir" PUBLISH_DIR="$report_dir"
  # The run beside the committed CPU run of its recipe (make's compare step).
  cp "$run_dir/fashion_mnist/comparison.md" "$report_dir/comparison_with_cpu.md"
  echo "Fashion-MNIST done after $(( $(date +%s) - start )) s"
fi

# 5. Class-incremental split Fashion-MNIST, every replay method over SPLIT_SEEDS (the CPU reference's five seeds and
#    recipe by default), its reports copied to results/split_fashion_mnist_gpu/.
if [[ $stage == all || $stage == split ]]; then
  [[ -d $data_dir ]] || { echo "error: no Fashion-MNIST folder $data_dir" >&2; exit 2; }
  make --no-print-directory split_fashion_mnist "${make_vars[@]}" RESULTS="$run_dir" DATA_DIR="$data_dir" \
    RECIPE="$recipe" SPLIT_SEEDS="$split_seeds"
  make --no-print-directory publish_split_fashion_mnist "${make_vars[@]}" RESULTS="$run_dir" \
    PUBLISH_DIR="$split_report_dir"
  echo "split Fashion-MNIST done after $(( $(date +%s) - start )) s"
fi

# 6. On request only (it is three protocols): the seed spread of Fashion-MNIST.
if [[ $stage == seeds ]]; then
  [[ -d $data_dir ]] || { echo "error: no Fashion-MNIST folder $data_dir" >&2; exit 2; }
  make --no-print-directory -j"$jobs" fashion_mnist_seeds "${make_vars[@]}" "${protocol_vars[@]}" RESULTS="$run_dir" \
    DATA_DIR="$data_dir" SEEDS="$seeds"
  make --no-print-directory publish_fashion_mnist_seeds "${make_vars[@]}" RESULTS="$run_dir" PUBLISH_DIR="$seeds_report_dir"
  # The GPU's spread beside the CPU's spread of the same recipe (make's compare step).
  cp "$run_dir/fashion_mnist_seeds/comparison.md" "$seeds_report_dir/comparison_with_cpu.md"
  echo "Fashion-MNIST seeds done after $(( $(date +%s) - start )) s"
fi
