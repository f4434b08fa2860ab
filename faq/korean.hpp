#pragma once

// Korean question words → what to search for. Questions are nouns (the topic) with particles,
// and predicates with endings; the index holds syllable pairs, so a word is searched as its stem.
// - Endings are told apart from particles: a verbal ending (나요, 려면, 세요, ㄹ까요…) marks a
//   predicate, and one built on a generic verb (쓰다 use, 주다 give, 갖다 have, 만들다 make — the
//   Korean twins of the English stop words) carries no topic. Particles (을/를, 은/는, 에서…)
//   mark a noun, which stays a term however short.
// - A one-syllable stem (키를, 찾으려면) is in no pair on its own, so it is matched as the start
//   of pairs (키*), which finds it with any particle or ending.
// - Stems whose spelling changes (만드는 ← 만들다, 붙여 ← 붙이다) are searched in both
//   spellings, and a few everyday native verbs also as the Sino-Korean word docs use
//   (지우다 → 삭제).
// - Question words, filler adverbs (자주, 혹시, 그냥…) and words about the form of the answer
//   (모음, 정리) are dropped: pages rarely use them, so they only lowered the confidence of
//   questions the docs answer.

#include <string>
#include <string_view>
#include <vector>

namespace tugboat::faq {

/// What one Korean word of a question contributes to the search.
struct korean_term {
    std::string stem;                   ///< particles and endings removed; "" = no topic
    std::vector<std::string> variants;  ///< other spellings of the stem that the pages may use
    bool prefix = false;  ///< a one-syllable stem: match the pairs that begin with it (셸*)
};

/// Analyses one Hangul word as the tokenizer rebuilt it (NFC, no spaces): "배포하려면" → 배포;
/// "쓰나요", "만드는" (ㄹ-irregular 만들다), "자주" → no topic; "키를" → 키 as a prefix;
/// "멈췄어요" → 멈추 with the variants 중지, 멈춰. A word with other letters comes back as is.
korean_term analyze_korean_word(std::string_view word);

}  // namespace tugboat::faq
