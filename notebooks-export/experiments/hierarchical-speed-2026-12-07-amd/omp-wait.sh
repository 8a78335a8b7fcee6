#!/usr/bin/env bash
# libgomp's waiting (19% of tch-vae's samples here): tch-vae alone, the benchmark's model,
# with libgomp's default spinning, with OMP_WAIT_POLICY=PASSIVE (threads sleep at once) and
# with GOMP_SPINCOUNT=1000 (spin briefly), interleaved, two rounds; epoch seconds.
#   B=target/release/tch-vae bash omp-wait.sh > omp-wait.log
set -euo pipefail
B=${B:-target/release/tch-vae}
for r in 1 2; do for pol in default PASSIVE SPIN1000; do
    rm -rf /tmp/omp-run
    case $pol in default) E="X=1";; PASSIVE) E="OMP_WAIT_POLICY=PASSIVE";; SPIN1000) E="GOMP_SPINCOUNT=1000";; esac
    env $E "$B" train --data /tmp/colour/digits.npz --out /tmp/omp-run --arch hierarchical \
        --likelihood logistic-mixture --width 64 --depth 2 --latent 8 --batch-size 32 --epochs 3 \
        --threads 2 --limit 500 --seed 42 > /dev/null 2>&1
    echo "$r $pol $(python3 -c "
import csv; rows=list(csv.DictReader(open('/tmp/omp-run/metrics.csv'))); print([round(float(r['epoch_seconds']),2) for r in rows])")"
done; done
