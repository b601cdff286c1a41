// Test-only reader for ONNX backend conformance cases (test/fixtures/onnx-conformance): the one
// node of model.onnx (op type, attributes, input names) and the TensorProto .pb files, decoded
// straight from the protobuf wire format. Enough for one-node cases; not a model loader.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "sluice/dtype.h"

namespace sluice::test {

struct CaseTensor {
  DType type = DType::kUndefined;
  Shape dims;
  std::vector<uint8_t> bytes;  // dense, DTypeSize(type) per element
  bool present = false;        // false for an omitted optional input
  template <typename T>
  const T* as() const { return reinterpret_cast<const T*>(bytes.data()); }
  size_t count() const { return DTypeSize(type) == 0 ? 0 : bytes.size() / DTypeSize(type); }
};

struct CaseAttr {
  float f = 0;
  int64_t i = 0;
  std::string s;
  std::vector<int64_t> ints;
};

struct CaseNode {
  std::string op;
  std::vector<std::string> inputs, outputs;  // "" = omitted optional
  std::map<std::string, CaseAttr> attrs;
  std::vector<std::string> graph_inputs;     // in input_<i>.pb order
  int64_t AttrI(const std::string& n, int64_t d) const { auto it = attrs.find(n); return it == attrs.end() ? d : it->second.i; }
  float AttrF(const std::string& n, float d) const { auto it = attrs.find(n); return it == attrs.end() ? d : it->second.f; }
  const CaseAttr* Attr(const std::string& n) const { auto it = attrs.find(n); return it == attrs.end() ? nullptr : &it->second; }
};

// Minimal protobuf wire-format cursor; a malformed file sets `bad` and stops.
class Wire {
 public:
  Wire(const uint8_t* p, size_t n) : p_(p), end_(p + n) {}
  bool Next(uint32_t* field, uint32_t* wire) {
    if (p_ >= end_ || bad) return false;
    const uint64_t key = Varint();
    *field = static_cast<uint32_t>(key >> 3);
    *wire = static_cast<uint32_t>(key & 7);
    return !bad;
  }
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && p_ < end_; shift += 7) {
      const uint8_t c = *p_++;
      v |= static_cast<uint64_t>(c & 0x7f) << shift;
      if (c < 0x80) return v;
    }
    bad = true;
    return 0;
  }
  Wire Bytes() {
    const uint64_t n = Varint();
    if (n > static_cast<uint64_t>(end_ - p_)) { bad = true; return Wire(end_, 0); }
    Wire sub(p_, n);
    p_ += n;
    return sub;
  }
  uint32_t Fixed32() { uint32_t v = 0; Take(&v, 4); return v; }
  uint64_t Fixed64() { uint64_t v = 0; Take(&v, 8); return v; }
  void Skip(uint32_t wire) {
    if (wire == 0) Varint();
    else if (wire == 1) Fixed64();
    else if (wire == 2) Bytes();
    else if (wire == 5) Fixed32();
    else bad = true;
  }
  std::string String() { Wire w = Bytes(); return std::string(reinterpret_cast<const char*>(w.p_), w.end_ - w.p_); }
  bool AtEnd() const { return p_ >= end_; }
  const uint8_t* data() const { return p_; }
  size_t size() const { return static_cast<size_t>(end_ - p_); }
  bool bad = false;

 private:
  void Take(void* out, size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) { bad = true; return; }
    std::memcpy(out, p_, n);
    p_ += n;
  }
  const uint8_t* p_;
  const uint8_t* end_;
};

inline bool ReadFile(const std::string& path, std::vector<uint8_t>* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return true;
}

// Appends a typed-field value (int32_data etc. carry narrow types widened) as one element.
inline void AppendElement(CaseTensor* t, uint64_t bits) {
  const size_t size = DTypeSize(t->type);
  uint8_t tmp[8];
  std::memcpy(tmp, &bits, 8);  // little-endian host: the low bytes are the narrow value
  t->bytes.insert(t->bytes.end(), tmp, tmp + size);
}

// Reads repeated scalar field values, packed or not, calling add(bits) for each.
template <typename Add>
void ReadRepeated(Wire* w, uint32_t wire, bool fixed32, bool fixed64, Add&& add) {
  auto one = [&](Wire* src) { add(fixed32 ? src->Fixed32() : fixed64 ? src->Fixed64() : src->Varint()); };
  if (wire != 2) return one(w);
  Wire packed = w->Bytes();
  while (!packed.AtEnd() && !packed.bad) one(&packed);
}

inline bool ParseTensor(Wire w, CaseTensor* t) {
  uint32_t f = 0, wire = 0;
  t->present = true;
  std::vector<uint64_t> typed;  // typed-field values, converted once the type is known
  while (w.Next(&f, &wire)) {
    switch (f) {
      case 1: ReadRepeated(&w, wire, false, false, [&](uint64_t v) { t->dims.push_back(static_cast<int64_t>(v)); }); break;
      case 2: t->type = static_cast<DType>(w.Varint()); break;
      case 4: ReadRepeated(&w, wire, true, false, [&](uint64_t v) { typed.push_back(v); }); break;   // float_data
      case 5: case 7: case 11:                                                                      // int32/int64/uint64
        ReadRepeated(&w, wire, false, false, [&](uint64_t v) { typed.push_back(v); }); break;
      case 10: ReadRepeated(&w, wire, false, true, [&](uint64_t v) { typed.push_back(v); }); break;  // double_data
      case 9: { Wire raw = w.Bytes(); t->bytes.assign(raw.data(), raw.data() + raw.size()); break; }
      default: w.Skip(wire);
    }
  }
  for (uint64_t v : typed) AppendElement(t, v);
  // A SequenceProto or OptionalProto read as a tensor fails this: data must fill the dims.
  int64_t count = 0;
  return !w.bad && ElementCount(t->dims, 1, &count) &&
         t->bytes.size() == static_cast<size_t>(count) * DTypeSize(t->type);
}

inline bool ReadTensor(const std::string& path, CaseTensor* t) {
  std::vector<uint8_t> buf;
  return ReadFile(path, &buf) && ParseTensor(Wire(buf.data(), buf.size()), t);
}

inline void ParseAttr(Wire w, CaseNode* node) {
  uint32_t f = 0, wire = 0;
  std::string name;
  CaseAttr a;
  while (w.Next(&f, &wire)) {
    if (f == 1) name = w.String();
    else if (f == 2) { const uint32_t bits = w.Fixed32(); std::memcpy(&a.f, &bits, 4); }
    else if (f == 3) a.i = static_cast<int64_t>(w.Varint());
    else if (f == 4) a.s = w.String();
    else if (f == 8) ReadRepeated(&w, wire, false, false, [&](uint64_t v) { a.ints.push_back(static_cast<int64_t>(v)); });
    else w.Skip(wire);
  }
  node->attrs[name] = a;
}

// Reads the graph's first node and its graph input names; false if the file is unreadable.
inline bool ReadModel(const std::string& path, CaseNode* node) {
  std::vector<uint8_t> buf;
  if (!ReadFile(path, &buf)) return false;
  Wire model(buf.data(), buf.size());
  uint32_t f = 0, wire = 0;
  bool seen_node = false;
  while (model.Next(&f, &wire)) {
    if (f != 7) { model.Skip(wire); continue; }
    Wire graph = model.Bytes();
    while (graph.Next(&f, &wire)) {
      if (f == 1 && !seen_node) {
        seen_node = true;
        Wire n = graph.Bytes();
        while (n.Next(&f, &wire)) {
          if (f == 1) node->inputs.push_back(n.String());
          else if (f == 2) node->outputs.push_back(n.String());
          else if (f == 4) node->op = n.String();
          else if (f == 5) ParseAttr(n.Bytes(), node);
          else n.Skip(wire);
        }
      } else if (f == 11) {
        Wire vi = graph.Bytes();
        while (vi.Next(&f, &wire)) {
          if (f == 1) node->graph_inputs.push_back(vi.String());
          else vi.Skip(wire);
        }
      } else {
        graph.Skip(wire);
      }
    }
  }
  return !model.bad && seen_node;
}

}  // namespace sluice::test
