#!/usr/bin/env bash
# Downloads Multi30k task 1 (Elliott et al. 2016, 2017: image descriptions in English with German
# and French translations) into DIR (default data/multi30k): train (29,000 pairs), val (1,014)
# and test_2016_flickr (1,000), one sentence a line, aligned by line. Source: the dataset's
# repository, github.com/multi30k/dataset, data/task1/raw/. A research data set without an
# explicit licence: cite Elliott et al. 2016 (en-de) and Elliott et al. 2017 (fr).
#   scripts/get_multi30k.sh [DIR]
set -euo pipefail
dir=${1:-data/multi30k}
base=${MULTI30K_URL:-https://raw.githubusercontent.com/multi30k/dataset/HEAD/data/task1/raw}
mkdir -p "$dir"
for split in train val test_2016_flickr; do
  for lang in en de fr; do
    out="$dir/$split.$lang"
    [[ -s "$out" ]] && continue
    curl -fsSL "$base/$split.$lang.gz" | gunzip >"$out.part"
    mv "$out.part" "$out"
  done
done
# The sizes of the release (bytes), to catch a truncated download.
declare -A size=([train.de]=2110398 [train.en]=1801238 [train.fr]=2111303)
for f in "${!size[@]}"; do
  got=$(wc -c <"$dir/$f")
  if [[ "$got" != "${size[$f]}" ]]; then
    echo "error: $dir/$f has $got bytes, expected ${size[$f]}" >&2
    exit 1
  fi
done
wc -l "$dir"/*.de | tail -n +1
