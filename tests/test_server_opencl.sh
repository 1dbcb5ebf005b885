#!/bin/sh
# test_server's numbers with the model and the SAE on the OpenCL plugin
# (skipped, exit 77, without the plugin or a device).
exec "$(dirname "$0")/test_server" --device opencl
