#!/bin/sh
# render.sh SRC DEST: replace every @@NAME@@ in SRC by the environment variable NAME (the docker
# twin of scanner/lab/service.py render_text). Fails when a placeholder has no value.
set -eu
src=$1 dest=$2
script=""
for name in $(grep -o '@@[A-Z0-9_]*@@' "$src" | sort -u | tr -d @); do
  eval "value=\${$name-}"
  eval "isset=\${$name+x}"
  if [ -z "$isset" ]; then echo "render.sh: $src needs \$$name" >&2; exit 1; fi
  esc=$(printf '%s' "$value" | sed 's/[|&\\]/\\&/g')
  script="${script}s|@@${name}@@|${esc}|g;"
done
sed "$script" "$src" > "$dest"
