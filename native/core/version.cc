#include "sluice/version.h"

// SLUICE_VERSION_STRING is defined by CMakeLists.txt from package.json, the one source.
namespace sluice {

const char* Version() { return SLUICE_VERSION_STRING; }

}  // namespace sluice
