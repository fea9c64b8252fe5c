#pragma once

#include <string_view>

namespace waymark {

/// The default journey map (core/maps/default.json): awareness -> engaged -> lead -> qualified ->
/// trial -> customer -> retained -> advocate, with dormancy, reactivation, churn and expansion.
std::string_view DefaultMapJson();

/// The same map compiled (core/maps/default.wmap, see waymark/compiled_map.h): what the browser
/// engine starts with.
std::string_view DefaultMapCompiled();

}  // namespace waymark
