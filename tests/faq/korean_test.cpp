// Korean question analysis (faq/korean.hpp): which words of a question are searched, and how.

#include "faq/korean.hpp"
#include "faq/search.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace tugboat;

namespace {

bool has(const std::vector<std::string>& list, std::string_view item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

/// The words a question is searched for.
std::vector<std::string> words(std::string_view question) {
    std::vector<std::string> out;
    for (const auto& t : faq::parse_question(question)) {
        out.push_back(t.word);
    }
    return out;
}

}  // namespace

TEST_CASE("faq korean: generic verbs and one-syllable verb stems carry no topic", "[unit]") {
    for (std::string_view w : {"쓰나요", "갖나요", "주려면", "만드는", "만든", "쓰는", "쓸", "될",
                               "해야", "않아요", "돼요", "써요", "했어요", "받으려면", "알려줘",
                               "보여주세요", "만들어져", "있을", "가나요"}) {
        INFO(w);
        CHECK(faq::analyze_korean_word(w).stem.empty());
    }
    CHECK(words("초기화 컨테이너는 무엇에 쓰나요?") ==
          std::vector<std::string>{"초기화", "컨테이너"});
    CHECK(words("네임스페이스를 만드는 방법") == std::vector<std::string>{"네임스페이스"});
}

TEST_CASE("faq korean: a noun with a particle stays a term", "[unit]") {
    SECTION("a one-syllable noun is searched as the start of its syllable pairs") {
        auto job = faq::analyze_korean_word("잡을");
        CHECK(job.stem == "잡");
        CHECK(job.prefix);
        auto key = faq::analyze_korean_word("키를");
        CHECK(key.stem == "키");
        CHECK(key.prefix);
        auto terms = faq::parse_question("키를 바꾸려면?");
        REQUIRE_FALSE(terms.empty());
        CHECK(terms[0].match == "\"키\"*");
    }
    SECTION("a particle that also ends nouns keeps the word whole") {
        auto shell = faq::analyze_korean_word("셸로");
        CHECK(shell.stem == "셸로");
        CHECK(has(shell.variants, "셸"));
        CHECK(faq::analyze_korean_word("경로").stem == "경로");
    }
    SECTION("a topic particle is not read as a verb ending") {
        auto service = faq::analyze_korean_word("서비스는");
        CHECK(service.stem == "서비스");
        CHECK(service.variants.empty());
        CHECK_FALSE(service.prefix);
    }
    SECTION("a particle after a word in another script is dropped") {
        CHECK(words("git에서 브랜치를 병합하는 방법") ==
              std::vector<std::string>{"git", "브랜치", "병합"});
    }
}

TEST_CASE("faq korean: irregular and contracted stems are searched as the pages spell them",
          "[unit]") {
    SECTION("ㄹ-irregular: the ㄹ the ending dropped comes back") {
        auto shake = faq::analyze_korean_word("흔드세요");
        CHECK(shake.stem == "흔드");
        CHECK(has(shake.variants, "흔들"));
    }
    SECTION("a verb stem also matches its 어 form") {
        auto attach = faq::analyze_korean_word("붙이려면");
        CHECK(attach.stem == "붙이");
        CHECK(has(attach.variants, "붙여"));
    }
    SECTION("a 하다/되다 verb is its noun, whatever precedes the ending") {
        CHECK(faq::analyze_korean_word("재정의하려면").stem == "재정의");
        CHECK(faq::analyze_korean_word("재시작되는데").stem == "재시작");
    }
    SECTION("a one-syllable verb stem is searched as a prefix") {
        auto exceed = faq::analyze_korean_word("넘으면");
        CHECK(exceed.stem == "넘");
        CHECK(exceed.prefix);
    }
}

TEST_CASE("faq korean: native verbs also search the word the docs use", "[unit]") {
    auto stop = faq::analyze_korean_word("멈췄어요");
    CHECK(stop.stem == "멈추");
    CHECK(has(stop.variants, "중지"));
    auto terms = faq::parse_question("파드를 지우려면?");
    REQUIRE(terms.size() == 2);
    CHECK(terms[1].word == "지우");
    CHECK(has(terms[1].phrases, "삭제"));
}

TEST_CASE("faq korean: fillers and the endings of casual and polite speech are dropped", "[unit]") {
    const std::vector<std::string> deploy{"배포"};
    for (std::string_view q : {"배포해?", "배포함?", "배포할래", "배포할 수 있나요?",
                               "배포해야 하나요?", "배포가 안 돼요", "배포가 되지 않아요",
                               "혹시 배포 그냥 다시 해 주세요", "자주 하는 배포 모음"}) {
        INFO(q);
        CHECK(words(q) == deploy);
    }
    CHECK(words("배포인데 롤백하고 싶어요") == std::vector<std::string>{"배포", "롤백"});
}

TEST_CASE("faq korean: the glossary is looked up in every spelling of a word", "[unit]") {
    const faq::glossary extra{{"셸", {"shell"}}};
    auto terms = faq::parse_question("셸로 접속하려면?", extra);
    REQUIRE_FALSE(terms.empty());
    CHECK(terms[0].word == "셸로");
    CHECK(has(terms[0].phrases, "shell"));
}

TEST_CASE("faq korean: particles of two syllables, plurals and chat endings", "[unit]") {
    SECTION("a particle of two syllables may leave a one-syllable noun") {
        auto value = faq::analyze_korean_word("값으로");
        CHECK(value.stem == "값");
        CHECK(value.prefix);
        CHECK(faq::analyze_korean_word("뭐부터").stem.empty());  // 뭐 is a question word
    }
    SECTION("according-to, plural and each are particles") {
        CHECK(faq::analyze_korean_word("순서대로").stem == "순서");
        CHECK(faq::analyze_korean_word("파드들은").stem == "파드");
    }
    SECTION("retrospective endings on generic verbs carry no topic") {
        for (std::string_view w : {"했더니", "있던", "나오던데", "좋아요"}) {
            INFO(w);
            CHECK(faq::analyze_korean_word(w).stem.empty());
        }
        CHECK(faq::analyze_korean_word("넣으려는데").stem == "넣");
    }
    SECTION("counters, numbers and the copula are not topics") {
        CHECK(words("컨테이너 두 개 넣으면 동시에 떠요?") ==
              std::vector<std::string>{"컨테이너", "넣", "동시", "뜨"});
        CHECK(words("상태가 Unknown이에요") == std::vector<std::string>{"상태", "Unknown"});
    }
}
