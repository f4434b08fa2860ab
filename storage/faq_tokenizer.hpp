#pragma once

// The FAQ tokenizer, registered with FTS5 as "tugboat" on every connection (database::open), so
// the index (migration 2) and queries split text the same way:
// - Hangul (composed first, so NFD input matches NFC) becomes overlapping syllable bigrams:
//   "배포하기" → 배포 포하 하기; a one-syllable word stays itself.
// - Every other letter or digit run is lower-cased with Latin diacritics removed (like FTS5's
//   unicode61 with remove_diacritics) and ASCII words are Porter-stemmed: "Deploying" → deploy.
// - A change of script ends a word: "kubeconfig를" → kubeconfig 를.
// - Punctuation, spaces, symbols and emoji separate words.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::storage {

/// One token and the byte range of `text` it came from.
struct faq_token {
    std::string text;
    int start = 0;  ///< byte offset of the first byte in the input
    int end = 0;    ///< byte offset one past the last byte in the input
    bool operator==(const faq_token&) const = default;
};

/// Calls `emit` for every token of `text`, in order. Invalid UTF-8 bytes separate words.
void faq_tokenize(std::string_view text, const std::function<void(const faq_token&)>& emit);

/// The tokens of `text` as a list.
std::vector<faq_token> faq_tokens(std::string_view text);

/// Porter (1980) stem of a lower-case ASCII word.
std::string porter_stem(std::string word);

/// True for a composed Hangul syllable (U+AC00–U+D7A3).
bool is_hangul_syllable(char32_t c);

/// Decodes one UTF-8 code point at `text[i]`, advancing `i`; U+FFFD for an invalid byte.
char32_t next_code_point(std::string_view text, std::size_t& i);

/// Appends the UTF-8 encoding of `c`.
void append_utf8(std::string& out, char32_t c);

}  // namespace tugboat::storage
