#include "faq/korean.hpp"

#include "storage/faq_tokenizer.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <set>

namespace tugboat::faq {
namespace {

// Question words, pronouns, filler adverbs (자주 often, 혹시 perhaps, 다시 again…), negation and
// words about the form of the answer (모음 collection, 정리 summary, 차이 difference): none
// names what a page is about, and a page rarely uses them, so as terms they only lower the
// confidence of questions the docs answer.
constexpr auto stop_words = std::to_array<std::string_view>(
    {// question words and set phrases
     "어떻게", "어떻", "무엇", "무엇인가요", "뭐", "뭔가요", "뭐예요", "뭔지", "뭘", "왜", "어디",
     "어디서", "언제", "누가", "누구", "어떤", "무슨", "어느", "얼마나", "몇", "방법", "법", "알려",
     "주세요", "싶어요", "싶어", "싶습니다", "싶은데", "궁금해요", "궁금", "궁금합니다", "경우",
     "것", "거", "건", "게", "때", "수", "일이", "중인", "중",
     // pronouns and determiners
     "제", "내", "제가", "내가", "저는", "나는", "저희", "우리", "이", "그", "저", "이거", "그거",
     "이것", "그것", "여기", "거기", "이런", "그런", "이렇게", "그렇게",
     // filler adverbs, conjunctions and negation
     "좀", "자주", "혹시", "그냥", "보통", "제대로", "다시", "잘", "또", "더", "꼭", "항상", "바로",
     "먼저", "직접", "아직", "이미", "너무", "많이", "조금", "가장", "제일", "정말", "진짜",
     "갑자기", "계속", "일단", "우선", "미리", "매번", "전부", "모두", "다", "같이", "함께", "따로",
     "쉽게", "빨리", "간단히", "도대체", "대체", "만약", "그리고", "그런데", "근데", "그래서",
     "하지만", "또는", "혹은", "안", "못",
     // the form of the answer, not its topic
     "모음", "정리", "요약", "총정리", "차이", "차이점", "관련", "대해", "대한", "관한", "관해",
     "필요", "가능",
     // particles written apart
     "로", "를", "을", "가", "은", "는", "의", "에", "도", "와", "과", "만"});

// Particles and the endings of 하다/되다 verbs, longest first. Only stripped when at least two
// syllables remain, so "잡을" stays whole.
constexpr auto suffixes = std::to_array<std::string_view>(
    {"시키려면", "으려면",   "하려면", "하려고", "하는데", "하나요", "합니까", "할까요", "하는지",
     "했는데",   "했어요",   "됩니까", "되나요", "에서는", "이라는", "으로는", "습니다", "하도록",
     "되도록",   "해주세요", "할래요", "인가요", "인데요", "에서",   "으로",   "에게",   "까지",
     "부터",     "이란",     "이나",   "라는",   "하는",   "하기",   "하고",   "하면",   "해야",
     "해서",     "해요",     "한다",   "되는",   "되지",   "되면",   "돼요",   "시키는", "나요",
     "가요",     "어요",     "아요",   "세요",   "려면",   "으면",   "인지",   "하게",   "되게",
     "하지",     "하자",     "할래",   "했어",   "인데",   "할",     "한",     "된",     "될",
     "해",       "함",       "됨",     "와",     "과",     "을",     "를",     "이",     "가",
     "은",       "는",       "의",     "에",     "로",     "도",     "만",     "란",     "요",
     "죠",       "게",       "면",     "임"});

// One-syllable case particles, for nouns as short as 셸 or 키.
constexpr std::u32string_view particles = U"을를이가은는의에로와과도만";

// Verbs as generic as the English stop words make, use, get, have, know, want (하다 do, 되다
// become, 쓰다 use, 주다 give, 갖다/가지다 have, 보다 see, 알다 know, 받다/얻다 get, 만들다
// make, 있다/없다 exist…), as dictionary stems without 다.
constexpr auto generic_stems = std::to_array<std::u32string_view>(
    {U"하",   U"되",   U"쓰",   U"주",   U"갖", U"가지", U"보", U"보이", U"알", U"받",
     U"얻",   U"있",   U"없",   U"싶",   U"않", U"만들", U"두", U"놓",   U"가", U"오",
     U"생기", U"시키", U"드리", U"원하", U"이", U"아니", U"같", U"말"});

// Hangul syllable = 0xAC00 + (lead × 21 + vowel) × 28 + tail.
constexpr char32_t first_syllable = 0xAC00;
constexpr int tail_count = 28;
constexpr int tail_none = 0, tail_n = 4, tail_l = 8, tail_b = 17, tail_ss = 20;
constexpr int lead_h = 18;
enum vowel : int {
    a = 0,
    ae = 1,
    eo = 4,
    yeo = 6,
    o = 8,
    wa = 9,
    wae = 10,
    oe = 11,
    u = 13,
    wo = 14,
    eu = 18,
    i = 20
};

bool hangul(char32_t c) {
    return storage::is_hangul_syllable(c);
}
int tail_of(char32_t c) {
    return static_cast<int>(c - first_syllable) % tail_count;
}
int vowel_of(char32_t c) {
    return static_cast<int>(c - first_syllable) / tail_count % 21;
}
int lead_of(char32_t c) {
    return static_cast<int>(c - first_syllable) / tail_count / 21;
}
char32_t with_tail(char32_t c, int tail) {
    return c - static_cast<char32_t>(tail_of(c)) + static_cast<char32_t>(tail);
}
char32_t with_vowel(char32_t c, int v) {
    return first_syllable + static_cast<char32_t>((lead_of(c) * 21 + v) * tail_count + tail_of(c));
}

// A verbal ending, as written after the stem. `tail`: the ending begins inside the stem's last
// syllable (쓸까요 = 쓰 + ㄹ까요), so that syllable must end in it. `strong`: only predicates
// take it — a one-syllable ending like 는 or 고 is also a particle or a noun's last syllable
// (키는, 보고서), so it only marks a generic verb. `drops_l`: a stem ending in ㄹ loses it
// before this ending (만들다 → 만드는, 만드세요, 만든).
struct ending {
    std::u32string_view text;
    int tail = tail_none;
    bool strong = false;
    bool drops_l = false;
};

constexpr auto endings = std::to_array<ending>({
    {U"으려면", tail_none, true},
    {U"려면", tail_none, true},
    {U"으려고", tail_none, true},
    {U"려고", tail_none, true},
    {U"으려는", tail_none, true},
    {U"려는", tail_none, true},
    {U"나요", tail_none, true, true},
    {U"으니까", tail_none, true},
    {U"니까", tail_none, true},
    {U"는데", tail_none, true, true},
    {U"는지", tail_none, true, true},
    {U"으세요", tail_none, true},
    {U"세요", tail_none, true, true},
    {U"었어요", tail_none, true},
    {U"았어요", tail_none, true},
    {U"었나요", tail_none, true},
    {U"았나요", tail_none, true},
    {U"어요", tail_none, true},
    {U"아요", tail_none, true},
    {U"어야", tail_none, true},
    {U"아야", tail_none, true},
    {U"어서", tail_none, true},
    {U"아서", tail_none, true},
    {U"어도", tail_none, true},
    {U"아도", tail_none, true},
    {U"으면", tail_none, true},
    {U"면서", tail_none, true},
    {U"지만", tail_none, true},
    {U"습니까", tail_none, true},
    {U"습니다", tail_none, true},
    {U"을까요", tail_none, true},
    {U"을까", tail_none, true},
    {U"을래", tail_none, true},
    {U"는다", tail_none, true},
    {U"까요", tail_l, true},
    {U"까", tail_l, true},
    {U"래요", tail_l, true},
    {U"래", tail_l, true},
    {U"니다", tail_b, true, true},
    {U"니까", tail_b, true, true},
    {U"데", tail_n, true, true},
    {U"는", tail_none, false, true},
    {U"니", tail_none, false, true},
    {U"나", tail_none, false, true},
    {U"면", tail_none, false},
    {U"고", tail_none, false},
    {U"지", tail_none, false},
    {U"게", tail_none, false},
    {U"자", tail_none, false},
    {U"죠", tail_none, false},
    {U"요", tail_none, false},
    {U"어", tail_none, false},
    {U"아", tail_none, false},
    {U"서", tail_none, false},
    {U"도", tail_none, false},
    {U"", tail_n, false, true},
    {U"", tail_l, false},
    {U"", tail_none, false},
});

// The stem before a contracted 어/아 (써 = 쓰 + 어, 줘 = 주 + 어, 가져 = 가지 + 어, 해 = 하 + 여)
// or the past 었/았 (썼, 했): the dictionary stem, or nothing when the syllable is not one.
std::optional<char32_t> uncontracted(char32_t c) {
    if (tail_of(c) == tail_ss) {
        c = with_tail(c, tail_none);
    } else if (tail_of(c) != tail_none) {
        return std::nullopt;
    }
    switch (vowel_of(c)) {
        case eo: return with_vowel(c, eu);
        case wo: return with_vowel(c, u);
        case wa: return with_vowel(c, o);
        case wae: return with_vowel(c, oe);
        case yeo: return with_vowel(c, i);
        case ae: return lead_of(c) == lead_h ? std::optional{with_vowel(c, a)} : std::nullopt;
        default: return std::nullopt;
    }
}

struct reading {
    std::u32string stem;
    bool strong;
};

/// Every way to read `word` as a predicate stem plus a verbal ending.
std::vector<reading> predicate_readings(const std::u32string& word) {
    std::vector<reading> out;
    for (const auto& e : endings) {
        if (!std::u32string_view{word}.ends_with(e.text) || word.size() <= e.text.size()) {
            continue;
        }
        std::u32string rest = word.substr(0, word.size() - e.text.size());
        if (e.tail != tail_none) {
            if (tail_of(rest.back()) != e.tail) {
                continue;
            }
            rest.back() = with_tail(rest.back(), tail_none);
        }
        out.push_back({rest, e.strong});
        if (auto plain = uncontracted(rest.back())) {
            auto stem = rest;
            stem.back() = *plain;
            out.push_back({stem, e.strong});
        }
        if (e.drops_l && tail_of(rest.back()) == tail_none) {
            auto stem = rest;
            stem.back() = with_tail(stem.back(), tail_l);
            out.push_back({stem, e.strong});
        }
    }
    return out;
}

std::u32string decode(std::string_view s) {
    std::u32string out;
    for (std::size_t i = 0; i < s.size();) {
        out += storage::next_code_point(s, i);
    }
    return out;
}

std::string encode(const std::u32string& s) {
    std::string out;
    for (auto c : s) {
        storage::append_utf8(out, c);
    }
    return out;
}

bool is_stop_word(std::string_view w) {
    return std::find(stop_words.begin(), stop_words.end(), w) != stop_words.end();
}

std::u32string strip_particles(std::u32string word) {
    for (int pass = 0; pass < 2; ++pass) {
        bool stripped = false;
        for (auto suffix : suffixes) {
            auto s = decode(suffix);
            if (std::u32string_view{word}.ends_with(s) && word.size() >= s.size() + 2) {
                word.resize(word.size() - s.size());
                stripped = true;
                break;
            }
        }
        if (!stripped) {
            break;
        }
    }
    return word;
}

}  // namespace

korean_term analyze_korean_word(std::string_view text) {
    const auto word = decode(text);
    if (word.empty() || !std::all_of(word.begin(), word.end(), hangul)) {
        return {std::string{text}, {}};
    }
    if (is_stop_word(text)) {
        return {};
    }
    const auto readings = predicate_readings(word);
    for (const auto& r : readings) {
        const bool generic =
            std::find(generic_stems.begin(), generic_stems.end(), r.stem) != generic_stems.end();
        // A one-syllable stem is found in a bigram index only in the very form asked, so it
        // cannot tell pages apart; generic verbs never could.
        if (generic || (r.strong && r.stem.size() == 1)) {
            return {};
        }
    }
    korean_term out;
    const auto stem = strip_particles(word);
    out.stem = encode(stem);
    if (is_stop_word(out.stem)) {
        return {};
    }
    auto add = [&](const std::u32string& v) {
        auto s = encode(v);
        if (v.size() >= 2 && s != out.stem &&
            std::find(out.variants.begin(), out.variants.end(), s) == out.variants.end()) {
            out.variants.push_back(std::move(s));
        }
    };
    // Irregular and contracted stems are spelled differently on the pages (만드세요 → 만들어,
    // 멈췄어요 → 멈추고): search the dictionary stem as well. Only after an ending that marks a
    // predicate, so a noun (서비스는, 서버) is not given a verb's spelling.
    for (const auto& r : readings) {
        if (r.strong && r.stem.size() >= 2 && r.stem.size() == stem.size() && r.stem != stem) {
            add(r.stem);
        }
    }
    // A one-syllable noun keeps its particle (셸로, 키를: stripping it would leave a syllable that
    // no bigram contains), but pages also write it on its own ("셸 접속"): search that too.
    if (word.size() == 2 && stem == word &&
        std::find(particles.begin(), particles.end(), word.back()) != particles.end()) {
        out.variants.push_back(encode(word.substr(0, 1)));
    }
    return out;
}

}  // namespace tugboat::faq
