// Boost.JSON, header-only: its compiled part lives in this one translation unit of the bot
// (Debian ships no libboost_json to link). Only slack_events.cpp uses it, for the inbound
// Socket Mode and HTTP-mode payloads; everything else speaks nlohmann::json.
#include <boost/json/src.hpp>  // NOLINT(misc-include-cleaner): the definitions are the point
