// corvid._corvid: the pybind11 binding of libcorvid that the pure-Python package `corvid`
// (python/corvid/__init__.py) builds its API on. It binds Graph, Value, the generic op, grad,
// the optimizers, the op table (for generating one Python function per op), NumPy arrays in and out through the
// buffer protocol, and libcorvid's exceptions as Python exception classes. Every call that may
// wait for the server releases the GIL.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "corvid/corvid.hpp"

namespace py = pybind11;
using namespace corvid;

namespace {

// A Value and the Python Graph object it points into, which it keeps alive (a C++ Value must
// not outlive its Graph).
struct PyValue {
  Value value;
  py::object graph;
};

// The Python object of a Graph that Python created (pybind11 finds the existing instance).
py::object graph_object(Graph& graph) { return py::cast(&graph, py::return_value_policy::reference); }

PyValue wrap(const Value& v) { return PyValue{v, graph_object(v.graph())}; }

// An optimizer and the Python Value objects whose C++ Values it rebinds at each step.
struct PyOptimizer {
  std::unique_ptr<Optimizer> optimizer;
  py::list params;  // keeps the Value objects (and their graph) alive
};

// A PyOptimizer over `params` (Value objects), made by `make` from references to their Values.
template <class Make>
PyOptimizer make_optimizer(const py::list& params, Make&& make) {
  PyOptimizer o;
  Optimizer::ParamRefs refs;
  for (const auto& p : params) {
    if (!py::isinstance<PyValue>(p)) throw py::type_error("corvid: optimizer parameters must be Values");
    refs.emplace_back(p.cast<PyValue&>().value);
    o.params.append(p);
  }
  o.optimizer = make(std::move(refs));
  return o;
}

// ---- NumPy <-> Tensor, one memcpy each way ----

py::dtype numpy_dtype(DType dtype) {
  switch (dtype) {
    case DType::f32: return py::dtype::of<float>();
    case DType::f64: return py::dtype::of<double>();
    case DType::i32: return py::dtype::of<int32_t>();
    case DType::boolean: return py::dtype::of<bool>();
  }
  throw std::logic_error("numpy_dtype: invalid dtype");
}

// The Corvid dtype of a buffer's element format, or throws TypeError naming the format.
DType dtype_of_buffer(const py::buffer_info& info) {
  const std::string& f = info.format;
  const char c = f.empty() ? 0 : f.back();  // formats may carry a byte-order prefix ("<f")
  if (info.itemsize == 4 && c == 'f') return DType::f32;
  if (info.itemsize == 8 && c == 'd') return DType::f64;
  if (info.itemsize == 4 && (c == 'i' || c == 'l')) return DType::i32;
  if (info.itemsize == 1 && c == '?') return DType::boolean;
  throw py::type_error("corvid: unsupported element format '" + f +
                       "' (Corvid's dtypes are float32, float64, int32 and bool)");
}

// A Tensor holding a copy of a buffer (any strides: a non-contiguous buffer is made contiguous
// by NumPy first).
Tensor tensor_from_buffer(const py::buffer& buffer) {
  py::array array = py::array::ensure(buffer, py::array::c_style);
  if (!array) throw py::error_already_set();
  py::buffer_info info = array.request();
  Shape shape(info.shape.begin(), info.shape.end());
  Tensor t(dtype_of_buffer(info), shape);
  if (t.nbytes()) std::memcpy(t.raw(), info.ptr, t.nbytes());
  return t;
}

// An ndarray that owns `t`'s buffer (no copy): the Tensor moves into the array's base capsule.
py::array array_from_tensor(Tensor t) {
  auto* owned = new Tensor(std::move(t));
  py::capsule base(owned, [](void* p) { delete static_cast<Tensor*>(p); });
  std::vector<py::ssize_t> shape(owned->shape().begin(), owned->shape().end());
  std::vector<py::ssize_t> strides;
  for (int64_t s : strides_of(owned->shape())) strides.push_back(s * static_cast<py::ssize_t>(dtype_size(owned->dtype())));
  return py::array(numpy_dtype(owned->dtype()), shape, strides, owned->raw(), base);
}

std::vector<Value> values_of(const std::vector<PyValue>& values) {
  std::vector<Value> out;
  for (const auto& v : values) out.push_back(v.value);
  return out;
}

// Params arrive as a JSON string from Python (json.dumps of a dict).
Params parse_params(const std::string& json) { return json.empty() ? Params::object() : Params::parse(json); }

py::dict report_dict(const Report& r) {
  py::list failed;
  for (const auto& f : r.failed) failed.append(py::dict(py::arg("id") = f.id, py::arg("op") = f.op, py::arg("error") = f.error));
  std::ostringstream text;
  text << r;
  py::object verification = py::none();
  if (const auto& v = r.verification)
    verification = py::dict(py::arg("policy") = v->policy, py::arg("replicated") = v->replicated,
                            py::arg("spot_checked") = v->spot_checked, py::arg("disagreements") = v->disagreements,
                            py::arg("wrong") = v->wrong, py::arg("quarantines") = v->quarantines);
  return py::dict(py::arg("graph_id") = r.graph_id, py::arg("status") = r.status, py::arg("counts") = r.counts,
                  py::arg("total") = r.total, py::arg("failed") = failed, py::arg("verification") = verification,
                  py::arg("text") = text.str());
}

py::list op_table_list() {
  py::list ops;
  for (const OpDef& def : op_table()) {
    py::dict d;
    d["name"] = std::string(def.name);
    py::list aliases;
    for (auto a : def.aliases) aliases.append(std::string(a));
    d["aliases"] = aliases;
    d["min_inputs"] = def.min_inputs;
    d["max_inputs"] = def.max_inputs;
    d["family"] = std::string(family_name(def.family));
    py::list params;
    for (const auto& p : def.params)
      params.append(py::make_tuple(std::string(p.name), std::string(param_type_name(p.type)), std::string(p.meaning)));
    d["params"] = params;
    ops.append(d);
  }
  return ops;
}

// Raises `cls(message)` with extra attributes set on the exception object.
void raise_with(const py::object& cls, const char* message, const py::dict& attrs) {
  py::object e = cls(message);
  for (auto item : attrs) py::setattr(e, item.first, item.second);
  PyErr_SetObject(cls.ptr(), e.ptr());
}

// A MapJob with its Python Graph and template kept alive, and the first Python exception a
// callback raised (the job is cancelled then, and run() raises it once the job has stopped).
struct PyMapJob {
  py::object graph;
  py::object fn;
  std::unique_ptr<MapJob> job;
  std::optional<py::error_already_set> error;

  // Calls a Python callback from run() (the GIL released around it); an exception, or Ctrl-C,
  // stops the job.
  template <class... Args>
  void call(const py::object& callback, Args&&... args) {
    py::gil_scoped_acquire gil;
    if (error) return;
    try {
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
      if (!callback.is_none()) callback(std::forward<Args>(args)...);
      return;
    } catch (py::error_already_set& e) {
      error = std::move(e);
    }
    job->cancel();
  }
};

py::dict status_dict(const MapStatus& s) {
  return py::dict(py::arg("slices") = s.slices, py::arg("distributed") = s.distributed, py::arg("computed") = s.computed,
                  py::arg("failed") = s.failed, py::arg("ops_running") = s.ops_running,
                  py::arg("ops_pending") = s.ops_pending, py::arg("ops_total") = s.ops_total);
}

// Runs `work` (a call of `graph` that waits for the server) on a helper thread with the GIL
// released, while this thread checks for Python signals every 100 ms: on Ctrl-C it interrupts
// the graph's wait and raises KeyboardInterrupt. Exceptions of `work` are rethrown here.
template <class Work>
auto blocking(Graph& graph, Work work) -> decltype(work()) {
  struct Clear {  // an interrupt that came after the wait ended must not stop the next one
    Graph& g;
    ~Clear() { g.clear_interrupt(); }
  } clear{graph};
  std::optional<py::error_already_set> signal;
  auto done = std::async(std::launch::async, std::move(work));
  {
    py::gil_scoped_release release;
    while (done.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
      if (!signal) {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) signal.emplace();
      }
      if (signal) graph.interrupt();  // again until the wait sees it (the session may be new)
    }
  }
  if (!signal) return done.get();
  try {
    done.get();
  } catch (const std::exception&) {  // RequestStopped, as asked
  }
  throw std::move(*signal);
}

}  // namespace

PYBIND11_MODULE(_corvid, m) {
  m.doc() = "Corvid's libcorvid binding; use the `corvid` package, which builds on it.";

  // ---- exceptions: CorvidError and its subclasses, with the op named ----
  static py::exception<std::runtime_error> base(m, "CorvidError", PyExc_RuntimeError);
  static py::exception<OpFailed> op_failed(m, "OpFailed", base.ptr());
  static py::exception<GraphError> graph_error(m, "GraphError", base.ptr());
  static py::exception<ServerError> server_error(m, "ServerError", base.ptr());
  static py::exception<NoToken> no_token(m, "NoToken", server_error.ptr());
  static py::exception<ServerUnreachable> unreachable(m, "ServerUnreachable", base.ptr());
  static py::exception<RequestStopped> stopped(m, "RequestStopped", base.ptr());
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const OpFailed& e) {
      raise_with(op_failed, e.what(), py::dict(py::arg("op_id") = e.op_id(), py::arg("op") = e.op(),
                                               py::arg("error") = e.error()));
    } catch (const GraphError& e) {
      raise_with(graph_error, e.what(), py::dict(py::arg("op_id") = e.op_id(), py::arg("reason") = e.reason()));
    } catch (const NoToken& e) {
      raise_with(no_token, e.what(), py::dict(py::arg("op_id") = e.op_id()));
    } catch (const ServerError& e) {
      raise_with(server_error, e.what(), py::dict(py::arg("op_id") = e.op_id()));
    } catch (const ServerUnreachable& e) {
      raise_with(unreachable, e.what(), py::dict());
    } catch (const RequestStopped& e) {
      raise_with(stopped, e.what(), py::dict());
    }
  });

  m.def("op_table", &op_table_list, "Every op of the table: name, aliases, min/max inputs, family, params.");
  m.def("dtype_names", [] {
    std::vector<std::string> names;
    for (int d = 0; d < kDTypeCount; ++d) names.emplace_back(dtype_name(static_cast<DType>(d)));
    return names;
  });
  m.def("find_token", &find_token);

  py::class_<Graph>(m, "Graph")
      .def(py::init([](const std::string& name, const std::string& server, std::optional<std::string> token,
                       const std::string& owner, std::function<void(int, int)> on_progress,
                       std::optional<double> reconnect_window) {
             GraphOptions options;
             if (reconnect_window)
               options.reconnect_window = std::chrono::milliseconds(static_cast<int64_t>(*reconnect_window * 1000));
             if (!server.empty()) options.server = server;
             options.token = std::move(token);
             if (!owner.empty()) options.owner = owner;
             if (on_progress)
               options.on_progress = [on_progress](int computed, int total) {
                 py::gil_scoped_acquire gil;
                 try {
                   on_progress(computed, total);
                 } catch (py::error_already_set& e) {  // must not unwind through libcorvid's wait
                   e.discard_as_unraisable("corvid progress callback");
                 }
               };
             return std::make_unique<Graph>(name, std::move(options));
           }),
           py::arg("name"), py::arg("server") = "", py::arg("token") = py::none(), py::arg("owner") = "",
           py::arg("on_progress") = nullptr,
           py::arg("reconnect_window") = py::none())
      .def_property_readonly("name", &Graph::name)
      .def_property_readonly("id", &Graph::id, "The server's id of this graph (0 until the first flush).")
      .def("__len__", &Graph::size)
      .def("tensor", [](Graph& g, const py::buffer& b) { return wrap(g.tensor(tensor_from_buffer(b))); },
           "A tensor op holding a copy of an array (float32, float64, int32 or bool).")
      .def("op",
           [](Graph& g, const std::string& name, const std::vector<PyValue>& inputs, const std::string& params) {
             return wrap(g.op(name, values_of(inputs), parse_params(params)));
           },
           py::arg("name"), py::arg("inputs"), py::arg("params") = "")
      .def("flush", [](Graph& g) { blocking(g, [&] { g.flush(); }); })
      .def("values",
           [](Graph& g, const std::vector<PyValue>& ops) {
             std::vector<Tensor> got = blocking(g, [&] { return g.values(values_of(ops)); });
             py::list out;
             for (auto& t : got) out.append(array_from_tensor(std::move(t)));
             return out;
           })
      .def("wait_any",
           [](Graph& g, const std::vector<PyValue>& ops) { return blocking(g, [&] { return g.wait_any(values_of(ops)); }); })
      .def("end", [](Graph& g) { return report_dict(blocking(g, [&] { return g.end(); })); })
      .def("cancel", [](Graph& g) { return blocking(g, [&] { return g.cancel(std::vector<std::string>{}); }); })
      .def("interrupt", &Graph::interrupt, "Stops a wait blocked in another thread (RequestStopped).")
      .def("dump", [](const Graph& g) {
             std::ostringstream out;
             g.dump(out);
             return out.str();
           });

  py::class_<PyValue>(m, "Value")
      .def_property_readonly("id", [](const PyValue& v) { return v.value.id(); })
      .def_property_readonly("dtype", [](const PyValue& v) { return std::string(dtype_name(v.value.dtype())); })
      .def_property_readonly("shape", [](const PyValue& v) { return py::tuple(py::cast(v.value.shape())); })
      .def_property_readonly("graph", [](const PyValue& v) { return v.graph; })
      .def("value",
           [](const PyValue& v) {
             return array_from_tensor(blocking(v.value.graph(), [&] { return v.value(); }));
           },
           "The computed value as an ndarray (waits for the workers).")
      .def("same", [](const PyValue& a, const PyValue& b) { return a.value == b.value; })
      .def("hash", [](const PyValue& v) { return std::hash<Value>{}(v.value); })
      .def("__repr__", [](const PyValue& v) {
        std::ostringstream out;
        out << v.value;
        return out.str();
      });


  py::class_<PyMapJob>(m, "MapJob")
      .def(py::init([](py::object graph, py::object fn) {
             auto job = std::make_unique<PyMapJob>();
             job->graph = graph;
             job->fn = fn;
             PyMapJob* self = job.get();
             // The template runs in add_slice, on the calling thread with the GIL held.
             job->job = std::make_unique<MapJob>(graph.cast<Graph&>(), [self](const std::vector<Value>& in, std::size_t i) {
               py::list inputs;
               for (const auto& v : in) inputs.append(wrap(v));
               return self->fn(inputs, i).cast<PyValue>().value;
             });
             return job;
           }),
           py::arg("graph"), py::arg("fn"))
      .def("add_slice",
           [](PyMapJob& j, const std::vector<py::buffer>& inputs) {
             std::vector<Tensor> tensors;
             for (const auto& b : inputs) tensors.push_back(tensor_from_buffer(b));
             return j.job->add_slice(tensors);
           })
      .def_property_readonly("slices", [](const PyMapJob& j) { return j.job->slices(); })
      .def("run",
           [](PyMapJob& j, py::object on_posted, py::object on_status, py::object on_result, py::object on_error,
              double max_time) {
             MapEvents events;
             events.on_posted = [&](std::size_t n, uint64_t id) { j.call(on_posted, n, id); };
             events.on_status = [&](const MapStatus& s) {
               py::gil_scoped_acquire gil;
               j.call(on_status, status_dict(s));
             };
             events.on_result = [&](std::size_t i, const Tensor& v) {
               py::gil_scoped_acquire gil;
               j.call(on_result, i, array_from_tensor(v));
             };
             events.on_error = [&](std::size_t i, const std::string& e) { j.call(on_error, i, e); };
             MapOptions options;
             options.max_time = std::chrono::milliseconds(static_cast<int64_t>(max_time * 1000));
             j.error.reset();
             MapOutcome outcome;
             {  // on this thread, so that callbacks see Ctrl-C and this thread's current graph
               py::gil_scoped_release release;
               outcome = j.job->run(events, options);
             }
             if (j.error) {
               py::error_already_set e = std::move(*j.error);
               j.error.reset();
               throw e;
             }
             py::dict d;
             py::list results;
             for (auto& r : outcome.results) results.append(r ? py::object(array_from_tensor(std::move(*r))) : py::none());
             d["results"] = results;
             py::list failed;
             for (const auto& f : outcome.failed) failed.append(py::make_tuple(f.slice, f.error));
             d["failed"] = failed;
             d["computed"] = outcome.computed;
             d["timed_out"] = outcome.timed_out;
             d["cancelled"] = outcome.cancelled;
             return d;
           },
           py::arg("on_posted") = py::none(), py::arg("on_status") = py::none(), py::arg("on_result") = py::none(),
           py::arg("on_error") = py::none(), py::arg("max_time") = 0.0)
      .def("cancel", [](PyMapJob& j) { j.job->cancel(); }, "Stops run(); callable from a callback or another thread.");

  // Optimizers over Python Values: the optimizer rebinds each Value object it was given (as
  // torch.optim updates tensors in place), so it keeps those objects alive.
  py::class_<PyOptimizer>(m, "Optimizer")
      .def("step",
           [](PyOptimizer& o, py::object arg) -> py::object {
             if (py::isinstance<PyValue>(arg)) {
               py::list grads;
               for (const auto& g : o.optimizer->step(arg.cast<PyValue&>().value)) grads.append(wrap(g));
               return std::move(grads);
             }
             std::vector<Value> grads;
             for (const auto& g : arg.cast<std::vector<PyValue>>()) grads.push_back(g.value);
             o.optimizer->step(grads);
             return py::none();
           },
           "step(loss): grads of loss, then the update; returns the grads. step([g, ...]): the update.")
      .def_property_readonly("steps", [](const PyOptimizer& o) { return o.optimizer->steps(); })
      .def_property_readonly("params", [](const PyOptimizer& o) { return o.params; });
  m.def("sgd", [](py::list params, double lr, double momentum) {
    return make_optimizer(params, [&](Optimizer::ParamRefs refs) { return std::make_unique<SGD>(refs, lr, momentum); });
  });
  m.def("adam", [](py::list params, double lr, double beta1, double beta2, double eps, double weight_decay) {
    return make_optimizer(params, [&](Optimizer::ParamRefs refs) {
      return std::make_unique<Adam>(refs, AdamOptions{lr, beta1, beta2, eps, weight_decay});
    });
  });
  m.def("current_graph", [] { return graph_object(Graph::current()); });
  m.def("grad", [](const PyValue& loss, const PyValue& w) { return wrap(grad(loss.value, w.value)); });
  m.def("scalar_like", [](const PyValue& like, double x) { return wrap(scalar_like(like.value, x)); },
        "A 0-d tensor for a number next to `like`: like's dtype when the number fits it.");
  m.def("array_roundtrip", [](const py::buffer& b) { return array_from_tensor(tensor_from_buffer(b)); },
        "Array -> Tensor -> array, for tests of the conversion.");
}
