#include "faq/words.hpp"

#include <algorithm>
#include <fstream>
#include <limits>

namespace tugboat::faq {

std::optional<word_list> word_list::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    word_list w;
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (line.empty() || line[0] < 'a' || line[0] > 'z' ||
            line.find('\'') != std::string::npos) {
            continue;
        }
        if (w.text_.size() + line.size() >= std::numeric_limits<std::uint32_t>::max()) {
            return std::nullopt;  // not a word list: offsets are 32-bit
        }
        w.starts_.push_back(static_cast<std::uint32_t>(w.text_.size()));
        w.text_ += line;
        w.text_ += '\n';
    }
    if (in.bad()) {
        return std::nullopt;
    }
    // Word lists are sorted by their locale's collation, not bytewise.
    std::sort(w.starts_.begin(), w.starts_.end(),
              [&w](std::uint32_t a, std::uint32_t b) { return w.at(a) < w.at(b); });
    w.text_.shrink_to_fit();
    w.starts_.shrink_to_fit();
    return w;
}

std::string_view word_list::at(std::uint32_t start) const {
    std::string_view rest(text_);
    rest.remove_prefix(start);
    return rest.substr(0, rest.find('\n'));
}

bool word_list::contains(std::string_view word) const {
    auto it = std::lower_bound(starts_.begin(), starts_.end(), word,
                               [this](std::uint32_t s, std::string_view w) { return at(s) < w; });
    return it != starts_.end() && at(*it) == word;
}

}  // namespace tugboat::faq
