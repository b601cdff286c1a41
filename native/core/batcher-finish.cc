// The batch side of the Batcher: gathering a taken batch's inputs into contiguous storage,
// splitting a source's outputs back per request, and finishing the batch (counters, records,
// one delivery to the sink).
#include <cstring>
#include <string>
#include <utility>

#include "batcher-internal.h"
#include "sluice/batcher.h"

namespace sluice {
namespace {

void CopyBytes(uint8_t* dst, const uint8_t* src, size_t n) {
  if (n > 0) std::memcpy(dst, src, n);  // memcpy with a null source is undefined even for 0
}

}  // namespace

Status Batcher::Gather(Batch* b, TakenBatch* out) {
  const int64_t start = MonotonicNowNs();
  const Record& first = *b->records.front();
  out->id = b->id();
  out->rows = b->rows;
  out->requests = b->records.size();
  out->inputs.resize(config_.input_element_sizes.size());
  for (size_t i = 0; i < out->inputs.size(); ++i) {
    const int64_t* first_dims = first.input_dims(i);
    const size_t rank = first.inputs[i].rank;
    size_t total = 0;
    for (const Record* r : b->records) {
      // Requests share a batch when their row-shape hashes agree; a collision must not mix
      // shapes, so the shapes themselves are compared here.
      if (!SameRowShape(first_dims, rank, r->input_dims(i), r->inputs[i].rank)) {
        return Internal(input_labels_[i] + ": requests with different shapes hashed alike; " +
                        "their batch is failed rather than mixed");
      }
      total += r->inputs[i].byte_size;
    }
    ByteBlock& block = *b->storage[i];
    block.Resize(total);
    size_t offset = 0;
    for (const Record* r : b->records) {
      CopyBytes(block.data() + offset, r->inputs[i].data, r->inputs[i].byte_size);
      offset += r->inputs[i].byte_size;
    }
    BatchInput& in = out->inputs[i];
    in.data = block.data();
    in.byte_size = total;
    in.storage = b->storage[i];
    in.dims.assign(first_dims, first_dims + rank);
    if (config_.has_batch_dim) in.dims[0] = b->rows;
  }
  b->gather_ns = MonotonicNowNs() - start;
  return Status::Ok();
}

Status Batcher::Split(const Batch& b, const TensorRef* outputs, CompletionBatch* out) const {
  const size_t n_out = config_.output_element_sizes.size();
  // Rows and bytes per row of each output, checked before anything is copied.
  size_t total = 0;
  for (size_t k = 0; k < n_out; ++k) {
    const TensorRef& t = outputs[k];
    if (t.byte_size > 0 && t.data == nullptr) {
      return InvalidArgument(output_labels_[k] + ": no data");
    }
    if (config_.has_batch_dim && (t.rank == 0 || t.dims[0] != b.rows)) {
      return InvalidArgument(output_labels_[k] + ": dim 0 must be the batch's " +
                             std::to_string(b.rows) + " rows, got " +
                             (t.rank == 0 ? std::string("a scalar") : std::to_string(t.dims[0])));
    }
    RETURN_IF_ERROR(CheckTensorBytes(t, config_.output_element_sizes[k], output_labels_[k]));
    total += t.byte_size;
  }
  auto block = std::make_shared<ByteBlock>(total);
  size_t base = 0;
  out->output_count = n_out;
  out->requests.resize(b.records.size());
  out->outputs.resize(b.records.size() * n_out);
  for (size_t k = 0; k < n_out; ++k) {
    const TensorRef& t = outputs[k];
    CopyBytes(block->data() + base, t.data, t.byte_size);
    const uint32_t element_size = config_.output_element_sizes[k];
    int64_t row_elements = 1;
    if (config_.has_batch_dim) (void)ElementCount(t.dims + 1, t.rank - 1, "", &row_elements);
    size_t offset = 0;  // within this output
    for (size_t j = 0; j < b.records.size(); ++j) {
      const Record& r = *b.records[j];
      OutputSlice& slice = out->outputs[j * n_out + k];
      slice.offset = base + offset;
      slice.dims_begin = out->dims.size();
      slice.rank = t.rank;
      if (config_.has_batch_dim) {
        slice.byte_size = ElementBytes(t.data + offset, element_size, r.rows * row_elements);
        out->dims.push_back(r.rows);
        out->dims.insert(out->dims.end(), t.dims + 1, t.dims + t.rank);
      } else {
        slice.byte_size = t.byte_size;  // one request per batch: the whole tensor
        out->dims.insert(out->dims.end(), t.dims, t.dims + t.rank);
      }
      offset += slice.byte_size;
    }
    base += t.byte_size;
  }
  for (size_t j = 0; j < b.records.size(); ++j) {
    const Record& r = *b.records[j];
    CompletedRequest& c = out->requests[j];
    c.request_id = r.id();
    c.owner = r.owner;
    c.status = Status::Ok();
    c.batch_rows = b.rows;
    c.queue_ns = b.taken_ns - r.arrival_ns;
    c.outputs_begin = j * n_out;
  }
  out->data = std::move(block);
  return Status::Ok();
}

void Batcher::FailInto(const Batch& b, const Status& status, CompletionBatch* out) const {
  out->Clear();
  out->requests.resize(b.records.size());
  for (size_t j = 0; j < b.records.size(); ++j) {
    const Record& r = *b.records[j];
    CompletedRequest& c = out->requests[j];
    c.request_id = r.id();
    c.owner = r.owner;
    c.status = status;
    c.batch_rows = b.rows;
    c.queue_ns = b.taken_ns - r.arrival_ns;
  }
}

Status Batcher::Complete(BatchId id, const TensorRef* outputs, size_t output_count,
                         const BatchTimings& timings) {
  return Finish(id, outputs, output_count, timings, nullptr);
}

Status Batcher::Fail(BatchId id, Status status) {
  if (status.ok()) status = Internal(config_.name + ": a batch source failed a batch with OK");
  return Finish(id, nullptr, 0, BatchTimings(), &status);
}

Status Batcher::Finish(BatchId id, const TensorRef* outputs, size_t output_count,
                       const BatchTimings& timings, const Status* failure) {
  Batch* b;
  {
    std::lock_guard<std::mutex> lock(mu_);
    b = FindBatch(id, Batch::kExecuting);
    if (b == nullptr) {
      return NotFound(config_.name + ": batch " + std::to_string(id) +
                      " is not running (already completed or failed, or never taken)");
    }
    b->state = Batch::kFinishing;  // a second Complete/Fail now finds nothing
  }
  std::unique_ptr<CompletionBatch> done = pool_->Take();
  Status result;
  if (failure != nullptr) {
    FailInto(*b, *failure, done.get());
  } else {
    if (output_count != config_.output_element_sizes.size() ||
        (output_count > 0 && outputs == nullptr)) {
      result = InvalidArgument(config_.name + ": expected " +
                               std::to_string(config_.output_element_sizes.size()) +
                               " outputs, got " + std::to_string(output_count));
    } else {
      result = Split(*b, outputs, done.get());
    }
    if (!result.ok()) {
      FailInto(*b, Internal("the backend's outputs do not fit the batch: " + result.message()),
               done.get());
    }
  }
  BatchTimings total = timings;
  total.compute_input_ns += b->gather_ns;
  if (failure == nullptr && result.ok()) done->timings = total;
  const int64_t now = MonotonicNowNs();
  {
    std::lock_guard<std::mutex> lock(mu_);
    FinishBatch(b, failure == nullptr && result.ok(), total);
    wait_.Touch(now);  // the source that finished it usually asks for the next one now
  }
  sink_->Deliver(std::move(done));
  return result;
}

void Batcher::FinishBatch(Batch* b, bool ok, const BatchTimings& t) {
  const uint64_t n = b->records.size();
  counters_.executing -= n;
  if (ok) {
    counters_.requests_succeeded += n;
    counters_.inference_count += static_cast<uint64_t>(b->rows);
    ++counters_.execution_count;
    for (const Record* r : b->records) counters_.queue_ns += b->taken_ns - r->arrival_ns;
    const int64_t requests = static_cast<int64_t>(n);
    counters_.compute_input_ns += t.compute_input_ns * requests;
    counters_.compute_infer_ns += t.compute_infer_ns * requests;
    counters_.compute_output_ns += t.compute_output_ns * requests;
    BatchSizeStats& stats = stats_[b->rows];  // allocates only for a batch size seen first
    stats.batch_size = b->rows;
    ++stats.count;
    stats.compute_input_ns += t.compute_input_ns;
    stats.compute_infer_ns += t.compute_infer_ns;
    stats.compute_output_ns += t.compute_output_ns;
  } else {
    counters_.requests_failed += n;
  }
  for (Record* r : b->records) FreeRecord(r);
  b->records.clear();
  constexpr size_t kMaxSpareStorage = 256;
  for (std::shared_ptr<ByteBlock>& block : b->storage) {
    if (block != nullptr && spare_storage_.size() < kMaxSpareStorage) {
      spare_storage_.push_back(std::move(block));
    }
    block.reset();
  }
  b->state = Batch::kFree;
  b->generation = NextGeneration(b->generation);
  free_batches_.push_back(b->slot);
}

}  // namespace sluice
