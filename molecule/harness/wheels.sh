#!/usr/bin/env bash
# The offline wheelhouse of the test hosts: binary wheels of the sample app's requirements and of
# ddtrace, for CPython 3.11 (Debian 12) and 3.13 (Debian 13), manylinux x86_64, at the versions of
# molecule/resources/sampleapp/constraints.txt. Containers see it read-only at /srv/wheels.
#   wheels.sh           build or refresh .cache/harness/wheels (a no-op when current)
# Current = the stamp file holds the hash of this script, the requirements and the constraints.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
app=$root/molecule/resources/sampleapp
out=$root/.cache/harness/wheels
stamp=$out/.stamp
pythons=(3.11 3.13)
# pip evaluates python_full_version markers against the interpreter running it, not the target:
# redis needs async-timeout below CPython 3.11.3, and Debian 12 has 3.11.2.
declare -A extras=([3.11]="async-timeout" [3.13]="")
pip=${PIP:-$root/.venv/bin/pip}
[ -x "$pip" ] || pip="python3 -m pip"

recipe=$(cat "$0" "$app/requirements.txt" "$app/constraints.txt" | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$recipe" ]; then
  echo "wheelhouse: current (recipe $recipe, $(find "$out" -name '*.whl' | wc -l) wheels in $out)"
  exit 0
fi

mkdir -p "$out"
rm -f "$stamp"
for py in "${pythons[@]}"; do
  echo "wheelhouse: downloading wheels for CPython $py (manylinux x86_64)"
  # shellcheck disable=SC2086
  { $pip download --quiet --disable-pip-version-check --no-cache-dir \
      --dest "$out" --only-binary=:all: \
      --implementation cp --python-version "$py" \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 \
      --constraint "$app/constraints.txt" \
      --requirement "$app/requirements.txt" \
      "ddtrace==$(sed -n 's/^ddtrace==//p' "$app/constraints.txt")" ${extras[$py]} 2>&1; } \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  echo "wheelhouse: CPython $py done"
done

# Every pinned project must be there, at its pinned version, for both interpreters: a wheel
# missing for 3.13 only would fail on the Debian 13 host at install time, later and less clearly.
python3 - "$out" "$app/constraints.txt" "${pythons[@]}" <<'PY'
import os, re, sys
out, constraints, pythons = sys.argv[1], sys.argv[2], sys.argv[3:]
norm = lambda n: re.sub(r"[-_.]+", "_", n).lower()
wheels = [f[:-4].split("-") for f in os.listdir(out) if f.endswith(".whl")]
pins = [l.split("==") for l in open(constraints).read().split("\n") if "==" in l and not l.startswith("#")]
missing = []
for py in pythons:
    cp = "cp" + py.replace(".", "")
    for name, version in pins:
        ok = any(
            norm(w[0]) == norm(name) and w[1] == version.strip()
            and any(t in ("py3", cp) or (t.startswith("cp3") and w[-2] == "abi3" and int(t[3:]) <= int(cp[3:]))
                    for t in w[-3].split("."))
            for w in wheels
        )
        if not ok:
            missing.append(f"{name}=={version.strip()} for CPython {py}")
if missing:
    sys.exit("wheelhouse: missing wheels: " + ", ".join(missing))
PY
echo "$recipe" >"$stamp"
echo "wheelhouse: ready (recipe $recipe, $(find "$out" -name '*.whl' | wc -l) wheels in $out)"
