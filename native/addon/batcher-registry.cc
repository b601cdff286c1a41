#include "batcher-registry.h"

#include <iterator>
#include <mutex>
#include <unordered_map>

namespace sluice::addon {
namespace {

struct Registry {
  std::mutex mu;
  uint32_t next_id = 1;
  std::unordered_map<uint32_t, std::weak_ptr<Batcher>> batchers;
};

// Never destroyed: worker threads may still look ids up while the process exits.
Registry& TheRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

}  // namespace

uint32_t RegisterBatcher(const std::shared_ptr<Batcher>& batcher) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  // Drop the entries of batchers that are gone, so that creating and releasing batchers for
  // the life of the process (model reloads) does not grow the map. O(batchers), per creation.
  for (auto it = r.batchers.begin(); it != r.batchers.end();) {
    it = it->second.expired() ? r.batchers.erase(it) : std::next(it);
  }
  const uint32_t id = r.next_id++;
  r.batchers.emplace(id, batcher);
  return id;
}

std::shared_ptr<Batcher> FindBatcher(uint32_t id) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.batchers.find(id);
  if (it == r.batchers.end()) return nullptr;
  std::shared_ptr<Batcher> batcher = it->second.lock();
  if (batcher == nullptr) r.batchers.erase(it);
  return batcher;
}

void UnregisterBatcher(uint32_t id) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.batchers.erase(id);
}

}  // namespace sluice::addon
