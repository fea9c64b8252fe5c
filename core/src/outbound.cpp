#include "waymark/outbound.h"

#include "waymark/json_util.h"

namespace waymark {

Batches BuildBatches(const std::vector<std::string>& envelopes, std::size_t max_bytes,
                     TimeMs sent_at, const std::string& site_key) {
  std::string head = "{\"sent_at\":" + std::to_string(sent_at);
  if (!site_key.empty()) head += ",\"site_key\":" + DumpJson(json(site_key));
  head += ",\"events\":[";
  const std::string tail = "]}";
  Batches out;
  std::string body;
  std::size_t count = 0;
  auto flush = [&]() {
    if (count == 0) return;
    body += tail;
    out.bodies.push_back(std::move(body));
    out.counts.push_back(count);
    body.clear();
    count = 0;
  };
  for (std::size_t i = 0; i < envelopes.size(); ++i) {
    const std::string& env = envelopes[i];
    if (head.size() + env.size() + tail.size() > max_bytes) {
      out.oversize.push_back(i);
      continue;
    }
    std::size_t needed = (count == 0 ? head.size() : body.size() + 1) + env.size() + tail.size();
    if (count > 0 && needed > max_bytes) flush();
    if (count == 0) {
      body = head;
    } else {
      body += ',';
    }
    body += env;
    ++count;
  }
  flush();
  return out;
}

}  // namespace waymark
