namespace Broker.Plugins.Auth;

/// <summary>Lets a message through at most once per interval, so a failing backend cannot flood the log.</summary>
public sealed class LogInterval(TimeProvider clock, TimeSpan interval)
{
    private long _last = long.MinValue;

    /// <summary>Whether to log now (true at most once per interval, across threads).</summary>
    public bool Allow()
    {
        var now = clock.GetTimestamp();
        var last = Interlocked.Read(ref _last);
        if (last != long.MinValue && clock.GetElapsedTime(last, now) < interval)
            return false;
        return Interlocked.CompareExchange(ref _last, now, last) == last;
    }
}
