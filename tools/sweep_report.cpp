#include "tools/sweep_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "qat/atomic_file.h"
#include "qat/json_fields.h"
#include "tools/eval_report.h"
#include "tools/plot.h"
#include "tools/sweep_runner.h"
#include "train/run_record.h"

namespace qat::sweep {
namespace fs = std::filesystem;
namespace {

// A run's record when the file exists; a file that exists but misses a field is an error naming
// the file and the field (a renamed key must not become an empty cell).
template <class T>
std::optional<T> read_record(const fs::path& path) {
  if (!fs::exists(path)) return std::nullopt;
  return read_json_file<T>(path.string());
}

// Seconds of the training phases recorded in summary.json.
std::optional<double> phase_seconds(const std::optional<RunSummary>& s) {
  if (!s) return std::nullopt;
  return s->float_phase.seconds + s->ptq.seconds + s->qat.seconds;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (const char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

template <class T>
std::string num(const std::optional<T>& v, int decimals = -1) {
  if (!v) return "";
  if (decimals < 0) return std::to_string(*v);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, static_cast<double>(*v));
  return buf;
}

std::string bits_label(const std::string& method, int w_bits, int a_bits) {
  if (method == "float") return "float32";
  if (w_bits == a_bits) return "int" + std::to_string(w_bits);
  return "w" + std::to_string(w_bits) + "a" + std::to_string(a_bits);
}

int method_rank(const std::string& m) {
  const auto& names = method_names();
  return static_cast<int>(std::find(names.begin(), names.end(), m) - names.begin());
}

// Numeric when the coordinate is a number, so that 8 sorts before 16.
bool coord_less(const std::string& a, const std::string& b) {
  char* ea = nullptr;
  char* eb = nullptr;
  const double da = std::strtod(a.c_str(), &ea), db = std::strtod(b.c_str(), &eb);
  const bool na = !a.empty() && *ea == '\0', nb = !b.empty() && *eb == '\0';
  if (na && nb) return da < db;
  if (na != nb) return na;
  return a < b;
}

std::optional<double> mean_of(const std::vector<double>& v) {
  if (v.empty()) return std::nullopt;
  return stat_of(v).mean;
}

std::string pct(const Stat& s) {
  if (s.n == 0) return "—";
  char buf[64];
  if (s.n == 1)
    std::snprintf(buf, sizeof buf, "%.2f", 100.0 * s.mean);
  else
    std::snprintf(buf, sizeof buf, "%.2f ± %.2f", 100.0 * s.mean, 100.0 * s.std);
  return buf;
}

std::string integer(const std::optional<double>& v) {
  if (!v) return "—";
  // Thousands separators: memory figures are read by their magnitude.
  std::string digits = std::to_string(std::llround(*v)), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') out += ',';
    out += digits[i];
  }
  return out;
}

std::string duration(const std::optional<double>& seconds) {
  if (!seconds) return "—";
  const long s = std::lround(*seconds);
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%ld s", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  return buf;
}

std::string short_key(const std::string& key) {
  return key.substr(key.rfind('.') + 1);
}

std::string metric_title(const std::string& metric_name) {
  return metric_name == "acc" ? "accuracy" : metric_name.empty() ? "metric" : metric_name;
}

}  // namespace

std::vector<std::string> coordinate_keys(const SweepSpec& spec) {
  std::vector<std::string> keys;
  for (const auto& k : spec.axis_keys)
    if (k != "method" && k != "bits" && k != "w_bits" && k != "a_bits" && k != "seed")
      keys.push_back(k);
  return keys;
}

std::vector<ResultRow> collect_rows(const SweepSpec& spec) {
  std::vector<ResultRow> rows;
  for (const SweepRun& r : spec.runs) {
    if (!r.in_grid) continue;
    ResultRow row;
    row.run_id = r.id;
    for (const auto& a : r.axes)
      if (a.key != "method" && a.key != "bits" && a.key != "w_bits" && a.key != "a_bits" &&
          a.key != "seed")
        row.coords[a.key] = a.value;
    row.method = method_name(r.method);
    row.w_bits = r.w_bits;
    row.a_bits = r.a_bits;
    row.seed = r.seed;

    const fs::path dir = spec.run_dir(r);
    const auto eval = read_record<EvalReport>(dir / "eval.json");
    const auto summary = read_record<RunSummary>(dir / "summary.json");
    if (const auto st = read_job_status((dir / "sweep_status.json").string())) {
      row.status = job_state_name(st->state);
      row.error = st->error;
    } else if (eval && summary) {
      row.status = "done";
    } else {
      row.status = fs::exists(dir) ? "incomplete" : "pending";
    }
    if (eval) {
      row.metric_name = eval->metric_name;
      row.metric = eval->metric;
      row.loss = eval->loss;
      row.fake_quant_metric = eval->fake_quant_metric;
      row.weight_bytes = eval->weight_bytes;
      row.arena_bytes = eval->arena_bytes;
      row.arena_lower_bound = eval->arena_lower_bound;
      row.flash_estimate = eval->flash_estimate;
      row.macs = eval->macs;
      row.parameters = eval->parameters;
    }
    if (row.metric_name.empty() && summary) row.metric_name = summary->metric_name;
    row.own_train_seconds = phase_seconds(summary);
    row.train_seconds = row.own_train_seconds;

    if (!r.float_run.empty()) {
      const SweepRun* f = spec.find(r.float_run);
      const fs::path fdir = spec.run_dir(*f);
      if (const auto fe = read_record<EvalReport>(fdir / "eval.json"))
        row.float_metric = fe->metric;
      const auto fsec = phase_seconds(read_record<RunSummary>(fdir / "summary.json"));
      if (row.train_seconds && fsec) row.train_seconds = *row.train_seconds + *fsec;
    } else if (r.method == Method::kFloat) {
      row.float_metric = row.metric;
    } else if (summary) {
      row.float_metric = summary->float_phase.metric;
    }
    rows.push_back(row);
  }
  return rows;
}

std::string results_csv(const std::vector<std::string>& keys, const std::vector<ResultRow>& rows) {
  std::ostringstream o;
  o << "run_id,status";
  for (const auto& k : keys) o << ',' << csv_field(k);
  o << ",method,w_bits,a_bits,seed,metric_name,metric,fake_quant_metric,float_metric,loss,weight_"
       "bytes,"
       "arena_bytes,arena_lower_bound,flash_estimate,macs,parameters,train_seconds,own_train_"
       "seconds,error\n";
  for (const ResultRow& r : rows) {
    o << csv_field(r.run_id) << ',' << r.status;
    for (const auto& k : keys) o << ',' << csv_field(r.coords.count(k) ? r.coords.at(k) : "");
    o << ',' << r.method << ',' << r.w_bits << ',' << r.a_bits << ',' << r.seed << ','
      << r.metric_name << ',' << num(r.metric, 6) << ',' << num(r.fake_quant_metric, 6) << ','
      << num(r.float_metric, 6) << ',' << num(r.loss, 6) << ',' << num(r.weight_bytes) << ','
      << num(r.arena_bytes) << ',' << num(r.arena_lower_bound) << ',' << num(r.flash_estimate)
      << ',' << num(r.macs) << ',' << num(r.parameters) << ',' << num(r.train_seconds, 1) << ','
      << num(r.own_train_seconds, 1) << ',' << csv_field(r.error) << '\n';
  }
  return o.str();
}

Stat stat_of(const std::vector<double>& v) {
  Stat s;
  s.n = static_cast<int>(v.size());
  if (v.empty()) return s;
  for (const double x : v) s.mean += x;
  s.mean /= s.n;
  if (s.n > 1) {
    double ss = 0.0;
    for (const double x : v) ss += (x - s.mean) * (x - s.mean);
    s.std = std::sqrt(ss / (s.n - 1));
  }
  return s;
}

std::vector<Group> summarize(const std::vector<std::string>& keys,
                             const std::vector<ResultRow>& rows) {
  struct Acc {
    Group g;
    std::vector<double> metric, fq, drop, params, wb, arena, flash, macs, secs;
  };
  std::vector<Acc> accs;
  for (const ResultRow& r : rows) {
    auto it = std::find_if(accs.begin(), accs.end(), [&](const Acc& a) {
      return a.g.coords == r.coords && a.g.method == r.method && a.g.w_bits == r.w_bits &&
             a.g.a_bits == r.a_bits;
    });
    if (it == accs.end()) {
      Acc a;
      a.g.coords = r.coords;
      a.g.method = r.method;
      a.g.w_bits = r.w_bits;
      a.g.a_bits = r.a_bits;
      accs.push_back(a);
      it = accs.end() - 1;
    }
    Group& g = it->g;
    ++g.runs;
    if (g.metric_name.empty()) g.metric_name = r.metric_name;
    if (r.status != "done" || !r.metric) continue;
    it->metric.push_back(*r.metric);
    if (r.fake_quant_metric) it->fq.push_back(*r.fake_quant_metric);
    if (r.float_metric && r.method != "float") it->drop.push_back(*r.float_metric - *r.metric);
    const auto add = [](std::vector<double>& v, const auto& x) {
      if (x) v.push_back(static_cast<double>(*x));
    };
    add(it->params, r.parameters);
    add(it->wb, r.weight_bytes);
    add(it->arena, r.arena_bytes);
    add(it->flash, r.flash_estimate);
    add(it->macs, r.macs);
    add(it->secs, r.train_seconds);
  }
  std::vector<Group> groups;
  for (Acc& a : accs) {
    a.g.metric = stat_of(a.metric);
    a.g.fake_quant = stat_of(a.fq);
    a.g.drop = stat_of(a.drop);
    a.g.parameters = mean_of(a.params);
    a.g.weight_bytes = mean_of(a.wb);
    a.g.arena_bytes = mean_of(a.arena);
    a.g.flash_estimate = mean_of(a.flash);
    a.g.macs = mean_of(a.macs);
    a.g.train_seconds = mean_of(a.secs);
    groups.push_back(a.g);
  }
  const auto coord = [](const Group& g, const std::string& k) {
    return g.coords.count(k) ? g.coords.at(k) : "";
  };
  std::stable_sort(groups.begin(), groups.end(), [&](const Group& a, const Group& b) {
    if (coord(a, "filters") != coord(b, "filters"))
      return coord_less(coord(a, "filters"), coord(b, "filters"));
    if (a.method != b.method) return method_rank(a.method) < method_rank(b.method);
    if (a.w_bits != b.w_bits) return a.w_bits > b.w_bits;
    if (a.a_bits != b.a_bits) return a.a_bits > b.a_bits;
    for (const auto& k : keys)
      if (coord(a, k) != coord(b, k)) return coord_less(coord(a, k), coord(b, k));
    return false;
  });
  return groups;
}

std::string variant_label(const Group& g) {
  std::string s =
      g.method == "float" ? "float32" : g.method + " " + bits_label(g.method, g.w_bits, g.a_bits);
  for (const auto& [k, v] : g.coords)
    if (k != "filters") s += " " + short_key(k) + "=" + v;
  return s;
}

std::string summary_markdown(const std::string& title, const std::vector<std::string>& keys,
                             const std::vector<Group>& groups, const std::vector<ResultRow>& rows) {
  const int done = static_cast<int>(std::count_if(
      rows.begin(), rows.end(), [](const ResultRow& r) { return r.status == "done"; }));
  const int failed = static_cast<int>(std::count_if(
      rows.begin(), rows.end(), [](const ResultRow& r) { return r.status == "failed"; }));
  const std::string metric =
      groups.empty() || groups[0].metric_name.empty() ? "metric" : groups[0].metric_name;
  std::ostringstream o;
  o << "# Sweep " << title << "\n\n"
    << done << "/" << rows.size() << " runs done"
    << (failed ? ", " + std::to_string(failed) + " failed" : "") << ".\n\n"
    << "`" << metric
    << "`: the integer engine (C kernels) for quantized models, the float forward for float32; "
    << "fake-quant: the float32 fake-quantized forward. Mean ± sample std over seeds (n = finished "
       "runs / runs), "
    << "in %. Drop: the float model's " << metric
    << " minus this one's, per seed, in percentage points. "
    << "Memory in bytes (float32: 4 per parameter); flash = weights + a fixed allowance for kernel "
       "code "
    << "and parameter structs (docs/CONFIG.md, Sweeps).\n\n";
  o << "|";
  for (const auto& k : keys) o << ' ' << k << " |";
  o << " method | bits | n | " << metric
    << " (%) | fake-quant (%) | drop vs float (pp) | params | weights (B) | "
    << "arena (B) | flash est. (B) | MACs | train time |\n|";
  for (size_t i = 0; i < keys.size() + 12; ++i)
    o << (i == keys.size() || i == keys.size() + 1 ? " --- |" : " ---: |");
  o << "\n";
  for (const Group& g : groups) {
    o << "|";
    for (const auto& k : keys) o << ' ' << (g.coords.count(k) ? g.coords.at(k) : "") << " |";
    char drop[32] = "—";
    if (g.drop.n > 0) std::snprintf(drop, sizeof drop, "%+.2f", 100.0 * g.drop.mean);
    o << ' ' << g.method << " | " << bits_label(g.method, g.w_bits, g.a_bits) << " | " << g.metric.n
      << "/" << g.runs << " | " << pct(g.metric) << " | " << pct(g.fake_quant) << " | " << drop
      << " | " << integer(g.parameters) << " | " << integer(g.weight_bytes) << " | "
      << integer(g.arena_bytes) << " | " << integer(g.flash_estimate) << " | " << integer(g.macs)
      << " | " << duration(g.train_seconds) << " |\n";
  }
  std::vector<const ResultRow*> bad;
  for (const ResultRow& r : rows)
    if (r.status != "done") bad.push_back(&r);
  if (!bad.empty()) {
    o << "\n## Runs without a result\n\n";
    for (const ResultRow* r : bad)
      o << "* `" << r->run_id << "`: " << r->status << (r->error.empty() ? "" : ": " + r->error)
        << "\n";
  }
  return o.str();
}

namespace {

// acc_vs_flash.png: accuracy against the flash of the export (weights and constants exactly,
// kernel code estimated; eval.json's flash_estimate), one series per method family drawn as its
// Pareto front: the runs that no cheaper run of the family beats. Runs with a memory budget form
// one family per method and budget.order ("qat-pow2 mixed, levels"; without an order axis
// "qat-pow2 mixed (budget)") across sizes and budgets.
std::string pareto_figure(const std::string& dir, const std::string& title,
                          const std::string& metric, const std::vector<Group>& groups) {
  std::map<std::string, std::vector<plot::Point>> families;
  std::vector<std::string> order;
  for (const Group& g : groups) {
    if (!g.flash_estimate || g.metric.n == 0) continue;
    const bool budgeted = std::any_of(g.coords.begin(), g.coords.end(), [](const auto& kv) {
      return kv.first.rfind("budget.", 0) == 0;
    });
    std::string family = variant_label(g);
    if (budgeted) {
      const auto order = g.coords.find("budget.order");
      family =
          g.method + (order != g.coords.end() && !order->second.empty() ? " mixed, " + order->second
                                                                        : " mixed (budget)");
    }
    if (!families.count(family)) order.push_back(family);
    families[family].push_back({*g.flash_estimate, 100.0 * g.metric.mean, 100.0 * g.metric.std});
  }
  plot::LinePlot p;
  p.title = title + ": " + metric + " vs flash, Pareto front per method";
  p.x_label = "flash of the export in bytes (weights exact, kernel code estimated; log scale)";
  p.y_label = metric + " (%)";
  p.log_x = true;
  for (const auto& name : order) {
    auto pts = families[name];
    std::sort(pts.begin(), pts.end(), [](const plot::Point& a, const plot::Point& b) {
      return a.x < b.x || (a.x == b.x && a.y > b.y);
    });
    plot::Series s{name, {}};
    double best = -1e300;
    for (const auto& pt : pts)
      if (pt.y > best) {
        s.points.push_back(pt);
        best = pt.y;
      }
    p.series.push_back(s);
  }
  if (p.series.empty() || families.size() < 2) return "";
  const std::string path = (fs::path(dir) / "acc_vs_flash.png").string();
  plot::write_png(p, path);
  return path;
}

}  // namespace

std::vector<std::string> write_plots(const std::string& dir, const std::string& title,
                                     const std::vector<Group>& groups) {
  const std::string metric = metric_title(groups.empty() ? "" : groups[0].metric_name);
  std::vector<std::string> labels;  // series in order of first appearance
  for (const Group& g : groups)
    if (std::find(labels.begin(), labels.end(), variant_label(g)) == labels.end())
      labels.push_back(variant_label(g));
  // One figure, x taken from each group by `x_of`, one series per variant.
  const auto figure = [&](const std::string& name, const std::string& x_label, bool log_x,
                          const auto& x_of, const std::vector<double>& x_ticks) {
    plot::LinePlot p;
    p.x_ticks = x_ticks;
    // Methods share the filter counts; memory differs per method anyway.
    p.dodge = log_x ? 0 : 6;
    p.title = title + ": " + metric + " vs " + x_label;
    p.x_label = x_label + (log_x ? " (log scale)" : "");
    p.y_label = metric + " (%)";
    p.log_x = log_x;
    for (const auto& label : labels) {
      plot::Series s{label, {}};
      for (const Group& g : groups) {
        const std::optional<double> x = x_of(g);
        if (variant_label(g) == label && g.metric.n > 0 && x)
          s.points.push_back({*x, 100.0 * g.metric.mean, 100.0 * g.metric.std});
      }
      if (!s.points.empty()) p.series.push_back(s);
    }
    if (p.series.empty()) return std::string();
    const std::string path = (fs::path(dir) / name).string();
    plot::write_png(p, path);
    return path;
  };
  std::vector<std::string> written;
  const bool has_filters = std::any_of(groups.begin(), groups.end(),
                                       [](const Group& g) { return g.coords.count("filters"); });
  if (has_filters) {
    const auto filters_of = [](const Group& g) -> std::optional<double> {
      if (!g.coords.count("filters")) return std::nullopt;
      return std::strtod(g.coords.at("filters").c_str(), nullptr);
    };
    // Ticks at the filter counts of the sweep (a handful of integers), not at 4.5.
    std::vector<double> ticks;
    for (const Group& g : groups)
      if (const auto x = filters_of(g);
          x && std::find(ticks.begin(), ticks.end(), *x) == ticks.end())
        ticks.push_back(*x);
    if (ticks.size() > 16) ticks.clear();
    const std::string f = figure("acc_vs_filters.png", "filters", false, filters_of, ticks);
    if (!f.empty()) written.push_back(f);
  }
  const std::string m = figure(
      "acc_vs_memory.png", "parameter memory in bytes", true,
      [](const Group& g) { return g.weight_bytes; }, std::vector<double>{});
  if (!m.empty()) written.push_back(m);
  const std::string f = pareto_figure(dir, title, metric, groups);
  if (!f.empty()) written.push_back(f);
  return written;
}

void write_report(const SweepSpec& spec, const std::vector<ResultRow>& rows) {
  const fs::path out(spec.output);
  fs::create_directories(out);
  const auto keys = coordinate_keys(spec);
  const auto groups = summarize(keys, rows);
  write_file_atomic((out / "results.csv").string(), results_csv(keys, rows));
  write_file_atomic((out / "summary.md").string(), summary_markdown(spec.name, keys, groups, rows));
  for (const auto& f : write_plots(out.string(), spec.name, groups)) spdlog::info("wrote {}", f);
}

}  // namespace qat::sweep
