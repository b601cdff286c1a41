// Typed, checked access to a node's attributes for CreateOp. A missing attribute yields the
// default; one of the wrong kind is INVALID_ARGUMENT; one the op does not know is UNIMPLEMENTED
// (the engine would otherwise silently ignore semantics it does not implement).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "sluice/graph.h"
#include "sluice/status.h"

namespace sluice::engine {

class Attrs {
 public:
  explicit Attrs(const Node& node) : node_(node) {}

  const Attribute* Find(const char* name) const;
  Status Int(const char* name, int64_t fallback, int64_t* out) const;
  Status Float(const char* name, float fallback, float* out) const;
  Status String(const char* name, const std::string& fallback, std::string* out) const;
  // *present tells whether the attribute was given (an empty list is still "given").
  Status Ints(const char* name, std::vector<int64_t>* out, bool* present) const;
  // UNIMPLEMENTED naming the first attribute whose name is not in `known`.
  Status OnlyKnown(std::initializer_list<const char*> known) const;

 private:
  Status Get(const char* name, Attribute::Kind kind, const Attribute** out) const;
  const Node& node_;
};

// "float", "ints", ... for messages.
const char* AttributeKindName(Attribute::Kind kind);

}  // namespace sluice::engine
