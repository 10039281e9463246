#pragma once
// Metrics in the Prometheus text exposition format (version 0.0.4).
//
// Hand-written because no Prometheus client library is packaged for Debian 12; the format is a
// small, stable text grammar. A MetricsRegistry owns every metric; callers keep the returned
// references (stable for the registry's lifetime) and update them with relaxed atomics, so the
// hot path never takes a lock. Registering series and rendering take the registry's mutex.
// Thread-safe.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strongroom::observe {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Increment(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `upper_bounds` must be strictly increasing; +Inf is implicit.
  explicit Histogram(std::span<const double> upper_bounds);
  void Observe(double value);

  const std::vector<double>& upper_bounds() const { return bounds_; }
  // Per-bucket (not cumulative) counts; the last one is the +Inf bucket.
  std::vector<std::uint64_t> bucket_counts() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
  std::atomic<std::uint64_t> count_{0};
};

// Latency buckets in seconds, from 100 µs to 10 s.
std::span<const double> DefaultLatencyBuckets();

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Returns the series with these labels, creating it (and its family) on first use. A family's
  // type and help are fixed by its first registration.
  Counter& GetCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& GetGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& GetHistogram(std::string_view name, std::string_view help, const Labels& labels,
                          std::span<const double> upper_bounds);
  // A gauge whose value is read when the registry is rendered (e.g. resident memory).
  void AddGaugeCallback(std::string_view name, std::string_view help, std::function<double()> read);
  // A counter kept elsewhere (e.g. a store's commit count), read when the registry is rendered.
  void AddCounterCallback(std::string_view name, std::string_view help, const Labels& labels,
                          std::function<double()> read);

  std::string RenderText() const;

 private:
  struct Family;
  struct Series;
  Family& FamilyFor(std::string_view name, std::string_view help, int type);
  Series& SeriesFor(Family& family, const Labels& labels);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family>> families_;
};

}  // namespace strongroom::observe
