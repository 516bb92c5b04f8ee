namespace Broker.Core.AccessControl;

/// <summary>
/// One connection's recent authorization decisions (EMQX's ACL cache: <c>enable_acl_cache</c>,
/// <c>acl_cache_max_size</c>, <c>acl_cache_ttl</c>): a device mostly publishes to the same few topics, and a
/// subscriber granted in part receives the same few, so the <c>client.authorize</c> chain (acl.conf, plugins' backends)
/// runs once per topic and minute instead of once per message.
/// </summary>
/// <remarks>
/// <para>
/// An entry holds the decision, the clock time it expires and the authorization epoch it was taken in
/// (<see cref="Routing.DeliveryAuthorization"/>): when the rules change (acl.conf reloaded, an authorization plugin
/// loaded, unloaded or asking for it, <c>ctl acl cache clean</c>) the epoch moves and every entry is a miss.
/// </para>
/// <para>
/// Read by the connection's own thread (its publishes) and by publishers' threads (deliveries to it), so entries are
/// immutable objects in slots written whole; a full cache replaces its slots in turn. Only the publish and the
/// delivery questions are cached, not subscriptions, whose decisions the router already keeps.
/// </para>
/// </remarks>
internal sealed class AuthorizationCache(int size)
{
    private readonly Entry?[] _slots = new Entry?[size];
    private int _next;

    /// <summary>The decision for (<paramref name="delivery"/>, <paramref name="topic"/>) if it is cached and still valid.</summary>
    public bool TryGet(bool delivery, string topic, long epoch, long now, out bool allowed)
    {
        foreach (var entry in _slots)
        {
            if (entry is not null && entry.Delivery == delivery && entry.Epoch == epoch && entry.Expires > now
                && string.Equals(entry.Topic, topic, StringComparison.Ordinal))
            {
                allowed = entry.Allowed;
                return true;
            }
        }
        allowed = false;
        return false;
    }

    /// <summary>Remembers a decision until <paramref name="expires"/> (a <see cref="TimeProvider"/> timestamp).</summary>
    public void Add(bool delivery, string topic, long epoch, long expires, bool allowed)
    {
        var slot = (int)((uint)Interlocked.Increment(ref _next) % (uint)_slots.Length);
        Volatile.Write(ref _slots[slot], new Entry(delivery, topic, epoch, expires, allowed));
    }

    /// <summary>How many entries are valid now (for the management API).</summary>
    public int Count(long epoch, long now)
    {
        var count = 0;
        foreach (var entry in _slots)
        {
            if (entry is not null && entry.Epoch == epoch && entry.Expires > now)
                count++;
        }
        return count;
    }

    private sealed record Entry(bool Delivery, string Topic, long Epoch, long Expires, bool Allowed);
}
