// The body of POST /v1/projects, checked field by field: every string is bounded, valid UTF-8
// and free of NUL bytes (PostgreSQL's text refuses them, and a name or secret that differs after
// a NUL must never become another), the id and webhook ids are names, URLs parse.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "storage/project_store.h"

namespace waymark::collector {

/// Fills *out from `body` (at most `max_bytes`); an error message naming the bad field.
std::optional<std::string> ParseNewProject(const std::string& body, std::size_t max_bytes,
                                           NewProject* out);

}  // namespace waymark::collector
