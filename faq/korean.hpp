#pragma once

// Korean question words → what to search for. Questions are nouns (the topic) with particles,
// and predicates with endings; the index holds syllable bigrams, so a word is searched as its
// stem. Endings are told apart from particles: a verbal ending (나요, 려면, 세요, 는, ㄹ까요…)
// marks a predicate, and a predicate built on a generic verb (쓰다 use, 주다 give, 갖다 have,
// 만들다 make — the Korean twins of the English stop words) or on a one-syllable stem (which a
// bigram index cannot find in another form) carries no topic. Particles (을/를, 은/는, 에서…)
// mark a noun, which stays a term even when short ("잡을" stays "잡을").

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

/// Analyses one Hangul word as the tokenizer rebuilt it (NFC, no spaces): question words,
/// filler adverbs and generic predicates give an empty stem; "배포하려면" → 배포;
/// "만드는" (ㄹ-irregular 만들다) → no topic; "멈춰" → 멈춰 with the variant 멈추.
korean_term analyze_korean_word(std::string_view word);

}  // namespace tugboat::faq
