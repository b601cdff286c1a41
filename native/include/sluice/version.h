// The Sluice version the native code was built from (package.json "version", read by CMake).
#pragma once

namespace sluice {

const char* Version();  // e.g. "0.1.0"; static storage

}  // namespace sluice
