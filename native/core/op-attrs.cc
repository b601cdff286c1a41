#include "op-attrs.h"

namespace sluice::engine {

const char* AttributeKindName(Attribute::Kind kind) {
  switch (kind) {
    case Attribute::Kind::kFloat: return "float";
    case Attribute::Kind::kInt: return "int";
    case Attribute::Kind::kString: return "string";
    case Attribute::Kind::kTensor: return "tensor";
    case Attribute::Kind::kFloats: return "floats";
    case Attribute::Kind::kInts: return "ints";
    case Attribute::Kind::kStrings: return "strings";
  }
  return "unknown";
}

const Attribute* Attrs::Find(const char* name) const {
  for (const Attribute& a : node_.attributes) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

Status Attrs::Get(const char* name, Attribute::Kind kind, const Attribute** out) const {
  *out = Find(name);
  if (*out != nullptr && (*out)->kind != kind) {
    return InvalidArgument(std::string("attribute '") + name + "' must be " +
                           AttributeKindName(kind) + ", got " + AttributeKindName((*out)->kind));
  }
  return Status::Ok();
}

Status Attrs::Int(const char* name, int64_t fallback, int64_t* out) const {
  const Attribute* a = nullptr;
  RETURN_IF_ERROR(Get(name, Attribute::Kind::kInt, &a));
  *out = a != nullptr ? a->i : fallback;
  return Status::Ok();
}

Status Attrs::Float(const char* name, float fallback, float* out) const {
  const Attribute* a = nullptr;
  RETURN_IF_ERROR(Get(name, Attribute::Kind::kFloat, &a));
  *out = a != nullptr ? a->f : fallback;
  return Status::Ok();
}

Status Attrs::String(const char* name, const std::string& fallback, std::string* out) const {
  const Attribute* a = nullptr;
  RETURN_IF_ERROR(Get(name, Attribute::Kind::kString, &a));
  *out = a != nullptr ? a->s : fallback;
  return Status::Ok();
}

Status Attrs::Ints(const char* name, std::vector<int64_t>* out, bool* present) const {
  const Attribute* a = nullptr;
  RETURN_IF_ERROR(Get(name, Attribute::Kind::kInts, &a));
  *present = a != nullptr;
  if (a != nullptr) *out = a->ints;
  return Status::Ok();
}

Status Attrs::OnlyKnown(std::initializer_list<const char*> known) const {
  for (const Attribute& a : node_.attributes) {
    bool found = false;
    for (const char* k : known) found = found || a.name == k;
    if (!found) return Status(StatusCode::UNIMPLEMENTED, "unsupported attribute '" + a.name + "'");
  }
  return Status::Ok();
}

}  // namespace sluice::engine
