#!/usr/bin/env bash
# Prepare the Python wheels that benchmarks/gpu_check.sh installs on a GPU machine that has torch but no
# Ray and no package registry (CPython 3.12, x86_64).  Run it here, where pip reaches PyPI:
#
#     bash benchmarks/gpu_bundle.sh            # -> .whl/ (git-ignored), checks the size limit
#
# The bundle has to travel with the working tree in one transfer of at most 64 MiB.  The Ray 2.60 wheel
# alone is 79 MB (75.6 MiB), so two wheels are repacked without files the check never uses:
#   * ray: ray/jars/ (the Java worker, 31 MiB compressed; Python-only clusters never load it) and the
#     dashboard's prebuilt web client ray/dashboard/client/build/ (2.4 MiB), replaced by a one-line
#     placeholder page: the dashboard's HTTP API and metrics still run, the browser UI shows that page.
#     Its three binaries (gcs_server, raylet, _raylet.so) are stored LZMA-compressed (-10 MiB; pip reads
#     any ZIP method Python's zipfile reads).  75.6 MiB -> 32.8 MiB;
#   * pythia8mc: share/Pythia8/{pdfdata,pdfdoc,htmldoc,examples} (proton/photon PDF grids and
#     documentation; e+e- collisions read only xmldoc).  The MLPF generator's events are identical with
#     the full and the slim wheel (checked when this bundle was made: docs/gpu.md).
# Everything else is the unmodified wheel from PyPI, pinned to constraints.txt.  Packages the GPU image
# already has (numpy, pandas, pyarrow, scipy, scikit-learn, aiohttp, grpcio, protobuf, ...) are not
# bundled (docs/gpu.md lists what the image holds and what this bundle adds).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-.whl}
PY=${PYTHON:-python3}
LIMIT_MIB=${LIMIT_MIB:-64}
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

PACKAGES=(
  ray==2.60.0 pythia8mc==8.317.2
  fastjet==3.5.2.0 awkward==2.14.0 awkward_cpp==57 vector==1.9.0
  pydantic==2.14.3 pydantic_core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5
  optuna==5.0.0 alembic==1.20.1 SQLAlchemy==2.1.9 Mako==1.4.3 colorlog==6.12.0
  aiohttp-cors==0.8.1 colorful==0.5.8 tensorboardX==2.6.5
  opencensus==0.11.4 opencensus-context==0.1.3 google-api-core==2.44.0 googleapis-common-protos==1.76.0
  google-auth==2.62.2 proto-plus==1.29.0 pyasn1==0.6.5 pyasn1_modules==0.4.2
  opentelemetry-api==1.45.2 opentelemetry-sdk==1.45.2 opentelemetry-exporter-prometheus==0.66b2
  opentelemetry-proto==1.45.2 opentelemetry-semantic-conventions==0.66b2
  jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1
)
PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
         manylinux1_x86_64 manylinux_2_24_x86_64 manylinux_2_31_x86_64 manylinux_2_34_x86_64; do
  PLATFORMS+=(--platform "$p")
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${PLATFORMS[@]}" -d "$STAGE" "${PACKAGES[@]}"

rm -rf "$DEST" && mkdir -p "$DEST"
for w in "$STAGE"/*.whl; do
  case "$(basename "$w")" in
    ray-*|pythia8mc-*) ;;
    *) cp "$w" "$DEST"/ ;;
  esac
done
"$PY" benchmarks/repack_wheel.py "$STAGE"/ray-2.60.0-*.whl "$DEST" \
  --drop ray/jars/ --drop ray/dashboard/client/build/ --lzma-above 4000000 \
  --stub "ray/dashboard/client/build/index.html=<p>Ray dashboard web client not bundled (hpo GPU check).</p>" \
  --stub "ray/dashboard/client/build/static/README=placeholder: the web client was left out of this wheel"
S=pythia8mc-8.317.2.data/data/share/Pythia8
"$PY" benchmarks/repack_wheel.py "$STAGE"/pythia8mc-8.317.2-*.whl "$DEST" \
  --drop $S/pdfdata/ --drop $S/pdfdoc/ --drop $S/htmldoc/ --drop $S/examples/

# our own package (pure Python; installed with --no-deps, so its torch pin does not touch the image's torch)
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$DEST" . >/dev/null
rm -rf build ./*.egg-info

wheels=$(du -cb "$DEST"/*.whl | tail -1 | cut -f1)
tree=$( (git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null || true) \
        | awk '$2 == "total" {s += $1} END {print s + 0}')
total=$((wheels + tree))
printf '%s: %d wheels, %.1f MiB; working tree %.1f MiB; together %.1f MiB (limit %d MiB)\n' "$DEST" \
  "$(ls "$DEST"/*.whl | wc -l)" "$(echo "$wheels / 1048576" | bc -l)" "$(echo "$tree / 1048576" | bc -l)" \
  "$(echo "$total / 1048576" | bc -l)" "$LIMIT_MIB"
if [ "$total" -gt $((LIMIT_MIB * 1048576)) ]; then
  echo "gpu_bundle: the bundle and the working tree exceed ${LIMIT_MIB} MiB" >&2
  exit 1
fi
