// The kind of device a batch came from, read from its request's User-Agent: a breakdown
// dimension of the reports (the first touch's device). Coarse on purpose: desktop, mobile,
// tablet, bot, or other (no User-Agent, a server, anything unrecognised). A client can send any
// User-Agent; the value is a report label, never a decision.
#pragma once

#include <string>
#include <string_view>

namespace waymark::collector {

std::string DeviceType(std::string_view user_agent);

}  // namespace waymark::collector
