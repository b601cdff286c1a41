#include "graph-convert.h"

#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "js-convert.h"

namespace sluice::addon {
namespace {

Napi::Object AsObject(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsObject()) ThrowInvalid(env, what + " must be an object");
  return v.As<Napi::Object>();
}

Napi::Array AsArray(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsArray()) ThrowInvalid(env, what + " must be an array");
  return v.As<Napi::Array>();
}

std::string AsString(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsString()) ThrowInvalid(env, what + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

int64_t AsInt64(Napi::Env env, Napi::Value v, const std::string& what) {
  if (v.IsBigInt()) {
    bool lossless = false;
    const int64_t n = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) ThrowInvalid(env, what + " does not fit in int64");
    return n;
  }
  return ToInteger(env, v, what.c_str(), -kMaxSafeInteger, kMaxSafeInteger);
}

DType AsDType(Napi::Env env, Napi::Value v, const std::string& what) {
  return static_cast<DType>(ToInteger(env, v, what.c_str(), 0, 64));
}

Shape AsDims(Napi::Env env, Napi::Value v, const std::string& what, int64_t min_dim) {
  Napi::Array a = AsArray(env, v, what);
  Shape dims(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    dims[i] = ToInteger(env, a.Get(i), (what + "[" + std::to_string(i) + "]").c_str(), min_dim,
                        std::numeric_limits<int64_t>::max() >> 1);
  }
  return dims;
}

std::vector<std::string> AsStrings(Napi::Env env, Napi::Value v, const std::string& what) {
  Napi::Array a = AsArray(env, v, what);
  std::vector<std::string> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) out[i] = AsString(env, a.Get(i), what + "[" + std::to_string(i) + "]");
  return out;
}

ValueInfo ValueInfoFromJs(Napi::Env env, Napi::Value v, const std::string& what) {
  Napi::Object o = AsObject(env, v, what);
  ValueInfo info;
  info.name = AsString(env, o.Get("name"), what + ".name");
  info.dtype = AsDType(env, o.Get("dtype"), what + ".dtype");
  info.dims = AsDims(env, o.Get("dims"), what + ".dims", -1);
  return info;
}

TensorData TensorFromJs(Napi::Env env, Napi::Value v, const std::string& what) {
  Napi::Object o = AsObject(env, v, what);
  TensorData t;
  t.name = AsString(env, o.Get("name"), what + ".name");
  t.dtype = AsDType(env, o.Get("dtype"), what + ".dtype");
  t.dims = AsDims(env, o.Get("dims"), what + ".dims", 0);
  const Napi::Value data = o.Get("data");
  if (!data.IsTypedArray()) ThrowInvalid(env, what + ".data must be a Uint8Array");
  const Napi::TypedArray view = data.As<Napi::TypedArray>();
  const uint8_t* bytes = static_cast<const uint8_t*>(view.ArrayBuffer().Data()) + view.ByteOffset();
  t.bytes.assign(bytes, bytes + view.ByteLength());
  return t;
}

template <typename T, typename Read>
std::vector<T> ListFromJs(Napi::Env env, Napi::Value v, const std::string& what, Read read) {
  // Typed arrays (Float32Array, BigInt64Array) and plain arrays alike: index and convert.
  if (!v.IsArray() && !v.IsTypedArray()) ThrowInvalid(env, what + " must be an array");
  Napi::Object o = v.As<Napi::Object>();
  const uint32_t n = o.Get("length").As<Napi::Number>().Uint32Value();
  std::vector<T> out(n);
  for (uint32_t i = 0; i < n; ++i) out[i] = read(o.Get(i), what + "[" + std::to_string(i) + "]");
  return out;
}

Attribute AttributeFromJs(Napi::Env env, Napi::Value v, const std::string& what) {
  Napi::Object o = AsObject(env, v, what);
  Attribute a;
  a.name = AsString(env, o.Get("name"), what + ".name");
  const std::string kind = AsString(env, o.Get("kind"), what + ".kind");
  const Napi::Value value = o.Get("value");
  const std::string vwhat = what + " ('" + a.name + "').value";
  auto read_float = [&](Napi::Value x, const std::string& w) {
    if (!x.IsNumber()) ThrowInvalid(env, w + " must be a number");
    return x.As<Napi::Number>().FloatValue();
  };
  auto read_int = [&](Napi::Value x, const std::string& w) { return AsInt64(env, x, w); };
  auto read_string = [&](Napi::Value x, const std::string& w) { return AsString(env, x, w); };
  if (kind == "float") {
    a.kind = Attribute::Kind::kFloat;
    a.f = read_float(value, vwhat);
  } else if (kind == "int") {
    a.kind = Attribute::Kind::kInt;
    a.i = read_int(value, vwhat);
  } else if (kind == "string") {
    a.kind = Attribute::Kind::kString;
    a.s = read_string(value, vwhat);
  } else if (kind == "tensor") {
    a.kind = Attribute::Kind::kTensor;
    a.t = TensorFromJs(env, value, vwhat);
  } else if (kind == "floats") {
    a.kind = Attribute::Kind::kFloats;
    a.floats = ListFromJs<float>(env, value, vwhat, read_float);
  } else if (kind == "ints") {
    a.kind = Attribute::Kind::kInts;
    a.ints = ListFromJs<int64_t>(env, value, vwhat, read_int);
  } else if (kind == "strings") {
    a.kind = Attribute::Kind::kStrings;
    a.strings = ListFromJs<std::string>(env, value, vwhat, read_string);
  } else {
    ThrowInvalid(env, what + ".kind: unknown attribute kind '" + kind.substr(0, 40) + "'");
  }
  return a;
}

Node NodeFromJs(Napi::Env env, Napi::Value v, const std::string& what) {
  Napi::Object o = AsObject(env, v, what);
  Node n;
  n.name = AsString(env, o.Get("name"), what + ".name");
  n.op_type = AsString(env, o.Get("opType"), what + ".opType");
  n.domain = AsString(env, o.Get("domain"), what + ".domain");
  n.inputs = AsStrings(env, o.Get("inputs"), what + ".inputs");
  n.outputs = AsStrings(env, o.Get("outputs"), what + ".outputs");
  Napi::Array attrs = AsArray(env, o.Get("attributes"), what + ".attributes");
  for (uint32_t i = 0; i < attrs.Length(); ++i) {
    n.attributes.push_back(AttributeFromJs(env, attrs.Get(i), what + ".attributes[" + std::to_string(i) + "]"));
  }
  return n;
}

template <typename T, typename Convert>
std::vector<T> Each(Napi::Env env, Napi::Value v, const std::string& what, Convert convert) {
  Napi::Array a = AsArray(env, v, what);
  std::vector<T> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(convert(env, a.Get(i), what + "[" + std::to_string(i) + "]"));
  return out;
}

}  // namespace

Graph GraphFromJs(Napi::Env env, Napi::Value value) {
  Napi::Object o = AsObject(env, value, "graph");
  Graph g;
  g.opset = ToInteger(env, o.Get("opset"), "graph.opset", 0, 1000);
  g.inputs = Each<ValueInfo>(env, o.Get("inputs"), "graph.inputs", ValueInfoFromJs);
  g.outputs = Each<ValueInfo>(env, o.Get("outputs"), "graph.outputs", ValueInfoFromJs);
  g.initializers = Each<TensorData>(env, o.Get("initializers"), "graph.initializers", TensorFromJs);
  g.nodes = Each<Node>(env, o.Get("nodes"), "graph.nodes", NodeFromJs);
  return g;
}

}  // namespace sluice::addon
