#!/bin/sh
# Renders Sluice's expansions with SQLMesh and compares them with SQLMesh's render of the
# macro versions (expected/). Needs SQLMesh 0.236.4 (see README.md).
#   SLUICE_MACROS_DUMP=/tmp/dump cargo test -p sluice-engine macros::tests::cases
#   sh check_with_sqlmesh.sh /tmp/dump /path/to/macro-cases
set -e
dump=$1; project=$2; here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
cp "$project/config.yaml" "$work/"
mkdir "$work/models" && cp "$project/models/src_foo.sql" "$project/models/src_bar.sql" "$work/models/"
cp "$dump"/*.sql "$work/models/"
cd "$work"
fail=0
for f in "$dump"/*.sql; do
  m=$(basename "$f" .sql)
  TZ=UTC sqlmesh render "$m" --start 2024-01-01 --end 2024-01-03 --execution-time 2024-01-04 --no-format \
    2>/dev/null | sed 's/[[:space:]]*$//' | grep -v '^\[WARNING\]' > "$work/$m.out" || true
  if diff -q "$work/$m.out" "$here/expected/$m.sql" >/dev/null; then echo "same     $m"
  else echo "DIFFERS  $m"; diff "$work/$m.out" "$here/expected/$m.sql" || true; fail=1; fi
done
rm -rf "$work"
exit $fail
