#pragma once

// A set of event keys kept as 64-bit hashes, each with a value (when it was seen), for the
// de-duplication on every envelope's path: open addressing with linear probing, one cache miss
// per lookup and 8 B per slot plus the value, where a node-based map of strings cost three
// misses and ≈140 B. Accepted risk: two different keys with one hash make the second look like
// a duplicate, ≈ keys held / 2^64 per event; keys come from Slack, not from whoever types a
// command.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

namespace tugboat::core {

template <class Value>
class key_table {
public:
    /// The hash a key is kept as.
    static std::uint64_t hash(std::string_view key) {
        const std::uint64_t h = std::hash<std::string_view>{}(key);
        return h == 0 ? 1 : h;  // 0 marks a free slot
    }

    /// False, and nothing changes, when `h` is there already.
    bool insert(std::uint64_t h, Value value) {
        // Up to 3/4 full: a probe for a new key reads about two cache lines.
        if ((size_ + 1) * 4 > slots_.size() * 3) {
            rebuild(std::max<std::size_t>(slots_.size() * 2, 64),
                    [](std::uint64_t, const Value&) { return true; });
        }
        std::size_t i = h & mask();
        for (; slots_[i].hash != 0; i = (i + 1) & mask()) {
            if (slots_[i].hash == h) {
                return false;
            }
        }
        slots_[i] = {h, std::move(value)};
        ++size_;
        return true;
    }

    /// Linear probing with backward-shift deletion: no tombstones to clean up later.
    void erase(std::uint64_t h) {
        if (slots_.empty()) {
            return;
        }
        std::size_t i = h & mask();
        for (; slots_[i].hash != h; i = (i + 1) & mask()) {
            if (slots_[i].hash == 0) {
                return;
            }
        }
        for (std::size_t j = (i + 1) & mask(); slots_[j].hash != 0; j = (j + 1) & mask()) {
            const std::size_t home = slots_[j].hash & mask();
            // Move slot j into the hole at i unless its home lies cyclically in (i, j].
            const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
            if (!stays) {
                slots_[i] = std::move(slots_[j]);
                i = j;
            }
        }
        slots_[i] = slot{};
        --size_;
    }

    /// Keeps only the entries for which `keep(hash, value)` is true.
    template <class Keep>
    void retain(Keep keep) {
        rebuild(slots_.size(), keep);
    }

    /// Starts loading the slot where a lookup of `h` begins (it is about to be erased).
    void prefetch(std::uint64_t h) const {
        if (!slots_.empty()) {
            __builtin_prefetch(&slots_[h & mask()]);
        }
    }

    std::size_t size() const noexcept { return size_; }

private:
    struct slot {
        std::uint64_t hash = 0;
        [[no_unique_address]] Value value{};
    };

    std::size_t mask() const { return slots_.size() - 1; }

    // Re-inserts the entries `keep` accepts into `capacity` slots (a power of two, or 0).
    template <class Keep>
    void rebuild(std::size_t capacity, Keep keep) {
        std::vector<slot> old(capacity);
        old.swap(slots_);
        size_ = 0;
        for (auto& s : old) {
            if (s.hash != 0 && keep(s.hash, s.value)) {
                std::size_t i = s.hash & mask();
                while (slots_[i].hash != 0) {
                    i = (i + 1) & mask();
                }
                slots_[i] = std::move(s);
                ++size_;
            }
        }
    }

    std::vector<slot> slots_;
    std::size_t size_ = 0;
};

}  // namespace tugboat::core
