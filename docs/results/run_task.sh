#!/usr/bin/env bash
# One RESULTS.md task, end to end: classifier, StylEx, AttFind on encoded images and on random (mapping-path)
# latents, evaluation of both, report. Every step is timed into runs/NAME/times.txt.
#
#   docs/results/run_task.sh NAME DATA ATTRIBUTE|- MINUTES KIMG [extra `stylex train` options...]
#
# NAME: run name (runs/NAME, classifier in runs/clf-NAME unless CLF=folder is set); DATA: a data folder;
# ATTRIBUTE: the CelebA attribute, or - for class folders; MINUTES: wall-clock budget of the training sitting
# (`--max-minutes`; run the script again to continue: training resumes from its checkpoint); KIMG: run length.
# Environment: PRESET (default cpu), RES (default 32), NIMG (AttFind images, default 48), CLF_ARGS (extra
# `stylex train-classifier` options), DEVICE (default auto).
#
# The analysis steps run on whatever training reached within MINUTES. On a machine that limits one command to
# 10 minutes (the GPU machines), train first in sittings, then run this script once the run has reached KIMG
# (its training step then returns at once):
#   stylex train --data DATA --attribute A --classifier runs/clf-NAME/classifier.pt --out runs/NAME \
#     --preset paper64 --kimg KIMG --max-minutes 9                    # first sitting
#   stylex train --out runs/NAME --resume --kimg KIMG --max-minutes 9  # every further sitting
#
# The RESULTS.md runs, on 2 CPU cores with OMP_NUM_THREADS=1 and two tasks at a time:
#   docs/results/run_task.sh catsdogs32 ../shared/data/catsdogs-5k - 42 60
#   CLF_ARGS="--balance loss" docs/results/run_task.sh eyeglasses32 ../shared/data/celeba-10k Eyeglasses 42 60
#   CLF=runs/clf-young32 docs/results/run_task.sh celeba-young32-enc ../shared/data/celeba-10k Young 60 27.2 --paths encoder
#   CLF=runs/clf-eyeglasses32 docs/results/run_task.sh eyeglasses32-enc ../shared/data/celeba-10k Eyeglasses 65 39.7 --paths encoder
#   CLF=runs/clf-catsdogs32 docs/results/run_task.sh catsdogs32-enc ../shared/data/catsdogs-5k - 65 39.2 --paths encoder
# and the longer runs (training stops by time, here at 82 and 76 kimg; KIMG is only an upper bound):
#   docs/results/run_task.sh catsdogs32-long ../shared/data/catsdogs-5k - 90 150
#   CLF_ARGS="--balance loss" docs/results/run_task.sh eyeglasses32-long ../shared/data/celeba-10k Eyeglasses 85 150
set -u
NAME=$1; DATA=$2; ATTR=$3; MIN=$4; KIMG=$5; shift 5
R=runs/$NAME; C=${CLF:-runs/clf-$NAME}; PRESET=${PRESET:-cpu}; RES=${RES:-32}; DEVICE=${DEVICE:-auto}
mkdir -p "$R"
T=$R/times.txt
t() { local s; s=$(date +%s); "$@"; local rc=$?; echo "$* :: rc $rc :: $(( $(date +%s) - s )) s" >> "$T"; return $rc; }
A=(); [ "$ATTR" != "-" ] && A=(--attribute "$ATTR")
if [ ! -f "$C/classifier.pt" ]; then
  t stylex train-classifier --data "$DATA" "${A[@]}" --out "$C" --resolution "$RES" --epochs 3 ${CLF_ARGS:-} \
    --device "$DEVICE" --no-progress || exit 1
fi
if [ -f "$R/checkpoint.pt" ]; then
  t stylex train --out "$R" --resume --kimg "$KIMG" --max-minutes "$MIN" --no-progress || exit 1
else
  t stylex train --data "$DATA" "${A[@]}" --classifier "$C/classifier.pt" --out "$R" --preset "$PRESET" \
    --resolution "$RES" --kimg "$KIMG" --max-minutes "$MIN" --device "$DEVICE" --no-progress "$@" || exit 1
fi
rm -rf "$R/attfind" "$R/attfind-random"   # AttFind chunks are tied to the generator: recompute after training
t stylex attfind --run "$R" --out "$R/attfind" --num-images "${NIMG:-48}" --device "$DEVICE" --no-progress || exit 1
t stylex evaluate --run "$R" --attributes "$R/attfind" --out "$R/eval" --test-images 100 --repeats 5 \
  --recon-images 100 --device "$DEVICE" --no-progress || exit 1
t stylex attfind --run "$R" --out "$R/attfind-random" --num-images 16 --source random --device "$DEVICE" \
  --no-progress || exit 1
t stylex evaluate --run "$R" --attributes "$R/attfind-random" --out "$R/eval-random" --test-images 100 \
  --repeats 5 --recon-images 16 --device "$DEVICE" --no-progress || exit 1
t stylex report --run "$R" --attfind "$R/attfind" --eval "$R/eval" --out "$R/report" --device "$DEVICE" \
  --no-progress || exit 1
