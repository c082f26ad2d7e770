#!/usr/bin/env bash
# Writes `path,label` manifests of the Free Spoken Digit Dataset for `recur classify`:
#   official_train.csv / official_test.csv   the dataset's split (indices 0-4 are test)
#   loso_<speaker>_train.csv / _test.csv     leave one speaker out, one pair per speaker
# Paths in the manifests are absolute, so the manifests can live anywhere.
# Usage: scripts/fsdd_manifests.sh FSDD_FOLDER OUT_FOLDER
set -euo pipefail
src=$(cd "${1:?usage: $0 FSDD_FOLDER OUT_FOLDER}" && pwd)
out=${2:?usage: $0 FSDD_FOLDER OUT_FOLDER}
mkdir -p "$out"
# digit, speaker, index, path of every {digit}_{speaker}_{index}.wav
list() {
    find "$src" -maxdepth 1 -name '*_*_*.wav' | sort | while read -r p; do
        name=$(basename "$p" .wav)
        IFS=_ read -r digit speaker index <<<"$name"
        echo "$digit $speaker $index $p"
    done
}
list >"$out/.all"
split() { # name, awk condition for the test rows
    { echo "path,label"; awk "!($2) {print \$4\",\"\$1}" "$out/.all"; } >"$out/$1_train.csv"
    { echo "path,label"; awk "$2 {print \$4\",\"\$1}" "$out/.all"; } >"$out/$1_test.csv"
}
split official '$3 <= 4'
for speaker in $(awk '{print $2}' "$out/.all" | sort -u); do
    split "loso_$speaker" "\$2 == \"$speaker\""
done
rm "$out/.all"
wc -l "$out"/*.csv | sed 's/^/  /'
