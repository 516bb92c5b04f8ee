using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;

namespace Broker.Core.AccessControl;

/// <summary>
/// Failed logins per peer address and per user name (<c>login_failure.*</c>, after EMQX's flapping detection and
/// banned list): after <c>login_failure.delay_after</c> failures within <c>login_failure.window</c> each further login
/// from that address or for that name is held before it is checked (<see cref="DelayFor"/>), growing to
/// <c>login_failure.max_delay</c>; at <c>login_failure.ban_after</c> the address or name goes on the banned list for
/// <c>login_failure.ban_time</c>. A guessing client thus pays in waiting, not in the broker's CPU, and soon not at all.
/// </summary>
/// <remarks>
/// What counts is a refusal some authentication source decided (wrong password, unknown user, a plugin's deny,
/// anonymous when it is not allowed); a hook that failed or timed out is the broker's problem, not the client's, and
/// counts nothing. A successful login forgets its user name's failures (not its address's: one valid account must not
/// clear the record of a guesser behind the same address). At most <see cref="Capacity"/> addresses and names are
/// tracked; beyond that the expired ones go, and if all are live the record starts over.
/// </remarks>
internal sealed partial class LoginFailures(BrokerEngine engine)
{
    public const int Capacity = 100_000;

    /// <summary>The first hold, doubled with each further failure.</summary>
    public static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(100);

    private readonly ConcurrentDictionary<string, Record> _records = new(StringComparer.Ordinal);
    private readonly ILogger _logger = engine.LoggerFactory.CreateLogger("Broker.Core.AccessControl");
    private long _failures;
    private long _delayed;
    private long _bans;
    private int _size; // _records.Count without taking all of its locks

    /// <summary>Failed logins counted.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Logins held because of earlier failures.</summary>
    public long Delayed => Interlocked.Read(ref _delayed);

    /// <summary>Bans put on the banned list.</summary>
    public long Bans => Interlocked.Read(ref _bans);

    /// <summary>How long a login from <paramref name="address"/> for <paramref name="username"/> is held before it is checked.</summary>
    public TimeSpan DelayFor(IPAddress? address, string? username)
    {
        var options = engine.AccessOptions;
        // The common case, nobody failing: one read, no key built.
        if (options.LoginFailureDelayAfter <= 0 || Volatile.Read(ref _size) == 0)
            return TimeSpan.Zero;
        var failures = Math.Max(Count(AddressKey(address)), Count(UserKey(username)));
        if (failures < options.LoginFailureDelayAfter)
            return TimeSpan.Zero;
        Interlocked.Increment(ref _delayed);
        var doublings = Math.Min(failures - options.LoginFailureDelayAfter, 20);
        var delay = FirstDelay * (1 << doublings);
        return delay < options.LoginFailureMaxDelay ? delay : options.LoginFailureMaxDelay;
    }

    /// <summary>Counts a refused login; bans its address or user name when one reaches <c>login_failure.ban_after</c>.</summary>
    public void Failed(IPAddress? address, string? username)
    {
        Interlocked.Increment(ref _failures);
        if (address is not null)
            Count(BanKind.Address, BannedList.Normalize(address));
        if (username is not null)
            Count(BanKind.Username, username);
    }

    /// <summary>A successful login: its user name's failures are forgotten.</summary>
    public void Succeeded(string? username)
    {
        // The common case has nothing to forget: one read, or one lock-free lookup.
        if (Volatile.Read(ref _size) != 0 && UserKey(username) is { } key && _records.ContainsKey(key) && _records.TryRemove(key, out _))
            Interlocked.Decrement(ref _size);
    }

    // IPv4 clients of a dual-stack listener appear as ::ffff:a.b.c.d: counted (and banned) as a.b.c.d.
    private static string? AddressKey(IPAddress? address) => address is null ? null : "a " + BannedList.Normalize(address);

    private static string? UserKey(string? username) => username is null ? null : "u " + username;

    private int Count(string? key)
    {
        if (key is null || !_records.TryGetValue(key, out var record))
            return 0;
        lock (record)
            return engine.TimeProvider.GetElapsedTime(record.WindowStart) <= engine.AccessOptions.LoginFailureWindow ? record.Count : 0;
    }

    private void Count(BanKind kind, string who)
    {
        var options = engine.AccessOptions;
        var key = (kind == BanKind.Address ? "a " : "u ") + who;
        if (!_records.TryGetValue(key, out var record))
        {
            if (Volatile.Read(ref _size) >= Capacity)
                Purge(options.LoginFailureWindow);
            record = new Record();
            if (_records.TryAdd(key, record))
                Interlocked.Increment(ref _size);
            else if (_records.TryGetValue(key, out var added))
                record = added;
        }
        int count;
        lock (record)
        {
            var now = engine.TimeProvider.GetTimestamp();
            if (record.Count == 0 || engine.TimeProvider.GetElapsedTime(record.WindowStart, now) > options.LoginFailureWindow)
            {
                record.Count = 0;
                record.WindowStart = now;
            }
            count = ++record.Count;
        }
        if (options.LoginFailureBanAfter > 0 && count == options.LoginFailureBanAfter)
            Ban(kind, who, count, options);
    }

    private void Ban(BanKind kind, string who, int count, Configuration.AccessControlOptions options)
    {
        Interlocked.Increment(ref _bans);
        var now = engine.Now;
        var reason = $"{count} failed logins within {options.LoginFailureWindow} (login_failure.ban_after)";
        engine.Banned.Add(new Ban(kind, who, reason, "login_failure", now, now + options.LoginFailureBanTime));
        LogBanned(_logger, kind == BanKind.Address ? "address" : "user name", who, count, options.LoginFailureWindow, options.LoginFailureBanTime);
    }

    private void Purge(TimeSpan window)
    {
        foreach (var (key, record) in _records)
        {
            bool expired;
            lock (record)
                expired = engine.TimeProvider.GetElapsedTime(record.WindowStart) > window;
            if (expired && _records.TryRemove(key, out _))
                Interlocked.Decrement(ref _size);
        }
        if (Volatile.Read(ref _size) >= Capacity)
        {
            _records.Clear();
            Volatile.Write(ref _size, 0);
        }
    }

    private sealed class Record
    {
        public int Count;
        public long WindowStart;
    }

    [LoggerMessage(EventId = 80, Level = LogLevel.Warning, Message = "Banned {Kind} {Who} for {BanTime}: {Count} failed logins within {Window} (login_failure.ban_after); `ctl banned del` lifts it")]
    private static partial void LogBanned(ILogger logger, string kind, string who, int count, TimeSpan window, TimeSpan banTime);
}
