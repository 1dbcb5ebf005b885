#!/bin/sh
# test_server's numbers with the model and the SAE on the OpenCL plugin
# (skipped, exit 77, without the plugin or a device). The test program is in
# the build tree (beside MLSAE_BIN), which is not this script's directory in
# a VPATH build.
if [ -n "${MLSAE_BIN:-}" ]; then dir="$(dirname "$MLSAE_BIN")/tests"; else dir=$(dirname "$0"); fi
exec "$dir/test_server" --device opencl
