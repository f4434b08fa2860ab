#include "faq/korean.hpp"

#include "storage/faq_tokenizer.hpp"

#include <algorithm>
#include <array>
#include <optional>

namespace tugboat::faq {
namespace {

// Question words, pronouns, filler adverbs (자주 often, 혹시 perhaps, 다시 again…), negation and
// words about the form of the answer (모음 collection, 정리 summary, 차이 difference): none
// names what a page is about, and a page rarely uses them, so as terms they only lower the
// confidence of questions the docs answer.
constexpr auto stop_words = std::to_array<std::string_view>(
    {// question words and set phrases
     "어떻게", "어떻", "무엇", "무엇인가요", "뭐", "뭔가요", "뭐예요", "뭔지", "뭘", "왜", "어디",
     "어디서", "언제", "건가요", "건지", "건데", "거예요", "누가", "누구", "어떤", "무슨", "어느",
     "얼마나", "몇", "방법", "법", "알려", "주세요", "싶어요", "싶어", "싶습니다", "싶은데",
     "궁금해요", "궁금", "궁금합니다", "경우", "것", "것들", "거", "건", "게", "번", "알려줘",
     "알려주세요", "때", "수", "일이", "중인", "중", "이에요", "예요", "이야", "이다", "입니다",
     "걸로", "거야", "걸", "이건", "그건", "저건", "그럴까요", "그럴까", "그래요", "왜죠",
     // counters and numbers ("두 개", "하나씩")
     "개", "명", "하나", "둘", "셋", "한", "두", "세", "네",
     // pronouns and determiners
     "제", "내", "제가", "내가", "저는", "나는", "저희", "우리", "이", "그", "저", "이거", "그거",
     "이것", "그것", "여기", "거기", "이런", "그런", "이렇게", "그렇게",
     // filler adverbs, conjunctions and negation
     "좀", "자주", "혹시", "그냥", "보통", "제대로", "다시", "잘", "또", "더", "꼭", "항상", "바로",
     "먼저", "직접", "아직", "이미", "너무", "많이", "조금", "가장", "제일", "정말", "진짜",
     "갑자기", "계속", "일단", "우선", "미리", "매번", "전부", "모두", "다", "같이", "함께", "따로",
     "쉽게", "빨리", "간단히", "도대체", "대체", "만약", "그리고", "그런데", "근데", "그래서",
     "하지만", "또는", "혹은", "안", "못", "잠깐", "꽉", "함부로", "한꺼번에", "한번에", "마음대로",
     "억지로", "저절로", "스스로", "아무리", "가끔", "종종", "자꾸", "살짝", "전혀", "별로", "거의",
     "대략", "대충", "얼른", "천천히", "완전히", "특히", "주로", "자세히", "정확히", "이제",
     "여전히", "이유",
     // the form of the answer, not its topic
     "모음", "정리", "요약", "총정리", "차이", "차이점", "관련", "대해", "대한", "관한", "관해",
     "필요", "가능",
     // one-syllable nouns of place, time and quantity
     "전", "후", "위", "앞", "뒤", "각", "및", "등", "약", "총", "첫", "새", "모든", "온", "밖",
     "속", "안에", "많은", "작은", "같은",
     // particles written apart
     "로", "를", "을", "가", "은", "는", "의", "에", "도", "와", "과", "만"});

// Particles and the endings of 하다/되다 verbs, longest first. Only stripped when at least two
// syllables remain, so "잡을" stays whole.
constexpr auto suffixes = std::to_array<std::string_view>(
    {"시키려면", "으려면",   "하려면", "하려고", "하는데", "하나요", "합니까", "할까요", "하는지",
     "했는데",   "했어요",   "됩니까", "되나요", "에서는", "이라는", "으로는", "습니다", "하도록",
     "되도록",   "해주세요", "할래요", "인가요", "인데요", "에서",   "대로",   "처럼",   "으로",
     "에게",     "까지",     "부터",   "이란",   "이나",   "라는",   "하는",   "하기",   "하고",
     "하면",     "해야",     "해서",   "해요",   "한다",   "되는",   "되지",   "되면",   "돼요",
     "시키는",   "나요",     "가요",   "어요",   "아요",   "세요",   "려면",   "으면",   "인지",
     "하게",     "되게",     "하지",   "하자",   "할래",   "했어",   "인데",   "할",     "한",
     "된",       "될",       "해",     "함",     "됨",     "와",     "과",     "을",     "를",
     "이",       "가",       "은",     "는",     "의",     "에",     "로",     "도",     "만",
     "란",       "요",       "죠",     "게",     "면",     "임",     "되는데", "는데",   "는지",
     "려고",     "니까",     "면서",   "지만",   "어서",   "아서",   "도록",   "되고",   "들",
     "씩"});

constexpr auto particle_suffixes = std::to_array<std::string_view>(
    {"에서는", "이라는", "으로는", "에서", "으로", "에게", "까지", "부터", "이란", "대로",
     "처럼",   "들",     "씩",     "이나", "라는", "와",   "과",   "을",   "를",   "이",
     "가",     "은",     "는",     "의",   "에",   "로",   "도",   "만",   "란"});

// What turns a Sino-Korean noun into a verb (재시작 → 재시작되다, 설정 → 설정하다).
constexpr auto light_verbs =
    std::to_array<std::u32string_view>({U"시키", U"하", U"되", U"해", U"돼", U"했", U"됐"});

// Native verbs people ask with, and the Sino-Korean words the docs write for them (멈추다 stop →
// 중지, 고르다 pick → 선택). Dictionary stems without 다.
constexpr auto verb_synonyms = std::to_array<std::pair<std::u32string_view, std::string_view>>({
    {U"멈추", "중지"},   {U"고르", "선택"},   {U"막", "차단"},     {U"바꾸", "변경"},
    {U"지우", "삭제"},   {U"없애", "삭제"},   {U"늘리", "증가"},   {U"늘리", "확장"},
    {U"줄이", "감소"},   {U"줄이", "축소"},   {U"고치", "수정"},   {U"찾", "검색"},
    {U"옮기", "이동"},   {U"나누", "분리"},   {U"켜", "활성화"},   {U"끄", "비활성화"},
    {U"쫓아내", "축출"}, {U"쫓겨나", "축출"}, {U"보내", "전송"},   {U"기다리", "대기"},
    {U"알아보", "확인"}, {U"살펴보", "확인"}, {U"들어가", "접속"}, {U"붙이", "연결"},
    {U"넣", "추가"},     {U"더하", "추가"},   {U"빼", "제거"},     {U"되돌리", "롤백"},
    {U"죽", "종료"},     {U"죽이", "종료"},   {U"끝나", "완료"},   {U"끝내", "종료"},
    {U"합치", "병합"},   {U"늘어나", "증가"}, {U"줄어들", "감소"}, {U"뜨", "실행"},
});

// One-syllable particles after a one-syllable noun (셸에, 키를). The first ones never end a
// two-syllable noun; the others often do (경로, 결과, 속도, 추가, 회의).
constexpr std::u32string_view clear_particles = U"을를은는에";
constexpr std::u32string_view other_particles = U"이가로와과도의만";

// Verbs as generic as the English stop words make, use, get, have, know, want (하다 do, 되다
// become, 쓰다 use, 주다 give, 갖다/가지다 have, 보다 see, 알다 know, 받다/얻다 get, 만들다
// make, 있다/없다 exist…), as dictionary stems without 다.
constexpr auto generic_stems = std::to_array<std::u32string_view>(
    {U"하",   U"되",   U"쓰", U"주",   U"갖",   U"가지", U"보",   U"보이", U"알", U"받",   U"얻",
     U"있",   U"없",   U"싶", U"않",   U"만들", U"두",   U"놓",   U"가",   U"오", U"생기", U"시키",
     U"드리", U"원하", U"이", U"아니", U"같",   U"말",   U"알리", U"나오", U"좋"});

// Hangul syllable = 0xAC00 + (lead × 21 + vowel) × 28 + tail.
constexpr char32_t first_syllable = 0xAC00;
constexpr int tail_count = 28;
constexpr int tail_none = 0, tail_n = 4, tail_l = 8, tail_m = 16, tail_b = 17, tail_ss = 20;
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
    std::size_t min_stem = 1;  ///< 기 ends many two-syllable nouns (주기, 보기): longer stems only
};

constexpr int none = tail_none;
// One group of endings to a few lines reads better than one ending a line.
// clang-format off
constexpr auto endings = std::to_array<ending>({
    // only after a predicate
    {U"으려면", none, true}, {U"려면", none, true}, {U"으려고", none, true}, {U"려고", none, true},
    {U"으려는데", none, true}, {U"려는데", none, true}, {U"던데", none, true},
    {U"으려는", none, true}, {U"려는", none, true}, {U"나요", none, true, true},
    {U"으니까", none, true}, {U"니까", none, true}, {U"는데", none, true, true},
    {U"는지", none, true, true}, {U"으세요", none, true}, {U"세요", none, true, true},
    {U"었어요", none, true}, {U"았어요", none, true}, {U"었나요", none, true},
    {U"았나요", none, true}, {U"어요", none, true}, {U"아요", none, true}, {U"어야", none, true},
    {U"아야", none, true}, {U"어서", none, true}, {U"아서", none, true}, {U"어도", none, true},
    {U"아도", none, true}, {U"으면", none, true}, {U"면서", none, true}, {U"지만", none, true},
    {U"습니까", none, true}, {U"습니다", none, true}, {U"을까요", none, true},
    {U"을까", none, true}, {U"을래", none, true}, {U"는다", none, true}, {U"어져", none, true},
    {U"아져", none, true}, {U"어지", none, true}, {U"아지", none, true},
    {U"었더니", none, true}, {U"았더니", none, true}, {U"더니", none, true},
    {U"었던", none, true}, {U"았던", none, true}, {U"던", none, true},
    // beginning inside the stem's last syllable: 쓸까요, 할래, 합니다, 인데
    {U"까요", tail_l, true}, {U"까", tail_l, true}, {U"래요", tail_l, true}, {U"래", tail_l, true},
    {U"니다", tail_b, true, true}, {U"니까", tail_b, true, true}, {U"데", tail_n, true, true},
    // also particles or the last syllable of nouns
    {U"는", none, false, true}, {U"니", none, false, true}, {U"나", none, false, true},
    {U"면", none, false}, {U"고", none, false}, {U"지", none, false}, {U"게", none, false},
    {U"자", none, false}, {U"죠", none, false}, {U"요", none, false}, {U"어", none, false},
    {U"아", none, false}, {U"서", none, false}, {U"도", none, false}, {U"야", none, false},
    {U"을", none, false}, {U"은", none, false}, {U"음", none, false},
    {U"기", none, false, false, 2},
    // only a final consonant (쓸, 만든, 함) or nothing (써, 해)
    {U"", tail_m, false}, {U"", tail_n, false, true}, {U"", tail_l, false}, {U"", none, false},
});
// clang-format on

// A stem's last vowel and the vowel it becomes with 어/아 fused into it (쓰 + 어 → 써, 주 → 줘,
// 보 → 봐, 되 → 돼, 가지 → 가져; 하 → 해 only after ㅎ).
constexpr std::array<std::pair<int, int>, 6> fusions{
    {{eu, eo}, {u, wo}, {o, wa}, {oe, wae}, {i, yeo}, {a, ae}}};

std::optional<char32_t> fuse_vowel(char32_t c, bool fuse) {
    for (auto [plain, fused] : fusions) {
        if (vowel_of(c) == (fuse ? plain : fused) && (plain != a || lead_of(c) == lead_h)) {
            return with_vowel(c, fuse ? fused : plain);
        }
    }
    return std::nullopt;
}

// The stem before a contracted 어/아 (써 → 쓰, 가져 → 가지) or the past 었/았 (썼, 했): the
// dictionary stem, or nothing when the syllable is not one.
std::optional<char32_t> uncontracted(char32_t c) {
    if (tail_of(c) == tail_ss) {
        c = with_tail(c, tail_none);
    } else if (tail_of(c) != tail_none) {
        return std::nullopt;
    }
    return fuse_vowel(c, false);
}

// The stem's last syllable with 어/아 fused into it (붙이 → 붙여, 바꾸 → 바꿔), as pages write it
// before 서, 야, 요 and the past tense; nothing when the syllable has a final consonant.
std::optional<char32_t> contracted(char32_t c) {
    return tail_of(c) == tail_none ? fuse_vowel(c, true) : std::nullopt;
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
        if (rest.size() < e.min_stem) {
            continue;
        }
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
    // "Do it for me" is the verb in its 어 form plus 주다 (알려 주세요, 보여줘): the verb is what
    // was asked for.
    for (std::size_t n = out.size(), k = 0; k < n; ++k) {
        if (out[k].stem.size() >= 2 && out[k].stem.back() == U'주') {
            auto verb = out[k].stem.substr(0, out[k].stem.size() - 1);
            if (auto plain = uncontracted(verb.back())) {
                verb.back() = *plain;
                out.push_back({verb, true});
            }
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

// Particles stack (컨테이너에서도); an ending is the last thing a stem takes, and what precedes
// it is the stem (재정의하려면 → 재정의, not 재정).
bool is_particle(std::string_view suffix) {
    return std::find(particle_suffixes.begin(), particle_suffixes.end(), suffix) !=
           particle_suffixes.end();
}

std::u32string strip_particles(std::u32string word) {
    for (int pass = 0; pass < 2; ++pass) {
        std::string_view stripped;
        for (auto suffix : suffixes) {
            auto s = decode(suffix);
            // A particle of two syllables or more is not a noun's end, so it may leave one
            // syllable (값으로 → 값, not 값으).
            const std::size_t keep = is_particle(suffix) && s.size() >= 2 ? 1 : 2;
            if (std::u32string_view{word}.ends_with(s) && word.size() >= s.size() + keep) {
                word.resize(word.size() - s.size());
                stripped = suffix;
                break;
            }
        }
        if (stripped.empty()) {
            break;
        }
        if (!is_particle(stripped)) {
            // Before an ending is a stem, and a 하다/되다 verb's stem is its noun.
            for (auto light : light_verbs) {
                if (std::u32string_view{word}.ends_with(light) && word.size() >= light.size() + 2) {
                    word.resize(word.size() - light.size());
                    break;
                }
            }
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
    // A particle or ending on its own followed a word in another script (git에서, Pod으로).
    if (is_stop_word(text) || std::find(suffixes.begin(), suffixes.end(), text) != suffixes.end()) {
        return {};
    }
    const auto readings = predicate_readings(word);
    bool short_stem = false;
    for (const auto& r : readings) {
        if (std::find(generic_stems.begin(), generic_stems.end(), r.stem) != generic_stems.end()) {
            return {};
        }
        short_stem = short_stem || (r.strong && r.stem.size() == 1);
    }
    korean_term out;
    for (const auto& r : readings) {
        for (const auto& [verb, synonym] : verb_synonyms) {
            if (verb == r.stem) {
                out.variants.emplace_back(synonym);
            }
        }
        if (!out.variants.empty()) {
            out.stem = encode(r.stem);
            out.prefix = r.stem.size() == 1;
            if (auto c = contracted(r.stem.back()); c && r.stem.size() >= 2) {
                auto v = r.stem;
                v.back() = *c;
                out.variants.push_back(encode(v));
            }
            return out;
        }
    }
    auto stem = strip_particles(word);
    // One syllable is in the index only as the first half of its pairs (셸에 → 셸에, 찾아 →
    // 찾아), so a one-syllable noun with its particle (셸로, 키를), a one-syllable word (밤) or a
    // one-syllable verb stem (찾으려면) is searched as a prefix: 셸* finds 셸에, 셸이, 셸.
    const bool one_syllable_noun =
        word.size() == 2 && clear_particles.find(word.back()) != std::u32string_view::npos;
    if (word.size() == 2 && other_particles.find(word.back()) != std::u32string_view::npos) {
        // 셸로 or 경로: search the word, and the noun where the page writes it alone ("셸 접속").
        if (is_stop_word(encode(word.substr(0, 1)))) {
            return {};
        }
        out.variants.push_back(encode(word.substr(0, 1)));
    } else if (word.size() == 1 || one_syllable_noun || short_stem || stem.size() == 1) {
        stem = word.substr(0, 1);
        out.prefix = true;
    }
    out.stem = encode(stem);
    if (is_stop_word(out.stem)) {
        return {};
    }
    // Irregular and contracted stems are spelled differently on the pages (만드세요 → 만들어,
    // 붙이려면 → 붙여, 멈췄어요 → 멈추고): search those spellings as well. Only after an ending
    // that marks a predicate, so a noun (서비스는, 서버) is not given a verb's spelling.
    auto add = [&](const std::u32string& v) {
        auto s = encode(v);
        if (s != out.stem &&
            std::find(out.variants.begin(), out.variants.end(), s) == out.variants.end()) {
            out.variants.push_back(std::move(s));
        }
    };
    for (const auto& r : readings) {
        if (!r.strong || r.stem.size() < 2 || r.stem.size() != stem.size()) {
            continue;
        }
        add(r.stem);
        if (auto c = contracted(r.stem.back())) {
            auto v = r.stem;
            v.back() = *c;
            add(v);
        }
    }
    return out;
}

}  // namespace tugboat::faq
