namespace Broker.Core.Routing;

/// <summary>
/// Everything subscribed to one topic filter (share prefix removed): the ordinary subscriptions and the share
/// groups. Lives either in the router's exact-filter dictionary (<see cref="Owner"/> null) or on a trie node.
/// Writers hold the router's write lock; readers read <see cref="Subscribers"/> and <see cref="Groups"/> lock-free.
/// </summary>
/// <typeparam name="TSubscriber">The session type.</typeparam>
internal sealed class Route<TSubscriber>
    where TSubscriber : class, ISubscriber
{
    private ShareGroup<TSubscriber>[] _groups = [];

    public Route(string filter, TrieNode<TSubscriber>? owner, bool isMultiLevel)
    {
        Filter = filter;
        Owner = owner;
        IsMultiLevel = isMultiLevel;
    }

    /// <summary>The topic filter without any share prefix.</summary>
    public string Filter { get; }

    /// <summary>The trie node that holds this route, or null for a filter without wildcards.</summary>
    public TrieNode<TSubscriber>? Owner { get; }

    /// <summary>True when the route is the owner's <c>#</c> child (the filter ends in <c>#</c>).</summary>
    public bool IsMultiLevel { get; }

    /// <summary>Ordinary (non-shared) subscriptions.</summary>
    public SubscriptionSlots<TSubscriber> Subscribers { get; } = new();

    /// <summary>Share groups with at least one member; an immutable array replaced on change (copy-on-write).</summary>
    public ShareGroup<TSubscriber>[] Groups => Volatile.Read(ref _groups);

    public bool IsEmpty => Subscribers.Count == 0 && Groups.Length == 0;

    /// <summary>Writers only.</summary>
    public ShareGroup<TSubscriber> GetOrAddGroup(string name, out bool created)
    {
        var groups = _groups;
        created = false;
        foreach (var group in groups)
        {
            if (string.Equals(group.Name, name, StringComparison.Ordinal))
                return group;
        }
        created = true;
        var added = new ShareGroup<TSubscriber>(name, Filter);
        var copy = new ShareGroup<TSubscriber>[groups.Length + 1];
        groups.CopyTo(copy, 0);
        copy[^1] = added;
        Volatile.Write(ref _groups, copy);
        return added;
    }

    /// <summary>Writers only.</summary>
    public void RemoveGroup(ShareGroup<TSubscriber> group)
    {
        var groups = _groups;
        var index = Array.IndexOf(groups, group);
        if (index < 0)
            return;
        var copy = new ShareGroup<TSubscriber>[groups.Length - 1];
        Array.Copy(groups, 0, copy, 0, index);
        Array.Copy(groups, index + 1, copy, index, groups.Length - index - 1);
        Volatile.Write(ref _groups, copy);
    }
}
