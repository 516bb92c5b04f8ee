
namespace Broker.Core.Connections;

/// <summary>A rate as operators write it: <see cref="Count"/> per <see cref="Period"/> (EMQX <c>100,1s</c>).</summary>
public readonly record struct RateLimit(long Count, TimeSpan Period)
{
    /// <summary>Tokens per second.</summary>
    public double PerSecond => Count / Period.TotalSeconds;
}

/// <summary>
/// EMQX's per-connection inbound limits (<c>rate_limit.conn_messages_in</c>, <c>rate_limit.conn_bytes_in</c>):
/// two token buckets that a <see cref="ClientChannel"/> charges after each packet. When a bucket runs dry the
/// channel stops reading its transport until the debt is paid back, so a fast publisher is slowed down by TCP
/// flow control; nothing it sent is dropped. One instance per connection; used only by its read loop.
/// </summary>
/// <remarks>
/// A bucket holds at most one period's worth of tokens (the burst) and starts full. A channel without limits has
/// no limiter at all, so the read loop pays one null check.
/// </remarks>
internal sealed class InboundRateLimiter
{
    private readonly TimeProvider _time;
    private readonly Bucket? _messages;
    private readonly Bucket? _bytes;

    public InboundRateLimiter(RateLimit? messages, RateLimit? bytes, TimeProvider time)
    {
        _time = time;
        var now = time.GetTimestamp();
        if (messages is { } m)
            _messages = new Bucket(m, now);
        if (bytes is { } b)
            _bytes = new Bucket(b, now);
    }

    /// <summary>Charges one packet of <paramref name="size"/> bytes (a PUBLISH counts as a message); returns how long to stop reading.</summary>
    public TimeSpan Charge(bool isPublish, long size)
    {
        var now = _time.GetTimestamp();
        var wait = TimeSpan.Zero;
        if (isPublish && _messages is { } messages)
            wait = messages.Take(1, now, _time.TimestampFrequency);
        if (_bytes is { } bytes)
        {
            var byteWait = bytes.Take(size, now, _time.TimestampFrequency);
            if (byteWait > wait)
                wait = byteWait;
        }
        return wait;
    }

    private sealed class Bucket(RateLimit limit, long now)
    {
        private readonly double _capacity = limit.Count;
        private readonly double _perSecond = limit.PerSecond;
        private double _tokens = limit.Count;
        private long _last = now;

        /// <summary>Takes <paramref name="amount"/> tokens, going into debt if needed; the wait pays the debt back.</summary>
        public TimeSpan Take(double amount, long now, long frequency)
        {
            _tokens = Math.Min(_capacity, _tokens + ((now - _last) * _perSecond / frequency));
            _last = now;
            _tokens -= amount;
            return _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / _perSecond);
        }
    }
}
