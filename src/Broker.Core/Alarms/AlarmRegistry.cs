namespace Broker.Core.Alarms;

/// <summary>
/// One alarm, as EMQX 4 shows it: a name, a message for people, details for tools, and when it was raised and
/// cleared (<see cref="DeactivatedAt"/> null while it is active).
/// </summary>
public sealed record Alarm(string Name, string Message, IReadOnlyDictionary<string, long> Details, DateTimeOffset ActivatedAt)
{
    public DateTimeOffset? DeactivatedAt { get; init; }

    /// <summary>EMQX 4 writes alarm times as microseconds since the Unix epoch.</summary>
    public static long Microseconds(DateTimeOffset time) => (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;
}

/// <summary>
/// The node's alarms: those active now and the last <see cref="HistoryLength"/> cleared ones (EMQX 4's
/// <c>/api/v4/alarms</c>). Raising an alarm that is active, or clearing one that is not, changes nothing, so a
/// condition checked periodically raises one alarm and clears it once. <see cref="Changed"/> tells $SYS.
/// </summary>
internal sealed class AlarmRegistry(TimeProvider timeProvider)
{
    public const int HistoryLength = 100;

    private readonly Dictionary<string, Alarm> _active = new(StringComparer.Ordinal);
    private readonly Queue<Alarm> _history = new();

    /// <summary>An alarm was raised (true) or cleared (false); called outside the registry's lock.</summary>
    public event Action<Alarm, bool>? Changed;

    /// <summary>Raises <paramref name="name"/>; false when it is active already.</summary>
    public bool Activate(string name, string message, IReadOnlyDictionary<string, long> details)
    {
        var alarm = new Alarm(name, message, details, timeProvider.GetUtcNow());
        lock (_active)
        {
            if (!_active.TryAdd(name, alarm))
                return false;
        }
        Changed?.Invoke(alarm, true);
        return true;
    }

    /// <summary>Clears <paramref name="name"/>, keeping it in the history; false when it was not active.</summary>
    public bool Deactivate(string name)
    {
        Alarm cleared;
        lock (_active)
        {
            if (!_active.Remove(name, out var alarm))
                return false;
            cleared = alarm with { DeactivatedAt = timeProvider.GetUtcNow() };
            _history.Enqueue(cleared);
            if (_history.Count > HistoryLength)
                _history.Dequeue();
        }
        Changed?.Invoke(cleared, false);
        return true;
    }

    public bool IsActive(string name)
    {
        lock (_active)
            return _active.ContainsKey(name);
    }

    /// <summary>The active alarms, oldest first.</summary>
    public List<Alarm> Active()
    {
        lock (_active)
        {
            var list = new List<Alarm>(_active.Values);
            list.Sort(static (a, b) => a.ActivatedAt.CompareTo(b.ActivatedAt));
            return list;
        }
    }

    /// <summary>The cleared alarms still remembered, oldest first.</summary>
    public List<Alarm> Deactivated()
    {
        lock (_active)
            return [.. _history];
    }
}
