// The error convention of the C functions that Rust calls (src/ffi.rs): each returns
// null on success, or a malloc'd message that Rust releases with tchvae_free_message.
// C++ exceptions never cross into Rust.
#pragma once

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

namespace tchvae {

inline char* copy_message(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out != nullptr) std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

// Runs `body`; null when it returns, the exception's message when it throws.
template <typename Body>
char* guarded(Body&& body) {
  try {
    body();
    return nullptr;
  } catch (const std::exception& e) {
    return copy_message(e.what());
  } catch (...) {
    return copy_message("unknown C++ exception");
  }
}

}  // namespace tchvae
