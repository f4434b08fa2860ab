#pragma once

// Small helpers the repositories share: run a query and map each row to a struct, and the
// "d-000123" style of showing integer ids to people.

#include "storage/database.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tugboat::storage {

/// Runs `sql` with `args` bound to 1..n and maps every row with `read(statement&)`.
template <class Read, class... Args>
auto query_all(database& db, std::string_view sql, Read read, const Args&... args)
    -> core::result<std::vector<decltype(read(std::declval<statement&>()))>> {
    using row_type = decltype(read(std::declval<statement&>()));
    auto st = db.prepare(sql);
    if (!st) {
        return std::move(st).error();
    }
    st->bind_all(args...);
    std::vector<row_type> rows;
    for (;;) {
        auto more = st->step();
        if (!more) {
            return std::move(more).error();
        }
        if (!*more) {
            return rows;
        }
        rows.push_back(read(*st));
    }
}

/// Like `query_all`, for at most one row.
template <class Read, class... Args>
auto query_one(database& db, std::string_view sql, Read read, const Args&... args)
    -> core::result<std::optional<decltype(read(std::declval<statement&>()))>> {
    using row_type = decltype(read(std::declval<statement&>()));
    auto st = db.prepare(sql);
    if (!st) {
        return std::move(st).error();
    }
    st->bind_all(args...);
    auto row = st->step();
    if (!row) {
        return std::move(row).error();
    }
    if (!*row) {
        return std::optional<row_type>{};
    }
    return std::optional<row_type>{read(*st)};
}

/// "d-000123" for prefix 'd' and id 123.
std::string format_id(char prefix, std::int64_t id);

/// Accepts "d-000123", "D-123" or "123" for prefix 'd'; nullopt for anything else.
std::optional<std::int64_t> parse_id(char prefix, std::string_view text);

}  // namespace tugboat::storage
