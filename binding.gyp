# Sluice is NOT built with node-gyp. The addon is built by CMake through cmake-js
# (package.json "install": "cmake-js compile"; see CMakeLists.txt), which also builds the
# native ctest suite without Node.
#
# npm substitutes `node-gyp rebuild` only for a package that has a *.gyp file and no "install"
# or "preinstall" script (@npmcli/run-script); Sluice has an "install" script, so this file
# never starts a second build. The one target has type "none" and compiles nothing. Do not run
# `node-gyp rebuild` by hand: its clean step deletes build/, where cmake-js puts sluice.node.
{
  "targets": [
    {
      "target_name": "sluice_built_by_cmake_js",
      "type": "none"
    }
  ]
}
