#pragma once

// The ordinary words of English, from a word list such as Debian's wamerican
// (/usr/share/dict/words). Search uses it to tell how a question is phrased from what it is
// about: a word no page uses that the language knows (chatty, swapped, lunch) is phrasing or a
// topic plainly outside the docs, while one it does not know (kubeadm, ECR, Terraform) names a
// product the docs do not cover.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tugboat::faq {

class word_list {
public:
    /// One word per line. Only words spelt in lower case are kept: a capitalised entry is a
    /// proper name (Kafka), and so is a capitalised word in a question. Entries with an
    /// apostrophe (possessives) are skipped. nullopt when the file cannot be read.
    static std::optional<word_list> load(const std::string& path);

    /// Exact spelling: "Helm" is not found even though "helm" is.
    bool contains(std::string_view word) const;
    std::size_t size() const { return starts_.size(); }

private:
    std::string text_;                   // the words, each followed by '\n'
    std::vector<std::uint32_t> starts_;  // offsets into text_, sorted by the word there
    std::string_view at(std::uint32_t start) const;
};

}  // namespace tugboat::faq
