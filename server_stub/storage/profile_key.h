// What keys a project's rows: every table that holds a project's data has project_id first in
// its key (storage/schema.cpp), so a profile is named by its project and its id.
#pragma once

#include <string>
#include <tuple>

namespace waymark::collector {

/// The project a database made before projects became, and the one the config file's keys,
/// webhooks and map belong to.
inline constexpr const char* kDefaultProject = "default";

struct ProfileKey {
  std::string project;
  std::string id;  ///< "u:<user id>" or "a:<anonymous id>"
  bool operator<(const ProfileKey& o) const {
    return std::tie(project, id) < std::tie(o.project, o.id);
  }
  bool operator==(const ProfileKey& o) const { return project == o.project && id == o.id; }
};

}  // namespace waymark::collector
