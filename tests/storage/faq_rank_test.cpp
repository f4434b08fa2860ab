// tugboat_rank, the FAQ's ranking function: BM25F, and with the statistics each section
// scored as in an index of its own language.

#include "storage/faq_rank.hpp"
#include "storage/database.hpp"
#include "storage/faq_repository.hpp"
#include "tests/support/must.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <string>
#include <vector>

using namespace tugboat;
using test::must;

namespace {

struct page {
    std::string path;
    std::string language;
    std::vector<std::pair<std::string, std::string>> sections;  // heading → body
};

const std::vector<page> english{
    {"deploy.md",
     "en",
     {{"Deploying", "Run deploy with the service and the version; the deploy waits."},
      {"Deploying > Rolling back", "A rollback returns the service to its last version."}}},
    {"logs.md", "en", {{"Logs", "Logs of a service, the last hour of logs, follow them."}}},
    {"access.md", "en", {{"Access", "Ask for access; a deploy to prod needs approval."}}},
};
const std::vector<page> korean{
    {"ko/deploy.md",
     "ko",
     {{"배포하기", "서비스와 버전으로 deploy 명령을 실행합니다. 배포가 끝날 때까지 기다립니다."},
      {"배포하기 > 롤백",
       "rollback 명령은 서비스를 이전 버전으로 되돌립니다. 롤백 전에 로그를 "
       "확인하고 배포 기록을 봅니다."}}},
    {"ko/logs.md", "ko", {{"로그", "서비스 로그를 봅니다. 로그는 한 시간 동안 남습니다."}}},
};

storage::database index_of(const std::vector<std::vector<page>>& sets) {
    auto db = must(storage::database::open(":memory:", core::null_logger()));
    storage::faq_repository repo(db);
    for (const auto& pages : sets) {
        for (const auto& p : pages) {
            storage::faq_document d{.path = p.path,
                                    .hash = p.path,
                                    .front_matter_json = R"({"language":")" + p.language + R"("})"};
            const auto id = must(repo.upsert_document(d));
            std::vector<storage::faq_section> sections;
            for (const auto& [heading, body] : p.sections) {
                sections.push_back({.ordinal = static_cast<int>(sections.size()),
                                    .heading_path = heading,
                                    .body = body});
            }
            must(repo.replace_sections(id, sections));
        }
    }
    return db;
}

/// heading → tugboat_rank of every section `match` finds; `words` says which word of the
/// question each of its phrases is a form of ("" = none said).
std::map<std::string, double> score(storage::database& db, std::string_view match,
                                    const storage::faq_rank_statistics* statistics,
                                    std::string_view words = "") {
    auto st = must(
        db.prepare("SELECT s.heading_path, tugboat_rank(faq_search, ?2, 6.0, 6.0, 3.0, 1.0, ?3) "
                   "FROM faq_search JOIN faq_sections s ON s.id = faq_search.rowid "
                   "WHERE faq_search MATCH ?1"));
    st.bind(1, match);
    if (statistics != nullptr) {
        st.bind_pointer(2, statistics, storage::faq_rank_statistics::pointer_type);
    }
    if (!words.empty()) {
        st.bind(3, words);
    }
    std::map<std::string, double> out;
    while (must(st.step())) {
        out[st.get_text(0)] = st.get_double(1);
    }
    return out;
}

}  // namespace

TEST_CASE("faq_rank: the statistics count sections and tokens per language", "[unit]") {
    auto db = index_of({english, korean});
    const auto s = must(storage::read_faq_rank_statistics(db));
    REQUIRE(s.languages.size() == 3);
    CHECK(s.sections.size() == 7);
    CHECK(s.languages[0].sections == 7);
    const auto en = static_cast<std::size_t>(s.language_of("en"));
    const auto ko = static_cast<std::size_t>(s.language_of("ko"));
    REQUIRE(en != 0);
    REQUIRE(ko != 0);
    CHECK(s.language_of("fr") == 0);
    CHECK(s.languages[en].sections == 4);
    CHECK(s.languages[ko].sections == 3);
    // Headings: Deploying, Deploying > Rolling back, Logs, Access.
    constexpr std::size_t heading = 2;
    constexpr std::size_t body = 3;
    CHECK(s.languages[en].tokens[heading] == 6);
    for (std::size_t c = 0; c < storage::faq_rank_statistics::columns; ++c) {
        CHECK(s.languages[en].tokens[c] + s.languages[ko].tokens[c] == s.languages[0].tokens[c]);
    }
    for (const auto& [id, section] : s.sections) {
        CHECK(section.tokens[heading] > 0);
        CHECK(section.tokens[body] > 0);
    }
}

TEST_CASE("faq_rank: BM25F, each column weighed and normalised by its own length", "[unit]") {
    auto db = index_of({{{"logs.md", "en", {{"Logs", "read them"}}},
                         {"deploy.md", "en", {{"Deploy", "deploy it now"}}},
                         {"access.md", "en", {{"Access", "ask for access"}}}}});
    const auto statistics = must(storage::read_faq_rank_statistics(db));
    // One section of three has the word: idf ln(2.5 / 1.5). k1 = 1.2, heading ×3 and b 0.9.
    const double idf = std::log(2.5 / 1.5);
    const auto bm25f = [&](double tf) { return idf * tf * 2.2 / (tf + 1.2); };
    // Headings are one word each (average 1); bodies 2, 3 and 3 words (average 8/3).
    const double heading_only = 3.0;
    const double heading_and_body = 3.0 + 1.0 / (0.1 + 0.9 * 3.0 / (8.0 / 3.0));
    for (const auto* with :
         {static_cast<const storage::faq_rank_statistics*>(nullptr), &statistics}) {
        CHECK(score(db, "logs", with).at("Logs") == Approx(bm25f(heading_only)).epsilon(1e-12));
        CHECK(score(db, "deploy", with).at("Deploy") ==
              Approx(bm25f(heading_and_body)).epsilon(1e-12));
    }
}

TEST_CASE("faq_rank: with statistics each section scores as in its own language's index",
          "[unit]") {
    auto both = index_of({english, korean});
    auto alone = index_of({english});
    const auto statistics = must(storage::read_faq_rank_statistics(both));
    // deploy and rollback are in the Korean pages too: counted over one index of both
    // languages, they are in more sections, and the sections are longer on average.
    for (const auto* match : {"deploy", "deploy OR rollback OR logs", "service"}) {
        INFO(match);
        const auto mixed = score(both, match, &statistics);
        const auto pooled = score(both, match, nullptr);
        const auto own = score(alone, match, nullptr);
        REQUIRE_FALSE(own.empty());
        int differs = 0;
        for (const auto& [heading, expected] : own) {
            INFO(heading);
            CHECK(mixed.at(heading) == Approx(expected).epsilon(1e-12));
            differs += pooled.at(heading) == Approx(expected).epsilon(1e-6) ? 0 : 1;
        }
        CHECK(differs > 0);
    }
    SECTION("a section indexed after the statistics were read counts as any language") {
        storage::faq_repository repo(both);
        storage::faq_document d{.path = "new.md", .hash = "n", .front_matter_json = "{}"};
        std::vector<storage::faq_section> sections{{.heading_path = "New", .body = "deploy"}};
        must(repo.replace_sections(must(repo.upsert_document(d)), sections));
        CHECK(score(both, "deploy", &statistics).at("New") > 0);
    }
}

TEST_CASE("faq_rank: a word found in two forms counts once and its other form at 0.3", "[unit]") {
    // Pages about other things keep 초기화 and 컨테이너 from being in most sections.
    std::vector<page> pages{
        {"ko/debug-init.md",
         "ko",
         {{"초기화 컨테이너(Init Containers) 디버그하기", "init-container-1 의 상태를 본다."}}},
        {"ko/init.md", "ko", {{"초기화 컨테이너", "앱보다 먼저 실행된다."}}}};
    for (int i = 0; i < 6; ++i) {
        pages.push_back({fmt::format("ko/logs-{}.md", i), "ko", {{"로그", "서비스 로그를 본다."}}});
    }
    auto db = index_of({pages});
    const auto statistics = must(storage::read_faq_rank_statistics(db));
    const std::string debug = "초기화 컨테이너(Init Containers) 디버그하기";
    const double latin = score(db, R"("init")", &statistics).at(debug);
    const double hangul = score(db, R"("초기화")", &statistics).at(debug);
    REQUIRE(hangul > 0.1 * latin);
    REQUIRE(latin > 0.1 * hangul);
    const std::string match = R"(("init" OR "초기화") OR "컨테이너")";
    const double container = score(db, R"("컨테이너")", &statistics).at(debug);
    // init and 초기화 are one word of the question, 컨테이너 another.
    CHECK(
        score(db, match, &statistics, "0 0 1").at(debug) ==
        Approx(std::max(latin, hangul) + 0.3 * std::min(latin, hangul) + container).epsilon(1e-12));
    // The concept page has the word in one form only: it scores as before.
    const std::string concept_page = "초기화 컨테이너";
    CHECK(score(db, match, &statistics, "0 0 1").at(concept_page) ==
          Approx(score(db, match, &statistics).at(concept_page)).epsilon(1e-12));
    // Without the words, or with words that do not fit the phrases, every phrase counts in full.
    for (const auto* words : {"", "0 0", "0 0 3", "0 x 1"}) {
        INFO(words);
        CHECK(score(db, match, &statistics, words).at(debug) ==
              Approx(latin + hangul + container).epsilon(1e-12));
    }
}
