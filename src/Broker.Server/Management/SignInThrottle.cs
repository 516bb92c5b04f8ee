using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;

namespace Broker.Server.Management;

/// <summary>
/// Failed sign-ins to the management API, per remote address: after <see cref="AllowedFailures"/> failures within
/// <see cref="Window"/> an address is refused (HTTP 429, Retry-After) without its credentials being checked until the
/// window since its first failure has passed; each block is logged once with the count. Without it, 1,700 guesses a
/// second went through unnoticed (issue 17). Other addresses, and the right credentials from them, are unaffected.
/// </summary>
/// <remarks>Bounded: at most <see cref="MaxAddresses"/> addresses are tracked; expired ones are dropped first.</remarks>
internal sealed partial class SignInThrottle(TimeProvider time, ILogger logger)
{
    public const int AllowedFailures = 5;
    public const int MaxAddresses = 10_000;
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<IPAddress, Failures> _failures = new();

    /// <summary>How long <paramref name="address"/> is still refused, or zero when it may try.</summary>
    public TimeSpan Blocked(IPAddress? address)
    {
        if (address is null || !_failures.TryGetValue(address, out var entry))
            return TimeSpan.Zero;
        lock (entry)
        {
            var left = entry.Since + Window - time.GetUtcNow();
            return entry.Count >= AllowedFailures && left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    /// <summary>Counts a failed sign-in from <paramref name="address"/>.</summary>
    public void Failed(IPAddress? address)
    {
        if (address is null)
            return;
        var now = time.GetUtcNow();
        if (_failures.Count >= MaxAddresses)
            Prune(now);
        var entry = _failures.GetOrAdd(address, static (_, n) => new Failures(n), now);
        int count;
        lock (entry)
        {
            if (now - entry.Since >= Window)
            {
                entry.Since = now;
                entry.Count = 0;
            }
            count = ++entry.Count;
        }
        if (count == 1)
            LogFailed(logger, address.ToString());
        else if (count == AllowedFailures)
            LogBlocked(logger, address.ToString(), count, Window.TotalSeconds);
    }

    private void Prune(DateTimeOffset now)
    {
        foreach (var (address, entry) in _failures)
        {
            if (now - entry.Since >= Window)
                _failures.TryRemove(address, out _);
        }
    }

    private sealed class Failures(DateTimeOffset since)
    {
        public DateTimeOffset Since = since;
        public int Count;
    }

    [LoggerMessage(EventId = 60, Level = LogLevel.Warning, Message = "Management API: failed sign-in from {Address}")]
    private static partial void LogFailed(ILogger logger, string address);

    [LoggerMessage(EventId = 61, Level = LogLevel.Warning, Message = "Management API: {Count} failed sign-ins from {Address}; refusing it (429) for the rest of {Seconds} s")]
    private static partial void LogBlocked(ILogger logger, string address, int count, double seconds);
}
