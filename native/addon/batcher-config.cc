#include "batcher-config.h"

#include <cstdlib>
#include <string>

#include "js-convert.h"

namespace sluice::addon {
namespace {

constexpr int64_t kMaxInt32 = 2147483647;

Napi::Array ArrayField(Napi::Env env, Napi::Object obj, const char* name,
                       const std::string& where) {
  Napi::Value v = obj.Get(name);
  if (!v.IsArray()) ThrowInvalid(env, where + "." + name + " must be an array");
  return v.As<Napi::Array>();
}

bool BoolField(Napi::Env env, Napi::Object obj, const char* name, const std::string& where) {
  Napi::Value v = obj.Get(name);
  if (!v.IsBoolean()) ThrowInvalid(env, where + "." + name + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

int64_t IntField(Napi::Env env, Napi::Object obj, const char* name, const std::string& where,
                 int64_t min, int64_t max) {
  const std::string what = where + "." + name;
  return ToInteger(env, obj.Get(name), what.c_str(), min, max);
}

void ParseTensors(Napi::Env env, Napi::Object config, const char* field,
                  std::vector<std::string>* names, std::vector<uint32_t>* sizes) {
  Napi::Array list = ArrayField(env, config, field, "config");
  for (uint32_t i = 0; i < list.Length(); ++i) {
    const std::string where = std::string("config.") + field + "[" + std::to_string(i) + "]";
    Napi::Value entry = list.Get(i);
    if (!entry.IsObject()) ThrowInvalid(env, where + " must be an object");
    Napi::Object t = entry.As<Napi::Object>();
    Napi::Value name = t.Get("name");
    if (!name.IsString()) ThrowInvalid(env, where + ".name must be a string");
    names->push_back(name.As<Napi::String>().Utf8Value());
    sizes->push_back(static_cast<uint32_t>(IntField(env, t, "elementSize", where, 0, 1024)));
  }
}

QueuePolicy ParseQueuePolicy(Napi::Env env, Napi::Value value, const std::string& where) {
  if (!value.IsObject()) ThrowInvalid(env, where + " must be an object");
  Napi::Object p = value.As<Napi::Object>();
  QueuePolicy policy;
  Napi::Value action = p.Get("timeoutAction");
  const std::string a = action.IsString() ? action.As<Napi::String>().Utf8Value() : "";
  if (a == "REJECT") {
    policy.timeout_action = TimeoutAction::kReject;
  } else if (a == "DELAY") {
    policy.timeout_action = TimeoutAction::kDelay;
  } else {
    ThrowInvalid(env, where + ".timeoutAction must be 'REJECT' or 'DELAY'");
  }
  policy.default_timeout_us = IntField(env, p, "defaultTimeoutUs", where, 0, kMaxSafeInteger);
  policy.allow_timeout_override = BoolField(env, p, "allowTimeoutOverride", where);
  policy.max_queue_size =
      static_cast<uint32_t>(IntField(env, p, "maxQueueSize", where, 0, 0xffffffffLL));
  return policy;
}

}  // namespace

BatcherConfig ParseBatcherConfig(Napi::Env env, Napi::Value value) {
  if (!value.IsObject()) ThrowInvalid(env, "createBatcher: config must be an object");
  Napi::Object c = value.As<Napi::Object>();
  BatcherConfig config;
  Napi::Value name = c.Get("name");
  if (!name.IsString()) ThrowInvalid(env, "config.name must be a string");
  config.name = name.As<Napi::String>().Utf8Value();
  const std::string where = "config";
  config.policy.max_batch_size = IntField(env, c, "maxBatchSize", where, 1, kMaxInt32);
  config.has_batch_dim = BoolField(env, c, "hasBatchDim", where);
  config.dynamic = BoolField(env, c, "dynamic", where);
  config.policy.max_queue_delay_us = IntField(env, c, "maxQueueDelayUs", where, 0, kMaxSafeInteger);
  Napi::Array preferred = ArrayField(env, c, "preferredBatchSizes", where);
  for (uint32_t i = 0; i < preferred.Length(); ++i) {
    config.policy.preferred_batch_sizes.push_back(
        ToInteger(env, preferred.Get(i), "config.preferredBatchSizes[]", 1, kMaxInt32));
  }
  config.policy.priority_levels =
      static_cast<uint32_t>(IntField(env, c, "priorityLevels", where, 0, 1 << 20));
  config.policy.default_priority_level =
      static_cast<uint32_t>(IntField(env, c, "defaultPriorityLevel", where, 0, 1 << 20));
  Napi::Array policies = ArrayField(env, c, "queuePolicies", where);
  config.policy.queue_policies.clear();
  for (uint32_t i = 0; i < policies.Length(); ++i) {
    config.policy.queue_policies.push_back(
        ParseQueuePolicy(env, policies.Get(i), "config.queuePolicies[" + std::to_string(i) + "]"));
  }
  ParseTensors(env, c, "inputs", &config.input_names, &config.input_element_sizes);
  ParseTensors(env, c, "outputs", &config.output_names, &config.output_element_sizes);
  // The sources' spin budget (source-wait.h); 0 = never spin. The model's own setting first,
  // else the process-wide SLUICE_BATCHER_SPIN_US, else the default.
  if (Napi::Value spin = c.Get("idleSpinUs"); !spin.IsUndefined()) {
    config.spin_ns = ToInteger(env, spin, "config.idleSpinUs", 0, 1'000'000) * 1000;
  } else if (const char* spin = std::getenv("SLUICE_BATCHER_SPIN_US"); spin != nullptr && *spin != '\0') {
    char* end = nullptr;
    const long long us = std::strtoll(spin, &end, 10);
    if (*end == '\0' && us >= 0 && us <= 1'000'000) config.spin_ns = us * 1000;
  }
  return config;
}

}  // namespace sluice::addon
