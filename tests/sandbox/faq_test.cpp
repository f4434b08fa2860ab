// /faq end to end in the sandbox: the real bot, asked through the fake Slack, answering from a
// scratch docs folder. Each case reads what the person (or the help channel) was shown.

#include "sandbox/fake_slack.hpp"
#include "sandbox/sandbox_app.hpp"
#include "tests/support/contains.hpp"
#include "tests/support/run_test.hpp"
#include "tests/support/sandbox_world.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

using namespace tugboat;
using namespace std::chrono_literals;
using test::contains;

namespace {

const std::string rollback_md = R"(---
title: Rolling back a deploy
questions:
  - How do I undo a release?
owner: "@sre"
url: https://docs.example.com/rollback
---

# Rolling back a deploy

## With the bot

Type `/deploy rollback payments-api prod` to go back to the previous version.
이전 버전으로 롤백하려면 `/deploy rollback` 을 입력하세요.

## When a rollback is stuck

Ask in the help channel with the id it showed.
)";

const std::string logs_md = R"(# Reading logs

## Recent logs of a service

`/logs payments-api prod --since 1h` shows the last hour of logs, secrets redacted.
)";

struct faq_world : test::sandbox_world {
    std::filesystem::path docs;
    std::size_t ephemeral_mark = 0;
    std::size_t call_mark = 0;

    static std::filesystem::path make_docs() {
        auto dir = std::filesystem::temp_directory_path() /
                   ("tugboat-faq-docs-" + std::to_string(std::random_device{}()));
        std::filesystem::create_directories(dir);
        std::ofstream(dir / "rollback.md") << rollback_md;
        std::ofstream(dir / "logs.md") << logs_md;
        return dir;
    }

    explicit faq_world(std::filesystem::path dir = make_docs())
        : sandbox_world("faq",
                        [dir](core::config& c) {
                            c.faq.folders = {dir.string()};
                            c.faq.help_channel = "help";
                        }),
          docs(dir) {}
    ~faq_world() {
        std::error_code ec;
        std::filesystem::remove_all(docs, ec);
    }
    faq_world(const faq_world&) = delete;
    faq_world& operator=(const faq_world&) = delete;

    /// Types the lines; returns the texts of everything the bot said meanwhile.
    std::string say(std::vector<std::string> lines) {
        ephemeral_mark = app->slack().ephemerals().size();
        call_mark = app->slack().calls().size();
        const int rc = script(std::move(lines));
        REQUIRE(rc == 0);
        std::string out;
        const auto& eph = app->slack().ephemerals();
        for (std::size_t i = ephemeral_mark; i < eph.size(); ++i) {
            out += eph[i].text + "\n" + eph[i].blocks_json + "\n";
        }
        const auto& calls = app->slack().calls();
        for (std::size_t i = call_mark; i < calls.size(); ++i) {
            if (calls[i].method == "chat.postMessage") {
                out += calls[i].args_json + "\n";
            }
        }
        return out;
    }

    std::string help_channel() const {
        std::string out;
        for (const auto& m : app->slack().messages("C0HELP")) {
            out += m.text + "\n" + m.blocks_json + "\n";
        }
        return out;
    }
};

}  // namespace

TEST_CASE("sandbox: faq answers from the docs with feedback buttons", "[loopback]") {
    faq_world w;
    auto said = w.say({"/faq how do I roll back a deploy?"});
    CHECK(contains(said, "Rolling back a deploy"));
    CHECK(contains(said, "https://docs.example.com/rollback#with-the-bot"));
    CHECK(contains(said, "faq.up"));
    CHECK(contains(said, "faq.down"));

    SECTION("a 👎 is stored and listed by /faq stats") {
        said = w.say({"faq.down 1"});
        CHECK(contains(said, "doc owners see this"));
        said = w.say({"/faq stats"});
        CHECK(contains(said, "how do I roll back a deploy?"));
        CHECK(contains(said, "rollback.md#with-the-bot"));
        CHECK(contains(said, "1 questions asked, 1 answered"));
    }
    SECTION("a 👍 is thanked and not listed as down-voted") {
        said = w.say({"faq.up 1"});
        CHECK(contains(said, "glad it helped"));
        said = w.say({"/faq stats"});
        CHECK(contains(said, "Answers marked 👎*\\nnone"));
        // The asker's 👍 is a lesson, listed for the doc owners.
        CHECK(contains(said, "1. how do I roll back a deploy? → `rollback.md#with-the-bot`"));
    }
}

TEST_CASE("sandbox: faq answers Korean questions and mixed scripts", "[loopback]") {
    faq_world w;
    auto said = w.say({"/faq 이전 버전으로 롤백하려면 어떻게 하나요?"});
    CHECK(contains(said, "Rolling back a deploy"));
    CHECK(contains(said, "faq.up"));
}

TEST_CASE("sandbox: a DM or mention that is not a command is a question", "[loopback]") {
    faq_world w;
    auto said = w.say({"how do I read the logs of a service?"});
    CHECK(contains(said, "Reading logs"));
    said = w.say({"@tugboat how do I undo a release?"});
    CHECK(contains(said, "Rolling back a deploy"));
}

TEST_CASE("sandbox: a question with no words to search for says what to type and is not stored",
          "[loopback]") {
    faq_world w;
    for (const std::string q :
         {"/faq ???", "/faq 🚀🚀", "/faq the the the", "/faq 어떻게 해요?", "?!"}) {
        INFO(q);
        auto said = w.say({q});
        CHECK(contains(said, "nothing to search for"));
        CHECK(contains(said, "/faq how do I roll back a deploy"));
        CHECK_FALSE(contains(said, "faq.escalate"));
    }
    auto said = w.say({"/faq stats"});
    CHECK(contains(said, "0 questions asked"));
}

TEST_CASE("sandbox: typing a button that is not on screen is not sent as a message", "[loopback]") {
    faq_world w;
    auto said = w.say({"/faq how do I roll back a deploy?"});
    REQUIRE(contains(said, "faq.down"));
    said = w.say({"faq.down 7"});
    CHECK(said.empty());
    CHECK(contains(w.out.str(), "no button on screen says `faq.down 7`"));
    // Nothing was asked: the mistyped press did not become a question.
    said = w.say({"/faq stats"});
    CHECK(contains(said, "1 questions asked"));
}

TEST_CASE("sandbox: faq declines what the docs do not answer and asks the platform team",
          "[loopback]") {
    faq_world w;
    auto said = w.say({"/faq what is on the lunch menu today?"});
    CHECK(contains(said, "not sure"));
    CHECK(contains(said, "faq.escalate"));
    CHECK_FALSE(contains(said, "faq.up"));

    said = w.say({"faq.escalate 1"});
    CHECK(contains(said, "asked the platform team"));
    CHECK(contains(w.help_channel(), "what is on the lunch menu today?"));
    // Pressed again: the question is not posted twice.
    said = w.say({"faq.escalate 1"});
    CHECK(contains(said, "already with the platform team"));
    CHECK(w.app->slack().messages("C0HELP").size() == 1);
    said = w.say({"/faq stats"});
    // Numbered, so that a doc owner can answer it with /faq teach.
    CHECK(contains(said, "1. what is on the lunch menu today? (<@U0ALICE>)"));
}

TEST_CASE("sandbox: faq reload picks up a changed file", "[loopback]") {
    faq_world w;
    auto said = w.say({"/faq how do I create a kafka topic?"});
    CHECK(contains(said, "not sure"));
    std::ofstream(w.docs / "logs.md") << logs_md
                                      << "\n## Kafka topics\n\nCreate a Kafka topic "
                                         "with `kafkactl create topic NAME`.\n";
    // Reloading is for the bot's admins (the SRE group); others are told whom to ask.
    said = w.say({"/faq reload"});
    CHECK(contains(said, "`faq reload` is for admins"));
    CHECK_FALSE(contains(said, "new or changed"));
    said = w.say({"@bob: /faq reload"});
    CHECK(contains(said, "1 new or changed"));
    said = w.say({"/faq how do I create a kafka topic?"});
    CHECK(contains(said, "Kafka topics"));
    CHECK(contains(said, "faq.up"));
}

TEST_CASE("sandbox: what the asker says answered them is learned and a 👎 offers the other matches",
          "[loopback]") {
    faq_world w;
    auto said = w.say({"/faq where do I read the logs of a rollback?"});
    INFO(said);
    CHECK(contains(said, "faq.up"));
    // The answer names the other match, which a 👎 then offers as a button.
    REQUIRE(contains(said, "From the docs: Reading logs"));
    REQUIRE(contains(said, "Also: With the bot"));
    said = w.say({"faq.down 1"});
    CHECK(contains(said, "Did one of the other matches answer it?"));
    CHECK(contains(said, "\"action_id\":\"faq.pick\""));
    CHECK(contains(said, "\"value\":\"1:0\""));
    CHECK(contains(said, "faq.escalate"));

    SECTION("the asker picks one: it is learned") {
        said = w.say({"faq.pick 1:0"});
        CHECK(contains(said, "will find `rollback.md#with-the-bot` first"));
        said = w.say({"/faq stats"});
        CHECK(contains(said, "1 confirmed answers"));
        CHECK(contains(said,
                       "1. where do I read the logs of a rollback? → `rollback.md#with-the-bot`"));

        // A wrong lesson is taken back by an admin (bob), by its number.
        said = w.say({"/faq unlearn 1"});
        CHECK(contains(said, "`faq unlearn` is for admins"));
        said = w.say({"@bob: /faq unlearn one"});
        CHECK(contains(said, "`one` is not a question number"));
        CHECK(contains(said, "/faq unlearn 42"));
        said = w.say({"@bob: /faq unlearn 1"});
        CHECK(contains(said, "Unlearned question 1"));
        said = w.say({"@bob: /faq unlearn 1"});
        CHECK(contains(said, "Question 1 taught nothing"));
        said = w.say({"/faq stats"});
        CHECK(contains(said, "0 confirmed answers"));
    }
    SECTION("a teammate's vote is feedback, not a lesson") {
        said = w.say({"@bob: faq.pick 1:0"});
        CHECK(contains(said, "glad it helped"));
        CHECK_FALSE(contains(said, "first from now on"));
        said = w.say({"/faq stats"});
        CHECK(contains(said, "0 confirmed answers"));
    }
    SECTION("a match the answer did not show is refused with what to do") {
        // Not a button on screen: sent as Slack would send a forged or stale click.
        const auto& shown = w.app->slack().ephemerals().back();
        REQUIRE(w.app->slack().deliver_block_action(shown.user, shown.channel, shown.ts, "faq.pick",
                                                    "1:7"));
        said = w.say({"/faq stats"});
        CHECK(contains(said, "no question number `1:7`"));
        CHECK(contains(said, "/faq <question>"));
        CHECK(contains(said, "0 confirmed answers"));
    }
}

TEST_CASE("sandbox: a declined question offers its closest pages to pick from", "[loopback]") {
    faq_world w;
    auto said = w.say({"/faq how do I roll back a terraform state file in atlantis?"});
    INFO(said);
    REQUIRE(contains(said, "not sure"));
    // Why: the question is about a tool the closest page never mentions.
    CHECK(contains(said, "your question names terraform, which the closest page does not mention"));
    CHECK(contains(said, "Did one of them answer it?"));
    CHECK(contains(said, "\"value\":\"1:0\""));
    said = w.say({"faq.pick 1:0"});
    CHECK(contains(said, "will find `rollback.md#"));
    said = w.say({"/faq stats"});
    CHECK(contains(said, "1 confirmed answers"));
}

TEST_CASE("sandbox: the platform team says in the help channel which page answers a question",
          "[loopback]") {
    faq_world w;
    auto said = w.say({"/faq how do I roll back a terraform state file in atlantis?"});
    REQUIRE(contains(said, "not sure"));
    said = w.say({"faq.escalate 1"});
    CHECK(contains(said, "asked the platform team"));
    // The help channel's post offers the pages the bot found, and names the command for others.
    const std::string help = w.help_channel();
    INFO(help);
    CHECK(contains(help, "Question 1 from"));
    CHECK(contains(help, "\"action_id\":\"faq.answered\""));
    CHECK(contains(help, "\"value\":\"1:0\""));
    CHECK(contains(help, "/faq teach 1 path.md#anchor"));
    CHECK(contains(help, "`/faq teach 1 none`: not in the docs"));
    CHECK(contains(help, "Reply in this thread mentioning me"));

    SECTION("a button: the asker gets the page and the bot learns it") {
        said = w.say({"@bob: faq.answered 1:0"});
        INFO(said);
        CHECK(contains(said, "find `rollback.md#"));
        CHECK(contains(said, "I sent <@"));
        // The asker asked with a slash command, so the page comes as a DM.
        CHECK(contains(said, "says this page answers your question"));
        // The team sees in the help thread that it is answered.
        const auto posts = w.app->slack().messages("C0HELP");
        REQUIRE(posts.size() == 1);
        const auto thread = w.app->slack().thread("C0HELP", posts[0].ts);
        REQUIRE(thread.size() == 2);
        CHECK(contains(thread[1].text, "<@U0BOB> answered it with"));
        CHECK(contains(thread[1].text, "got the page"));
        said = w.say({"/faq stats"});
        CHECK(contains(said, "1 confirmed answers"));
        // Pressed again: nothing new, and the asker is not told twice.
        said = w.say({"@bob: faq.answered 1:0"});
        CHECK(contains(said, "already finds"));
        CHECK_FALSE(contains(said, "says this page answers your question"));
    }
    SECTION("the command: any page, by path or link, for admins") {
        said = w.say({"/faq teach 1 logs.md"});
        CHECK(contains(said, "`faq teach` is for admins"));
        said = w.say({"@bob: /faq teach one logs.md"});
        CHECK(contains(said, "`one` is not a question number"));
        CHECK(contains(said, "/faq teach 42 path.md#anchor"));
        said = w.say({"@bob: /faq teach 7 logs.md"});
        CHECK(contains(said, "I have no question number `7`"));
        said = w.say({"@bob: /faq teach 1 nothing.md"});
        CHECK(contains(said, "The docs have no page `nothing.md`"));
        said = w.say({"@bob: /faq teach 1 <https://docs.example.com/rollback#with-the-bot>"});
        CHECK(contains(said, "find `rollback.md#with-the-bot` first"));
        CHECK(contains(said, "says this page answers your question"));
        said = w.say({"@bob: /faq teach 1 none"});
        CHECK(
            contains(said, "Taught: the docs do not answer “how do I roll back a terraform state"));
        CHECK(contains(said, "`/faq unlearn 1` takes that back"));
        said = w.say({"@bob: /faq teach 1 none"});
        CHECK(contains(said, "Question 1 is already marked as not answered by the docs"));
        said = w.say({"/faq stats"});
        CHECK(contains(said, "→ not in the docs"));
        said = w.say({"@bob: /faq teach 1 logs.md"});
        CHECK(contains(said, "find `logs.md#recent-logs-of-a-service` first"));
        said = w.say({"/faq stats"});
        CHECK(contains(said, "1 confirmed answers"));
        CHECK(contains(said,
                       "1. how do I roll back a terraform state file in atlantis? → `logs.md#"));
        // Answered now: no longer listed as not answered.
        CHECK(contains(said, "*Not answered*\\nnone"));
    }
}

TEST_CASE("sandbox: a question asked in a thread gets the platform team's page in that thread",
          "[loopback]") {
    faq_world w;
    auto said = w.say({"@tugboat how do I roll back a terraform state file in atlantis?"});
    REQUIRE(contains(said, "not sure"));
    said = w.say({"faq.escalate 1"});
    said = w.say({"@bob: faq.answered 1:0"});
    INFO(said);
    // The reply goes to the thread of the asker's mention, not to a DM.
    auto& calls = w.app->slack().calls();
    bool in_thread = false;
    for (const auto& c : calls) {
        if (c.method == "chat.postMessage" && contains(c.args_json, "says this page answers") &&
            contains(c.args_json, "\"thread_ts\"")) {
            in_thread = true;
        }
    }
    CHECK(in_thread);
}

TEST_CASE("sandbox: a mention of the bot in the help thread answers the asker",
          "[loopback][slow]") {
    faq_world w;
    // Nothing in #help yet: no thread to reply in, and the sandbox says so.
    w.say({"@bob #help^: @tugboat anyone?"});
    CHECK(contains(w.out.str(), "#help has no message to reply to"));
    auto said = w.say({"/faq how do I roll back a terraform state file in atlantis?"});
    REQUIRE(contains(said, "not sure"));
    w.say({"faq.escalate 1"});
    const auto posts = w.app->slack().messages("C0HELP");
    REQUIRE(posts.size() == 1);
    auto reply_in_help_thread = [&](const std::string& text) {
        REQUIRE(w.app->slack().deliver_app_mention("U0BOB", "C0HELP", text, posts[0].ts));
        return w.say({"/faq stats"});
    };

    SECTION("naming a page: the asker gets the reply and the page, and it is learned") {
        said = reply_in_help_thread(
            "atlantis keeps its own state; roll it back like a deploy, see "
            "`rollback.md#with-the-bot`.");
        INFO(said);
        CHECK(contains(said, "<@U0BOB> answered your question"));
        CHECK(contains(said, "atlantis keeps its own state"));
        CHECK(contains(said, "https://docs.example.com/rollback#with-the-bot"));
        CHECK(contains(said, "Sent to <@U0ALICE>"));
        CHECK(contains(said, "find `rollback.md#with-the-bot` first"));
        CHECK(contains(said, "1 confirmed answers"));
    }
    SECTION("a link to the page works the same") {
        said = reply_in_help_thread("this one: <https://docs.example.com/rollback#with-the-bot>");
        CHECK(contains(said, "find `rollback.md#with-the-bot` first"));
        CHECK(contains(said, "1 confirmed answers"));
    }
    SECTION("no page: the asker gets the reply, and questions like it are declined") {
        said = reply_in_help_thread("atlantis belongs to the infra team, ask in their channel");
        INFO(said);
        CHECK(contains(said, "atlantis belongs to the infra team"));
        CHECK(contains(said,
                       "links no page of the docs, so questions like theirs are declined from "
                       "now on"));
        CHECK(contains(said, "/faq teach 1 path.md#anchor"));
        CHECK(contains(said, "0 confirmed answers"));
        CHECK(contains(said, "1 questions the docs do not answer"));
        CHECK(contains(said,
                       "1. how do I roll back a terraform state file in atlantis? → not in the "
                       "docs"));
        // Still a gap in the docs for their owners.
        CHECK_FALSE(contains(said, "*Not answered*\\nnone"));
        said = w.say({"/faq how would I roll back terraform state in atlantis?"});
        CHECK(contains(said,
                       "the platform team said the docs do not answer a question much like it"));
        // A second reply in the thread sends, and teaches nothing new.
        said = reply_in_help_thread("or ask Carol");
        CHECK(contains(said, "or ask Carol"));
        CHECK_FALSE(contains(said, "from now on"));
    }
    SECTION("typed in the sandbox as a reply in the help thread") {
        said = w.say({"@bob #help^: @tugboat ours is a deploy too: rollback.md#with-the-bot"});
        CHECK(contains(said, "ours is a deploy too"));
        CHECK(contains(said, "find `rollback.md#with-the-bot` first"));
    }
    SECTION("a mention elsewhere in the help channel is a question as usual") {
        REQUIRE(w.app->slack().deliver_app_mention("U0BOB", "C0HELP", "how do I undo a release?"));
        said = w.say({"/faq stats"});
        CHECK(contains(said, "Rolling back a deploy"));
        CHECK_FALSE(contains(said, "Sent to"));
    }
}
