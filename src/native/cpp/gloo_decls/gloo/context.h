// Our declaration (see ../README.md): ProcessGroupGloo.hpp's inline setTimeout calls this
// member, a non-virtual function that libtorch_cpu exports (c10d.cpp's set_timeout uses
// it; tests/python/test_c10d.py checks that a hung process then stops the others in time).
#pragma once

#include <chrono>

namespace gloo {

class Context {
 public:
  void setTimeout(std::chrono::milliseconds timeout);
};

}  // namespace gloo
