#include "strongroom/observe/metrics.h"

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <variant>

namespace strongroom::observe {
namespace {

enum Type { kCounter, kGauge, kHistogram };

constexpr double kLatencyBuckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                      0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
                                      5,      10};

void AppendDouble(std::string& out, double v) {
  if (std::isinf(v)) {
    out.append(v > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (std::isnan(v)) {
    out.append("NaN");
    return;
  }
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  out.append(buffer, ec == std::errc() ? end : buffer);
}

// Label values escape backslash, double quote and newline (exposition format 0.0.4).
void AppendLabelValue(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') out.append("\\\\");
    else if (c == '"') out.append("\\\"");
    else if (c == '\n') out.append("\\n");
    else out.push_back(c);
  }
}

std::string RenderLabels(const Labels& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(labels[i].first);
    out.append("=\"");
    AppendLabelValue(out, labels[i].second);
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

// `labels` is "{a="b"}" or empty; adds `le` for a histogram bucket.
std::string WithLe(const std::string& labels, std::string_view le) {
  std::string le_label = "le=\"" + std::string(le) + "\"";
  if (labels.empty()) return "{" + le_label + "}";
  return labels.substr(0, labels.size() - 1) + "," + le_label + "}";
}

}  // namespace

Histogram::Histogram(std::span<const double> upper_bounds)
    : bounds_(upper_bounds.begin(), upper_bounds.end()),
      buckets_(new std::atomic<std::uint64_t>[upper_bounds.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<std::uint64_t> Histogram::bucket_counts() const {
  std::vector<std::uint64_t> out(bounds_.size() + 1);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

std::span<const double> DefaultLatencyBuckets() { return kLatencyBuckets; }

struct MetricsRegistry::Series {
  std::string labels;  // rendered once, at registration
  std::variant<std::unique_ptr<Counter>, std::unique_ptr<Gauge>, std::unique_ptr<Histogram>,
               std::function<double()>>
      metric;
};

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  int type;
  std::vector<std::unique_ptr<Series>> series;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Family& MetricsRegistry::FamilyFor(std::string_view name, std::string_view help,
                                                    int type) {
  for (auto& family : families_) {
    if (family->name == name) {
      if (family->type != type) {
        // A programming error caught at start-up: two parts of the code disagree on a metric.
        throw std::logic_error("metric registered twice with different types: " + std::string(name));
      }
      return *family;
    }
  }
  families_.push_back(std::make_unique<Family>(Family{std::string(name), std::string(help), type, {}}));
  return *families_.back();
}

MetricsRegistry::Series& MetricsRegistry::SeriesFor(Family& family, const Labels& labels) {
  std::string rendered = RenderLabels(labels);
  for (auto& series : family.series) {
    if (series->labels == rendered) return *series;
  }
  family.series.push_back(std::make_unique<Series>());
  family.series.back()->labels = std::move(rendered);
  return *family.series.back();
}

Counter& MetricsRegistry::GetCounter(std::string_view name, std::string_view help,
                                     const Labels& labels) {
  std::lock_guard lock(mutex_);
  Series& series = SeriesFor(FamilyFor(name, help, kCounter), labels);
  if (series.metric.index() != 0 || !std::get<0>(series.metric)) {
    series.metric = std::make_unique<Counter>();
  }
  return *std::get<0>(series.metric);
}

Gauge& MetricsRegistry::GetGauge(std::string_view name, std::string_view help,
                                 const Labels& labels) {
  std::lock_guard lock(mutex_);
  Series& series = SeriesFor(FamilyFor(name, help, kGauge), labels);
  if (series.metric.index() != 1) series.metric = std::make_unique<Gauge>();
  return *std::get<1>(series.metric);
}

Histogram& MetricsRegistry::GetHistogram(std::string_view name, std::string_view help,
                                         const Labels& labels,
                                         std::span<const double> upper_bounds) {
  std::lock_guard lock(mutex_);
  Series& series = SeriesFor(FamilyFor(name, help, kHistogram), labels);
  if (series.metric.index() != 2) series.metric = std::make_unique<Histogram>(upper_bounds);
  return *std::get<2>(series.metric);
}

void MetricsRegistry::AddGaugeCallback(std::string_view name, std::string_view help,
                                       std::function<double()> read) {
  std::lock_guard lock(mutex_);
  SeriesFor(FamilyFor(name, help, kGauge), {}).metric = std::move(read);
}

void MetricsRegistry::AddCounterCallback(std::string_view name, std::string_view help,
                                         const Labels& labels, std::function<double()> read) {
  std::lock_guard lock(mutex_);
  SeriesFor(FamilyFor(name, help, kCounter), labels).metric = std::move(read);
}

std::string MetricsRegistry::RenderText() const {
  std::lock_guard lock(mutex_);
  std::string out;
  out.reserve(4096);
  static constexpr const char* kTypeNames[] = {"counter", "gauge", "histogram"};
  for (const auto& family : families_) {
    out.append("# HELP ").append(family->name).append(" ").append(family->help).append("\n");
    out.append("# TYPE ").append(family->name).append(" ").append(kTypeNames[family->type]);
    out.append("\n");
    for (const auto& series : family->series) {
      if (const auto* counter = std::get_if<0>(&series->metric)) {
        out.append(family->name).append(series->labels).append(" ");
        out.append(std::to_string((*counter)->value())).append("\n");
      } else if (const auto* gauge = std::get_if<1>(&series->metric)) {
        out.append(family->name).append(series->labels).append(" ");
        AppendDouble(out, (*gauge)->value());
        out.append("\n");
      } else if (const auto* read = std::get_if<3>(&series->metric)) {
        out.append(family->name).append(series->labels).append(" ");
        AppendDouble(out, (*read)());
        out.append("\n");
      } else if (const auto* histogram = std::get_if<2>(&series->metric)) {
        const Histogram& h = **histogram;
        const auto counts = h.bucket_counts();
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < counts.size(); ++i) {
          cumulative += counts[i];
          std::string le;
          if (i < h.upper_bounds().size()) AppendDouble(le, h.upper_bounds()[i]);
          else le = "+Inf";
          out.append(family->name).append("_bucket").append(WithLe(series->labels, le));
          out.append(" ").append(std::to_string(cumulative)).append("\n");
        }
        out.append(family->name).append("_sum").append(series->labels).append(" ");
        AppendDouble(out, h.sum());
        out.append("\n");
        // _count equals the +Inf bucket by definition; derive it so a scrape is self-consistent
        // even while observations race with rendering.
        out.append(family->name).append("_count").append(series->labels).append(" ");
        out.append(std::to_string(cumulative)).append("\n");
      }
    }
  }
  return out;
}

}  // namespace strongroom::observe

