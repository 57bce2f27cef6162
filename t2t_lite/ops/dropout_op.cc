// T2tDropout: y = x * (uniform >= threshold ? scale : 0) in one pass, the uniforms drawn
// inside the kernel from the same Philox-4x32-10 stream as TensorFlow's
// StatelessRandomUniformFullIntV2 (uint32 words; element i uses the i-th 8- or 16-bit
// piece of them, little-endian, as tf.bitcast splits them). The mask is never stored: the
// gradient is this op again on dy, with the same key and counter.
//
// Built on first use by t2t_lite/ops/build.py. layers/dropout.py runs TensorFlow ops
// instead where it cannot be built, on GPUs and TPUs, and in steps compiled by XLA.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/util/work_sharder.h"

namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "pieces of a word are read in memory order, as tf.bitcast does on x86 and ARM");

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;

// Philox-4x32-10 blocks [first, first + kBlocks) of the stream starting at (counter, key),
// their words in stream order: out[4 b + j] is word j of block first + b. Written as loops
// over independent blocks so the compiler vectorizes the rounds (build.py compiles for the
// CPU it runs on: about 6x TensorFlow's Philox per core with AVX-512).
constexpr int kBlocks = 64;

void PhiloxBlocks(const uint32_t counter[4], const uint32_t key[2], uint64_t first,
                  uint32_t* out) {
  uint32_t c0[kBlocks], c1[kBlocks], c2[kBlocks], c3[kBlocks];
  const uint64_t start_lo = uint64_t{counter[1]} << 32 | counter[0];
  const uint64_t start_hi = uint64_t{counter[3]} << 32 | counter[2];
  for (int b = 0; b < kBlocks; ++b) {
    // The 128-bit counter plus the block's index, with the carry (PhiloxRandom::Skip).
    const uint64_t n = first + b;
    const uint64_t lo = start_lo + n;
    const uint64_t hi = start_hi + (lo < n ? 1 : 0);
    c0[b] = static_cast<uint32_t>(lo);
    c1[b] = static_cast<uint32_t>(lo >> 32);
    c2[b] = static_cast<uint32_t>(hi);
    c3[b] = static_cast<uint32_t>(hi >> 32);
  }
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    for (int b = 0; b < kBlocks; ++b) {
      const uint64_t p0 = uint64_t{0xD2511F53u} * c0[b];
      const uint64_t p1 = uint64_t{0xCD9E8D57u} * c2[b];
      const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1[b] ^ k0;
      const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3[b] ^ k1;
      c1[b] = static_cast<uint32_t>(p1);
      c3[b] = static_cast<uint32_t>(p0);
      c0[b] = n0;
      c2[b] = n2;
    }
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  for (int b = 0; b < kBlocks; ++b) {
    out[4 * b] = c0[b];
    out[4 * b + 1] = c1[b];
    out[4 * b + 2] = c2[b];
    out[4 * b + 3] = c3[b];
  }
}

// out[i] = in[i] * (piece i of words >= threshold ? scale : 0) for i < count: the words
// read as kBits-wide pieces in memory order, as tf.bitcast splits them on this
// (little-endian) CPU.
template <typename T, int kBits>
void ApplyMask(const uint32_t* words, const T* in, T* out, int64_t count,
               uint32_t threshold, T scale) {
  using Piece = typename std::conditional<kBits == 8, uint8_t, uint16_t>::type;
  const Piece* pieces = reinterpret_cast<const Piece*>(words);
  const T zero = static_cast<T>(0.0f);
  for (int64_t i = 0; i < count; ++i) {
    out[i] = in[i] * (pieces[i] >= threshold ? scale : zero);
  }
}

template <typename T>
class DropoutOp : public OpKernel {
 public:
  explicit DropoutOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("threshold", &threshold_));
    OP_REQUIRES_OK(context, context->GetAttr("scale", &scale_));
    OP_REQUIRES_OK(context, context->GetAttr("bits", &bits_));
    OP_REQUIRES(context, bits_ == 8 || bits_ == 16,
                tensorflow::errors::InvalidArgument("bits must be 8 or 16, not ", bits_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& x = context->input(0);
    const Tensor& key_t = context->input(1);
    const Tensor& counter_t = context->input(2);
    OP_REQUIRES(context, key_t.NumElements() == 1 && counter_t.NumElements() == 2,
                tensorflow::errors::InvalidArgument(
                    "key must hold 1 and counter 2 uint64 values (Philox)"));
    const uint64_t key64 = key_t.flat<tensorflow::uint64>()(0);
    const uint64_t c_lo = counter_t.flat<tensorflow::uint64>()(0);
    const uint64_t c_hi = counter_t.flat<tensorflow::uint64>()(1);
    const uint32_t key[2] = {static_cast<uint32_t>(key64), static_cast<uint32_t>(key64 >> 32)};
    const uint32_t counter[4] = {static_cast<uint32_t>(c_lo), static_cast<uint32_t>(c_lo >> 32),
                                 static_cast<uint32_t>(c_hi), static_cast<uint32_t>(c_hi >> 32)};
    Tensor* y = nullptr;
    OP_REQUIRES_OK(context, context->forward_input_or_allocate_output({0}, 0, x.shape(), &y));
    const int64_t n = x.NumElements();
    if (n == 0) return;
    const T* in = x.flat<T>().data();
    T* out = y->flat<T>().data();
    const int per_word = 32 / bits_;
    const int64_t per_chunk = int64_t{kBlocks} * 4 * per_word;  // elements per PhiloxBlocks
    const int64_t chunks = (n + per_chunk - 1) / per_chunk;
    const T scale = static_cast<T>(scale_);
    const uint32_t threshold = static_cast<uint32_t>(threshold_);
    const bool eight = bits_ == 8;
    auto work = [&](int64_t begin, int64_t end) {
      uint32_t words[4 * kBlocks];
      for (int64_t chunk = begin; chunk < end; ++chunk) {
        PhiloxBlocks(counter, key, static_cast<uint64_t>(chunk) * kBlocks, words);
        const int64_t base = chunk * per_chunk;
        const int64_t count = std::min(per_chunk, n - base);
        if (eight) {
          ApplyMask<T, 8>(words, in + base, out + base, count, threshold, scale);
        } else {
          ApplyMask<T, 16>(words, in + base, out + base, count, threshold, scale);
        }
      }
    };
    auto* workers = context->device()->tensorflow_cpu_worker_threads()->workers;
    // Cost per chunk: the Philox rounds plus a read and a write per element.
    tensorflow::Shard(workers->NumThreads(), workers, chunks, per_chunk * 8, work);
  }

 private:
  tensorflow::int64 threshold_;
  float scale_;
  tensorflow::int64 bits_;
};

}  // namespace

REGISTER_OP("T2tDropout")
    .Input("x: T")
    .Input("key: uint64")
    .Input("counter: uint64")
    .Output("y: T")
    .Attr("T: {float, bfloat16, half}")
    .Attr("threshold: int")
    .Attr("scale: float")
    .Attr("bits: int")
    .SetShapeFn(tensorflow::shape_inference::UnchangedShape)
    .Doc("Dropout of x with Philox uniforms of (key, counter); see dropout_op.cc.");

#define REGISTER(T)                                                        \
  REGISTER_KERNEL_BUILDER(                                                 \
      Name("T2tDropout").Device(tensorflow::DEVICE_CPU).TypeConstraint<T>("T"), \
      DropoutOp<T>)
REGISTER(float);
REGISTER(tensorflow::bfloat16);
REGISTER(Eigen::half);
#undef REGISTER
