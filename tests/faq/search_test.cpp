// The FAQ index and search on a small fixture corpus (tests/fixtures/faq): Markdown sections,
// re-indexing only what changed, ranking, Korean and mixed-script questions, declining.

#include "faq/search.hpp"
#include "core/clock.hpp"
#include "faq/indexer.hpp"
#include "faq/markdown.hpp"
#include "storage/database.hpp"
#include "storage/faq_repository.hpp"
#include "tests/support/must.hpp"
#include "tests/support/temp_dir.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

using namespace tugboat;
using namespace std::chrono_literals;
using test::must;

namespace {

namespace fs = std::filesystem;

/// A copy of the fixture corpus in a scratch folder, indexed into an in-memory database.
struct corpus {
    test::temp_dir dir;
    core::manual_clock clock{core::from_unix(2'000'000'000)};
    storage::database db = must(storage::database::open(":memory:", core::null_logger()));
    faq::indexer indexer{db, {dir.path.string()}, clock};
    faq::searcher search{db, {}};

    /// `only`: one folder of the fixture corpus ("en"), not all of it.
    explicit corpus(const std::string& only = "") {
        fs::create_directories(dir.path / only);
        fs::copy(fs::path(TUGBOAT_FIXTURE_DIR) / "faq" / only, dir.path / only,
                 fs::copy_options::recursive);
        auto r = must(indexer.sync());
        REQUIRE(r.problems.empty());
    }

    /// Writes the files (path relative to the corpus → Markdown) and indexes them.
    void add(const std::vector<std::pair<std::string, std::string>>& files) {
        for (const auto& [path, text] : files) {
            std::ofstream(dir.path / path) << text;
        }
        clock.advance(1h);
        must(indexer.sync());
        search.forget_statistics();
    }

    /// `n` short pages that mention service logs in passing: a larger index, where a rare
    /// word's idf is well above the cap on ordinary words, and service and logs are common.
    /// `language`: "en", or "ko" for pages about the team's service and budget.
    void add_team_pages(int n, std::string_view language = "en") {
        std::vector<std::pair<std::string, std::string>> pages;
        for (int i = 0; i < n; ++i) {
            pages.emplace_back(
                fmt::format("{}/team-{}.md", language, i),
                language == "ko"
                    ? fmt::format("# 팀 {0} 안내\n\n## 개요\n\n팀 {0} 의 서비스와 예산.\n", i)
                    : fmt::format("# Team {0} handbook\n\nThe service logs, rota and budget of "
                                  "team {0}.\n",
                                  i));
        }
        add(pages);
    }

    /// A searcher that reads `words` (one per line) as the ordinary English words.
    faq::searcher with_word_list(const std::string& words) {
        const fs::path list = dir.path / "words.txt";
        std::ofstream(list) << words;
        return faq::searcher{db, {.words = list.string()}};
    }

    std::string top(std::string_view question) {
        auto r = must(search.search(question));
        return r.hits.empty() ? "" : r.hits.front().ref();
    }
};

}  // namespace

TEST_CASE("faq markdown: front matter and one section per heading", "[unit]") {
    auto doc = faq::parse_markdown(R"(---
title: "Rolling back"
tags: [deploy, rollback]
questions:
  - How do I undo a release?
  - 배포를 되돌리려면?
owner: "@sre"
last_reviewed: 2026-01-01
---
# Ignored because the front matter names the page

Intro text.

## With the bot

Type it.

```
# not a heading
```

### Details
More.
)",
                                   "rollback");
    CHECK(doc.meta.title == "Rolling back");
    CHECK(doc.meta.tags == std::vector<std::string>{"deploy", "rollback"});
    CHECK(doc.meta.questions.size() == 2);
    CHECK(doc.meta.owner == "@sre");
    CHECK(doc.meta.last_reviewed == "2026-01-01");
    REQUIRE(doc.sections.size() == 3);
    CHECK(doc.sections[0].heading_path == "Ignored because the front matter names the page");
    CHECK(doc.sections[1].heading_path ==
          "Ignored because the front matter names the page > With the bot");
    CHECK(doc.sections[1].anchor == "with-the-bot");
    CHECK(doc.sections[1].body.find("# not a heading") != std::string::npos);
    CHECK(doc.sections[2].heading_path.ends_with("With the bot > Details"));
    CHECK(faq::heading_anchor("Rolling back (fast)!") == "rolling-back-fast");
}

TEST_CASE("faq search: ranks the page that answers first", "[unit]") {
    corpus c;
    CHECK(c.top("how do I roll back a deploy?").starts_with("en/rollback.md"));
    CHECK(c.top("where are the logs of my service?").starts_with("en/logs.md"));
    CHECK(c.top("who can approve a production deploy?").starts_with("en/approvals.md"));
    SECTION("an alternative question in the front matter counts above the body") {
        CHECK(c.top("How do I undo a release?").starts_with("en/rollback.md"));
    }
}

TEST_CASE("faq search: a page and its translation are one hit, in the question's language",
          "[unit]") {
    corpus c;
    c.add({{"guide.md", "# Changelog\n\nWhere the changelog of each service lives.\n"},
           {"guide.ko.md", "# 변경 이력\n\n서비스별 changelog 위치.\n"},
           {"notes.md", "# Changelog policy\n\nWho writes the changelog.\n"},
           {"en/notes.md", "# Changelog archive\n\nThe changelog before 2024.\n"}});
    auto paths = [&](std::string_view question) {
        std::vector<std::string> out;
        for (const auto& h : must(c.search.search(question)).hits) {
            out.push_back(h.relative_path);
        }
        return out;
    };
    auto has = [](const std::vector<std::string>& hits, std::string_view path) {
        return std::find(hits.begin(), hits.end(), path) != hits.end();
    };
    // Folders named for their language: en/logs.md and ko/logs.md.
    auto english = paths("where are the logs of my service?");
    REQUIRE_FALSE(english.empty());
    CHECK(english.front() == "en/logs.md");
    CHECK_FALSE(has(english, "ko/logs.md"));
    auto korean = paths("서비스 로그는 어디서 봐요?");
    REQUIRE_FALSE(korean.empty());
    CHECK(korean.front() == "ko/logs.md");
    CHECK_FALSE(has(korean, "en/logs.md"));
    // The language before the extension: guide.md and guide.ko.md.
    auto changelog = paths("changelog");
    CHECK(has(changelog, "guide.md"));
    CHECK_FALSE(has(changelog, "guide.ko.md"));
    CHECK(paths("변경 이력 어디 있어요?").front() == "guide.ko.md");
    // Two English pages named alike are two pages, not translations.
    CHECK(has(changelog, "notes.md"));
    CHECK(has(changelog, "en/notes.md"));
}

TEST_CASE("faq search: in a folder of both languages, a page scores as in its own language's",
          "[unit]") {
    corpus both;
    corpus alone("en");
    for (const auto* question :
         {"how do I roll back a deploy?", "where are the logs of my service?",
          "who can approve a production deploy?", "rollback logs"}) {
        INFO(question);
        auto mixed = must(both.search.search(question));
        auto own = must(alone.search.search(question));
        REQUIRE_FALSE(mixed.hits.empty());
        REQUIRE_FALSE(own.hits.empty());
        CHECK(mixed.hits[0].ref() == own.hits[0].ref());
        CHECK(mixed.hits[0].score == Approx(own.hits[0].score).epsilon(1e-12));
        CHECK(mixed.hits[0].coverage == Approx(own.hits[0].coverage).epsilon(1e-12));
        REQUIRE(mixed.term_stats.size() == own.term_stats.size());
        for (std::size_t i = 0; i < own.term_stats.size(); ++i) {
            CHECK(mixed.term_stats[i].weight == Approx(own.term_stats[i].weight).epsilon(1e-12));
        }
    }
}

TEST_CASE("faq search: when every word is common, the sections named for all of them rank",
          "[unit]") {
    corpus c;
    // Over 1,000 sections have "deploy" in their title and as many "pod": ranking either
    // word's titles is over the budget, the two together are one page.
    std::vector<std::pair<std::string, std::string>> pages;
    for (int i = 0; i < 1010; ++i) {
        pages.emplace_back(fmt::format("en/deploy-{}.md", i),
                           fmt::format("# Deploy checklist {0}\n\nA pod of team {0}.\n", i));
        pages.emplace_back(fmt::format("en/pod-{}.md", i),
                           fmt::format("# Pod sizes {0}\n\nTeam {0} deploys them.\n", i));
    }
    pages.emplace_back("en/deploy-a-pod.md", "# Deploy a pod\n\nApply its manifest.\n");
    c.add(pages);
    auto r = must(c.search.search("deploy pod"));
    REQUIRE_FALSE(r.hits.empty());
    CHECK(r.hits.front().relative_path == "en/deploy-a-pod.md");
}

TEST_CASE("faq search: Korean questions, particles and mixed scripts", "[unit]") {
    corpus c;
    CHECK(c.top("배포를 롤백하려면 어떻게 하나요?").starts_with("ko/rollback.md"));
    CHECK(c.top("kubeconfig를 어디서 받나요?").starts_with("ko/kubeconfig.md"));
    CHECK(c.top("로그는 어디서 봐요?").starts_with("ko/logs.md"));
    SECTION("the glossary finds English pages from Korean words") {
        auto r = must(c.search.search("권한"));
        bool english = false;
        for (const auto& h : r.hits) {
            english = english || h.relative_path == "en/approvals.md";
        }
        CHECK(english);
    }
    SECTION("NFD input finds the same page") {
        // 롤백 as conjoining jamo
        CHECK(c.top("\u1105\u1169\u11af\u1107\u1162\u11a8").starts_with("ko/rollback.md"));
    }
}

TEST_CASE("faq search: declines questions the docs do not answer", "[unit]") {
    corpus c;
    auto lunch = must(c.search.search("what is on the lunch menu today?"));
    CHECK_FALSE(lunch.answer);
    auto vpn = must(c.search.search("VPN 비밀번호를 재설정하려면?"));
    CHECK_FALSE(vpn.answer);
    auto empty = must(c.search.search("how do I?"));
    CHECK(empty.hits.empty());
    CHECK_FALSE(empty.answer);
    auto answered = must(c.search.search("how do I roll back a deploy?"));
    CHECK(answered.answer);
    CHECK(answered.confidence > lunch.confidence);
}

TEST_CASE("faq search: a long question is answered on the rare words it shares", "[unit]") {
    corpus c;
    // Most of its words are in no doc, so their share alone would decline it.
    auto r = must(c.search.search(
        "checkout broke after the release, can we roll back the deploy to the previous "
        "version?"));
    REQUIRE_FALSE(r.hits.empty());
    CHECK(r.hits.front().ref() == "en/rollback.md#with-the-bot");
    CHECK(r.hits.front().coverage < 0.4);
    CHECK(r.answer);
    // The more of the question the section lacks, the less sure the answer.
    auto diluted = must(c.search.search(
        "we shipped a new build on friday night and now checkout is throwing errors everywhere "
        "and the whole team is panicking, how do we roll back the deploy to the previous "
        "version quickly?"));
    CHECK(diluted.confidence < r.confidence);
}

TEST_CASE("faq search: question words and particles are stripped", "[unit]") {
    auto terms = faq::parse_question("배포를 롤백하려면 어떻게 하나요?");
    REQUIRE(terms.size() == 2);
    CHECK(terms[0].word == "배포");
    CHECK(terms[0].match.find("\"deploy\"") != std::string::npos);
    CHECK(terms[1].word == "롤백");
    auto english = faq::parse_question("How do I roll back the deployment?");
    REQUIRE(english.size() == 2);
    CHECK(english[0].word == "roll back");
    CHECK(english[0].match.find("\"rollback\"") != std::string::npos);
    // Pronouns, "but" and what is left of a contraction carry no topic either.
    auto chatty = faq::parse_question("they say it doesn't start but it really is deployed");
    REQUIRE(chatty.size() == 3);
    CHECK(chatty[0].word == "say");
    CHECK(chatty[1].word == "start");
    CHECK(chatty[2].word == "deployed");
}

TEST_CASE("faq indexer: re-indexes only files that changed", "[unit]") {
    corpus c;
    CHECK_FALSE(c.top("kafkactl").starts_with("en/logs.md"));
    REQUIRE(c.search.holds_statistics());
    c.clock.advance(1h);
    auto again = must(c.indexer.sync());
    CHECK(again.indexed == 0);
    CHECK(again.removed == 0);
    // Nothing changed: the searcher keeps what it read (the periodic pass costs no question).
    c.search.after_sync(again);
    CHECK(c.search.holds_statistics());

    const auto logs = c.dir.path / "en" / "logs.md";
    const auto before = fs::last_write_time(logs);
    std::ofstream(logs, std::ios::app) << "\n## Kafka\n\nUse kafkactl.\n";
    // Within the same second as the first pass; a later time stands for a later edit.
    fs::last_write_time(logs, before + 5s);
    auto changed = must(c.indexer.sync());
    CHECK(changed.indexed == 1);
    c.search.after_sync(changed);
    CHECK_FALSE(c.search.holds_statistics());
    CHECK(c.top("kafkactl").starts_with("en/logs.md#kafka"));

    fs::remove(c.dir.path / "en" / "approvals.md");
    auto removed = must(c.indexer.sync());
    CHECK(removed.removed == 1);
    c.search.after_sync(removed);
    CHECK_FALSE(c.search.holds_statistics());
    storage::faq_repository repo(c.db);
    CHECK(must(repo.list_documents()).size() == 5);
}

TEST_CASE("faq indexer: a large pass leaves the index in one piece, a small one does not",
          "[unit]") {
    corpus c;
    auto segments = [&] {
        auto st = must(c.db.prepare("SELECT count(DISTINCT segid) FROM faq_search_idx"));
        must(st.step());
        return st.get_int(0);
    };
    c.add_team_pages(40);
    auto change = [&](const fs::path& page) {
        // A later time than the last pass saw, even within the same second.
        const auto before = fs::last_write_time(page);
        std::ofstream(page, std::ios::app) << "\n## Kafka\n\nUse kafkactl.\n";
        fs::last_write_time(page, before + 5s);
    };
    for (const auto& f : fs::recursive_directory_iterator(c.dir.path)) {
        if (f.path().extension() == ".md") {
            change(f.path());
        }
    }
    c.clock.advance(1h);
    CHECK(must(c.indexer.sync()).indexed == 46);  // each file's old rows out, new rows in
    CHECK(segments() == 1);

    change(c.dir.path / "en" / "team-7.md");
    c.clock.advance(1h);
    CHECK(must(c.indexer.sync()).indexed == 1);
    CHECK(segments() > 1);  // a small change is left to FTS5's own merging
    c.search.forget_statistics();
    CHECK(c.top("kafkactl").starts_with("en/team-7.md#kafka"));
}

TEST_CASE("faq indexer: a missing folder is a problem, not an error", "[unit]") {
    core::manual_clock clock;
    auto db = must(storage::database::open(":memory:", core::null_logger()));
    faq::indexer idx(db, {"/nonexistent/faq"}, clock);
    auto r = must(idx.sync());
    REQUIRE(r.problems.size() == 1);
    CHECK(r.problems[0].find("faq.folders") != std::string::npos);
}

TEST_CASE("faq search: a one-syllable Korean noun is found with any particle", "[unit]") {
    corpus c;
    // The page writes "값은"; the question "값을".
    auto r = must(c.search.search("비밀 값을 어디서 보나요?"));
    REQUIRE_FALSE(r.hits.empty());
    CHECK(r.hits.front().relative_path == "ko/logs.md");
    CHECK(r.hits.front().coverage == Approx(1.0));
    CHECK(r.answer);
}

TEST_CASE("faq search: of twin pages, the one whose title fits the question ranks first",
          "[unit]") {
    corpus c;
    // The debugging page's section matches the question a little better than the concept
    // page's: by the sections alone it wins every question about init containers.
    c.add({{"ko/init.md",
            "# 초기화 컨테이너\n\n## 개요\n\n초기화 컨테이너는 앱보다 먼저 실행되며 설치 "
            "스크립트를 돌린다. 앱 이미지를 작게 유지한다.\n"},
           {"ko/debug-init.md",
            "# 초기화 컨테이너 디버그하기\n\n## 초기화 컨테이너 상태\n\n초기화 컨테이너의 "
            "상태와 로그를 본다.\n"},
           {"en/init.md",
            "# Init Containers\n\n## Overview\n\nInit containers run before the app and run "
            "setup scripts. They keep the app image small.\n"},
           {"en/debug-init.md",
            "# Debug Init Containers\n\n## Init container status\n\nSee the status and logs "
            "of init containers.\n"}});
    CHECK(c.top("초기화 컨테이너는 무엇에 쓰나요?").starts_with("ko/init.md"));
    CHECK(c.top("What are init containers used for?").starts_with("en/init.md"));
}

TEST_CASE("faq search: a word in both scripts in one title does not count twice", "[unit]") {
    corpus c;
    // The Korean debugging page glosses its title in English, and the asker types the English
    // words, which the glossary pairs with the Korean ones: counted in full, each word of the
    // title matched twice and the debugging page ranked first. Pages about other things make
    // 초기화 and 컨테이너 rarer, as they are in real docs.
    c.add({{"ko/init.md",
            "# 초기화 컨테이너\n\n## 동작\n\n초기화 컨테이너(init container)는 여러 개면 "
            "순서대로 하나씩 실행된다. 앞의 것이 성공해야 다음 것이 실행된다.\n"},
           {"ko/debug-init.md",
            "# 초기화 컨테이너(Init Containers) 디버그하기\n\n## 상태\n\n"
            "init-container-1 과 init-container-2 의 상태를 본다.\n"}});
    c.add_team_pages(30, "ko");
    faq::searcher glossed{c.db,
                          {.extra_glossary = {{"초기화", {"init"}}, {"컨테이너", {"container"}}}}};
    const auto r = must(glossed.search("init container는 앱보다 먼저 실행돼요?"));
    REQUIRE_FALSE(r.hits.empty());
    CHECK(r.hits.front().ref().starts_with("ko/init.md"));
}

TEST_CASE("faq search: a question about something that fails prefers the debugging page",
          "[unit]") {
    corpus c;
    // Twins that differ only in their titles.
    const std::string ko = "\n\n## 상태\n\n초기화 컨테이너의 상태와 로그를 본다.\n";
    const std::string en = "\n\n## Status\n\nSee the status and logs of init containers.\n";
    c.add({{"ko/init.md", "# 초기화 컨테이너" + ko},
           {"ko/debug-init.md", "# 초기화 컨테이너 디버그하기" + ko},
           {"en/init.md", "# Init Containers" + en},
           {"en/debug-init.md", "# Debug Init Containers" + en}});
    CHECK(c.top("초기화 컨테이너가 계속 실패해요").starts_with("ko/debug-init.md"));
    CHECK(c.top("my init containers are stuck").starts_with("en/debug-init.md"));
    CHECK(c.top("초기화 컨테이너는 무엇에 쓰나요?").starts_with("ko/init.md"));
    CHECK(c.top("What are init containers used for?").starts_with("en/init.md"));
}

TEST_CASE("faq search: short forms find the long words, not the other way round", "[unit]") {
    corpus c;
    c.add({{"en/variables.md",
            "# Environment variables\n\nEach container can be given environment variables "
            "in its spec.\n"},
           {"en/example.md",
            "# A complete example\n\n```yaml\nenv:\n- name: MODE\n  value: fast\n```\n"}});
    auto r = must(c.search.search("how do I set an env var?"));
    REQUIRE_FALSE(r.hits.empty());
    CHECK(r.hits.front().relative_path == "en/variables.md");
    CHECK(r.answer);
    // A question about environment variables does not match every `env:` in a YAML example.
    for (const auto& h : must(c.search.search("environment variables")).hits) {
        CHECK(h.relative_path != "en/example.md");
    }
}

TEST_CASE("faq search: the page that covers the whole question beats more hits on part of it",
          "[unit]") {
    corpus c;
    c.add({{"en/rollouts.md",
            "# Rolling updates\n\nA rolling update of a deployment replaces its pods a few at a "
            "time. Pause a rolling update, resume a rolling update, or undo a rolling update of "
            "the deployment.\n"},
           {"en/budgets.md",
            "# Disruption budgets\n\nA PDB limits how many pods of an application may be down "
            "at once during voluntary disruptions. A rolling update is not blocked by a PDB.\n"}});
    CHECK(
        c.top("does a PDB block a rolling update of my deployment?").starts_with("en/budgets.md"));
}

TEST_CASE("faq search: a long English question naming its own stack is still answered", "[unit]") {
    corpus c;
    c.add_team_pages(40);
    c.add({{"en/probes.md",
            "# Liveness probes\n\nA liveness probe restarts a container that stops answering. "
            "Give a slow starter a startupProbe, or raise initialDelaySeconds and "
            "failureThreshold.\n"}});
    auto words = c.with_word_list(
        "a\nan\nand\nthe\nservice\nneeds\nminutes\nkeeps\nkilling\nboot\nit\ntakes\n"
        "despite\nraising\nprobe\n");
    // Spring, Tomcat and Hibernate are in no page: names that weigh three times their idf.
    auto r =
        must(words.search("Spring Tomcat Hibernate service takes minutes to boot and the liveness "
                          "probe keeps killing it despite raising initialDelaySeconds and "
                          "failureThreshold"));
    REQUIRE_FALSE(r.hits.empty());
    INFO("coverage " << r.hits.front().coverage << ", confidence " << r.confidence);
    CHECK(r.hits.front().relative_path == "en/probes.md");
    CHECK(r.hits.front().coverage > 0.15);
    CHECK(r.hits.front().coverage < 0.25);  // under the old all-or-nothing step
    CHECK(r.answer);
    // With as little of the page in it as of another product, it is still declined.
    CHECK_FALSE(must(words.search("Spring Tomcat Hibernate Jetty Quarkus liveness")).answer);
}

TEST_CASE("faq search: in Korean a long page that mentions everything ranks below the answer",
          "[unit]") {
    corpus c;
    c.add_team_pages(200);
    // Forty sections, each with two of the question's words in passing.
    const std::array<std::string_view, 3> words{"노드 셸", "셸 접속", "노드 접속"};
    std::string big = "# 시크릿\n\n";
    for (int i = 0; i < 40; ++i) {
        big += fmt::format("## 항목 {}\n\n시크릿 {}번의 {} 설정.\n\n", i, i, words[i % 3]);
    }
    c.add({{"ko/big.md", big},
           {"ko/node-shell.md",
            "# 디버깅 도구\n\n## 방법\n\nSSH 없이 kubectl debug로 노드에 셸로 접속한다. 임시 "
            "컨테이너가 호스트의 파일 시스템을 함께 쓰므로 로그와 설정 파일을 읽는다.\n"}});
    auto r = must(c.search.search("노드에 셸로 접속하려면?"));
    REQUIRE(r.hits.size() >= 2);
    INFO(r.hits[0].relative_path << " " << r.hits[0].rank << ", " << r.hits[1].relative_path << " "
                                 << r.hits[1].rank);
    CHECK(r.hits[0].relative_path == "ko/node-shell.md");
}

TEST_CASE("faq search: a Latin word no page uses weighs more in a Korean question", "[unit]") {
    corpus c;
    // A product name the docs never mention means the question is about something else; a
    // Korean word found nowhere is as often an inflection the analysis missed.
    auto latin = must(c.search.search("Quokka에서 서비스 로그를 볼 수 있나요?"));
    auto hangul = must(c.search.search("쿼카에서 서비스 로그를 볼 수 있나요?"));
    REQUIRE_FALSE(latin.hits.empty());
    CHECK(latin.hits.front().relative_path == "ko/logs.md");
    REQUIRE_FALSE(hangul.hits.empty());
    CHECK(latin.hits.front().coverage < 0.5 * hangul.hits.front().coverage);
    CHECK(hangul.answer);
    // With little else of the page in it, such a question is declined.
    auto elsewhere = must(c.search.search("Splunk로 로그 보내려면?"));
    CHECK_FALSE(elsewhere.answer);
}

TEST_CASE("faq search: words of the page's name raise the confidence", "[unit]") {
    corpus c;
    // "view logs" covers about a quarter of the question's weight in the section, but "logs" is
    // half of the title "Reading logs".
    auto r = must(c.search.search("view logs"));
    REQUIRE_FALSE(r.hits.empty());
    CHECK(r.hits.front().relative_path == "en/logs.md");
    CHECK(r.hits.front().coverage < 0.3);
    CHECK(r.evidence.fit > 0);
    auto nameless = r.evidence;
    nameless.fit = 0;
    CHECK(r.confidence > faq::default_decline_model("en").confidence(nameless));
}

TEST_CASE("faq search: the evidence counts the question's words the first hit lacks", "[unit]") {
    corpus c;
    auto r = must(c.search.search("roll back a kubeadm deploy"));
    REQUIRE_FALSE(r.hits.empty());
    CHECK(r.evidence.terms == 3);    // roll back, kubeadm, deploy
    CHECK(r.evidence.missing == 1);  // kubeadm, in no page
    CHECK(r.evidence.coverage == Approx(r.hits.front().coverage));
    CHECK(r.evidence.rarest > 0);
    CHECK(r.evidence.rarest <= 1.0);  // in units of the rarest possible word
    CHECK(r.confidence == Approx(faq::default_decline_model("en").confidence(r.evidence)));
    auto none = must(c.search.search("how do I?"));
    CHECK(none.evidence.terms == 0);
    CHECK(none.confidence == 0);
}

TEST_CASE("faq search: capitalised words the first hit lacks count as other products in English",
          "[unit]") {
    corpus c;
    auto plain = must(c.search.search("roll back a deploy in airflow"));
    auto named = must(c.search.search("roll back a deploy in Airflow"));
    REQUIRE_FALSE(named.hits.empty());
    CHECK(plain.evidence.products == 0);
    CHECK(named.evidence.products == 1);
    // Another product named is less surely a question these docs answer.
    auto unnamed = named.evidence;
    unnamed.products = 0;
    CHECK(named.confidence < faq::default_decline_model("en").confidence(unnamed));
    // A capitalised word the page has is not one ("Deploy" is in the deploy pages).
    auto found = must(c.search.search("Deploy rollback"));
    CHECK(found.evidence.products == 0);
    // In Korean a Latin word already weighs as a name; the count is for English questions.
    auto korean = must(c.search.search("Airflow 에서 배포 롤백"));
    CHECK(korean.evidence.products == 0);
}

TEST_CASE("faq search: a tool beside Kubernetes the first hit never mentions counts against it",
          "[unit]") {
    corpus c;
    auto plain = must(c.search.search("how do I roll back a deploy?"));
    CHECK(plain.evidence.others == 0);
    CHECK(plain.answer);
    // Lower case, two words, or Hangul: a name is a name however it is written.
    for (auto question :
         {"how do I roll back a deploy with helm?",
          "how do I roll back a deploy from github actions?", "헬름으로 배포 롤백 어떻게 해요?",
          "ArgoCD 에서 배포 롤백 어떻게 해요?"}) {
        auto named = must(c.search.search(question));
        INFO(question);
        REQUIRE_FALSE(named.hits.empty());
        CHECK(named.evidence.others == 1);
        CHECK_FALSE(named.answer);
    }
    // A decline can say which, as the asker wrote them.
    auto two = must(c.search.search("roll back a deploy with Helm and ArgoCD"));
    CHECK(two.evidence.others == 2);
    CHECK(two.tools_unmentioned == std::vector<std::string>{"Helm", "ArgoCD"});
    CHECK(must(c.search.search("헬름으로 배포 롤백")).tools_unmentioned ==
          std::vector<std::string>{"헬름"});
    // "actions" alone is an ordinary word, not the CI product.
    CHECK(must(c.search.search("roll back the deploy actions")).evidence.others == 0);
    // A team adds its own (faq.other_tools); a name that is built in counts once.
    faq::searcher configured{c.db, {.extra_tools = {"backstage/백스테이지", "helm"}}};
    CHECK(must(c.search.search("roll back a deploy from backstage")).evidence.others == 0);
    CHECK(must(configured.search("roll back a deploy from backstage")).evidence.others == 1);
    CHECK(must(configured.search("백스테이지에서 배포 롤백")).evidence.others == 1);
    CHECK(must(configured.search("roll back a deploy with helm")).evidence.others == 1);
    // Docs that cover the tool answer it.
    c.add({{"en/helm.md",
            "# Helm releases\n\nRoll back a Helm release with `helm rollback`: "
            "the deploy before it goes out again.\n"}});
    auto covered = must(c.search.search("how do I roll back a helm release?"));
    REQUIRE_FALSE(covered.hits.empty());
    CHECK(covered.hits.front().relative_path == "en/helm.md");
    CHECK(covered.evidence.others == 0);
    CHECK(covered.answer);
    // Korean docs keep a tool's Latin name; the question may spell it in Hangul.
    c.add({{"ko/helm.md", "# Helm 릴리스\n\n`helm rollback` 으로 Helm 릴리스를 롤백합니다.\n"}});
    auto hangul = must(c.search.search("헬름 릴리스 롤백은 어떻게 해요?"));
    REQUIRE_FALSE(hangul.hits.empty());
    CHECK(hangul.hits.front().relative_path == "ko/helm.md");
    CHECK(hangul.evidence.others == 0);
}

TEST_CASE("faq words: a word list keeps the lower-case words, exactly as spelt", "[unit]") {
    const test::temp_dir dir;
    const fs::path path = dir.path / "words.txt";
    // Unsorted, CRLF line ends, proper names and possessives, as system word lists have them.
    std::ofstream(path) << "zebra\r\nchatty\nKafka\nchatty's\nable\n\nhelm\n";
    auto words = faq::word_list::load(path.string());
    REQUIRE(words);
    CHECK(words->size() == 4);
    CHECK(words->contains("chatty"));
    CHECK(words->contains("able"));
    CHECK(words->contains("zebra"));
    CHECK(words->contains("helm"));
    CHECK_FALSE(words->contains("Helm"));  // a capitalised word in a question is a name
    CHECK_FALSE(words->contains("Kafka"));
    CHECK_FALSE(words->contains("kafka"));
    CHECK_FALSE(words->contains("chatt"));
    CHECK_FALSE(words->contains("chattyy"));
    CHECK_FALSE(faq::word_list::load((path / "missing").string()));
}

TEST_CASE("faq search: an ordinary word no page uses weighs less than a product name", "[unit]") {
    corpus c;
    auto with_words = c.with_word_list("chatty\nroll\nback\n");
    // Neither word is in any doc; the word list tells how the question is put (chatty) from
    // what it is about (pgbouncer, a product the docs do not cover).
    auto chatty = must(with_words.search("roll back a chatty deploy"));
    auto pgbouncer = must(with_words.search("roll back a pgbouncer deploy"));
    auto capitalised = must(with_words.search("roll back a Chatty deploy"));
    REQUIRE_FALSE(chatty.hits.empty());
    CHECK(chatty.hits.front().relative_path == "en/rollback.md");
    CHECK(chatty.answer);
    CHECK(chatty.confidence > pgbouncer.confidence);
    // The list holds words as spelt in lower case: Chatty reads as a name, and weighs as much.
    CHECK(capitalised.evidence.asked == Approx(pgbouncer.evidence.asked));
    CHECK(capitalised.confidence < chatty.confidence);
    // A quantity (2am) is a detail of the question too, not a product.
    auto quantity = must(with_words.search("roll back a 2am deploy"));
    CHECK(quantity.answer);
    // Without a list (or with one that cannot be read) both weigh the same.
    for (const std::string& none : {std::string{}, (c.dir.path / "missing.txt").string()}) {
        faq::searcher without{c.db, {.words = none}};
        auto a = must(without.search("roll back a chatty deploy"));
        auto b = must(without.search("roll back a pgbouncer deploy"));
        CHECK(a.confidence == Approx(b.confidence));
    }
}

TEST_CASE("faq search: rare ordinary words weigh no more than a common one", "[unit]") {
    corpus c;
    c.add_team_pages(40);
    auto with_words =
        c.with_word_list("hey\nvanished\novernight\nread\nthem\nservice\nlogs\nwhere\n");
    faq::searcher without{c.db, {}};
    // How the question is put (hey, vanished, overnight) is found in no doc; it must not
    // outweigh what it asks about.
    const std::string chatty = "hey, the service logs vanished overnight, where do I read them?";
    auto r = must(with_words.search(chatty));
    REQUIRE_FALSE(r.hits.empty());
    CHECK(r.hits.front().relative_path == "en/logs.md");
    auto before = must(without.search(chatty));
    REQUIRE_FALSE(before.hits.empty());
    CHECK(r.hits.front().coverage > 1.5 * before.hits.front().coverage);
    CHECK(r.confidence > before.confidence);
    // A name the list lacks still weighs in full: the question is about another product.
    auto named = must(with_words.search("hey, the service logs vanished in fluentbit, where?"));
    CHECK(named.confidence < r.confidence);
}

TEST_CASE("faq search: a quantity a page has is an exact match", "[unit]") {
    corpus c;
    c.add_team_pages(40);
    c.add({{"en/limits.md", "# Memory limits\n\nEvery container gets 512Mi unless it asks.\n"}});
    auto s = c.with_word_list("memory\nlimit\n");
    // 512Mi is in one section and weighs its idf; 768Mi, found nowhere, is a detail and weighs
    // no more than an ordinary word (the cap, 2).
    auto r = must(s.search("memory limit 512Mi or 768Mi"));
    REQUIRE(r.terms.size() == 4);
    REQUIRE_FALSE(r.hits.empty());
    CHECK(r.hits.front().relative_path == "en/limits.md");
    CHECK(r.terms[2] == "512Mi");
    CHECK(r.term_stats[2].sections == 1);
    CHECK(r.term_stats[2].weight > 2.0);
    CHECK(r.terms[3] == "768Mi");
    CHECK(r.term_stats[3].sections == 0);
    CHECK(r.term_stats[3].weight == Approx(2.0));
}

TEST_CASE("faq search: a name from the asker's own setup is a detail of the question", "[unit]") {
    corpus c;
    c.add_team_pages(40);
    c.add({{"ko/env.md", "# 환경 변수\n\n컨테이너의 env 값은 이미지의 ENV 값보다 우선한다.\n"}});
    auto weight_of = [](const faq::search_result& r, std::string_view word) {
        auto it = std::find(r.terms.begin(), r.terms.end(), word);
        REQUIRE(it != r.terms.end());
        return r.term_stats[static_cast<std::size_t>(it - r.terms.begin())].weight;
    };
    // A Latin word no Korean page uses weighs as a product name (Terraform), and so does a
    // two-part name (cert-manager is a product)…
    auto product = must(c.search.search("컨테이너 env 값이 terraform 값보다 우선해요?"));
    CHECK(weight_of(product, "terraform") > 2.0);
    auto two_parts = must(c.search.search("컨테이너 env 값이 cert-manager 값보다 우선해요?"));
    CHECK(weight_of(two_parts, "cert") > 2.0);
    // …but the parts of an environment variable, a key=value or a long hyphenated name weigh
    // no more than an ordinary word (the cap, 2): the bot is surer than of the same words apart.
    struct asked {
        std::string question, apart;
        std::vector<std::string_view> parts;
    };
    for (const auto& [question, apart, parts] : std::vector<asked>{
             {"컨테이너 env에 SPRING_PROFILES_ACTIVE=prod 주면 ENV 값보다 우선해요?",
              "컨테이너 env에 SPRING PROFILES ACTIVE prod 주면 ENV 값보다 우선해요?",
              {"SPRING", "PROFILES", "ACTIVE"}},
             {"settlement-daily-report-generator 컨테이너 env 값이 ENV 값보다 우선해요?",
              "settlement daily report generator 컨테이너 env 값이 ENV 값보다 우선해요?",
              {"settlement", "generator"}}}) {
        auto r = must(c.search.search(question));
        REQUIRE_FALSE(r.hits.empty());
        CHECK(r.hits.front().relative_path == "ko/env.md");
        for (auto part : parts) {
            CHECK(weight_of(r, part) == Approx(2.0));
        }
        CHECK(r.confidence > must(c.search.search(apart)).confidence);
    }
}

TEST_CASE("faq search: a page its askers said answered them ranks first for questions like theirs",
          "[unit]") {
    corpus c;
    c.add({{"en/probes.md",
            "# Container probes\n\n## Startup probes\n\nThe kubelet kills a container whose "
            "liveness probe fails, even while the app is starting. A startup probe holds the "
            "liveness probe off until a slow app has started.\n"},
           {"en/warmup.md",
            "# Cache warm-up\n\n## Warming up the cache\n\nThe app warms up its cache from the "
            "database while it starts; warming up takes a minute.\n"}});
    const std::string question = "my app gets killed while it is still warming up";
    // By the docs alone the page with the question's words wins.
    CHECK(c.top(question).starts_with("en/warmup.md"));

    storage::faq_repository repo(c.db);
    storage::faq_ask earlier{.question = "app killed while warming up, how do I give it time?",
                             .user = "U1",
                             .section = "en/warmup.md#warming-up-the-cache",
                             .answered = true};
    must(repo.record_ask(earlier));
    REQUIRE(repo.teach(earlier, "en/probes.md#startup-probes"));
    c.search.forget_lessons();
    CHECK(must(repo.lesson_count()) == 1);
    auto r = must(c.search.search(question));
    REQUIRE_FALSE(r.hits.empty());
    CHECK(r.hits.front().ref() == "en/probes.md#startup-probes");
    CHECK(r.hits.front().learned > 0.8);
    // As sure as the likeness to a question whose asker confirmed the page.
    CHECK(r.confidence >= r.hits.front().learned);
    CHECK(r.answer);
    // A question the lesson is not like ranks as before.
    r = must(c.search.search("how long does the cache warm-up take"));
    CHECK(r.hits.front().ref() == "en/warmup.md#warming-up-the-cache");
    CHECK(r.hits.front().learned == 0);

    // The asker took it back (a 👎 after the 👍): the docs decide again.
    CHECK(must(repo.unteach(earlier.id)));
    c.search.forget_lessons();
    CHECK(must(repo.lesson_count()) == 0);
    CHECK(c.top(question).starts_with("en/warmup.md"));
}

TEST_CASE(
    "faq search: a question like one the docs do not answer is declined, until its page "
    "changes",
    "[unit]") {
    corpus c;
    const std::string question = "octopus rollback to the previous release";
    auto before = must(c.search.search(question));
    // By the docs alone the nearest page answers it.
    REQUIRE(before.answer);
    REQUIRE(before.hits.front().relative_path == "en/rollback.md");

    const auto page = c.dir.path / "en" / "rollback.md";
    const auto written = std::chrono::time_point_cast<std::chrono::seconds>(
        std::chrono::file_clock::to_sys(fs::last_write_time(page)));
    storage::faq_repository repo(c.db);
    // An earlier question, answered by the page, asked `after` the page was written.
    auto asked = [&](std::string text, std::chrono::hours after) {
        storage::faq_ask a{.question = std::move(text),
                           .user = "U1",
                           .section = "en/rollback.md#with-the-bot",
                           .answered = true,
                           .at = written + after};
        must(repo.record_ask(a));
        return a;
    };
    const auto earlier = asked("how do I roll back an octopus release?", 1h);
    // The platform team said the docs do not answer it.
    REQUIRE(must(repo.teach(earlier, "")));
    c.search.forget_lessons();
    CHECK(must(repo.lesson_count()) == 0);
    CHECK(must(repo.lesson_count(true)) == 1);

    auto r = must(c.search.search(question));
    INFO(r.confidence);
    CHECK(r.known_gap);
    CHECK_FALSE(r.answer);
    CHECK(r.confidence < 0.25);
    // The closest pages are still offered.
    REQUIRE_FALSE(r.hits.empty());
    CHECK(r.hits.front().relative_path == "en/rollback.md");
    // A question about what the docs do answer is not like it.
    auto deploy = must(c.search.search("how do I roll back a deploy with the bot?"));
    CHECK_FALSE(deploy.known_gap);
    CHECK(deploy.answer);

    // A question its asker said the page answered, more alike than the gap: answered again.
    const auto confirmed = asked("octopus rollback to the previous release, prod", 2h);
    REQUIRE(must(repo.teach(confirmed, "en/rollback.md#with-the-bot")));
    c.search.forget_lessons();
    r = must(c.search.search(question));
    CHECK_FALSE(r.known_gap);
    CHECK(r.answer);
    CHECK(must(repo.unteach(confirmed.id)));
    c.search.forget_lessons();
    CHECK(must(c.search.search(question)).known_gap);

    // The page changed after the question was asked: it may answer it now.
    std::ofstream(page, std::ios::app) << "\n## Octopus releases\n\nType `octopus rollback`.\n";
    fs::last_write_time(page, fs::last_write_time(page) + 2h);
    c.search.after_sync(must(c.indexer.sync()));
    r = must(c.search.search(question));
    CHECK_FALSE(r.known_gap);
    CHECK(r.answer);
}

TEST_CASE("faq search: find_section finds the page a person names by path, anchor or link",
          "[unit]") {
    corpus c;
    c.add({{"en/undo-release.md",
            "---\ntitle: Rolling back\nurl: https://docs.example.com/undo\n---\n\n# Rolling "
            "back\n\nGo back to the last version that worked.\n\n## With the bot\n\nType "
            "`/deploy rollback api prod`.\n"}});
    auto named = [&](std::string_view ref) { return must(faq::find_section(c.db, ref)); };

    auto with_anchor = named("en/undo-release.md#with-the-bot");
    REQUIRE(with_anchor);
    CHECK(with_anchor->ref() == "en/undo-release.md#with-the-bot");
    CHECK(with_anchor->title == "Rolling back");
    CHECK(with_anchor->heading_path == "With the bot");
    CHECK(with_anchor->url == "https://docs.example.com/undo");
    CHECK(with_anchor->snippet == "Type /deploy rollback api prod.");
    // The path alone is the page's top; its link finds the same sections.
    auto top = named("en/undo-release.md");
    REQUIRE(top);
    CHECK(top->ref() == "en/undo-release.md#rolling-back");
    CHECK(top->snippet.starts_with("Go back to the last version"));
    auto linked = named("https://docs.example.com/undo#with-the-bot");
    REQUIRE(linked);
    CHECK(linked->section_id == with_anchor->section_id);
    CHECK(named("https://docs.example.com/undo")->section_id == top->section_id);

    CHECK_FALSE(named("en/undo-release.md#no-such-heading"));
    CHECK_FALSE(named("en/undo.md"));
    CHECK_FALSE(named("#with-the-bot"));
    CHECK_FALSE(named(""));
}
