// tugboat_rank, the FAQ's ranking function: FTS5's bm25 without statistics, and with them each
// section scored as in an index of its own language.

#include "storage/faq_rank.hpp"
#include "storage/database.hpp"
#include "storage/faq_repository.hpp"
#include "tests/support/must.hpp"

#include <catch2/catch.hpp>

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

struct scores {
    std::map<std::string, double> ours;  // heading → tugboat_rank
    std::map<std::string, double> bm25;  // heading → -bm25()
};

scores score(storage::database& db, std::string_view match,
             const storage::faq_rank_statistics* statistics) {
    auto st = must(
        db.prepare("SELECT s.heading_path, tugboat_rank(faq_search, ?2, 6.0, 6.0, 3.0, 1.0), "
                   "-bm25(faq_search, 6.0, 6.0, 3.0, 1.0) FROM faq_search "
                   "JOIN faq_sections s ON s.id = faq_search.rowid WHERE faq_search MATCH ?1"));
    st.bind(1, match);
    if (statistics != nullptr) {
        st.bind_pointer(2, statistics, storage::faq_rank_statistics::pointer_type);
    }
    scores out;
    while (must(st.step())) {
        out.ours[st.get_text(0)] = st.get_double(1);
        out.bm25[st.get_text(0)] = st.get_double(2);
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
    const auto en = s.language_of("en");
    const auto ko = s.language_of("ko");
    REQUIRE(en != 0);
    REQUIRE(ko != 0);
    CHECK(s.languages[static_cast<std::size_t>(en)].sections == 4);
    CHECK(s.languages[static_cast<std::size_t>(ko)].sections == 3);
    CHECK(s.languages[static_cast<std::size_t>(en)].tokens +
              s.languages[static_cast<std::size_t>(ko)].tokens ==
          s.languages[0].tokens);
    CHECK(s.language_of("fr") == 0);
    for (const auto& [id, section] : s.sections) {
        CHECK(section.tokens > 0);
    }
}

TEST_CASE("faq_rank: without statistics, or with one language, it is bm25", "[unit]") {
    auto db = index_of({english});
    const auto statistics = must(storage::read_faq_rank_statistics(db));
    for (const auto* match : {"deploy", "deploy OR rollback", "\"last hour\" OR logs", "servic*"}) {
        INFO(match);
        for (const auto* with :
             {static_cast<const storage::faq_rank_statistics*>(nullptr), &statistics}) {
            auto s = score(db, match, with);
            REQUIRE_FALSE(s.ours.empty());
            for (const auto& [heading, bm25] : s.bm25) {
                INFO(heading);
                CHECK(s.ours[heading] == Approx(bm25).epsilon(1e-12));
            }
        }
    }
}

TEST_CASE("faq_rank: with statistics each section scores as in its own language's index",
          "[unit]") {
    auto both = index_of({english, korean});
    auto alone = index_of({english});
    const auto statistics = must(storage::read_faq_rank_statistics(both));
    // deploy and rollback are in the Korean pages too: in one index of both languages, bm25
    // finds them in more sections and over a longer average than the English pages alone have.
    for (const auto* match : {"deploy", "deploy OR rollback OR logs", "service"}) {
        INFO(match);
        const auto mixed = score(both, match, &statistics);
        const auto own = score(alone, match, nullptr).bm25;
        int differs = 0;
        for (const auto& [heading, expected] : own) {
            INFO(heading);
            CHECK(mixed.ours.at(heading) == Approx(expected).epsilon(1e-12));
            differs += mixed.bm25.at(heading) == Approx(expected).epsilon(1e-6) ? 0 : 1;
        }
        CHECK(differs > 0);
    }
    SECTION("a section indexed after the statistics were read counts as any language") {
        storage::faq_repository repo(both);
        storage::faq_document d{.path = "new.md", .hash = "n", .front_matter_json = "{}"};
        std::vector<storage::faq_section> sections{{.heading_path = "New", .body = "deploy"}};
        must(repo.replace_sections(must(repo.upsert_document(d)), sections));
        const auto s = score(both, "deploy", &statistics);
        CHECK(s.ours.at("New") > 0);
    }
}
