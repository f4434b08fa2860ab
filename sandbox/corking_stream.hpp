#pragma once

// A stream layer under the fake Slack's Beast WebSocket that can hold writes back, so that the
// envelopes queued for one socket leave in one TLS record and one system call, as a busy Slack
// sends them. Beast writes one frame per message; 50 queued envelopes would otherwise be 50
// records and 50 sendmsg calls, and the bench would measure the fake's overhead in the bot.

#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <string>
#include <type_traits>
#include <utility>

namespace tugboat::sandbox {

template <class Next>
class corking_stream {
public:
    using next_layer_type = std::remove_reference_t<Next>;
    using executor_type = typename next_layer_type::executor_type;

    template <class... Args>
    explicit corking_stream(Args&&... args) : next_(std::forward<Args>(args)...) {}

    next_layer_type& next_layer() noexcept { return next_; }
    const next_layer_type& next_layer() const noexcept { return next_; }
    executor_type get_executor() noexcept { return next_.get_executor(); }

    /// While corked, writes complete at once into a buffer. The first write after uncorking
    /// sends that buffer and its own bytes together. The owner uncorks before its last write of
    /// a batch, so nothing stays behind — including a pong Beast wrote in between.
    void cork(bool on) noexcept { corked_ = on; }

    template <class Buffers, class Token>
    auto async_read_some(const Buffers& buffers, Token&& token) {
        return next_.async_read_some(buffers, std::forward<Token>(token));
    }

    template <class Buffers, class Token>
    auto async_write_some(const Buffers& buffers, Token&& token) {
        // Beast never has two writes outstanding, so the buffer is not touched while a flush of
        // it is in progress.
        const std::size_t n = boost::asio::buffer_size(buffers);
        const std::size_t old = pending_.size();
        pending_.resize(old + n);
        boost::asio::buffer_copy(boost::asio::buffer(pending_.data() + old, n), buffers);
        return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
            write_op{this, n, corked_}, token, next_);
    }

private:
    struct write_op {
        corking_stream* self;
        std::size_t n;
        bool held;
        bool started = false;

        template <class Self>
        void operator()(Self& op, boost::system::error_code ec = {}, std::size_t /*sent*/ = 0) {
            if (!started) {
                started = true;
                if (held) {
                    boost::asio::post(self->get_executor(), std::move(op));
                } else {
                    boost::asio::async_write(self->next_, boost::asio::buffer(self->pending_),
                                             std::move(op));
                }
                return;
            }
            if (!held) {
                self->pending_.clear();
            }
            op.complete(ec, ec ? 0 : n);
        }
    };

    Next next_;
    std::string pending_;
    bool corked_ = false;
};

// Beast closes a WebSocket's transport through these, found by argument-dependent lookup.
template <class Next>
void teardown(boost::beast::role_type role, corking_stream<Next>& s,
              boost::system::error_code& ec) {
    using boost::beast::websocket::teardown;
    teardown(role, s.next_layer(), ec);
}

template <class Next, class Handler>
void async_teardown(boost::beast::role_type role, corking_stream<Next>& s, Handler&& handler) {
    using boost::beast::websocket::async_teardown;
    async_teardown(role, s.next_layer(), std::forward<Handler>(handler));
}

}  // namespace tugboat::sandbox
