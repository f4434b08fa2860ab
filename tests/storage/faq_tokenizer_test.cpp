#include "storage/faq_tokenizer.hpp"
#include "storage/database.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace tugboat;

namespace {

std::vector<std::string> words(std::string_view text) {
    std::vector<std::string> out;
    for (const auto& t : storage::faq_tokens(text)) {
        out.push_back(t.text);
    }
    return out;
}

using list = std::vector<std::string>;

}  // namespace

TEST_CASE("faq_tokenizer: Hangul becomes overlapping syllable bigrams", "[unit]") {
    CHECK(words("배포하기") == list{"배포", "포하", "하기"});
    CHECK(words("권한") == list{"권한"});
    SECTION("a one-syllable word stays itself") {
        CHECK(words("잡 로그") == list{"잡", "로그"});
    }
    SECTION("offsets cover both syllables of a bigram") {
        auto t = storage::faq_tokens("새 배포를");
        REQUIRE(t.size() == 3);
        CHECK(t[1].text == "배포");
        CHECK(t[1].start == 4);
        CHECK(t[1].end == 10);
        CHECK(t[2].text == "포를");
        CHECK(t[2].end == 13);
    }
}

TEST_CASE("faq_tokenizer: a change of script ends a word", "[unit]") {
    CHECK(words("kubeconfig를 설정") == list{"kubeconfig", "를", "설정"});
    CHECK(words("파드(Pod)가") == list{"파드", "pod", "가"});
    CHECK(words("k8s클러스터") == list{"k8s", "클러", "러스", "스터"});
}

TEST_CASE("faq_tokenizer: NFD input tokenizes like NFC", "[unit]") {
    // "배포" as conjoining jamo: ᄇ ᅢ ᄑ ᅩ
    const std::string nfd = "\u1107\u1162\u1111\u1169";
    CHECK(words(nfd) == list{"배포"});
    // 권 has a trailing consonant: ᄀ ᅯ ᆫ
    CHECK(words("\u1100\u116f\u11ab\u1112\u1161\u11ab") == list{"권한"});
    // Latin: e + combining acute folds like é does.
    CHECK(words("cafe\u0301 Café") == list{"cafe", "cafe"});
}

TEST_CASE("faq_tokenizer: English is case-folded and stemmed", "[unit]") {
    CHECK(words("Deploying Deployments") == list{"deploi", "deploy"});
    CHECK(words("rolled back ROLLBACKS") == list{"roll", "back", "rollback"});
    CHECK(words("Ünïcode résumé") == list{"unicod", "resum"});
    CHECK(storage::porter_stem("relational") == "relat");
    CHECK(storage::porter_stem("hopping") == "hop");
    CHECK(storage::porter_stem("generalizations") == "gener");
}

TEST_CASE("faq_tokenizer: emoji and punctuation separate words", "[unit]") {
    CHECK(words("deploy🚀now 👍🏽 배포🎉완료") ==
          list{"deploi", "now", "배포", "완료"});
    CHECK(words("❤️") == list{});
    CHECK(words("") == list{});
}

TEST_CASE("faq_tokenizer: code splits at punctuation", "[unit]") {
    CHECK(words("kubectl get pods -n kube-system") ==
          list{"kubectl", "get", "pod", "n", "kube", "system"});
    CHECK(words("DATABASE_HOST=v1.2") == list{"databas", "host", "v1", "2"});
}

TEST_CASE("faq_tokenizer: invalid UTF-8 separates words", "[unit]") {
    CHECK(words("abc\xff\xfe"
                "def") == list{"abc", "def"});
    CHECK(words("\xe3\x80") == list{});
}

TEST_CASE("faq_tokenizer: FTS5 uses it for the faq_search table", "[unit]") {
    auto db = storage::database::open(":memory:", core::null_logger());
    REQUIRE(db);
    REQUIRE(
        db->exec("INSERT INTO faq_search (rowid, title, questions, heading, body) "
                 "VALUES (1, '배포', '', '', '새 버전을 배포하려면 kubeconfig를 준비한다')"));
    for (const char* q : {"배포", "kubeconfig", "\"버전\"", "준비"}) {
        auto st = db->prepare("SELECT count(*) FROM faq_search WHERE faq_search MATCH ?");
        REQUIRE(st);
        st->bind(1, q);
        auto row = st->step();
        REQUIRE(row);
        CHECK(st->get_int(0) == 1);
    }
}
