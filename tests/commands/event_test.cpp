#include "commands/event.hpp"

#include <catch2/catch.hpp>

using namespace tugboat::commands;

TEST_CASE("event text: slash commands and mentions normalize to one command form", "[unit]") {
    CHECK(slash_command_text("/deploy", "payments-api beta v1.2.3") ==
          "deploy payments-api beta v1.2.3");
    CHECK(slash_command_text("/status", "  ") == "status");
    CHECK(mention_command_text("<@UBOT> deploy payments-api beta", "UBOT") ==
          "deploy payments-api beta");
    CHECK(mention_command_text("<@UBOT|tugboat>   help", "UBOT") == "help");
    CHECK(mention_command_text("deploy api beta <@UBOT>", "UBOT") == "deploy api beta");
    CHECK(mention_command_text("<@UBOT2> deploy", "UBOT") == std::nullopt);
    CHECK(mention_command_text("hello", "UBOT") == std::nullopt);
    CHECK(mention_command_text("<@UBOT>", "UBOT") == "");
}

TEST_CASE("event text: Slack entities are decoded", "[unit]") {
    CHECK(unescape_slack_text("a &lt;b&gt; &amp;amp; c") == "a <b> &amp; c");
    CHECK(unescape_slack_text("&unknown; &") == "&unknown; &");
}
