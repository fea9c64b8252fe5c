#include "http/project_request.h"

#include "pipeline/webhooks.h"
#include "waymark/json_util.h"

namespace waymark::collector {
namespace {

// Nesting the body needs: an object of arrays of objects of arrays.
constexpr int kMaxDepth = 8;

// The text of `value` when it is a string of min..max bytes, valid UTF-8, without NUL.
const std::string* Text(const json* value, std::size_t min, std::size_t max) {
  if (value == nullptr || !value->is_string()) return nullptr;
  const std::string& s = value->get_ref<const std::string&>();
  if (s.size() < min || s.size() > max || !IsValidUtf8(s) || s.find('\0') != std::string::npos) {
    return nullptr;
  }
  return &s;
}

constexpr const char* kNameRule =
    "expected 1 to 64 characters of a-z, 0-9, '_' and '-', starting with a letter or digit";

std::optional<std::string> ParseWebhook(const json& h, const std::string& at, WebhookEndpoint* w) {
  const json* id = Member(h, "id");
  if (id == nullptr || !id->is_string() || !ValidProjectId(id->get<std::string>())) {
    return at + ".id: " + kNameRule;
  }
  std::string why;
  const std::string* url = Text(Member(h, "url"), 1, 2048);
  if (url == nullptr || !ParseWebhookUrl(*url, &why)) {
    return at + ".url: " + (why.empty() ? "expected an http or https URL" : why);
  }
  const std::string* secret = Text(Member(h, "secret"), 16, 200);
  if (secret == nullptr)
    return at + ".secret: expected 16 to 200 characters (it signs the deliveries)";
  w->id = id->get<std::string>();
  w->url = *url;
  w->secret = *secret;
  if (const json* triggers = Member(h, "triggers"); triggers != nullptr) {
    if (!triggers->is_array() || triggers->size() > 100) {
      return at + ".triggers: expected an array of trigger ids";
    }
    for (const json& t : *triggers) {
      const std::string* trigger = Text(&t, 1, 64);
      if (trigger == nullptr) return at + ".triggers: expected an array of trigger ids";
      w->triggers.push_back(*trigger);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> ParseNewProject(const std::string& text, std::size_t max_bytes,
                                           NewProject* out) {
  auto parsed = ParseJson(text, max_bytes, kMaxDepth);
  if (!parsed) return "body: " + parsed.error().message;
  const json& body = parsed.value();
  if (!body.is_object()) return "body: expected a JSON object";
  const json* id = Member(body, "id");
  if (id == nullptr || !id->is_string() || !ValidProjectId(id->get<std::string>())) {
    return std::string("id: ") + kNameRule;
  }
  out->id = id->get<std::string>();
  out->name = out->id;
  if (const json* name = Member(body, "name"); name != nullptr) {
    const std::string* text_name = Text(name, 1, 200);
    if (text_name == nullptr) return "name: expected text of 1 to 200 bytes";
    out->name = *text_name;
  }
  if (const json* origins = Member(body, "origins"); origins != nullptr) {
    if (!origins->is_array() || origins->size() > 100) return "origins: expected up to 100 origins";
    for (const json& o : *origins) {
      const std::string* origin = Text(&o, 1, 300);
      if (origin == nullptr) return "origins: expected strings such as \"https://shop.example\"";
      out->origins.push_back(*origin);
    }
  }
  if (const json* server = Member(body, "server_side"); server != nullptr) {
    if (!server->is_boolean()) return "server_side: expected true or false";
    out->server_side = server->get<bool>();
  }
  if (const json* hooks = Member(body, "webhooks"); hooks != nullptr) {
    if (!hooks->is_array() || hooks->size() > 20) return "webhooks: expected up to 20 endpoints";
    for (std::size_t i = 0; i < hooks->size(); ++i) {
      const std::string at = "webhooks[" + std::to_string(i) + "]";
      WebhookEndpoint w;
      if (auto err = ParseWebhook((*hooks)[i], at, &w)) return err;
      for (const WebhookEndpoint& other : out->webhooks) {
        if (other.id == w.id) return at + ".id: " + w.id + " is used twice";
      }
      out->webhooks.push_back(std::move(w));
    }
  }
  return std::nullopt;
}

}  // namespace waymark::collector
